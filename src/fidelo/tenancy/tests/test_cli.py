"""`fidelo org …` and `fidelo member …`: what an operator types to set up a merchant."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from fidelo.members.models import Member
from fidelo.tenancy.models import ApiKey, Organization, StaffMembership, Store
from fidelo.tenancy.selectors import authenticate_api_key

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_an_operator_sets_up_a_merchant_and_enrolls_a_member():
    run("org", "create", "--name", "Salon Belle Mine", "--slug", "belle-mine")
    run("org", "store", "--org", "belle-mine", "--code", "nantes", "--name", "Nantes", "--city", "Nantes")
    output = run("org", "staff", "--org", "belle-mine", "--email", "gerante@belle-mine.fr")
    assert "Password: " in output
    token = run("org", "apikey", "--org", "belle-mine", "--name", "Caisse", "--store", "nantes").strip().splitlines()[-1]
    assert authenticate_api_key(token).store_id == Store.objects.get(code="nantes").id
    output = run("member", "enroll", "--org", "belle-mine", "--first-name", "Inès", "--email", "ines@exemple.fr", "--store", "nantes", "--consent", "sms")
    member = Member.objects.get(email="ines@exemple.fr")
    assert member.card_number in output and member.enrolled_store.code == "nantes"
    assert member.card_number in run("member", "find", "--org", "belle-mine", "--email", "INES@exemple.fr")
    assert StaffMembership.objects.filter(organization__slug="belle-mine", role="owner").exists()
    prefix = ApiKey.objects.get().prefix
    run("org", "revoke-key", "--org", "belle-mine", f"--prefix={prefix}")
    assert ApiKey.objects.get().revoked_at is not None


@pytest.mark.parametrize(
    "args, message",
    [
        (("org", "store", "--org", "nope", "--code", "x", "--name", "X"), "organization_not_found"),
        (("member", "enroll", "--org", "nope", "--email", "a@b.fr"), "organization_not_found"),
        (("member", "enroll", "--org", "cli-org", "--email", "not-an-email"), "invalid_email"),
        (("member", "enroll", "--org", "cli-org", "--email", "a@b.fr", "--birthday", "31/12/1990"), "invalid value"),
        (("org", "staff", "--org", "cli-org", "--email", "x@y.fr", "--password", "123"), "10"),
        (("org", "create", "--name", "X", "--slug", "cli-org"), "organization_exists"),
    ],
)
def test_bad_commands_fail_with_a_clear_message_and_write_nothing(args, message):
    run("org", "create", "--name", "CLI", "--slug", "cli-org")
    before = (Organization.objects.count(), Member.objects.count(), Store.objects.count(), StaffMembership.objects.count())
    with pytest.raises(CommandError) as error:
        run(*args)
    assert message in str(error.value)
    assert (Organization.objects.count(), Member.objects.count(), Store.objects.count(), StaffMembership.objects.count()) == before
