"""Writes for the rewards catalog: redeem, vouchers at the till, wallet credit, auto-redemption.

Concurrency: a redemption locks the member's points account first (ledger), then takes one
unit of stock with a conditional update (`stock = stock - 1 WHERE stock > 0`), so the last
unit goes to exactly one member and a member never spends the same points twice. A voucher
changes state with a conditional update (`WHERE status = 'issued'`), so two tills using it
at once, or a cancellation racing the expiry job, resolve it exactly once.
"""

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import F

from fidelo.core.actors import Actor
from fidelo.core.audit import audit_record
from fidelo.core.clock import now, require_aware
from fidelo.core.db import (
    all_or_nothing,
    cursor_or,
    db_time,
    mark_saved,
    sqlite_inserted_ids,
    write_transaction,
)
from fidelo.core.errors import DomainError
from fidelo.core.idempotency import (
    Receipt,
    insert_receipt,
    receipt_params,
    store_receipt,
)
from fidelo.core.jsontext import json_text
from fidelo.core.money import MAX_MINOR
from fidelo.ledger import sql as ledger_sql
from fidelo.ledger.models import AccountKind, TransferKind
from fidelo.ledger.services import (
    Consumed,
    Spent,
    Why,
    check_member_active,
    consume_lots,
    existing_system_account_id,
    lock_available_account,
    points_earn,
    points_restore,
    points_spend,
    program_unit,
)
from fidelo.members.models import Member
from fidelo.rewards import sql as rewards_sql
from fidelo.rewards.errors import (
    InvalidReward,
    LimitPerMemberReached,
    MinimumBasketNotMet,
    OutOfStock,
    RewardExpired,
    RewardInactive,
    RewardNotFound,
    RewardNotYetValid,
    TierNotAllowed,
    VoucherAlreadyUsed,
    VoucherCancelled,
    VoucherExpired,
    VoucherNotCancellable,
    VoucherNotForTill,
    VoucherStoreNotAllowed,
    WalletEmpty,
)
from fidelo.rewards.models import (
    VOUCHER_KINDS,
    AutoRedemption,
    Campaign,
    OfferEvent,
    OfferEventKind,
    PartnerCode,
    Reward,
    RewardKind,
    Voucher,
    VoucherStatus,
)
from fidelo.tenancy.models import Organization, Program, Store
from fidelo.tenancy.selectors import program_for

# Voucher codes: 16 characters of Crockford's base32 (no I, L, O, U): 80 bits, unguessable,
# and easy to read aloud or type at a till.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 16


def new_voucher_code() -> str:
    # One read of the system's random source for the 16 characters (80 bits): secrets.choice
    # reads it once per character. 32 letters divide 256, so `byte % 32` favours none.
    return "".join(CODE_ALPHABET[byte % len(CODE_ALPHABET)] for byte in secrets.token_bytes(CODE_LENGTH))


def normalize_code(code: str) -> str:
    """As typed at a till: case, spaces and dashes do not matter, O reads as 0 and I or L as 1."""
    code = (code or "").strip().upper().replace("-", "").replace(" ", "")
    return code.translate(str.maketrans({"O": "0", "I": "1", "L": "1"}))


# --- catalog -------------------------------------------------------------------------------

EDITABLE = {
    "title_fr", "title_en", "description_fr", "description_en", "image_url", "cost_points", "stock", "valid_from", "valid_until",
    "limit_per_member", "allowed_tiers", "active", "amount_minor", "percent_bp", "min_basket_minor", "product_sku", "charity_name",
    "voucher_days", "refund_points_on_expiry",
}


