"""Keyset cursors of the API's lists (ordered by a column and the primary key)."""

import base64
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from fidelo.core.errors import ValidationFailed


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
