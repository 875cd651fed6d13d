"""Apply what the rules engine awarded, and take it back when the source is refunded.

Runs inside the caller's write transaction (the purchase's, the event's): points go to the
ledger as "bonus" credits kept apart from the base points, stamps to the stamp cards,
badges to the member's achievements, rewards as vouchers given without points, tier points
to the tier qualification. Award rows record what was given for the limits and the refunds
(see bonus_rows); the bonus transfer's params record which rule version gave what, and why.
"""

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils.translation import gettext as _

from fidelo.awards import sql as award_sql
from fidelo.awards.models import Award
from fidelo.awards.sql import AwardRow
from fidelo.core.clock import local_date, now
from fidelo.core.errors import DomainError
from fidelo.core.shares import allocate, proportional_to_date
from fidelo.engagement.services import achievement_grant, stamps_add, stamps_reverse
from fidelo.ledger.models import Lot, Transfer, TransferKind
from fidelo.ledger.services import Why, points_earn, points_reverse_lot
from fidelo.members.models import Member
from fidelo.rewards.models import Reward
from fidelo.rewards.services import reward_grant
from fidelo.rules.engine import types as engine
from fidelo.rules.engine.types import Evaluation
from fidelo.tenancy.models import Program
from fidelo.tiers.services import tier_activity_record

logger = logging.getLogger(__name__)


@dataclass
class Applied:
    bonus_points: int = 0  # program unit
    awards: list[AwardRow] = field(default_factory=list)


@dataclass(frozen=True)
class SourceBonus:
    """A source that keeps its bonus itself (a purchase): the bonus credited, and what refunds
    have taken back of it so far (claimed, forgiven included). The part no Award row records
    goes back in proportion like the rows."""

    total: int
    reversed: int


def bonus_why(awards: list[engine.Award], *, source_type: str, source_id: int | None, actor: str = "") -> Why:
    """The ledger reason of an event's bonus: one credit for all its points awards, kept apart
    from the base points: "Bonus: <rule>, <rule>", each award's explanation in the params."""
    names = [award.rule_name or str(_("your tier")) for award in awards]
    params = {"label": ", ".join(dict.fromkeys(names)), "awards": [award_params(award) for award in awards]}
    return Why(reason="bonus", params=params, source_type=source_type, source_id=source_id, actor=actor)


def award_params(award: engine.Award) -> dict:
    """What the history shows of one award: the rule version that fired, and why."""
    # The award's params are its own (the engine builds them for each award), and the rows
    # only serialize them: no copy.
    return {
        "rule_id": award.rule_id, "rule_version": award.rule_version, "rule": award.rule_name, "amount": award.amount,
        "why": {"code": award.why.code, "params": award.why.params},
    }


def points_awards(evaluation: Evaluation, budgets: Mapping[int, int], *, organization_id: int) -> list[engine.Award]:
    """The points awards of an evaluation, each cut to what its rule's budget and its campaign's
    budget still allow (taken under their rows' locks, so no budget is ever overspent)."""
    granted = []
    for award in evaluation.awards:
        if award.kind != engine.POINTS:
            continue
        amount = award.amount
        budget = budgets.get(award.rule_id) if award.rule_id is not None else None
        if budget is not None:
            amount = budget_grant(award.rule_id, amount, budget)
        if amount > 0 and award.campaign:
            taken = campaign_budget_grant(organization_id, award.campaign, amount)
            if taken < amount and budget is not None:
                budget_give_back(award.rule_id, amount - taken)
            amount = taken
        if amount <= 0:
            continue
        if amount != award.amount:
            award = _with_amount(award, amount)
        granted.append(award)
    return granted


def award_row(
    award: engine.Award, *, member: Member, source_type: str, source_id: int, occurred_at: dt.datetime, day: dt.date,
    transfer_id: int | None = None, created_at: dt.datetime | None = None,
) -> AwardRow:
    return AwardRow(
        organization_id=member.organization_id, member_id=member.id, rule_id=award.rule_id, rule_version=award.rule_version,
        kind=award.kind, amount=award.amount, target=award.target, source_type=source_type, source_id=source_id,
        transfer_id=transfer_id, why={"code": award.why.code, "params": award.why.params}, line_amounts=list(award.line_amounts),  # see award_params
        local_day=day, occurred_at=occurred_at, created_at=created_at or now(), campaign=award.campaign,
    )


