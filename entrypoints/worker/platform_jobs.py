"""Jobs of issue 22: the outbox relay, the event fan-out, webhook delivery and its sweep, emails."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from domain.shared.outbox import purge_sent, relay_pending

if TYPE_CHECKING:
    from entrypoints.container import Container
    from entrypoints.platform_wiring import PlatformEvents


SENT_KEPT = timedelta(days=7)


def _platform(container: Container) -> PlatformEvents:
    return container.platform_events


def outbox_relay(container: Container, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Send what the committing processes could not (the queue was down, a crash after commit),
    then forget rows sent more than a week ago. Outbox times are the machine's clock, not the
    domain's (a test's manual clock never moves the relay)."""
    now = datetime.now(UTC)
    sent = relay_pending(container.uow, container.queue, now)  # type: ignore[arg-type]
    return {"sent": sent, "purged": purge_sent(container.uow, now - SENT_KEPT)}  # type: ignore[arg-type]


def platform_event(container: Container, payload: Mapping[str, Any]) -> dict[str, Any]:
    event = payload["event"]
    created = _platform(container).fan_out.handle(str(payload["user_id"]), event)
    return {"event_id": event["id"], "messages": created}


def webhooks_deliver(container: Container, payload: Mapping[str, Any]) -> dict[str, Any]:
    message_id = str(payload["message_id"])
    return {"message_id": message_id, "outcome": _platform(container).webhooks.deliver(message_id)}


def webhooks_sweep(container: Container, payload: Mapping[str, Any]) -> dict[str, Any]:
    return {"queued": _platform(container).webhooks.sweep()}


def notifications_email(container: Container, payload: Mapping[str, Any]) -> dict[str, Any]:
    notification_id = str(payload["notification_id"])
    return {"notification_id": notification_id, "sent": _platform(container).notifications.send_email(notification_id)}


def notifications_low_balance_rearm(container: Container, payload: Mapping[str, Any]) -> dict[str, Any]:
    _platform(container).notifications.rearm_low_balance(str(payload["user_id"]))
    return {"user_id": payload["user_id"]}


def notifications_new_login(container: Container, payload: Mapping[str, Any]) -> dict[str, Any]:
    sent = _platform(container).notifications.new_login(
        str(payload["user_id"]), str(payload["attempt_id"]), payload.get("ip"), payload.get("user_agent")
    )
    return {"notified": sent}


def credits_announce_expiring(container: Container, payload: Mapping[str, Any]) -> dict[str, Any]:
    from domain.platform.expiring import announce_expiring

    return {"announced": announce_expiring(container.uow, container.clock)}


def notifications_announce_renewals(container: Container, payload: Mapping[str, Any]) -> dict[str, Any]:
    from domain.platform.renewals import announce_renewals

    notified = announce_renewals(
        container.uow,  # type: ignore[arg-type]
        _platform(container).notifications,
        container.clock,
        notice_days=container.settings.subscription_renewal_notice_days,
    )
    return {"notified": notified}


def platform_retention(container: Container, payload: Mapping[str, Any]) -> dict[str, Any]:
    from domain.platform.retention import RetentionPolicy, sweep_retention

    settings = container.settings
    policy = RetentionPolicy(
        platform_events=timedelta(days=settings.retention_platform_events_days),
        webhook_attempts=timedelta(days=settings.retention_webhook_attempts_days),
        read_notifications=timedelta(days=settings.retention_read_notifications_days),
        batch=settings.retention_batch_size,
    )
    return sweep_retention(container.uow, container.clock, policy)  # type: ignore[arg-type]


JOBS: Mapping[str, Callable[[Container, Mapping[str, Any]], dict[str, Any]]] = {
    "outbox.relay": outbox_relay,
    "platform.event": platform_event,
    "webhooks.deliver": webhooks_deliver,
    "webhooks.sweep": webhooks_sweep,
    "notifications.email": notifications_email,
    "notifications.low_balance_rearm": notifications_low_balance_rearm,
    "notifications.new_login": notifications_new_login,
    "credits.announce_expiring": credits_announce_expiring,
    "notifications.announce_renewals": notifications_announce_renewals,
    "platform.retention": platform_retention,
}
