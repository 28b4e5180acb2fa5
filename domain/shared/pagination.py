"""Keyset pages: `{items, next_cursor}` with opaque cursors, never OFFSET."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from domain.shared.errors import InvalidInput
from domain.shared.untrusted import INT64_MAX, INT64_MIN, loads_untrusted

T = TypeVar("T")
MAX_PAGE = 200
CURSOR_MAX_LENGTH = 200  # a longer cursor is not one this API gave


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def page_of(rows: list[T], limit: int, position: Callable[[T], Any]) -> Page[T]:
    """The page of `limit` items from `rows` (fetched with limit + 1: one more says there is a next
    page), whose cursor holds `position` of the last item shown. Every keyset list builds its page here."""
    more = len(rows) > limit
    items = rows[:limit]
    return Page(items=items, next_cursor=encode_cursor(position(items[-1])) if more and items else None)


def encode_cursor(position: Any) -> str:
    raw = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def bad_cursor() -> InvalidInput:
    return InvalidInput("The cursor is not valid.", details={"cursor": "Not a cursor this API gave."})


def decode_cursor(cursor: str) -> Any:
    """The position a cursor holds. A cursor is client input: a forged one is `InvalidInput`, never a
    crash. Beyond valid base64 and JSON, the decoder refuses lone surrogates, deep nesting, and any
    integer outside signed 64 bits (what SQLite and BIGINT columns hold), for every cursor of the API.
    Timestamps inside a cursor go through `cursor_datetime`."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = loads_untrusted(base64.urlsafe_b64decode(padded.encode("ascii")), max_depth=4)
    except (binascii.Error, ValueError):  # UntrustedInput and UnicodeError are ValueErrors
        raise bad_cursor() from None
    values = position.values() if isinstance(position, dict) else position if isinstance(position, list) else [position]
    for value in values:
        if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
            raise bad_cursor()
    return position


def id_position(item: Any) -> dict[str, Any]:
    """The position of an item in a list ordered by id alone: what `id_cursor` reads back."""
    return {"id": item.id}


def id_cursor(cursor: str | None) -> str | None:
    """The id a `{"id": ...}` cursor points after (None: the first page)."""
    if cursor is None:
        return None
    position = decode_cursor(cursor)
    key_id = position.get("id") if isinstance(position, dict) else None
    if not isinstance(key_id, str):
        raise bad_cursor()
    return key_id


def seq_cursor(cursor: str | None) -> int | None:
    """The sequence number a `{"seq": ...}` cursor points after (None: the first page)."""
    if cursor is None:
        return None
    position = decode_cursor(cursor)
    seq = position.get("seq") if isinstance(position, dict) else None
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise bad_cursor()
    return seq


def cursor_datetime(value: Any) -> datetime:
    """An aware UTC datetime from a cursor's ISO 8601 text, or `InvalidInput`: naive times, garbage,
    and times that leave the calendar once moved to UTC (`9999-12-31T23:59:59-14:00`) are refused."""
    if not isinstance(value, str) or len(value) > 40:
        raise bad_cursor()
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise bad_cursor()
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise bad_cursor() from None


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(
            f"limit must be between 1 and {MAX_PAGE}.", details={"limit": f"Must be between 1 and {MAX_PAGE}."}
        )
    return limit
