"""Schemas shared by several areas. Each area keeps its own schemas next to its resources."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import marshmallow as ma

from domain.shared.idempotency import KEY_PATTERN, MAX_KEY_LENGTH
from domain.shared.pagination import CURSOR_MAX_LENGTH, MAX_PAGE, Page

T = TypeVar("T")


class StatusSchema(ma.Schema):
    status = ma.fields.String(required=True)
    checks = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())


class UtcDateTime(ma.fields.DateTime):
    """ISO 8601 in UTC with a Z suffix."""

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def page_schema(item: type[ma.Schema], name: str) -> type[ma.Schema]:
    """`{"items": [...], "next_cursor": "..." | null}` for one item schema."""
    return ma.Schema.from_dict(
        {
            "items": ma.fields.List(ma.fields.Nested(item), required=True),
            "next_cursor": ma.fields.String(required=True, allow_none=True),
        },
        name=name,
    )


def page_body(page: Page[T], view: Callable[[T], Any], **extra: Any) -> dict[str, Any]:
    """A page as API.md's `{"items": [...], "next_cursor": ...}` (plus `extra`), each item through
    `view`. A route whose items the page schema dumps as they are returns the Page itself."""
    return {"items": [view(item) for item in page.items], "next_cursor": page.next_cursor, **extra}


class PageArgsSchema(ma.Schema):
    # Query values arrive as text, so not strict=True; "2.7" and "x" are still refused.
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=MAX_PAGE))
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Length(min=1, max=CURSOR_MAX_LENGTH))


# --- the Idempotency-Key header: one definition for every route that takes it (issue 26) -----------
IDEMPOTENCY_KEY_DESCRIPTION = "A retry with the same key and body returns the first answer, charged once"


def _idempotency_key(*, required: bool) -> ma.fields.String:
    """1-255 printable ASCII (API.md), checked again by domain.shared.idempotency.check_key."""
    presence: dict[str, Any] = {"required": True} if required else {"load_default": None}
    return ma.fields.String(
        data_key="Idempotency-Key",
        validate=[ma.validate.Length(min=1, max=MAX_KEY_LENGTH), ma.validate.Regexp(KEY_PATTERN)],
        metadata={"description": IDEMPOTENCY_KEY_DESCRIPTION},
        **presence,
    )


class IdempotencyKeyHeaderSchema(ma.Schema):
    """`Idempotency-Key` on a route that requires one (a charge, an admin adjustment)."""

    class Meta:
        unknown = ma.EXCLUDE

    idempotency_key = _idempotency_key(required=True)


class OptionalIdempotencyKeyHeaderSchema(ma.Schema):
    """`Idempotency-Key` on a route where it is optional (`idempotency_key` is None without one)."""

    class Meta:
        unknown = ma.EXCLUDE

    idempotency_key = _idempotency_key(required=False)
