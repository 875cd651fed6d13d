"""Record purchases (earning at the base rate) and refunds (taking points back)."""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.db import connection
from django.db.models import F

from fidelo.awards.services import (
    SourceBonus,
    awards_apply,
    awards_reverse,
    bonus_rows,
    bonus_why,
    points_awards,
)
from fidelo.core.actors import Actor
from fidelo.core.clock import local_date, now, require_aware
from fidelo.core.db import all_or_nothing, is_postgresql, mark_saved, write_transaction
from fidelo.core.idempotency import Receipt, store_receipt
from fidelo.core.money import MAX_MINOR
from fidelo.core.shares import allocate, proportional_to_date, units_for
from fidelo.ledger.services import (
    Why,
    earn_row,
    points_earn_many,
    points_reverse_lot,
    return_window,
)
from fidelo.ledger.services import check_member_active as _check_member_active
from fidelo.members.models import Member
from fidelo.purchases import sql as purchase_sql
from fidelo.purchases.errors import (
    CurrencyMismatch,
    InvalidPurchase,
    InvalidRefund,
    RefundExceedsPurchase,
)
from fidelo.purchases.models import Purchase, PurchaseLine, Refund, SalesChannel, Visit
from fidelo.purchases.selectors import purchase_lot
from fidelo.referrals.services import referral_progress, referral_reverse
from fidelo.rules.engine.types import Evaluation
from fidelo.tenancy.models import Program, Store

MAX_LINES = 500
MAX_QUANTITY = 1_000_000
FUTURE_TOLERANCE = dt.timedelta(minutes=10)  # tills with a slightly fast clock


class LineInput(NamedTuple):
    """A purchase line as sent. Immutable; a named tuple rather than a frozen dataclass, three
    times cheaper to build (ten per purchase). The rules engine reads it as it is (LineLike)."""

    quantity: int
    unit_price_minor: int
    sku: str = ""
    name: str = ""
    category: str = ""
    brand: str = ""
    discount_minor: int = 0

    @property
    def amount_minor(self) -> int:
        return self.quantity * self.unit_price_minor - self.discount_minor


@dataclass(frozen=True)
class RefundLineInput:
    quantity: int
    position: int | None = None
    sku: str = ""


@dataclass
class PurchaseResult:
    purchase: Purchase
    pending: bool
    available_at: dt.datetime | None
    lines: list[PurchaseLine] = field(default_factory=list)
    bonus_points: int = 0
    referral: object | None = None  # the referral this purchase completed, if any


def _check_purchase(*, program: Program, store: Store | None, external_id: str, occurred_at: dt.datetime, total_minor: int,
                    currency: str, channel: str, lines: list[LineInput]) -> None:
    if not external_id or len(external_id) > 120:
        raise InvalidPurchase("external_id is required (at most 120 characters)", field="external_id")
    require_aware(occurred_at)
    if occurred_at > now() + FUTURE_TOLERANCE:
        raise InvalidPurchase("occurred_at is in the future", code="occurred_in_future", field="occurred_at")
    if currency.upper() != program.organization.currency:
        raise CurrencyMismatch(
            f"This program uses {program.organization.currency}, not {currency}", expected=program.organization.currency
        )
    if not isinstance(total_minor, int) or total_minor < 0 or total_minor > MAX_MINOR:
        raise InvalidPurchase(f"total must be between 0 and {MAX_MINOR} (minor units)", code="invalid_amount", field="total_minor")
    if channel not in SalesChannel.values:
        raise InvalidPurchase(f"channel must be one of {', '.join(SalesChannel.values)}", field="channel")
    if store is not None and store.organization_id != program.organization_id:
        raise InvalidPurchase("The store belongs to another organization", field="store")
    if len(lines) > MAX_LINES:
        raise InvalidPurchase(f"At most {MAX_LINES} lines", code="too_many_lines", field="lines")
    for index, line in enumerate(lines, start=1):
        if not 0 < line.quantity <= MAX_QUANTITY:
            raise InvalidPurchase(f"Line {index}: quantity must be between 1 and {MAX_QUANTITY}", code="invalid_line", line=index)
        if not 0 <= line.unit_price_minor <= MAX_MINOR:
            raise InvalidPurchase(f"Line {index}: unit price must be between 0 and {MAX_MINOR}", code="invalid_line", line=index)
        if not 0 <= line.discount_minor <= line.quantity * line.unit_price_minor:
            raise InvalidPurchase(f"Line {index}: the discount exceeds the line", code="invalid_line", line=index)
    if lines and sum(line.amount_minor for line in lines) != total_minor:
        raise InvalidPurchase(
            "The lines do not add up to the total (include shipping or fees as lines)", code="lines_total_mismatch",
            lines_total=sum(line.amount_minor for line in lines), total_minor=total_minor,
        )


