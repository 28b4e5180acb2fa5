"""`subscription_renewing` (issue 27): the daily job tells a subscriber N days before the plan
renews, once per renewal period, on every backend; a repeat, or two runs at once on MariaDB,
sends nothing new."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.sql.uow import SqlUnitOfWorkFactory
from domain.billing.model import Subscription, SubscriptionStatus
from domain.shared.clock import ManualClock
from domain.shared.jobs import Job
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.worker.jobs import run_job
from tests.fixtures.concurrency import run_together
from tests.fixtures.settings import make_settings, unique

PASSWORD = "correct horse battery"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def container(make_container: Callable[..., Container], clock: ManualClock) -> Container:
    return make_container(clock=clock, settings=make_settings(subscription_renewal_notice_days=3))


def subscriber(container: Container, ends_in: timedelta, **fields: Any) -> tuple[str, str]:
    user = container.identity.register(f"{unique('rn')}@example.com", PASSWORD).user.id
    now = container.clock.now()
    values: dict[str, Any] = dict(
        user_id=user,
        provider_id=unique("sub"),
        plan_id="pro",
        status=SubscriptionStatus.ACTIVE,
        created_at=now,
        updated_at=now,
        current_period_start=now + ends_in - timedelta(days=30),
        current_period_end=now + ends_in,
    )
    values.update(fields)
    with container.uow() as uow:
        uow.billing.save_subscription(Subscription(**values))  # type: ignore[attr-defined]
        uow.commit()
    return user, values["provider_id"]


def renew(container: Container, user: str, period_end: datetime) -> None:
    with container.uow() as uow:
        s = uow.billing.get_subscription(user)  # type: ignore[attr-defined]
        s.current_period_start, s.current_period_end = s.current_period_end, period_end
        uow.billing.save_subscription(s)  # type: ignore[attr-defined]
        uow.commit()


def notices(container: Container, user: str) -> list[Any]:
    page = container.platform_events.notifications.inbox(user, unread_only=False, limit=200, cursor=None)[0]
    return [n for n in page.items if n.type == "subscription_renewing"]


def run(container: Container) -> dict[str, Any]:
    return run_job(container, Job("notifications.announce_renewals"))


def test_a_subscriber_hears_of_the_renewal_once_within_the_notice_window(
    container: Container, clock: ManualClock
) -> None:
    user, sub = subscriber(container, timedelta(days=2, hours=12))
    far, _ = subscriber(container, timedelta(days=10))

    run(container)
    run(container)  # the next run sees it again: nobody is told twice
    clock.advance(days=1)
    run(container)
    [notice] = notices(container, user)
    assert notice.data["plan_id"] == "pro" and notice.dedupe_key.startswith(f"subscription_renewing:{sub}:")
    assert notices(container, far) == []


def test_the_next_period_gets_its_own_notice(container: Container, clock: ManualClock) -> None:
    user, _ = subscriber(container, timedelta(days=1))
    run(container)
    clock.advance(days=2)  # renewed: the period moved a month on
    renew(container, user, clock.now() + timedelta(days=29))
    run(container)
    assert len(notices(container, user)) == 1
    clock.advance(days=27)
    run(container)
    run(container)
    assert len(notices(container, user)) == 2


@pytest.mark.parametrize(
    "fields",
    [
        {"cancel_at_period_end": True},
        {"status": SubscriptionStatus.PAST_DUE},
        {"status": SubscriptionStatus.CANCELED},
    ],
)
def test_a_subscription_that_will_not_renew_is_not_announced(container: Container, fields: dict[str, Any]) -> None:
    user, _ = subscriber(container, timedelta(days=1), **fields)
    run(container)
    assert notices(container, user) == []


def test_the_renewal_notice_respects_the_users_preferences(container: Container) -> None:
    user, _ = subscriber(container, timedelta(days=1))
    container.platform_events.notifications.set_preferences(user, {"subscription_renewing": {"in_app": False}})
    run(container)
    assert notices(container, user) == []  # email only: not in the inbox
    run(container)
    with container.uow() as uow:
        stored = uow.notifications.list(user, unread_only=False, after=None, limit=10)  # type: ignore[attr-defined]
    assert stored == []


# --- MariaDB, real threads ---------------------------------------------------------------------
@pytest.mark.mysql
def test_concurrent_runs_notify_and_email_once(mysql_engine: Any) -> None:
    from adapters.queue.recording import RecordingJobQueue

    queue = RecordingJobQueue()
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    container = bootstrap(
        make_settings(subscription_renewal_notice_days=3),
        clock=clock,
        queue=queue,
        uow=SqlUnitOfWorkFactory(mysql_engine, queue),
    )
    users = [subscriber(container, timedelta(days=1, minutes=i))[0] for i in range(6)]

    _, errors = run_together([lambda: run(container)] * 4, timeout=60)
    assert errors == []  # a thread's failure must fail the test
    for user in users:
        [notice] = notices(container, user)
        emails = [
            j for j in queue.jobs if j.name == "notifications.email" and j.payload["notification_id"] == notice.id
        ]
        assert len(emails) == 1
