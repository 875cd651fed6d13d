"""Organizations, stores, staff, API keys and program settings."""

import pytest
from django.contrib.auth import authenticate

from fidelo.conftest import STAFF, make_org
from fidelo.core.errors import Conflict
from fidelo.core.models import AuditEntry
from fidelo.tenancy import selectors
from fidelo.tenancy.errors import InvalidApiKey, InvalidSetting
from fidelo.tenancy.models import ApiKey, Program
from fidelo.tenancy.services import (
    api_key_create,
    api_key_revoke,
    organization_create,
    program_update,
    staff_add,
    store_create,
)

pytestmark = pytest.mark.django_db


def test_an_organization_comes_with_its_program_in_its_currency_and_time_zone():
    org = organization_create(name="Salon Belle Mine", slug="belle-mine", timezone="Europe/Paris", currency="eur", locale="fr")
    assert org.currency == "EUR"
    program = Program.objects.get(organization=org)
    assert (program.currency_mode, program.earn_units, program.earn_per_minor) == ("points", 1, 100)


@pytest.mark.parametrize(
    "fields, field",
    [({"timezone": "Mars/Olympus"}, "timezone"), ({"currency": "EURO"}, "currency"), ({"currency": "12"}, "currency")],
)
def test_bad_organization_settings_are_refused(fields, field):
    with pytest.raises(InvalidSetting) as error:
        organization_create(name="X", slug="x", **fields)
    assert error.value.extra["field"] == field


def test_slugs_and_store_codes_are_unique():
    org = make_org("unique")
    with pytest.raises(Conflict):
        make_org("unique")
    store_create(organization=org, code="lyon", name="Lyon")
    with pytest.raises(Conflict):
        store_create(organization=org, code="lyon", name="Lyon bis")


def test_staff_owner_can_log_in_with_a_hashed_password():
    org = make_org("staff")
    membership = staff_add(organization=org, email="Gerant@Exemple.fr", password="un-mot-de-passe-solide")
    assert membership.role == "owner"
    assert membership.user.password.startswith("argon2")
    assert authenticate(username="gerant@exemple.fr", password="un-mot-de-passe-solide") == membership.user


def test_api_keys_are_stored_as_digests_and_stop_working_once_revoked():
    org = make_org("keys")
    issued = api_key_create(organization=org, name="Caisse", actor=STAFF)
    key = ApiKey.objects.get()
    assert issued.token.startswith("fid_")
    assert issued.token not in key.digest and key.digest != issued.token
    assert selectors.authenticate_api_key(issued.token).organization == org
    api_key_revoke(api_key=key, actor=STAFF)
    with pytest.raises(InvalidApiKey):
        selectors.authenticate_api_key(issued.token)
    assert AuditEntry.objects.filter(action__in=["api_key.create", "api_key.revoke"]).count() == 2


def test_a_store_key_is_tied_to_its_store():
    org = make_org("store-key")
    store = store_create(organization=org, code="paris", name="Paris")
    issued = api_key_create(organization=org, name="Caisse Paris", actor=STAFF, store=store)
    assert selectors.authenticate_api_key(issued.token).store_id == store.id


def test_unknown_tokens_are_refused():
    with pytest.raises(InvalidApiKey):
        selectors.authenticate_api_key("fid_nope")


def test_program_settings_change_with_an_audit_trail():
    org = make_org("settings")
    program = program_update(organization=org, actor=STAFF, pending_days=14, expiry_policy="months", expiry_months=6, refund_policy="stop_at_zero")
    assert (program.pending_days, program.expiry_policy, program.expiry_months, program.refund_policy) == (14, "months", 6, "stop_at_zero")
    entry = AuditEntry.objects.get(action="program.update")
    assert entry.data["before"]["pending_days"] == 0 and entry.data["after"]["pending_days"] == 14
    assert selectors.program_for(org.id).pending_days == 14


@pytest.mark.parametrize(
    "changes",
    [
        {"rounding": "sideways"},
        {"currency_mode": "bitcoin"},
        {"earn_per_minor": 0},
        {"earn_units": -1},
        {"pending_days": 400},
        {"expiry_policy": "months", "expiry_months": 0},
        {"earn_units": 1.5},
        {"colour": "red"},
    ],
)
def test_invalid_program_settings_are_refused_and_nothing_changes(changes):
    org = make_org("bad-settings")
    before = Program.objects.values().get(organization=org)
    with pytest.raises(InvalidSetting):
        program_update(organization=org, actor=STAFF, **changes)
    assert Program.objects.values().get(organization=org) == before
    assert not AuditEntry.objects.filter(action="program.update").exists()


def test_currency_mode_is_locked_once_members_have_earned(member, program, org):
    from fidelo.core.clock import now
    from fidelo.core.db import write_transaction
    from fidelo.ledger.services import Why, points_earn

    program_update(organization=org, actor=STAFF, currency_mode="cashback")
    program_update(organization=org, actor=STAFF, currency_mode="points")
    with write_transaction():
        points_earn(program=selectors.program_for(org.id), member=member, amount=10, why=Why(reason="bonus", params={"label": "x"}), occurred_at=now())
    with pytest.raises(InvalidSetting) as error:
        program_update(organization=org, actor=STAFF, currency_mode="cashback")
    assert error.value.code == "currency_mode_locked"
