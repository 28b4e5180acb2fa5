"""THE periodic schedule, and the tick that turns it into jobs exactly once per slot.

What runs when (all times UTC):

| entry                             | job                                      | when               |
| --------------------------------- | ---------------------------------------- | ------------------ |
| `release_expired_holds`           | `ledger.release_expired_holds`           | every minute       |
| `expire_grants`                   | `ledger.expire_grants`                   | every hour, at :00 |
| `grant_free_plan_monthly_credits` | `ledger.grant_free_plan_monthly_credits` | daily at 00:10     |
| `billing_reconcile`               | `billing.reconcile`                      | daily at 03:20     |
| `coaching_sweep`                  | `coaching.sweep`                         | every minute       |
| `outbox_relay`                    | `outbox.relay`                           | every minute       |
| `webhooks_sweep`                  | `webhooks.sweep`                         | every minute       |
| `announce_expiring`               | `credits.announce_expiring`              | daily at 09:00     |
| `referrals_release`               | `referrals.release_due`                  | every hour, at :00 |
| `sales_rollup`                    | `sales.rollup`                           | daily at 00:20     |
| `announce_renewals`               | `notifications.announce_renewals`        | daily at 08:00     |
| `retention`                       | `platform.retention`                     | daily at 04:40     |

The schedule is polled every 5 s, so a job is enqueued within about 5 s of its slot's start.
The free-plan grant runs daily although it grants monthly: the ledger's idempotency key makes
it once per user and month, and a daily run grants a new month within minutes of its start
and catches up within a day after an outage. It retries (1, 5, 15 min); the others do not:
their next slot comes soon enough.

Decisions:

- Slots, not timers. Time is cut into slots (epoch-aligned intervals, or the span between two
  fire times of a UTC cron string). A tick enqueues, for every entry, the job of the slot that
  contains "now", unless some scheduler already did. So a scheduler that starts, restarts or
  runs late enqueues the current slot at once, and never replays missed slots: each job acts
  on everything that is due at its own `clock.now()`, so the next run covers a missed one.
- Exactly once per slot, with any number of schedulers: the tick first claims the slot with
  `SET houston:periodic:<job id> 1 NX EX <slot length + 60 s>` (RedisSlotClaims); only the
  claimer enqueues, with `job_id=periodic-<entry>-<slot start>` and RQ's `unique=True` as a
  second guard. The claim outlives the slot, so a late tick in the same slot, even after the
  job finished and its result expired, enqueues nothing. The 60 s margin absorbs clock skew
  between hosts. If enqueueing fails, the claim is released and the next tick tries again.
- RQ's own cron (`rq.cron.CronScheduler`, beta) is not used: it enqueues with no job id and no
  leader lock (two `rq cron` processes enqueue every tick twice), its cron strings follow the
  machine's local time zone, and interval jobs fire again at every restart. Cron strings here
  are read with croniter (a dependency of rq) in UTC.
- Where the loop runs: in its own process, `houston cron`, never in the web process and not
  inside `houston worker` (an RQ worker forks a work horse per job; a ticking thread in the
  forking parent invites fork-with-threads hazards). Run `houston cron` on one host, or on two
  for availability: the slot claims make the second one harmless. Without REDIS_URL (the
  embedded default), `houston cron` claims slots in memory and runs each job inline.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from domain.shared.jobs import Job, JobQueue, RetryPolicy

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CLAIM_MARGIN_SECONDS = 60
POLL_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Periodic:
    """One schedule entry: `job_name` every `interval_seconds`, or at each UTC `cron` time."""

    name: str
    job_name: str
    interval_seconds: int | None = None
    cron: str | None = None
    retry: RetryPolicy | None = None

    def __post_init__(self) -> None:
        if (self.interval_seconds is None) == (self.cron is None):
            raise ValueError(f"{self.name}: give exactly one of interval_seconds and cron")
        if self.interval_seconds is not None and self.interval_seconds < 1:
            raise ValueError(f"{self.name}: interval_seconds must be at least 1")
        if self.cron is not None:
            from croniter import croniter

            if not croniter.is_valid(self.cron):
                raise ValueError(f"{self.name}: invalid cron string {self.cron!r}")

    def slot(self, now: datetime) -> tuple[datetime, datetime]:
        """The [start, end) slot containing `now` (aware), in UTC."""
        now = now.astimezone(UTC)
        if self.interval_seconds is not None:
            step = timedelta(seconds=self.interval_seconds)
            start = EPOCH + step * ((now - EPOCH) // step)
            return start, start + step
        return _cron_slot(str(self.cron), now)

    def job_id(self, slot_start: datetime) -> str:
        return f"periodic-{self.name}-{slot_start.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def _cron_slot(expression: str, now: datetime) -> tuple[datetime, datetime]:
    from croniter import croniter

    start: datetime = croniter(expression, now).get_prev(datetime)
    following: datetime = croniter(expression, start).get_next(datetime)
    if following <= now:  # `now` is exactly a fire time: get_prev skipped it
        start = following
    return start, croniter(expression, start).get_next(datetime)


SCHEDULE: tuple[Periodic, ...] = (
    Periodic("release_expired_holds", "ledger.release_expired_holds", interval_seconds=60),
    Periodic("expire_grants", "ledger.expire_grants", interval_seconds=3600),
    Periodic(
        "grant_free_plan_monthly_credits",
        "ledger.grant_free_plan_monthly_credits",
        cron="10 0 * * *",
        retry=RetryPolicy(max_retries=3, intervals=(60, 300, 900)),
    ),
    # Daily: the provider's events of the last BILLING_RECONCILE_WINDOW_DAYS (30, as long as
    # Stripe keeps them) against what we stored; pending events and shortfalls are retried too.
    Periodic(
        "billing_reconcile",
        "billing.reconcile",
        cron="20 3 * * *",
        retry=RetryPolicy(max_retries=3, intervals=(300, 900, 3600)),
    ),
    Periodic("coaching_sweep", "coaching.sweep", interval_seconds=60),
    Periodic("outbox_relay", "outbox.relay", interval_seconds=60),  # issue 22
    Periodic("webhooks_sweep", "webhooks.sweep", interval_seconds=60),  # issue 22
    Periodic("announce_expiring", "credits.announce_expiring", cron="0 9 * * *"),  # issue 22
    Periodic("referrals_release", "referrals.release_due", interval_seconds=3600),  # issue 24
    Periodic(
        "sales_rollup", "sales.rollup", cron="20 0 * * *", retry=RetryPolicy(max_retries=3, intervals=(300, 900, 3600))
    ),  # issue 24
    Periodic("announce_renewals", "notifications.announce_renewals", cron="0 8 * * *"),  # issue 27
    Periodic("retention", "platform.retention", cron="40 4 * * *"),  # issue 27
)


class SlotClaims(Protocol):
    def claim(self, key: str, ttl_seconds: int) -> bool:
        """True for the first caller to claim `key` until it expires, False for everyone else."""

    def release(self, key: str) -> None: ...


class LocalSlotClaims:
    """Claims held in this process: enough for one scheduler (the embedded default, tests)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._expiry: dict[str, float] = {}
        self._monotonic = monotonic
        self._lock = threading.Lock()

    def claim(self, key: str, ttl_seconds: int) -> bool:
        now = self._monotonic()
        with self._lock:
            self._expiry = {k: t for k, t in self._expiry.items() if t > now}
            if key in self._expiry:
                return False
            self._expiry[key] = now + ttl_seconds
            return True

    def release(self, key: str) -> None:
        with self._lock:
            self._expiry.pop(key, None)


