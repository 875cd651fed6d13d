"""Helpers for the API tests: problem+json checks, a snapshot of every table the API writes,
ready-made request bodies, and the list of endpoints the matrix tests walk through."""

import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fidelo.awards.models import Award
from fidelo.conftest import STAFF, ApiClient, make_member
from fidelo.core.clock import now
from fidelo.core.models import AuditEntry, IdempotencyRecord
from fidelo.events.models import Event
from fidelo.ledger.models import Account, Lot, Transfer
from fidelo.members.models import Consent, Member
from fidelo.purchases.models import Purchase, PurchaseLine, Refund, Visit
from fidelo.rewards.models import (
    AutoRedemption,
    Campaign,
    CampaignOffer,
    OfferEvent,
    PartnerCode,
    Reward,
    Voucher,
)
from fidelo.rules.models import Rule, RuleVersion
from fidelo.tenancy.models import ApiKey, Organization, Store
from fidelo.tenancy.selectors import forget_program
from fidelo.tenancy.services import api_key_create, program_update

API = "/api/v1"
PROBLEM_FIELDS = {"type": str, "title": str, "status": int, "detail": str, "code": str}

COUNTED = {
    "transfer": Transfer,
    "lot": Lot,
    "account": Account,
    "purchase": Purchase,
    "purchase_line": PurchaseLine,
    "refund": Refund,
    "visit": Visit,
    "member": Member,
    "consent": Consent,
    "idempotency": IdempotencyRecord,
    "audit": AuditEntry,
    "reward": Reward,
    "voucher": Voucher,
    "partner_code": PartnerCode,
    "auto_redemption": AutoRedemption,
    "offer_event": OfferEvent,
    "campaign": Campaign,
    "campaign_offer": CampaignOffer,
    "rule": Rule,
    "rule_version": RuleVersion,
    "award": Award,
    "event": Event,
}


def state() -> dict:
    """Everything an API call could change: row counts and the mutable columns."""
    data: dict = {name: model.objects.count() for name, model in COUNTED.items()}
    data["balances"] = list(Account.objects.order_by("pk").values_list("pk", "balance"))
    data["lots"] = list(Lot.objects.order_by("pk").values_list("pk", "remaining", "status"))
    data["purchases"] = list(Purchase.objects.order_by("pk").values_list("pk", "refunded_minor", "points_reversed"))
    data["lines"] = list(PurchaseLine.objects.order_by("pk").values_list("pk", "refunded_quantity", "points_reversed"))
    data["members"] = list(Member.objects.order_by("pk").values_list("pk", "email", "phone", "status", "first_name"))
    data["api_keys"] = list(ApiKey.objects.order_by("pk").values_list("pk", "revoked_at"))
    data["rewards"] = [
        (r.pk, r.stock, r.active, r.title_fr, r.title_en, r.cost_points, r.valid_until, sorted(s.pk for s in r.stores.all()))
        for r in Reward.objects.order_by("pk").prefetch_related("stores")
    ]
    data["vouchers"] = list(
        Voucher.objects.order_by("pk").values_list("pk", "status", "used_at", "used_store", "used_value_minor", "used_purchase_external_id", "closed_at")
    )
    data["partner_codes"] = list(PartnerCode.objects.order_by("pk").values_list("pk", "voucher"))
    data["auto_redemptions"] = list(AutoRedemption.objects.order_by("pk").values_list("member", "reward"))
    data["campaigns"] = list(Campaign.objects.order_by("pk").values_list("pk", "code", "name_fr", "name_en", "starts_at", "ends_at", "active"))
    data["campaign_offers"] = list(CampaignOffer.objects.order_by("pk").values_list("pk", "campaign", "reward", "cost_points", "position"))
    data["rules"] = list(Rule.objects.order_by("pk").values_list("pk", "active", "current_version", "name"))
    return data


@contextmanager
def nothing_written(*, idempotency_records: int = 0) -> Iterator[None]:
    """Assert the block changes nothing, except `idempotency_records` stored refusals.

    A refusal by a service is stored as the key's response (a retry is refused the same
    way); a refusal before the service runs (schema, authentication, key) stores nothing.
    """
    before = state()
    yield
    after = state()
    before["idempotency"] += idempotency_records
    assert after == before


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json", response["Content-Type"]
    body = response.json()
    for field, kind in PROBLEM_FIELDS.items():
        assert isinstance(body.get(field), kind), (field, body)
    assert body["status"] == status
    assert body["code"] == code, body
    assert body["type"].endswith("/" + code)
    assert body["title"] and body["detail"]
    return body


def ago(**delta: float) -> str:
    """An ISO 8601 timestamp with offset, `delta` before now."""
    return (now() - dt.timedelta(**delta)).isoformat()


