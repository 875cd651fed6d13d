"""Record loyalty events and apply what the rules award for them; plan purchases with their rules."""

import datetime as dt
from dataclasses import dataclass, field

from fidelo.awards.services import awards_apply, awards_reverse
from fidelo.core.actors import Actor
from fidelo.core.clock import now, require_aware
from fidelo.core.db import write_transaction
from fidelo.core.money import MAX_MINOR
from fidelo.core.shares import units_for
from fidelo.events.earning import (
    LoadedFacts,
    RulesOutcome,
    purchase_event,
    rules_evaluate,
)
from fidelo.events.errors import EventAlreadyCancelled, InvalidEvent
from fidelo.events.models import Event
from fidelo.ledger.models import Lot
from fidelo.ledger.services import (
    Why,
    check_member_active,
    points_earn,
    points_reverse_lot,
)
from fidelo.members.models import Member
from fidelo.members.services import member_enroll
from fidelo.purchases.services import (
    FUTURE_TOLERANCE,
    PurchasePlan,
    purchase_plan,
    visit_record,
)
from fidelo.referrals.selectors import referral_settings_for
from fidelo.referrals.services import referral_enroll
from fidelo.rules.engine import types as engine
from fidelo.rules.selectors import active_rules
from fidelo.tenancy.models import Program, Store
from fidelo.tiers.selectors import tier_terms

RECORDED_TYPES = tuple(t for t in engine.EVENT_TYPES if t != engine.PURCHASE)  # purchases have their own endpoint
MAX_ATTRIBUTES = 50


def purchase_plan_with_rules(*, loaded: LoadedFacts | None = None, event: engine.Event | None = None, **fields) -> PurchasePlan:
    """purchase_plan, plus what the earning rules award and whether tiers or referrals follow.

    `loaded`: the member facts read with the member (events.earning.member_with_facts);
    `event`: the purchase as the engine sees it, if the caller built it already (the same fields)."""
    plan = purchase_plan(**fields)
    program, member, store = plan.program, plan.member, plan.store
    outcome = None
    if event is None and (active_rules(program).for_event(engine.PURCHASE) or member.tier):  # else nothing to evaluate
        event = purchase_event(occurred_at=plan.occurred_at, store_code=store.code if store else None, channel=plan.channel,
                               amount_minor=plan.total_minor, lines=plan.lines)
    if event is not None:
        outcome = rules_evaluate(
            program=program, member=member, base_units=plan.points, base_line_units=tuple(plan.line_points), loaded=loaded, event=event,
        )
    follow_ups = tier_terms(program.organization_id) is not None or referral_settings_for(program.organization_id).enabled
    if outcome is None and not follow_ups:
        return plan
    return plan.with_rules(evaluation=outcome.evaluation if outcome else None, budgets=outcome.budgets if outcome else {}, follow_ups=follow_ups)


@dataclass
class EventResult:
    event: Event | None  # None for visits (their own table)
    visit_id: int | None
    base_points: int
    bonus_points: int
    awards: list = field(default_factory=list)
    evaluation: engine.Evaluation | None = None


def _check(*, type: str, name: str, external_id: str, occurred_at: dt.datetime, amount_minor: int, attributes: dict, store: Store | None,
           member: Member) -> None:
    if type not in RECORDED_TYPES:
        if type == engine.PURCHASE:
            raise InvalidEvent("Record purchases with POST /purchases (they carry lines and refunds)", code="event_use_purchases", field="type")
        raise InvalidEvent(f"type must be one of {', '.join(RECORDED_TYPES)}", code="unknown_event_type", field="type")
    if type == engine.CUSTOM and not (name and len(name) <= 64):
        raise InvalidEvent("A custom event needs a name (at most 64 characters)", field="name")
    if type != engine.CUSTOM and name:
        raise InvalidEvent("Only custom events have a name", field="name")
    if not external_id or len(external_id) > 120:
        raise InvalidEvent("external_id is required (at most 120 characters)", field="external_id")
    require_aware(occurred_at)
    if occurred_at > now() + FUTURE_TOLERANCE:
        raise InvalidEvent("occurred_at is in the future", code="occurred_in_future", field="occurred_at")
    if not isinstance(amount_minor, int) or not 0 <= amount_minor <= MAX_MINOR:
        raise InvalidEvent(f"amount must be between 0 and {MAX_MINOR} (minor units)", code="invalid_amount", field="amount_minor")
    if amount_minor and type != engine.SUBSCRIPTION_PAYMENT:
        raise InvalidEvent("Only subscription payments carry an amount", field="amount_minor")
    if len(attributes) > MAX_ATTRIBUTES or not all(isinstance(key, str) and len(key) <= 64 for key in attributes):
        raise InvalidEvent(f"At most {MAX_ATTRIBUTES} attributes, with names of at most 64 characters", field="attributes")
    if store is not None and store.organization_id != member.organization_id:
        raise InvalidEvent("The store belongs to another organization", field="store")
    check_member_active(member)


