"""The embedded default JobQueue: runs each job at once, in the process that enqueued it.

Decisions (the embedded default has no Redis, no scheduler and no failed-job registry):

- When: at once, in the caller's thread. `UnitOfWorkBase.commit` hands jobs over only after
  its commit, so the job sees the committed data and nothing runs for work that rolled back.
- `run_at` in the future: the job still runs at once; nothing here could wait for it. Jobs
  must not rely on the delay for correctness (ours act on what is due at `clock.now()`).
- Retries: none. A `RetryPolicy` needs a scheduler to wait between tries; the job gets one try.
- Failures: the unit of work that enqueued the job has already committed. Raising would turn a
  committed request into an error and skip the jobs queued after it, so by default the failure
  is logged with its traceback and kept in `failed` (the most recent 100), the stand-in for
  RQ's FailedJobRegistry. `raise_errors=True` re-raises instead: for tests and for
  `houston run-job`, where a failure must be loud.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from domain.shared.jobs import Job

log = logging.getLogger(__name__)

Runner = Callable[[Job], object]
FAILURES_KEPT = 100


@dataclass(frozen=True, slots=True)
class InlineFailure:
    job: Job
    error: Exception


class InlineJobQueue:
    def __init__(self, runner: Runner | None = None, *, raise_errors: bool = False) -> None:
        self._runner = runner
        self._raise_errors = raise_errors
        self.failed: deque[InlineFailure] = deque(maxlen=FAILURES_KEPT)

    def bind(self, runner: Runner) -> None:
        """Set the function that runs a job (bootstrap binds it once the container exists)."""
        self._runner = runner

    @property
    def bound(self) -> bool:
        return self._runner is not None

    def enqueue(self, job: Job) -> None:
        if self._runner is None:
            raise RuntimeError(f"InlineJobQueue is not bound to a runner: cannot run job {job.name!r}")
        if job.run_at is not None:
            log.debug("inline queue: running delayed job now", extra={"job": job.name, "run_at": job.run_at})
        try:
            self._runner(job)
        except Exception as error:  # the enqueuing transaction has committed: record, never undo it
            if self._raise_errors:
                raise
            log.exception("inline job failed", extra={"job": job.name, "job_id": job.job_id})
            self.failed.append(InlineFailure(job, error))
