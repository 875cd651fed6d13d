"""Contacts > Fidélité and Statistiques through Django's test client: permissions, filters,
refusals, CSV exports, both languages and query-count guards."""

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse

from fidelo.conftest import STAFF, make_member, make_org
from fidelo.ledger.tests.helpers import buy
from fidelo.rewards.services import reward_create, reward_redeem
from fidelo.tenancy.services import store_create
from fidelo.web.tests.browser import make_staff

pytestmark = pytest.mark.django_db

URLS = [
    reverse("backoffice:leaderboard"), reverse("backoffice:leaderboard_csv"), reverse("backoffice:leaderboard_table_csv", args=["rewards"]),
    reverse("backoffice:dashboard"), reverse("backoffice:dashboard_csv", args=["daily"]),
]


def client_for(user, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    return client


@pytest.fixture
def shop(org, program, store):
    """Four members: Anne (300 points, one reward), Bruno (120), Chloé (40), Dimitri (nothing yet)."""
    reward = reward_create(organization=org, program=program, actor=STAFF, kind="free_product", title_fr="Café offert", title_en="Free coffee", cost_points=50)
    people = {}
    for first, last, cents in (("Anne", "Dupont", 30000), ("Bruno", "Martin", 12000), ("Chloé", "Petit", 4000), ("Dimitri", "Roux", 0)):
        member = make_member(org, first_name=first, last_name=last, store=store)
        if cents:
            buy(program, member, cents, store=store)
        people[first] = member
    reward_redeem(program=program, member=people["Anne"], reward=reward)
    return people


@pytest.fixture
def staff(org):
    return client_for(make_staff(org))


def names(response) -> list[str]:
    html = response.content.decode()
    table = html[html.find('id="ranking"'):]
    table = table[: table.find("</table>")]
    order = [(table.find(f">{first} "), first) for first in ("Anne", "Bruno", "Chloé", "Dimitri")]
    return [first for at, first in sorted(order) if at >= 0]


def rows_of(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")
    return list(csv.reader(io.StringIO(text), delimiter=";"))


def test_anonymous_users_go_to_the_login_page_and_strangers_get_a_403(db, org):
    for url in URLS:
        response = Client().get(url)
        assert response.status_code == 302 and reverse("backoffice:login") in response["Location"], url
    from django.contrib.auth import get_user_model

    nobody = get_user_model().objects.create_user(username="nobody@exemple.fr", email="nobody@exemple.fr", password="x-long-password-1")
    for url in URLS:
        assert client_for(nobody).get(url).status_code == 403, url


def test_the_leaderboard_shows_the_statistics_the_top_three_and_the_ranking(shop, staff):
    response = staff.get(reverse("backoffice:leaderboard"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Loyalty leaderboard" in html and "Most popular rewards" in html and "Free coffee" in html
    assert 'data-stat="points_distributed">460<' in html and 'data-stat="rewards_unlocked">1<' in html
    assert 'data-stat="active_members">3<' in html
    assert names(response) == ["Anne", "Bruno", "Chloé", "Dimitri"]
    assert 'id="progression-data"' in html and "vendor/chart.umd.min.js" in html


def test_each_filter_changes_the_ranking(shop, staff):
    url = reverse("backoffice:leaderboard")
    assert names(staff.get(url, {"min_points": "100"})) == ["Anne", "Bruno"]
    assert names(staff.get(url, {"rewards": "with"})) == ["Anne"]
    assert names(staff.get(url, {"rewards": "without"})) == ["Bruno", "Chloé", "Dimitri"]
    assert names(staff.get(url, {"referrals": "with"})) == []
    assert names(staff.get(url, {"referrals": "without"})) == ["Anne", "Bruno", "Chloé", "Dimitri"]
    assert names(staff.get(url, {"q": "mar"})) == ["Bruno"]
    assert names(staff.get(url, {"q": "chloe"})) == ["Chloé"]
    assert names(staff.get(url, {"sort": "name"})) == ["Anne", "Bruno", "Chloé", "Dimitri"]
    assert names(staff.get(url, {"sort": "balance"})) == ["Anne", "Bruno", "Chloé", "Dimitri"]  # 250, 120, 40, 0


@pytest.mark.parametrize("params", [{"min_points": "beaucoup"}, {"min_points": "-5"}, {"sort": "password"}, {"page": "0"}])
def test_bad_filters_are_shown_with_a_400_and_the_full_ranking(shop, staff, params):
    response = staff.get(reverse("backoffice:leaderboard"), params)
    assert response.status_code == 400
    assert 'id="filter-error"' in response.content.decode()
    assert names(response) == ["Anne", "Bruno", "Chloé", "Dimitri"]
    assert staff.get(reverse("backoffice:leaderboard_csv"), params).status_code == 400


def test_the_ranking_exports_to_csv_with_the_filters(shop, staff):
    response = staff.get(reverse("backoffice:leaderboard_csv"), {"min_points": "100"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = rows_of(response)
    assert rows[0][:3] == ["Rank", "Member id", "Name"]
    assert [(r[0], r[2], r[6]) for r in rows[1:]] == [("1", "Anne Dupont", "300"), ("2", "Bruno Martin", "120")]
    rewards = rows_of(staff.get(reverse("backoffice:leaderboard_table_csv", args=["rewards"])))
    assert rewards[1][:3] == ["Free coffee", "50", "1"]
    top = rows_of(staff.get(reverse("backoffice:leaderboard_table_csv", args=["top"])))
    assert [r[2] for r in top[1:]] == ["Anne Dupont", "Bruno Martin", "Chloé Petit"]
    assert len(rows_of(staff.get(reverse("backoffice:leaderboard_table_csv", args=["progression"])))) == 13
    assert staff.get(reverse("backoffice:leaderboard_table_csv", args=["passwords"])).status_code == 404


def test_french_is_spoken_too(shop, org):
    html = client_for(make_staff(org, email="fr@exemple.fr"), "fr").get(reverse("backoffice:leaderboard")).content.decode()
    assert 'lang="fr"' in html
    fr = client_for(make_staff(org, email="fr2@exemple.fr"), "fr").get(reverse("backoffice:dashboard")).content.decode()
    assert 'lang="fr"' in fr


def test_another_organization_sees_none_of_it(shop, db):
    other = make_org("autre-commerce")
    stranger = client_for(make_staff(other, email="intrus@exemple.fr"))
    assert names(stranger.get(reverse("backoffice:leaderboard"))) == []
    assert len(rows_of(stranger.get(reverse("backoffice:leaderboard_csv")))) == 1  # the header only


def test_the_dashboard_for_all_stores_one_store_and_a_period(shop, staff, org, store):
    response = staff.get(reverse("backoffice:dashboard"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-stat="members">4<' in html and 'data-stat="issued">460<' in html and 'data-stat="redeemed">50<' in html
    assert 'data-stat="unused">410<' in html and 'id="non-members"' in html
    other = store_create(organization=org, code="lyon", name="Lyon", city="Lyon")
    empty = staff.get(reverse("backoffice:dashboard"), {"store": other.id}).content.decode()
    assert 'data-stat="members">0<' in empty and 'data-stat="issued">0<' in empty
    there = staff.get(reverse("backoffice:dashboard"), {"store": store.id}).content.decode()
    assert 'data-stat="members">4<' in there and 'data-stat="issued">460<' in there
    past = staff.get(reverse("backoffice:dashboard"), {"start": "2020-01-01", "end": "2020-01-31"}).content.decode()
    assert 'data-stat="issued">0<' in past and 'data-stat="checkouts">0<' in past


@pytest.mark.parametrize(
    "params", [{"start": "demain"}, {"start": "2026-05-01", "end": "2026-04-01"}, {"start": "2019-01-01", "end": "2026-01-01"}, {"store": "999999"}, {"store": "x"}]
)
def test_bad_periods_are_refused_with_a_400(shop, staff, params):
    response = staff.get(reverse("backoffice:dashboard"), params)
    assert response.status_code == 400 and 'id="period-error"' in response.content.decode()
    assert staff.get(reverse("backoffice:dashboard_csv", args=["daily"]), params).status_code == 400


def test_a_store_of_another_organization_is_refused(shop, staff):
    other = make_org("autre-commerce")
    foreign = store_create(organization=other, code="ailleurs", name="Ailleurs", city="Nantes")
    assert staff.get(reverse("backoffice:dashboard"), {"store": foreign.id}).status_code == 400


def test_every_dashboard_table_exports_to_csv(shop, staff):
    expected_first = {"daily": "Day", "top_members": "Rank", "offers": "Reward", "retention": "Enrollment month", "tiers": "Tier", "rfm": "Segment"}
    for table, header in expected_first.items():
        response = staff.get(reverse("backoffice:dashboard_csv", args=[table]))
        assert response.status_code == 200, table
        rows = rows_of(response)
        assert rows[0][0] == header, table
    top = rows_of(staff.get(reverse("backoffice:dashboard_csv", args=["top_members"])))
    assert [r[2] for r in top[1:]] == ["Anne Dupont", "Bruno Martin", "Chloé Petit"]
    rfm = {r[0]: r[1] for r in rows_of(staff.get(reverse("backoffice:dashboard_csv", args=["rfm"])))[1:]}
    assert rfm["Never bought"] == "1" and sum(int(v) for v in rfm.values()) == 4
    assert staff.get(reverse("backoffice:dashboard_csv", args=["secrets"])).status_code == 404


def _queries(client, url, django_assert_max_num_queries, limit):
    with django_assert_max_num_queries(limit) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_query_counts_are_bounded_and_do_not_grow_with_members(shop, staff, org, program, store, django_assert_max_num_queries):
    staff.get(reverse("backoffice:leaderboard"))  # the rollups take in the fixture's rows
    staff.get(reverse("backoffice:dashboard"))
    board = _queries(staff, reverse("backoffice:leaderboard"), django_assert_max_num_queries, 20)
    stats = _queries(staff, reverse("backoffice:dashboard"), django_assert_max_num_queries, 34)
    for n in range(20):
        buy(program, make_member(org, store=store), 1000 + n * 100, store=store)
    staff.get(reverse("backoffice:leaderboard"))
    assert _queries(staff, reverse("backoffice:leaderboard"), django_assert_max_num_queries, 20) == board
    assert _queries(staff, reverse("backoffice:dashboard"), django_assert_max_num_queries, 34) == stats


def test_the_offers_table_has_a_line_per_campaign_offer(shop, org, program, staff):
    from fidelo.core.clock import now
    from fidelo.rewards.campaigns import campaign_create, campaign_offer_seen, campaign_offer_set
    from fidelo.rewards.models import Reward

    coffee = Reward.objects.get(organization=org, title_en="Free coffee")
    campaign = campaign_create(organization=org, actor=STAFF, code="hiver", name_fr="Offres d'hiver", name_en="Winter offers",
                               starts_at=now().replace(year=now().year - 1))
    campaign_offer_set(campaign=campaign, reward=coffee, actor=STAFF, cost_points=30)
    campaign_offer_seen(campaign=campaign, reward=coffee, member=shop["Bruno"])
    rows = rows_of(staff.get(reverse("backoffice:dashboard_csv", args=["offers"])))
    assert rows[0][:2] == ["Reward", "Campaign"]
    (line,) = [r for r in rows[1:] if r[1] == "Winter offers"]
    assert line[0] == "Free coffee" and line[6:9] == ["1", "0", "0"]  # seen by one member, through the campaign
    assert "Winter offers" in staff.get(reverse("backoffice:dashboard")).content.decode()
