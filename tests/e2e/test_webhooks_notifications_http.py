"""The webhook-endpoint and notification routes of API.md through the real app, and the newcomer's
walk: register an endpoint at a local receiver, buy a pack offline, see the signed
`payment.succeeded` arrive and the notification in the inbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from adapters.queue.inline import InlineJobQueue
from domain.shared.clock import ManualClock
from entrypoints.config import Settings
from entrypoints.worker.jobs import run_job
from tests.e2e.test_fake_checkout_http import SECRET, press, start_checkout
from tests.fixtures.http import auth_headers, error, register
from tests.fixtures.settings import make_settings
from tests.fixtures.webhooks import Receiver

URL = "/v1/webhook-endpoints"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC))


@pytest.fixture
def settings() -> Settings:
    return make_settings(
        stripe_webhook_secret=SECRET,
        public_base_url="http://localhost:8000",
        webhook_allowed_networks="127.0.0.0/8",
        webhook_timeout=2.0,
    )


@pytest.fixture
def queue() -> InlineJobQueue:
    return InlineJobQueue(raise_errors=True)


@pytest.fixture
def app(make_app: Callable[..., Flask], queue: InlineJobQueue) -> Flask:
    app = make_app()
    queue.bind(lambda job: run_job(app.extensions["houston"], job))
    return app


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def headers(client: FlaskClient) -> dict[str, str]:
    return auth_headers(register(client)["access_token"])


def create(client: FlaskClient, headers: dict[str, str], receiver: Receiver, **extra: Any) -> dict[str, Any]:
    body = {"url": receiver.url, "events": ["payment.succeeded"], **extra}
    response = client.post(URL, json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    created: dict[str, Any] = response.get_json()
    receiver.secrets = [created["secret"]]
    return created


def test_a_newcomer_buys_a_pack_and_sees_the_signed_event_and_the_notification(
    client: FlaskClient, headers: dict[str, str], receiver: Receiver
) -> None:
    create(client, headers, receiver, description="my shop")
    session = start_checkout(client, headers)

    assert press(client, session["session_id"], "paid").status_code == 303

    [event] = receiver.payloads()
    assert event["type"] == "payment.succeeded" and event["data"]["object"]["credits"] == 500
    assert receiver.received[0].headers["webhook-id"] == event["id"]
    inbox = client.get("/v1/notifications", headers=headers).get_json()
    assert inbox["unread_count"] == 1 and inbox["next_cursor"] is None
    [note] = inbox["items"]
    assert note["type"] == "payment_succeeded" and note["read_at"] is None and "500 credits" in note["body"]


def test_the_secret_is_shown_once_and_the_endpoint_is_managed(
    client: FlaskClient, headers: dict[str, str], receiver: Receiver
) -> None:
    created = create(client, headers, receiver)
    assert created["secret"].startswith("whsec_") and created["status"] == "enabled"
    assert created["created_at"].endswith("Z")
    listed = client.get(URL, headers=headers).get_json()
    assert [e["id"] for e in listed["items"]] == [created["id"]] and "secret" not in listed["items"][0]
    one = client.get(f"{URL}/{created['id']}", headers=headers).get_json()
    assert "secret" not in one and one["url"] == receiver.url

    patched = client.patch(
        f"{URL}/{created['id']}", json={"status": "disabled", "events": ["task.failed"]}, headers=headers
    )
    assert patched.status_code == 200 and patched.get_json()["status"] == "disabled"
    assert patched.get_json()["events"] == ["task.failed"]

    rotated = client.post(f"{URL}/{created['id']}/rotate-secret", headers=headers)
    assert rotated.status_code == 201 and rotated.get_json()["secret"] != created["secret"]
    assert rotated.get_json()["previous_valid_until"].endswith("Z")

    assert client.delete(f"{URL}/{created['id']}", headers=headers).status_code == 204
    assert error(client.get(f"{URL}/{created['id']}", headers=headers), 404)["code"] == "not_found"


def test_test_replay_and_the_delivery_log(client: FlaskClient, headers: dict[str, str], receiver: Receiver) -> None:
    created = create(client, headers, receiver)
    answer = client.post(f"{URL}/{created['id']}/test", headers=headers)
    assert answer.status_code == 202
    assert [p["type"] for p in receiver.payloads()] == ["webhook.test"]

    replay = client.post(f"{URL}/{created['id']}/replay", json={"since": "2020-01-01T00:00:00Z"}, headers=headers)
    assert replay.status_code == 202 and replay.get_json()["queued"] == 0  # a test event is no subscribed type

    page = client.get(f"{URL}/{created['id']}/deliveries?limit=1", headers=headers).get_json()
    [delivery] = page["items"]
    assert delivery["event_type"] == "webhook.test" and delivery["status_code"] == 200 and delivery["attempt"] == 1
    assert set(delivery) >= {
        "id",
        "event_id",
        "event_type",
        "attempt",
        "status_code",
        "duration_ms",
        "error",
        "created_at",
    }


def test_another_users_endpoint_is_not_found(client: FlaskClient, headers: dict[str, str], receiver: Receiver) -> None:
    created = create(client, headers, receiver)
    other = auth_headers(register(client)["access_token"])
    for method, path in (
        ("get", ""),
        ("patch", ""),
        ("delete", ""),
        ("post", "/test"),
        ("get", "/deliveries"),
        ("post", "/rotate-secret"),
    ):
        kwargs: dict[str, Any] = {"json": {}} if method == "patch" else {}
        response = getattr(client, method)(f"{URL}/{created['id']}{path}", headers=other, **kwargs)
        assert error(response, 404)["code"] == "not_found", (method, path)


@pytest.mark.parametrize(
    "body",
    [
        {"url": "http://10.1.2.3/x", "events": ["payment.succeeded"]},
        {"url": "http://127.0.0.1:1/x", "events": ["payment.nope"]},
        {"url": "http://127.0.0.1:1/x", "events": []},
        {"events": ["payment.succeeded"]},
    ],
)
def test_bad_endpoints_are_validation_errors(
    client: FlaskClient, headers: dict[str, str], body: dict[str, Any]
) -> None:
    assert error(client.post(URL, json=body, headers=headers), 422)["code"] == "validation_error"


def test_webhook_routes_need_authentication(client: FlaskClient) -> None:
    assert error(client.get(URL), 401)["code"] == "unauthenticated"
    assert error(client.get("/v1/notifications"), 401)["code"] == "unauthenticated"


def test_the_openapi_document_has_the_routes_and_the_event_catalogue(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    for path in (
        URL,
        URL + "/{endpoint_id}",
        URL + "/{endpoint_id}/rotate-secret",
        URL + "/{endpoint_id}/test",
        URL + "/{endpoint_id}/replay",
        URL + "/{endpoint_id}/deliveries",
        "/v1/notifications",
        "/v1/notifications/{notification_id}/read",
        "/v1/notifications/read-all",
        "/v1/me/notification-preferences",
    ):
        assert path in spec["paths"], path
    described = " ".join(tag.get("description", "") for tag in spec["tags"])
    for event in (
        "payment.succeeded",
        "payment.refunded",
        "payment.failed",
        "subscription.updated",
        "credits.low_balance",
        "credits.expiring",
        "task.succeeded",
        "task.failed",
    ):
        assert f"`{event}`" in described


# --- notifications ----------------------------------------------------------------------------
def notify(app: Flask, user_id: str, type_: str, key: str) -> None:
    container = app.extensions["houston"]
    with container.uow() as uow:
        container.platform_events.notifications.notify(uow, user_id, type_, title="T", body="B", dedupe_key=key)
        uow.commit()


def test_the_inbox_pages_filters_and_marks_read(app: Flask, client: FlaskClient) -> None:
    auth = register(client)
    headers, user = auth_headers(auth["access_token"]), auth["user"]["id"]
    for n in range(3):
        notify(app, user, "task_finished", f"t{n}")
    notify(app, user, "task_finished", "t0")  # a repeat of the same cause: once
    first = client.get("/v1/notifications?limit=2", headers=headers).get_json()
    assert len(first["items"]) == 2 and first["unread_count"] == 3 and first["next_cursor"]
    rest = client.get(f"/v1/notifications?limit=2&cursor={first['next_cursor']}", headers=headers).get_json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None

    one = first["items"][0]["id"]
    read = client.post(f"/v1/notifications/{one}/read", headers=headers)
    assert read.status_code == 200 and read.get_json()["read_at"].endswith("Z")
    unread = client.get("/v1/notifications?unread=true", headers=headers).get_json()
    assert one not in [n["id"] for n in unread["items"]] and unread["unread_count"] == 2
    assert client.post("/v1/notifications/read-all", headers=headers).get_json() == {"updated": 2}
    assert client.get("/v1/notifications", headers=headers).get_json()["unread_count"] == 0
    other = auth_headers(register(client)["access_token"])
    assert error(client.post(f"/v1/notifications/{one}/read", headers=other), 404)["code"] == "not_found"


def test_preferences_turn_channels_off_but_not_for_payment_or_security(app: Flask, client: FlaskClient) -> None:
    auth = register(client)
    headers, user = auth_headers(auth["access_token"]), auth["user"]["id"]
    prefs = client.get("/v1/me/notification-preferences", headers=headers).get_json()
    assert prefs["payment_failed"] == {"in_app": True, "email": True} and prefs["task_finished"]["email"] is False

    for locked in ("payment_failed", "payment_succeeded", "security_new_login"):
        response = client.patch("/v1/me/notification-preferences", json={locked: {"email": False}}, headers=headers)
        assert error(response, 422)["details"] == {locked: "Payment and security notifications cannot be turned off."}
    assert error(client.patch("/v1/me/notification-preferences", json={"nope": {"email": False}}, headers=headers), 422)

    changed = client.patch(
        "/v1/me/notification-preferences", json={"task_finished": {"in_app": False}}, headers=headers
    )
    assert changed.status_code == 200 and changed.get_json()["task_finished"] == {"in_app": False, "email": False}
    notify(app, user, "task_finished", "x")
    assert client.get("/v1/notifications", headers=headers).get_json()["items"] == []


def test_the_unsubscribe_link_turns_that_email_off(app: Flask, client: FlaskClient) -> None:
    auth = register(client)
    headers, user = auth_headers(auth["access_token"]), auth["user"]["id"]
    notifications = app.extensions["houston"].platform_events.notifications
    link = notifications.unsubscribe_url(user, "low_balance")
    path = link.split("localhost:8000", 1)[1]
    assert client.post(path).status_code == 200  # one click, no login
    prefs = client.get("/v1/me/notification-preferences", headers=headers).get_json()
    assert prefs["low_balance"] == {"in_app": True, "email": False}
    forged = notifications.unsubscribe_url(user, "low_balance")[:-3] + "AAA"
    assert error(client.post(forged.split("localhost:8000", 1)[1]), 422)["code"] == "validation_error"
    payment = notifications.unsubscribe_url(user, "payment_failed").split("localhost:8000", 1)[1]
    assert error(client.get(payment), 422)  # not for what cannot be turned off
