"""Events told to the outside world (outgoing webhooks, notifications): `emit` in the changing transaction.

`emit(uow, type, ...)` writes one outbox job, `platform.event`, in the unit of work that makes the
change, so an event exists exactly when its change committed. The job fans the event out to the
owner's webhook endpoints and notifications (domain/platform/fanout.py).

The event id is derived from (type, object id, version), never drawn at random: a use case that
runs twice for the same change (a redelivered provider event, a retried job) emits the same id,
and every consumer (the fan-out, a receiver keyed on `webhook-id`) drops the repeat.

`version` is the object's version: a number that grows with every change of the object, so a
receiver keeps the highest it has seen instead of trusting the order of arrival. Objects without
a version counter use their `updated_at` in microseconds since the epoch (`version_of`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from domain.shared.jobs import Job

FAN_OUT_JOB = "platform.event"

# The event catalogue: type -> what happened (also served in the OpenAPI description).
EVENT_TYPES: Mapping[str, str] = {
    "payment.succeeded": "A payment was paid; its credits were granted. object: the payment.",
    "payment.refunded": "A payment was refunded (in part or in full). object: the payment.",
    "payment.failed": "A payment or a renewal invoice failed. object: the payment or the invoice attempt.",
    "subscription.updated": "A subscription changed (plan, status, period, cancellation). object: the subscription.",
    "credits.low_balance": "The available balance fell below the low-balance threshold. object: the balance.",
    "credits.expiring": "A grant's credits expire within 7 days (and again within 1 day). object: the grant.",
    "task.succeeded": "An AI task finished with a result. object: the task.",
    "task.failed": "An AI task failed; its held credits were released. object: the task.",
    "workspace.invitation": "You were invited into a workspace (issue 23). object: the invitation.",
}
TEST_EVENT = "webhook.test"


class Enqueues(Protocol):
    def enqueue(self, job: Job) -> None: ...


def event_id(type_: str, object_id: str, version: int | str) -> str:
    digest = hashlib.sha256(f"{type_}\x00{object_id}\x00{version}".encode()).hexdigest()[:32]
    return f"evt_{digest}"


def version_of(updated_at: datetime) -> int:
    return int(updated_at.astimezone(UTC).timestamp() * 1_000_000)


def emit(
    uow: Enqueues,
    type_: str,
    *,
    user_id: str,
    object_id: str,
    obj: Mapping[str, Any],
    version: int,
    at: datetime,
) -> str:
    """Write the event `type_` about `obj` (owned by `user_id`) to the outbox of `uow`; return its id."""
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_!r}")
    new_id = event_id(type_, object_id, version)
    body = {
        "type": type_,
        "id": new_id,
        "created_at": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": {"object": {**_json_safe(obj), "id": object_id}, "version": version},
    }
    uow.enqueue(Job(FAN_OUT_JOB, {"user_id": user_id, "event": body}, job_id=f"event-{new_id}"))
    return new_id


LOW_BALANCE_REARM_JOB = "notifications.low_balance_rearm"
NEW_LOGIN_JOB = "notifications.new_login"


def balance_crossed(
    uow: Enqueues,
    account_id: str,
    before: int,
    after: int,
    balance: int,
    at: datetime,
    *,
    threshold: int,
    rearm_at: int,
) -> None:
    """Called by the ledger with the available credits before and after a change of `account_id`
    (the user's id): a fall below `threshold` is the event `credits.low_balance`; a rise to
    `rearm_at` or more re-arms the low-balance notice (hysteresis, domain/platform/notifications.py)."""
    if before >= threshold > after:
        obj = {"object": "balance", "available": after, "balance": balance, "threshold": threshold}
        emit(
            uow, "credits.low_balance", user_id=account_id, object_id=account_id, obj=obj, version=version_of(at), at=at
        )
    elif before < rearm_at <= after:
        uow.enqueue(Job(LOW_BALANCE_REARM_JOB, {"user_id": account_id}, job_id=f"rearm-{account_id}-{version_of(at)}"))


def signed_in(uow: Enqueues, user_id: str, attempt_id: str, ip: str | None, user_agent: str | None) -> None:
    """A successful sign-in: the notifier checks whether the address is new (security notice)."""
    payload = {"user_id": user_id, "attempt_id": attempt_id, "ip": ip, "user_agent": user_agent}
    uow.enqueue(Job(NEW_LOGIN_JOB, payload, job_id=f"login-{attempt_id}"))


def _json_safe(obj: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if isinstance(value, datetime):
            out[key] = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        elif hasattr(value, "value") and not isinstance(value, (int, float, str, bool)):
            out[key] = value.value  # enums
        else:
            out[key] = value
    return out