@dataclass(frozen=True)
class PurchasePlan:
    """A validated purchase with its points computed: everything but the writes."""

    program: Program
    member: Member
    store: Store | None
    external_id: str
    occurred_at: dt.datetime
    total_minor: int
    channel: str
    lines: list[LineInput]
    points: int
    line_points: list[int]
    actor: Actor | None
    # What the earning rules award on top of the base rate (set by fidelo.events.earning),
    # the budgets of the rules that have one, and whether anything else follows the
    # purchase (tier qualification, a pending referral): then it takes the general path.
    evaluation: Evaluation | None = None
    budgets: dict[int, int] = field(default_factory=dict)
    follow_ups: bool = False

    def with_rules(self, *, evaluation: Evaluation | None, budgets: dict[int, int], follow_ups: bool) -> "PurchasePlan":
        """This plan with what the earning rules award: a copy of its fields (dataclasses.replace
        runs __init__ over all fifteen again, five times the cost, on every purchase with rules)."""
        plan = object.__new__(PurchasePlan)
        plan.__dict__.update(self.__dict__, evaluation=evaluation, budgets=budgets, follow_ups=follow_ups)
        return plan

    @property
    def simple(self) -> bool:
        """Only the base credit to write: the one-statement path applies."""
        return not self.follow_ups and not (self.evaluation and self.evaluation.awards)

    @property
    def points_only(self) -> bool:
        """The rules give points only, none from a rule or a campaign with a budget, and nothing else follows:
        the bonus can go in the same statement as the base points (PostgreSQL)."""
        return (
            not self.follow_ups and self.evaluation is not None
            and all(award.kind == "points" and award.rule_id not in self.budgets and not award.campaign for award in self.evaluation.awards)
        )


def purchase_plan(
    *,
    program: Program,
    member: Member,
    store: Store | None,
    external_id: str,
    occurred_at: dt.datetime,
    total_minor: int,
    currency: str,
    channel: str = SalesChannel.OFFLINE,
    lines: list[LineInput] | None = None,
    actor: Actor | None = None,
) -> PurchasePlan:
    """Validate a purchase and compute its points at the base rate, without writing anything."""
    lines = lines or []
    _check_purchase(program=program, store=store, external_id=external_id, occurred_at=occurred_at, total_minor=total_minor,
                    currency=currency, channel=channel, lines=lines)
    _check_member_active(member)
    points = units_for(total_minor, earn_units=program.earn_units, earn_per_minor=program.earn_per_minor, rounding=program.rounding)
    return PurchasePlan(
        program=program, member=member, store=store, external_id=external_id, occurred_at=occurred_at, total_minor=total_minor,
        channel=channel, lines=lines, points=points, line_points=allocate(points, [line.amount_minor for line in lines]) if lines else [],
        actor=actor,
    )


