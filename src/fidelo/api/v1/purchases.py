"""POST /purchases (earn at the base rate), POST /purchases/{external_id}/refunds, GET a purchase."""

from django.http import HttpRequest, HttpResponse
from ninja import Router

from fidelo.api.v1.auth import actor_of, context, store_for
from fidelo.api.v1.idempotency import idempotent_post
from fidelo.api.v1.problems import json_response
from fidelo.api.v1.schemas import PurchaseIn, PurchaseOut, RefundIn, RefundOut, Text
from fidelo.core.idempotency import StoresReceipt
from fidelo.events.earning import listened_purchase_event, member_with_facts
from fidelo.events.services import purchase_plan_with_rules, referral_completed_record
from fidelo.purchases.errors import DuplicatePurchase, DuplicateRefund
from fidelo.purchases.models import Purchase, PurchaseLine
from fidelo.purchases.selectors import access_purchase, purchase_points
from fidelo.purchases.services import (
    LineInput,
    RefundLineInput,
    purchase_apply_with_receipt,
    purchase_refund,
)
from fidelo.rules.engine import types as engine
from fidelo.tenancy.models import Store
from fidelo.tenancy.selectors import program_for

router = Router(tags=["purchases"])


def purchase_body(purchase: Purchase, lines: list[PurchaseLine], store: Store | None, *, pending: bool | None = None, available_at=None) -> dict:
    status = "none" if purchase.points_earned == 0 else ("pending" if pending else "available")
    return PurchaseOut(
        id=purchase.id,
        external_id=purchase.external_id,
        member_id=purchase.member_id,
        store=store.code if store else None,
        channel=purchase.channel,
        occurred_at=purchase.occurred_at,
        total_cents=purchase.total_minor,
        refunded_cents=purchase.refunded_minor,
        currency=purchase.currency,
        points={"earned": purchase.points_earned, "bonus": purchase.points_bonus, "status": status, "available_at": available_at},
        points_reversed=purchase.points_reversed,
        lines=[
            {"position": line.position, "sku": line.sku, "quantity": line.quantity, "amount_cents": line.amount_minor, "points": line.points_earned}
            for line in lines
        ],
    ).model_dump(mode="json")


@router.post("", response={201: PurchaseOut}, summary="Record a purchase and award its points")
def create_purchase(request: HttpRequest, body: PurchaseIn) -> HttpResponse:
    ctx = context(request)
    payload = body.model_dump(mode="json")

    def prepare():
        # Reads and checks outside the write transaction: on SQLite the write lock is then
        # held only while the rows are written.
        program = program_for(ctx.organization.id)
        lines = [
            LineInput(quantity=l.quantity, unit_price_minor=l.unit_price_cents, discount_minor=l.discount_cents, sku=l.sku,
                      name=l.name, category=l.category, brand=l.brand)
            for l in body.lines
        ]
        event = None
        if body.store or ctx.store_id is None:
            # The store is the one named (checked below). A store key's own store is read after the
            # member, whose errors come first: the plan builds the event then.
            event = listened_purchase_event(program, occurred_at=body.occurred_at, store_code=body.store or None, channel=body.channel,
                                            amount_minor=body.total_cents, lines=lines)
        ref = body.member
        member, loaded = member_with_facts(  # the member and what the rules need of them: one query
            program=program, event_type=engine.PURCHASE, at=body.occurred_at, member_id=ref.id, card=ref.card, email=ref.email,
            phone=ref.phone, external_id=ref.external_id, event=event,
        )
        store = store_for(ctx, body.store)
        plan = purchase_plan_with_rules(
            loaded=loaded,
            event=event,
            program=program,
            member=member,
            store=store,
            external_id=body.external_id,
            occurred_at=body.occurred_at,
            total_minor=body.total_cents,
            currency=body.currency,
            channel=body.channel,
            lines=lines,
            actor=actor_of(request),
        )

        def respond(result) -> tuple[int, dict]:
            completed["referral"] = result.referral
            return 201, purchase_body(result.purchase, result.lines, store, pending=result.pending, available_at=result.available_at)

        return StoresReceipt(lambda receipt: purchase_apply_with_receipt(plan, receipt=receipt, respond=respond))

    completed: dict = {}
    response = idempotent_post(
        request, operation="purchase.create", payload=payload, prepare=prepare, key_fallback=f"purchase:{body.external_id}",
        duplicate=lambda: DuplicatePurchase(external_id=body.external_id),
    )
    if completed.get("referral") is not None:
        # The purchase completed a referral: the referrer's own event, for the rules that reward it.
        referral_completed_record(program=program_for(ctx.organization.id), referral=completed["referral"])
    return response


@router.get("/{external_id}", response={200: PurchaseOut}, summary="Get a purchase by its external id")
def get_purchase(request: HttpRequest, external_id: Text) -> HttpResponse:
    ctx = context(request)
    purchase = access_purchase(ctx.organization.id, external_id)
    points = purchase_points(purchase)
    lines = list(purchase.lines.order_by("position"))
    return json_response(purchase_body(purchase, lines, purchase.store, pending=points.pending, available_at=points.available_at), 200)


@router.post("/{external_id}/refunds", response={201: RefundOut}, summary="Refund a purchase (all, by amount or by lines)")
def create_refund(request: HttpRequest, external_id: Text, body: RefundIn) -> HttpResponse:
    ctx = context(request)
    payload = {"purchase": external_id, **body.model_dump(mode="json")}

    def execute() -> tuple[int, dict]:
        purchase = access_purchase(ctx.organization.id, external_id)
        result = purchase_refund(
            program=program_for(ctx.organization.id),
            purchase=purchase,
            external_id=body.external_id,
            amount_minor=body.amount_cents,
            lines=[RefundLineInput(quantity=l.quantity, position=l.position, sku=l.sku or "") for l in body.lines] if body.lines else None,
            currency=body.currency,
            occurred_at=body.occurred_at,
            actor=actor_of(request),
        )
        refund, purchase = result.refund, result.purchase
        return 201, RefundOut(
            id=refund.id, external_id=refund.external_id, purchase_external_id=purchase.external_id, amount_cents=refund.amount_minor,
            points_reversed=refund.points_reversed, points_forgiven=refund.points_forgiven,
            purchase_refunded_cents=purchase.refunded_minor, purchase_points_reversed=purchase.points_reversed,
        ).model_dump(mode="json")

    return idempotent_post(
        request, operation="refund.create", payload=payload, execute=execute, key_fallback=f"refund:{body.external_id}",
        duplicate=lambda: DuplicateRefund(external_id=body.external_id),
    )
