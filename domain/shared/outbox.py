"""The transactional outbox: what must reach the outside is written in the transaction that causes it.

Every `uow.enqueue(job)` on a unit of work that has an `outbox` repository becomes an outbox
row in the same transaction as the change (SqlUnitOfWork and MemoryUnitOfWork both have one).
So nothing is sent for work that rolled back, and nothing committed is lost when the queue is
down at the moment of the commit:

| step                          | who                                | what finishes it if it is cut short       |
| ----------------------------- | ---------------------------------- | ----------------------------------------- |
| row written with the change   | the use case's transaction         | nothing to finish: all or nothing         |
| job handed to the queue       | `UnitOfWorkBase.commit`, at once   | the relay (`relay_pending`), every tick   |
| row marked sent               | the same, after the hand-over      | the relay again: a second hand-over       |

At-least-once: a crash between the hand-over and the mark, or a relay racing the committing
process, hands the same row over twice. Every job carries a stable `job_id` (its own, or
`outbox-<row id>`); RQ drops a second job with an id it still holds, and every consumer is
idempotent on its own key (the ledger's idempotency keys, a webhook message's `webhook-id`,
a notification's dedupe key), so a duplicate changes nothing.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from domain.shared.errors import Unavailable
from domain.shared.jobs import Job, JobQueue, RetryPolicy

log = logging.getLogger(__name__)

RELAY_GRACE = timedelta(seconds=10)  # younger rows are still being handed over by their committer
RELAY_BATCH = 200


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: str
    job: Job  # with its job_id always set: the consumers' de-duplication id
    created_at: datetime
    sent_at: datetime | None = None
    attempts: int = 0

    @classmethod
    def of(cls, job: Job, now: datetime | None = None) -> OutboxMessage:
        message_id = "obx_" + secrets.token_hex(12)
        job = job if job.job_id is not None else replace(job, job_id=f"outbox-{message_id}")
        return cls(id=message_id, job=job, created_at=now or datetime.now(UTC))


def job_to_record(job: Job) -> dict[str, Any]:
    """The JSON-safe form of a job, as the outbox stores it."""
    return {
        "name": job.name,
        "payload": dict(job.payload),
        "job_id": job.job_id,
        "run_at": job.run_at.isoformat() if job.run_at is not None else None,
        "retry": [job.retry.max_retries, list(job.retry.intervals)] if job.retry is not None else None,
    }


def job_from_record(record: dict[str, Any]) -> Job:
    retry = record.get("retry")
    return Job(
        name=record["name"],
        payload=record.get("payload") or {},
        job_id=record.get("job_id"),
        run_at=datetime.fromisoformat(record["run_at"]) if record.get("run_at") else None,
        retry=RetryPolicy(max_retries=int(retry[0]), intervals=tuple(int(i) for i in retry[1])) if retry else None,
    )


class OutboxRepository(Protocol):
    def add(self, message: OutboxMessage) -> None: ...

    def pending(self, *, created_before: datetime, limit: int) -> list[OutboxMessage]:
        """Unsent rows created before `created_before`, oldest first."""

    def mark_sent(self, ids: Sequence[str], at: datetime) -> None: ...

    def mark_failed(self, ids: Sequence[str]) -> None:
        """Count one more failed hand-over for each row (kept for the operator's view)."""

    def purge_sent(self, sent_before: datetime, limit: int) -> int:
        """Delete up to `limit` rows sent before `sent_before`; return how many."""


class OutboxUnitOfWork(Protocol):
    outbox: OutboxRepository

    def __enter__(self) -> Any: ...

    def __exit__(self, *args: Any) -> None: ...

    def commit(self) -> None: ...


def relay_pending(
    uow: Callable[[], AbstractContextManager[OutboxUnitOfWork]],
    queue: JobQueue,
    now: datetime,
    *,
    grace: timedelta = RELAY_GRACE,
    limit: int = RELAY_BATCH,
) -> int:
    """Hand every unsent outbox row older than `grace` to `queue`; mark what it took. Returns the
    count sent. Stops at the first `Unavailable` (the queue is down: the next run tries again)."""
    with uow() as unit:
        messages = unit.outbox.pending(created_before=now - grace, limit=limit)
    sent: list[str] = []
    failed: list[str] = []
    for message in messages:
        try:
            queue.enqueue(message.job)
        except Unavailable:
            failed.append(message.id)
            log.warning("outbox relay: the queue is unavailable", extra={"pending": len(messages) - len(sent)})
            break
        sent.append(message.id)
    if sent or failed:
        with uow() as unit:
            if sent:
                unit.outbox.mark_sent(sent, now)
            if failed:
                unit.outbox.mark_failed(failed)
            unit.commit()
    return len(sent)


def purge_sent(
    uow: Callable[[], AbstractContextManager[OutboxUnitOfWork]], sent_before: datetime, *, limit: int = 1000
) -> int:
    """Forget rows sent before `sent_before` (their jobs ran long ago; ids stay in RQ's history)."""
    with uow() as unit:
        purged = unit.outbox.purge_sent(sent_before, limit)
        unit.commit()
    return purged
