"""The `platform.event` job: one emitted event fanned out to webhooks and notifications, in one
transaction, once (every write below is keyed on the event id, so a second run adds nothing).

| event                 | webhook | notification (type, once per)                                  |
| --------------------- | ------- | -------------------------------------------------------------- |
| payment.succeeded     | yes     | payment_succeeded, per payment                                 |
| payment.failed        | yes     | payment_failed, per payment or invoice attempt (the event id)   |
| payment.refunded      | yes     | -                                                              |
| subscription.updated  | yes     | subscription_cancelled, once per subscription and period end    |
| credits.low_balance   | yes     | low_balance, armed again only by the ledger's re-arm job (the   |
|                       |         | balance back at LOW_BALANCE_REARM) and after the cooldown       |
| credits.expiring      | yes     | credits_expiring, per grant and window (7 d, 1 d)              |
| task.succeeded/failed | yes     | task_finished, per task                                        |
| workspace.invitation  | yes     | workspace_invitation, per invitation (issue 23)                |
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from domain.platform.notifications import Notifications
from domain.platform.webhooks import Webhooks
from domain.platform.webhooks_ports import PlatformEventsUnitOfWork
from domain.shared.uow import transaction


class EventFanOut:
    def __init__(
        self, *, uow: Callable[[], PlatformEventsUnitOfWork], webhooks: Webhooks, notifications: Notifications
    ) -> None:
        self._uow = uow
        self._webhooks = webhooks
        self._notifications = notifications

    def handle(self, user_id: str, body: Mapping[str, Any]) -> int:
        """Returns the number of webhook messages created."""

        def work(uow: PlatformEventsUnitOfWork) -> int:
            count = self._webhooks.fan_out(uow, user_id, body)
            self._notify(uow, user_id, body)
            return count

        return transaction(self._uow, work)

    def _notify(self, uow: PlatformEventsUnitOfWork, user_id: str, body: Mapping[str, Any]) -> None:
        type_ = body["type"]
        obj: Mapping[str, Any] = body.get("data", {}).get("object", {})
        oid = str(obj.get("id"))
        notify = self._notifications.notify
        if type_ == "payment.succeeded":
            notify(
                uow,
                user_id,
                "payment_succeeded",
                title="Payment received",
                body=f"Thank you: {_money(obj)} paid for {obj.get('item_name') or 'your purchase'}; "
                f"{obj.get('credits', 0)} credits were added.",
                dedupe_key=oid,
                data={"payment_id": oid},
            )
        elif type_ == "payment.failed":
            notify(
                uow,
                user_id,
                "payment_failed",
                title="A payment failed",
                body=f"Your payment of {_money(obj)} did not go through. Please check your payment method.",
                dedupe_key=str(body["id"]),
                data={"payment_id": oid},
            )
        elif type_ == "subscription.updated" and (obj.get("cancel_at_period_end") or obj.get("status") == "canceled"):
            notify(
                uow,
                user_id,
                "subscription_cancelled",
                title="Your subscription is cancelled",
                body=f"Your {obj.get('plan_id')} plan ends on {obj.get('current_period_end') or 'its period end'}.",
                dedupe_key=f"{oid}:{obj.get('current_period_end')}",
                data={"plan_id": obj.get("plan_id")},
            )
        elif type_ == "credits.low_balance":
            self._notifications.low_balance(uow, user_id, int(obj.get("available", 0)), str(body["id"]))
        elif type_ == "credits.expiring":
            notify(
                uow,
                user_id,
                "credits_expiring",
                title="Credits expire soon",
                body=f"{obj.get('remaining')} credits expire on {obj.get('expires_at')}.",
                dedupe_key=f"{oid}:{obj.get('window')}",
                data={"grant_id": oid},
            )
        elif type_ in ("task.succeeded", "task.failed"):
            done = "finished" if type_ == "task.succeeded" else "failed"
            notify(
                uow,
                user_id,
                "task_finished",
                title=f"Your task {done}",
                body=f"Task {oid} ({obj.get('type')}) {done}.",
                dedupe_key=oid,
                data={"task_id": oid, "status": obj.get("status")},
            )
        elif type_ == "workspace.invitation":
            notify(
                uow,
                user_id,
                "workspace_invitation",
                title=f"You are invited to {obj.get('workspace_name')}",
                body=f"You were invited as {obj.get('role')}; accept or decline before {obj.get('expires_at')}.",
                dedupe_key=oid,
                data={"invitation_id": oid, "workspace_id": obj.get("workspace_id")},
            )


def _money(obj: Mapping[str, Any]) -> str:
    cents, currency = obj.get("amount_cents"), str(obj.get("currency") or "").upper()
    if not isinstance(cents, int):
        return "your payment"
    return f"{cents // 100}.{cents % 100:02d} {currency}".strip()
