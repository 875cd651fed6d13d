"""Cross-cutting tables: idempotency records and the audit log.

They hold organization ids as plain integers rather than foreign keys because core sits
below tenancy in the layering (DESIGN.md, Layout).
"""

from django.db import models


class IdempotencyRecord(models.Model):
    """The first response to a state-changing request, replayed on retry.

    A rejected request is stored too, so that a retry is rejected the same way even if the
    state changed in between (DESIGN.md, ledger invariant 5).
    """

    organization_id = models.BigIntegerField()
    key = models.CharField(max_length=255)
    operation = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization_id", "key"], name="idempotency_key_unique_per_org"),
        ]


class AuditEntry(models.Model):
    organization_id = models.BigIntegerField(null=True, db_index=True)
    actor = models.CharField(max_length=200)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
