"""Members: enroll, get, search, look up; balance, history, card QR code, adjustments;
redemptions, vouchers, automatic redemption and the wallet."""

from typing import Literal

from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from ninja import Query, Router

from fidelo.api.v1.auth import actor_of, context, store_for
from fidelo.api.v1.idempotency import idempotent_post
from fidelo.api.v1.pagination import decode_keyset, encode_keyset, keyset_time
from fidelo.api.v1.problems import json_response, qr_svg_response
from fidelo.api.v1.reward_schemas import (
    AutoRedemptionIn,
    AutoRedemptionOut,
    RedemptionIn,
    VoucherListOut,
    VoucherOut,
    WalletOut,
    WalletSpendIn,
    WalletSpendOut,
)
from fidelo.api.v1.schemas import (
    AdjustmentIn,
    BalanceOut,
    EntryOut,
    HistoryOut,
    MemberIn,
    MemberListOut,
    MemberOut,
    MemberPatch,
    MemberRef,
    Text,
)
from fidelo.api.v1.vouchers import voucher_body
from fidelo.core.idempotency import StoresReceipt
from fidelo.events.services import member_join
from fidelo.ledger.selectors import (
    decode_cursor,
    encode_cursor,
    member_balance,
    member_history,
)
from fidelo.ledger.services import points_adjust, program_unit
from fidelo.members.errors import InvalidMemberData
from fidelo.members.models import Member
from fidelo.members.selectors import (
    access_member,
    current_consents,
    member_lookup,
    member_search,
)
from fidelo.members.services import member_update
from fidelo.rewards.campaign_selectors import access_campaign
from fidelo.rewards.selectors import (
    access_reward,
    member_vouchers,
    reward_for_redemption,
)
from fidelo.rewards.services import (
    auto_redemption_set,
    redemption_apply_with_receipt,
    redemption_plan,
    wallet_spend,
)
from fidelo.rules.explain import explain
from fidelo.tenancy.models import Organization
from fidelo.tenancy.selectors import program_for

router = Router(tags=["members"])


def resolve_member(organization: Organization, ref: MemberRef, *, lean: bool = False) -> Member:
    return member_lookup(
        organization, member_id=ref.id, card=ref.card, email=ref.email, phone=ref.phone, external_id=ref.external_id, lean=lean
    )


PATH_REF_KINDS = {"card", "email", "phone", "external_id"}


def member_from_path(organization: Organization, member_ref: str) -> Member:
    """The member a path names: `42` (the id) or `card:…`, `email:…`, `phone:…`, `external_id:…`
    (used by /tiers/members/{member_ref}, /referrals/members/…, /stamp-cards/members/…)."""
    text = member_ref.strip()
    if text.isdigit():
        ref = MemberRef(id=int(text)) if len(text) <= 19 else None
    else:
        kind, _, value = text.partition(":")
        ref = MemberRef(**{kind: value}) if kind in PATH_REF_KINDS and value.strip() and len(value) <= 254 else None
    if ref is None:
        raise InvalidMemberData(
            "Name the member by id, or by card:…, email:…, phone:… or external_id:…", code="member_identifier_invalid", field="member_ref"
        )
    return resolve_member(organization, ref)


def member_body(member: Member, consents: dict | None = None) -> dict:
    return MemberOut(
        id=member.id,
        card_number=member.card_number,
        external_id=member.external_id,
        first_name=member.first_name,
        last_name=member.last_name,
        email=member.email,
        phone=member.phone,
        birthday=member.birthday,
        locale=member.locale,
        status=member.status,
        enrolled_at=member.enrolled_at,
        enrolled_store=member.enrolled_store.code if member.enrolled_store_id else None,
        consents=consents if consents is not None else current_consents(member),
        card_qr_url=reverse("api-v1:member_card_qr", kwargs={"member_id": member.id}),
        attributes=member.attributes or {}, interests=member.interests or [], tier=member.tier or None,
    ).model_dump(mode="json")


@router.post("", response={201: MemberOut}, summary="Enroll a member")
def enroll(request: HttpRequest, body: MemberIn) -> HttpResponse:
    ctx = context(request)

    def execute() -> tuple[int, dict]:
        store = store_for(ctx, body.store)
        member = member_join(
            program=program_for(ctx.organization.id), referral_code=body.referral_code,
            actor=actor_of(request), first_name=body.first_name, last_name=body.last_name,
            email=body.email, phone=body.phone, birthday=body.birthday, locale=body.locale, store=store, channel="api",
            external_id=body.external_id, consents={k: v for k, v in body.consents.model_dump().items() if v is not None},
            consent_source=f"api:{store.code}" if store else "api", attributes=body.attributes, interests=body.interests,
        )
        return 201, member_body(member)

    return idempotent_post(request, operation="member.enroll", payload=body.model_dump(mode="json"), execute=execute)


