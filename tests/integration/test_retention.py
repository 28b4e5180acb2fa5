"""The `platform.retention` sweep (issue 27) on memory, SQLite and a MariaDB database of its own
(the sweep deletes by age across all users, so no other test may keep rows there): old events,
delivery-log rows and read notifications go, in bounded batches; an event a pending or backlog
webhook message still needs, an unread notification and an unsent outbox row stay."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.memory.uow import MemoryUnitOfWorkFactory
from adapters.sql.uow import SqlUnitOfWorkFactory
from domain.platform.notifications_model import Notification
from domain.platform.retention import RetentionPolicy, sweep_retention
from domain.platform.webhooks_model import Attempt, Message, MessageStatus, StoredEvent
from domain.shared.clock import ManualClock
from domain.shared.jobs import Job
from domain.shared.outbox import OutboxMessage
from entrypoints.bootstrap import bootstrap
from entrypoints.worker.jobs import run_job
from tests.fixtures.backends import backend_params, own_mariadb_engine, sqlite_engine
from tests.fixtures.settings import make_settings, unique

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
OLD, RECENT = NOW - timedelta(days=200), NOW - timedelta(days=5)
POLICY = RetentionPolicy(
    platform_events=timedelta(days=90),
    webhook_attempts=timedelta(days=30),
    read_notifications=timedelta(days=90),
    batch=3,
)


@pytest.fixture(params=backend_params())
def uow(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Any]]:
    if request.param == "memory":
        yield MemoryUnitOfWorkFactory()
        return
    if request.param == "sqlite":
        engine = sqlite_engine(tmp_path / "retention.db")
    else:
        engine = own_mariadb_engine("retention")
    yield SqlUnitOfWorkFactory(engine)
    engine.dispose()


def event(uow: Callable[[], Any], at: datetime) -> str:
    event_id = unique("evt")
    with uow() as unit:
        unit.webhooks.add_event(
            StoredEvent(id=event_id, user_id="usr_r", type="payment.succeeded", body={"id": event_id}, created_at=at)
        )
        unit.commit()
    return event_id


def message(uow: Callable[[], Any], event_id: str, status: MessageStatus) -> str:
    message_id = unique("msg")
    with uow() as unit:
        unit.webhooks.add_message(
            Message(
                id=message_id,
                endpoint_id="whe_r",
                event_id=event_id,
                event_type="payment.succeeded",
                dedupe_key=unique("dk"),
                status=status,
                attempts=1,
                next_attempt_at=NOW if status is MessageStatus.PENDING else None,
                created_at=OLD,
                updated_at=OLD,
            )
        )
        unit.commit()
    return message_id


def attempt(uow: Callable[[], Any], at: datetime) -> str:
    attempt_id = unique("wha")
    with uow() as unit:
        unit.webhooks.add_attempt(
            Attempt(
                id=attempt_id,
                endpoint_id="whe_r",
                message_id="msg_r",
                event_id="evt_r",
                event_type="payment.succeeded",
                attempt=1,
                status_code=500,
                duration_ms=3,
                error=None,
                response=None,
                created_at=at,
            )
        )
        unit.commit()
    return attempt_id


def notification(uow: Callable[[], Any], created: datetime, read: datetime | None) -> str:
    notification_id = unique("ntf")
    with uow() as unit:
        unit.notifications.add(
            Notification(
                id=notification_id,
                user_id="usr_r",
                type="task_finished",
                title="t",
                body="b",
                data={},
                dedupe_key=unique("n"),
                created_at=created,
                read_at=read,
            )
        )
        unit.commit()
    return notification_id


def events_left(uow: Callable[[], Any], ids: list[str]) -> set[str]:
    with uow() as unit:
        return {i for i in ids if unit.webhooks.get_event(i) is not None}


def test_old_rows_go_and_what_is_still_needed_stays(uow: Callable[[], Any]) -> None:
    old_done, old_failed, old_alone = event(uow, OLD), event(uow, OLD), event(uow, OLD)
    old_pending, old_backlog, recent = event(uow, OLD), event(uow, OLD), event(uow, RECENT)
    messages = [
        message(uow, old_done, MessageStatus.SUCCEEDED),
        message(uow, old_failed, MessageStatus.FAILED),
        message(uow, old_pending, MessageStatus.PENDING),
        message(uow, old_backlog, MessageStatus.BACKLOG),
    ]
    recent_done = message(uow, recent, MessageStatus.SUCCEEDED)  # old itself, but its event is still kept
    old_attempts = [attempt(uow, NOW - timedelta(days=31 + n)) for n in range(4)]
    recent_attempt = attempt(uow, RECENT)
    read_long_ago = notification(uow, OLD, OLD + timedelta(days=1))
    read_lately = notification(uow, OLD, RECENT)  # old, but read only lately: kept
    unread = notification(uow, OLD, None)
    with uow() as unit:
        unsent = OutboxMessage.of(Job("notifications.email", {"notification_id": unread}), OLD)
        unit.outbox.add(unsent)
        unit.commit()

    deleted = sweep_retention(uow, ManualClock(NOW), POLICY)

    assert deleted == {"platform_events": 3, "webhook_messages": 2, "webhook_attempts": 4, "read_notifications": 1}
    assert events_left(uow, [old_done, old_failed, old_alone, old_pending, old_backlog, recent]) == {
        old_pending,
        old_backlog,
        recent,
    }
    with uow() as unit:
        attempts = {a.id for a in unit.webhooks.attempts_of("whe_r", after=None, limit=100)}
        assert attempts & {*old_attempts, recent_attempt} == {recent_attempt}
        assert unit.notifications.get(read_long_ago) is None
        assert unit.notifications.get(read_lately) is not None and unit.notifications.get(unread) is not None
        assert unsent.id in {m.id for m in unit.outbox.pending(created_before=NOW, limit=1000)}
        kept = {m for m in [*messages, recent_done] if unit.webhooks.get_message(m) is not None}
        assert kept == {messages[2], messages[3], recent_done}  # finished ones whose event went, went too
    assert sweep_retention(uow, ManualClock(NOW), POLICY) == {
        "platform_events": 0,
        "webhook_messages": 0,
        "webhook_attempts": 0,
        "read_notifications": 0,
    }


def test_each_batch_deletes_at_most_the_batch_size(uow: Callable[[], Any]) -> None:
    old = [attempt(uow, OLD + timedelta(minutes=n)) for n in range(7)]
    one_batch = RetentionPolicy(webhook_attempts=timedelta(days=30), batch=3, max_batches=1)
    sizes = [sweep_retention(uow, ManualClock(NOW), one_batch)["webhook_attempts"] for _ in range(3)]
    assert sizes == [3, 3, 1]
    with uow() as unit:
        assert not {a.id for a in unit.webhooks.attempts_of("whe_r", after=None, limit=100)} & set(old)


def test_the_job_reads_its_windows_from_the_settings(tmp_path: Path) -> None:
    engine = sqlite_engine(tmp_path / "job.db")
    factory = SqlUnitOfWorkFactory(engine)
    settings = make_settings(retention_webhook_attempts_days=300, retention_batch_size=2)
    container = bootstrap(settings, clock=ManualClock(NOW), uow=factory)
    kept = attempt(factory, OLD)  # 200 days old: inside a 300-day window
    assert run_job(container, Job("platform.retention"))["webhook_attempts"] == 0
    with factory() as unit:
        assert [a.id for a in unit.webhooks.attempts_of("whe_r", after=None, limit=10)] == [kept]
    engine.dispose()
