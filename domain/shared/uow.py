"""The unit of work: one transaction per use case, jobs dispatched only after it commits.

A unit of work with an `outbox` repository (every storage adapter has one) writes each job to
the outbox in its own transaction, hands it to the queue after the commit and marks it sent;
when the queue is down the commit still stands and the relay sends it later (domain/shared/outbox.py).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self, TypeVar

from domain.shared.errors import OutcomeUnknown, TransientError, Unavailable
from domain.shared.jobs import Job, JobQueue
from domain.shared.outbox import OutboxMessage

T = TypeVar("T")
log = logging.getLogger(__name__)


class UnitOfWork(Protocol):
    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def enqueue(self, job: Job) -> None:
        """Queue `job` to be sent once, after this unit of work commits; dropped on rollback."""


class UnitOfWorkBase:
    """Shared behaviour: rollback unless committed, jobs held back until the commit succeeds."""

    def __init__(self, queue: JobQueue | None = None) -> None:
        self._queue = queue
        self._jobs: list[Job] = []
        self._outboxed: list[str] = []
        self._committed = False

    def __enter__(self) -> Self:
        self._jobs = []
        self._outboxed = []
        self._committed = False
        self._begin()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if not self._committed:
                try:
                    self.rollback()
                except Exception:
                    if exc is None:
                        raise
                    # never replace the error in flight with the failed rollback's (issue 20)
        finally:
            self._close()

    def commit(self) -> None:
        self._commit()
        self._committed = True
        jobs, self._jobs = self._jobs, []
        outboxed, self._outboxed = self._outboxed, []
        if outboxed:
            self._hand_over(jobs, outboxed)
            return
        for job in jobs:
            if self._queue is None:
                raise RuntimeError(f"job {job.name!r} queued on a unit of work without a queue")
            self._queue.enqueue(job)

    def _hand_over(self, jobs: list[Job], ids: list[str]) -> None:
        """After the commit: send the outbox rows' jobs and mark them sent. A queue that is down
        leaves the rest to the relay; the committed work stands either way."""
        sent: list[str] = []
        for job, message_id in zip(jobs, ids, strict=True):
            if self._queue is None:
                break  # nothing to send with here: the relay will
            try:
                self._queue.enqueue(job)
            except Unavailable:
                log.warning("queue unavailable after commit; the outbox relay will send", extra={"job": job.name})
                break
            sent.append(message_id)
        if sent:
            try:
                self._mark_sent(sent)
            except Exception:  # marked later by the relay; a second hand-over is de-duplicated
                log.warning("could not mark outbox rows sent", exc_info=True)

    def rollback(self) -> None:
        self._jobs = []
        self._outboxed = []
        self._rollback()

    def enqueue(self, job: Job) -> None:
        outbox = getattr(self, "outbox", None)
        if outbox is None:
            self._jobs.append(job)
            return
        message = OutboxMessage.of(job)
        outbox.add(message)
        self._jobs.append(message.job)
        self._outboxed.append(message.id)

    def _mark_sent(self, ids: list[str]) -> None:
        """Mark outbox rows sent after the commit, in a transaction of their own."""

    def _begin(self) -> None:
        pass

    def _commit(self) -> None:
        raise NotImplementedError

    def _rollback(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        pass


RETRY_ATTEMPTS = 5  # the default number of tries; the ledger's comes from DB_RETRY_ATTEMPTS
U = TypeVar("U", bound=UnitOfWork)


def transaction(
    uow: Callable[[], U],
    work: Callable[[U], T],
    *,
    attempts: int = RETRY_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """A use case's transaction, the same in every area (issue 26 §3): open a unit of work, run
    `work` in it, commit, and return what `work` returned. An error from `work` rolls it all back.
    `work` does not commit; it may only to keep a change before it raises (a reused refresh token
    revokes its family, then fails the call).

    Retried, as a whole transaction with jittered backoff, `attempts` tries in all: `TransientError`
    only: a deadlock (MariaDB 1213), a lock wait timeout (1205), a Galera certification conflict
    (1213 at COMMIT) and SQLite's "database is locked" (adapters/sql/db.py). Each means that nothing
    was committed, so a rerun is safe for any `work` whose effects all live in its transaction: no
    payment provider, model or HTTP call inside it (jobs leave only after the commit). Not retried:
    `Unavailable` (the database did not answer: a 503 at once, nothing happened), `OutcomeUnknown`
    (a COMMIT whose answer was lost: the caller settles it by its idempotency key, `learn_outcome`),
    and every other error."""

    def attempt() -> T:
        with uow() as unit:
            result = work(unit)
            unit.commit()
        return result

    return retrying(attempt, attempts=attempts, sleep=sleep)


def retrying(
    work: Callable[[], T],
    *,
    attempts: int = RETRY_ATTEMPTS,
    base_delay: float = 0.02,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `work` (a whole unit of work) again when storage reports contention, with jittered backoff:
    the retry policy `transaction` applies. Called directly only where the unit of work has a shape
    of its own: the ledger's `once` (a replay rolls its attempt back; a lost COMMIT is settled by
    the key) and billing's `handle_event` (a handler, several transactions, rerun whole)."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except TransientError:
            if attempt == attempts:
                raise
            sleep(base_delay * 2 ** (attempt - 1) * (0.5 + random.random()))
    raise AssertionError("unreachable")


# After a lost COMMIT (issue 20): look the outcome up at once, then after these pauses, while the
# next try would still end within SETTLE_BUDGET seconds, judged by how long the last try took. A
# database that refuses connections gets three quick tries; a frozen one, whose every try waits a
# whole read timeout, gets one, so a lost COMMIT costs at most two read timeouts before the answer.
# A Galera node whose COMMIT timed out in the cluster's pause after a node died (about 6 s) answers
# the lookup once the pause ends.
SETTLE_WAITS = (0.2, 1.0)
SETTLE_BUDGET = 2.0


def learn_outcome(
    lookup: Callable[[], T],
    unknown: OutcomeUnknown,
    *,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> T:
    """`lookup()` on a fresh unit of work after a COMMIT whose answer was lost: its result as soon as
    the database answers; `unknown` (or a later OutcomeUnknown) when it does not within the budget.
    `lookup` finds out by the work's own key whether it committed and acts on it (replays the
    result, or runs the work again when nothing was committed)."""
    started = monotonic()
    for wait in (*SETTLE_WAITS, None):
        tried = monotonic()
        try:
            return lookup()
        except (Unavailable, TransientError, OutcomeUnknown) as error:
            unknown = error if isinstance(error, OutcomeUnknown) else unknown
            now = monotonic()
            if wait is None or (now - started) + wait + (now - tried) > SETTLE_BUDGET:
                break
            sleep(wait)
    raise unknown


def retrying_unavailable(
    call: Callable[[], T],
    *,
    backoff: tuple[float, ...],
    unknown_too: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`call()` again after each pause in `backoff` while storage is unavailable, contended or (with
    `unknown_too`) its outcome unknown: only for calls whose own idempotency key makes a repeat
    safe. Without `unknown_too` a lost COMMIT goes up at once: a call with no key of its own (the
    chat's store-and-capture) must not run twice when its first run may have committed."""
    retried = (Unavailable, TransientError, OutcomeUnknown) if unknown_too else (Unavailable, TransientError)
    for pause in (*backoff, None):
        try:
            return call()
        except retried:
            if pause is None:
                raise
            sleep(pause)
    raise AssertionError("unreachable")  # pragma: no cover