def tick(schedule: Sequence[Periodic], now: datetime, queue: JobQueue, claims: SlotClaims) -> list[str]:
    """Enqueue the current slot's job of every entry nobody has claimed yet; return their job ids."""
    enqueued: list[str] = []
    for entry in schedule:
        start, end = entry.slot(now)
        job_id = entry.job_id(start)
        ttl = int((end - start).total_seconds()) + CLAIM_MARGIN_SECONDS
        if not claims.claim(job_id, ttl):
            continue
        try:
            queue.enqueue(Job(entry.job_name, {}, job_id=job_id, retry=entry.retry))
        except BaseException:
            claims.release(job_id)  # let the next tick try this slot again
            raise
        log.info("periodic job enqueued", extra={"job": entry.job_name, "job_id": job_id})
        enqueued.append(job_id)
    log.debug("periodic tick", extra={"at": now.isoformat(), "enqueued": enqueued})
    return enqueued


def run_until_stopped(
    tick_once: Callable[[], object], stop: threading.Event, poll_seconds: float = POLL_SECONDS
) -> None:
    """Call `tick_once` now and then every `poll_seconds` until `stop` is set; a failed tick is
    logged and the next one tries again (Redis or the database may be back by then)."""
    while not stop.is_set():
        try:
            tick_once()
        except Exception:
            log.exception("periodic tick failed")
        stop.wait(poll_seconds)
