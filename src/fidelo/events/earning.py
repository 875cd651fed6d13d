"""Evaluate the earning rules for one event: load what they need, run the pure engine.

The result is applied by the write path (purchases, events) inside its transaction. When
no active rule listens to the event and the member has no tier benefit, nothing is loaded
and nothing is evaluated: the base rate alone costs no extra query.
"""

import datetime as dt
from dataclasses import dataclass, field

from fidelo.events.facts import (
    Capped,
    FactsQuery,
    FactsShape,
    campaign_rooms,
    facts_query,
    facts_shape,
    member_facts,
)
from fidelo.members.models import Member
from fidelo.members.selectors import member_lookup, member_lookup_with
from fidelo.rules.engine import types as engine
from fidelo.rules.engine.compile import main_award
from fidelo.rules.engine.evaluate import Gates, Needs, count_limits, evaluate
from fidelo.rules.selectors import ActiveRules, active_rules
from fidelo.tenancy.models import Program
from fidelo.tiers.selectors import tier_terms


@dataclass(frozen=True)
class RulesOutcome:
    evaluation: engine.Evaluation
    budgets: dict[int, int] = field(default_factory=dict)  # rule id -> budget, for the rules that have one

def tier_multiplier(program: Program, member: Member) -> int:
    if not member.tier:
        return 100
    terms = tier_terms(program.organization_id)
    return terms.multiplier_percent(member.tier) if terms is not None else 100


@dataclass(frozen=True)
class LoadedFacts:
    """Member facts read with the member itself (member_with_facts): the query and its values."""

    query: FactsQuery
    values: tuple


@dataclass(frozen=True)
class _Listening:
    """The rules of one event type and what the write path derives from them, once per rule set."""

    rules: tuple
    needs: Needs
    capped: tuple[Capped, ...]  # the rules with limits, whose usage is loaded
    gates: Gates  # for their engine rules, in the same order: which may fire for an event
    budgets: dict[int, int]  # rule id -> budget, for the rules that have one
    count_limits: dict  # engine.count_limits: how far the counts of past events need to go
    shape: FactsShape  # the member facts' subqueries, to bind to each event's time


def _listening(rules: ActiveRules, event_type: str, organization_id: int) -> _Listening:
    def build() -> _Listening:
        listening, wanted = rules.for_type(event_type)
        capped_rules = tuple(rule for rule in listening if rule.id in wanted.usage_rule_ids)
        capped = tuple(
            Capped(rule_id=rule.id, kind=main_award(rule)[0], budget=rule.limits.budget is not None,
                   day=rule.limits.per_member_per_day is not None, month=rule.limits.per_member_per_month is not None,
                   total=rule.limits.per_member_total is not None)
            for rule in capped_rules
        )
        budgets = {rule.id: rule.limits.budget for rule in listening if rule.limits.budget is not None}
        limits = count_limits(listening)
        shape = facts_shape(needs=wanted, capped=capped, organization_id=organization_id, count_limits=limits)
        return _Listening(listening, wanted, capped, Gates(capped_rules), budgets, limits, shape)

    return rules.remember(("earning", event_type), build)  # a rule set is one organization's


def member_with_facts(
    *, program: Program, event_type: str, at: dt.datetime, member_id: int | None = None, card: str | None = None,
    email: str | None = None, phone: str | None = None, external_id: str | None = None, event: engine.Event | None = None,
) -> tuple[Member, LoadedFacts | None]:
    """The member (lean, as the purchase path reads it) and, in the same statement, the facts
    the active rules of `event_type` need of them at `at`: one round trip instead of two.

    With the `event` itself, the usage of a capped rule is read only if the event may satisfy
    it (a capped offer on one brand, on a basket without that brand: nothing to read)."""
    identifier = {"member_id": member_id, "card": card, "email": email, "phone": phone, "external_id": external_id}
    rules = active_rules(program)
    query = None
    if rules.for_event(event_type) and at.tzinfo is not None:  # a naive time is refused by the plan, with its own error
        found = _listening(rules, event_type, program.organization_id)
        timezone = program.organization.timezone
        gates = found.gates(event, timezone) if event is not None and found.capped else None
        query = facts_query(at=at, timezone=timezone, shape=found.shape, gates=gates)
    if query is None or not query.selects:
        return member_lookup(program.organization, lean=True, **identifier), None
    member, values = member_lookup_with(program.organization, selects=query.sql("m.id"), params=query.bound(None), **identifier)
    return member, LoadedFacts(query, values)