def _purchase_why(plan: PurchasePlan, purchase_id: int | None) -> Why:
    program, store = plan.program, plan.store
    currency = program.organization.currency
    available_at, pending = return_window(program, plan.occurred_at)
    online = plan.channel == SalesChannel.ONLINE or store is None
    if pending:
        reason = "purchase_online_pending" if online else "purchase_pending"
    else:
        reason = "purchase_online" if online else "purchase"
    params = {"amount_minor": plan.total_minor, "currency": currency, "store": store.name if store else ""}
    if pending:
        params["available_on"] = local_date(available_at, program.organization.timezone).isoformat()
    return Why(reason=reason, params=params, source_type="purchase", source_id=purchase_id, actor=str(plan.actor) if plan.actor else "")


def _line_rows(plan: PurchasePlan, purchase: Purchase) -> list[PurchaseLine]:
    return [
        PurchaseLine(
            purchase=purchase, position=index, sku=line.sku, name=line.name, category=line.category, brand=line.brand,
            quantity=line.quantity, unit_price_minor=line.unit_price_minor, discount_minor=line.discount_minor,
            amount_minor=line.amount_minor, points_earned=share,
        )
        for index, (line, share) in enumerate(zip(plan.lines, plan.line_points), start=1)
    ]


def purchase_apply(plan: PurchasePlan) -> PurchaseResult:
    """Write a planned purchase and its points, in the caller's write transaction.

    The base points and the rules' bonus are two credits (kept apart in the ledger) written
    together; then the rules' other awards, the tier qualification and a pending referral.
    """
    actor = str(plan.actor) if plan.actor else ""
    bonus = points_awards(plan.evaluation, plan.budgets, organization_id=plan.member.organization_id) if plan.evaluation else []
    bonus_total = sum(award.amount for award in bonus)
    purchase = _insert_purchase(plan, points_bonus=bonus_total)
    credits = [(plan.points, _purchase_why(plan, purchase.pk))] if plan.points > 0 else []
    if bonus_total:
        credits.append((bonus_total, bonus_why(bonus, source_type="purchase", source_id=purchase.pk, actor=actor)))
    earned = points_earn_many(program=plan.program, member=plan.member, credits=credits, occurred_at=plan.occurred_at) if credits else []
    base = earned[0] if plan.points > 0 else None
    line_rows = _line_rows(plan, purchase) if plan.lines else []
    if line_rows:
        purchase_sql.insert_lines(line_rows)
    result = PurchaseResult(
        purchase=purchase,
        pending=bool(base and base.pending),
        available_at=base.lot.available_at if base else None,
        lines=line_rows,
        bonus_points=bonus_total,
    )
    if not plan.simple:
        awards_apply(
            program=plan.program, member=plan.member, evaluation=plan.evaluation or Evaluation(awards=(), skipped=()), budgets=plan.budgets,
            source_type="purchase", source_id=purchase.pk, occurred_at=plan.occurred_at, base_points=plan.points,
            spend_minor=plan.total_minor, visits=1, pending_days=None, actor=actor,
            credited=(bonus, earned[-1].transfer.id if bonus_total else None), source_keeps_bonus=True, describe=False,
        )
        result.referral = referral_progress(
            program=plan.program, member=plan.member, amount_minor=plan.total_minor, occurred_at=plan.occurred_at,
            source_type="purchase", source_id=purchase.pk,
        )
    return result


