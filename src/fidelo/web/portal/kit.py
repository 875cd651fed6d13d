"""Small pieces the member portal and the till share: one-time form tokens (the idempotency
key of a state-changing form), refusals in words, money input, QR codes and branding.

No business logic here: the services decide, these helpers parse input and render results.
"""

import re
import secrets
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import segno
from django.http import HttpRequest
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from fidelo.core.idempotency import Outcome, run_idempotent
from fidelo.core.money import MAX_MINOR, format_money

FORM_TOKEN = "form_token"
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def new_form_token() -> str:
    """A one-time token put in a form: its POST uses it as the idempotency key (double submit = one write)."""
    return secrets.token_urlsafe(18)


def form_key(request: HttpRequest, scope: str) -> str | None:
    """The idempotency key of this POST (scope: who submits), or None if the token is missing or malformed."""
    token = request.POST.get(FORM_TOKEN, "")
    if not _TOKEN_RE.match(token):
        return None
    return f"{scope}:{token}"


def run_once(*, organization_id: int, key: str, operation: str, payload: Any, execute: Callable[[], tuple[int, dict]] | None = None,
             prepare: Callable[[], Any] | None = None) -> Outcome:
    """Run a write once per key (core.idempotency): a second submit of the same form replays the first result."""
    return run_idempotent(organization_id=organization_id, key=key, operation=operation, payload=payload, execute=execute, prepare=prepare)


# --- refusals in words ------------------------------------------------------------------------


def _points(value: Any) -> str:
    try:
        return f"{int(value):,}".replace(",", "\u202f")
    except (TypeError, ValueError):
        return "?"


def refusal_message(problem: dict[str, Any], currency: str = "EUR") -> str:
    """A service's refusal (its problem body) as one sentence in the reader's language."""
    code = problem.get("code", "")
    messages: dict[str, Callable[[], str]] = {
        "insufficient_points": lambda: _("Not enough points: your balance is %(balance)s points, %(requested)s are needed.")
        % {"balance": _points(problem.get("balance")), "requested": _points(problem.get("requested"))},
        "out_of_stock": lambda: _("This reward is out of stock."),
        "partner_codes_exhausted": lambda: _("This reward is out of stock."),
        "tier_not_allowed": lambda: _("This reward is reserved for other tiers (%(tiers)s).")
        % {"tiers": ", ".join(problem.get("allowed_tiers") or [])},
        "limit_per_member_reached": lambda: _("You have reached the limit for this reward (%(limit)s per member).")
        % {"limit": problem.get("limit", "?")},
        "reward_inactive": lambda: _("This reward is not offered at the moment."),
        "reward_not_yet_valid": lambda: _("This reward is not available yet."),
        "reward_expired": lambda: _("This reward is no longer available."),
        "reward_not_found": lambda: _("Unknown reward."),
        "campaign_not_active": lambda: _("This offer has been switched off."),
        "campaign_not_started": lambda: _("This offer has not started yet."),
        "campaign_ended": lambda: _("This offer is over."),
        "campaign_not_found": lambda: _("Unknown offer."),
        "offer_not_in_campaign": lambda: _("This reward is no longer part of this offer."),
        "member_closed": lambda: _("This member's account is closed."),
        "member_not_found": lambda: _("No member found with this card number, email or phone."),
        "member_identifier_invalid": lambda: _("Enter a card number, an email or a phone number."),
        "invalid_email": lambda: _("This email address is not valid."),
        "invalid_phone": lambda: _("This phone number is not valid."),
        "voucher_not_found": lambda: _("Unknown voucher code."),
        "voucher_used": lambda: _("This voucher was already used."),
        "voucher_expired": lambda: _("This voucher has expired."),
        "voucher_cancelled": lambda: _("This voucher was cancelled."),
        "voucher_not_cancellable": lambda: _("This voucher cannot be cancelled (a partner code was handed out)."),
        "voucher_store_not_allowed": lambda: _("This voucher cannot be used in this store."),
        "voucher_not_usable_at_till": lambda: _("This reward is not used at the till."),
        "minimum_basket_not_met": lambda: _("The basket is below this voucher's minimum (%(minimum)s).")
        % {"minimum": format_money(int(problem.get("minimum_basket_cents") or 0), currency)},
        "wallet_empty": lambda: _("The wallet is empty."),
        "invalid_amount": lambda: _("The amount is not valid."),
        "transfers_not_allowed": lambda: _("This program does not allow transfers between members."),
        "transfer_to_self": lambda: _("You cannot transfer points to yourself."),
        "transfer_other_program": lambda: _("The recipient is not a member of this program."),
        "transfer_below_minimum": lambda: _("The minimum transfer is %(minimum)s points.") % {"minimum": _points(problem.get("minimum"))},
        "transfer_limit_reached": lambda: _("Daily transfer limit reached: at most %(limit)s points a day, %(sent)s already sent today.")
        % {"limit": _points(problem.get("limit")), "sent": _points(problem.get("sent_today"))},
        "idempotency_key_reused": lambda: _("This form was already submitted with other values; please start again."),
        "store_not_found": lambda: _("Unknown store."),
        "occurred_in_future": lambda: _("The date is in the future."),
    }
    make = messages.get(code)
    if make is not None:
        return make()
    title, detail = str(problem.get("title") or ""), str(problem.get("detail") or "")
    return f"{title}: {detail}" if detail and detail != title else title or _("Request refused")


# --- money input --------------------------------------------------------------------------------


def parse_cents(raw: str | None, *, allow_zero: bool = False) -> int | None:
    """'12,50', '12.50' or '12' euros as cents; None when it is not an amount in range."""
    text = (raw or "").strip().replace("\u202f", "").replace("\u00a0", "").replace(" ", "").replace("€", "").replace(",", ".")
    if not text or not re.fullmatch(r"\d{1,12}(\.\d{1,2})?", text):
        return None
    try:
        cents = int(Decimal(text) * 100)
    except InvalidOperation:
        return None
    if cents > MAX_MINOR or (cents == 0 and not allow_zero):
        return None
    return cents


def parse_points(raw: str | None) -> int | None:
    text = (raw or "").strip().replace("\u202f", "").replace(" ", "")
    if not re.fullmatch(r"\d{1,12}", text):
        return None
    value = int(text)
    return value if value > 0 else None


# --- QR codes and branding ------------------------------------------------------------------------


def qr_svg(text: str, *, scale: int = 4) -> SafeString:
    """An inline SVG QR code of `text` (a card number, a voucher code): segno escapes nothing it does not make."""
    return mark_safe(segno.make(text, error="m").svg_inline(scale=scale, omitsize=True))


_COLOR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")


def branding(program: Any) -> dict[str, str]:
    """The program's colour and logo, only in forms safe to put in a style attribute or an img src."""
    color = getattr(program, "brand_color", "") or ""
    logo = getattr(program, "brand_logo_url", "") or ""
    return {
        "color": color if _COLOR_RE.match(color) else "#1f6f5c",
        "logo": logo if logo.startswith(("https://", "http://", "/")) and not logo.startswith("//") else "",
    }