_ids = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def purchase_payload(member: Member | None = None, store: Store | None = None, /, **overrides: object) -> dict:
    body: dict = {
        "member": {"card": member.card_number} if member is not None else {"card": "000000000000"},
        "external_id": unique("T"),
        "occurred_at": ago(hours=1),
        "total_cents": 4250,
        "currency": "EUR",
    }
    if store is not None:
        body["store"] = store.code
    body.update(overrides)
    return body


def allow_transfers(org: Organization, **settings: object) -> None:
    program_update(organization=org, actor=STAFF, transfers_allowed=True, **settings)
    forget_program(org.id)


def buy(api: ApiClient, member: Member, store: Store | None = None, /, **overrides: object) -> dict:
    response = api.post(f"{API}/purchases", purchase_payload(member, store, **overrides))
    assert response.status_code == 201, response.content
    return response.json()


# --- the endpoints, for the matrix tests ---------------------------------------------------


@dataclass
class World:
    """An organization with a store, two members with points, a purchase and an API key."""

    org: Organization
    store: Store
    member: Member
    friend: Member
    purchase: dict
    api: ApiClient
    # Set by with_rewards() for the rewards tests; the matrix tests without them use ids that do not exist.
    reward: Reward | None = None  # a 5 € voucher for 10 points
    partner: Reward | None = None  # a partner reward with a pool of codes
    voucher: Voucher | None = None  # the member's 5 € voucher, issued
    campaign: Campaign | None = None  # set by with_campaign(): offers the 5 € voucher at 8 points
    rule_id: int = 0  # a rule rewarding reviews (it never fires on the purchases of the tests)


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: Callable[[World], str]
    body: Callable[[World], dict] | None = None
    params: Callable[[World], dict] | None = None

    def call(self, client: ApiClient, world: World, key: str | None = None):
        if self.method == "GET":
            return client.get(self.path(world), **(self.params(world) if self.params else {}))
        if self.method == "POST":
            return client.post(self.path(world), self.body(world) if self.body else {}, key=key or unique("key"))
        return send(client, self.method, self.path(world), self.body(world) if self.body else {})

    def __str__(self) -> str:
        return self.name


def send(client: ApiClient, method: str, path: str, body: object = None, *, raw: str | None = None):
    """A PUT or PATCH with a JSON body (ApiClient knows GET and POST)."""
    import json

    data = raw if raw is not None else json.dumps(body if body is not None else {})
    return client.client.generic(method, path, data=data, content_type="application/json", **client._headers(None))


def _reward_id(w: World) -> int:
    return w.reward.id if w.reward else 999_999_999


def _partner_id(w: World) -> int:
    return w.partner.id if w.partner else 999_999_998


def _code(w: World) -> str:
    return w.voucher.code if w.voucher else "NOVOUCHER0000000"


def _campaign(w: World) -> str:
    return w.campaign.code if w.campaign else "no-campaign"


LEDGER_ENDPOINTS = [
    Endpoint("purchase.create", "POST", lambda w: f"{API}/purchases", lambda w: purchase_payload(w.member, w.store)),
    Endpoint("purchase.get", "GET", lambda w: f"{API}/purchases/{w.purchase['external_id']}"),
    Endpoint("refund.create", "POST", lambda w: f"{API}/purchases/{w.purchase['external_id']}/refunds",
             lambda w: {"external_id": unique("R"), "amount_cents": 1000}),
    Endpoint("member.enroll", "POST", lambda w: f"{API}/members", lambda w: {"first_name": "Zoé", "email": "zoe@exemple.fr"}),
    Endpoint("member.search", "GET", lambda w: f"{API}/members", params=lambda w: {"q": "Dupont"}),
    Endpoint("member.lookup", "GET", lambda w: f"{API}/members/lookup", params=lambda w: {"card": w.member.card_number}),
    Endpoint("member.get", "GET", lambda w: f"{API}/members/{w.member.id}"),
    Endpoint("member.balance", "GET", lambda w: f"{API}/members/{w.member.id}/balance"),
    Endpoint("member.history", "GET", lambda w: f"{API}/members/{w.member.id}/history"),
    Endpoint("member.card", "GET", lambda w: f"{API}/members/{w.member.id}/card.svg"),
    Endpoint("member.adjust", "POST", lambda w: f"{API}/members/{w.member.id}/adjustments", lambda w: {"points": -5, "reason": "Geste"}),
    Endpoint("transfer.create", "POST", lambda w: f"{API}/transfers",
             lambda w: {"sender": {"id": w.member.id}, "recipient": {"card": w.friend.card_number}, "points": 5}),
    Endpoint("visit.create", "POST", lambda w: f"{API}/visits",
             lambda w: {"member": {"card": w.member.card_number}, "store": w.store.code, "external_id": unique("V"), "occurred_at": ago(minutes=5)}),
    Endpoint("program.get", "GET", lambda w: f"{API}/program"),
    Endpoint("program.stores", "GET", lambda w: f"{API}/program/stores"),
]

