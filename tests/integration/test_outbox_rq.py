"""The outbox through a real RQ worker on Redis (TEST_REDIS_URL): Redis down between the commit and
the enqueue, then back; and a webhook whose receiver was down, retried by RQ's scheduler until it
answers, with the owner's email going through the same worker to a real SMTP server.

Redis "down" without touching the shared server: the queue points at a closed port first, then
at the real Redis (`Switch`), as a relay would see an outage end."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis import Redis
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from adapters.queue.rq_queue import RqJobQueue
from domain.coaching.model import TaskStatus
from domain.platform import emitters
from domain.shared.jobs import Job
from domain.shared.outbox import relay_pending
from entrypoints.bootstrap import JOB_FUNCTION, Container
from tests.fixtures.backends import backend_params
from tests.fixtures.llm import FakeCoach
from tests.fixtures.rq import worker_uses
from tests.fixtures.serving import free_port
from tests.fixtures.settings import make_settings, unique
from tests.fixtures.webhooks import FakePayment, Mailbox, Receiver
from tests.integration.test_rq_worker import QUEUE, burst, work_until

pytestmark = pytest.mark.redis


class Switch:
    """The job queue, pointed at a dead Redis or the real one."""

    def __init__(self, target: RqJobQueue) -> None:
        self.target = target

    def enqueue(self, job: Job) -> None:
        self.target.enqueue(job)


class Sink:
    def __init__(self) -> None:
        self.jobs: list[Job] = []

    def enqueue(self, job: Job) -> None:
        self.jobs.append(job)


@pytest.fixture(params=backend_params("sqlite", "mariadb"))
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def redis(redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def dead_queue() -> RqJobQueue:
    closed = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5, socket_timeout=0.5)
    return RqJobQueue(closed, job_function=JOB_FUNCTION, default_queue=QUEUE)


@pytest.fixture
def live_queue(redis: Redis) -> RqJobQueue:
    return RqJobQueue(redis, job_function=JOB_FUNCTION, default_queue=QUEUE)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox().start()
    yield box
    box.stop()


def later() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=1)


def build(
    make_container: Callable[..., Container], switch: Switch, monkeypatch: pytest.MonkeyPatch, **settings: Any
) -> Container:
    built = make_container(
        queue=switch,
        coach_model=FakeCoach(text="Done."),
        settings=make_settings(webhook_allowed_networks="127.0.0.0/8", **settings),
    )
    worker_uses(monkeypatch, built)  # what `houston worker` builds with prepare()
    return built


def test_a_task_committed_while_redis_is_down_runs_once_when_it_is_back(
    make_container: Callable[..., Container],
    dead_queue: RqJobQueue,
    live_queue: RqJobQueue,
    redis: Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    switch = Switch(dead_queue)
    container = build(make_container, switch, monkeypatch)
    user = container.identity.register(f"{unique('o')}@example.com", "correct horse battery").user.id
    workspace = container.coaching.create_workspace(user, name="W")
    # rows that earlier tests left unsent in a shared database (their queues were fakes or down)
    # are handed to a sink first, so that the counts below are this test's own
    relay_pending(container.uow, Sink(), later(), grace=timedelta(0))

    task = container.coaching.create_task(user, type="strategy", workspace_id=workspace.id, input={"notes": "go"})

    assert task.status is TaskStatus.QUEUED  # committed and answered; before the outbox: failed, credits released
    assert container.ledger.balance(user).held == 25
    burst(redis)
    assert container.coaching.get_task(user, task.id).status is TaskStatus.QUEUED  # nothing reached Redis
    assert relay_pending(container.uow, switch, later(), grace=timedelta(0)) == 0  # still down: kept

    switch.target = live_queue  # Redis is back
    assert relay_pending(container.uow, switch, later(), grace=timedelta(0)) == 1
    work_until(redis, lambda: container.coaching.get_task(user, task.id).status is TaskStatus.SUCCEEDED, timeout=30)  # type: ignore[union-attr]
    assert relay_pending(container.uow, switch, later(), grace=timedelta(0)) == 0  # a second relay sends nothing
    burst(redis)

    assert container.ledger.balance(user).balance == 75  # charged once
    finished = FinishedJobRegistry(QUEUE, connection=redis).get_job_ids()
    assert finished.count(f"task-{task.id}") == 1
    assert FailedJobRegistry(QUEUE, connection=redis).count == 0


def test_a_webhook_to_a_receiver_that_was_down_is_retried_until_it_answers_and_the_owner_gets_email(
    make_container: Callable[..., Container],
    live_queue: RqJobQueue,
    redis: Redis,
    mailbox: Mailbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    container = build(
        make_container, Switch(live_queue), monkeypatch, webhook_retry_schedule=(1, 1, 1), smtp_url=mailbox.url
    )
    platform = container.platform_events
    assert platform is not None
    receiver = Receiver()
    port = free_port()  # nothing listens there yet: the receiver is down
    receiver.port = port
    user = container.identity.register(f"{unique('w')}@example.com", "correct horse battery").user.id
    endpoint = platform.webhooks.create(user, receiver.url, ["payment.succeeded"], "shop")
    receiver.secrets = [endpoint.secret]

    with container.uow() as uow:
        event_id = emitters.payment(uow, "payment.succeeded", FakePayment(user), datetime.now(UTC))
        uow.commit()
    work_until(redis, lambda: len(platform.webhooks.deliveries(user, endpoint.id, limit=10, cursor=None).items) >= 1)
    first = platform.webhooks.deliveries(user, endpoint.id, limit=10, cursor=None).items[0]
    assert first.status_code is None and first.error and first.error.startswith("connection error")

    receiver.start(port)  # the receiver is back
    try:
        work_until(redis, lambda: len(receiver.payloads()) == 1, timeout=15)
    finally:
        receiver.stop()
    [payload] = receiver.payloads()
    assert payload["type"] == "payment.succeeded" and payload["id"] == event_id
    assert payload["data"]["object"]["amount_cents"] == 2000 and isinstance(payload["data"]["version"], int)
    attempts = platform.webhooks.deliveries(user, endpoint.id, limit=10, cursor=None).items
    assert [a.status_code for a in attempts][0] == 200 and all(a.event_id == event_id for a in attempts)
    assert receiver.received[0].headers["webhook-id"] == event_id

    emails = {str(m["Subject"]): m for m in mailbox.wait_for(2)}
    assert sorted(emails) == ["A webhook endpoint is failing", "Payment received"]
    email = emails["Payment received"]
    assert email["To"].addresses[0].username.startswith("w-")  # type: ignore[union-attr]
    assert "List-Unsubscribe" not in email  # a payment notice cannot be turned off
    kinds = sorted(part.get_content_type() for part in email.iter_parts())
    assert kinds == ["text/html", "text/plain"]
    failing = emails["A webhook endpoint is failing"]  # optional: it carries the unsubscribe link
    assert failing["List-Unsubscribe"].startswith("<http://127.0.0.1:8000/v1/notifications/unsubscribe?token=")
    text = failing.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Turn them off: http://127.0.0.1:8000/v1/notifications/unsubscribe?token=" in text
    assert FailedJobRegistry(QUEUE, connection=redis).count == 0


def test_the_relay_needs_no_open_port(dead_queue: RqJobQueue) -> None:
    with socket.socket() as probe:  # the dead queue's port really is closed
        assert (
            probe.connect_ex(("127.0.0.1", dead_queue._queue.connection.connection_pool.connection_kwargs["port"])) != 0
        )
