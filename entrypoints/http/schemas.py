"""Schemas shared by several areas. Each area keeps its own schemas next to its resources."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import marshmallow as ma

from domain.shared.pagination import MAX_PAGE


class StatusSchema(ma.Schema):
    status = ma.fields.String(required=True)
    checks = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())


class UtcDateTime(ma.fields.DateTime):
    """ISO 8601 in UTC with a Z suffix."""

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def page_schema(item: type[ma.Schema], name: str) -> type[ma.Schema]:
    """`{"items": [...], "next_cursor": "..." | null}` for one item schema."""
    return ma.Schema.from_dict(
        {
            "items": ma.fields.List(ma.fields.Nested(item), required=True),
            "next_cursor": ma.fields.String(required=True, allow_none=True),
        },
        name=name,
    )


class PageArgsSchema(ma.Schema):
    # Query values arrive as text, so not strict=True; "2.7" and "x" are still refused.
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=MAX_PAGE))
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Length(min=1, max=200))
