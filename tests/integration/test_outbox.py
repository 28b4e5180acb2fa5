"""The transactional outbox on every backend: a job exists exactly when its transaction committed,
and a queue that is down at the commit delays the job, never loses it nor fails the commit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.queue.recording import RecordingJobQueue
from domain.shared.errors import Unavailable
from domain.shared.jobs import Job, RetryPolicy
from domain.shared.outbox import relay_pending
from tests.fixtures.backends import storage_engine


class DownQueue:
    """A queue whose Redis is down: every enqueue raises Unavailable (what RqJobQueue raises)."""

    def __init__(self) -> None:
        self.tries = 0

    def enqueue(self, job: Job) -> None:
        self.tries += 1
        raise Unavailable("The job queue is unavailable; try again.")


@pytest.fixture
def uow_with(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Callable[[Any], Callable[[], Any]]:
    from adapters.memory.store import MemoryStore
    from adapters.memory.uow import MemoryUnitOfWorkFactory
    from adapters.sql.uow import SqlUnitOfWorkFactory

    engine = storage_engine(backend, tmp_path, request)
    store = MemoryStore()
    if engine is not None:  # MariaDB is shared by the session: start from an empty outbox
        from sqlalchemy import delete

        from adapters.sql.outbox_tables import outbox

        with engine.begin() as connection:
            connection.execute(delete(outbox))
    return lambda queue: (
        MemoryUnitOfWorkFactory(store, queue) if engine is None else SqlUnitOfWorkFactory(engine, queue)
    )


def later() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=1)


def unsent(uow: Callable[[], Any]) -> int:
    with uow() as unit:
        return len(unit.outbox.pending(created_before=later(), limit=1000))


def test_a_committed_job_is_sent_once_and_marked(uow_with: Callable[[Any], Callable[[], Any]]) -> None:
    queue = RecordingJobQueue()
    uow = uow_with(queue)
    with uow() as unit:
        unit.enqueue(Job("x.y", {"n": 1}, retry=RetryPolicy(2, (5, 60))))
        unit.commit()
    assert [(j.name, dict(j.payload), j.retry) for j in queue.jobs] == [("x.y", {"n": 1}, RetryPolicy(2, (5, 60)))]
    assert queue.jobs[0].job_id is not None and queue.jobs[0].job_id.startswith("outbox-obx_")
    assert unsent(uow) == 0
    assert relay_pending(uow, queue, later(), grace=timedelta(0)) == 0
    assert len(queue.jobs) == 1


def test_a_rolled_back_change_sends_nothing_and_leaves_no_row(uow_with: Callable[[Any], Callable[[], Any]]) -> None:
    queue = RecordingJobQueue()
    uow = uow_with(queue)
    with pytest.raises(RuntimeError):
        with uow() as unit:
            unit.enqueue(Job("x.y", {"n": 1}))
            raise RuntimeError("the use case failed after it queued the job")
    with uow() as unit:
        unit.enqueue(Job("x.z"))
        unit.rollback()
    assert queue.jobs == [] and unsent(uow) == 0
    assert relay_pending(uow, queue, later(), grace=timedelta(0)) == 0 and queue.jobs == []


def test_a_queue_down_at_the_commit_keeps_the_job_for_the_relay(uow_with: Callable[[Any], Callable[[], Any]]) -> None:
    down = DownQueue()
    uow = uow_with(down)
    with uow() as unit:
        unit.enqueue(Job("coaching.run_task", {"task_id": "t1"}, job_id="task-t1"))
        unit.enqueue(Job("x.y"))
        unit.commit()  # does not raise: the change is committed, the jobs wait in the outbox
    assert down.tries == 1 and unsent(uow) == 2
    assert relay_pending(uow, down, later(), grace=timedelta(0)) == 0  # still down: nothing lost
    assert unsent(uow) == 2

    up = RecordingJobQueue()
    assert relay_pending(uow, up, later(), grace=timedelta(0)) == 2
    assert up.names == ["coaching.run_task", "x.y"] and up.jobs[0].job_id == "task-t1"
    assert unsent(uow) == 0
    assert relay_pending(uow, up, later(), grace=timedelta(0)) == 0 and len(up.jobs) == 2


def test_the_relay_leaves_rows_younger_than_the_grace_to_their_committer(
    uow_with: Callable[[Any], Callable[[], Any]],
) -> None:
    uow = uow_with(DownQueue())
    with uow() as unit:
        unit.enqueue(Job("x.y"))
        unit.commit()
    up = RecordingJobQueue()
    assert relay_pending(uow, up, datetime.now(UTC), grace=timedelta(seconds=30)) == 0
    assert relay_pending(uow, up, datetime.now(UTC) + timedelta(seconds=31), grace=timedelta(seconds=30)) == 1


def test_rows_sent_long_ago_are_purged_and_unsent_ones_kept(uow_with: Callable[[Any], Callable[[], Any]]) -> None:
    from domain.shared.outbox import purge_sent

    down = DownQueue()
    with uow_with(down)() as unit:
        unit.enqueue(Job("kept"))
        unit.commit()
    uow = uow_with(RecordingJobQueue())
    with uow() as unit:
        unit.enqueue(Job("sent"))
        unit.commit()
    assert purge_sent(uow, datetime.now(UTC) - timedelta(days=7)) == 0
    assert purge_sent(uow, later()) == 1
    assert unsent(uow) == 1
