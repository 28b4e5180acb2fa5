"""Houston on a three-node Galera cluster with writes on every node (issue 20).

Three Houston instances (`bootstrap` from a DATABASE_URL, as production builds them), each on its
own node, race on one account. What must hold after any interleaving: no overdraft, one entry per
key, one winner among capture/void/capture, every node ending identical; no 500 anywhere; a 503
only when nothing happened (`service_unavailable`) or when the service says it could not find out
(`outcome_unknown`), and a 201 always has its entry on every node, also across a node killed with
`kill -9` under load and rejoining.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask.testing import FlaskClient

from domain.ledger.errors import HoldNotActive, HoldNotFound
from domain.ledger.model import GrantSource
from entrypoints.bootstrap import Container
from entrypoints.http.app import create_app
from tests.fixtures.http import auth_headers, register
from tests.galera.cluster import Cluster
from tests.galera.conftest import NodeContainers, appliers_busy, scalar

pytestmark = pytest.mark.galera
CHARGE = {"feature_key": "api.call", "quantity": 3}  # 3 credits


def _client(container: Container) -> FlaskClient:
    app = create_app(container)
    app.testing = True
    return app.test_client()


def _user_with(containers: list[Container], credits: int) -> tuple[str, dict[str, str]]:
    """A user registered on node 1 with `credits` more (a promo grant); its id and auth headers."""
    user = register(_client(containers[0]))
    user_id = user["user"]["id"]
    if credits:
        containers[0].ledger.grant(user_id, source=GrantSource.PROMO, amount=credits, idempotency_key=f"seed-{user_id}")
    return user_id, auth_headers(user["access_token"])


def _state(url: str, account_id: str) -> tuple[Any, ...]:
    account = scalar(url, "SELECT balance, held FROM ledger_accounts WHERE id = :a", a=account_id)[0]
    entries = scalar(
        url,
        "SELECT seq, amount, balance_after, idempotency_key FROM ledger_entries WHERE account_id = :a ORDER BY seq",
        a=account_id,
    )
    return tuple(account), tuple(tuple(row) for row in entries)


def _assert_identical_everywhere(urls: list[str], account_id: str) -> tuple[Any, ...]:
    states = [_state(url, account_id) for url in urls]
    assert states[0] == states[1] == states[2], "the nodes disagree"
    (balance, held), entries = states[0][0], states[0][1]
    assert balance == sum(row[1] for row in entries) and balance >= 0 and held >= 0
    running = 0
    for _seq, amount, balance_after, _key in entries:
        running += amount
        assert balance_after == running
    return states[0]


def test_migrations_apply_and_every_table_is_innodb_with_a_primary_key(migrated: list[str]) -> None:
    for url in migrated:  # the DDL replicated to every node
        tables = scalar(
            url,
            "SELECT table_name, engine FROM information_schema.tables "
            "WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'",
        )
        assert len(tables) > 10 and {engine for _, engine in tables} == {"InnoDB"}, tables
        without_pk = scalar(
            url,
            """
            SELECT t.table_name FROM information_schema.tables t
            WHERE t.table_schema = DATABASE() AND t.table_type = 'BASE TABLE' AND NOT EXISTS (
              SELECT 1 FROM information_schema.table_constraints c WHERE c.table_schema = t.table_schema
              AND c.table_name = t.table_name AND c.constraint_type = 'PRIMARY KEY')""",
        )
        assert without_pk == [], f"Galera needs a primary key on every table: {without_pk}"


def test_concurrent_charges_on_one_account_from_three_nodes_never_overdraw_and_agree(
    nodes: NodeContainers, migrated: list[str]
) -> None:
    containers = nodes()
    user_id, headers = _user_with(containers, 50)  # 150 credits: 50 charges of 3, and nothing left over
    clients = [_client(c) for c in containers]
    statuses: list[int] = []

    def charge(n: int) -> int:
        response = clients[n % 3].post(
            "/v1/credits/charges", json=CHARGE, headers={**headers, "Idempotency-Key": f"c-{n}"}
        )
        return response.status_code

    with ThreadPoolExecutor(9) as pool:
        statuses = list(pool.map(charge, range(60)))
    counted = Counter(statuses)
    assert set(counted) <= {201, 402, 503}, counted  # never a 500
    _, entries = _assert_identical_everywhere(migrated, user_id)
    charges = [row for row in entries if row[1] == -3]
    assert len(charges) == counted[201] and counted[201] + counted[402] + counted[503] == 60
    balance = 150 - 3 * counted[201]
    assert balance >= 0 and (counted[402] == 0 or balance < 3), counted  # a 402 only when it was truly short


def test_a_galera_node_gets_no_write_batches_nor_reads_that_carry_their_commit(migrated: list[str]) -> None:
    """Issue 25's batches (writes with the COMMIT in one packet) are off on a Galera node: a
    brute-force abort fails the statement it hits, yet the node runs the rest of the packet in a
    new transaction and commits it (the test above then saw a 201 without its entry)."""
    from adapters.sql.batch import batches_writes
    from adapters.sql.engine import make_engine

    engine = make_engine(migrated[0])
    try:
        with engine.connect() as connection:
            assert connection.connection.dbapi_connection.houston_galera is True
            assert batches_writes(connection) is False
    finally:
        engine.dispose()


def test_one_idempotency_key_sent_to_all_nodes_at_once_charges_once(nodes: NodeContainers, migrated: list[str]) -> None:
    containers = nodes()
    user_id, headers = _user_with(containers, 0)
    clients = [_client(c) for c in containers]
    barrier = threading.Barrier(9)

    def charge(n: int) -> tuple[int, Any]:
        barrier.wait()
        response = clients[n % 3].post(
            "/v1/credits/charges", json=CHARGE, headers={**headers, "Idempotency-Key": "once"}
        )
        return response.status_code, response.get_json()

    with ThreadPoolExecutor(9) as pool:
        answers = list(pool.map(charge, range(9)))
    assert {status for status, _ in answers} == {201}, answers
    assert all(body == answers[0][1] for _, body in answers)  # the same result, replayed
    _, entries = _assert_identical_everywhere(migrated, user_id)
    assert [row[1] for row in entries].count(-3) == 1


def test_capture_void_and_capture_racing_on_three_nodes_have_one_winner(
    nodes: NodeContainers, migrated: list[str]
) -> None:
    containers = nodes()
    user_id, _ = _user_with(containers, 0)
    for round_ in range(5):
        hold = containers[0].ledger.hold(user_id, amount=10, idempotency_key=f"h{round_}").hold
        assert hold is not None
        barrier = threading.Barrier(3)
        calls: list[Callable[[], Any]] = [
            lambda: containers[0].ledger.capture(user_id, hold.id, amount=4, idempotency_key=f"a{round_}"),
            lambda: containers[1].ledger.void(user_id, hold.id, idempotency_key=f"b{round_}"),
            lambda: containers[2].ledger.capture(user_id, hold.id, amount=7, idempotency_key=f"c{round_}"),
        ]

        def race(call: Callable[[], Any]) -> str:
            barrier.wait()
            try:
                call()
                return "won"
            except (HoldNotActive, HoldNotFound):
                return "lost"

        with ThreadPoolExecutor(3) as pool:
            outcomes = list(pool.map(race, calls))
        assert outcomes.count("won") == 1, outcomes
    (balance, held), _ = _assert_identical_everywhere(migrated, user_id)
    assert held == 0


def _capture_right_after_hold(containers: list[Container], user_id: str, tries: int) -> int:
    """Hold on node 1, then at once capture on node 2: how many captures did not find the hold."""
    stale = 0
    for _ in range(tries):
        key = uuid.uuid4().hex[:8]
        hold = containers[0].ledger.hold(user_id, amount=1, idempotency_key=f"h-{key}").hold
        assert hold is not None
        try:
            containers[1].ledger.capture(user_id, hold.id, amount=1, idempotency_key=f"c-{key}")
        except HoldNotFound:
            stale += 1
            containers[0].ledger.void(user_id, hold.id, idempotency_key=f"v-{key}")
    return stale


def test_a_capture_on_another_node_right_after_the_hold_always_finds_it(
    nodes: NodeContainers, migrated: list[str]
) -> None:
    """Causal reads (DB_SYNC_WAIT=1, the default). Without them (DB_SYNC_WAIT=0) 3 of 150 and
    14 of 200 captures here answered 404 hold_not_found: node 2 had not applied the hold yet."""
    containers = nodes()
    user_id, _ = _user_with(containers, 1000)
    with appliers_busy(migrated[0]):
        assert _capture_right_after_hold(containers, user_id, 150) == 0


def test_a_node_that_left_the_cluster_is_not_ready_and_answers_503_not_500(
    nodes: NodeContainers, cluster: Cluster
) -> None:
    containers = nodes(db_read_timeout=3, ready_timeout=2)
    user_id, headers = _user_with(containers, 0)
    third = _client(containers[2])
    assert third.get("/ready").status_code == 200
    cluster.sql(3, "SET GLOBAL wsrep_provider_options='gmcast.isolate=1'")
    try:
        deadline = time.monotonic() + 30
        while cluster.status(3).get("wsrep_ready") != "OFF":
            assert time.monotonic() < deadline, "node 3 never left the cluster"
            time.sleep(0.5)
        assert cluster.sql(3, "SELECT 1").strip() == "1"  # it still answers SELECT 1 ...
        ready = third.get("/ready")
        assert ready.status_code == 503 and ready.get_json()["error"]["details"] == {"database": "unavailable"}
        response = third.post("/v1/credits/charges", json=CHARGE, headers={**headers, "Idempotency-Key": "x"})
        assert response.status_code == 503, response.get_json()  # ... and 1047 to the rest: before, a 500
        assert response.get_json()["error"]["code"] == "service_unavailable"
    finally:
        cluster.sql(3, "SET GLOBAL wsrep_provider_options='gmcast.isolate=0'")
        cluster.wait_synced(3, 60, size=3)
    assert third.get("/ready").status_code == 200
    assert _client(containers[1]).get("/ready").status_code == 200
    assert (
        scalar(
            cluster.nodes[1].url(),
            "SELECT COUNT(*) FROM ledger_entries WHERE account_id = :a AND idempotency_key = 'http:x'",
            a=user_id,
        )[0][0]
        == 0
    )


def test_a_node_killed_under_load_loses_nothing_and_every_answer_tells_the_truth(
    nodes: NodeContainers, cluster: Cluster, migrated: list[str]
) -> None:
    containers = nodes()
    # Enough that the load never runs dry: a 402 is a true answer, but it is not what this test asks
    # about (12 s of load made 1,033 charges of 3 in one CI run and exhausted 3,100 credits).
    user_id, headers = _user_with(containers, 10**6)
    clients = [_client(c) for c in containers]
    answers: list[tuple[str, int, str]] = []
    stop = threading.Event()
    lock = threading.Lock()

    def load(node: int, worker: int) -> None:
        n = 0
        while not stop.is_set():
            key = f"k{node}-{worker}-{n}"
            response = clients[node].post(
                "/v1/credits/charges", json=CHARGE, headers={**headers, "Idempotency-Key": key}
            )
            code = (response.get_json() or {}).get("error", {}).get("code", "")
            with lock:
                answers.append((key, response.status_code, code))
            n += 1
            if response.status_code == 503:
                time.sleep(0.2)

    threads = [threading.Thread(target=load, args=(node, w)) for node in range(3) for w in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    cluster.kill_node(3, signal.SIGKILL)
    time.sleep(10)  # through the survivors' pause (failure detection, about 6 s) and beyond
    stop.set()
    for thread in threads:
        thread.join(60)
    cluster.start_node(3)
    cluster.wait_synced(3, 120, size=3)

    statuses = Counter(status for _, status, _ in answers)
    assert set(statuses) <= {201, 503}, statuses  # never a 500
    assert statuses[201] > 0
    _, entries = _assert_identical_everywhere(migrated, user_id)  # node 3 rejoined with everything
    keys = Counter(row[3] for row in entries)
    assert all(count == 1 for count in keys.values())
    for key, status, code in answers:
        if status == 201:
            assert keys[f"http:{key}"] == 1, f"a 201 without its entry: {key}"
        elif code == "service_unavailable":
            assert keys[f"http:{key}"] == 0, f"a 503 'nothing happened' that happened: {key}"
        else:
            assert code == "outcome_unknown", (key, status, code)
    print(f"\nkill -9 under load: {dict(statuses)}, codes {Counter(c for _, s, c in answers if s == 503)}")