def _check_reward(reward: Reward, program: Program) -> None:
    if reward.kind not in RewardKind.values:
        raise InvalidReward(f"kind must be one of {', '.join(RewardKind.values)}", field="kind")
    if not reward.title_fr.strip():
        raise InvalidReward("A French title is required", field="title_fr")
    if not isinstance(reward.cost_points, int) or isinstance(reward.cost_points, bool) or not 0 < reward.cost_points <= 10**9:
        raise InvalidReward("cost_points must be between 1 and 1000000000", field="cost_points")
    if reward.stock is not None and not 0 <= reward.stock <= 10**9:
        raise InvalidReward("stock must be between 0 and 1000000000 (or empty: unlimited)", field="stock")
    if reward.limit_per_member is not None and reward.limit_per_member < 1:
        raise InvalidReward("limit_per_member must be at least 1 (or empty: no limit)", field="limit_per_member")
    for field in ("amount_minor", "min_basket_minor"):
        if not 0 <= getattr(reward, field) <= MAX_MINOR:
            raise InvalidReward(f"{field} must be between 0 and {MAX_MINOR}", field=field)
    if not 0 <= reward.percent_bp <= 10000:
        raise InvalidReward("percent_bp must be between 0 and 10000 (100 %)", field="percent_bp")
    if not 1 <= reward.voucher_days <= 3650:
        raise InvalidReward("voucher_days must be between 1 and 3650", field="voucher_days")
    for field in ("valid_from", "valid_until"):
        if getattr(reward, field) is not None:
            require_aware(getattr(reward, field), field)
    if reward.valid_from and reward.valid_until and reward.valid_until <= reward.valid_from:
        raise InvalidReward("valid_until must come after valid_from", field="valid_until")
    if not isinstance(reward.allowed_tiers, list) or not all(isinstance(t, str) and t for t in reward.allowed_tiers):
        raise InvalidReward("allowed_tiers must be a list of tier codes", field="allowed_tiers")
    needs = {
        RewardKind.VOUCHER_AMOUNT: ("amount_minor", "a fixed amount voucher needs amount_minor"),
        RewardKind.VOUCHER_PERCENT: ("percent_bp", "a percentage voucher needs percent_bp"),
        RewardKind.WALLET_CREDIT: ("amount_minor", "a wallet credit needs amount_minor (the euros credited)"),
        RewardKind.DONATION: ("charity_name", "a donation needs the association's name (charity_name)"),
    }
    if reward.kind in needs:
        field, message = needs[reward.kind]
        if not getattr(reward, field):
            raise InvalidReward(message, field=field)
    if reward.kind == RewardKind.WALLET_CREDIT and program.currency_mode != "points":
        raise InvalidReward("Wallet credit turns points into euros: a cashback program already pays in euros", code="reward_kind_not_in_cashback")


def reward_create(*, organization: Organization, program: Program, actor: Actor, stores: list[Store] | None = None, **fields: object) -> Reward:
    unknown = set(fields) - EDITABLE - {"kind"}
    if unknown:
        raise InvalidReward(f"Unknown reward fields: {', '.join(sorted(unknown))}", fields=sorted(unknown))
    reward = Reward(organization=organization, **fields)
    _check_reward(reward, program)
    for store in stores or []:
        if store.organization_id != organization.id:
            raise InvalidReward("A store belongs to another organization", field="stores")
    with write_transaction():
        reward.save()
        if stores:
            reward.stores.set(stores)
        audit_record(organization_id=organization.id, actor=actor, action="reward.create", target_type="reward", target_id=reward.id)
    return reward


def reward_update(*, reward: Reward, program: Program, actor: Actor, stores: list[Store] | None = None, **changes: object) -> Reward:
    unknown = set(changes) - EDITABLE
    if unknown:
        raise InvalidReward(f"Unknown or read-only reward fields: {', '.join(sorted(unknown))}", fields=sorted(unknown))
    with write_transaction():
        reward = Reward.objects.select_for_update().get(pk=reward.pk)
        for field, value in changes.items():
            setattr(reward, field, value)
        _check_reward(reward, program)
        if stores is not None and any(store.organization_id != reward.organization_id for store in stores):
            raise InvalidReward("A store belongs to another organization", field="stores")
        reward.save(update_fields=sorted(changes) or None)
        if stores is not None:
            reward.stores.set(stores)
        from fidelo.rewards.selectors import forget_reward

        transaction.on_commit(lambda: forget_reward(reward.organization_id, reward.pk))
        forget_reward(reward.organization_id, reward.pk)
        audit_record(
            organization_id=reward.organization_id, actor=actor, action="reward.update", target_type="reward", target_id=reward.id,
            data={"fields": sorted(changes) + (["stores"] if stores is not None else [])},
        )
    return reward


def reward_add_codes(*, reward: Reward, codes: list[str], actor: Actor) -> int:
    """Add partner codes to the pool (duplicates ignored); returns how many were new."""
    if reward.kind != RewardKind.PARTNER_CODE:
        raise InvalidReward("Only a partner reward has a pool of codes", code="reward_has_no_codes")
    cleaned = sorted({code.strip() for code in codes if code and code.strip()})
    if not cleaned or any(len(code) > 200 for code in cleaned):
        raise InvalidReward("Send one or more codes of at most 200 characters", field="codes")
    with write_transaction():
        before = PartnerCode.objects.filter(reward=reward).count()
        PartnerCode.objects.bulk_create([PartnerCode(reward=reward, code=code) for code in cleaned], ignore_conflicts=True)
        added = PartnerCode.objects.filter(reward=reward).count() - before
        audit_record(organization_id=reward.organization_id, actor=actor, action="reward.codes", target_type="reward", target_id=reward.id, data={"added": added})
    return added


