"""Earning rules: list, create, get, change (a new version), activate, deactivate; and the simulation."""

from django.http import HttpRequest, HttpResponse
from ninja import Router

from fidelo.api.v1.auth import actor_of, context, store_for
from fidelo.api.v1.members import resolve_member
from fidelo.api.v1.problems import json_response
from fidelo.api.v1.rule_schemas import (
    AwardOut,
    RuleIn,
    RuleListOut,
    RuleOut,
    RuleVersionOut,
    RuleVersionsOut,
    SimulateIn,
    SimulateOut,
    SkippedOut,
)
from fidelo.awards.catalog import rule_catalog
from fidelo.core.clock import now
from fidelo.core.errors import ValidationFailed
from fidelo.events.simulation import rules_simulate
from fidelo.purchases.services import LineInput
from fidelo.rules.engine import types as engine
from fidelo.rules.explain import explain
from fidelo.rules.models import Rule
from fidelo.rules.selectors import (
    access_rule,
    current_definitions,
    rule_definition,
    rule_versions,
    rules_of,
)
from fidelo.rules.services import rule_create, rule_set_active, rule_update
from fidelo.tenancy.selectors import program_for

router = Router(tags=["rules"])


def rule_body(rule: Rule, definition: dict | None = None) -> dict:
    return RuleOut(
        id=rule.id, name=rule.name, event=rule.event_type, active=rule.active, version=rule.current_version,
        definition=definition if definition is not None else rule_definition(rule), created_at=rule.created_at, updated_at=rule.updated_at,
    ).model_dump(mode="json")


def award_body(award: engine.Award) -> dict:
    return AwardOut(
        kind=award.kind, amount=award.amount, target=award.target, rule_id=award.rule_id, rule_version=award.rule_version,
        rule=award.rule_name, explanation=str(explain(award.why)),
    ).model_dump(mode="json")


@router.get("", response={200: RuleListOut}, summary="List the earning rules")
def list_rules(request: HttpRequest) -> HttpResponse:
    ctx = context(request)
    rules = list(rules_of(ctx.organization.id))
    definitions = current_definitions(rules)
    return json_response({"items": [rule_body(rule, definitions.get(rule.id, {})) for rule in rules]}, 200)


@router.post("", response={201: RuleOut}, summary="Create an earning rule")
def create_rule(request: HttpRequest, body: RuleIn) -> HttpResponse:
    ctx = context(request)
    rule = rule_create(
        organization=ctx.organization, definition=body.definition, catalog=rule_catalog(program_for(ctx.organization.id)), actor=actor_of(request)
    )
    return json_response(rule_body(rule), 201)


@router.get("/{int:rule_id}", response={200: RuleOut}, summary="Get an earning rule")
def get_rule(request: HttpRequest, rule_id: int) -> HttpResponse:
    return json_response(rule_body(access_rule(context(request).organization.id, rule_id)), 200)


@router.put("/{int:rule_id}", response={200: RuleOut}, summary="Change an earning rule (writes a new version)")
def change_rule(request: HttpRequest, rule_id: int, body: RuleIn) -> HttpResponse:
    ctx = context(request)
    rule = access_rule(ctx.organization.id, rule_id)
    rule = rule_update(rule=rule, definition=body.definition, catalog=rule_catalog(program_for(ctx.organization.id)), actor=actor_of(request))
    return json_response(rule_body(rule), 200)


@router.get("/{int:rule_id}/versions", response={200: RuleVersionsOut}, summary="Every version of a rule")
def list_versions(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = access_rule(context(request).organization.id, rule_id)
    items = [
        RuleVersionOut(version=v.version, definition=v.definition, created_at=v.created_at, created_by=v.created_by).model_dump(mode="json")
        for v in rule_versions(rule)
    ]
    return json_response({"items": items}, 200)


@router.post("/{int:rule_id}/activate", response={200: RuleOut}, summary="Activate a rule")
def activate_rule(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = access_rule(context(request).organization.id, rule_id)
    return json_response(rule_body(rule_set_active(rule=rule, active=True, actor=actor_of(request))), 200)


@router.post("/{int:rule_id}/deactivate", response={200: RuleOut}, summary="Deactivate a rule")
def deactivate_rule(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = access_rule(context(request).organization.id, rule_id)
    return json_response(rule_body(rule_set_active(rule=rule, active=False, actor=actor_of(request))), 200)


@router.post("/simulate", response={200: SimulateOut}, summary="What the rules would award for an event (nothing is written)")
def simulate(request: HttpRequest, body: SimulateIn) -> HttpResponse:
    ctx = context(request)
    if (body.member is None) == (body.profile is None):
        raise ValidationFailed("Give either a member or a member profile", code="simulate_member_or_profile")
    program = program_for(ctx.organization.id)
    member = resolve_member(ctx.organization, body.member) if body.member is not None else None
    store = store_for(ctx, body.event.store)
    lines = [
        LineInput(quantity=l.quantity, unit_price_minor=l.unit_price_cents, discount_minor=l.discount_cents, sku=l.sku, name=l.name,
                  category=l.category, brand=l.brand)
        for l in body.event.lines
    ]
    amount = body.event.amount_cents or sum(line.amount_minor for line in lines)
    event = engine.Event(
        type=body.event.type, name=body.event.name, occurred_at=body.event.occurred_at or now(), store=store.code if store else None,
        channel=body.event.channel, amount_minor=amount, lines=tuple(lines), attributes=body.event.attributes,
    )
    if event.type not in engine.EVENT_TYPES:
        raise ValidationFailed(f"type must be one of {', '.join(engine.EVENT_TYPES)}", code="unknown_event_type", field="event.type")
    result = rules_simulate(program=program, event=event, member=member, profile=body.profile.model_dump() if body.profile else None)
    evaluation = result.evaluation
    return json_response(
        SimulateOut(
            base_points=result.base_units,
            bonus_points=evaluation.total(engine.POINTS),
            awards=[award_body(award) for award in evaluation.awards],
            skipped=[
                SkippedOut(rule_id=s.rule_id, rule_version=s.rule_version, rule=s.rule_name, explanation=str(explain(s.why)))
                for s in evaluation.skipped
            ],
        ).model_dump(mode="json"),
        200,
    )
