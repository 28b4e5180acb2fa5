"""Coaching over HTTP: every route, another user's ids (404 everywhere), limits (422 naming the
field), the message route as JSON and as server-sent events (read to the end, and abandoned half-way)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from entrypoints.bootstrap import Container
from tests.fixtures.http import auth_headers, register
from tests.fixtures.llm import FakeCoach


@pytest.fixture
def coach() -> FakeCoach:
    return FakeCoach(text=" ".join(f"word{n}" for n in range(30)))


@pytest.fixture
def app(make_app: Callable[..., Flask], coach: FakeCoach) -> Flask:
    return make_app(coach_model=coach)


def user(client: FlaskClient) -> dict[str, str]:
    return auth_headers(register(client)["access_token"])


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.get_json(silent=True))
    return response.get_json(silent=True)


def balance(client: FlaskClient, headers: dict[str, str]) -> dict[str, int]:
    body = ok(client.get("/v1/credits/balance", headers=headers))
    return {k: body[k] for k in ("balance", "held", "available")}


def events(raw: bytes) -> list[tuple[str, Any]]:
    parsed = []
    for block in raw.decode().strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        parsed.append((lines["event"], json.loads(lines["data"])))
    return parsed


class Setup:
    def __init__(self, client: FlaskClient) -> None:
        self.client, self.headers = client, user(client)
        post = lambda path, body: ok(client.post(path, json=body, headers=self.headers), 201)  # noqa: E731
        self.workspace = post("/v1/workspaces", {"name": "Acme", "industry": "saas"})
        ws = self.workspace["id"]
        self.goal = post(f"/v1/workspaces/{ws}/goals", {"title": "Ship v1", "due_date": "2026-03-01"})
        self.todo = post(f"/v1/workspaces/{ws}/todos", {"title": "Docs", "goal_id": self.goal["id"]})
        self.session = post(f"/v1/workspaces/{ws}/chat/sessions", {"title": "Monday"})
        self.task = ok(
            client.post("/v1/tasks", json={"type": "strategy", "workspace_id": ws, "input": {}}, headers=self.headers),
            202,
        )

    def message(self, content: str = "What first?", **headers: str) -> Any:
        return self.client.post(
            f"/v1/chat/sessions/{self.session['id']}/messages",
            json={"content": content},
            headers={**self.headers, **headers},
        )


@pytest.fixture
def setup(client: FlaskClient) -> Setup:
    return Setup(client)


# --- the routes ------------------------------------------------------------------------------------
def test_workspaces_are_created_listed_read_changed_and_deleted(client: FlaskClient, setup: Setup) -> None:
    h, ws = setup.headers, setup.workspace
    assert ws["name"] == "Acme" and ws["industry"] == "saas" and ws["created_at"].endswith("Z")
    second = ok(client.post("/v1/workspaces", json={"name": "Beta"}, headers=h), 201)
    page = ok(client.get("/v1/workspaces?limit=1", headers=h))
    assert [w["id"] for w in page["items"]] == [second["id"]] and page["next_cursor"]
    rest = ok(client.get(f"/v1/workspaces?limit=1&cursor={page['next_cursor']}", headers=h))
    assert [w["id"] for w in rest["items"]] == [ws["id"]] and rest["next_cursor"] is None
    assert ok(client.get(f"/v1/workspaces/{ws['id']}", headers=h)) == ws
    changed = ok(client.patch(f"/v1/workspaces/{ws['id']}", json={"description": "B2B"}, headers=h))
    assert changed["description"] == "B2B" and changed["name"] == "Acme"
    assert client.delete(f"/v1/workspaces/{ws['id']}", headers=h).status_code == 204
    for path in (
        f"/v1/workspaces/{ws['id']}",
        f"/v1/goals/{setup.goal['id']}",
        f"/v1/todos/{setup.todo['id']}",
        f"/v1/chat/sessions/{setup.session['id']}",
        f"/v1/tasks/{setup.task['id']}",
    ):
        assert client.get(path, headers=h).status_code == 404, path
    assert balance(client, h)["held"] == 0  # the queued task was cancelled, its hold released


def test_goals_and_todos_have_crud_and_filtered_lists(client: FlaskClient, setup: Setup) -> None:
    h, ws, goal, todo = setup.headers, setup.workspace["id"], setup.goal, setup.todo
    assert goal["status"] == "active" and goal["progress"] == 0 and goal["due_date"] == "2026-03-01"
    moved = ok(client.patch(f"/v1/goals/{goal['id']}", json={"progress": 60, "measurable": "10 users"}, headers=h))
    assert (moved["progress"], moved["measurable"]) == (60, "10 users")
    ok(client.post(f"/v1/workspaces/{ws}/goals", json={"title": "Old", "status": "dropped"}, headers=h), 201)
    assert [g["title"] for g in ok(client.get(f"/v1/workspaces/{ws}/goals?status=active", headers=h))["items"]] == [
        "Ship v1"
    ]
    ok(client.post(f"/v1/workspaces/{ws}/todos", json={"title": "Loose", "status": "done"}, headers=h), 201)
    by_goal = ok(client.get(f"/v1/workspaces/{ws}/todos?goal_id={goal['id']}", headers=h))["items"]
    assert [t["id"] for t in by_goal] == [todo["id"]]
    assert [t["title"] for t in ok(client.get(f"/v1/workspaces/{ws}/todos?status=done", headers=h))["items"]] == [
        "Loose"
    ]
    assert (
        ok(client.patch(f"/v1/todos/{todo['id']}", json={"status": "in_progress"}, headers=h))["status"]
        == "in_progress"
    )
    assert ok(client.get(f"/v1/todos/{todo['id']}", headers=h))["goal_id"] == goal["id"]
    assert client.delete(f"/v1/goals/{goal['id']}", headers=h).status_code == 204
    assert ok(client.get(f"/v1/todos/{todo['id']}", headers=h))["goal_id"] is None
    assert client.delete(f"/v1/todos/{todo['id']}", headers=h).status_code == 204
    assert client.get(f"/v1/todos/{todo['id']}", headers=h).status_code == 404


def test_the_coaches_are_public(client: FlaskClient) -> None:
    coaches = ok(client.get("/v1/coaches"))
    assert {c["id"] for c in coaches} >= {"houston"} and set(coaches[0]) == {"id", "name", "description"}


def test_a_message_answers_charges_and_shows_in_the_session(
    client: FlaskClient, setup: Setup, coach: FakeCoach
) -> None:
    before = balance(client, setup.headers)
    body = ok(setup.message(), 201)
    assert body["user_message"]["content"] == "What first?" and body["assistant_message"]["content"] == coach.text
    assert body["credits_charged"] > 0 and body["balance"]["held"] == before["held"]
    assert body["balance"]["balance"] == before["balance"] - body["credits_charged"]
    assert balance(client, setup.headers) == body["balance"]
    session = ok(client.get(f"/v1/chat/sessions/{setup.session['id']}?limit=1", headers=setup.headers))
    assert session["message_count"] == 2 and [m["role"] for m in session["messages"]] == ["user"]
    rest = ok(
        client.get(f"/v1/chat/sessions/{setup.session['id']}?cursor={session['next_cursor']}", headers=setup.headers)
    )
    assert [m["id"] for m in rest["messages"]] == [body["assistant_message"]["id"]] and rest["next_cursor"] is None
    listed = ok(client.get(f"/v1/workspaces/{setup.workspace['id']}/chat/sessions", headers=setup.headers))["items"]
    assert [s["id"] for s in listed] == [setup.session["id"]]
    assert client.delete(f"/v1/chat/sessions/{setup.session['id']}", headers=setup.headers).status_code == 204


def test_an_idempotent_retry_returns_the_same_answer_and_charges_once(client: FlaskClient, setup: Setup) -> None:
    first = ok(setup.message(**{"Idempotency-Key": "m-1"}), 201)
    again = ok(setup.message(**{"Idempotency-Key": "m-1"}), 201)
    assert again == first
    assert ok(setup.message("Other", **{"Idempotency-Key": "m-1"}), 409) is not None
    assert setup.message("Other", **{"Idempotency-Key": "m-1"}).get_json()["error"]["code"] == "idempotency_conflict"
    charges = ok(client.get("/v1/credits/transactions?kind=charge", headers=setup.headers))["items"]
    assert [-c["amount"] for c in charges if c["feature_key"] == "coach.message"] == [first["credits_charged"]]


def test_a_failing_model_is_502_with_nothing_charged_or_stored(
    client: FlaskClient, setup: Setup, coach: FakeCoach
) -> None:
    before = balance(client, setup.headers)
    coach.fail = True
    assert ok(setup.message(), 502)["error"]["code"] == "llm_unavailable"
    assert balance(client, setup.headers) == before
    assert ok(client.get(f"/v1/chat/sessions/{setup.session['id']}", headers=setup.headers))["messages"] == []


def test_without_credits_it_is_402_before_any_model_call(
    client: FlaskClient, container: Container, setup: Setup, coach: FakeCoach
) -> None:
    me = ok(client.get("/v1/me", headers=setup.headers))["id"]
    available = balance(client, setup.headers)["available"]
    container.ledger.adjust(me, amount=-available, reason="test", actor="test", idempotency_key="drain")
    assert ok(setup.message(), 402)["error"]["code"] == "insufficient_credits"
    assert coach.calls == []


# --- server-sent events -------------------------------------------------------------------------------
def test_a_streamed_answer_read_to_its_end_is_deltas_then_done(
    client: FlaskClient, setup: Setup, coach: FakeCoach
) -> None:
    response = setup.message(Accept="text/event-stream")
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    parsed = events(response.get_data())
    assert {name for name, _ in parsed[:-1]} == {"delta"} and parsed[-1][0] == "done"
    assert "".join(data["text"] for _, data in parsed[:-1]) == coach.text
    done = parsed[-1][1]
    assert done["assistant_message"]["content"] == coach.text and done["credits_charged"] > 0
    assert done["balance"] == balance(client, setup.headers) and done["balance"]["held"] == 25  # the queued task


def test_a_stream_abandoned_half_way_charges_what_was_streamed_and_keeps_it_cut_short(
    client: FlaskClient, setup: Setup, coach: FakeCoach
) -> None:
    before = balance(client, setup.headers)
    response = client.post(
        f"/v1/chat/sessions/{setup.session['id']}/messages",
        json={"content": "Go"},
        headers={**setup.headers, "Accept": "text/event-stream"},
        buffered=False,
    )
    body = iter(response.response)
    chunks = [next(body) for _ in range(4)]  # four deltas, then the client goes away
    response.close()  # the WSGI server closes the iterator: GeneratorExit inside the stream

    streamed = "".join(data["text"] for _, data in events(b"".join(chunks)))
    session = ok(client.get(f"/v1/chat/sessions/{setup.session['id']}", headers=setup.headers))
    answer = session["messages"][1]
    assert answer["content"] == streamed and answer["cut_short"] and answer["credits_charged"] > 0
    after = balance(client, setup.headers)
    assert after["held"] == before["held"] and after["balance"] == before["balance"] - answer["credits_charged"]
    assert coach.closed == 1


def test_a_stream_whose_model_fails_is_one_error_event_with_nothing_charged(
    client: FlaskClient, setup: Setup, coach: FakeCoach
) -> None:
    before = balance(client, setup.headers)
    coach.fail = True
    parsed = events(setup.message(Accept="text/event-stream").get_data())
    assert parsed == [
        ("error", {"error": {"code": "llm_unavailable", "message": "The coach model did not answer.", "details": {}}})
    ]
    assert balance(client, setup.headers) == before


def test_a_stream_the_caller_cannot_afford_is_a_plain_402(
    client: FlaskClient, container: Container, setup: Setup
) -> None:
    me = ok(client.get("/v1/me", headers=setup.headers))["id"]
    container.ledger.adjust(
        me, amount=-balance(client, setup.headers)["available"], reason="t", actor="t", idempotency_key="drain"
    )
    response = setup.message(Accept="text/event-stream")
    assert response.status_code == 402 and response.get_json()["error"]["code"] == "insufficient_credits"


# --- tasks ---------------------------------------------------------------------------------------
def test_a_task_is_queued_with_its_price_held_and_cancel_releases_it(client: FlaskClient, setup: Setup) -> None:
    h, task = setup.headers, setup.task
    assert (task["status"], task["credits_held"], task["type"]) == ("queued", 25, "strategy")
    assert balance(client, h)["held"] == 25
    assert [t["id"] for t in ok(client.get("/v1/tasks?status=queued", headers=h))["items"]] == [task["id"]]
    assert ok(client.get("/v1/tasks?status=succeeded", headers=h))["items"] == []
    assert ok(client.post(f"/v1/tasks/{task['id']}/cancel", headers=h))["status"] == "cancelled"
    assert balance(client, h)["held"] == 0
    assert ok(client.get(f"/v1/tasks/{task['id']}", headers=h))["status"] == "cancelled"


def test_a_task_run_by_the_worker_is_charged_and_can_no_longer_be_cancelled(
    client: FlaskClient, container: Container, setup: Setup
) -> None:
    container.coaching.run_task(setup.task["id"])
    done = ok(client.get(f"/v1/tasks/{setup.task['id']}", headers=setup.headers))
    assert done["status"] == "succeeded" and done["result"] and done["credits_charged"] == 25
    assert ok(client.post(f"/v1/tasks/{setup.task['id']}/cancel", headers=setup.headers), 409)["error"]["code"] == (
        "task_not_cancellable"
    )


# --- another user's ids, and limits --------------------------------------------------------------------
ROUTES = [
    ("get", "/v1/workspaces/{ws}", None),
    ("patch", "/v1/workspaces/{ws}", {"name": "x"}),
    ("delete", "/v1/workspaces/{ws}", None),
    ("get", "/v1/workspaces/{ws}/goals", None),
    ("post", "/v1/workspaces/{ws}/goals", {"title": "x"}),
    ("get", "/v1/goals/{goal}", None),
    ("patch", "/v1/goals/{goal}", {"progress": 1}),
    ("delete", "/v1/goals/{goal}", None),
    ("get", "/v1/workspaces/{ws}/todos", None),
    ("post", "/v1/workspaces/{ws}/todos", {"title": "x"}),
    ("get", "/v1/todos/{todo}", None),
    ("patch", "/v1/todos/{todo}", {"title": "x"}),
    ("delete", "/v1/todos/{todo}", None),
    ("get", "/v1/workspaces/{ws}/chat/sessions", None),
    ("post", "/v1/workspaces/{ws}/chat/sessions", {}),
    ("get", "/v1/chat/sessions/{session}", None),
    ("delete", "/v1/chat/sessions/{session}", None),
    ("post", "/v1/chat/sessions/{session}/messages", {"content": "hi"}),
    ("post", "/v1/tasks", {"type": "strategy", "workspace_id": "{ws}", "input": {}}),
    ("get", "/v1/tasks/{task}", None),
    ("post", "/v1/tasks/{task}/cancel", None),
]


@pytest.mark.parametrize(("method", "template", "body"), ROUTES)
def test_another_users_ids_are_404_on_every_route(
    client: FlaskClient, setup: Setup, coach: FakeCoach, method: str, template: str, body: Any
) -> None:
    ids = {
        "ws": setup.workspace["id"],
        "goal": setup.goal["id"],
        "todo": setup.todo["id"],
        "session": setup.session["id"],
        "task": setup.task["id"],
    }
    if body is not None:
        body = json.loads(json.dumps(body).replace("{ws}", ids["ws"]))
    stranger = user(client)
    response = getattr(client, method)(template.format(**ids), json=body, headers=stranger)
    assert ok(response, 404)["error"]["code"] == "not_found"
    assert coach.calls == [] and balance(client, stranger)["held"] == 0
    # and nothing changed for the owner
    assert ok(client.get(f"/v1/goals/{ids['goal']}", headers=setup.headers))["progress"] == 0
    assert ok(client.get(f"/v1/tasks/{ids['task']}", headers=setup.headers))["status"] == "queued"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/chat/sessions/{session}/messages", {"content": "x" * 8001}, "content"),
        ("/v1/workspaces", {"name": "n" * 201}, "name"),
        ("/v1/workspaces/{ws}/goals", {"title": "t" * 201}, "title"),
        ("/v1/workspaces/{ws}/goals", {"title": "t", "progress": 101}, "progress"),
        ("/v1/workspaces/{ws}/todos", {"title": "t" * 201}, "title"),
        ("/v1/workspaces/{ws}/todos", {"title": "t", "goal_id": "gol_missing"}, "goal_id"),
        ("/v1/workspaces/{ws}/chat/sessions", {"title": "t" * 201}, "title"),
        ("/v1/workspaces/{ws}/chat/sessions", {"coach": "nobody"}, "coach"),
        ("/v1/tasks", {"type": "poem", "workspace_id": "{ws}"}, "type"),
    ],
)
def test_over_limit_input_is_422_naming_the_field(
    client: FlaskClient, setup: Setup, path: str, body: dict[str, Any], field: str
) -> None:
    ids = {"ws": setup.workspace["id"], "session": setup.session["id"]}
    body = json.loads(json.dumps(body).replace("{ws}", ids["ws"]))
    error = ok(client.post(path.format(**ids), json=body, headers=setup.headers), 422)["error"]
    assert error["code"] == "validation_error" and field in error["details"], error


def test_a_stream_the_client_never_reads_releases_its_hold(client: FlaskClient, setup: Setup, coach: FakeCoach) -> None:
    from werkzeug.test import EnvironBuilder

    before = balance(client, setup.headers)
    environ = EnvironBuilder(
        path=f"/v1/chat/sessions/{setup.session['id']}/messages",
        method="POST",
        json={"content": "Go"},
        headers={**setup.headers, "Accept": "text/event-stream"},
    ).get_environ()
    started: list[str] = []
    body = client.application(environ, lambda status, headers, exc_info=None: started.append(status))
    assert started == ["200 OK"] and balance(client, setup.headers)["held"] > before["held"]  # held, pending
    body.close()  # the server gives up before reading a byte (the client went away)
    assert balance(client, setup.headers) == before
    assert ok(client.get(f"/v1/chat/sessions/{setup.session['id']}", headers=setup.headers))["messages"] == []


def test_the_embedded_scripted_coach_answers_from_the_workspace_with_no_keys(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app().test_client()  # no coach_model: bootstrap picks the offline scripted coach
    setup = Setup(client)
    body = ok(setup.message("What should I do about Docs?"), 201)
    answer = body["assistant_message"]
    assert answer["model"] == "scripted-coach" and "Ship v1" in answer["content"] and body["credits_charged"] > 0
    streamed = events(setup.message("And then?", Accept="text/event-stream").get_data())
    assert (
        streamed[-1][0] == "done"
        and "".join(d["text"] for n, d in streamed if n == "delta") == (streamed[-1][1]["assistant_message"]["content"])
    )
