"""The background-work commands behind `houston worker | cron | run-job | jobs failed | jobs requeue`.

Each returns the process exit code: 0 done, 1 it ran and failed (Redis down, a job raised,
nothing to requeue), 2 it cannot run as configured (no REDIS_URL, unknown job, bad payload).
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from domain.shared.errors import Unavailable
from domain.shared.jobs import Job
from entrypoints.bootstrap import JOB_FUNCTION, bootstrap
from entrypoints.config import Settings
from entrypoints.worker import billing_jobs
from entrypoints.worker.jobs import JOBS, UnknownJob, run_job
from entrypoints.worker.rq_entry import prepare

if TYPE_CHECKING:
    from adapters.queue.rq_queue import RqFailedJobs

log = logging.getLogger(__name__)


def start_worker(settings: Settings, queues: Sequence[str], burst: bool) -> int:
    """Run an RQ worker on `queues` with RQ's scheduler (delayed jobs and retry waits)."""
    if not _has_redis(settings, "worker"):
        return 2
    from redis.exceptions import ConnectionError as RedisConnectionError
    from rq import Worker

    container = prepare(settings)  # built once here; the work horses RQ forks inherit it
    redis = container.resources.worker_redis  # bootstrap() made it without socket timeout (BLPOP)
    assert redis is not None  # REDIS_URL is set (checked above)
    try:
        Worker(list(queues), connection=redis).work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
    except RedisConnectionError as error:
        print(f"houston: cannot reach Redis: {error}", file=sys.stderr)
        return 1
    return 0


def start_cron(settings: Settings) -> int:
    """Tick the periodic schedule until SIGTERM/SIGINT (see entrypoints/worker/schedule.py)."""
    from entrypoints.worker.schedule import SCHEDULE, run_until_stopped, tick

    container = bootstrap(settings)
    claims = container.slot_claims  # chosen by bootstrap(): on Redis when REDIS_URL is set
    if not settings.redis_url:
        log.warning("REDIS_URL is not set: periodic jobs run inline, in this process")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    log.info("cron started", extra={"entries": [entry.name for entry in SCHEDULE]})
    run_until_stopped(lambda: tick(SCHEDULE, container.clock.now(), container.queue, claims), stop)
    log.info("cron stopped")
    return 0


def run_job_now(settings: Settings, name: str, payload: Any) -> int:
    """Run one job in this process and print its summary (works without Redis)."""
    if name not in JOBS:
        print(f"houston: {UnknownJob(name)}", file=sys.stderr)
        return 2
    if not isinstance(payload, dict):
        print("houston: --payload must be a JSON object", file=sys.stderr)
        return 2

    try:
        summary = run_job(bootstrap(settings), Job(name, payload))
    except Exception as error:  # the command's whole purpose is to report the job's outcome
        log.exception("job failed", extra={"job": name})
        print(f"houston: job {name} failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(summary, default=str))
    return 0


def list_failed(settings: Settings) -> int:
    """Print every job in the FailedJobRegistry of the configured queues, with its error."""
    failed_jobs = _failed_jobs(settings)
    if failed_jobs is None:
        return 2
    try:
        failed = failed_jobs.all()
    except Unavailable as error:
        print(f"houston: {error}", file=sys.stderr)
        return 1
    if not failed:
        print(f"houston: no failed jobs in {', '.join(settings.queues)}")
        return 0
    print("\t".join(("JOB ID", "QUEUE", "JOB", "ENQUEUED", "ENDED", "ERROR")))
    for job in failed:
        print("\t".join((job.job_id, job.queue, job.name, _iso(job.enqueued_at), _iso(job.ended_at), job.error)))
    return 0


def requeue_failed(settings: Settings, job_id: str | None) -> int:
    """Put one failed job, or all of them (`job_id` None), back on its queue."""
    failed_jobs = _failed_jobs(settings)
    if failed_jobs is None:
        return 2
    try:
        requeued = failed_jobs.requeue(job_id)
    except Unavailable as error:
        print(f"houston: {error}", file=sys.stderr)
        return 1
    if job_id is not None and not requeued:
        print(f"houston: no failed job {job_id!r} in {', '.join(settings.queues)}", file=sys.stderr)
        return 1
    print(f"houston: requeued {len(requeued)} job(s)" + "".join(f"\n{id_}" for id_ in requeued))
    return 0


def reconcile_command(settings: Settings, since: str | None) -> int:
    """`houston billing reconcile`: 0 when everything agrees, 1 when something needs a look."""
    container = bootstrap(settings)
    try:
        start = billing_jobs.parse_since(since, container.clock.now()) if since else None  # None: the configured window
    except ValueError as error:
        print(f"houston: {error}", file=sys.stderr)
        return 2
    report = billing_jobs._billing(container).reconcile(since=start)
    print(f"houston: reconciled billing since {report.since:%Y-%m-%d %H:%M:%S} UTC")
    print(f"  provider events listed: {report.listed}")
    print(f"  missed events replayed: {len(report.replayed)} {' '.join(report.replayed)}".rstrip())
    print(f"  failed events retried:  {len(report.retried)} {' '.join(report.retried)}".rstrip())
    print(f"  still failing:          {len(report.still_failing)} {' '.join(report.still_failing)}".rstrip())
    print(f"  mismatches:             {len(report.mismatches)}")
    for line in report.mismatches:
        print(f"    - {line}")
    return 1 if report.still_failing or report.mismatches else 0


def _has_redis(settings: Settings, command: str) -> bool:
    if settings.redis_url:
        return True
    print(f"houston: {command} needs REDIS_URL (e.g. redis://127.0.0.1:6379/0)", file=sys.stderr)
    return False


def _failed_jobs(settings: Settings) -> RqFailedJobs | None:
    if not _has_redis(settings, "jobs"):
        return None
    from redis import Redis

    from adapters.queue.rq_queue import RqFailedJobs

    redis = Redis.from_url(str(settings.redis_url), socket_connect_timeout=2, socket_timeout=5)
    return RqFailedJobs(redis, settings.queues, job_function=JOB_FUNCTION)


def _iso(when: datetime | None) -> str:
    return when.isoformat(timespec="seconds") if when else "-"
