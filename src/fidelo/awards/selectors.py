"""Reads of awards: what each rule already gave a member (for its limits), and why an entry happened."""

import datetime as dt
from collections.abc import Iterable

from django.db import connection

from fidelo.awards.models import Award
from fidelo.rules.engine.types import Usage


def member_usage(*, member_id: int, rule_ids: Iterable[int], capped_kinds: dict[int, str], day: dt.date) -> dict[int, Usage]:
    """For each rule: what it gave the member today, this month and ever (in its capped kind), and its budget spent.

    One query. `capped_kinds` maps a rule to the award kind its limits count.
    """
    rule_ids = sorted(set(rule_ids))
    if not rule_ids:
        return {}
    month_start = day.replace(day=1)
    placeholders = ", ".join(["%s"] * len(rule_ids))
    kind_cases = " ".join("WHEN %s THEN %s" for _ in rule_ids)
    kind_params = [value for rule_id in rule_ids for value in (rule_id, capped_kinds.get(rule_id, "points"))]
    sql = (
        "SELECT r.id, "
        "COALESCE(SUM(CASE WHEN a.local_day = %s THEN a.amount - a.reversed ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN a.local_day >= %s THEN a.amount - a.reversed ELSE 0 END), 0), "
        "COALESCE(SUM(a.amount - a.reversed), 0), "
        "COALESCE(MAX(b.spent), 0) "
        "FROM rules_rule r "
        "LEFT JOIN awards_award a ON a.rule_id = r.id AND a.member_id = %s "
        f"AND a.kind = CASE r.id {kind_cases} END "
        "LEFT JOIN rules_rulebudget b ON b.rule_id = r.id "
        f"WHERE r.id IN ({placeholders}) GROUP BY r.id"
    )
    params = [
        connection.ops.adapt_datefield_value(day), connection.ops.adapt_datefield_value(month_start), member_id, *kind_params, *rule_ids
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {
            rule_id: Usage(member_day=int(today), member_month=int(month), member_total=int(total), budget_spent=int(spent))
            for rule_id, today, month, total, spent in cursor.fetchall()
        }


def source_awards(source_type: str, source_id: int) -> list[Award]:
    return list(Award.objects.filter(source_type=source_type, source_id=source_id).order_by("id"))


def awards_for_transfers(transfer_ids: Iterable[int]) -> dict[int, Award]:
    """The award behind each bonus transfer (for the history's "why")."""
    ids = [transfer_id for transfer_id in transfer_ids if transfer_id is not None]
    if not ids:
        return {}
    return {award.transfer_id: award for award in Award.objects.filter(transfer_id__in=ids)}
