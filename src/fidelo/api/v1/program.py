"""GET /program: the program's settings, GET /program/stores: its stores."""

from django.http import HttpRequest
from ninja import Router

from fidelo.api.v1.auth import actor_of, context
from fidelo.api.v1.schemas import MemberAttributesIn, ProgramOut, StoreOut
from fidelo.ledger.services import program_unit
from fidelo.tenancy.models import Store
from fidelo.tenancy.selectors import program_for
from fidelo.tenancy.services import program_update

router = Router(tags=["program"])


@router.get("", response=ProgramOut, summary="The loyalty program's settings")
def get_program(request: HttpRequest) -> dict:
    ctx = context(request)
    program = program_for(ctx.organization.id)
    return {
        "name": program.name, "currency_mode": program.currency_mode, "unit": program_unit(program), "earn_units": program.earn_units,
        "earn_per_cents": program.earn_per_minor, "rounding": program.rounding, "expiry_policy": program.expiry_policy,
        "expiry_months": program.expiry_months, "pending_days": program.pending_days, "refund_policy": program.refund_policy,
        "transfers_allowed": program.transfers_allowed, "transfer_min": program.transfer_min,
        "transfer_max_per_day": program.transfer_max_per_day, "currency": ctx.organization.currency, "timezone": ctx.organization.timezone,
        "member_attributes": program.member_attributes or [],
    }


@router.put("/member-attributes", response=ProgramOut, summary="Declare the custom member attributes (rules and segments use them)")
def set_member_attributes(request: HttpRequest, body: MemberAttributesIn) -> dict:
    ctx = context(request)
    program_update(organization=ctx.organization, actor=actor_of(request), member_attributes=body.attributes)
    return get_program(request)


@router.get("/stores", response=list[StoreOut], summary="The program's stores (points of sale)")
def list_stores(request: HttpRequest) -> list[dict]:
    ctx = context(request)
    return list(Store.objects.filter(organization_id=ctx.organization.id).order_by("code").values("code", "name", "city", "is_online"))