def purchase_apply_with_receipt(
    plan: PurchasePlan, *, receipt: Receipt, respond: Callable[[PurchaseResult], tuple[int, dict[str, Any]]]
) -> tuple[int, dict[str, Any]]:
    """Write a planned purchase with its idempotency record (the response `respond` builds).

    When only points are credited (the base rate and the rules' bonus), every row is built
    first and written by purchases.sql: one statement that commits by itself on PostgreSQL,
    a write transaction of plain statements on SQLite. Else, or for a member's very first
    credit (accounts not opened yet), the general path: one write transaction.
    """
    if plan.points > 0 and (plan.simple or plan.points_only):
        bonus = list(plan.evaluation.awards) if not plan.simple else []
        bonus_total = sum(award.amount for award in bonus)
        purchase = _unsaved_purchase(plan, bonus_total)
        created_at = purchase.created_at  # one moment for all the rows written together
        lines = _line_rows(plan, purchase)
        row = earn_row(program=plan.program, member=plan.member, amount=plan.points, why=_purchase_why(plan, None), occurred_at=plan.occurred_at,
                       created_at=created_at)
        bonus_row = award_rows = None
        if bonus:
            bonus_row = row.twin(amount=bonus_total,
                                 why=bonus_why(bonus, source_type="purchase", source_id=None, actor=str(plan.actor) if plan.actor else ""))
            day = local_date(plan.occurred_at, plan.program.organization.timezone)
            award_rows = bonus_rows(bonus, member=plan.member, source_type="purchase", source_id=0, occurred_at=plan.occurred_at, day=day,
                                    source_keeps_bonus=True, created_at=created_at)
        purchase.id = 0  # the write puts the real id in the stored response
        result = PurchaseResult(purchase=purchase, pending=row.pending, available_at=row.available_at, lines=lines, bonus_points=bonus_total)
        status, template = respond(result)
        record = purchase_sql.record_postgresql if is_postgresql() else purchase_sql.record_sqlite
        body = record(purchase, lines, row, receipt, status, template, bonus=bonus_row, awards=award_rows)
        if body is not None:
            return status, body
    with all_or_nothing():
        result = purchase_apply(plan)
        status, body = respond(result)
        store_receipt(receipt, status, body)
    return status, body


def _unsaved_purchase(plan: PurchasePlan, points_bonus: int = 0) -> Purchase:
    return Purchase(
        organization_id=plan.member.organization_id, member_id=plan.member.id, store_id=plan.store.id if plan.store else None,
        external_id=plan.external_id, channel=plan.channel, occurred_at=plan.occurred_at, currency=plan.program.organization.currency,
        total_minor=plan.total_minor, refunded_minor=0, points_earned=plan.points, points_reversed=0, has_lines=bool(plan.lines),
        created_at=now(), points_bonus=points_bonus,
    )


def _insert_purchase(plan: PurchasePlan, *, points_bonus: int = 0) -> Purchase:
    # One plain INSERT: the ORM's costs several times the statement on this hot path.
    purchase = _unsaved_purchase(plan, points_bonus)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO purchases_purchase ({purchase_sql.PURCHASE_COLUMNS}) VALUES ({', '.join(['%s'] * 14)}) RETURNING id",
            purchase_sql.purchase_values(purchase),
        )
        purchase.id = cursor.fetchone()[0]
    return mark_saved(purchase)


def purchase_record(**fields) -> PurchaseResult:
    """Record a purchase and credit its points at the base rate (pending during the return window).

    Same arguments as purchase_plan. Runs in the caller's write transaction if there is one
    (the API plans first, outside the transaction, and applies inside it), else in its own.
    """
    plan = purchase_plan(**fields)
    with write_transaction():
        return purchase_apply(plan)


@dataclass
class RefundResult:
    refund: Refund
    purchase: Purchase