# --- eligibility -----------------------------------------------------------------------------


def member_tier_code(member: Member) -> str | None:
    """The member's current tier code (kept on the member row by fidelo.tiers)."""
    return member.tier or None


def _check_offered(reward: Reward, member: Member, at: dt.datetime) -> None:
    """The reward is this organization's, active and valid at `at` (redeemed or granted alike)."""
    if reward.organization_id != member.organization_id:
        raise RewardNotFound()
    if not reward.active:
        raise RewardInactive()
    if reward.valid_from and at < reward.valid_from:
        raise RewardNotYetValid(f"Available from {reward.valid_from.isoformat()}", valid_from=reward.valid_from.isoformat())
    if reward.valid_until and at >= reward.valid_until:
        raise RewardExpired(f"Was available until {reward.valid_until.isoformat()}", valid_until=reward.valid_until.isoformat())


def check_redeemable(reward: Reward, member: Member, at: dt.datetime) -> None:
    """Every refusal that does not need the member's balance or the stock (those are checked under lock)."""
    _check_offered(reward, member, at)
    if reward.allowed_tiers and member_tier_code(member) not in reward.allowed_tiers:
        raise TierNotAllowed(f"Reserved for: {', '.join(reward.allowed_tiers)}", allowed_tiers=reward.allowed_tiers)
    check_member_active(member)


# --- redemption ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Redemption:
    voucher: Voucher
    partner_code: str = ""


@dataclass(frozen=True)
class RedemptionPlan:
    """A redemption checked as far as it can be without the member's lock: what is left to write."""

    program: Program
    member: Member
    reward: Reward
    channel: str
    at: dt.datetime
    code: str
    campaign_id: int | None = None  # redeemed through this campaign's offer (rewards.campaigns)
    campaign_cost: int | None = None  # the offer's special cost, if it has one

    @property
    def cost(self) -> int:
        return self.campaign_cost if self.campaign_cost is not None else self.reward.cost_points


def redemption_plan(
    *, program: Program, member: Member, reward: Reward, channel: str = "api", at: dt.datetime | None = None, campaign: Campaign | None = None,
) -> RedemptionPlan:
    at = at or now()
    check_redeemable(reward, member, at)
    if campaign is None:
        return RedemptionPlan(program=program, member=member, reward=reward, channel=channel, at=at, code=new_voucher_code())
    from fidelo.rewards.campaigns import campaign_offer_cost

    cost = campaign_offer_cost(campaign=campaign, reward=reward, member=member, at=at)
    return RedemptionPlan(
        program=program, member=member, reward=reward, channel=channel, at=at, code=new_voucher_code(), campaign_id=campaign.pk, campaign_cost=cost,
    )


def redemption_apply(plan: RedemptionPlan) -> Redemption:
    """Spend the points and issue what the reward gives, in the caller's write transaction.

    The member's account is locked first (by the spending), then the reward's stock row:
    always in that order, so concurrent redemptions cannot deadlock.
    """
    program, member, reward, at, channel = plan.program, plan.member, plan.reward, plan.at, plan.channel
    spent = points_spend(
        program=program, member=member, amount=plan.cost, occurred_at=at,
        why=Why(reason="redemption", params={"label": reward.title_fr, "label_en": reward.title_en or reward.title_fr},
                source_type="reward", source_id=reward.pk, actor=channel),
    )
    if reward.limit_per_member is not None:  # counted under the member's lock
        taken = Voucher.objects.filter(member_id=member.pk, reward_id=reward.pk).exclude(status=VoucherStatus.CANCELLED).count()
        if taken >= reward.limit_per_member:
            raise LimitPerMemberReached(f"At most {reward.limit_per_member} per member", limit=reward.limit_per_member)
    return _issue(plan, spent=spent)


