"""Back-office views through Django's test client: permissions, forms, refusals, query counts."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from fidelo.api.tests.helpers import nothing_written
from fidelo.conftest import STAFF, make_member, make_org
from fidelo.core.models import AuditEntry
from fidelo.ledger.selectors import member_balance, member_history
from fidelo.ledger.services import points_adjust
from fidelo.rewards.models import Reward
from fidelo.rewards.services import reward_create
from fidelo.tenancy.models import ApiKey, Program, Store
from fidelo.tenancy.selectors import forget_program, program_for
from fidelo.tenancy.services import api_key_create, store_create
from fidelo.web.tests.browser import make_staff

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


@pytest.fixture
def staff(org):
    return client_for(make_staff(org))


@pytest.fixture
def other_staff(db):
    other = make_org("autre-commerce")
    return client_for(make_staff(other, email="intrus@exemple.fr"))


@pytest.fixture
def reward(org, program):
    return reward_create(organization=org, program=program, actor=STAFF, kind="free_product", title_fr="Café offert", cost_points=100)


def program_row(org) -> tuple:
    return tuple(Program.objects.filter(organization=org).values_list(
        "name", "earn_units", "earn_per_minor", "currency_mode", "pending_days", "brand_color", "brand_logo_url", "updated_at"
    ).get())


def program_post(org, **overrides) -> dict:
    program = Program.objects.get(organization=org)
    data = {field: getattr(program, field) for field in (
        "name", "currency_mode", "earn_units", "earn_per_minor", "rounding", "expiry_policy", "expiry_months", "pending_days",
        "refund_policy", "transfer_min", "transfer_max_per_day", "brand_color", "brand_logo_url",
    )}
    if program.transfers_allowed:
        data["transfers_allowed"] = "on"
    data.update(overrides)
    return data


def reward_post(**overrides) -> dict:
    data = {"kind": "free_product", "title_fr": "Croissant offert", "title_en": "Free croissant", "cost_points": "150",
            "voucher_days": "30", "active": "on"}
    data.update(overrides)
    return data


# --- permissions ---------------------------------------------------------------------------

PAGES = [
    ("backoffice:home", {}),
    ("backoffice:program", {}),
    ("backoffice:rewards", {}),
    ("backoffice:reward_create", {}),
    ("backoffice:members", {}),
    ("backoffice:stores", {}),
    ("backoffice:api_keys", {}),
]


@pytest.mark.parametrize(("name", "kwargs"), PAGES)
def test_anonymous_is_sent_to_the_login_page(client, org, name, kwargs):
    url = reverse(name, kwargs=kwargs)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("backoffice:login") + "?next=")


def test_anonymous_cannot_write(client, org, member, reward):
    with nothing_written():
        for url, data in [
            (reverse("backoffice:member_adjust", args=[member.id]), {"delta": "10", "note": "x"}),
            (reverse("backoffice:reward_edit", args=[reward.id]), reward_post()),
            (reverse("backoffice:program"), program_post(org, earn_units="9")),
            (reverse("backoffice:api_keys"), {"name": "k"}),
        ]:
            response = client.post(url, data)
            assert response.status_code == 302
            assert response["Location"].startswith(reverse("backoffice:login"))
    assert program_for(org.id).earn_units == 1


@pytest.mark.parametrize(("name", "kwargs"), PAGES)
def test_a_user_without_staff_membership_is_refused(db, org, name, kwargs):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("nobody", password="whatever-123456")
    response = client_for(user).get(reverse(name, kwargs=kwargs))
    assert response.status_code == 403


def test_staff_of_another_organization_cannot_see_or_change_this_ones(org, member, reward, other_staff):
    key = api_key_create(organization=org, name="caisse", actor=STAFF).api_key
    points_adjust(program=program_for(org.id), member=member, delta=50, note="Bienvenue", actor=STAFF)
    with nothing_written():
        assert other_staff.get(reverse("backoffice:member_detail", args=[member.id])).status_code == 404
        assert other_staff.post(reverse("backoffice:member_adjust", args=[member.id]), {"delta": "-50", "note": "vol"}).status_code == 404
        assert other_staff.get(reverse("backoffice:reward_edit", args=[reward.id])).status_code == 404
        assert other_staff.post(reverse("backoffice:reward_edit", args=[reward.id]), reward_post(title_fr="Pirate")).status_code == 404
        assert other_staff.post(reverse("backoffice:api_key_revoke", args=[key.id])).status_code == 404
    # Their lists show their own organization only.
    assert member.email not in other_staff.get(reverse("backoffice:members")).content.decode()
    assert "Café offert" not in other_staff.get(reverse("backoffice:rewards")).content.decode()
    assert "caisse" not in other_staff.get(reverse("backoffice:api_keys")).content.decode()


def test_login_and_logout(client, org):
    make_staff(org, email="gerante@exemple.fr", password="un-mot-de-passe-long")
    page = client.get(reverse("backoffice:login"))
    assert page.status_code == 200
    wrong = client.post(reverse("backoffice:login"), {"username": "gerante@exemple.fr", "password": "faux"})
    assert wrong.status_code == 200 and "_auth_user_id" not in client.session
    response = client.post(reverse("backoffice:login"), {"username": "gerante@exemple.fr", "password": "un-mot-de-passe-long"})
    assert response.status_code == 302 and response["Location"] == reverse("backoffice:home")
    assert client.get(reverse("backoffice:home")).status_code == 200
    assert client.post(reverse("backoffice:logout")).status_code == 302
    assert client.get(reverse("backoffice:home")).status_code == 302


# --- program settings ----------------------------------------------------------------------


def test_program_settings_saved_through_the_service_with_an_audit_row(org, staff):
    response = staff.post(reverse("backoffice:program"), program_post(org, earn_units="3", brand_color="#aa3300",
                                                                      brand_logo_url="https://exemple.fr/logo.png"))
    assert response.status_code == 302
    forget_program(org.id)
    program = program_for(org.id)
    assert (program.earn_units, program.brand_color, program.brand_logo_url) == (3, "#aa3300", "https://exemple.fr/logo.png")
    entry = AuditEntry.objects.get(organization_id=org.id, action="program.update")
    assert entry.actor.startswith("staff:") and sorted(entry.data["after"]) == ["brand_color", "brand_logo_url", "earn_units"]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("brand_color", "red", "#RRGGBB"),
    ("earn_per_minor", "0", "greater than or equal to 1"),
    ("pending_days", "400", "less than or equal to 365"),
    ("currency_mode", "dollars", "Select a valid choice"),
    ("brand_logo_url", "javascript:alert(1)", "https://"),  # refused by the service
])
def test_bad_program_settings_show_an_error_and_change_nothing(org, staff, field, value, message):
    before = program_row(org)
    response = staff.post(reverse("backoffice:program"), program_post(org, **{field: value}))
    assert response.status_code == 422
    assert message in response.content.decode()
    assert program_row(org) == before
    assert not AuditEntry.objects.filter(action="program.update").exists()


def test_the_currency_mode_refusal_of_the_service_is_shown_on_the_form(org, program, member, staff):
    points_adjust(program=program, member=member, delta=10, note="Bienvenue", actor=STAFF)
    before = program_row(org)
    response = staff.post(reverse("backoffice:program"), program_post(org, currency_mode="cashback"))
    assert response.status_code == 422
    assert "cannot change once members have earned" in response.content.decode()
    assert program_row(org) == before


# --- rewards -------------------------------------------------------------------------------


def test_create_and_edit_a_reward(org, store, staff):
    response = staff.post(reverse("backoffice:reward_create"), reward_post(
        kind="voucher_amount", amount="5.50", min_basket="20", stores=[store.id], allowed_tiers="gold, silver",
    ))
    assert response.status_code == 302
    reward = Reward.objects.get(organization=org)
    assert (reward.kind, reward.amount_minor, reward.min_basket_minor, reward.allowed_tiers) == ("voucher_amount", 550, 2000, ["gold", "silver"])
    assert list(reward.stores.all()) == [store]
    listing = staff.get(reverse("backoffice:rewards")).content.decode()
    assert "Free croissant" in listing

    response = staff.post(reverse("backoffice:reward_edit", args=[reward.id]), reward_post(
        kind="free_product", title_fr="Croissant au beurre", amount="5.50", cost_points="200",
    ))
    assert response.status_code == 302
    reward.refresh_from_db()
    assert (reward.title_fr, reward.cost_points, reward.kind) == ("Croissant au beurre", 200, "voucher_amount")  # kind kept
    assert list(reward.stores.all()) == []
    assert AuditEntry.objects.filter(action="reward.update", target_id=str(reward.id)).exists()


@pytest.mark.parametrize(("data", "message"), [
    (reward_post(cost_points="0"), "greater than or equal to 1"),
    (reward_post(title_fr=""), "This field is required"),
    (reward_post(kind="voucher_amount"), "needs amount_minor"),  # the service's refusal, under the amount
    (reward_post(percent="150"), "less than or equal to 100"),
    (reward_post(valid_from="2026-05-01T10:00", valid_until="2026-04-01T10:00"), "valid_until must come after valid_from"),
])
def test_bad_reward_input_shows_errors_and_writes_nothing(org, staff, data, message):
    with nothing_written():
        response = staff.post(reverse("backoffice:reward_create"), data)
    assert response.status_code == 422
    assert message in response.content.decode()


def test_a_store_of_another_organization_cannot_be_attached(org, staff):
    other = make_org("voisin")
    foreign = store_create(organization=other, code="ailleurs", name="Ailleurs")
    with nothing_written():
        response = staff.post(reverse("backoffice:reward_create"), reward_post(stores=[foreign.id]))
    assert response.status_code == 422


# --- members -------------------------------------------------------------------------------


def test_member_search_and_detail(org, member, staff):
    other = make_member(org, first_name="Bruno", last_name="Leclerc", email="bruno@exemple.fr")
    found = staff.get(reverse("backoffice:members"), {"q": "Dupont"}).content.decode()
    assert member.email in found and other.email not in found
    points_adjust(program=program_for(org.id), member=member, delta=30, note="Geste commercial", actor=STAFF)
    detail = staff.get(reverse("backoffice:member_detail", args=[member.id])).content.decode()
    assert "Geste commercial" in detail
    assert re.search(r'data-testid="balance-available">30<', detail)


def test_adjust_points_with_a_reason(org, program, member, staff):
    page = staff.get(reverse("backoffice:member_detail", args=[member.id]))
    token = page.context["form_token"]
    url = reverse("backoffice:member_adjust", args=[member.id])
    response = staff.post(url, {"delta": "25", "note": "Carte perdue", "form_token": token})
    assert response.status_code == 302
    assert member_balance(member, "PTS").available == 25
    entry = member_history(member).entries[0]
    assert entry.available_change == 25 and "Carte perdue" in entry.reason
    assert AuditEntry.objects.get(action="points.adjust").actor.startswith("staff:")
    # The same form sent again (a double click, a reload) records nothing more.
    with nothing_written():
        again = staff.post(url, {"delta": "25", "note": "Carte perdue", "form_token": token})
    assert again.status_code == 302


@pytest.mark.parametrize(("data", "message"), [
    ({"delta": "10", "note": ""}, "This field is required"),
    ({"delta": "10", "note": "   "}, "This field is required"),
    ({"delta": "0", "note": "rien"}, "cannot be zero"),
    ({"delta": "dix", "note": "rien"}, "Enter a whole number"),
    ({"delta": "-500", "note": "trop"}, "Not enough"),  # the ledger's refusal: never below zero
])
def test_bad_adjustments_show_errors_and_write_nothing(org, member, staff, data, message):
    token = staff.get(reverse("backoffice:member_detail", args=[member.id])).context["form_token"]
    with nothing_written():
        response = staff.post(reverse("backoffice:member_adjust", args=[member.id]), {**data, "form_token": token})
    assert response.status_code == 422
    assert message.lower() in response.content.decode().lower()


def test_an_unknown_member_or_a_bad_cursor_is_a_404(program, member, staff):
    points_adjust(program=program, member=member, delta=5, note="Bienvenue", actor=STAFF)
    assert staff.get(reverse("backoffice:member_detail", args=[10**12])).status_code == 404
    assert staff.get(reverse("backoffice:member_detail", args=[member.id]), {"cursor": "!!"}).status_code == 404


# --- stores and API keys -------------------------------------------------------------------


def test_create_a_store_and_refuse_a_duplicate_code(org, staff):
    assert staff.post(reverse("backoffice:stores"), {"code": "lyon-2", "name": "Lyon 2e", "city": "Lyon"}).status_code == 302
    assert Store.objects.filter(organization=org, code="lyon-2").count() == 1
    response = staff.post(reverse("backoffice:stores"), {"code": "lyon-2", "name": "Encore"})
    assert response.status_code == 422 and "already exists" in response.content.decode()
    assert Store.objects.filter(organization=org).count() == 1
    response = staff.post(reverse("backoffice:stores"), {"code": "pas un code", "name": "X"})
    assert response.status_code == 422 and Store.objects.filter(organization=org).count() == 1


def test_api_key_secret_shown_once_then_revoked(org, staff, client):
    response = staff.post(reverse("backoffice:api_keys"), {"name": "Caisse Paris"})
    assert response.status_code == 201 and response["Cache-Control"] == "no-store"
    token = re.search(r'data-testid="api-key-secret">([^<]+)<', response.content.decode()).group(1)
    key = ApiKey.objects.get(organization=org, name="Caisse Paris")
    assert client.get("/api/v1/members", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    assert token not in staff.get(reverse("backoffice:api_keys")).content.decode()
    assert staff.post(reverse("backoffice:api_key_revoke", args=[key.id])).status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    from fidelo.tenancy.selectors import clear_caches

    clear_caches()
    assert client.get("/api/v1/members", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


def test_bad_api_key_input_writes_nothing(org, staff):
    with nothing_written():
        assert staff.post(reverse("backoffice:api_keys"), {"name": ""}).status_code == 422
        assert staff.post(reverse("backoffice:api_keys"), {"name": "x", "store": "999999"}).status_code == 422


def test_revoke_needs_a_post(org, staff):
    key = api_key_create(organization=org, name="caisse", actor=STAFF).api_key
    assert staff.get(reverse("backoffice:api_key_revoke", args=[key.id])).status_code == 405
    key.refresh_from_db()
    assert key.revoked_at is None


# --- query-count guards --------------------------------------------------------------------


def _many(org, n: int = 30):
    for i in range(n):
        make_member(org)
        store_create(organization=org, code=f"s{i}", name=f"Magasin {i}")
        api_key_create(organization=org, name=f"cle {i}", actor=STAFF, store=None)
        reward_create(organization=org, program=program_for(org.id), actor=STAFF, kind="free_product", title_fr=f"R{i}", cost_points=10 + i)


@pytest.mark.parametrize("name", ["backoffice:members", "backoffice:rewards", "backoffice:stores", "backoffice:api_keys", "backoffice:home",
                                  "backoffice:program"])
def test_list_pages_make_a_bounded_number_of_queries(org, staff, django_assert_max_num_queries, name):
    _many(org)
    staff.get(reverse(name))  # warm the per-process caches like a running server
    with django_assert_max_num_queries(10):
        assert staff.get(reverse(name)).status_code == 200


def test_member_detail_queries_do_not_grow_with_the_history(org, program, member, staff, django_assert_max_num_queries):
    for i in range(40):
        points_adjust(program=program, member=member, delta=1, note=f"n{i}", actor=STAFF)
    with django_assert_max_num_queries(14):
        assert staff.get(reverse("backoffice:member_detail", args=[member.id])).status_code == 200


# --- languages -----------------------------------------------------------------------------


def test_both_languages_render(org, staff):
    english = staff.get(reverse("backoffice:members"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Members" in english and 'lang="en"' in english
    staff.post(reverse("backoffice:set_language"), {"language": "fr", "next": reverse("backoffice:members")})
    french = staff.get(reverse("backoffice:members")).content.decode()
    assert 'lang="fr"' in french and "Membres" in french and "Récompenses" in french


# --- the branding settings of program_update (used by the program form and the portal) ------


@pytest.mark.parametrize(("changes", "field"), [
    ({"brand_color": "#12345"}, "brand_color"),
    ({"brand_color": "blue"}, "brand_color"),
    ({"brand_color": 123}, "brand_color"),
    ({"brand_logo_url": "javascript:alert(1)"}, "brand_logo_url"),
    ({"brand_logo_url": "//evil.example/logo.png"}, "brand_logo_url"),
    ({"brand_logo_url": 'https://x.fr/a"onerror="x'}, "brand_logo_url"),
    ({"brand_logo_url": "https://x.fr/" + "a" * 500}, "brand_logo_url"),
])
def test_program_update_refuses_bad_branding(org, changes, field):
    from fidelo.tenancy.errors import InvalidSetting
    from fidelo.tenancy.services import program_update

    before = program_row(org)
    with pytest.raises(InvalidSetting) as refused:
        program_update(organization=org, actor=STAFF, **changes)
    assert refused.value.code == "invalid_setting" and refused.value.extra["field"] == field
    assert program_row(org) == before


def test_program_update_accepts_branding(org):
    from fidelo.tenancy.services import program_update

    program = program_update(organization=org, actor=STAFF, brand_color="#0A7B3E", brand_logo_url="  /static/logo.png ")
    assert (program.brand_color, program.brand_logo_url) == ("#0A7B3E", "/static/logo.png")
    assert program_update(organization=org, actor=STAFF, brand_logo_url="").brand_logo_url == ""
