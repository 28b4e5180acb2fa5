"""The job-queue port: jobs leave a unit of work only after it commits; the inline and RQ queues,
the job registry, the periodic schedule and the CLI commands that need no Redis server."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import fakeredis
import pytest
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Queue
from rq.job import Job as RqJob
from rq.registry import ScheduledJobRegistry

from adapters.memory.uow import MemoryUnitOfWorkFactory
from adapters.queue.inline import InlineJobQueue
from adapters.queue.recording import RecordingJobQueue
from adapters.queue.rq_queue import RedisSlotClaims, RqJobQueue, rq_job_id
from domain.shared.clock import ManualClock
from domain.shared.errors import Unavailable
from domain.shared.jobs import Job, RetryPolicy
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.worker import commands, jobs
from entrypoints.worker.jobs import JOBS, UnknownJob, run_job
from entrypoints.worker.schedule import SCHEDULE, LocalSlotClaims, Periodic, tick
from tests.fixtures.settings import T0, make_settings, unique

PASSWORD = "correct horse battery"
FUNCTION = "entrypoints.worker.rq_entry.execute"


# --- the unit of work hands jobs over after commit ------------------------------------------
def test_a_job_reaches_the_queue_only_once_the_unit_of_work_commits() -> None:
    queue = RecordingJobQueue()
    with MemoryUnitOfWorkFactory(queue=queue)() as uow:
        uow.enqueue(Job("ledger.expire_grants"))
        assert queue.jobs == []
        uow.commit()
    assert queue.names == ["ledger.expire_grants"]


def test_a_unit_of_work_that_raises_sends_no_jobs() -> None:
    queue = RecordingJobQueue()
    with pytest.raises(RuntimeError, match="boom"):
        with MemoryUnitOfWorkFactory(queue=queue)() as uow:
            uow.enqueue(Job("ledger.expire_grants"))
            raise RuntimeError("boom")
    assert queue.jobs == []


def test_a_unit_of_work_left_without_commit_sends_no_jobs() -> None:
    queue = RecordingJobQueue()
    with MemoryUnitOfWorkFactory(queue=queue)() as uow:
        uow.enqueue(Job("ledger.expire_grants"))
    assert queue.jobs == []


def test_the_recording_queue_drops_a_second_job_with_the_same_id() -> None:
    queue = RecordingJobQueue()
    queue.enqueue(Job("a", job_id="same"))
    queue.enqueue(Job("b", job_id="same"))
    queue.enqueue(Job("c"))
    assert queue.names == ["a", "c"]
    assert [job.name for job in queue.dropped] == ["b"]


# --- the inline queue -------------------------------------------------------------------------
def test_the_inline_queue_runs_each_job_at_once_through_its_runner() -> None:
    ran: list[Job] = []
    queue = InlineJobQueue(ran.append)
    queue.enqueue(Job("x", {"n": 1}))
    assert ran == [Job("x", {"n": 1})]


def test_the_inline_queue_runs_a_delayed_job_at_once() -> None:
    ran: list[Job] = []
    queue = InlineJobQueue(ran.append)
    queue.enqueue(Job("later", run_at=datetime.now(UTC) + timedelta(days=1)))
    assert [job.name for job in ran] == ["later"]


def test_an_unbound_inline_queue_refuses_jobs_and_binding_it_makes_it_bound() -> None:
    queue = InlineJobQueue()
    assert not queue.bound
    with pytest.raises(RuntimeError, match="not bound"):
        queue.enqueue(Job("x"))
    queue.bind(lambda job: None)
    assert queue.bound


def fail(job: Job) -> None:
    raise ValueError(f"{job.name} broke")


def test_a_failing_inline_job_is_recorded_without_undoing_the_commit_that_sent_it() -> None:
    queue = InlineJobQueue(fail)
    factory = MemoryUnitOfWorkFactory(queue=queue)
    with factory() as uow:
        factory.store.table("notes")["n1"] = "kept"
        uow.enqueue(Job("first"))
        uow.enqueue(Job("second"))
        uow.commit()  # does not raise
    assert factory.store.table("notes") == {"n1": "kept"}
    assert [(f.job.name, str(f.error)) for f in queue.failed] == [("first", "first broke"), ("second", "second broke")]


def test_an_inline_queue_told_to_raise_errors_raises_the_job_failure() -> None:
    queue = InlineJobQueue(fail, raise_errors=True)
    with pytest.raises(ValueError, match="x broke"):
        queue.enqueue(Job("x"))


# --- the jobs, on a memory container ------------------------------------------------------------
@pytest.fixture
def container(clock: ManualClock) -> Container:
    """No Redis: bootstrap picks the inline queue and binds it to run_job."""
    return bootstrap(make_settings(free_plan_monthly_credits=100), clock=clock)


def register(container: Container) -> str:
    return container.identity.register(f"{unique('u')}@example.com", PASSWORD).user.id


def allowances(container: Container, user_id: str) -> list[str]:
    entries = container.ledger.transactions(user_id, limit=100).items
    return sorted(str(e.reference) for e in entries if e.kind == "grant" and str(e.reference).startswith("free-plan:"))


def test_run_job_refuses_an_unknown_name_and_lists_the_known_ones(container: Container) -> None:
    with pytest.raises(UnknownJob, match=r"unknown job 'ledger.nope'.*ledger.expire_grants"):
        run_job(container, Job("ledger.nope"))


def test_the_monthly_grant_gives_each_free_user_this_months_allowance_once_however_often_it_runs(
    container: Container, clock: ManualClock
) -> None:
    users = [register(container) for _ in range(3)]  # each got January's at sign-up
    clock.set(datetime(2026, 2, 3, 9, 0, tzinfo=UTC))
    first = run_job(container, Job("ledger.grant_free_plan_monthly_credits"))
    again = run_job(container, Job("ledger.grant_free_plan_monthly_credits"))
    assert first == again == {"period": "2026-02", "users": 3}
    for user in users:
        assert allowances(container, user) == ["free-plan:2026-01", "free-plan:2026-02"]
        assert container.ledger.balance(user).balance == 100  # January's expired with January


def test_the_monthly_grant_pages_through_every_free_user(
    container: Container, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "PAGE_SIZE", 2)
    users = [register(container) for _ in range(5)]
    summary = run_job(container, Job("ledger.grant_free_plan_monthly_credits", {"period": "2026-03"}))
    assert summary == {"period": "2026-03", "users": 5}
    assert all("free-plan:2026-03" in allowances(container, user) for user in users)


@pytest.mark.parametrize("period", ["2026-13", "26-01", "2026-1", 202601])
def test_the_monthly_grant_refuses_a_period_that_is_not_a_month(container: Container, period: Any) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        run_job(container, Job("ledger.grant_free_plan_monthly_credits", {"period": period}))


def test_the_expiry_job_reports_how_many_grants_it_expired(container: Container, clock: ManualClock) -> None:
    users = [register(container) for _ in range(2)]  # January's allowance expires on February 1st
    clock.set(datetime(2026, 2, 1, 0, 0, 1, tzinfo=UTC))
    assert run_job(container, Job("ledger.expire_grants")) == {"expired": 2}
    assert [container.ledger.balance(user).balance for user in users] == [0, 0]


def test_the_hold_release_job_reports_how_many_holds_it_released(container: Container, clock: ManualClock) -> None:
    user = register(container)
    container.ledger.hold(user, amount=30, idempotency_key="h1", ttl_seconds=60)
    clock.advance(seconds=61)
    assert run_job(container, Job("ledger.release_expired_holds")) == {"released": 1}
    assert container.ledger.balance(user).available == 100


def test_bootstrap_without_redis_binds_the_inline_queue_to_run_job(container: Container) -> None:
    user = register(container)
    assert isinstance(container.queue, InlineJobQueue)
    container.queue.enqueue(Job("ledger.grant_free_plan_monthly_credits", {"period": "2026-07"}))
    assert "free-plan:2026-07" in allowances(container, user)


# --- the RQ queue, on fakeredis ----------------------------------------------------------------
@pytest.fixture
def fake_redis() -> Redis:
    return fakeredis.FakeRedis()


def only_job(redis: Redis, queue: str = "default") -> RqJob:
    ids = Queue(queue, connection=redis).job_ids
    assert len(ids) == 1, ids
    return RqJob.fetch(ids[0], connection=redis)


def test_the_rq_queue_enqueues_the_entry_point_with_the_job_name_and_payload(fake_redis: Redis) -> None:
    RqJobQueue(fake_redis, job_function=FUNCTION, default_queue="work").enqueue(Job("ledger.expire_grants", {"a": 1}))
    job = only_job(fake_redis, "work")
    assert (job.func_name, job.args, job.description) == (
        FUNCTION,
        ("ledger.expire_grants", {"a": 1}),
        "ledger.expire_grants",
    )
    assert job.retries_left is None


def test_the_rq_queue_silently_drops_a_second_job_with_the_same_id(fake_redis: Redis) -> None:
    queue = RqJobQueue(fake_redis, job_function=FUNCTION)
    queue.enqueue(Job("a", job_id="once-only"))
    queue.enqueue(Job("b", job_id="once-only"))
    job = only_job(fake_redis)
    assert (job.id, job.args[0]) == ("once-only", "a")


def test_the_rq_queue_maps_ids_rq_refuses_to_stable_valid_ones() -> None:
    assert rq_job_id("periodic-x-20260101T000000Z") == "periodic-x-20260101T000000Z"
    mapped = rq_job_id("grant:usr 1/2026-01")
    assert mapped.startswith("grant-usr-1-2026-01-") and mapped == rq_job_id("grant:usr 1/2026-01")
    assert rq_job_id("a:b") != rq_job_id("a-b")


@pytest.mark.parametrize(
    ("policy", "waits"),
    [
        (RetryPolicy(2, (0, 1)), [0, 1]),
        (RetryPolicy(4, (10, 60)), [10, 60, 60, 60]),  # the last interval repeats
        (RetryPolicy(2, (10, 60, 300)), [10, 60]),
        (RetryPolicy(2, ()), [0, 0]),
    ],
)
def test_the_rq_queue_gives_rq_one_wait_per_retry_of_the_policy(
    fake_redis: Redis, policy: RetryPolicy, waits: list[int]
) -> None:
    RqJobQueue(fake_redis, job_function=FUNCTION).enqueue(Job("a", retry=policy))
    job = only_job(fake_redis)
    assert (job.retries_left, job.retry_intervals) == (policy.max_retries, waits)


def test_the_rq_queue_sends_no_retry_for_a_policy_of_zero_retries(fake_redis: Redis) -> None:
    RqJobQueue(fake_redis, job_function=FUNCTION).enqueue(Job("a", retry=RetryPolicy(0)))
    assert only_job(fake_redis).retries_left is None


def test_the_rq_queue_schedules_a_job_whose_run_at_is_ahead(fake_redis: Redis) -> None:
    run_at = datetime.now(UTC) + timedelta(minutes=5)
    RqJobQueue(fake_redis, job_function=FUNCTION).enqueue(Job("later", run_at=run_at, job_id="later-1"))
    registry = ScheduledJobRegistry("default", connection=fake_redis)
    assert Queue("default", connection=fake_redis).job_ids == []
    assert registry.get_job_ids() == ["later-1"]
    assert abs(registry.get_scheduled_time("later-1") - run_at) < timedelta(seconds=1)


def test_the_rq_queue_enqueues_at_once_a_run_at_already_due(fake_redis: Redis) -> None:
    RqJobQueue(fake_redis, job_function=FUNCTION).enqueue(Job("due", run_at=datetime.now(UTC)))
    assert only_job(fake_redis).args[0] == "due"


def test_the_rq_queue_refuses_a_naive_run_at(fake_redis: Redis) -> None:
    with pytest.raises(ValueError, match="aware"):
        RqJobQueue(fake_redis, job_function=FUNCTION).enqueue(Job("x", run_at=datetime(2030, 1, 1)))


def test_an_unreachable_redis_is_reported_as_unavailable() -> None:
    redis = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    with pytest.raises(Unavailable):
        RqJobQueue(redis, job_function=FUNCTION).enqueue(Job("x"))
    with pytest.raises(Unavailable):
        RedisSlotClaims(redis).claim("k", 10)


# --- the schedule -------------------------------------------------------------------------------
def test_the_schedule_releases_holds_every_minute_expires_grants_hourly_and_grants_daily() -> None:
    assert [(p.name, p.job_name, p.interval_seconds, p.cron) for p in SCHEDULE] == [
        ("release_expired_holds", "ledger.release_expired_holds", 60, None),
        ("expire_grants", "ledger.expire_grants", 3600, None),
        ("grant_free_plan_monthly_credits", "ledger.grant_free_plan_monthly_credits", None, "10 0 * * *"),
        ("billing_reconcile", "billing.reconcile", None, "20 3 * * *"),
        ("coaching_sweep", "coaching.sweep", 60, None),
        ("outbox_relay", "outbox.relay", 60, None),
        ("webhooks_sweep", "webhooks.sweep", 60, None),
        ("announce_expiring", "credits.announce_expiring", None, "0 9 * * *"),
        ("referrals_release", "referrals.release_due", 3600, None),  # issue 24
        ("sales_rollup", "sales.rollup", None, "20 0 * * *"),  # issue 24
        ("announce_renewals", "notifications.announce_renewals", None, "0 8 * * *"),  # issue 27
        ("retention", "platform.retention", None, "40 4 * * *"),  # issue 27
    ]
    assert all(entry.job_name in JOBS for entry in SCHEDULE)


def test_an_interval_slot_is_aligned_to_the_epoch_in_utc() -> None:
    entry = Periodic("p", "j", interval_seconds=3600)
    paris = timezone(timedelta(hours=1))
    start, end = entry.slot(datetime(2026, 1, 15, 13, 59, 59, tzinfo=paris))
    assert (start, end) == (
        datetime(2026, 1, 15, 12, tzinfo=UTC),
        datetime(2026, 1, 15, 13, tzinfo=UTC),
    )
    assert entry.job_id(start) == "periodic-p-20260115T120000Z"


@pytest.mark.parametrize(
    ("now", "start"),
    [
        (datetime(2026, 1, 15, 0, 9, 59, tzinfo=UTC), datetime(2026, 1, 14, 0, 10, tzinfo=UTC)),
        (datetime(2026, 1, 15, 0, 10, tzinfo=UTC), datetime(2026, 1, 15, 0, 10, tzinfo=UTC)),
        (datetime(2026, 1, 15, 23, 0, tzinfo=UTC), datetime(2026, 1, 15, 0, 10, tzinfo=UTC)),
    ],
)
def test_a_cron_slot_runs_from_one_utc_fire_time_to_the_next(now: datetime, start: datetime) -> None:
    assert Periodic("p", "j", cron="10 0 * * *").slot(now) == (start, start + timedelta(days=1))


@pytest.mark.parametrize(
    "kwargs", [{}, {"interval_seconds": 60, "cron": "* * * * *"}, {"interval_seconds": 0}, {"cron": "every day"}]
)
def test_a_periodic_entry_needs_exactly_one_valid_interval_or_cron(kwargs: Mapping[str, Any]) -> None:
    with pytest.raises(ValueError):
        Periodic("p", "j", **kwargs)


def test_a_tick_enqueues_the_current_slot_of_every_entry_once() -> None:
    queue, claims = RecordingJobQueue(), LocalSlotClaims()
    first = tick(SCHEDULE, T0, queue, claims)
    assert first == [
        "periodic-release_expired_holds-20260115T120000Z",
        "periodic-expire_grants-20260115T120000Z",
        "periodic-grant_free_plan_monthly_credits-20260115T001000Z",
        "periodic-billing_reconcile-20260115T032000Z",
        "periodic-coaching_sweep-20260115T120000Z",
        "periodic-outbox_relay-20260115T120000Z",
        "periodic-webhooks_sweep-20260115T120000Z",
        "periodic-announce_expiring-20260115T090000Z",
        "periodic-referrals_release-20260115T120000Z",  # issue 24
        "periodic-sales_rollup-20260115T002000Z",
        "periodic-announce_renewals-20260115T080000Z",  # issue 27
        "periodic-retention-20260115T044000Z",
    ]
    assert tick(SCHEDULE, T0 + timedelta(seconds=59), queue, claims) == []
    next_minute = [
        "periodic-release_expired_holds-20260115T120100Z",
        "periodic-coaching_sweep-20260115T120100Z",
        "periodic-outbox_relay-20260115T120100Z",
        "periodic-webhooks_sweep-20260115T120100Z",
    ]
    assert tick(SCHEDULE, T0 + timedelta(seconds=60), queue, claims) == next_minute
    assert [job.job_id for job in queue.jobs] == [*first, *next_minute]
    assert queue.jobs[2].retry == RetryPolicy(3, (60, 300, 900))


def test_two_schedulers_sharing_claims_enqueue_each_slot_once() -> None:
    claims = LocalSlotClaims()
    queue_a, queue_b = RecordingJobQueue(), RecordingJobQueue()
    tick(SCHEDULE, T0, queue_a, claims)
    tick(SCHEDULE, T0 + timedelta(seconds=1), queue_b, claims)
    assert (len(queue_a.jobs), len(queue_b.jobs)) == (len(SCHEDULE), 0)


class BrokenQueue:
    def enqueue(self, job: Job) -> None:
        raise Unavailable("down")


def test_a_slot_whose_enqueue_failed_is_tried_again_by_the_next_tick() -> None:
    claims, entry = LocalSlotClaims(), Periodic("p", "j", interval_seconds=60)
    with pytest.raises(Unavailable):
        tick([entry], T0, BrokenQueue(), claims)
    queue = RecordingJobQueue()
    assert tick([entry], T0 + timedelta(seconds=5), queue, claims) == ["periodic-p-20260115T120000Z"]


def test_a_local_claim_expires_after_its_ttl() -> None:
    now = [0.0]
    claims = LocalSlotClaims(monotonic=lambda: now[0])
    assert claims.claim("k", 10) and not claims.claim("k", 10)
    now[0] = 10.5
    assert claims.claim("k", 10)


# --- the commands that need no Redis ---------------------------------------------------------
def test_run_job_now_runs_the_job_in_process_and_prints_its_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert commands.run_job_now(make_settings(), "ledger.expire_grants", {}) == 0
    assert capsys.readouterr().out.strip() == '{"expired": 0}'


@pytest.mark.parametrize(
    ("name", "payload", "message"),
    [
        ("ledger.nope", {}, "unknown job 'ledger.nope'"),
        ("ledger.expire_grants", [1], "must be a JSON object"),
    ],
)
def test_run_job_now_refuses_unknown_jobs_and_bad_payloads(
    capsys: pytest.CaptureFixture[str], name: str, payload: Any, message: str
) -> None:
    assert commands.run_job_now(make_settings(), name, payload) == 2
    assert message in capsys.readouterr().err


def test_run_job_now_exits_1_when_the_job_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert commands.run_job_now(make_settings(), "ledger.grant_free_plan_monthly_credits", {"period": "x"}) == 1
    assert "YYYY-MM" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command",
    [
        lambda s: commands.start_worker(s, ["default"], burst=True),
        commands.list_failed,
        lambda s: commands.requeue_failed(s, None),
    ],
)
def test_the_redis_commands_exit_2_with_a_message_without_redis_url(
    capsys: pytest.CaptureFixture[str], command: Any
) -> None:
    assert command(make_settings()) == 2
    assert "needs REDIS_URL" in capsys.readouterr().err
