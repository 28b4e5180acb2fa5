"""On plain MariaDB: a connection lost during COMMIT, and a database frozen under load (issue 20).

A TCP proxy in front of the test MariaDB sees the client's `COMMIT` packet and can lose the
connection right after passing it on (the server commits; the service hears nothing back), or
instead of passing it on (nothing is committed). Either way the service must answer with the
truth: the committed result, or the call done once. Before issue 20 the first case was a 503
"nothing was charged" for a charge that was in the ledger.

The second half freezes the proxy (a stopped server: connections open, no byte moves) under
concurrent load: every request is a 503 within two read timeouts, never a 500, and /ready says
503 within its own timeout meanwhile.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url

from domain.ledger.model import GrantSource
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.http.app import create_app
from tests.fixtures.http import auth_headers, register
from tests.fixtures.settings import make_settings
from tests.integration.test_database_outage import FreezableProxy

pytestmark = pytest.mark.mysql
COMMIT_PACKET = (7).to_bytes(3, "little") + b"\x00\x03COMMIT"  # length 7, sequence 0, COM_QUERY "COMMIT"


def commits(data: bytes) -> bool:
    """A whole COM_QUERY packet that ends with COMMIT: the COMMIT alone, or the last statement of a
    batch of writes (issue 25: `INSERT ...; UPDATE ...; COMMIT`). Not a read that ends its own
    read-only transaction (issue 25: `SELECT ...; COMMIT`, adapters/sql/db.py): it commits nothing."""
    whole = len(data) >= 5 and int.from_bytes(data[:3], "little") == len(data) - 4
    query = data[5:].strip().upper()
    return whole and data[3] == 0 and data[4] == 3 and query.endswith(b"COMMIT") and not query.startswith(b"SELECT")


class CommitLosingProxy:
    """127.0.0.1:<port> -> MariaDB. After `lose_next_commit(delivered=...)`, the next COMMIT a
    client sends is passed on and the connection then cut before the answer (delivered=True), or
    the connection is cut instead of passing it on (delivered=False)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.armed: bool | None = None
        self.lost = 0
        self.cut = b""  # the packet whose answer (or delivery) was lost
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def lose_next_commit(self, *, delivered: bool) -> None:
        self.armed = delivered

    def close(self) -> None:
        self.server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            muted = threading.Event()  # set: the server's answers are dropped on the floor
            threading.Thread(target=self._pump, args=(client, upstream, muted, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, muted, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, muted: threading.Event, from_client: bool) -> None:
        try:
            while data := source.recv(65536):
                if from_client and commits(data) and self.armed is not None:
                    with self.lock:
                        delivered, self.armed = self.armed, None
                        self.lost += 1
                        self.cut = data
                    if delivered:
                        muted.set()
                        sink.sendall(data)
                        time.sleep(0.2)  # the server commits; its OK never reaches the client
                    break
                if muted.is_set():
                    continue
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
                end.close()
            except OSError:
                pass


@pytest.fixture
def losing(mysql_engine: Any) -> Iterator[tuple[CommitLosingProxy, Container, FlaskClient]]:
    url = make_url(mysql_engine.url.render_as_string(hide_password=False))
    proxy = CommitLosingProxy((url.host or "127.0.0.1", url.port or 3306))
    via = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    container = bootstrap(make_settings(database_url=via, db_read_timeout=3, db_write_timeout=3))
    app = create_app(container)
    app.testing = True
    yield proxy, container, app.test_client()
    container.resources.engine.dispose()
    proxy.close()


@pytest.mark.parametrize("delivered", [True, False], ids=["committed", "not-committed"])
def test_a_charge_whose_commit_answer_was_lost_answers_the_truth(
    losing: tuple[CommitLosingProxy, Container, FlaskClient], delivered: bool
) -> None:
    proxy, _, client = losing
    user = register(client)
    headers = {**auth_headers(user["access_token"]), "Idempotency-Key": "lost-commit"}
    proxy.lose_next_commit(delivered=delivered)
    first = client.post("/v1/credits/charges", json={"feature_key": "coach.message"}, headers=headers)
    assert proxy.lost == 1
    assert proxy.cut.count(b"INSERT") >= 2  # issue 25: the writes went with the COMMIT, in one packet
    assert first.status_code == 201, first.get_json()  # before issue 20: 503 "nothing was charged"
    assert first.get_json()["balance"]["balance"] == 99
    again = client.post("/v1/credits/charges", json={"feature_key": "coach.message"}, headers=headers)
    assert again.get_json() == first.get_json()
    balance = client.get("/v1/credits/balance", headers=auth_headers(user["access_token"])).get_json()
    assert balance["balance"] == 99  # charged once


def _verbs(container: Container, account: str) -> dict[str, tuple[Callable[[], Any], int]]:
    ledger = container.ledger
    hold = ledger.hold(account, amount=10, idempotency_key="setup-hold").hold
    assert hold is not None
    return {
        "hold": (lambda: ledger.hold(account, amount=5, idempotency_key="k"), 100),
        "capture": (lambda: ledger.capture(account, hold.id, amount=4, idempotency_key="k"), 96),
        "void": (lambda: ledger.void(account, hold.id, idempotency_key="k"), 100),
        "grant": (lambda: ledger.grant(account, source=GrantSource.ADMIN, amount=7, idempotency_key="k"), 107),
    }


@pytest.mark.parametrize("verb", ["hold", "capture", "void", "grant"])
@pytest.mark.parametrize("delivered", [True, False], ids=["committed", "not-committed"])
def test_every_ledger_verb_settles_a_lost_commit_by_its_key(
    losing: tuple[CommitLosingProxy, Container, FlaskClient], verb: str, delivered: bool
) -> None:
    proxy, container, client = losing
    account = register(client)["user"]["id"]  # 100 credits
    call, balance = _verbs(container, account)[verb]
    proxy.lose_next_commit(delivered=delivered)
    first = call()
    assert proxy.lost == 1 and first.balance.balance == balance
    assert call() == first
    assert container.ledger.balance(account).balance == balance


# --- frozen under load -----------------------------------------------------------------------
TIMEOUT = 1  # seconds: every DB_*_TIMEOUT_SECONDS and READY_TIMEOUT_SECONDS here


@pytest.fixture
def frozen(mysql_engine: Any) -> Iterator[tuple[FreezableProxy, FlaskClient]]:
    url = make_url(mysql_engine.url.render_as_string(hide_password=False))
    proxy = FreezableProxy((url.host or "127.0.0.1", url.port or 3306))
    via = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    settings = make_settings(
        database_url=via,
        db_connect_timeout=TIMEOUT,
        db_read_timeout=TIMEOUT,
        db_write_timeout=TIMEOUT,
        db_lock_wait_timeout=TIMEOUT,
        ready_timeout=TIMEOUT,
    )
    container = bootstrap(settings)
    app = create_app(container)
    app.testing = True
    yield proxy, app.test_client()
    proxy.thaw()
    container.resources.engine.dispose()
    proxy.close()


def test_a_database_frozen_under_load_is_a_503_within_two_read_timeouts_never_a_500(
    frozen: tuple[FreezableProxy, FlaskClient],
) -> None:
    proxy, client = frozen
    users = [register(client) for _ in range(3)]
    answers: list[tuple[int, str, float]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def load(n: int) -> None:
        headers = auth_headers(users[n % 3]["access_token"])
        i = 0
        while not stop.is_set():
            started = time.monotonic()
            if i % 2:
                response = client.get("/v1/credits/balance", headers=headers)
            else:
                response = client.post(
                    "/v1/credits/charges",
                    json={"feature_key": "coach.message"},
                    headers={**headers, "Idempotency-Key": f"f-{n}-{i}"},
                )
            code = (response.get_json() or {}).get("error", {}).get("code", "")
            with lock:
                answers.append((response.status_code, code, time.monotonic() - started))
            i += 1

    with ThreadPoolExecutor(6) as pool:
        for n in range(6):
            pool.submit(load, n)
        time.sleep(1)
        proxy.freeze()
        frozen_at = len(answers)
        time.sleep(0.5)
        ready_started = time.monotonic()
        ready = client.get("/ready")
        ready_took = time.monotonic() - ready_started
        time.sleep(4 * TIMEOUT)
        stop.set()
    during = answers[frozen_at:]
    statuses = Counter(status for status, _, _ in during)
    assert set(statuses) <= {200, 201, 503}, statuses  # never a 500
    assert statuses[503] >= 6
    slowest = max(took for _, _, took in during)
    print(f"\nfrozen under load: {dict(statuses)}, slowest {slowest:.2f}s, /ready {ready_took:.2f}s")
    assert slowest < 2 * TIMEOUT + 1, slowest  # before issue 20: up to 3 read timeouts (retry, failed ROLLBACK)
    assert ready.status_code == 503 and ready_took < TIMEOUT + 1, ready_took
    proxy.thaw()
    assert client.get("/ready").status_code == 200