@router.get("", response=MemberListOut, summary="Search members by name, email, phone or card")
def search(request: HttpRequest, q: Text = "", cursor: Text | None = None, limit: int = Query(50, ge=1, le=200)) -> dict:
    ctx = context(request)
    members = member_search(ctx.organization.id, q[:200]).select_related("enrolled_store")
    before = decode_cursor(cursor)
    if before is not None:
        members = members.filter(id__lt=before)
    rows = list(members[: limit + 1])
    return {
        "items": [member_body(m) for m in rows[:limit]],
        "next_cursor": encode_cursor(rows[limit - 1].id) if len(rows) > limit else None,
    }


@router.get("/lookup", response=MemberOut, summary="Find a member by card, email, phone or external id")
def lookup(request: HttpRequest, card: Text | None = None, email: Text | None = None, phone: Text | None = None, external_id: Text | None = None) -> dict:
    return member_body(member_lookup(context(request).organization, card=card, email=email, phone=phone, external_id=external_id))


@router.get("/{member_id}", response=MemberOut, summary="Get a member")
def get_member(request: HttpRequest, member_id: int) -> dict:
    return member_body(access_member(context(request).organization.id, member_id))


@router.patch("/{member_id}", response={200: MemberOut}, summary="Change a member's details, attributes or interests")
def change(request: HttpRequest, member_id: int, body: MemberPatch) -> HttpResponse:
    ctx = context(request)
    member = access_member(ctx.organization.id, member_id)
    changes = body.model_dump(exclude_unset=True)
    member = member_update(member=member, actor=actor_of(request), **changes)
    return json_response(member_body(member), 200)


@router.get("/{member_id}/balance", response=BalanceOut, summary="Available, pending and soon-expiring points")
def balance(request: HttpRequest, member_id: int) -> dict:
    ctx = context(request)
    member = access_member(ctx.organization.id, member_id)
    result = member_balance(member, program_unit(program_for(ctx.organization.id)))
    return {
        "member_id": member.id, "unit": result.unit, "available": result.available, "pending": result.pending,
        "expiring_within_30_days": result.expiring_soon, "next_expiry": result.next_expiry,
    }


@router.get("/{member_id}/history", response=HistoryOut, summary="Ledger entries with their reasons, newest first")
def history(request: HttpRequest, member_id: int, cursor: Text | None = None, limit: int = Query(50, ge=1, le=200)) -> dict:
    member = access_member(context(request).organization.id, member_id)
    page = member_history(member, cursor=cursor, limit=limit)
    return {
        "items": [
            {
                "id": e.id, "occurred_at": e.occurred_at, "kind": e.kind, "points": e.available_change, "pending_points": e.pending_change,
                "reason": e.reason, "reason_code": e.reason_code, "source_type": e.source_type, "source_id": e.source_id,
                "rules": [
                    {"rule_id": a.get("rule_id"), "rule_version": a.get("rule_version"), "rule": a.get("rule", ""), "points": a.get("amount", 0),
                     "explanation": str(explain(a.get("why") or {}))}
                    for a in e.awards
                ],
            }
            for e in page.entries
        ],
        "next_cursor": page.next_cursor,
    }


@router.get("/{member_id}/card.svg", url_name="member_card_qr", summary="The member card's QR code (SVG)")
def card_qr(request: HttpRequest, member_id: int) -> HttpResponse:
    return qr_svg_response(access_member(context(request).organization.id, member_id).card_number)


@router.post("/{member_id}/adjustments", response={201: EntryOut}, summary="Adjust points by hand, with a reason")
def adjust(request: HttpRequest, member_id: int, body: AdjustmentIn) -> HttpResponse:
    ctx = context(request)

    def execute() -> tuple[int, dict]:
        member = access_member(ctx.organization.id, member_id)
        transfer = points_adjust(
            program=program_for(ctx.organization.id), member=member, delta=body.points, note=body.reason, actor=actor_of(request)
        )
        return 201, EntryOut(id=transfer.id, member_id=member.id, points=body.points, kind=transfer.kind, occurred_at=transfer.occurred_at).model_dump(mode="json")

    return idempotent_post(request, operation="member.adjust", payload={"member": member_id, **body.model_dump(mode="json")}, execute=execute)