def bonus_rows(
    bonus: list[engine.Award], *, member: Member, source_type: str, source_id: int, occurred_at: dt.datetime, day: dt.date,
    transfer_id: int | None = None, source_keeps_bonus: bool = False, created_at: dt.datetime | None = None,
) -> list[AwardRow]:
    """The Award rows to write for an event's points awards (all credited by one bonus transfer).

    A rule with limits or a budget gets a row per award: its usage is counted from them, and
    a refund gives its budget back. The bonus transfer's params already say which rules and
    versions gave what and why (the history shows them), so the other points awards need no
    row of their own: a purchase keeps its bonus total and what refunds took back
    (`source_keeps_bonus`, see SourceBonus), and they get none; for another source they
    share one row, all a cancellation needs to take the bonus back. On the purchase path
    that is no row, or one for a capped rule, instead of one per rule.
    `created_at` defaults to now.
    """
    created_at = created_at or now()
    rows = [
        award_row(award, member=member, source_type=source_type, source_id=source_id, occurred_at=occurred_at, day=day,
                  transfer_id=transfer_id, created_at=created_at)
        for award in bonus if award.limited
    ]
    unlimited = [award for award in bonus if not award.limited]
    if source_keeps_bonus:
        return rows
    if len(unlimited) == 1:
        rows.append(award_row(unlimited[0], member=member, source_type=source_type, source_id=source_id, occurred_at=occurred_at,
                              day=day, transfer_id=transfer_id, created_at=created_at))
    elif unlimited:
        rows.append(AwardRow(
            organization_id=member.organization_id, member_id=member.id, rule_id=None, rule_version=None, kind=engine.POINTS,
            amount=sum(award.amount for award in unlimited), target="", source_type=source_type, source_id=source_id,
            transfer_id=transfer_id, why={"code": "bonus_rules", "params": {"count": len(unlimited)}}, line_amounts=[],
            local_day=day, occurred_at=occurred_at, created_at=created_at,
        ))
    return rows


def budget_grant(rule_id: int, amount: int, budget: int) -> int:
    """Take up to `amount` from the rule's budget; returns what was granted (0 once spent).

    Under the budget row's lock (PostgreSQL; SQLite's write lock is already held), so two
    purchases at once never overspend it.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT spent FROM rules_rulebudget WHERE rule_id = %s" + (" FOR UPDATE" if connection.vendor == "postgresql" else ""),
            [rule_id],
        )
        found = cursor.fetchone()
        spent = found[0] if found else 0
        granted = max(0, min(amount, budget - spent))
        if granted:
            cursor.execute("UPDATE rules_rulebudget SET spent = spent + %s WHERE rule_id = %s", [granted, rule_id])
    return granted


def campaign_budget_grant(organization_id: int, code: str, amount: int) -> int:
    """Take up to `amount` from the campaign's budget (under its row's lock); all of it if the campaign has none."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT budget, budget_spent FROM rewards_campaign WHERE organization_id = %s AND code = %s"
            + (" FOR UPDATE" if connection.vendor == "postgresql" else ""),
            [organization_id, code],
        )
        found = cursor.fetchone()
        if found is None or found[0] is None:
            return amount
        budget, spent = found
        granted = max(0, min(amount, budget - spent))
        if granted:
            cursor.execute("UPDATE rewards_campaign SET budget_spent = budget_spent + %s WHERE organization_id = %s AND code = %s",
                           [granted, organization_id, code])
    return granted


def campaign_budget_give_back(organization_id: int, code: str, amount: int) -> None:
    """What a refund takes back of a campaign rule's points returns to the campaign's budget."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE rewards_campaign SET budget_spent = budget_spent - %s WHERE organization_id = %s AND code = %s AND budget_spent >= %s",
            [amount, organization_id, code, amount],
        )


def budget_give_back(rule_id: int, amount: int) -> None:
    """What a refund takes back returns to the rule's budget (no-op for a rule without one)."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE rules_rulebudget SET spent = spent - %s WHERE rule_id = %s AND spent >= %s", [amount, rule_id, amount])


