"""Billing's jobs (its CLI command, `houston billing reconcile`, is in commands.py).

- `billing.handle_event` {event_id}: act on one stored provider event. Enqueued by the webhook
  (after the event is stored) with retries and backoff; a failure leaves the event `failed` with
  its error, raises, and the queue tries again.
- `billing.reconcile` {since?: ISO time}: the daily reconciliation (see
  domain/billing/services/reconcile.py); scheduled daily at 03:20 UTC in schedule.py.
- `houston billing reconcile [--since 30d]`: the same from the shell (default: BILLING_RECONCILE_WINDOW_DAYS), with a readable report.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from domain.billing.services import BillingService

if TYPE_CHECKING:
    from entrypoints.container import Container

_SINCE = re.compile(r"^(\d{1,4})([dhm])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def _billing(container: Container) -> BillingService:
    return container.billing


def handle_event(container: Container, payload: Mapping[str, Any]) -> dict[str, Any]:
    event_id = payload.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        raise ValueError(f"event_id must be a non-empty string, got {event_id!r}")
    return {"event_id": event_id, "status": _billing(container).handle_event(event_id)}


def reconcile(container: Container, payload: Mapping[str, Any]) -> dict[str, Any]:
    since = payload.get("since")
    start = datetime.fromisoformat(since) if isinstance(since, str) else None
    report = _billing(container).reconcile(since=start)
    summary = asdict(report)
    summary["since"] = report.since.isoformat()
    return summary


def parse_since(text: str, now: datetime) -> datetime:
    """`3d`, `12h`, `90m`, or an ISO 8601 time (UTC when it carries no offset)."""
    match = _SINCE.match(text.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--since must look like 3d, 12h, 90m or an ISO time, got {text!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