def rules_evaluate(
    *, program: Program, member: Member, event: engine.Event, base_units: int = 0, base_line_units: tuple[int, ...] = (),
    rules: ActiveRules | None = None, facts: engine.MemberFacts | None = None, explain: bool = False, loaded: LoadedFacts | None = None,
) -> RulesOutcome | None:
    """What the rules award for `event`; None when no rule listens and no tier benefit applies.

    `facts` replaces the member's real facts (the simulation of a member profile); `explain`
    also says why each rule that gave nothing did not (the simulation shows it). `loaded`: the
    facts read with the member (member_with_facts), used if they answer the same rules.
    """
    rules = rules or active_rules(program)
    multiplier = facts.tier_multiplier_percent if facts is not None else tier_multiplier(program, member)
    if not rules.for_event(event.type) and (multiplier == 100 or base_units == 0):
        return None
    timezone = program.organization.timezone
    found = _listening(rules, event.type, program.organization_id)
    listening, wanted = found.rules, found.needs
    usage: dict[int, engine.Usage] = {}
    campaign_room: dict[str, int] = {}
    unread: frozenset[int] = frozenset()  # capped rules whose usage the lookup left unread (see member_with_facts)
    if facts is None:
        capped = found.capped if member.pk else ()
        query = loaded.query if loaded is not None else None
        # The facts answer these rules when read for the same shape (the rule set unchanged: an
        # identity check), or for the same needs and capped rules; and for the event's time.
        same_rules = query is not None and (query.shape is found.shape and capped is found.capped
                                            or query.needs == wanted and query.capped == capped)
        if same_rules and query.at == event.occurred_at:
            facts, usage, campaign_room = query.decode(member, loaded.values, multiplier)
            unread = query.unread
        else:  # nothing read with the member, or the rules changed in between: read them now
            facts, usage, campaign_room = _read_facts(found, member, event, multiplier, capped, explain, timezone)
    elif wanted.campaigns:  # a profile simulated: the campaigns' budgets are still the real ones
        campaign_room = campaign_rooms(program.organization_id, wanted.campaigns)
    terms = engine.ProgramTerms(program.currency_mode, timezone, program.rounding, base_units, base_line_units)  # by position: cheaper
    evaluation = evaluate(event, facts, terms, listening, usage, explain=explain, campaign_room=campaign_room)
    if unread and any(award.rule_id in unread for award in evaluation.awards):
        # A capped rule whose usage was not read fired: the event the gates were computed on was
        # not this one. Its limits need the real usage: read everything, evaluate again.
        facts, usage, campaign_room = _read_facts(found, member, event, multiplier, found.capped, explain, timezone)
        evaluation = evaluate(event, facts, terms, listening, usage, explain=explain, campaign_room=campaign_room)
    return RulesOutcome(evaluation=evaluation, budgets=found.budgets)


def _read_facts(found: _Listening, member: Member, event: engine.Event, multiplier: int, capped: tuple, explain: bool, timezone: str):
    # A simulation explains conditions with the member's real counts; else the counts stop
    # where the rules stop telling them apart (engine.count_limits).
    return member_facts(
        member=member, at=event.occurred_at, needs=found.needs, timezone=timezone, tier_multiplier_percent=multiplier, capped=capped,
        count_limits=None if explain else found.count_limits,
    )


def listened_purchase_event(
    program: Program, *, occurred_at: dt.datetime, store_code: str | None, channel: str, amount_minor: int, lines,
) -> engine.Event | None:
    """The purchase as the engine sees it, built before the member is read (member_with_facts
    reads only the usage of the capped rules it may satisfy); None when no active rule listens
    to purchases, or the time is naive (the plan refuses it with its own error)."""
    if occurred_at.tzinfo is None or not active_rules(program).for_event(engine.PURCHASE):
        return None
    return purchase_event(occurred_at=occurred_at, store_code=store_code, channel=channel, amount_minor=amount_minor, lines=lines)


def purchase_event(*, occurred_at: dt.datetime, store_code: str | None, channel: str, amount_minor: int, lines) -> engine.Event:
    """`lines`: the purchase's LineInputs, which the engine reads as they are (engine.LineLike)."""
    return engine.Event(
        type=engine.PURCHASE, occurred_at=occurred_at, store=store_code, channel=channel, amount_minor=amount_minor, lines=tuple(lines),
    )
