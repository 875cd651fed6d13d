"""Back-office campaign screens through Django's test client: list, create, edit, offers, stats, permissions."""

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from fidelo.api.tests.helpers import nothing_written
from fidelo.conftest import STAFF, make_member, make_org
from fidelo.core.clock import now
from fidelo.core.models import AuditEntry
from fidelo.rewards.campaigns import (
    campaign_create,
    campaign_offer_seen,
    campaign_offer_set,
)
from fidelo.rewards.models import Campaign, CampaignOffer
from fidelo.rewards.services import reward_create, reward_redeem
from fidelo.rewards.tests.helpers import give_points
from fidelo.web.tests.browser import make_staff

pytestmark = pytest.mark.django_db


def client_for(user, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    return client


@pytest.fixture
def staff(org):
    return client_for(make_staff(org))


@pytest.fixture
def reward(org, program):
    return reward_create(organization=org, program=program, actor=STAFF, kind="free_product", title_fr="Café offert", title_en="Free coffee",
                         cost_points=100, product_sku="CAFE")


@pytest.fixture
def summer(org, reward):
    campaign = campaign_create(organization=org, actor=STAFF, code="ete", name_fr="Offres d'été", name_en="Summer offers",
                               starts_at=now() - dt.timedelta(days=1))
    campaign_offer_set(campaign=campaign, reward=reward, actor=STAFF, cost_points=60)
    return campaign


def campaign_post(**overrides) -> dict:
    data = {"code": "noel", "name_fr": "Offres de Noël", "name_en": "Christmas offers", "starts_at": "2026-12-01T09:00",
            "ends_at": "2026-12-25T00:00", "active": "on"}
    data.update(overrides)
    return data


def test_anonymous_is_sent_to_login_and_writes_nothing(client, summer, reward):
    for url in (reverse("backoffice:campaigns"), reverse("backoffice:campaign_create"), reverse("backoffice:campaign_edit", args=["ete"])):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("backoffice:login"))
    with nothing_written():
        assert client.post(reverse("backoffice:campaign_create"), campaign_post()).status_code == 302
        assert client.post(reverse("backoffice:campaign_offer_delete", args=["ete", reward.id])).status_code == 302


def test_staff_of_another_organization_sees_and_changes_nothing(summer, reward):
    other = client_for(make_staff(make_org("autre-commerce"), email="intrus@exemple.fr"))
    with nothing_written():
        assert other.get(reverse("backoffice:campaign_edit", args=["ete"])).status_code == 404
        assert other.post(reverse("backoffice:campaign_edit", args=["ete"]), campaign_post(name_fr="Pirate")).status_code == 404
        assert other.post(reverse("backoffice:campaign_offer_save", args=["ete"]), {"reward": reward.id, "position": "0"}).status_code == 404
        assert other.post(reverse("backoffice:campaign_offer_delete", args=["ete", reward.id])).status_code == 404
    assert "Summer offers" not in other.get(reverse("backoffice:campaigns")).content.decode()


