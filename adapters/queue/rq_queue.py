"""The production JobQueue: RQ 3 on Redis, plus the failed-job view the CLI needs.

Every `Job` becomes an RQ job that calls one dotted function, `job_function(name, payload)`
(`entrypoints.worker.jobs.execute`), so workers import a single entry point and the job
name stays data. Mapping from the port to RQ:

- `job_id` -> RQ's `job_id` with `unique=True`: while a job with that id exists in Redis
  (queued, scheduled, running, or finished within its result TTL), a second one is dropped
  silently (RQ raises DuplicateJobError; we log it at debug). It is de-duplication, not a lock:
  once the first job's hash expires the id can run again (the periodic schedule adds a slot
  lock for that, see entrypoints/worker/schedule.py). RQ 3 accepts only `[A-Za-z0-9_-]` in
  ids, so any other id is mapped to a readable, stable one: `grant:u1` -> `grant-u1-<hash>`.
- `retry` -> `Retry(max=max_retries, interval=[one wait per retry])`. The port says the last
  interval repeats; RQ would instead reuse the *first* for extra retries and skip the first
  ones of a longer list, so the list is expanded (or cut) to exactly `max_retries` waits.
  Waiting between tries needs a scheduler: every `houston worker` runs with one.
- `run_at` in the future -> `enqueue_at` (aware UTC; a naive datetime is refused); a `run_at`
  that is already due is enqueued at once. RQ keeps whole seconds and truncates, which would
  start a job up to 1 s early, so `run_at` is rounded up to the next whole second.
- Redis connection errors and timeouts become `Unavailable`; nothing above sees redis errors.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError, InvalidJobOperation
from rq.job import Job as RqJob
from rq.registry import FailedJobRegistry

from domain.shared.errors import Unavailable
from domain.shared.jobs import Job, RetryPolicy

log = logging.getLogger(__name__)

REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)
_RQ_ID = re.compile(r"[A-Za-z0-9_-]+")
_NOT_RQ_ID = re.compile(r"[^A-Za-z0-9_-]+")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RqJobQueue:
    def __init__(
        self,
        redis: Redis,
        *,
        job_function: str,
        default_queue: str = "default",
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._queue = Queue(default_queue, connection=redis)
        self._function = job_function
        self._now = now

    @property
    def queue_name(self) -> str:
        return self._queue.name

    def enqueue(self, job: Job) -> None:
        args = (job.name, dict(job.payload))
        options = _options(job)
        try:
            if job.run_at is not None and _utc(job.run_at) > self._now():
                self._queue.enqueue_at(_second_up(_utc(job.run_at)), self._function, args=args, **options)
            else:
                self._queue.enqueue(self._function, args=args, **options)
        except DuplicateJobError:
            log.debug("duplicate job dropped", extra={"job": job.name, "job_id": job.job_id})
        except REDIS_DOWN as error:
            raise Unavailable("The job queue is unavailable; try again.") from error


def _options(job: Job) -> dict[str, Any]:
    options: dict[str, Any] = {"description": job.name}
    if job.job_id is not None:
        options.update(job_id=rq_job_id(job.job_id), unique=True)
    retry = _retry(job.retry)
    if retry is not None:
        options["retry"] = retry
    return options


def rq_job_id(job_id: str) -> str:
    """The RQ id for a port `job_id`: itself when RQ accepts it, else a sanitised id plus a hash."""
    if _RQ_ID.fullmatch(job_id):
        return job_id
    digest = hashlib.sha256(job_id.encode()).hexdigest()[:10]
    return f"{_NOT_RQ_ID.sub('-', job_id)[:100]}-{digest}"


def _retry(policy: RetryPolicy | None) -> Retry | None:
    if policy is None or policy.max_retries < 1:
        return None  # RQ refuses max=0
    intervals = policy.intervals or (0,)
    waits = [intervals[min(n, len(intervals) - 1)] for n in range(policy.max_retries)]
    return Retry(max=policy.max_retries, interval=waits)


def _utc(when: datetime) -> datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"run_at must be an aware datetime, got {when!r}")
    return when.astimezone(UTC)


def _second_up(when: datetime) -> datetime:
    return when if not when.microsecond else when.replace(microsecond=0) + timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class FailedJob:
    job_id: str
    queue: str
    name: str  # the Houston job name, or the RQ function for a foreign job
    enqueued_at: datetime | None
    ended_at: datetime | None
    error: str  # the last line of the exception, e.g. "ValueError: boom"


class RqFailedJobs:
    """RQ's FailedJobRegistry of several queues, seen as Houston jobs (`houston jobs ...`)."""

    def __init__(self, redis: Redis, queue_names: Sequence[str], *, job_function: str) -> None:
        self._redis = redis
        self._registries = [FailedJobRegistry(name, connection=redis) for name in queue_names]
        self._function = job_function

    def all(self) -> list[FailedJob]:
        try:
            return [failed for registry in self._registries for failed in self._describe(registry)]
        except REDIS_DOWN as error:
            raise Unavailable("Redis is unavailable.") from error

    def requeue(self, job_id: str | None = None) -> list[str]:
        """Put one failed job (or every one, when `job_id` is None) back on its queue; return the ids.

        A requeued job gets one more try: RQ does not reset the retries it has used up.
        """
        try:
            return [
                job_id_
                for registry in self._registries
                for job_id_ in registry.get_job_ids()
                if (job_id is None or job_id_ == job_id) and _requeue(registry, job_id_)
            ]
        except REDIS_DOWN as error:
            raise Unavailable("Redis is unavailable.") from error

    def _describe(self, registry: FailedJobRegistry) -> Iterable[FailedJob]:
        ids = registry.get_job_ids()
        for job in RqJob.fetch_many(ids, connection=self._redis):
            if job is not None:  # its hash expired between the two reads
                yield FailedJob(
                    job_id=job.id,
                    queue=registry.name,
                    name=self._name_of(job),
                    enqueued_at=job.enqueued_at,
                    ended_at=job.ended_at,
                    error=_last_error_line(job),
                )

    def _name_of(self, job: RqJob) -> str:
        if job.func_name == self._function and job.args:
            return str(job.args[0])
        return job.func_name or "?"


def _requeue(registry: FailedJobRegistry, job_id: str) -> bool:
    try:
        registry.requeue(job_id)
    except InvalidJobOperation:  # another process requeued it first
        return False
    return True


def _last_error_line(job: RqJob) -> str:
    for result in job.results():  # newest first
        if result.exc_string:
            lines = [line for line in result.exc_string.strip().splitlines() if line.strip()]
            return lines[-1].strip() if lines else ""
    return ""


class RedisSlotClaims:
    """Slot claims shared by every scheduler on one Redis: `SET key 1 NX EX ttl` (see schedule.py)."""

    def __init__(self, redis: Redis, *, prefix: str = "houston:periodic:") -> None:
        self._redis = redis
        self._prefix = prefix

    def claim(self, key: str, ttl_seconds: int) -> bool:
        try:
            return bool(self._redis.set(self._prefix + key, b"1", nx=True, ex=ttl_seconds))
        except REDIS_DOWN as error:
            raise Unavailable("Redis is unavailable.") from error

    def release(self, key: str) -> None:
        try:
            self._redis.delete(self._prefix + key)
        except REDIS_DOWN as error:
            raise Unavailable("Redis is unavailable.") from error
