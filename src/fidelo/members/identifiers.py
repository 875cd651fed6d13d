"""Card numbers, e-mail and phone normalisation."""

import secrets

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from fidelo.members.errors import InvalidMemberData

CARD_DIGITS = 12  # 11 random digits and a Luhn check digit, easy to type at a till


def luhn_check_digit(digits: str) -> str:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def new_card_number() -> str:
    body = str(secrets.randbelow(9 * 10 ** (CARD_DIGITS - 2)) + 10 ** (CARD_DIGITS - 2))
    return body + luhn_check_digit(body)


def is_valid_card_number(card: str) -> bool:
    return card.isdigit() and len(card) >= 2 and luhn_check_digit(card[:-1]) == card[-1]


def normalize_email(email: str | None) -> str:
    if not email:
        return ""
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise InvalidMemberData(f"Invalid email address: {email!r}", code="invalid_email", field="email") from exc
    return email


def normalize_phone(phone: str | None, default_region: str = "FR") -> str:
    """E.164 form ('06 12 34 56 78' in France gives '+33612345678')."""
    if not phone:
        return ""
    try:
        parsed = phonenumbers.parse(phone.strip(), default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidMemberData(f"Invalid phone number: {phone!r}", code="invalid_phone", field="phone") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidMemberData(f"Invalid phone number: {phone!r}", code="invalid_phone", field="phone")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def region_of_locale(locale: str) -> str:
    return {"fr": "FR", "en": "GB"}.get(locale.split("-")[0].lower(), "FR")