def awards_apply(
    *,
    program: Program,
    member: Member,
    evaluation: Evaluation,
    budgets: Mapping[int, int],
    source_type: str,
    source_id: int,
    occurred_at: dt.datetime,
    base_points: int = 0,
    spend_minor: int = 0,
    visits: int = 0,
    pending_days: int | None = 0,
    actor: str = "",
    credited: tuple[list[engine.Award], int | None] | None = None,
    source_keeps_bonus: bool = False,
    describe: bool = True,
) -> Applied:
    """Write the awards of one event. `budgets` maps a rule id to its budget (rules with one).

    `credited`: the points awards the caller already credited (with its own credits, see
    purchases), and the bonus transfer's id; else they are credited here.
    `source_keeps_bonus`: the source records its bonus total itself (see bonus_rows).
    `describe`: list what was given, one row per award, in Applied.awards (for a response).
    """
    applied = Applied()
    day = local_date(occurred_at, program.organization.timezone)
    created_at = now()
    rows: list[AwardRow] = []  # to write
    given: list[AwardRow] = []  # what was given, one per award (the response shows them)
    tier_points = base_points if program.currency_mode == "points" else 0
    if credited is not None:
        bonus, bonus_transfer_id = credited
        applied.bonus_points = sum(award.amount for award in bonus)
    else:
        bonus, bonus_transfer_id = points_awards(evaluation, budgets, organization_id=member.organization_id), None
        applied.bonus_points = sum(award.amount for award in bonus)
        if bonus:
            bonus_transfer_id = points_earn(
                program=program, member=member, amount=applied.bonus_points, occurred_at=occurred_at, pending_days=pending_days,
                why=bonus_why(bonus, source_type=source_type, source_id=source_id, actor=actor),
            ).transfer.id
    if bonus:
        rows += bonus_rows(bonus, member=member, source_type=source_type, source_id=source_id, occurred_at=occurred_at, day=day,
                           transfer_id=bonus_transfer_id, source_keeps_bonus=source_keeps_bonus)
        if describe:
            given += [award_row(award, member=member, source_type=source_type, source_id=source_id, occurred_at=occurred_at, day=day,
                                transfer_id=bonus_transfer_id, created_at=created_at) for award in bonus]
        if program.currency_mode == "points":
            tier_points += applied.bonus_points
    for award in evaluation.awards:
        amount = award.amount
        if award.kind == engine.POINTS:
            continue  # credited above, together
        if award.kind == engine.STAMPS:
            stamps_add(
                program=program, member=member, card_code=award.target, count=amount, occurred_at=occurred_at,
                source_type=source_type, source_id=source_id, rule_id=award.rule_id,
            )
        elif award.kind == engine.ACHIEVEMENT:
            if achievement_grant(
                member=member, badge_code=award.target, occurred_at=occurred_at, source_type=source_type, source_id=source_id,
                rule_id=award.rule_id,
            ) is None:
                continue  # already earned: no award row, the limits do not count it
        elif award.kind == engine.REWARD:
            reward = Reward.objects.filter(organization_id=member.organization_id, pk=int(award.target)).first()
            if reward is None:
                continue
            try:
                with transaction.atomic():  # a savepoint: a reward out of stock must not refuse the purchase
                    reward_grant(
                        program=program, member=member, reward=reward, at=occurred_at, why_label=award.rule_name,
                        source_type=source_type, source_id=source_id,
                    )
            except DomainError as refused:
                logger.info("rule %s could not grant reward %s: %s", award.rule_id, reward.pk, refused.code)
                continue
        elif award.kind == engine.TIER_POINTS:
            tier_points += amount
        row = award_row(award, member=member, source_type=source_type, source_id=source_id, occurred_at=occurred_at, day=day,
                        created_at=created_at)
        rows.append(row)
        given.append(row)
    if rows:
        award_sql.insert_awards(rows)
    applied.awards = given  # unsaved rows: what was given, for the response
    if tier_points or spend_minor or visits:
        tier_activity_record(
            program=program, member=member, occurred_at=occurred_at, tier_points=tier_points, spend_minor=spend_minor, visits=visits,
            source_type=source_type, source_id=source_id,
        )
    return applied


