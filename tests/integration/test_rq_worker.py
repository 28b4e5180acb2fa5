"""RQ on a real Redis (TEST_REDIS_URL, flushed before each test) with real RQ workers: in-process
burst workers with the scheduler for the queue mechanics, and `houston cron` / `houston worker`
subprocesses on a shared SQLite file for the periodic free-plan grant, end to end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from rq.job import Job as RqJob
from rq.job import JobStatus
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from adapters.queue.rq_queue import RedisSlotClaims, RqJobQueue
from domain.shared.clock import ManualClock
from domain.shared.jobs import Job, RetryPolicy
from entrypoints.bootstrap import JOB_FUNCTION, Container, bootstrap
from entrypoints.worker import commands
from entrypoints.worker.schedule import SCHEDULE, tick
from tests.fixtures.concurrency import run_together
from tests.fixtures.rq import ENTRY_POINT, worker_uses
from tests.fixtures.settings import make_settings, unique

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[2]
QUEUE = "default"


@pytest.fixture
def redis(redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def queue(redis: Redis) -> RqJobQueue:
    return RqJobQueue(redis, job_function=ENTRY_POINT, default_queue=QUEUE)


def status(redis: Redis, job_id: str) -> JobStatus:
    return RqJob.fetch(job_id, connection=redis).get_status()


class BurstWorker(SimpleWorker):
    """RQ's SimpleWorker without its pub/sub listener (remote `rq` commands, unused here): that
    thread takes a full second to stop after every burst, which polling would pay each pass."""

    def subscribe(self) -> None:
        pass


def burst(redis: Redis) -> None:
    """One pass: the scheduler moves due scheduled jobs, then the worker runs the queue dry."""
    BurstWorker([QUEUE], connection=redis).work(burst=True, with_scheduler=True, logging_level="WARNING")


def work_until(redis: Redis, done: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out waiting for the worker"
        burst(redis)
        time.sleep(0.05)


def finished(redis: Redis, job_id: str) -> Callable[[], bool]:
    return lambda: status(redis, job_id) == JobStatus.FINISHED


def failed(redis: Redis, job_id: str) -> Callable[[], bool]:
    return lambda: job_id in FailedJobRegistry(QUEUE, connection=redis)


# --- the queue mechanics ------------------------------------------------------------------------
def test_a_worker_runs_a_job_enqueued_through_the_rq_queue(redis: Redis, queue: RqJobQueue) -> None:
    key = unique("ran")
    queue.enqueue(Job("test.record", {"key": key}, job_id="plain-1"))
    work_until(redis, finished(redis, "plain-1"))
    assert redis.llen(key) == 1
    assert set(RqJob.fetch("plain-1", connection=redis).return_value() or {}) == {"ran_at"}


def test_a_delayed_job_waits_for_its_time_then_the_scheduler_moves_it_to_a_worker(
    redis: Redis, queue: RqJobQueue
) -> None:
    key, run_at = unique("ran"), datetime.now(UTC) + timedelta(seconds=2)
    queue.enqueue(Job("test.record", {"key": key}, run_at=run_at, job_id="delayed-1"))
    burst(redis)
    assert (status(redis, "delayed-1"), redis.llen(key)) == (JobStatus.SCHEDULED, 0)
    work_until(redis, finished(redis, "delayed-1"))
    assert float(redis.lindex(key, 0) or 0) >= run_at.timestamp()


def test_a_job_that_fails_twice_succeeds_on_its_third_try_under_its_retry_policy(
    redis: Redis, queue: RqJobQueue
) -> None:
    key = unique("attempts")
    retry = RetryPolicy(max_retries=2, intervals=(0, 1))
    queue.enqueue(Job("test.flaky", {"key": key, "failures": 2}, job_id="flaky-1", retry=retry))
    work_until(redis, finished(redis, "flaky-1"))
    assert int(redis.get(key) or 0) == 3
    assert "flaky-1" not in FailedJobRegistry(QUEUE, connection=redis)


def test_a_job_that_keeps_failing_ends_in_the_failed_registry_listed_with_its_exception(
    redis: Redis, redis_url: str, queue: RqJobQueue, capsys: pytest.CaptureFixture[str]
) -> None:
    key, flag = unique("attempts"), unique("flag")
    redis.set(flag, 1)
    queue.enqueue(
        Job(
            "test.broken_while_flagged",
            {"key": key, "flag": flag},
            job_id="broken-1",
            retry=RetryPolicy(max_retries=1, intervals=(0,)),
        )
    )
    work_until(redis, failed(redis, "broken-1"))
    assert int(redis.get(key) or 0) == 2  # the first try and one retry

    assert commands.list_failed(make_settings(redis_url=redis_url, queues=(QUEUE,))) == 0
    header, line = capsys.readouterr().out.strip().splitlines()
    assert header.split("\t") == ["JOB ID", "QUEUE", "JOB", "ENQUEUED", "ENDED", "ERROR"]
    job_id, queue_name, name, enqueued, ended, error = line.split("\t")
    assert (job_id, queue_name, name) == ("broken-1", QUEUE, ENTRY_POINT)
    assert error == f"ValueError: the flag {flag} is set"
    assert enqueued <= ended


def test_requeueing_a_failed_job_runs_it_again(
    redis: Redis, redis_url: str, queue: RqJobQueue, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(redis_url=redis_url, queues=(QUEUE,))
    key, flag = unique("attempts"), unique("flag")
    redis.set(flag, 1)
    queue.enqueue(Job("test.broken_while_flagged", {"key": key, "flag": flag}, job_id="broken-2"))
    work_until(redis, failed(redis, "broken-2"))
    redis.delete(flag)  # the cause is fixed

    assert commands.requeue_failed(settings, "broken-2") == 0
    assert "broken-2" not in FailedJobRegistry(QUEUE, connection=redis)
    work_until(redis, finished(redis, "broken-2"))
    assert int(redis.get(key) or 0) == 2
    assert commands.requeue_failed(settings, "broken-2") == 1  # no longer failed
    assert "no failed job 'broken-2'" in capsys.readouterr().err


def test_requeue_all_puts_every_failed_job_back_on_its_queue(
    redis: Redis, redis_url: str, queue: RqJobQueue, capsys: pytest.CaptureFixture[str]
) -> None:
    flag = unique("flag")
    redis.set(flag, 1)
    for n in (1, 2):
        queue.enqueue(Job("test.broken_while_flagged", {"key": unique("k"), "flag": flag}, job_id=f"all-{n}"))
    work_until(redis, lambda: failed(redis, "all-1")() and failed(redis, "all-2")())

    assert commands.requeue_failed(make_settings(redis_url=redis_url, queues=(QUEUE,)), None) == 0
    assert "requeued 2 job(s)" in capsys.readouterr().out
    assert sorted(Queue(QUEUE, connection=redis).job_ids) == ["all-1", "all-2"]
    assert FailedJobRegistry(QUEUE, connection=redis).count == 0


def test_an_unknown_job_name_fails_visibly_through_the_real_entry_point(
    redis: Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    worker_uses(monkeypatch, bootstrap(make_settings()))  # what prepare() would build
    RqJobQueue(redis, job_function=JOB_FUNCTION, default_queue=QUEUE).enqueue(Job("ledger.nope", job_id="nope-1"))
    work_until(redis, failed(redis, "nope-1"))
    assert commands.list_failed(make_settings(redis_url=redis_url, queues=(QUEUE,))) == 0
    line = capsys.readouterr().out.strip().splitlines()[1]
    assert line.split("\t")[2] == "ledger.nope"
    assert line.split("\t")[5].startswith("entrypoints.worker.jobs.UnknownJob: unknown job 'ledger.nope'; known jobs:")


# --- the periodic schedule ---------------------------------------------------------------------
def test_racing_schedulers_enqueue_each_slots_job_exactly_once(redis_url: str, redis: Redis) -> None:
    now, racers = datetime.now(UTC), 8
    clients = [Redis.from_url(redis_url) for _ in range(racers)]  # one connection per scheduler, as on separate hosts

    def scheduler(client: Redis) -> list[str]:
        return tick(
            SCHEDULE, now, RqJobQueue(client, job_function=JOB_FUNCTION, default_queue=QUEUE), RedisSlotClaims(client)
        )

    enqueued, _ = run_together([partial(scheduler, client) for client in clients], timeout=10)
    expected = sorted(entry.job_id(entry.slot(now)[0]) for entry in SCHEDULE)
    assert sorted(job_id for ids in enqueued for job_id in ids) == expected
    assert sorted(Queue(QUEUE, connection=redis).job_ids) == expected


def test_a_late_tick_in_the_same_slot_enqueues_nothing_even_after_the_job_is_gone(redis: Redis) -> None:
    now = datetime.now(UTC).replace(second=10, microsecond=0)  # the +1 s stays in this minute
    queue, claims = RqJobQueue(redis, job_function=JOB_FUNCTION, default_queue=QUEUE), RedisSlotClaims(redis)
    assert len(tick(SCHEDULE, now, queue, claims)) == len(SCHEDULE)
    for job_id in Queue(QUEUE, connection=redis).job_ids:  # as if run and its result expired
        RqJob.fetch(job_id, connection=redis).delete()
    assert tick(SCHEDULE, now + timedelta(seconds=1), queue, claims) == []
    assert Queue(QUEUE, connection=redis).count == 0


# --- end to end: two `houston cron` and two `houston worker` processes, one SQLite database ------
@pytest.fixture
def houston() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start `houston ...` subprocesses (stderr to a log file); kill any still running at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "entrypoints.cli", *args],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(5)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def last_month(now: datetime) -> datetime:
    return (now.replace(day=1, hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)).replace(day=1)


@pytest.fixture
def database(tmp_path: Path) -> str:
    from adapters.sql.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'houston.db'}"
    upgrade(url)
    return url


def register_users(url: str, count: int, when: datetime) -> tuple[Container, list[str]]:
    container = bootstrap(make_settings(database_url=url), clock=ManualClock(when))
    ids = [
        container.identity.register(f"{unique('u')}@example.com", "correct horse battery").user.id for _ in range(count)
    ]
    return container, ids


def test_two_crons_and_two_workers_grant_each_free_user_this_months_allowance_exactly_once(
    redis: Redis, redis_url: str, database: str, tmp_path: Path, houston: Callable[..., subprocess.Popen[bytes]]
) -> None:
    started = datetime.now(UTC)
    signup = last_month(started)  # their sign-up allowance is last month's, expired by now
    container, users = register_users(database, 3, signup)
    allowance = container.settings.free_plan_monthly_credits
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "REDIS_URL": redis_url,
        "JWT_SECRET": "j" * 40,
        "BCRYPT_ROUNDS": "4",
        "HOUSTON_ENV": "test",
        "LOG_LEVEL": "DEBUG",
        "HOUSTON_DATA_DIR": str(tmp_path),
        "RQ_QUEUES": QUEUE,
        "FREE_PLAN_MONTHLY_CREDITS": str(allowance),
    }

    logs = [tmp_path / f"cron-{n}.log" for n in (1, 2)]
    crons = [houston("cron", env=env, log=log) for log in logs]
    wait_for(lambda: all(b'"periodic tick"' in log.read_bytes() for log in logs), 30, "both crons to tick")
    for cron in crons:
        cron.send_signal(signal.SIGTERM)
    assert [cron.wait(10) for cron in crons] == [0, 0]
    ended = datetime.now(UTC)
    enqueued = Queue(QUEUE, connection=redis).job_ids
    for entry in SCHEDULE:  # once for the current slot (and once for the next if one began meanwhile)
        slots = {entry.job_id(entry.slot(t)[0]) for t in (started, ended)}
        mine = [job_id for job_id in enqueued if job_id.startswith(f"periodic-{entry.name}-")]
        assert mine and set(mine) <= slots and len(mine) == len(set(mine)), (entry.name, mine, slots)

    workers = [houston("worker", "--burst", env=env, log=tmp_path / f"worker-{n}.log") for n in (1, 2)]
    assert [worker.wait(30) for worker in workers] == [0, 0]
    assert FailedJobRegistry(QUEUE, connection=redis).count == 0
    finished = FinishedJobRegistry(QUEUE, connection=redis).get_job_ids()
    # (jobs may queue jobs of their own, e.g. a grant re-arming the low-balance notice, issue 22)
    assert sorted(job_id for job_id in finished if job_id.startswith("periodic-")) == sorted(enqueued)

    period, previous = started.strftime("%Y-%m"), signup.strftime("%Y-%m")
    grant_job = next(j for j in enqueued if j.startswith("periodic-grant_free_plan_monthly_credits-"))
    assert RqJob.fetch(grant_job, connection=redis).return_value() == {"period": period, "users": 3}
    for user in users:
        entries = container.ledger.transactions(user, limit=100).items
        assert sorted((e.kind.value, e.amount, e.reference) for e in entries) == sorted(
            [
                ("grant", allowance, f"free-plan:{previous}"),  # at sign-up, last month
                ("expiry", -allowance, f"free-plan:{previous}"),  # by the hourly expiry job
                ("grant", allowance, f"free-plan:{period}"),  # by the daily job: once, though two crons ticked
            ]
        )
        assert container.ledger.balance(user).balance == allowance