def _issue(plan: RedemptionPlan, *, spent: Spent | None, label: str = "", source_type: str = "", source_id: int | None = None) -> Redemption:
    """Take one unit of stock and issue what the reward gives: paid with `spent`, or given (None)."""
    program, member, reward, at, channel = plan.program, plan.member, plan.reward, plan.at, plan.channel
    if reward.stock is not None and not Reward.objects.filter(pk=reward.pk, stock__gt=0).update(stock=F("stock") - 1):
        raise OutOfStock()
    voucher = _new_voucher(plan)
    if spent is not None:
        voucher.spent_lots, voucher.redeem_transfer_id = [_lot_json(part) for part in spent.consumed], spent.transfer.id
    else:  # given, not bought: no points and no spending transfer (nothing to give back)
        voucher.points, voucher.redeem_transfer_id = 0, 0
    voucher = _insert_voucher(voucher)
    partner_code = ""
    if reward.kind == RewardKind.PARTNER_CODE:
        # Handing the partner's code over delivers the reward: the partner honours the code
        # on its side, so the voucher is used at once (and cannot be cancelled or expire).
        partner_code = _hand_out_code(reward, voucher)
        _close_as_used(voucher, at, value=0)
    elif reward.kind == RewardKind.DONATION:
        _close_as_used(voucher, at, value=reward.amount_minor)
    elif reward.kind == RewardKind.WALLET_CREDIT:
        points_earn(
            program=program, member=member, amount=reward.amount_minor, occurred_at=at, pending_days=0, expires_at=None,
            unit=program.organization.currency, source_account_kind=AccountKind.WALLET_ISSUED, transfer_kind=TransferKind.CREDIT,
            why=Why(reason="wallet_credit", params=_credit_params(reward, label, source_type, source_id),
                    source_type="voucher", source_id=voucher.pk, actor=channel),
        )
        _close_as_used(voucher, at, value=reward.amount_minor)
    _offer_event(member.organization_id, reward.pk, member.pk, OfferEventKind.REQUESTED, at, plan.campaign_id)
    return Redemption(voucher=voucher, partner_code=partner_code)


def _credit_params(reward: Reward, label: str, source_type: str, source_id: int | None) -> dict:
    params = {"label": reward.title_fr, "label_en": reward.title_en or reward.title_fr}
    if label:  # given for something (a stamp card completed): say what
        params = {"label": f"{params['label']} ({label})", "label_en": f"{params['label_en']} ({label})"}
    if source_type:
        params.update(source_type=source_type, source_id=source_id)
    return params


# Kinds whose redemption is only "spend, then issue a voucher": the PostgreSQL fast path.
PLAIN_VOUCHER_KINDS = {RewardKind.VOUCHER_AMOUNT, RewardKind.VOUCHER_PERCENT, RewardKind.FREE_PRODUCT, RewardKind.EXPERIENCE}


def redemption_apply_with_receipt(
    plan: RedemptionPlan, *, receipt: Receipt, respond: Callable[[Redemption], tuple[int, dict[str, Any]]]
) -> tuple[int, dict[str, Any]]:
    """Apply a planned redemption and store its idempotency record (the response `respond` builds).

    A plain voucher without a per-member limit is built first and written by _plain_voucher;
    everything else (a campaign offer too), and every refusal, takes the general path.
    """
    reward = plan.reward
    if reward.kind in PLAIN_VOUCHER_KINDS and reward.limit_per_member is None and plan.campaign_id is None:
        done = _plain_voucher(plan, receipt=receipt, respond=respond)
        if done is not None:
            return done
        # Short of points (or no account yet): the general path raises the right refusal.
    with all_or_nothing():
        redemption = redemption_apply(plan)
        status, body = respond(redemption)
        store_receipt(receipt, status, body)
    return status, body


