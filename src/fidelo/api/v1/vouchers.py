"""Vouchers at the till: look one up, its QR code, what it is worth on a basket, use it, cancel it."""

import functools

from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from ninja import Router

from fidelo.api.v1.auth import actor_of, context, store_for
from fidelo.api.v1.idempotency import idempotent_post
from fidelo.api.v1.problems import qr_svg_response
from fidelo.api.v1.reward_schemas import (
    ValuationOut,
    VoucherCheckIn,
    VoucherOut,
    VoucherUseIn,
)
from fidelo.api.v1.schemas import Text
from fidelo.rewards.models import Voucher
from fidelo.rewards.selectors import access_voucher
from fidelo.rewards.services import (
    Valuation,
    normalize_code,
    voucher_cancel,
    voucher_use,
    voucher_value,
)
from fidelo.tenancy.selectors import program_for

router = Router(tags=["vouchers"])


# --- rendering ----------------------------------------------------------------------------------


def partner_code_of(voucher: Voucher) -> str | None:
    try:
        return voucher.partner_code.code
    except ObjectDoesNotExist:
        return None


def voucher_body(voucher: Voucher, partner_code: str | None = None, *, has_partner_code: bool = False) -> dict:
    """The voucher as the API shows it; `has_partner_code`: the caller already knows the code (none is "")."""
    reward = voucher.reward
    return VoucherOut(
        code=voucher.code,
        status=voucher.status,
        member_id=voucher.member_id,
        points=voucher.points,
        channel=voucher.channel,
        issued_at=voucher.issued_at,
        expires_at=voucher.expires_at,
        used_at=voucher.used_at,
        used_store=voucher.used_store.code if voucher.used_store_id else None,
        used_value_cents=voucher.used_value_minor,
        used_purchase_external_id=voucher.used_purchase_external_id,
        closed_at=voucher.closed_at,
        reward={
            "id": reward.id, "kind": reward.kind, "title_fr": reward.title_fr, "title_en": reward.title_en,
            "amount_cents": reward.amount_minor, "percent_bp": reward.percent_bp, "min_basket_cents": reward.min_basket_minor,
            "product_sku": reward.product_sku, "charity_name": reward.charity_name,
        },
        campaign=voucher.campaign.code if voucher.campaign_id else None,
        partner_code=(partner_code or None) if has_partner_code else (partner_code or partner_code_of(voucher)),
        qr_url=_qr_url(voucher.code),
    ).model_dump(mode="json")


@functools.cache
def _qr_url_template() -> tuple[str, str]:
    # reverse() once: it costs more than the rest of the voucher's answer (it is on every redemption).
    head, _, tail = reverse("api-v1:voucher_qr", kwargs={"code": "CODE"}).rpartition("CODE")
    return head, tail


def _qr_url(code: str) -> str:
    head, tail = _qr_url_template()
    return f"{head}{code}{tail}"


def valuation_body(valuation: Valuation) -> dict:
    return ValuationOut(
        value_cents=valuation.value_minor, basket_cents=valuation.basket_minor, voucher=voucher_body(valuation.voucher)
    ).model_dump(mode="json")


# --- endpoints -----------------------------------------------------------------------------------


def _lines(body: VoucherCheckIn) -> list[tuple[str, int, int]]:
    return [(line.sku, line.quantity, line.unit_price_cents) for line in body.lines]


@router.get("/{code}", response=VoucherOut, summary="Get a voucher by its code")
def get_voucher(request: HttpRequest, code: Text) -> dict:
    return voucher_body(access_voucher(context(request).organization.id, code))


@router.get("/{code}/qr.svg", url_name="voucher_qr", summary="The voucher's QR code (SVG), to scan at the till")
def voucher_qr(request: HttpRequest, code: Text) -> HttpResponse:
    return qr_svg_response(access_voucher(context(request).organization.id, code).code)


@router.post("/{code}/validate", response=ValuationOut, summary="What the voucher is worth on a basket (changes nothing)")
def validate_voucher(request: HttpRequest, code: Text, body: VoucherCheckIn) -> dict:
    ctx = context(request)
    voucher = access_voucher(ctx.organization.id, code)
    store = store_for(ctx, body.store)
    return valuation_body(voucher_value(voucher, store=store, basket_minor=body.basket_cents, lines=_lines(body)))


@router.post("/{code}/use", response=ValuationOut, summary="Use the voucher on a basket, exactly once")
def use_voucher(request: HttpRequest, code: Text, body: VoucherUseIn) -> HttpResponse:
    ctx = context(request)

    def execute() -> tuple[int, dict]:
        voucher = access_voucher(ctx.organization.id, code)
        store = store_for(ctx, body.store)
        valuation = voucher_use(
            voucher=voucher, store=store, basket_minor=body.basket_cents, lines=_lines(body), purchase_external_id=body.purchase_external_id
        )
        return 200, valuation_body(valuation)

    payload = {"voucher": normalize_code(code), **body.model_dump(mode="json")}
    return idempotent_post(request, operation="voucher.use", payload=payload, execute=execute)


@router.post("/{code}/cancel", response=VoucherOut, summary="Cancel an unused voucher: the member gets the points back")
def cancel_voucher(request: HttpRequest, code: Text) -> HttpResponse:
    ctx = context(request)

    def execute() -> tuple[int, dict]:
        voucher = access_voucher(ctx.organization.id, code)
        voucher = voucher_cancel(voucher=voucher, program=program_for(ctx.organization.id), actor=actor_of(request))
        return 200, voucher_body(voucher)

    return idempotent_post(request, operation="voucher.cancel", payload={"voucher": normalize_code(code)}, execute=execute)

