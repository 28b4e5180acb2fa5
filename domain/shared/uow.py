"""The unit of work: one transaction per use case, jobs dispatched only after it commits."""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self, TypeVar

from domain.shared.errors import TransientError
from domain.shared.jobs import Job, JobQueue

T = TypeVar("T")


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
        self._committed = False

    def __enter__(self) -> Self:
        self._jobs = []
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
        for job in jobs:
            if self._queue is None:
                raise RuntimeError(f"job {job.name!r} queued on a unit of work without a queue")
            self._queue.enqueue(job)

    def rollback(self) -> None:
        self._jobs = []
        self._rollback()

    def enqueue(self, job: Job) -> None:
        self._jobs.append(job)

    def _begin(self) -> None:
        pass

    def _commit(self) -> None:
        raise NotImplementedError

    def _rollback(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        pass


def retrying(
    work: Callable[[], T],
    *,
    attempts: int = 5,
    base_delay: float = 0.02,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `work` (a whole unit of work) again when storage reports contention, with jittered backoff."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except TransientError:
            if attempt == attempts:
                raise
            sleep(base_delay * 2 ** (attempt - 1) * (0.5 + random.random()))
    raise AssertionError("unreachable")
