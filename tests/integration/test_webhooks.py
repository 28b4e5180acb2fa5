"""Outgoing webhooks on every backend, delivered (through the inline queue) to real HTTP receivers on
loopback that verify with the `standardwebhooks` package and misbehave on command."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from domain.platform import emitters
from domain.platform.webhooks_model import EndpointStatus
from domain.shared.clock import ManualClock
from domain.shared.errors import InvalidInput
from entrypoints.bootstrap import Container
from tests.fixtures.settings import make_settings, unique
from tests.fixtures.webhooks import FakePayment, Receiver


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def build(make_container: Callable[..., Container], clock: ManualClock, **settings: Any) -> Container:
    values: dict[str, Any] = {"webhook_allowed_networks": "127.0.0.0/8", "webhook_timeout": 1.5, **settings}
    return make_container(clock=clock, settings=make_settings(**values))


@pytest.fixture
def container(make_container: Callable[..., Container], clock: ManualClock) -> Container:
    return build(make_container, clock)


def platform(container: Container) -> Any:
    return container.platform_events


def a_user(container: Container) -> str:
    return container.identity.register(f"{unique('h')}@example.com", "correct horse battery").user.id


def endpoint_for(
    container: Container, user: str, receiver: Receiver, events: tuple[str, ...] = ("payment.succeeded",)
) -> Any:
    endpoint = platform(container).webhooks.create(user, receiver.url, list(events), None)
    receiver.secrets = [endpoint.secret]
    return endpoint


def pay(container: Container, user: str, **kw: Any) -> str:
    with container.uow() as uow:
        event_id = emitters.payment(uow, "payment.succeeded", FakePayment(user, **kw), container.clock.now())
        uow.commit()
    return event_id


def log(container: Container, user: str, endpoint_id: str) -> list[Any]:
    return list(platform(container).webhooks.deliveries(user, endpoint_id, limit=200, cursor=None).items)


def test_an_event_arrives_signed_per_the_standard_with_its_type_id_time_and_version(
    container: Container, receiver: Receiver
) -> None:
    user = a_user(container)
    endpoint = endpoint_for(container, user, receiver)
    assert endpoint.secret.startswith("whsec_")

    event_id = pay(container, user)

    [got] = receiver.received
    assert got.verified, "standardwebhooks could not verify the delivery"
    assert got.headers["webhook-id"] == event_id
    assert abs(int(got.headers["webhook-timestamp"]) - int(time.time())) < 60
    assert got.headers["webhook-signature"].startswith("v1,") and " " not in got.headers["webhook-signature"]
    body = got.payload
    assert body is not None and set(body) == {"type", "id", "created_at", "data"}
    assert (body["type"], body["id"]) == ("payment.succeeded", event_id) and body["created_at"].endswith("Z")
    assert set(body["data"]) == {"object", "version"} and body["data"]["object"]["object"] == "payment"
    [attempt] = log(container, user, endpoint.id)
    assert (attempt.status_code, attempt.attempt, attempt.error) == (200, 1, None) and attempt.duration_ms >= 0


def test_a_rolled_back_change_sends_nothing(container: Container, receiver: Receiver) -> None:
    user = a_user(container)
    endpoint_for(container, user, receiver)
    with pytest.raises(RuntimeError):
        with container.uow() as uow:
            emitters.payment(uow, "payment.succeeded", FakePayment(user), container.clock.now())
            raise RuntimeError("the payment's grant failed")
    assert receiver.received == []


def test_a_500_is_retried_on_the_schedule_with_the_same_webhook_id(
    container: Container, receiver: Receiver, clock: ManualClock
) -> None:
    user = a_user(container)
    endpoint = endpoint_for(container, user, receiver)
    receiver.mode = "500"
    event_id = pay(container, user)
    assert len(receiver.received) == 1
    platform(container).webhooks.sweep()
    assert len(receiver.received) == 1  # not due yet: the first retry waits 5 s (+-20 %)

    receiver.mode = "ok"
    clock.advance(seconds=12)  # the sweep takes what is 5 s overdue (the queue's own delayed job goes first)
    assert platform(container).webhooks.sweep() == 1
    assert [r.headers["webhook-id"] for r in receiver.received] == [event_id, event_id]
    assert [a.status_code for a in reversed(log(container, user, endpoint.id))] == [500, 200]
    assert platform(container).webhooks.sweep() == 0  # delivered: nothing more


def test_410_gone_disables_the_endpoint_at_once_and_tells_the_owner(container: Container, receiver: Receiver) -> None:
    user = a_user(container)
    endpoint = endpoint_for(container, user, receiver)
    receiver.mode = "410"
    pay(container, user)

    found = platform(container).webhooks.get(user, endpoint.id)
    assert (found.status, found.disabled_reason) == (EndpointStatus.DISABLED, "gone")
    page, unread = platform(container).notifications.inbox(user, unread_only=True, limit=50, cursor=None)
    assert "webhook_endpoint_disabled" in [n.type for n in page.items] and unread >= 1


def test_failing_for_n_days_disables_and_notifies_then_enabling_sends_the_bounded_backlog(
    make_container: Callable[..., Container], clock: ManualClock, receiver: Receiver
) -> None:
    container = build(
        make_container,
        clock,
        webhook_disable_after_days=1.0,
        webhook_backlog_max=3,
        webhook_retry_schedule=(3600,) * 40,
    )
    user = a_user(container)
    endpoint = endpoint_for(container, user, receiver)
    receiver.mode = "500"
    pay(container, user)
    for _ in range(25):  # one failed attempt an hour
        clock.advance(hours=1, seconds=1000)
        platform(container).webhooks.sweep()
    found = platform(container).webhooks.get(user, endpoint.id)
    assert (found.status, found.disabled_reason) == (EndpointStatus.DISABLED, "failing")
    types = [
        n.type for n in platform(container).notifications.inbox(user, unread_only=False, limit=50, cursor=None)[0].items
    ]
    assert types.count("webhook_endpoint_disabled") == 1 and types.count("webhook_endpoint_failing") == 1

    sent_before = len(receiver.received)
    later_events = [pay(container, user) for _ in range(5)]  # disabled: kept, only the newest 3
    assert len(receiver.received) == sent_before
    receiver.mode = "ok"
    clock.set(datetime.now(UTC))  # back to real time so that the receiver can verify
    platform(container).webhooks.update(user, endpoint.id, status=EndpointStatus.ENABLED)
    delivered = [r.payload["id"] for r in receiver.received[sent_before:] if r.verified and r.payload]
    assert delivered == later_events[-3:]  # the oldest two were dropped from the bounded backlog


def test_a_rotated_secret_signs_beside_the_old_one_until_the_overlap_ends(
    container: Container, receiver: Receiver, clock: ManualClock
) -> None:
    user = a_user(container)
    endpoint = endpoint_for(container, user, receiver)
    old = endpoint.secret
    new, until = platform(container).webhooks.rotate_secret(user, endpoint.id)
    assert until == clock.now() + timedelta(hours=24) and new != old

    pay(container, user)
    got = receiver.received[-1]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):  # a receiver knowing either one verifies
        Webhook(secret).verify(got.body, got.headers)

    clock.set(until + timedelta(seconds=1))
    receiver.secrets = [new]
    platform(container).webhooks.send_test(user, endpoint.id)
    got = receiver.received[-1]
    assert len(got.headers["webhook-signature"].split(" ")) == 1
    # (the receiver's clock is real; this delivery is stamped a day ahead, so check the MAC alone)
    assert (
        Webhook(new).sign(
            got.headers["webhook-id"],
            datetime.fromtimestamp(int(got.headers["webhook-timestamp"]), UTC),
            got.body.decode(),
        )
        == got.headers["webhook-signature"]
    )


def test_replay_sends_the_events_since_t_again_with_their_ids(container: Container, receiver: Receiver) -> None:
    user = a_user(container)
    endpoint = endpoint_for(container, user, receiver)
    since = container.clock.now()
    ids = [pay(container, user), pay(container, user)]
    assert platform(container).webhooks.replay(user, endpoint.id, since) == 2
    sent = [p["id"] for p in receiver.payloads()]
    assert sent[:2] == ids and sorted(sent[2:]) == sorted(ids)  # same ids: receivers drop what they have
    assert platform(container).webhooks.replay(user, endpoint.id, since + timedelta(hours=1)) == 0


def test_a_test_send_reaches_the_endpoint(container: Container, receiver: Receiver) -> None:
    user = a_user(container)
    endpoint = endpoint_for(container, user, receiver)
    event_id = platform(container).webhooks.send_test(user, endpoint.id)
    assert [(p["type"], p["id"]) for p in receiver.payloads()] == [("webhook.test", event_id)]


def test_events_of_other_types_and_other_users_are_not_sent(container: Container, receiver: Receiver) -> None:
    user, other = a_user(container), a_user(container)
    endpoint_for(container, user, receiver, events=("task.succeeded",))
    pay(container, user)
    pay(container, other)
    assert receiver.received == []


# --- SSRF and a misbehaving network -----------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/x",
        "http://127.0.0.1/x",
        "http://0.0.0.0/x",
        "http://[::ffff:127.0.0.1]/x",
        "ftp://example.com/x",
        "http://user:pw@example.com/x",
        "not a url",
    ],
)
def test_a_url_to_a_private_address_is_refused_when_registered(
    make_container: Callable[..., Container], clock: ManualClock, url: str
) -> None:
    container = build(make_container, clock, webhook_allowed_networks="")
    with pytest.raises(InvalidInput):
        platform(container).webhooks.create(a_user(container), url, ["payment.succeeded"], None)


def test_a_host_name_resolving_to_loopback_is_refused_at_delivery(
    make_container: Callable[..., Container], clock: ManualClock, receiver: Receiver
) -> None:
    container = build(make_container, clock, webhook_allowed_networks="")
    user = a_user(container)
    endpoint = platform(container).webhooks.create(
        user, f"http://localhost:{receiver.port}/hooks", ["payment.succeeded"], None
    )
    pay(container, user)
    assert receiver.received == []
    [attempt] = log(container, user, endpoint.id)
    assert attempt.status_code is None and attempt.error.startswith("refused: The address 127.0.0.1")


def test_https_is_required_in_production(make_container: Callable[..., Container], clock: ManualClock) -> None:
    container = build(
        make_container,
        clock,
        env="production",  # production never runs on the fake gateway
        stripe_secret_key="sk_test_x",
        stripe_webhook_secret="whsec_x",
    )
    with pytest.raises(InvalidInput):
        platform(container).webhooks.create(a_user(container), "http://example.com/hook", ["payment.succeeded"], None)


def test_a_redirect_to_the_metadata_address_is_not_followed(container: Container, receiver: Receiver) -> None:
    user = a_user(container)
    endpoint = endpoint_for(container, user, receiver)
    receiver.mode = "redirect_private"
    pay(container, user)
    [attempt] = log(container, user, endpoint.id)
    assert attempt.status_code == 302 and "redirect not followed" in attempt.error
    assert platform(container).webhooks.get(user, endpoint.id).status is EndpointStatus.ENABLED  # retried later


@pytest.mark.parametrize("mode", ["timeout", "slow_body"])
def test_a_hanging_receiver_is_cut_at_the_deadline(container: Container, receiver: Receiver, mode: str) -> None:
    user = a_user(container)
    endpoint = endpoint_for(container, user, receiver)
    receiver.mode, receiver.sleep = mode, 4
    started = time.monotonic()
    pay(container, user)
    assert time.monotonic() - started < 5  # the attempt's deadline is 1.5 s (slack for a loaded machine)
    [attempt] = log(container, user, endpoint.id)
    assert attempt.error == "timeout" and attempt.duration_ms < 3000


def test_a_huge_response_is_read_only_up_to_the_cap(container: Container, receiver: Receiver) -> None:
    user = a_user(container)
    endpoint = endpoint_for(container, user, receiver)
    receiver.mode = "huge_body"
    pay(container, user)
    [attempt] = log(container, user, endpoint.id)
    assert attempt.status_code == 200 and attempt.response is not None and len(attempt.response) <= 1000
