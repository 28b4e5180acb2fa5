"""Coaching over real HTTP through `houston serve` (gunicorn), with a misbehaving OpenAI-compatible
provider, on SQLite and MariaDB (issue 19).

The invariant every test checks: a reply that reaches the user is paid for exactly once, at most
its hold; a reply that does not reach the user costs nothing; no hold is left behind; and every
stream ends with one `done` or `error` event. The model's deadline is 2 s here (25 s in
production), the heartbeat 0.3 s, so the whole file runs in well under a minute per backend.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from domain.ledger.model import GrantSource
from entrypoints.bootstrap import Container, bootstrap
from tests.fixtures.backends import MYSQL_URL, backend_params, sqlite_engine
from tests.fixtures.concurrency import run_together
from tests.fixtures.openai_server import DEFAULT_TEXT, FakeOpenAI, Step
from tests.fixtures.serving import ROOT, free_port, get
from tests.fixtures.settings import make_settings, unique

DEADLINE = 2.0
FUNDS = 100_000


@dataclass
class Server:
    port: int
    fake: FakeOpenAI
    container: Container  # the same database, from the test's side: grants and balances


@dataclass
class User:
    id: str
    token: str
    session_id: str = ""
    workspace_id: str = ""


@dataclass
class Streamed:
    events: list[tuple[str, Any]] = field(default_factory=list)
    heartbeats: int = 0
    status: int = 0
    body: Any = None  # the JSON body when the answer was not a stream (an error before the stream)

    @property
    def deltas(self) -> str:
        return "".join(data["text"] for name, data in self.events if name == "delta")

    @property
    def final(self) -> tuple[str, Any]:
        assert self.events, "no event at all"
        return self.events[-1]


@pytest.fixture(scope="module", params=backend_params("sqlite", "mariadb"))
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("served") / "served.db"
        sqlite_engine(path).dispose()  # migrated
        return f"sqlite:///{path}"
    request.getfixturevalue("mysql_engine")  # migrated
    return str(MYSQL_URL)


@pytest.fixture(scope="module")
def running(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One `houston serve` per backend for the module (a worker takes up to 20 s to boot on a busy
    machine): gthread with 4 threads, so parallel requests are served in parallel."""
    data_dir = tmp_path_factory.mktemp("data")
    with FakeOpenAI() as fake:
        port = free_port()
        env = {
            **os.environ,
            "HOUSTON_ENV": "test",
            "DATABASE_URL": database_url,
            "JWT_SECRET": "s" * 40,
            "HOUSTON_DATA_DIR": str(data_dir),
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "WEB_CONCURRENCY": "1",
            "GUNICORN_CMD_ARGS": "--worker-class gthread --threads 4",
            "LOG_LEVEL": "WARNING",
            "LLM_BASE_URL": fake.base_url,
            "LLM_MODEL": "fake-model-1",
            "LLM_MAX_RETRIES": "0",
            "LLM_TIMEOUT_SECONDS": "60",
            "LLM_DEADLINE_SECONDS": str(DEADLINE),
            "SSE_HEARTBEAT_SECONDS": "0.3",
            "RATELIMIT_ENABLED": "false",
            "BCRYPT_ROUNDS": "4",
            "METRICS_ENABLED": "false",
        }
        env.pop("REDIS_URL", None)
        houston = Path(sys.executable).parent / "houston"
        process = subprocess.Popen(
            [str(houston), "serve"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            started = time.monotonic()
            while True:
                try:
                    if get(port, "/health", timeout=2)[0] == 200:
                        break
                except OSError:
                    pass
                assert process.poll() is None and time.monotonic() - started < 90, "houston serve did not start"
                time.sleep(0.3)
            yield Server(port, fake, bootstrap(make_settings(database_url=database_url)))
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def server(running: Server) -> Server:
    running.fake.script(Step())
    running.fake.forget_requests()
    running.fake.aborted.clear()
    return running


def call(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 15,
) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        sent = {
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {token}"} if token else {}),
            **(headers or {}),
        }
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=sent)
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        conn.close()


def stream(
    port: int, user: User, content: str, *, key: str | None = None, after_deltas: tuple[int, Any] | None = None
) -> Streamed:
    """POST a message with Accept: text/event-stream and read the events; `after_deltas=(n, f)`
    calls f() once n deltas have arrived (while the stream goes on)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream",
        "Authorization": f"Bearer {user.token}",
    }
    if key:
        headers["Idempotency-Key"] = key
    result = Streamed()
    try:
        conn.request(
            "POST",
            f"/v1/chat/sessions/{user.session_id}/messages",
            body=json.dumps({"content": content}),
            headers=headers,
        )
        response = conn.getresponse()
        result.status = response.status
        if response.getheader("Content-Type", "").startswith("application/json"):
            result.body = json.loads(response.read())
            return result
        name, data = "", ""
        while line := response.readline():
            text = line.decode().rstrip("\r\n")
            if text.startswith(":"):
                result.heartbeats += 1
            elif text.startswith("event: "):
                name = text[7:]
            elif text.startswith("data: "):
                data = text[6:]
            elif text == "" and name:
                result.events.append((name, json.loads(data)))
                name, data = "", ""
                deltas = sum(1 for n, _ in result.events if n == "delta")
                if after_deltas is not None and deltas == after_deltas[0]:
                    after_deltas[1]()
        return result
    finally:
        conn.close()


def new_user(server: Server) -> User:
    status, body = call(
        server.port, "POST", "/v1/auth/register", {"email": f"{unique('u')}@example.com", "password": "password-123"}
    )
    assert status == 201, body
    user = User(body["user"]["id"], body["access_token"])
    server.container.ledger.grant(user.id, source=GrantSource.PURCHASE, amount=FUNDS, idempotency_key=unique("f"))
    status, workspace = call(server.port, "POST", "/v1/workspaces", {"name": "Acme"}, user.token)
    assert status == 201, workspace
    status, session = call(server.port, "POST", f"/v1/workspaces/{workspace['id']}/chat/sessions", {}, user.token)
    assert status == 201, session
    user.workspace_id, user.session_id = workspace["id"], session["id"]
    return user


def ledger_of(server: Server, user: User) -> tuple[int, int]:
    """(credits spent, credits still held)."""
    view = server.container.ledger.balance(user.id)
    granted = sum(e.amount for e in _entries(server, user) if e.amount > 0)
    return granted - view.balance, view.held


def _entries(server: Server, user: User) -> list[Any]:
    return list(server.container.ledger.transactions(user.id, limit=200).items)


def charges(server: Server, user: User) -> list[int]:
    return [-e.amount for e in _entries(server, user) if e.kind == "charge"]


# --- defect 6: deadline, heartbeats, always done or error --------------------------------------------
def test_a_stream_that_trickles_gets_heartbeats_and_ends_with_done(server: Server) -> None:
    user = new_user(server)
    server.fake.script(Step(text="One two three", chunk_delay=0.35))

    result = stream(server.port, user, "Plan my week")

    assert result.heartbeats >= 1
    assert result.final[0] == "done"
    assert result.deltas == "One two three"
    assert charges(server, user) == [result.final[1]["credits_charged"]]
    assert ledger_of(server, user)[1] == 0


def test_a_stream_that_stalls_past_the_deadline_ends_with_done_cut_short_and_is_charged_once(server: Server) -> None:
    user = new_user(server)
    server.fake.script(Step(stall_after=2, stall=8.0))
    started = time.monotonic()

    result = stream(server.port, user, "Plan my week")

    assert time.monotonic() - started < DEADLINE + 2
    name, done = result.final
    assert name == "done"
    assert done["assistant_message"]["cut_short"] is True
    assert done["assistant_message"]["content"] == result.deltas
    assert charges(server, user) == [done["credits_charged"]] and done["credits_charged"] > 0
    assert ledger_of(server, user)[1] == 0


def test_a_json_reply_slower_than_the_deadline_is_502_at_the_deadline_and_costs_nothing(server: Server) -> None:
    user = new_user(server)
    server.fake.script(Step(delay=6.0))
    started = time.monotonic()

    status, body = call(
        server.port, "POST", f"/v1/chat/sessions/{user.session_id}/messages", {"content": "Plan my week"}, user.token
    )

    assert time.monotonic() - started < DEADLINE + 2
    assert (status, body["error"]["code"]) == (502, "llm_unavailable")
    assert charges(server, user) == [] and ledger_of(server, user)[1] == 0


def test_a_stream_that_drops_half_way_ends_with_done_cut_short(server: Server) -> None:
    user = new_user(server)
    server.fake.script(Step(drop_after=3))

    result = stream(server.port, user, "Plan my week")

    name, done = result.final
    assert name == "done" and done["assistant_message"]["cut_short"] is True
    assert charges(server, user) == [done["credits_charged"]]
    assert ledger_of(server, user)[1] == 0


# --- defect 5: a provider that ignores max_tokens -------------------------------------------------
def test_a_provider_ignoring_max_tokens_is_cut_at_the_cap_and_charged_the_cap_at_most(server: Server) -> None:
    user = new_user(server)
    server.fake.script(Step(chunks=tuple(["word "] * 3_000), usage=(11, 3_000)))

    result = stream(server.port, user, "Plan my week")

    cap = server.fake.requests[-1].body["max_tokens"]
    name, done = result.final
    assert name == "done" and done["assistant_message"]["cut_short"] is True
    assert len(result.deltas) <= cap * 6  # CAP_SLACK x 4 characters a token
    assert done["assistant_message"]["content"] == result.deltas
    assert done["assistant_message"]["tokens_out"] == cap
    assert ledger_of(server, user)[1] == 0


# --- defects 3 and 4: what the provider sends that storage or the types refuse ----------------------
@pytest.mark.parametrize("content", [123, {"a": 1}, ["x"]])
def test_non_string_content_is_502_in_json_and_an_error_event_in_a_stream_with_nothing_held(
    server: Server, content: Any
) -> None:
    user = new_user(server)
    server.fake.script(Step(content=content, chunks=(content, "more")))

    status, body = call(
        server.port, "POST", f"/v1/chat/sessions/{user.session_id}/messages", {"content": "Plan my week"}, user.token
    )
    result = stream(server.port, user, "Plan my week")

    assert (status, body["error"]["code"]) == (502, "llm_unavailable")
    assert result.final == ("error", result.final[1]) and result.final[1]["error"]["code"] == "llm_unavailable"
    assert charges(server, user) == [] and ledger_of(server, user)[1] == 0


@pytest.mark.parametrize("usage_raw", [{"prompt_tokens": 2**31, "completion_tokens": 2**63}, "lots", None])
def test_huge_odd_or_missing_usage_is_stored_and_charged_within_the_hold(server: Server, usage_raw: Any) -> None:
    user = new_user(server)
    server.fake.script(
        Step(
            text="x" * 70_000 if usage_raw is None else DEFAULT_TEXT,
            usage_raw=usage_raw,
            usage=None if usage_raw is None else (11, 7),
            model="m" * 300,
        )
    )

    status, body = call(
        server.port, "POST", f"/v1/chat/sessions/{user.session_id}/messages", {"content": "Plan my week"}, user.token
    )

    assert status == 201, body
    answer = body["assistant_message"]
    assert answer["model"] == "fake-model-1"
    assert 0 <= answer["tokens_out"] <= server.fake.requests[-1].body["max_tokens"]
    assert charges(server, user) == [body["credits_charged"]]
    assert ledger_of(server, user)[1] == 0


def test_an_empty_reply_is_charged_in_full_for_its_usage(server: Server) -> None:
    user = new_user(server)
    server.fake.script(Step(content=None, usage=(500, 40)))

    status, body = call(
        server.port, "POST", f"/v1/chat/sessions/{user.session_id}/messages", {"content": "Plan my week"}, user.token
    )

    assert status == 201, body
    assert body["assistant_message"]["content"] == ""
    assert (body["assistant_message"]["tokens_in"], body["assistant_message"]["tokens_out"]) == (500, 40)
    assert body["credits_charged"] > 0 and charges(server, user) == [body["credits_charged"]]


# --- defect 1: deleting the session or the workspace while the answer streams ------------------------
@pytest.mark.parametrize("what", ["session", "workspace"])
def test_deleting_the_parent_mid_stream_still_charges_what_was_sent(server: Server, what: str) -> None:
    user = new_user(server)
    server.fake.script(Step(text="One two three four five six seven eight", chunk_delay=0.15))
    deleted: list[int] = []

    def delete() -> None:
        path = f"/v1/chat/sessions/{user.session_id}" if what == "session" else f"/v1/workspaces/{user.workspace_id}"
        deleted.append(call(server.port, "DELETE", path, token=user.token)[0])

    result = stream(server.port, user, "Plan my week", after_deltas=(2, delete))

    assert deleted == [204]
    name, error = result.final
    assert (name, error["error"]["code"]) == ("error", "not_found")
    spent, held = ledger_of(server, user)
    assert held == 0
    assert len(charges(server, user)) == 1 and spent > 0, "the text that was sent was not charged"


# --- defect 2: one Idempotency-Key, parallel requests -----------------------------------------------
def test_parallel_streams_with_one_key_call_the_model_once_and_charge_once(server: Server) -> None:
    user = new_user(server)
    server.fake.script(Step(text="One two three four five six", chunk_delay=0.2))
    key = unique("key")
    results: list[Streamed]
    results, _ = run_together([lambda: stream(server.port, user, "Plan my week", key=key)] * 3, timeout=30)

    assert len(server.fake.requests) == 1, "the model was called more than once for one key"
    done = [r for r in results if r.events and r.final[0] == "done"]
    busy = [r for r in results if r.status == 409]
    assert len(done) + len(busy) == 3 and done
    assert all(r.body["error"]["code"] == "request_in_progress" for r in busy)
    assert all(r.final[1]["assistant_message"]["id"] == done[0].final[1]["assistant_message"]["id"] for r in done)
    assert len(charges(server, user)) == 1
    assert ledger_of(server, user)[1] == 0

    again = stream(server.port, user, "Plan my week", key=key)  # afterwards: the first answer, replayed
    assert again.final[1]["assistant_message"]["id"] == done[0].final[1]["assistant_message"]["id"]
    assert len(server.fake.requests) == 1 and len(charges(server, user)) == 1


# --- tasks run inline in the embedded default: bounded by the same deadline, never left running ------
@pytest.mark.parametrize("step", [Step(delay=6.0), Step(content={"not": "text"})], ids=["slow", "non-string"])
def test_an_inline_task_whose_model_is_slow_or_answers_nonsense_fails_at_once_and_releases_its_hold(
    server: Server, step: Step
) -> None:
    user = new_user(server)
    server.fake.script(step)
    started = time.monotonic()

    status, task = call(
        server.port,
        "POST",
        "/v1/tasks",
        {"type": "strategy", "workspace_id": user.workspace_id, "input": {}},
        user.token,
    )

    assert status == 202, task
    assert time.monotonic() - started < DEADLINE + 2
    status, now = call(server.port, "GET", f"/v1/tasks/{task['id']}", token=user.token)
    assert (status, now["status"]) == (200, "failed")
    assert charges(server, user) == [] and ledger_of(server, user)[1] == 0