def test_create_a_campaign_then_add_change_and_remove_an_offer(org, staff, reward):
    response = staff.post(reverse("backoffice:campaign_create"), campaign_post())
    assert response.status_code == 302 and response["Location"] == reverse("backoffice:campaign_edit", args=["noel"])
    campaign = Campaign.objects.get(organization=org)
    assert (campaign.code, campaign.name_en, campaign.active) == ("noel", "Christmas offers", True)
    # Typed in the organization's time zone (Paris: UTC+1 in December)
    assert campaign.starts_at == dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)
    listing = staff.get(reverse("backoffice:campaigns")).content.decode()
    assert "Christmas offers" in listing and 'data-campaign="noel"' in listing

    response = staff.post(reverse("backoffice:campaign_offer_save", args=["noel"]), {"reward": reward.id, "cost_points": "70", "position": "1"})
    assert response.status_code == 302
    assert CampaignOffer.objects.values_list("reward_id", "cost_points", "position").get() == (reward.id, 70, 1)
    staff.post(reverse("backoffice:campaign_offer_save", args=["noel"]), {"reward": reward.id, "cost_points": "", "position": "0"})
    assert CampaignOffer.objects.values_list("cost_points", "position").get() == (None, 0)
    page = staff.get(reverse("backoffice:campaign_edit", args=["noel"])).content.decode()
    assert f'data-offer="{reward.id}"' in page and "Free coffee" in page

    response = staff.post(reverse("backoffice:campaign_edit", args=["noel"]), campaign_post(code="autre", name_fr="Noël 2026", active=""))
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert (campaign.code, campaign.name_fr, campaign.active) == ("noel", "Noël 2026", False)  # the code never changes

    response = staff.post(reverse("backoffice:campaign_offer_delete", args=["noel", reward.id]))
    assert response.status_code == 302 and not CampaignOffer.objects.exists()
    actions = sorted(AuditEntry.objects.filter(target_type="campaign").values_list("action", flat=True))
    assert actions == ["campaign.create", "campaign.offer_remove", "campaign.offer_set", "campaign.offer_set", "campaign.update"]


@pytest.mark.parametrize(
    "data, message",
    [
        (campaign_post(code="ete"), "Another campaign already has this code"),
        (campaign_post(ends_at="2026-11-30T00:00"), "ends_at must come after starts_at"),
        (campaign_post(code="pas bon"), "Enter a valid"),
        (campaign_post(name_fr=""), "This field is required"),
        (campaign_post(starts_at=""), "This field is required"),
    ],
    ids=["code_taken", "ends_before_start", "code_not_slug", "no_name", "no_start"],
)
def test_bad_campaign_input_shows_errors_and_writes_nothing(staff, summer, data, message):
    with nothing_written():
        response = staff.post(reverse("backoffice:campaign_create"), data)
    assert response.status_code == 422
    assert message in response.content.decode()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"cost_points": "0", "position": "0"}, "greater than or equal to 1"),
        ({"position": "0"}, "This field is required"),
    ],
    ids=["zero_cost", "no_reward"],
)
def test_bad_offer_input_shows_errors_and_writes_nothing(staff, summer, data, message):
    with nothing_written():
        response = staff.post(reverse("backoffice:campaign_offer_save", args=["ete"]), data)
    assert response.status_code == 422
    assert message in response.content.decode()


def test_a_reward_of_another_organization_cannot_be_offered(staff, summer):
    other = make_org("voisin")
    from fidelo.tenancy.selectors import program_for

    foreign = reward_create(organization=other, program=program_for(other.id), actor=STAFF, kind="experience", title_fr="Ailleurs", cost_points=5)
    with nothing_written():
        response = staff.post(reverse("backoffice:campaign_offer_save", args=["ete"]), {"reward": foreign.id, "position": "0"})
        assert response.status_code == 422
        assert staff.post(reverse("backoffice:campaign_offer_delete", args=["ete", foreign.id])).status_code == 404


def test_the_edit_page_shows_the_offer_tracking(org, program, staff, summer, reward):
    members = [make_member(org) for _ in range(3)]
    for person in members:
        campaign_offer_seen(campaign=summer, reward=reward, member=person)
    give_points(program, members[0], 100, occurred_at=now())
    reward_redeem(program=program, member=members[0], reward=reward, campaign=summer)
    page = staff.get(reverse("backoffice:campaign_edit", args=["ete"])).content.decode()
    row = page[page.index(f'data-offer="{reward.id}"'):]
    row = row[: row.index("</tr>")]
    cells = [cell.split(">", 1)[1].split("<", 1)[0].strip() for cell in row.split('<td class="num"')[1:]]
    # cost (60, the usual 100 struck through), position, seen 3, requested 1, used 0, 33.3 %, 0.0 %
    assert cells == ["60", "0", "3", "1", "0", "33.3%", "0.0%"]
    french = client_for(make_staff(org, email="fr@exemple.fr"), "fr").get(reverse("backoffice:campaign_edit", args=["ete"])).content.decode()
    assert "33,3\u00a0%" in french
