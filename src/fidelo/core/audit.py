"""The audit log: who changed what, written in the same transaction as the change."""

from typing import Any

from fidelo.core.actors import Actor
from fidelo.core.models import AuditEntry


def audit_record(
    *, organization_id: int | None, actor: Actor, action: str, target_type: str = "", target_id: Any = "", data: dict | None = None
) -> AuditEntry:
    return AuditEntry.objects.create(
        organization_id=organization_id,
        actor=str(actor),
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        data=data or {},
    )