def _plain_voucher(
    plan: RedemptionPlan, *, receipt: Receipt, respond: Callable[[Redemption], tuple[int, dict[str, Any]]]
) -> tuple[int, dict[str, Any]] | None:
    """Spend the points and issue the voucher, every value built beforehand: on PostgreSQL one
    round trip (rewards.sql), on SQLite plain statements under the write lock and nothing else.
    None, with nothing written, when the balance is short (or no redemption has opened the
    organization's account of redeemed points yet)."""
    reward, member = plan.reward, plan.member
    unit = program_unit(plan.program)
    sink_id = existing_system_account_id(member.organization_id, AccountKind.REDEEMED, unit)
    if sink_id is None:  # the organization's first redemption: the general path opens the account in its transaction
        return None
    voucher = _new_voucher(plan)
    status, body = respond(Redemption(voucher=voucher))
    stored = receipt_params(receipt, status, body)
    why = Why(reason="redemption", params={"label": reward.title_fr, "label_en": reward.title_en or reward.title_fr},
              source_type="reward", source_id=reward.pk, actor=plan.channel)
    created_at = now()
    if connection.vendor == "postgresql":
        written = rewards_sql.redeem_voucher_postgresql(
            organization_id=member.organization_id, member_id=member.pk, unit=unit, amount=reward.cost_points, sink_id=sink_id,
            reward_id=reward.pk, limited_stock=reward.stock is not None, reason_params=why.params, actor=plan.channel, code=plan.code,
            channel=plan.channel, at=plan.at, expires_at=voucher.expires_at, created_at=created_at, stored_receipt=stored,
        )
        if written is None:
            return None
        if written == rewards_sql.OUT_OF_STOCK:
            raise OutOfStock()  # nothing written: the function put the debit back
        voucher_id, transfer_id = written
    else:
        # The values of every row, before the write lock: under it, only the statements.
        transfer = ledger_sql.transfer_params(
            organization_id=member.organization_id, unit=unit, debit=None, credit=sink_id, amount=reward.cost_points,
            kind=TransferKind.REDEEM, reason=why.reason, reason_params=why.params, note="", source_type=why.source_type,
            source_id=why.source_id, actor=why.actor, occurred_at=plan.at, created_at=created_at,
        )
        voucher_row = _voucher_params(voucher)
        event = [member.organization_id, reward.pk, member.pk, OfferEventKind.REQUESTED, voucher_row[9], None]
        with all_or_nothing(), connection.cursor() as cursor:  # one cursor for the statements under the lock
            covered = ledger_sql.debit_if_covered(member.pk, unit, reward.cost_points, cursor=cursor)  # also locks the account row
            if covered is None:
                return None
            transfer[2] = covered[0]
            transfer_id = ledger_sql.insert_transfer_values(transfer, cursor=cursor)
            spent = consume_lots(member, unit, reward.cost_points, cursor=cursor)  # the balance covered it: so do the lots
            if reward.stock is not None and not Reward.objects.filter(pk=reward.pk, stock__gt=0).update(stock=F("stock") - 1):
                raise OutOfStock()
            voucher.spent_lots = [_lot_json(part) for part in spent]
            voucher_row[6], voucher_row[7] = json_text(voucher.spent_lots), transfer_id
            voucher_id = _insert_voucher_values(voucher_row, cursor=cursor)
            _insert_offer_event(event, cursor=cursor)
            insert_receipt(stored, cursor=cursor)
    voucher.id, voucher.redeem_transfer_id = voucher_id, transfer_id
    mark_saved(voucher)
    return status, body


def _new_voucher(plan: RedemptionPlan) -> Voucher:
    """The voucher a redemption issues, before the spending fills in its lots and transfer."""
    reward = plan.reward
    return Voucher(
        organization_id=plan.member.organization_id, member_id=plan.member.pk, reward=reward, code=plan.code, status=VoucherStatus.ISSUED,
        points=plan.cost, spent_lots=[], channel=plan.channel, issued_at=plan.at, campaign_id=plan.campaign_id,
        expires_at=_voucher_expiry(reward, plan.at) if reward.kind in VOUCHER_KINDS else None, used_value_minor=0, used_purchase_external_id="",
    )


def _insert_voucher(voucher: Voucher) -> Voucher:
    voucher.id = _insert_voucher_values(_voucher_params(voucher))
    return mark_saved(voucher)


def _voucher_params(voucher: Voucher) -> list:
    """The voucher's values for _insert_voucher_values: its spent lots' JSON at [6], its transfer at [7]."""
    return [
        voucher.organization_id, voucher.member_id, voucher.reward_id, voucher.code, voucher.status, voucher.points,
        json_text(voucher.spent_lots), voucher.redeem_transfer_id, voucher.channel,
        db_time(voucher.issued_at), db_time(voucher.expires_at),
        voucher.campaign_id,
    ]


def _insert_voucher_values(params: list, *, cursor=None) -> int:
    # A plain INSERT: one per redemption, on the write lock's critical path (its id: see sqlite_inserted_ids).
    sqlite = connection.vendor == "sqlite"
    with cursor_or(cursor) as cursor:
        cursor.execute(
            "INSERT INTO rewards_voucher (organization_id, member_id, reward_id, code, status, points, spent_lots, redeem_transfer_id, "
            "channel, issued_at, expires_at, used_value_minor, used_purchase_external_id, campaign_id) "
            f"VALUES (%s, %s, %s, %s, %s, %s, %s{'' if sqlite else '::jsonb'}, %s, %s, %s, %s, 0, '', %s){'' if sqlite else ' RETURNING id'}",
            params,
        )
        return sqlite_inserted_ids(cursor, 1)[0] if sqlite else cursor.fetchone()[0]


def reward_redeem(
    *, program: Program, member: Member, reward: Reward, channel: str = "api", at: dt.datetime | None = None, campaign: Campaign | None = None,
) -> Redemption:
    """Spend the member's points on a reward: a voucher, a donation or wallet credit, atomically.

    With a `campaign`: through that campaign's offer of the reward (it must be on now), at the
    offer's cost; the voucher and its offer events name the campaign (rewards.campaigns).
    """
    plan = redemption_plan(program=program, member=member, reward=reward, channel=channel, at=at, campaign=campaign)
    with write_transaction():
        return redemption_apply(plan)