REWARD_ENDPOINTS = [
    Endpoint("reward.list", "GET", lambda w: f"{API}/rewards", params=lambda w: {"all": "true"}),
    Endpoint("reward.create", "POST", lambda w: f"{API}/rewards",
             lambda w: {"kind": "voucher_amount", "title_fr": "Bon de 10 €", "cost_points": 20, "amount_cents": 1000, "stores": [w.store.code]}),
    Endpoint("reward.charity", "GET", lambda w: f"{API}/rewards/charity/totals"),
    Endpoint("reward.get", "GET", lambda w: f"{API}/rewards/{_reward_id(w)}"),
    Endpoint("reward.update", "PATCH", lambda w: f"{API}/rewards/{_reward_id(w)}", lambda w: {"title_en": "5 € voucher", "stock": 50}),
    Endpoint("reward.codes", "POST", lambda w: f"{API}/rewards/{_partner_id(w)}/codes", lambda w: {"codes": [unique("CINE"), unique("CINE")]}),
    Endpoint("reward.stats", "GET", lambda w: f"{API}/rewards/{_reward_id(w)}/stats"),
    Endpoint("reward.seen", "POST", lambda w: f"{API}/rewards/{_reward_id(w)}/seen", lambda w: {"member": {"card": w.member.card_number}}),
    Endpoint("member.redeem", "POST", lambda w: f"{API}/members/{w.member.id}/redemptions", lambda w: {"reward_id": _reward_id(w), "channel": "pos"}),
    Endpoint("member.vouchers", "GET", lambda w: f"{API}/members/{w.member.id}/vouchers"),
    Endpoint("member.auto_redemption", "PUT", lambda w: f"{API}/members/{w.member.id}/auto-redemption", lambda w: {"reward_id": _reward_id(w)}),
    Endpoint("member.wallet", "GET", lambda w: f"{API}/members/{w.member.id}/wallet"),
    Endpoint("member.wallet_spend", "POST", lambda w: f"{API}/members/{w.member.id}/wallet/spend",
             lambda w: {"basket_cents": 300, "store": w.store.code}),
    Endpoint("voucher.get", "GET", lambda w: f"{API}/vouchers/{_code(w)}"),
    Endpoint("voucher.qr", "GET", lambda w: f"{API}/vouchers/{_code(w)}/qr.svg"),
    Endpoint("voucher.validate", "POST", lambda w: f"{API}/vouchers/{_code(w)}/validate", lambda w: {"store": w.store.code, "basket_cents": 2000}),
    Endpoint("voucher.use", "POST", lambda w: f"{API}/vouchers/{_code(w)}/use",
             lambda w: {"store": w.store.code, "basket_cents": 2000, "purchase_external_id": "T-900"}),
    Endpoint("voucher.cancel", "POST", lambda w: f"{API}/vouchers/{_code(w)}/cancel"),
]

CAMPAIGN_ENDPOINTS = [
    Endpoint("campaign.list", "GET", lambda w: f"{API}/campaigns"),
    Endpoint("campaign.create", "POST", lambda w: f"{API}/campaigns",
             lambda w: {"code": unique("hiver"), "name_fr": "Offres d'hiver", "starts_at": "2026-12-01T00:00:00+01:00"}),
    Endpoint("campaign.get", "GET", lambda w: f"{API}/campaigns/{_campaign(w)}"),
    Endpoint("campaign.update", "PATCH", lambda w: f"{API}/campaigns/{_campaign(w)}", lambda w: {"name_en": "Summer deals"}),
    Endpoint("campaign.offer_set", "PUT", lambda w: f"{API}/campaigns/{_campaign(w)}/offers/{_reward_id(w)}", lambda w: {"cost_points": 7}),
    Endpoint("campaign.offer_remove", "DELETE", lambda w: f"{API}/campaigns/{_campaign(w)}/offers/{_reward_id(w)}"),
    Endpoint("campaign.stats", "GET", lambda w: f"{API}/campaigns/{_campaign(w)}/stats"),
    Endpoint("campaign.seen", "POST", lambda w: f"{API}/campaigns/{_campaign(w)}/offers/{_reward_id(w)}/seen",
             lambda w: {"member": {"card": w.member.card_number}}),
]

REVIEW_RULE = {"name": "Avis", "event": "review", "effects": [{"type": "fixed_points", "points": 5}]}

