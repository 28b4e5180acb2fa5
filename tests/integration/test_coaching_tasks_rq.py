"""AI tasks through a real RQ worker on Redis (TEST_REDIS_URL, flushed per test), with SQL storage:
success captures, failure releases, cancel releases, a task stuck running is failed by the sweep."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from redis import Redis
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from adapters.queue.rq_queue import RqJobQueue
from domain.coaching.model import TaskStatus
from domain.shared.clock import ManualClock
from domain.shared.jobs import Job
from entrypoints.bootstrap import JOB_FUNCTION, Container
from tests.fixtures.backends import backend_params
from tests.fixtures.llm import FakeCoach
from tests.fixtures.rq import worker_uses
from tests.fixtures.settings import T0, unique
from tests.integration.test_rq_worker import BurstWorker

pytestmark = pytest.mark.redis
QUEUE = "default"


@pytest.fixture(params=backend_params("sqlite", "mariadb"))
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def redis(redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def container(
    make_container: Callable[..., Container], redis: Redis, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> Container:
    queue = RqJobQueue(redis, job_function=JOB_FUNCTION, default_queue=QUEUE)
    built = make_container(queue=queue, clock=clock, coach_model=FakeCoach(text="A three step strategy."))
    worker_uses(monkeypatch, built)  # what `houston worker` builds with prepare()
    return built


def work(redis: Redis) -> None:
    BurstWorker([QUEUE], connection=redis).work(burst=True, logging_level="WARNING")
    assert FailedJobRegistry(QUEUE, connection=redis).count == 0


def a_task(container: Container) -> tuple[str, str]:
    user = container.identity.register(f"{unique('t')}@example.com", "correct horse battery").user.id
    workspace = container.coaching.create_workspace(user, name="W")
    task = container.coaching.create_task(user, type="strategy", workspace_id=workspace.id, input={"notes": "go"})
    assert container.ledger.balance(user).held == 25
    return user, task.id


def test_a_worker_runs_the_task_stores_its_result_and_captures_the_hold(container: Container, redis: Redis) -> None:
    user, task_id = a_task(container)
    work(redis)
    task = container.coaching.get_task(user, task_id)
    assert (task.status, task.result, task.credits_charged, task.settled) == (
        TaskStatus.SUCCEEDED,
        "A three step strategy.",
        25,
        True,
    )
    view = container.ledger.balance(user)
    assert (view.balance, view.held) == (75, 0)
    finished = FinishedJobRegistry(QUEUE, connection=redis).get_job_ids()
    assert finished.count(f"task-{task_id}") == 1  # (beside it: the task.succeeded event's fan-out, issue 22)


def test_a_task_whose_model_fails_is_failed_and_its_hold_released(container: Container, redis: Redis) -> None:
    assert isinstance(container.coach_model, FakeCoach)
    container.coach_model.fail = True
    user, task_id = a_task(container)
    work(redis)
    task = container.coaching.get_task(user, task_id)
    assert task.status is TaskStatus.FAILED and task.error and task.error.startswith("llm_unavailable")
    view = container.ledger.balance(user)
    assert (view.balance, view.held) == (100, 0)


def test_a_task_cancelled_before_the_worker_takes_it_is_never_run_nor_charged(
    container: Container, redis: Redis
) -> None:
    assert isinstance(container.coach_model, FakeCoach)
    user, task_id = a_task(container)
    container.coaching.cancel_task(user, task_id)
    assert container.ledger.balance(user).held == 0
    work(redis)  # the job still runs, and leaves the cancelled task alone
    assert container.coaching.get_task(user, task_id).status is TaskStatus.CANCELLED
    assert container.coach_model.calls == []
    assert container.ledger.balance(user).balance == 100


def test_a_task_stuck_running_is_failed_by_the_periodic_sweep_and_released(
    container: Container, redis: Redis, clock: ManualClock
) -> None:
    user, task_id = a_task(container)
    redis.flushdb()  # its job is lost...
    container.coaching.tasks.start(task_id)  # ...after a worker took it and died
    clock.advance(seconds=container.settings.task_timeout + 1)
    container.queue.enqueue(Job("coaching.sweep", job_id="sweep-1"))  # what `houston cron` enqueues each minute
    work(redis)
    task = container.coaching.get_task(user, task_id)
    assert task.status is TaskStatus.FAILED and task.error and task.error.startswith("timed_out")
    view = container.ledger.balance(user)
    assert (view.balance, view.held) == (100, 0)
