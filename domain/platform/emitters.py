"""One call per emitting site: the event's object as receivers see it, its version, its owner.

Billing and coaching call these inside their own units of work, one line each, so that the
sites are easy to find again (`grep -rn "emitters\\." domain`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.shared.events import Enqueues, emit, version_of


def payment(uow: Enqueues, type_: str, p: Any, at: datetime) -> str:
    """payment.succeeded / payment.refunded / payment.failed about one payment record."""
    obj = {
        "object": "payment",
        "kind": p.kind,
        "item_id": p.item_id,
        "item_name": p.item_name,
        "credits": p.credits,
        "amount_cents": p.amount_cents,
        "currency": p.currency,
        "status": p.status,
        "refunded_cents": p.refunded_cents,
        "created_at": p.created_at,
    }
    # version: the time of the change (refunds do not move updated_at; each emit is under the row lock)
    return emit(uow, type_, user_id=p.user_id, object_id=p.id, obj=obj, version=version_of(at), at=at)


def invoice_failed(
    uow: Enqueues,
    user_id: str,
    invoice_id: str,
    payment_id: str | None,
    amount_cents: int,
    currency: str,
    attempt: int,
    at: datetime,
) -> str:
    """payment.failed for one attempt at a subscription invoice (version: the attempt number)."""
    obj = {
        "object": "invoice_attempt",
        "payment_id": payment_id,
        "amount_cents": amount_cents,
        "currency": currency,
        "attempt": attempt,
    }
    return emit(uow, "payment.failed", user_id=user_id, object_id=invoice_id, obj=obj, version=attempt, at=at)


def subscription(uow: Enqueues, s: Any, at: datetime) -> str:
    obj = {
        "object": "subscription",
        "plan_id": s.plan_id,
        "status": s.status,
        "current_period_start": s.current_period_start,
        "current_period_end": s.current_period_end,
        "cancel_at_period_end": s.cancel_at_period_end,
    }
    return emit(
        uow, "subscription.updated", user_id=s.user_id, object_id=s.provider_id, obj=obj, version=s.version, at=at
    )


def task(uow: Enqueues, t: Any, at: datetime) -> str:
    """task.succeeded / task.failed, from the task's final status."""
    obj = {
        "object": "task",
        "type": t.type,
        "workspace_id": t.workspace_id,
        "status": t.status,
        "credits_held": t.credits_held,
        "error": t.error,
        "finished_at": t.finished_at,
    }
    type_ = "task.succeeded" if t.status.value == "succeeded" else "task.failed"
    return emit(uow, type_, user_id=t.owner_id, object_id=t.id, obj=obj, version=version_of(t.updated_at), at=at)


def invitation(uow: Enqueues, i: Any, invitee_id: str, workspace_name: str, at: datetime) -> str:
    """workspace.invitation, told to the invitee (an address with an account) once per invitation."""
    obj = {
        "object": "invitation",
        "workspace_id": i.workspace_id,
        "workspace_name": workspace_name,
        "role": i.role,
        "expires_at": i.expires_at,
    }
    return emit(uow, "workspace.invitation", user_id=invitee_id, object_id=i.id, obj=obj, version=1, at=at)
