"""A database that is down or frozen answers 503 fast, /ready names it, and the service recovers.

The service is built as production builds it (`bootstrap(settings)` from a DATABASE_URL), pointed
at: a port where nothing listens (refused: 503 at once), and a TCP proxy in front of the test
MariaDB that can freeze (it stops moving bytes, connections stay open, like a stopped server
process): 503 within the configured timeouts, then 2xx again once it thaws.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url

from entrypoints.bootstrap import bootstrap
from entrypoints.http.app import create_app
from tests.fixtures.http import auth_headers, register
from tests.fixtures.settings import make_settings

TIMEOUT = 1  # seconds: DB_CONNECT/READ/WRITE_TIMEOUT_SECONDS and READY_TIMEOUT_SECONDS in these tests


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class FreezableProxy:
    """127.0.0.1:<port> -> MariaDB. `freeze()` stops moving bytes (and stalls new connections)
    without closing anything; `thaw()` lets them flow again."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.flowing = threading.Event()
        self.flowing.set()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze(self) -> None:
        self.flowing.clear()

    def thaw(self) -> None:
        self.flowing.set()

    def close(self) -> None:
        self.closed = True
        self.flowing.set()
        self.server.close()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        self.flowing.wait()
        upstream = socket.create_connection(self.upstream)
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                self.flowing.wait()
                data = source.recv(65536)
                if not data:
                    break
                self.flowing.wait()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.close()
                except OSError:
                    pass


def _client(database_url: str, **overrides: Any) -> FlaskClient:
    values = dict(
        database_url=database_url,
        db_connect_timeout=TIMEOUT,
        db_read_timeout=TIMEOUT,
        db_write_timeout=TIMEOUT,
        db_lock_wait_timeout=TIMEOUT,
        ready_timeout=TIMEOUT,
    )
    settings = make_settings(**{**values, **overrides})
    app = create_app(bootstrap(settings))
    app.testing = True
    return app.test_client()


def _assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.get_json()
    assert response.get_json()["error"]["code"] == "service_unavailable"
    assert int(response.headers["Retry-After"]) > 0


def _timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_a_database_nobody_listens_on_is_a_fast_503_and_ready_names_it() -> None:
    client = _client(f"mysql+pymysql://root@127.0.0.1:{_free_port()}/houston")
    body = {"email": "ada@example.com", "password": "correct horse battery"}
    for call in (
        lambda: client.post("/v1/auth/register", json=body),
        lambda: client.post("/v1/auth/login", json=body),
        lambda: client.get("/v1/credits/balance", headers={"X-API-Key": "hk_abcdefgh_" + "x" * 43}),
    ):
        response, elapsed = _timed(call)
        _assert_unavailable(response)
        assert elapsed < 1.5, elapsed
    ready, elapsed = _timed(lambda: client.get("/ready"))
    assert ready.status_code == 503 and ready.get_json()["error"]["details"] == {"database": "unavailable"}
    assert int(ready.headers["Retry-After"]) > 0
    assert "database" in ready.get_json()["error"]["message"] and elapsed < 1.5
    assert client.get("/health").status_code == 200


