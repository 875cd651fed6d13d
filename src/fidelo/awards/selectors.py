"""Reads of awards: what each rule already gave a member (for its limits), and why an entry happened."""

import datetime as dt
from collections.abc import Iterable

from django.db import connection

from fidelo.awards.models import Award
from fidelo.rules.engine.types import Usage


def member_usage(*, member_id: int, rule_ids: Iterable[int], capped_kinds: dict[int, str], day: dt.date,
                 budget_rule_ids: Iterable[int] = ()) -> dict[int, Usage]:
    """For each rule: what it gave the member today, this month and ever (in its capped kind), and its budget spent.

    One indexed query on the member's awards (plus one for the rules with a budget).
    `capped_kinds` maps a rule to the award kind its limits count.
    """
    rule_ids = sorted(set(rule_ids))
    if not rule_ids:
        return {}
    month_start = day.replace(day=1)
    sql = (
        "SELECT rule_id, kind, "
        "SUM(CASE WHEN local_day = %s THEN amount - reversed ELSE 0 END), "
        "SUM(CASE WHEN local_day >= %s THEN amount - reversed ELSE 0 END), "
        "SUM(amount - reversed) "
        f"FROM awards_award WHERE member_id = %s AND rule_id IN ({', '.join(['%s'] * len(rule_ids))}) GROUP BY rule_id, kind"
    )
    adapt = connection.ops.adapt_datefield_value
    found: dict[int, tuple[int, int, int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [adapt(day), adapt(month_start), member_id, *rule_ids])
        for rule_id, kind, today, month, total in cursor.fetchall():
            if kind == capped_kinds.get(rule_id, "points"):
                found[rule_id] = (int(today or 0), int(month or 0), int(total or 0))
        spent: dict[int, int] = {}
        budgeted = sorted(set(budget_rule_ids))
        if budgeted:
            cursor.execute(f"SELECT rule_id, spent FROM rules_rulebudget WHERE rule_id IN ({', '.join(['%s'] * len(budgeted))})", budgeted)
            spent = dict(cursor.fetchall())
    return {
        rule_id: Usage(
            member_day=found.get(rule_id, (0, 0, 0))[0], member_month=found.get(rule_id, (0, 0, 0))[1],
            member_total=found.get(rule_id, (0, 0, 0))[2], budget_spent=int(spent.get(rule_id, 0)),
        )
        for rule_id in rule_ids
    }


def source_awards(source_type: str, source_id: int) -> list[Award]:
    return list(Award.objects.filter(source_type=source_type, source_id=source_id).order_by("id"))


def awards_for_transfers(transfer_ids: Iterable[int]) -> dict[int, Award]:
    """The award behind each bonus transfer (for the history's "why")."""
    ids = [transfer_id for transfer_id in transfer_ids if transfer_id is not None]
    if not ids:
        return {}
    return {award.transfer_id: award for award in Award.objects.filter(transfer_id__in=ids)}