def _offer_event(organization_id: int, reward_id: int, member_id: int, kind: str, at: dt.datetime, campaign_id: int | None = None) -> None:
    _insert_offer_event([organization_id, reward_id, member_id, kind, db_time(at), campaign_id])


def _insert_offer_event(params: list, *, cursor=None) -> None:
    # A plain INSERT: one per redemption and per use, nothing is read back.
    with cursor_or(cursor) as cursor:
        cursor.execute(
            "INSERT INTO rewards_offerevent (organization_id, reward_id, member_id, kind, at, campaign_id) VALUES (%s, %s, %s, %s, %s, %s)",
            params,
        )


def _voucher_expiry(reward: Reward, at: dt.datetime) -> dt.datetime:
    return at + dt.timedelta(days=reward.voucher_days)


def _lot_json(part: Consumed) -> dict:
    return {
        "amount": part.amount,
        "expires_at": part.expires_at.isoformat() if part.expires_at else None,
        "earned_at": part.earned_at.isoformat(),
    }


def _lots_of(voucher: Voucher) -> list[Consumed]:
    parts = [
        Consumed(
            lot_id=0, amount=int(part["amount"]), earned_at=dt.datetime.fromisoformat(part["earned_at"]),
            expires_at=dt.datetime.fromisoformat(part["expires_at"]) if part["expires_at"] else None,
        )
        for part in voucher.spent_lots
    ]
    missing = voucher.points - sum(part.amount for part in parts)
    if missing > 0:  # spent while the balance was partly a debt: comes back without expiry
        parts.append(Consumed(lot_id=0, amount=missing, earned_at=voucher.issued_at, expires_at=None))
    return parts


def _hand_out_code(reward: Reward, voucher: Voucher) -> str:
    # Claim one free code with a conditional update; a concurrent claim of the same row
    # finds it taken and the loop tries the next free one.
    for _attempt in range(20):
        free = PartnerCode.objects.filter(reward=reward, voucher__isnull=True).order_by("pk").values_list("pk", "code").first()
        if free is None:
            raise OutOfStock("The partner's pool of codes is empty", code="partner_codes_exhausted")
        if PartnerCode.objects.filter(pk=free[0], voucher__isnull=True).update(voucher=voucher):
            return free[1]
    raise OutOfStock("The partner's pool of codes is busy; try again", code="partner_codes_exhausted")


def _close_as_used(voucher: Voucher, at: dt.datetime, *, value: int) -> None:
    """A reward delivered at redemption (donation, wallet credit, partner code): used at once."""
    Voucher.objects.filter(pk=voucher.pk).update(status=VoucherStatus.USED, used_at=at, used_value_minor=value)
    voucher.status, voucher.used_at, voucher.used_value_minor = VoucherStatus.USED, at, value
    _offer_event(voucher.organization_id, voucher.reward_id, voucher.member_id, OfferEventKind.USED, at, voucher.campaign_id)


# --- at the till ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Valuation:
    voucher: Voucher
    value_minor: int  # what the voucher takes off this basket
    basket_minor: int


def voucher_value(voucher: Voucher, *, store: Store | None, basket_minor: int, lines: list[tuple[str, int, int]] | None = None,
                  at: dt.datetime | None = None) -> Valuation:
    """What `voucher` is worth on this basket, or the refusal (store, expiry, use, minimum basket).

    `lines` are (sku, quantity, unit price) of the basket, for a free product voucher.
    """
    at = at or now()
    reward = voucher.reward
    if not isinstance(basket_minor, int) or not 0 <= basket_minor <= MAX_MINOR:
        raise InvalidReward(f"basket must be between 0 and {MAX_MINOR} cents", code="invalid_amount", field="basket_cents")
    if reward.kind not in VOUCHER_KINDS or reward.kind == RewardKind.PARTNER_CODE:
        raise VoucherNotForTill()  # delivered at redemption: donation, wallet credit, partner code
    if voucher.status == VoucherStatus.USED:
        raise VoucherAlreadyUsed(used_at=voucher.used_at.isoformat() if voucher.used_at else None)
    if voucher.status == VoucherStatus.CANCELLED:
        raise VoucherCancelled()
    if voucher.status == VoucherStatus.EXPIRED or (voucher.expires_at and at >= voucher.expires_at):
        raise VoucherExpired(expired_at=voucher.expires_at.isoformat() if voucher.expires_at else None)
    if store is not None and store.organization_id != voucher.organization_id:
        raise VoucherStoreNotAllowed()
    allowed = list(reward.stores.values_list("pk", flat=True))
    if allowed and (store is None or store.pk not in allowed):
        raise VoucherStoreNotAllowed()
    if basket_minor < reward.min_basket_minor:
        raise MinimumBasketNotMet(
            f"A basket of at least {reward.min_basket_minor} cents is needed", minimum_basket_cents=reward.min_basket_minor
        )
    if reward.kind == RewardKind.VOUCHER_AMOUNT:
        value = min(reward.amount_minor, basket_minor)
    elif reward.kind == RewardKind.VOUCHER_PERCENT:
        value = basket_minor * reward.percent_bp // 10000  # rounded down, in the merchant's favour by less than a cent
    elif reward.kind == RewardKind.FREE_PRODUCT:
        prices = [price for sku, quantity, price in (lines or []) if sku == reward.product_sku and quantity > 0]
        value = max(prices) if prices else 0
        if reward.amount_minor:
            value = min(value, reward.amount_minor)  # the most a free product covers
        value = min(value, basket_minor)
    else:
        value = 0  # an experience: nothing off the basket
    return Valuation(voucher=voucher, value_minor=value, basket_minor=basket_minor)