@pytest.fixture
def frozen_setup(mysql_engine: Any) -> Iterator[tuple[FreezableProxy, FlaskClient]]:
    url = make_url(str(mysql_engine.url.render_as_string(hide_password=False)))
    proxy = FreezableProxy((url.host or "127.0.0.1", url.port or 3306))
    yield proxy, _client(url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
    proxy.close()


def test_a_frozen_database_is_a_503_within_the_timeouts_and_the_service_recovers(
    frozen_setup: tuple[FreezableProxy, FlaskClient],
) -> None:
    proxy, client = frozen_setup
    user = register(client)  # the pool now holds a live connection through the proxy
    headers = auth_headers(user["access_token"])
    assert client.get("/v1/credits/balance", headers=headers).status_code == 200

    proxy.freeze()
    charge = lambda: client.post(  # noqa: E731
        "/v1/credits/charges",
        json={"feature_key": "coach.message"},
        headers={**headers, "Idempotency-Key": "frozen-1"},
    )
    for call in (charge, lambda: client.get("/v1/credits/balance", headers=headers)):
        response, elapsed = _timed(call)
        _assert_unavailable(response)
        assert elapsed < 4 * TIMEOUT + 1, elapsed  # pre-ping timeout + one reconnect, not a hang
    ready, elapsed = _timed(lambda: client.get("/ready"))
    assert ready.status_code == 503 and "database" in ready.get_json()["error"]["message"]
    assert elapsed < 2 * TIMEOUT + 1, elapsed
    assert client.get("/health").status_code == 200  # the process still serves

    proxy.thaw()
    assert client.get("/ready").status_code == 200
    first = charge()
    assert first.status_code == 201, first.get_json()
    assert charge().get_json() == first.get_json()  # charged once: the 503 wrote nothing
    balance = client.get("/v1/credits/balance", headers=headers).get_json()
    assert balance["balance"] == 100 - first.get_json()["transaction"]["amount"] * -1


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte (a frozen database host)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.server.close()
        for conn in self.held:
            conn.close()


def test_a_server_that_accepts_and_never_answers_is_a_503_within_the_timeout() -> None:
    silent = SilentServer()
    try:
        client = _client(f"mysql+pymysql://root@127.0.0.1:{silent.port}/houston")
        response, elapsed = _timed(lambda: client.post("/v1/auth/login", json={"email": "a@b.co", "password": "x"}))
        _assert_unavailable(response)
        assert elapsed < 3 * TIMEOUT + 1, elapsed
        assert silent.held, "the service never reached the silent server"
    finally:
        silent.close()


def test_under_gunicorn_a_silent_database_is_a_json_503_and_the_worker_lives(tmp_path: Any) -> None:
    """What production runs: `houston serve`. The worker answers 503 itself within the database
    timeouts (long before gunicorn's 30 s worker timeout), and the same worker keeps serving."""
    from tests.fixtures.serving import exchange, get, houston_serve

    silent = SilentServer()
    settings = {
        "DATABASE_URL": f"mysql+pymysql://root@127.0.0.1:{silent.port}/houston",
        "DB_CONNECT_TIMEOUT_SECONDS": "1",
        "DB_READ_TIMEOUT_SECONDS": "1",
        "DB_WRITE_TIMEOUT_SECONDS": "1",
        "READY_TIMEOUT_SECONDS": "1",
    }
    try:
        with houston_serve(tmp_path, **settings) as (port, process):
            body = b'{"email": "a@example.com", "password": "correct horse battery"}'
            raw = (
                b"POST /v1/auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
            ) + body
            for _ in range(3):
                (status, headers, payload), elapsed = _timed(lambda: exchange(port, raw, timeout=20))
                assert status == 503 and headers["content-type"] == "application/json", payload[:200]
                assert headers["retry-after"] and b"service_unavailable" in payload
                assert elapsed < 3 * TIMEOUT + 1.5, elapsed
            (status, _, payload), elapsed = _timed(lambda: get(port, "/ready", timeout=20))
            assert status == 503 and b"database" in payload and elapsed < 2 * TIMEOUT + 1.5
            assert get(port, "/health")[0] == 200 and process.poll() is None
    finally:
        silent.close()


def test_a_row_lock_held_elsewhere_is_a_503_within_the_lock_wait_bound(mysql_engine: Any) -> None:
    """A stuck transaction holding an account's row lock: every attempt waits at most
    DB_LOCK_WAIT_TIMEOUT_SECONDS (the session's innodb_lock_wait_timeout, not the server's 50 s),
    the unit of work is retried as contention, then the charge is a 503 that wrote nothing.
    The read timeout is longer than the lock wait (as in the defaults, 10 > 2), so the answer is
    MariaDB's 1205, not a dropped connection."""
    from sqlalchemy import text

    url = mysql_engine.url.render_as_string(hide_password=False)
    client = _client(url, db_read_timeout=10 * TIMEOUT)
    container = client.application.extensions["houston"]
    with container.resources.engine.connect() as session:
        assert session.execute(text("SELECT @@SESSION.innodb_lock_wait_timeout")).scalar_one() == TIMEOUT
    user = register(client)
    headers = {**auth_headers(user["access_token"]), "Idempotency-Key": "locked-1"}
    with mysql_engine.connect() as stuck:
        stuck.execute(text("SELECT id FROM ledger_accounts WHERE id = :id FOR UPDATE"), {"id": user["user"]["id"]})
        response, elapsed = _timed(
            lambda: client.post("/v1/credits/charges", json={"feature_key": "coach.message"}, headers=headers)
        )
        stuck.rollback()
    _assert_unavailable(response)
    assert "busy" in response.get_json()["error"]["message"]  # contention (1205), retried, then 503
    assert 4 * TIMEOUT <= elapsed < 5 * TIMEOUT + 3, elapsed  # 5 attempts of about 1 s each, not 50 s
    retry = client.post("/v1/credits/charges", json={"feature_key": "coach.message"}, headers=headers)
    assert retry.status_code == 201 and retry.get_json()["balance"]["balance"] == 99