def purchase_refund(
    *,
    program: Program,
    purchase: Purchase,
    external_id: str,
    amount_minor: int | None = None,
    lines: list[RefundLineInput] | None = None,
    currency: str | None = None,
    occurred_at: dt.datetime | None = None,
    actor: Actor | None = None,
) -> RefundResult:
    """Refund all or part of a purchase and take back the points it earned, proportionally.

    By lines (when the purchase has lines): each line gives back its own share of points
    for the quantity returned. By amount: the purchase's points in proportion to the amount.
    Neither: the whole remaining amount. Cumulative shares are rounded down, so a partial
    refund never takes more than its share and a full refund takes back exactly all.
    """
    if not external_id or len(external_id) > 120:
        raise InvalidRefund("external_id is required (at most 120 characters)", field="external_id")
    if currency is not None and currency.upper() != purchase.currency:
        raise CurrencyMismatch(f"The purchase was in {purchase.currency}, not {currency}", expected=purchase.currency)
    if amount_minor is not None and lines:
        raise InvalidRefund("Refund either by amount or by lines, not both", code="refund_amount_and_lines")
    occurred_at = require_aware(occurred_at) if occurred_at else now()
    if occurred_at > now() + FUTURE_TOLERANCE:
        raise InvalidRefund("occurred_at is in the future", code="occurred_in_future", field="occurred_at")
    with write_transaction():
        # Lock the purchase row only: with select_related, a bare FOR UPDATE also locks the
        # member row, which the ledger's writes reference (FOR KEY SHARE at commit) after
        # taking the account lock that this refund waits for next: a deadlock on PostgreSQL.
        purchase = Purchase.objects.select_for_update(of=("self",)).select_related("member").get(pk=purchase.pk)
        left = purchase.total_minor - purchase.refunded_minor
        if lines:
            refund_minor, points_back, line_updates = _refund_by_lines(purchase, lines)
        else:
            refund_minor = left if amount_minor is None else amount_minor
            if not isinstance(refund_minor, int) or refund_minor <= 0:
                if amount_minor is None:
                    raise RefundExceedsPurchase("This purchase is already fully refunded", refundable_minor=0)
                raise InvalidRefund("The refund amount must be positive", code="invalid_amount", field="amount_minor")
            if refund_minor > left:
                raise RefundExceedsPurchase(f"At most {left} can still be refunded", refundable_minor=left)
            target = proportional_to_date(purchase.points_earned, purchase.refunded_minor + refund_minor, purchase.total_minor)
            points_back = max(0, target - purchase.points_reversed)
            line_updates = []
        points_back = min(points_back, purchase.points_earned - purchase.points_reversed)
        reversed_points = forgiven = 0
        lot = purchase_lot(purchase) if points_back else None
        if lot is not None:
            reversal = points_reverse_lot(
                program=program, lot=lot, amount=points_back, occurred_at=occurred_at,
                why=Why(
                    reason="refund",
                    # The day as the member lived it: the database hands back UTC, which is
                    # the day before for a purchase made after midnight in Paris.
                    params={
                        "amount_minor": refund_minor, "currency": purchase.currency,
                        "earned_on": local_date(purchase.occurred_at, program.organization.timezone).isoformat(),
                    },
                    source_type="purchase", source_id=purchase.pk, actor=str(actor) if actor else "",
                ),
            )
            reversed_points, forgiven = reversal.reversed, reversal.forgiven
        refund = Refund.objects.create(
            organization_id=purchase.organization_id, purchase=purchase, external_id=external_id, amount_minor=refund_minor,
            points_reversed=reversed_points, points_forgiven=forgiven,
            lines=[{"position": pos, "quantity": qty} for pos, qty, _ in line_updates], occurred_at=occurred_at, created_at=now(),
        )
        for position, quantity, line_points in line_updates:
            PurchaseLine.objects.filter(purchase=purchase, position=position).update(
                refunded_quantity=F("refunded_quantity") + quantity, points_reversed=F("points_reversed") + line_points
            )
        # points_reversed counts what was claimed back, including what the stop-at-zero
        # policy forgave, so the same points are never claimed twice.
        Purchase.objects.filter(pk=purchase.pk).update(
            refunded_minor=F("refunded_minor") + refund_minor, points_reversed=F("points_reversed") + points_back
        )
        # What the rules gave (bonus, stamps, tier points) goes back in the same proportion.
        done = purchase.refunded_minor + refund_minor
        reversed_awards = awards_reverse(
            program=program, member=purchase.member, source_type="purchase", source_id=purchase.pk, done_minor=done,
            whole_minor=purchase.total_minor, occurred_at=occurred_at, base_points_back=points_back, refund_minor=refund_minor,
            params={"earned_on": local_date(purchase.occurred_at, program.organization.timezone).isoformat()},
            actor=str(actor) if actor else "", source_bonus=SourceBonus(total=purchase.points_bonus, reversed=purchase.bonus_reversed),
        )
        if reversed_awards.points:
            Purchase.objects.filter(pk=purchase.pk).update(bonus_reversed=F("bonus_reversed") + reversed_awards.points)
        if done >= purchase.total_minor:
            referral_reverse(program=program, source_type="purchase", source_id=purchase.pk, at=occurred_at)
        purchase.refresh_from_db()
    return RefundResult(refund=refund, purchase=purchase)


