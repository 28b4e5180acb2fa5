"""The `platform.retention` sweep: what would otherwise grow forever is deleted once old enough.

| what                             | deleted when older than (by)                          | never deleted while          |
| -------------------------------- | ----------------------------------------------------- | ---------------------------- |
| `platform_events` (replay store) | `RETENTION_PLATFORM_EVENTS_DAYS` (90), `created_at`   | a pending or backlog webhook message still needs its body |
| finished `webhook_messages`      | `RETENTION_PLATFORM_EVENTS_DAYS` (90), `created_at`   | their event is still stored (a replay could reach it: the dedupe key keeps it once) |
| `webhook_attempts` (the log)     | `RETENTION_WEBHOOK_ATTEMPTS_DAYS` (30), `created_at`  | - (history only)             |
| read notifications               | `RETENTION_READ_NOTIFICATIONS_DAYS` (90), `read_at`   | unread: never deleted        |

Bounded batches: each batch is its own short transaction that selects at most
`RETENTION_BATCH_SIZE` (500) ids by an index on the age column and deletes those rows by
primary key, so a backlog of millions is worked off in many small locks rather than one long
one, and a crash or a concurrent run loses nothing (a row deleted twice is deleted once). A run
stops at `max_batches` per table and the next day's run goes on.

Not touched: the outbox (its relay forgets sent rows after a week and never an unsent one),
pending and backlog webhook messages, unread notifications, email-only notifications (kept for
their dedupe key), audit and login history.
`POST /v1/webhook-endpoints/{id}/replay {since}` reaches back as far as events are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from domain.platform.webhooks_ports import PlatformEventsUnitOfWork
from domain.shared.clock import Clock
from domain.shared.uow import transaction


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    platform_events: timedelta = timedelta(days=90)
    webhook_attempts: timedelta = timedelta(days=30)
    read_notifications: timedelta = timedelta(days=90)
    batch: int = 500
    max_batches: int = 2000  # per table and run: a million rows a day at the default batch


def sweep_retention(
    uow: Callable[[], PlatformEventsUnitOfWork], clock: Clock, policy: RetentionPolicy
) -> dict[str, int]:
    """Delete what each window lets go, batch by batch; return the rows deleted per table."""
    now = clock.now()
    purges: dict[str, Callable[[PlatformEventsUnitOfWork], int]] = {
        "platform_events": lambda u: u.webhooks.purge_events(now - policy.platform_events, policy.batch),
        "webhook_messages": lambda u: u.webhooks.purge_messages(now - policy.platform_events, policy.batch),
        "webhook_attempts": lambda u: u.webhooks.purge_attempts(now - policy.webhook_attempts, policy.batch),
        "read_notifications": lambda u: u.notifications.purge_read(now - policy.read_notifications, policy.batch),
    }
    deleted: dict[str, int] = {}
    for name, purge in purges.items():
        deleted[name] = 0
        for _ in range(policy.max_batches):
            count = transaction(uow, purge)
            deleted[name] += count
            if count < policy.batch:
                break
    return deleted
