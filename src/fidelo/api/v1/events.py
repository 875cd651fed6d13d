"""POST /events: a loyalty event other than a purchase (visit, subscription payment, review, custom…)."""

from django.http import HttpRequest, HttpResponse
from ninja import Router

from fidelo.api.v1.auth import actor_of, context, store_for
from fidelo.api.v1.idempotency import idempotent_post
from fidelo.api.v1.members import resolve_member
from fidelo.api.v1.rule_schemas import AwardOut, EventIn, EventOut
from fidelo.api.v1.schemas import Text
from fidelo.events.errors import DuplicateEvent
from fidelo.events.selectors import access_event
from fidelo.events.services import event_cancel, event_record
from fidelo.rules.explain import explain
from fidelo.tenancy.selectors import program_for

router = Router(tags=["events"])


def granted_body(row) -> dict:
    """What an event gave, as written (an award row): the rule, its version, and why."""
    return AwardOut(
        kind=row.kind, amount=row.amount, target=row.target, rule_id=row.rule_id, rule_version=row.rule_version,
        rule=(row.why.get("params") or {}).get("rule", ""), explanation=str(explain(row.why)),
    ).model_dump(mode="json")


@router.post("", response={201: EventOut}, summary="Record a loyalty event and award what the rules say")
def create_event(request: HttpRequest, body: EventIn) -> HttpResponse:
    ctx = context(request)

    def execute() -> tuple[int, dict]:
        program = program_for(ctx.organization.id)
        member = resolve_member(ctx.organization, body.member)
        store = store_for(ctx, body.store)
        result = event_record(
            program=program, member=member, type=body.type, name=body.name, external_id=body.external_id, occurred_at=body.occurred_at,
            store=store, amount_minor=body.amount_cents, attributes=body.attributes, actor=actor_of(request),
        )
        awards = [granted_body(row) for row in result.awards]
        return 201, EventOut(
            id=result.event.id if result.event else result.visit_id, type=body.type, name=body.name, external_id=body.external_id,
            member_id=member.id, occurred_at=body.occurred_at, base_points=result.base_points, bonus_points=result.bonus_points, awards=awards,
        ).model_dump(mode="json")

    return idempotent_post(
        request, operation="event.create", payload=body.model_dump(mode="json"), execute=execute, key_fallback=f"event:{body.external_id}",
        duplicate=lambda: DuplicateEvent(external_id=body.external_id),
    )


@router.post("/{external_id}/cancel", response={200: EventOut}, summary="Cancel an event: take back what it earned")
def cancel_event(request: HttpRequest, external_id: Text) -> HttpResponse:
    ctx = context(request)

    def execute() -> tuple[int, dict]:
        event = event_cancel(program=program_for(ctx.organization.id), event=access_event(ctx.organization.id, external_id),
                             actor=actor_of(request))
        return 200, EventOut(
            id=event.id, type=event.type, name=event.name, external_id=event.external_id, member_id=event.member_id,
            occurred_at=event.occurred_at, base_points=0, bonus_points=0, awards=[], cancelled_at=event.cancelled_at,
        ).model_dump(mode="json")

    return idempotent_post(request, operation="event.cancel", payload={"event": external_id}, execute=execute,
                           key_fallback=f"event-cancel:{external_id}")