def _unrecorded_bonus_back(awards: list[Award], source_bonus: SourceBonus, done_minor: int, whole_minor: int) -> int:
    """What goes back now of the bonus points no Award row records (cumulative share, rounded down)."""
    recorded = [award for award in awards if award.kind == engine.POINTS and award.transfer_id]
    unrecorded = source_bonus.total - sum(award.amount for award in recorded)
    taken = source_bonus.reversed - sum(award.reversed for award in recorded)
    return max(0, proportional_to_date(unrecorded, done_minor, whole_minor) - taken) if unrecorded > 0 else 0


def _bonus_transfer_id(source_type: str, source_id: int) -> int | None:
    return (
        Transfer.objects.filter(source_type=source_type, source_id=source_id, reason="bonus", kind=TransferKind.EARN)
        .order_by("id").values_list("id", flat=True).first()
    )


def _with_amount(award: engine.Award, amount: int) -> engine.Award:
    """The award cut to `amount` (a budget ran out), its line shares cut in proportion."""
    return award._replace(amount=amount, line_amounts=tuple(allocate(amount, list(award.line_amounts))) if award.line_amounts else ())


@dataclass
class Reversed:
    points: int = 0  # bonus points taken back (claimed, including what a stop-at-zero policy forgave)
    tier_points: int = 0
    stamps_taken: int = 0


def awards_reverse(
    *,
    program: Program,
    member: Member,
    source_type: str,
    source_id: int,
    done_minor: int,
    whole_minor: int,
    occurred_at: dt.datetime,
    base_points_back: int = 0,
    refund_minor: int = 0,
    params: Mapping | None = None,
    actor: str = "",
    source_bonus: SourceBonus | None = None,
) -> Reversed:
    """Take back, in proportion to what is now refunded (done of whole), what the source's awards gave.

    Bonus points and tier points go back proportionally (cumulative shares rounded down, so
    a full refund takes back exactly everything); stamps go back in the same proportion as
    refunded (a quantity's worth); badges stay (an achievement is not a balance). Runs in the
    refund's transaction.
    """
    result = Reversed()
    tier_points_back = base_points_back if program.currency_mode == "points" else 0
    awards = list(Award.objects.select_for_update().filter(source_type=source_type, source_id=source_id).order_by("id"))
    points_back: dict[int, int] = {}  # bonus transfer -> what goes back from its lot
    if source_bonus is not None:
        back = _unrecorded_bonus_back(awards, source_bonus, done_minor, whole_minor)
        if back:
            transfer_id = _bonus_transfer_id(source_type, source_id)
            if transfer_id is not None:
                points_back[transfer_id] = back
                result.points += back
                if program.currency_mode == "points":
                    tier_points_back += back
    for award in awards:
        target = proportional_to_date(award.amount, done_minor, whole_minor)
        back = max(0, target - award.reversed)
        if not back:
            continue
        if award.kind == engine.POINTS and award.transfer_id:
            points_back[award.transfer_id] = points_back.get(award.transfer_id, 0) + back
            result.points += back
            if award.rule_id is not None:
                budget_give_back(award.rule_id, back)
            if award.campaign:
                campaign_budget_give_back(award.organization_id, award.campaign, back)
            if program.currency_mode == "points":
                tier_points_back += back
        elif award.kind == engine.TIER_POINTS:
            tier_points_back += back
        elif award.kind == engine.STAMPS:
            result.stamps_taken += stamps_reverse(
                member=member, source_type=source_type, source_id=source_id, occurred_at=occurred_at, count=back
            )
        else:
            continue
        Award.objects.filter(pk=award.pk).update(reversed=award.reversed + back)
    for transfer_id, back in sorted(points_back.items()):
        lot = Lot.objects.select_related("member", "transfer").filter(transfer_id=transfer_id).first()
        if lot is not None:
            points_reverse_lot(
                program=program, lot=lot, amount=back, occurred_at=occurred_at,
                why=Why(reason="bonus_reversal", params={"label": lot.transfer.reason_params.get("label", ""), **(params or {})},
                        source_type=source_type, source_id=source_id, actor=actor),
            )
    result.tier_points = tier_points_back
    if tier_points_back or refund_minor:
        tier_activity_record(
            program=program, member=member, occurred_at=occurred_at, tier_points=-tier_points_back, spend_minor=-refund_minor,
            visits=0, source_type=source_type, source_id=source_id,
        )
    return result
