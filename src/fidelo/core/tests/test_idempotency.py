"""run_idempotent: one execution per key, the stored answer on retry, 409 on another payload."""

import pytest

from fidelo.core.errors import Conflict, ValidationFailed
from fidelo.core.idempotency import fingerprint, run_idempotent, validate_key
from fidelo.core.models import IdempotencyRecord

pytestmark = pytest.mark.django_db


def counting(result=(201, {"ok": 1})):
    calls = []

    def execute():
        calls.append(1)
        return result

    return calls, execute


def test_first_call_executes_and_stores_the_response():
    calls, execute = counting()
    outcome = run_idempotent(organization_id=1, key="k1", operation="op", payload={"a": 1}, execute=execute)
    assert (outcome.status, outcome.body, outcome.replayed) == (201, {"ok": 1}, False)
    assert IdempotencyRecord.objects.get(organization_id=1, key="k1").status_code == 201
    assert len(calls) == 1


def test_retry_with_the_same_payload_replays_without_running_again():
    calls, execute = counting()
    run_idempotent(organization_id=1, key="k1", operation="op", payload={"a": 1}, execute=execute)
    again = run_idempotent(organization_id=1, key="k1", operation="op", payload={"a": 1}, execute=lambda: (201, {"ok": 2}))
    assert (again.status, again.body, again.replayed) == (201, {"ok": 1}, True)
    assert IdempotencyRecord.objects.count() == 1


def test_same_key_with_another_payload_is_a_409():
    run_idempotent(organization_id=1, key="k1", operation="op", payload={"a": 1}, execute=lambda: (201, {}))
    outcome = run_idempotent(organization_id=1, key="k1", operation="op", payload={"a": 2}, execute=lambda: (201, {}))
    assert outcome.status == 409
    assert outcome.body["code"] == "idempotency_key_reused"


def test_keys_are_scoped_by_organization():
    run_idempotent(organization_id=1, key="k1", operation="op", payload={}, execute=lambda: (201, {"org": 1}))
    outcome = run_idempotent(organization_id=2, key="k1", operation="op", payload={}, execute=lambda: (201, {"org": 2}))
    assert outcome.body == {"org": 2}
    assert not outcome.replayed


def test_a_rejection_is_stored_and_replayed_even_if_the_state_changed():
    def refuse():
        raise Conflict("not now", code="not_now")

    first = run_idempotent(organization_id=1, key="k", operation="op", payload={}, execute=refuse)
    later = run_idempotent(organization_id=1, key="k", operation="op", payload={}, execute=lambda: (201, {"ok": True}))
    assert first.status == later.status == 409
    assert later.body["code"] == "not_now"
    assert later.replayed


def test_a_rejection_rolls_back_the_work_done_before_it():
    from fidelo.core.audit import audit_record
    from fidelo.core.actors import SYSTEM
    from fidelo.core.models import AuditEntry

    def half_then_refuse():
        audit_record(organization_id=1, actor=SYSTEM, action="half-written")
        raise ValidationFailed("no", code="nope")

    run_idempotent(organization_id=1, key="k", operation="op", payload={}, execute=half_then_refuse)
    assert not AuditEntry.objects.filter(action="half-written").exists()


def test_fingerprint_ignores_key_order_but_not_values():
    assert fingerprint("op", {"a": 1, "b": 2}) == fingerprint("op", {"b": 2, "a": 1})
    assert fingerprint("op", {"a": 1}) != fingerprint("op", {"a": 2})
    assert fingerprint("op", {"a": 1}) != fingerprint("other", {"a": 1})


@pytest.mark.parametrize("key", [None, "", "   ", "x" * 256])
def test_missing_or_oversized_keys_are_refused(key):
    with pytest.raises(ValidationFailed) as error:
        validate_key(key)
    assert error.value.code in {"idempotency_key_required", "idempotency_key_invalid"}
