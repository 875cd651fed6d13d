"""What the rules would award for an event, for a real member or a member profile: nothing is written."""

from dataclasses import dataclass

from fidelo.core.clock import now
from fidelo.core.shares import allocate, units_for
from fidelo.events.earning import rules_evaluate
from fidelo.members.models import Member
from fidelo.rules.engine import types as engine
from fidelo.rules.selectors import active_rules
from fidelo.tenancy.models import Program
from fidelo.tiers.selectors import tier_terms


@dataclass(frozen=True)
class Simulation:
    base_units: int
    evaluation: engine.Evaluation


def base_for(program: Program, event: engine.Event) -> tuple[int, tuple[int, ...]]:
    if event.type not in (engine.PURCHASE, engine.SUBSCRIPTION_PAYMENT):
        return 0, ()
    units = units_for(event.amount_minor, earn_units=program.earn_units, earn_per_minor=program.earn_per_minor, rounding=program.rounding)
    lines = tuple(allocate(units, [line.amount_minor for line in event.lines])) if event.lines else ()
    return units, lines


def profile_facts(program: Program, profile: dict) -> engine.MemberFacts:
    """A member profile given by the merchant ("a gold member who joined a year ago, third visit this month")."""
    tier = profile.get("tier") or None
    terms = tier_terms(program.organization_id) if tier else None
    return engine.MemberFacts(
        enrolled_at=profile.get("enrolled_at") or now(),
        tier=tier,
        tier_multiplier_percent=terms.multiplier_percent(tier) if terms is not None else 100,
        birthday=profile.get("birthday"),
        attributes=profile.get("attributes") or {},
        interests=frozenset(profile.get("interests") or ()),
        counts=dict(profile.get("counts") or {}),
        counts_within={(key, int(days)): count for key, days, count in profile.get("counts_within") or ()},
        streak_months=dict(profile.get("streak_months") or {}),
    )


def rules_simulate(*, program: Program, event: engine.Event, member: Member | None = None, profile: dict | None = None) -> Simulation:
    base, base_lines = base_for(program, event)
    rules = active_rules(program)
    facts = profile_facts(program, profile or {}) if member is None else None
    subject = member if member is not None else Member(organization_id=program.organization_id, enrolled_at=facts.enrolled_at)
    outcome = rules_evaluate(program=program, member=subject, event=event, base_units=base, base_line_units=base_lines, rules=rules, facts=facts,
                              explain=True)
    evaluation = outcome.evaluation if outcome else engine.Evaluation(awards=(), skipped=())
    return Simulation(base_units=base, evaluation=evaluation)