def voucher_use(*, voucher: Voucher, store: Store | None, basket_minor: int, lines: list[tuple[str, int, int]] | None = None,
                purchase_external_id: str = "", at: dt.datetime | None = None) -> Valuation:
    """Consume the voucher at the till, exactly once."""
    at = at or now()
    valuation = voucher_value(voucher, store=store, basket_minor=basket_minor, lines=lines, at=at)
    with write_transaction():
        used = Voucher.objects.filter(pk=voucher.pk, status=VoucherStatus.ISSUED).update(
            status=VoucherStatus.USED, used_at=at, used_store=store, used_value_minor=valuation.value_minor,
            used_purchase_external_id=purchase_external_id[:120],
        )
        if not used:  # another till was faster
            voucher.refresh_from_db()
            raise VoucherAlreadyUsed(used_at=voucher.used_at.isoformat() if voucher.used_at else None)
        _offer_event(voucher.organization_id, voucher.reward_id, voucher.member_id, OfferEventKind.USED, at, voucher.campaign_id)
    voucher.refresh_from_db()
    return Valuation(voucher=voucher, value_minor=valuation.value_minor, basket_minor=basket_minor)


def _close_and_restore(voucher: Voucher, program: Program, *, status: str, give_back: bool, at: dt.datetime, reason: str) -> bool:
    """Move an issued voucher to `status` once; give its points (and stock) back if asked."""
    with write_transaction():
        closed = Voucher.objects.filter(pk=voucher.pk, status=VoucherStatus.ISSUED).update(status=status, closed_at=at)
        if not closed:
            return False
        if give_back and voucher.points:  # a reward given without points has none to give back
            member = voucher.member
            points_restore(
                program=program, member=member, parts=_lots_of(voucher), occurred_at=at,
                why=Why(reason="restore", params={"label": voucher.reward.title_fr, "label_en": voucher.reward.title_en or voucher.reward.title_fr},
                        source_type="voucher", source_id=voucher.pk, actor=reason),
            )
        if voucher.reward.stock is not None and status == VoucherStatus.CANCELLED:
            Reward.objects.filter(pk=voucher.reward_id).update(stock=F("stock") + 1)
    voucher.refresh_from_db()
    return True


def voucher_cancel(*, voucher: Voucher, program: Program, actor: Actor, at: dt.datetime | None = None) -> Voucher:
    """Cancel an issued voucher: the member gets the points back (once)."""
    at = at or now()
    refusals = {VoucherStatus.USED: VoucherAlreadyUsed, VoucherStatus.CANCELLED: VoucherCancelled, VoucherStatus.EXPIRED: VoucherExpired}
    if voucher.reward.kind == RewardKind.PARTNER_CODE:
        # The member has the partner's code and could still use it: no points back.
        raise VoucherNotCancellable("A partner code was handed out with this voucher; it cannot be cancelled")
    if voucher.status in refusals:
        raise refusals[voucher.status]()
    if not _close_and_restore(voucher, program, status=VoucherStatus.CANCELLED, give_back=True, at=at, reason=str(actor)):
        voucher.refresh_from_db()  # another till, a cancellation or the expiry job was faster
        raise refusals.get(voucher.status, VoucherCancelled)()
    audit_record(organization_id=voucher.organization_id, actor=actor, action="voucher.cancel", target_type="voucher", target_id=voucher.id)
    return voucher


