"""Rate limits over the `limits` library: counters in Redis (shared by every worker and host) or
in this process (`memory://`: per worker).

Leases (fixed window only, the default). A round trip to Redis on every request is what the
limiter costs (see bench/overhead.py), so a process takes a small lease of hits at once: one
`incr` by the lease size, served locally until used up or until its window ends. A lease is at
most 1/50 of the limit and at most 10 hits; a limit under 100 gets none, so register and login
(10/minute) are counted one by one, exactly. Leased hits count in Redis when they are taken, so a
lease never lets anyone past a limit; it can only refuse a little early: with P processes, after
at least `amount - P * (lease - 1)` requests in a window (300/minute, 4 workers: 276).

The limiter fails open. When its storage does not answer, the request is served without a check,
`on_error` is told (logs and metrics), and the storage is left alone for `pause_seconds` so a
dead Redis costs one failed call per pause, not one per request. Credits stay safe regardless:
the ledger, not the limiter, refuses what a balance does not cover.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import Storage, storage_from_string
from limits.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)

log = logging.getLogger(__name__)

STRATEGIES: dict[str, type[RateLimiter]] = {
    "fixed-window": FixedWindowRateLimiter,
    "sliding-window-counter": SlidingWindowCounterRateLimiter,
    "moving-window": MovingWindowRateLimiter,
}
REDIS_TIMEOUT = 0.25  # seconds: a limiter that waits longer than this costs more than it saves
LEASE_SHARE = 50  # a lease is at most 1/50 of its limit...
LEASE_MAX = 10  # ...and at most this many hits
LEASE_KEYS = 10_000  # leases kept per process (least recently used go first; their rest is lost)


def lease_size(item: RateLimitItem) -> int:
    return max(1, min(LEASE_MAX, item.amount // LEASE_SHARE))


@dataclass(slots=True)
class _Lease:
    left: int
    until: float  # epoch seconds: the end of the window the hits were counted in


def parse_limits(text: str) -> tuple[RateLimitItem, ...]:
    """`"10/minute;100/hour"` (the library's notation) -> limit items; ValueError when not one."""
    items = tuple(parse_many(text)) if text.strip() else ()
    if not items:
        raise ValueError(f"not a rate limit: {text!r}")
    return items


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one check. A refusal names the limit it broke and when its window resets."""

    allowed: bool
    limit: RateLimitItem | None = None
    remaining: int = 0
    reset_at: float = 0.0  # epoch seconds

    @property
    def retry_after(self) -> int:
        return max(1, int(self.reset_at - time.time() + 0.999))


ALLOWED = Decision(True)


class LimitsRateLimiter:
    def __init__(
        self,
        storage_url: str,
        *,
        strategy: str = "fixed-window",
        on_error: Callable[[Exception], None] = lambda error: None,
        pause_seconds: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        options: dict[str, float | str | bool] = {}
        if storage_url.startswith(("redis://", "rediss://", "unix://")):
            options = {
                "wrap_exceptions": True,
                "socket_timeout": REDIS_TIMEOUT,
                "socket_connect_timeout": REDIS_TIMEOUT,
            }
        self.storage = cast(Storage, storage_from_string(storage_url, **options))  # a sync URL: a sync storage
        self._limiter = STRATEGIES[strategy](self.storage)
        self._on_error = on_error
        self._pause = pause_seconds
        self._monotonic = monotonic
        self._paused_until = 0.0
        self._leases: OrderedDict[str, _Lease] | None = OrderedDict() if strategy == "fixed-window" else None
        self._lock = threading.Lock()

    def check(self, limits: Sequence[RateLimitItem], *identifiers: str) -> Decision | None:
        """Count one hit against every limit; the first one exceeded refuses. None: not checked
        (the storage failed or is paused after a failure)."""
        if self._monotonic() < self._paused_until:
            return None
        try:
            return self._check(limits, identifiers)
        except StorageError as error:
            self._paused_until = self._monotonic() + self._pause
            log.warning(
                "rate-limit storage failed; serving without limits for %.0f s",
                self._pause,
                extra={"error_type": type(error.storage_error).__name__},
            )
            self._on_error(error)
            return None

    def _check(self, limits: Sequence[RateLimitItem], identifiers: tuple[str, ...]) -> Decision:
        """One hit on every limit; the window's numbers are read only for a refusal (what the
        429's headers need)."""
        for item in limits:
            if not self._take(item, identifiers):
                stats = self._limiter.get_window_stats(item, *identifiers)
                return Decision(False, item, max(0, stats.remaining), stats.reset_time)
        return ALLOWED

    def _take(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> bool:
        size = lease_size(item) if self._leases is not None else 1
        if size == 1:
            return self._limiter.hit(item, *identifiers)
        assert self._leases is not None
        key = item.key_for(*identifiers)
        with self._lock:
            lease = self._leases.get(key)
            if lease is not None and lease.left > 0 and time.time() < lease.until:
                lease.left -= 1
                return True
        # What FixedWindowRateLimiter.hit does, by `size` at once; the part that fits is ours.
        count = self.storage.incr(key, item.get_expiry(), amount=size)
        fits = size - max(0, count - item.amount)
        if fits <= 0:
            return False
        until = self.storage.get_expiry(key)
        with self._lock:
            self._leases[key] = _Lease(left=fits - 1, until=until)
            self._leases.move_to_end(key)
            while len(self._leases) > LEASE_KEYS:
                self._leases.popitem(last=False)
        return True

    def reset(self) -> None:
        """Forget every counter and lease (tests)."""
        self.storage.reset()
        if self._leases is not None:
            self._leases.clear()
