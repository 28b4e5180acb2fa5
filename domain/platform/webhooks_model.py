"""Outgoing webhooks: endpoints, messages (one event for one endpoint) and the delivery log."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any


class EndpointStatus(str, Enum):
    ENABLED = "enabled"
    DISABLED = "disabled"


class MessageStatus(str, Enum):
    PENDING = "pending"  # to be tried at next_attempt_at
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # retries used up, or the endpoint answered 410
    BACKLOG = "backlog"  # kept while its endpoint is disabled; sent when it is enabled again


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """Retry schedule (seconds after each failed attempt; one retry per entry), the failing
    period after which an endpoint is disabled, the rotation overlap, and the bounds."""

    retry_schedule: tuple[int, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    jitter: float = 0.2  # each wait is stretched or shrunk by up to 20 %
    disable_after: timedelta = timedelta(days=5)
    rotation_overlap: timedelta = timedelta(hours=24)
    backlog_max: int = 1000  # messages kept per disabled endpoint; the oldest go first
    replay_max: int = 1000  # events re-sent by one replay
    endpoints_per_user: int = 20

    def next_wait(self, failed_attempts: int, rng: random.Random | None = None) -> float | None:
        """Seconds to wait after the `failed_attempts`-th failure, or None when retries are used up."""
        if failed_attempts > len(self.retry_schedule):
            return None
        base = self.retry_schedule[failed_attempts - 1]
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return max(1.0, base * (1 + spread))


@dataclass(slots=True)
class Endpoint:
    id: str
    user_id: str
    url: str
    events: tuple[str, ...]
    description: str
    status: EndpointStatus
    secret: str
    created_at: datetime
    updated_at: datetime
    disabled_reason: str | None = None
    previous_secret: str | None = None
    previous_valid_until: datetime | None = None
    failing_since: datetime | None = None
    failing_notified: bool = False

    def wants(self, event_type: str) -> bool:
        return event_type in self.events

    def signing_secrets(self, now: datetime) -> list[str]:
        """The current secret, plus the previous one while its overlap lasts."""
        secrets = [self.secret]
        if self.previous_secret and self.previous_valid_until and self.previous_valid_until > now:
            secrets.append(self.previous_secret)
        return secrets


@dataclass(slots=True)
class Message:
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    dedupe_key: str
    status: MessageStatus
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Attempt:
    id: str
    endpoint_id: str
    message_id: str
    event_id: str
    event_type: str
    attempt: int
    status_code: int | None
    duration_ms: int
    error: str | None
    response: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: str
    user_id: str
    type: str
    body: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one HTTP attempt gave: a status (None when no answer), the time it took, an error
    (connection refused, timeout, refused address, redirect...), the start of the response body."""

    status_code: int | None
    duration_ms: int
    error: str | None = None
    response: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
