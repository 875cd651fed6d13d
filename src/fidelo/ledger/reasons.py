"""Why an entry happened, in words a member can read (French and English).

Transfers store a reason code and its parameters; the text is rendered in the reader's
language when the history is read, so a member sees their own language.
"""

from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from fidelo.core.money import format_money

REASONS = {
    "purchase": _("Purchase of %(amount)s at %(store)s"),
    "purchase_online": _("Online purchase of %(amount)s"),
    "purchase_pending": _("Purchase of %(amount)s at %(store)s (pending until %(available_on)s, the return period)"),
    "purchase_online_pending": _("Online purchase of %(amount)s (pending until %(available_on)s, the return period)"),
    "release": _("Points from your purchase of %(earned_on)s are now available"),
    "refund": _("Refund of %(amount)s on your purchase of %(earned_on)s"),
    "redemption": _("Redeemed: %(label)s"),
    "expiry": _("Points earned on %(earned_on)s expired"),
    "adjustment": _("Adjustment by %(actor)s: %(note)s"),
    "transfer_out": _("Transfer to %(name)s"),
    "transfer_in": _("Transfer from %(name)s"),
    "restore": _("Points given back: %(label)s"),
    "bonus": _("Bonus: %(label)s"),
    "subscription_payment": _("Subscription payment of %(amount)s"),
    "bonus_reversal": _("Bonus taken back after a refund: %(label)s"),
    "event_cancelled": _("Points taken back: %(label)s was cancelled"),
    "wallet_credit": _("Wallet credit: %(label)s"),
    "wallet_spend": _("Paid %(amount)s with your wallet at %(store)s"),
    "referral_referrer": _("Referral: %(name)s made their first purchase"),
    "referral_referee": _("Welcome bonus: you joined with %(name)s's referral"),
    "referral_reversed": _("Referral bonus taken back: the purchase was refunded (%(name)s)"),
}


def render_reason(code: str, params: dict, note: str = "") -> str:
    template = REASONS.get(code)
    if template is None:
        return note or code
    values = {"note": note, **params}
    if "label_en" in params and (get_language() or "fr").startswith("en"):
        values["label"] = params["label_en"]  # reward titles are kept in both languages
    if "amount_minor" in params:
        values["amount"] = format_money(int(params["amount_minor"]), params.get("currency", "EUR"))
    try:
        return str(template) % _Defaulting(values)
    except (TypeError, ValueError):
        return note or code


class _Defaulting(dict):
    def __missing__(self, key: str) -> str:
        return "?"