def _refund_by_lines(purchase: Purchase, requested: list[RefundLineInput]) -> tuple[int, int, list[tuple[int, int, int]]]:
    if not purchase.has_lines:
        raise InvalidRefund("This purchase was recorded without lines; refund it by amount", code="purchase_has_no_lines")
    by_position = {line.position: line for line in purchase.lines.all()}
    wanted: dict[int, int] = {}
    for item in requested:
        if not isinstance(item.quantity, int) or item.quantity <= 0:
            raise InvalidRefund("Each refunded line needs a positive quantity", code="invalid_line")
        if item.position is not None:
            line = by_position.get(item.position)
        else:
            matches = [line for line in by_position.values() if item.sku and line.sku == item.sku]
            if len(matches) > 1:
                raise InvalidRefund(f"Several lines have SKU {item.sku!r}; give the line position", code="ambiguous_line", sku=item.sku)
            line = matches[0] if matches else None
        if line is None:
            raise InvalidRefund(f"No such line in this purchase: {item.position or item.sku!r}", code="unknown_line")
        wanted[line.position] = wanted.get(line.position, 0) + item.quantity
    refund_minor = points_back = 0
    updates = []
    for position, quantity in sorted(wanted.items()):
        line = by_position[position]
        before, after = line.refunded_quantity, line.refunded_quantity + quantity
        if after > line.quantity:
            raise RefundExceedsPurchase(
                f"Line {position}: only {line.quantity - before} left to refund", line=position, refundable_quantity=line.quantity - before
            )
        refund_minor += proportional_to_date(line.amount_minor, after, line.quantity) - proportional_to_date(line.amount_minor, before, line.quantity)
        line_points = proportional_to_date(line.points_earned, after, line.quantity) - proportional_to_date(line.points_earned, before, line.quantity)
        points_back += line_points
        updates.append((position, quantity, line_points))
    if refund_minor <= 0:
        raise InvalidRefund("These lines are worth nothing to refund", code="nothing_to_refund")
    if refund_minor > purchase.total_minor - purchase.refunded_minor:
        raise RefundExceedsPurchase("The refund exceeds what is left of the purchase", refundable_minor=purchase.total_minor - purchase.refunded_minor)
    return refund_minor, points_back, updates


def visit_record(*, member: Member, store: Store | None, external_id: str, occurred_at: dt.datetime) -> Visit:
    """Record a check-in. The base rate awards nothing for it; earning rules (a later issue) may."""
    if not external_id or len(external_id) > 120:
        raise InvalidPurchase("external_id is required (at most 120 characters)", field="external_id")
    require_aware(occurred_at)
    if occurred_at > now() + FUTURE_TOLERANCE:
        raise InvalidPurchase("occurred_at is in the future", code="occurred_in_future", field="occurred_at")
    if store is not None and store.organization_id != member.organization_id:
        raise InvalidPurchase("The store belongs to another organization", field="store")
    with write_transaction():
        return Visit.objects.create(
            organization_id=member.organization_id, member=member, store=store, external_id=external_id, occurred_at=occurred_at, created_at=now()
        )
