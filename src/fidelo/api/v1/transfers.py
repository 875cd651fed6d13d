"""POST /transfers: points from one member to another, where the program allows it."""

from django.http import HttpRequest, HttpResponse
from ninja import Router

from fidelo.api.v1.auth import actor_of, context
from fidelo.api.v1.idempotency import idempotent_post
from fidelo.api.v1.members import resolve_member
from fidelo.api.v1.schemas import TransferIn, TransferOut
from fidelo.ledger.services import points_transfer
from fidelo.tenancy.selectors import program_for

router = Router(tags=["transfers"])


@router.post("", response={201: TransferOut}, summary="Transfer points between two members")
def create_transfer(request: HttpRequest, body: TransferIn) -> HttpResponse:
    ctx = context(request)

    def execute() -> tuple[int, dict]:
        sender = resolve_member(ctx.organization, body.sender)
        recipient = resolve_member(ctx.organization, body.recipient)
        transfer = points_transfer(
            program=program_for(ctx.organization.id), sender=sender, recipient=recipient, amount=body.points, actor=actor_of(request)
        )
        return 201, TransferOut(
            id=transfer.id, points=transfer.amount, sender_id=sender.id, recipient_id=recipient.id, occurred_at=transfer.occurred_at
        ).model_dump(mode="json")

    return idempotent_post(request, operation="transfer.create", payload=body.model_dump(mode="json"), execute=execute)
