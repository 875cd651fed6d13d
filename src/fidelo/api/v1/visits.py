"""POST /visits: record a check-in (gym entry, appointment)."""

from django.http import HttpRequest, HttpResponse
from ninja import Router

from fidelo.api.v1.auth import context, store_for
from fidelo.api.v1.idempotency import idempotent_post
from fidelo.api.v1.members import resolve_member
from fidelo.api.v1.schemas import VisitIn, VisitOut
from fidelo.core.errors import Conflict
from fidelo.events.services import event_record
from fidelo.tenancy.selectors import program_for

router = Router(tags=["visits"])


@router.post("", response={201: VisitOut}, summary="Record a visit (check-in)")
def create_visit(request: HttpRequest, body: VisitIn) -> HttpResponse:
    ctx = context(request)

    def execute() -> tuple[int, dict]:
        member = resolve_member(ctx.organization, body.member)
        store = store_for(ctx, body.store)
        result = event_record(
            program=program_for(ctx.organization.id), member=member, type="visit", external_id=body.external_id,
            occurred_at=body.occurred_at, store=store,
        )
        return 201, VisitOut(
            id=result.visit_id, external_id=body.external_id, member_id=member.id, store=store.code if store else None,
            occurred_at=body.occurred_at, bonus_points=result.bonus_points,
        ).model_dump(mode="json")

    return idempotent_post(
        request, operation="visit.create", payload=body.model_dump(mode="json"), execute=execute, key_fallback=f"visit:{body.external_id}",
        duplicate=lambda: Conflict("A visit with this external id was already recorded", code="visit_exists"),
    )
