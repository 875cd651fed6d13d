"""Money is an integer of minor units (cents) with an ISO 4217 currency code."""

from django.utils.translation import get_language

SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "CHF": "CHF"}
MAX_MINOR = 10**11  # one billion euros: anything above is refused as absurd input


def format_money(amount_minor: int, currency: str = "EUR", language: str | None = None) -> str:
    language = (language or get_language() or "fr")[:2]
    sign = "-" if amount_minor < 0 else ""
    units, cents = divmod(abs(amount_minor), 100)
    symbol = SYMBOLS.get(currency, currency)
    if language == "fr":
        grouped = f"{units:,}".replace(",", "\u202f")
        return f"{sign}{grouped},{cents:02d}\u00a0{symbol}"
    return f"{sign}{symbol}{units:,}.{cents:02d}"