def event_record(
    *, program: Program, member: Member, type: str, external_id: str, occurred_at: dt.datetime, name: str = "",
    store: Store | None = None, amount_minor: int = 0, attributes: dict | None = None, actor: Actor | None = None,
) -> EventResult:
    """Record an event and credit what it earns: the base rate on a subscription payment, then the rules.

    Visits are recorded as visits (fidelo.purchases); every other type as an Event row. All
    in one write transaction; a duplicate external id is refused by the unique index.
    """
    attributes = attributes or {}
    _check(type=type, name=name, external_id=external_id, occurred_at=occurred_at, amount_minor=amount_minor, attributes=attributes,
           store=store, member=member)
    base = 0
    if type == engine.SUBSCRIPTION_PAYMENT and amount_minor:
        base = units_for(amount_minor, earn_units=program.earn_units, earn_per_minor=program.earn_per_minor, rounding=program.rounding)
    outcome: RulesOutcome | None = rules_evaluate(
        program=program, member=member, base_units=base,
        event=engine.Event(type=type, name=name, occurred_at=occurred_at, store=store.code if store else None,
                           amount_minor=amount_minor, attributes=attributes),
    )
    actor_label = str(actor) if actor else ""
    with write_transaction():
        if type == engine.VISIT:
            visit = visit_record(member=member, store=store, external_id=external_id, occurred_at=occurred_at)
            event, source_type, source_id = None, "visit", visit.pk
        else:
            event = Event.objects.create(
                organization_id=member.organization_id, member=member, type=type, name=name, external_id=external_id, store=store,
                amount_minor=amount_minor, attributes=attributes, occurred_at=occurred_at, created_at=now(),
            )
            source_type, source_id = "event", event.pk
        if base:
            points_earn(
                program=program, member=member, amount=base, occurred_at=occurred_at, pending_days=0,
                why=Why(reason="subscription_payment", params={"amount_minor": amount_minor, "currency": program.organization.currency},
                        source_type=source_type, source_id=source_id, actor=actor_label),
            )
        applied = awards_apply(
            program=program, member=member, evaluation=outcome.evaluation if outcome else engine.Evaluation(awards=(), skipped=()),
            budgets=outcome.budgets if outcome else {}, source_type=source_type, source_id=source_id, occurred_at=occurred_at,
            base_points=base, spend_minor=amount_minor, visits=1 if type == engine.VISIT else 0, pending_days=0, actor=actor_label,
        )
        if event is not None and (base or applied.bonus_points):
            Event.objects.filter(pk=event.pk).update(points_earned=base + applied.bonus_points)
            event.points_earned = base + applied.bonus_points
    return EventResult(
        event=event, visit_id=None if event else source_id, base_points=base, bonus_points=applied.bonus_points, awards=applied.awards,
        evaluation=outcome.evaluation if outcome else None,
    )


def member_join(*, program: Program, referral_code: str = "", **enroll_fields) -> Member:
    """Enroll a member (fidelo.members.services.member_enroll's fields), link the referral
    whose code they came with, and award what the sign-up rules give: all or nothing."""
    with write_transaction():
        member = member_enroll(organization=program.organization, **enroll_fields)
        if referral_code:
            referral_enroll(referee=member, code=referral_code, at=member.enrolled_at)
        if active_rules(program).for_event(engine.SIGNUP):
            event_record(
                program=program, member=member, type=engine.SIGNUP, external_id=f"signup:{member.pk}", occurred_at=member.enrolled_at,
                store=member.enrolled_store,
            )
    return member


def referral_completed_record(*, program: Program, referral) -> EventResult | None:
    """The referrer's "referral completed" event, for the rules that reward it (a badge for a
    first referral, a bonus every fifth one), once per referral."""
    if referral is None or not active_rules(program).for_event(engine.REFERRAL_COMPLETED):
        return None
    return event_record(
        program=program, member=referral.referrer, type=engine.REFERRAL_COMPLETED, external_id=f"referral:{referral.pk}",
        occurred_at=referral.completed_at or now(), attributes={"referee_id": referral.referee_id},
    )


def event_cancel(*, program: Program, event: Event, at: dt.datetime | None = None, actor: Actor | None = None) -> Event:
    """Cancel an event (a review taken down, a payment charged back): take back what it earned,
    its base points and every award (bonus, stamps, tier points), once. Badges stay."""
    at = at or now()
    actor_label = str(actor) if actor else ""
    with write_transaction():
        claimed = Event.objects.filter(pk=event.pk, cancelled_at__isnull=True).update(cancelled_at=at)
        if not claimed:
            raise EventAlreadyCancelled(f"Event {event.external_id!r} was already cancelled", external_id=event.external_id)
        member = event.member
        base_points = 0
        base_lot = (
            Lot.objects.select_related("member")
            .filter(transfer__source_type="event", transfer__source_id=event.pk, transfer__reason="subscription_payment")
            .first()
        )
        if base_lot is not None:
            base_points = base_lot.amount
            points_reverse_lot(
                program=program, lot=base_lot, amount=base_lot.amount, occurred_at=at,
                why=Why(reason="event_cancelled", params={"label": event.name or event.type}, source_type="event", source_id=event.pk,
                        actor=actor_label),
            )
        awards_reverse(
            program=program, member=member, source_type="event", source_id=event.pk, done_minor=1, whole_minor=1, occurred_at=at,
            base_points_back=base_points, refund_minor=event.amount_minor, params={"label": event.name or event.type}, actor=actor_label,
        )
    event.refresh_from_db()
    return event
