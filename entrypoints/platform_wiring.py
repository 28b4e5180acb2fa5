"""Wiring of issue 22's services (webhooks, notifications, the event fan-out), out of bootstrap.py
so that the composition root changes by one line."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from domain.platform.fanout import EventFanOut
from domain.platform.notifications import Notifications, NotificationsConfig
from domain.platform.notifications_model import LowBalancePolicy, Mailer
from domain.platform.webhooks import Webhooks
from domain.platform.webhooks_model import WebhookConfig
from domain.platform.webhooks_ports import PlatformEventsUnitOfWork, WebhookSender
from domain.shared.clock import Clock
from domain.shared.ids import IdGenerator
from entrypoints.config import Settings


@dataclass(frozen=True)
class PlatformEvents:
    webhooks: Webhooks
    notifications: Notifications
    fan_out: EventFanOut
    mailer: Mailer


def build_platform_events(
    settings: Settings,
    uow: Callable[[], Any],
    clock: Clock,
    ids: IdGenerator,
    *,
    mailer: Mailer | None = None,
    sender: WebhookSender | None = None,
) -> PlatformEvents:
    from adapters.webhooks.http_sender import GuardedHttpSender, parse_networks
    from adapters.webhooks.signing import StandardWebhookSigner

    typed_uow: Callable[[], PlatformEventsUnitOfWork] = uow
    mailer = mailer or _mailer(settings)
    notifications = Notifications(
        uow=typed_uow,
        clock=clock,
        ids=ids,
        mailer=mailer,
        config=NotificationsConfig(
            public_base_url=settings.public_base_url,
            unsubscribe_key=("unsubscribe:" + settings.jwt_secret).encode(),
            low_balance=LowBalancePolicy(
                threshold=settings.low_balance_threshold,
                rearm_at=settings.low_balance_rearm,
                cooldown=timedelta(hours=settings.low_balance_cooldown_hours),
            ),
        ),
    )
    sender = sender or GuardedHttpSender(
        allowed_networks=parse_networks(settings.webhook_allowed_networks),
        require_https=settings.is_production,
        total_timeout=settings.webhook_timeout,
    )
    webhooks = Webhooks(
        uow=typed_uow,
        clock=clock,
        ids=ids,
        signer=StandardWebhookSigner(),
        sender=sender,
        notifications=notifications,
        config=WebhookConfig(
            retry_schedule=settings.webhook_retry_schedule,
            disable_after=timedelta(days=settings.webhook_disable_after_days),
            rotation_overlap=timedelta(hours=settings.webhook_rotation_overlap_hours),
            backlog_max=settings.webhook_backlog_max,
        ),
    )
    fan_out = EventFanOut(uow=typed_uow, webhooks=webhooks, notifications=notifications)
    return PlatformEvents(webhooks=webhooks, notifications=notifications, fan_out=fan_out, mailer=mailer)


def _mailer(settings: Settings) -> Mailer:
    if settings.smtp_url:
        from adapters.email.mailer import SmtpMailer, SmtpSettings

        return SmtpMailer(SmtpSettings.from_url(settings.smtp_url), settings.email_from)
    from adapters.email.mailer import LogMailer

    return LogMailer(settings.email_from)