# --- rewards: redemptions, vouchers, auto-redemption, wallet ------------------------------------


@router.post("/{member_id}/redemptions", response={201: VoucherOut}, summary="Spend points on a reward: the voucher")
def redeem(request: HttpRequest, member_id: int, body: RedemptionIn) -> HttpResponse:
    ctx = context(request)

    def prepare():
        # Reads and checks outside the write transaction (on SQLite the write lock is then
        # held only while the points are spent and the voucher written).
        member = member_lookup(ctx.organization, member_id=member_id, lean=True)
        reward = reward_for_redemption(ctx.organization.id, body.reward_id)
        campaign = access_campaign(ctx.organization.id, body.campaign) if body.campaign is not None else None
        plan = redemption_plan(program=program_for(ctx.organization.id), member=member, reward=reward, channel=body.channel, campaign=campaign)

        def respond(redemption) -> tuple[int, dict]:
            return 201, voucher_body(redemption.voucher, redemption.partner_code, has_partner_code=True)

        return StoresReceipt(lambda receipt: redemption_apply_with_receipt(plan, receipt=receipt, respond=respond))

    # (exclude_none: a request without a campaign keeps the payload it had before campaigns existed)
    payload = {"member": member_id, **body.model_dump(mode="json", exclude_none=True)}
    return idempotent_post(request, operation="reward.redeem", payload=payload, prepare=prepare)


@router.get("/{member_id}/vouchers", response=VoucherListOut, summary="The member's vouchers, newest first")
def vouchers(
    request: HttpRequest, member_id: int, status: Literal["issued", "used", "expired", "cancelled"] | None = None,
    cursor: Text | None = None, limit: int = Query(50, ge=1, le=200),
) -> dict:
    member = access_member(context(request).organization.id, member_id)
    rows = member_vouchers(member, status=status).select_related("partner_code", "used_store")
    after = decode_keyset(cursor, keyset_time)
    if after is not None:
        issued_at, pk = after
        rows = rows.filter(Q(issued_at__lt=issued_at) | Q(issued_at=issued_at, pk__lt=pk))
    page = list(rows[: limit + 1])
    last = page[limit - 1] if len(page) > limit else None
    return {
        "items": [voucher_body(v) for v in page[:limit]],
        "next_cursor": encode_keyset(last.issued_at.isoformat(), last.pk) if last else None,
    }


@router.put("/{member_id}/auto-redemption", response=AutoRedemptionOut, summary="Choose a reward to issue automatically (null: none)")
def set_auto_redemption(request: HttpRequest, member_id: int, body: AutoRedemptionIn) -> dict:
    ctx = context(request)
    member = access_member(ctx.organization.id, member_id)
    reward = access_reward(ctx.organization.id, body.reward_id) if body.reward_id is not None else None
    choice = auto_redemption_set(member=member, reward=reward)
    return {"member_id": member.id, "reward_id": choice.reward_id if choice else None}


@router.get("/{member_id}/wallet", response=WalletOut, summary="The member's wallet credit, in cents")
def wallet(request: HttpRequest, member_id: int) -> dict:
    ctx = context(request)
    member = access_member(ctx.organization.id, member_id)
    currency = ctx.organization.currency
    return {"member_id": member.id, "currency": currency, "balance_cents": member_balance(member, currency).available}


@router.post("/{member_id}/wallet/spend", response=WalletSpendOut, summary="Pay (part of) a basket with the wallet credit")
def spend_wallet(request: HttpRequest, member_id: int, body: WalletSpendIn) -> HttpResponse:
    ctx = context(request)

    def execute() -> tuple[int, dict]:
        member = access_member(ctx.organization.id, member_id)
        store = store_for(ctx, body.store)
        spent = wallet_spend(program=program_for(ctx.organization.id), member=member, basket_minor=body.basket_cents, store=store)
        return 200, WalletSpendOut(
            member_id=member.id, currency=ctx.organization.currency, applied_cents=spent.applied_minor, balance_cents=spent.balance_minor
        ).model_dump(mode="json")

    return idempotent_post(request, operation="wallet.spend", payload={"member": member_id, **body.model_dump(mode="json")}, execute=execute)
