"""The portal's "Current offers": the campaigns on now, seen once per offer, redeemed at the offer's cost."""

import datetime as dt

import pytest
from django.test import Client

from fidelo.api.tests.helpers import nothing_written
from fidelo.conftest import STAFF, make_member, make_org, program_of
from fidelo.core.clock import now
from fidelo.ledger.selectors import member_balance
from fidelo.rewards.campaigns import (
    campaign_create,
    campaign_offer_set,
    campaign_update,
)
from fidelo.rewards.models import OfferEvent, OfferEventKind, Voucher
from fidelo.rewards.tests.helpers import make_reward
from fidelo.web.tests.test_portal_fixtures import portal_client, token_of, with_points

pytestmark = pytest.mark.django_db


@pytest.fixture
def summer(org, program):
    """The summer campaign, on now, offering a 5 € voucher (50 points) at 30 points."""
    campaign = campaign_create(organization=org, actor=STAFF, code="ete", name_fr="Offres d'été", name_en="Summer offers",
                               description_fr="Tout l'été", starts_at=now() - dt.timedelta(days=1), ends_at=now() + dt.timedelta(days=30))
    reward = make_reward(program, cost=50, title_fr="Bon de 5 €", title_en="5 € voucher")
    campaign_offer_set(campaign=campaign, reward=reward, actor=STAFF, cost_points=30)
    return campaign, reward


def offer_url(org, campaign, reward) -> str:
    return f"/portal/{org.slug}/offers/{campaign.code}/{reward.pk}/"


def test_the_rewards_page_shows_the_current_offers_and_records_them_seen_once(org, member, summer):
    campaign, reward = summer
    with_points(org, member, 40)
    client = portal_client(org, member)
    page = client.get(f"/portal/{org.slug}/rewards/").content.decode()
    assert "data-current-offers" in page and "Offres d&#x27;été" in page and "Tout l&#x27;été" in page
    assert f'data-offer="ete:{reward.pk}"' in page and "30" in page
    assert offer_url(org, campaign, reward) in page
    client.get(f"/portal/{org.slug}/rewards/")
    seen = OfferEvent.objects.filter(member=member, kind=OfferEventKind.SEEN)
    # Once for the campaign offer, once for the catalog entry (the reward's totals count members, not events)
    assert sorted(seen.values_list("reward_id", "campaign_id"), key=str) == sorted([(reward.pk, campaign.pk), (reward.pk, None)], key=str)


def test_in_english_the_section_and_the_campaign_speak_english(org, member, summer):
    client = portal_client(org, member)
    client.cookies["django_language"] = "en"
    page = client.get(f"/portal/{org.slug}/rewards/").content.decode()
    assert "Current offers" in page and "Summer offers" in page


def test_no_section_without_a_campaign_on(org, member, program, summer):
    campaign, _reward = summer
    campaign_update(campaign=campaign, actor=STAFF, active=False)
    page = portal_client(org, member).get(f"/portal/{org.slug}/rewards/").content.decode()
    assert "data-current-offers" not in page and "Bon de 5 €" in page  # still in the catalog at its own cost
    assert not OfferEvent.objects.filter(campaign__isnull=False).exists()


def test_redeeming_through_the_offer_costs_the_offer_price(org, member, summer):
    campaign, reward = summer
    with_points(org, member, 40)
    client = portal_client(org, member)
    confirm = client.get(offer_url(org, campaign, reward))
    html = confirm.content.decode()
    assert confirm.status_code == 200 and "Offres d&#x27;été" in html and "data-usual-cost" in html
    assert Voucher.objects.count() == 0
    response = client.post(offer_url(org, campaign, reward), {"form_token": token_of(html)})
    voucher = Voucher.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/portal/{org.slug}/vouchers/{voucher.code}/"
    assert (voucher.points, voucher.campaign_id, voucher.channel) == (30, campaign.pk, "portal")
    assert member_balance(member, "PTS").available == 10
    requested = OfferEvent.objects.get(kind=OfferEventKind.REQUESTED)
    assert requested.campaign_id == campaign.pk


def test_a_double_submit_redeems_once(org, member, summer):
    campaign, reward = summer
    with_points(org, member, 100)
    client = portal_client(org, member)
    token = token_of(client.get(offer_url(org, campaign, reward)).content.decode())
    first = client.post(offer_url(org, campaign, reward), {"form_token": token})
    second = client.post(offer_url(org, campaign, reward), {"form_token": token})
    assert Voucher.objects.count() == 1 and first["Location"] == second["Location"]
    assert member_balance(member, "PTS").available == 70


@pytest.mark.parametrize(
    "change, message",
    [
        ({"active": False}, "This offer has been switched off."),
        ({"ends_at": "past"}, "This offer is over."),
    ],
    ids=["switched_off", "ended"],
)
def test_an_offer_that_stops_between_the_confirmation_and_the_click_is_refused(org, member, summer, change, message):
    campaign, reward = summer
    with_points(org, member, 100)
    client = portal_client(org, member)
    client.cookies["django_language"] = "en"
    token = token_of(client.get(offer_url(org, campaign, reward)).content.decode())
    if change.get("ends_at") == "past":
        change = {"starts_at": now() - dt.timedelta(days=2), "ends_at": now() - dt.timedelta(seconds=1)}
    campaign_update(campaign=campaign, actor=STAFF, **change)
    with nothing_written(idempotency_records=1):
        response = client.post(offer_url(org, campaign, reward), {"form_token": token})
    assert response.status_code == 409 and message in response.content.decode()


def test_not_enough_points_at_the_offer_price(org, member, summer):
    campaign, reward = summer
    with_points(org, member, 29)
    client = portal_client(org, member)
    client.cookies["django_language"] = "en"
    token = token_of(client.get(offer_url(org, campaign, reward)).content.decode())
    with nothing_written(idempotency_records=1):
        response = client.post(offer_url(org, campaign, reward), {"form_token": token})
    assert response.status_code == 409 and "your balance is 29 points, 30 are needed" in response.content.decode()


def test_unknown_campaign_or_reward_not_offered_is_404(org, member, program, summer):
    campaign, reward = summer
    other_reward = make_reward(program, cost=10)
    foreign = make_org("autre-cafe")
    foreign_campaign = campaign_create(organization=foreign, actor=STAFF, code="gym", name_fr="Gym", starts_at=now() - dt.timedelta(days=1))
    campaign_offer_set(campaign=foreign_campaign, reward=make_reward(program_of(foreign), cost=5), actor=STAFF)
    with_points(org, member, 100)
    client = portal_client(org, member)
    with nothing_written():
        assert client.get(f"/portal/{org.slug}/offers/nulle/{reward.pk}/").status_code == 404
        assert client.get(offer_url(org, campaign, other_reward)).status_code == 404
        assert client.get(f"/portal/{org.slug}/offers/gym/{reward.pk}/").status_code == 404
        assert client.post(offer_url(org, campaign, other_reward), {"form_token": "b" * 24}).status_code == 404


def test_anonymous_and_other_members_write_nothing(org, member, summer):
    campaign, reward = summer
    with_points(org, member, 100)
    stranger = make_member(make_org("autre-cafe"), email="x@autre.fr")
    with nothing_written():
        response = Client().post(offer_url(org, campaign, reward), {"form_token": "x" * 24})
        assert response.status_code == 302 and "/signin/" in response["Location"]
        response = portal_client(stranger.organization, stranger).post(offer_url(org, campaign, reward), {"form_token": "x" * 24})
        assert response.status_code == 302 and "/signin/" in response["Location"]
