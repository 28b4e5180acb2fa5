"""Reading the provider's event objects (Stripe, API version 2026-07-29.dahlia) without trusting them.

Every accessor tolerates a missing or mistyped field (it returns None), so a signed but odd event
fails one handler visibly instead of crashing on a KeyError somewhere. Only ids, statuses,
timestamps and amounts the provider is the authority on are read here; credits never are.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from domain.billing.errors import InvalidEvent

API_VERSION = "2026-07-29.dahlia"


def check_event(event: Mapping[str, Any]) -> None:
    """The minimum every stored event has: an id, a type, a creation time and a data.object."""
    ok = (
        isinstance(event.get("id"), str)
        and 1 <= len(event["id"]) <= 255
        and isinstance(event.get("type"), str)
        and 1 <= len(event["type"]) <= 100
        and _is_int(event.get("created"))
        and isinstance(event.get("data"), Mapping)
        and isinstance(event["data"].get("object"), Mapping)
    )
    if not ok:
        raise InvalidEvent("The body is signed but is not a provider event.")


def obj(event: Mapping[str, Any]) -> Mapping[str, Any]:
    data: Mapping[str, Any] = event["data"]["object"]
    return data


def text(value: Any, *path: str) -> str | None:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    if isinstance(value, Mapping):  # an expanded object: take its id
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def integer(value: Any, *path: str) -> int | None:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return int(value) if _is_int(value) else None


def timestamp(value: Any, *path: str) -> datetime | None:
    seconds = integer(value, *path)
    return datetime.fromtimestamp(seconds, tz=UTC) if seconds is not None else None


def metadata(value: Mapping[str, Any]) -> Mapping[str, str]:
    meta = value.get("metadata")
    if not isinstance(meta, Mapping):
        return {}
    return {str(k): str(v) for k, v in meta.items() if isinstance(v, str)}


def first_item(subscription: Mapping[str, Any]) -> Mapping[str, Any]:
    items = subscription.get("items")
    data = items.get("data") if isinstance(items, Mapping) else None
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        return data[0]
    return {}


def invoice_subscription(invoice: Mapping[str, Any]) -> str | None:
    """Current API versions put it under parent.subscription_details; older ones at the top."""
    return text(invoice, "parent", "subscription_details", "subscription") or text(invoice, "subscription")


def invoice_metadata(invoice: Mapping[str, Any]) -> Mapping[str, str]:
    details = invoice.get("parent")
    details = details.get("subscription_details") if isinstance(details, Mapping) else None
    return metadata(details) if isinstance(details, Mapping) else {}


def invoice_lines(invoice: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    lines = invoice.get("lines")
    data = lines.get("data") if isinstance(lines, Mapping) else None
    return [line for line in data if isinstance(line, Mapping)] if isinstance(data, list) else []


def invoice_period_end(invoice: Mapping[str, Any]) -> datetime | None:
    """The end of the service period the invoice pays for: the latest line period end."""
    ends = [timestamp(line, "period", "end") for line in invoice_lines(invoice)]
    known = [end for end in ends if end is not None]
    return max(known) if known else None


def invoice_price(invoice: Mapping[str, Any]) -> str | None:
    """The plan's price the invoice pays a period of: the line that is not a proration and ends
    last (after a plan change the invoice also carries proration lines for the old plan)."""
    best: tuple[bool, int, str] | None = None
    for line in invoice_lines(invoice):
        price = text(line, "pricing", "price_details", "price") or text(line, "price")
        if not price:
            continue
        proration = line.get("proration") is True or (
            isinstance(line.get("parent"), Mapping)
            and (line["parent"].get("subscription_item_details") or {}).get("proration") is True
        )
        candidate = (not proration, integer(line, "period", "end") or 0, price)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    return best[2] if best else None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