RULE_ENDPOINTS = [
    Endpoint("rule.list", "GET", lambda w: f"{API}/rules"),
    Endpoint("rule.create", "POST", lambda w: f"{API}/rules", lambda w: {"definition": REVIEW_RULE}),
    Endpoint("rule.get", "GET", lambda w: f"{API}/rules/{w.rule_id}"),
    Endpoint("rule.change", "PUT", lambda w: f"{API}/rules/{w.rule_id}", lambda w: {"definition": {**REVIEW_RULE, "name": "Avis 2"}}),
    Endpoint("rule.versions", "GET", lambda w: f"{API}/rules/{w.rule_id}/versions"),
    Endpoint("rule.activate", "POST", lambda w: f"{API}/rules/{w.rule_id}/activate"),
    Endpoint("rule.deactivate", "POST", lambda w: f"{API}/rules/{w.rule_id}/deactivate"),
    Endpoint("rule.simulate", "POST", lambda w: f"{API}/rules/simulate",
             lambda w: {"member": {"id": w.member.id}, "event": {"type": "review", "occurred_at": ago(minutes=5)}}),
    Endpoint("event.create", "POST", lambda w: f"{API}/events",
             lambda w: {"type": "review", "member": {"id": w.member.id}, "external_id": unique("E"), "occurred_at": ago(minutes=5)}),
    Endpoint("event.cancel", "POST", lambda w: f"{API}/events/{unique('E')}/cancel"),
    Endpoint("member.update", "PATCH", lambda w: f"{API}/members/{w.member.id}", lambda w: {"first_name": "Annie"}),
    Endpoint("program.member_attributes", "PUT", lambda w: f"{API}/program/member-attributes",
             lambda w: {"attributes": [{"key": "boisson", "type": "string"}]}),
]

ENDPOINTS = LEDGER_ENDPOINTS + REWARD_ENDPOINTS + RULE_ENDPOINTS + CAMPAIGN_ENDPOINTS
ENDPOINTS_BY_NAME = {e.name: e for e in ENDPOINTS}
# The POSTs the generic bad-input and idempotency tests walk through; the rewards endpoints
# have theirs in test_rewards_generic.py (they need with_rewards()).
POSTS = [e for e in LEDGER_ENDPOINTS if e.method == "POST"]
REWARD_WRITES = [e for e in REWARD_ENDPOINTS if e.method != "GET" and e.name != "voucher.validate"]


def make_world(org: Organization, store: Store, api: ApiClient) -> World:
    allow_transfers(org)
    member = make_member(org, first_name="Anne", last_name="Dupont", email="anne.dupont@exemple.fr", phone="06 12 34 56 78")
    friend = make_member(org, first_name="Bruno", last_name="Martin", email="bruno.martin@exemple.fr")
    purchase = buy(api, member, store)
    from fidelo.awards.catalog import rule_catalog
    from fidelo.rules.services import rule_create
    from fidelo.tenancy.selectors import program_for

    rule = rule_create(organization=org, definition=REVIEW_RULE, catalog=rule_catalog(program_for(org.id)), actor=STAFF)
    return World(org=org, store=store, member=member, friend=friend, purchase=purchase, api=api, rule_id=rule.id)


def client_for(org: Organization, store: Store | None = None) -> ApiClient:
    return ApiClient(api_key_create(organization=org, name=unique("key"), actor=STAFF, store=store).token)


def with_rewards(world: World) -> World:
    """The world plus a 5 € voucher reward (10 points), a partner reward with two codes, a wallet
    credit of 5 € and one issued voucher: the member is left with 22 points and 500 cents."""
    from fidelo.rewards.services import reward_add_codes, reward_create, reward_redeem
    from fidelo.tenancy.selectors import program_for

    program = program_for(world.org.id)
    world.reward = reward_create(organization=world.org, program=program, actor=STAFF, kind="voucher_amount", title_fr="Bon de 5 €",
                                 cost_points=10, amount_minor=500)
    world.partner = reward_create(organization=world.org, program=program, actor=STAFF, kind="partner_code", title_fr="Place de cinéma",
                                  cost_points=5)
    reward_add_codes(reward=world.partner, codes=["CINE-A", "CINE-B"], actor=STAFF)
    credit = reward_create(organization=world.org, program=program, actor=STAFF, kind="wallet_credit", title_fr="5 € dans la cagnotte",
                           cost_points=10, amount_minor=500)
    reward_redeem(program=program, member=world.member, reward=credit)
    world.voucher = reward_redeem(program=program, member=world.member, reward=world.reward).voucher
    return world


def with_campaign(world: World) -> World:
    """with_rewards() plus the "ete" campaign, on from a day ago with no end, offering the 5 € voucher at 8 points."""
    from fidelo.rewards.campaigns import campaign_create, campaign_offer_set

    if world.reward is None:
        with_rewards(world)
    world.campaign = campaign_create(organization=world.org, actor=STAFF, code="ete", name_fr="Offres d'été", name_en="Summer offers",
                                     starts_at=now() - dt.timedelta(days=1))
    campaign_offer_set(campaign=world.campaign, reward=world.reward, actor=STAFF, cost_points=8)
    return world
