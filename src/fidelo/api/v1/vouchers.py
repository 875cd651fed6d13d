"""Vouchers at the till: look one up, its QR code, what it is worth on a basket, use it, cancel it."""

import base64
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import segno
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from ninja import Router

from fidelo.api.v1.auth import actor_of, context, store_for
from fidelo.api.v1.idempotency import idempotent_post
from fidelo.api.v1.reward_schemas import ValuationOut, VoucherCheckIn, VoucherOut, VoucherUseIn
from fidelo.api.v1.schemas import Text
from fidelo.core.errors import ValidationFailed
from fidelo.rewards.models import Voucher
from fidelo.rewards.selectors import access_voucher
from fidelo.rewards.services import Valuation, normalize_code, voucher_cancel, voucher_use, voucher_value
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
        partner_code=(partner_code or None) if has_partner_code else (partner_code or partner_code_of(voucher)),
        qr_url=reverse("api-v1:voucher_qr", kwargs={"code": voucher.code}),
    ).model_dump(mode="json")


def valuation_body(valuation: Valuation) -> dict:
    return ValuationOut(
        value_cents=valuation.value_minor, basket_cents=valuation.basket_minor, voucher=voucher_body(valuation.voucher)
    ).model_dump(mode="json")


# --- keyset cursors (lists ordered by a column and the primary key) -----------------------------


def encode_keyset(value: object, pk: int) -> str:
    return base64.urlsafe_b64encode(json.dumps(["k", value, pk]).encode()).decode().rstrip("=")


def decode_keyset(cursor: str | None, parse: Callable[[Any], Any]) -> tuple[Any, int] | None:
    """(column value, primary key) from a cursor this API returned; `parse` checks the value."""
    if not cursor:
        return None
    try:
        tag, value, pk = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
        if tag != "k" or not isinstance(pk, int) or isinstance(pk, bool) or not 0 < pk < 2**63:
            raise ValueError(cursor)
        return parse(value), pk
    except (ValueError, TypeError, OverflowError, UnicodeDecodeError) as exc:  # binascii.Error and JSONDecodeError are ValueErrors
        raise ValidationFailed("Invalid cursor", code="invalid_cursor") from exc


def keyset_int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(value)
    return value


def keyset_time(value: Any) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(value)
    return moment


# --- endpoints -----------------------------------------------------------------------------------


def _lines(body: VoucherCheckIn) -> list[tuple[str, int, int]]:
    return [(line.sku, line.quantity, line.unit_price_cents) for line in body.lines]


@router.get("/{code}", response=VoucherOut, summary="Get a voucher by its code")
def get_voucher(request: HttpRequest, code: Text) -> dict:
    return voucher_body(access_voucher(context(request).organization.id, code))


@router.get("/{code}/qr.svg", url_name="voucher_qr", summary="The voucher's QR code (SVG), to scan at the till")
def voucher_qr(request: HttpRequest, code: Text) -> HttpResponse:
    voucher = access_voucher(context(request).organization.id, code)
    qr = segno.make(voucher.code, error="m")
    return HttpResponse(qr.svg_inline(scale=6), content_type="image/svg+xml")


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