def vouchers_expire_due(*, at: dt.datetime | None = None) -> int:
    """Expire issued vouchers past their date; points go back where the reward says so."""
    at = at or now()
    count = 0
    due = Voucher.objects.filter(status=VoucherStatus.ISSUED, expires_at__lte=at).select_related("reward", "member").order_by("pk")
    for voucher in due.iterator(chunk_size=200):
        give_back = voucher.reward.refund_points_on_expiry
        if _close_and_restore(voucher, program_for(voucher.organization_id), status=VoucherStatus.EXPIRED, give_back=give_back, at=at, reason="system"):
            count += 1
    return count


# --- wallet -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WalletSpend:
    applied_minor: int
    balance_minor: int


def wallet_spend(*, program: Program, member: Member, basket_minor: int, store: Store | None = None, at: dt.datetime | None = None) -> WalletSpend:
    """Pay (part of) a basket with the member's wallet credit: as much as the wallet holds."""
    if not isinstance(basket_minor, int) or not 0 < basket_minor <= MAX_MINOR:
        raise InvalidReward(f"basket must be between 1 and {MAX_MINOR} cents", code="invalid_amount", field="basket_cents")
    currency = program.organization.currency
    with write_transaction():
        account = lock_available_account(member, currency)
        applied = min(basket_minor, max(account.balance, 0))
        if applied == 0:
            raise WalletEmpty(balance_cents=0)
        points_spend(
            program=program, member=member, amount=applied, unit=currency, to_kind=AccountKind.WALLET_SPENT, occurred_at=at or now(),
            why=Why(reason="wallet_spend", params={"amount_minor": applied, "currency": currency, "store": store.name if store else ""},
                    source_type="store", source_id=store.pk if store else None, actor="till"),
        )
    return WalletSpend(applied_minor=applied, balance_minor=account.balance - applied)


# --- auto-redemption, offers -------------------------------------------------------------------


def auto_redemption_set(*, member: Member, reward: Reward | None) -> AutoRedemption | None:
    with write_transaction():
        if reward is None:
            AutoRedemption.objects.filter(member=member).delete()
            return None
        if reward.organization_id != member.organization_id:
                raise RewardNotFound()
        choice, _ = AutoRedemption.objects.update_or_create(member=member, defaults={"reward": reward})
        return choice


def auto_redeem(*, program: Program, member: Member, at: dt.datetime | None = None, most: int = 10) -> list[Voucher]:
    """Issue the member's chosen reward while the balance allows it (at most `most` at once)."""
    choice = AutoRedemption.objects.filter(member=member).select_related("reward").first()
    issued: list[Voucher] = []
    if choice is None:
        return issued
    for _ in range(most):
        try:
            issued.append(reward_redeem(program=program, member=member, reward=choice.reward, channel="auto", at=at).voucher)
        except DomainError:
            # Short of points (the spending checks the balance), out of stock, limit reached,
            # no longer valid: wait for the next chance.
            break
    return issued


def offer_seen(*, reward: Reward, member: Member, at: dt.datetime | None = None) -> OfferEvent:
    if reward.organization_id != member.organization_id:
        raise RewardNotFound()
    with write_transaction():
        return OfferEvent.objects.create(organization_id=member.organization_id, reward=reward, member=member, kind=OfferEventKind.SEEN, at=at or now())


# --- rewards given without points --------------------------------------------------------------


def reward_grant(
    *, program: Program, member: Member, reward: Reward, at: dt.datetime | None = None, why_label: str = "", source_type: str = "",
    source_id: int | None = None,
) -> Redemption:
    """Give the member a reward without taking points (a stamp card completed, a rule's reward effect).

    Issues exactly what a redemption issues (a voucher, a partner code, a donation, wallet
    credit), with `points = 0` and no spending: the reward must be active and valid at `at`
    and in stock (one unit is taken, the last one goes to exactly one member), and it counts
    as "requested" in offer tracking. The tiers a reward is reserved for and its limit per
    member apply to redemptions with points only: the merchant chose to give it. Runs in the
    caller's write transaction if there is one; a refusal leaves nothing written.
    `source_type` (at most 16 characters) becomes the voucher's channel.
    """
    at = at or now()
    require_aware(at, "at")
    _check_offered(reward, member, at)
    check_member_active(member)
    plan = RedemptionPlan(program=program, member=member, reward=reward, channel=(source_type or "grant")[:16], at=at, code=new_voucher_code())
    with write_transaction():
        return _issue(plan, spent=None, label=why_label, source_type=source_type, source_id=source_id)
