"""The ledger benchmark: `python -m bench.ledger` (or `make bench`) against a real MariaDB/MySQL.

1. Throughput. 16 concurrent clients for N seconds per scenario, on 16 distinct accounts and on one
   hot account, for `POST /v1/credits/charges` and `GET /v1/credits/balance`, at three layers:
   - http:     gunicorn (gthread workers) over keep-alive http.client connections, X-API-Key auth;
   - service:  the `Ledger` use cases in this process, one unit of work per call;
   - baseline: the same guarded SQL (SELECT ... FOR UPDATE of the account, insert the entry,
               update the grant and the account, commit) over bare pymysql connections.
2. Read cost against history size. One account with 1,000,000 entries and one with 1,000: the
   balance and the first and a deep (cursor) page of transactions should cost about the same.
   The SQL the repository sends is captured and EXPLAINed, with the index rows it really read.

The bench database (default houston_bench; its name must contain "bench") is dropped and recreated
on every run unless --reuse is given. Results: a table on stdout and JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pymysql
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url

from adapters.sql.engine import make_engine
from adapters.sql.migrate import upgrade
from adapters.sql.uow import SqlUnitOfWorkFactory
from domain.ledger.errors import InsufficientCredits
from domain.ledger.model import GrantSource
from domain.ledger.services import Ledger
from domain.shared.ids import RandomIds
from domain.shared.pagination import encode_cursor
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.config import load_settings

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
DEFAULT_DATABASE_URL = "mysql+pymysql://root@127.0.0.1:3306/houston_bench"
CLIENTS = 16
FUNDS = 10**9
FEATURE = "api.call"
PAGE = 50
DEEP_SEQ = 100  # the deep page is the PAGE entries before seq 100: the oldest end of the history
HISTORIES = {"1M": 1_000_000, "1k": 1_000}
SEED_CHUNK = 100_000
READ_REPEAT = 200
SCENARIOS = [("charge", False), ("charge", True), ("balance", False), ("balance", True)]

Op = Callable[[], str]  # one request; returns its outcome: "ok", "201", "insufficient", ...
Closer = Callable[[], None]
Layer = Callable[[str, int, bool], tuple[Op, Closer]]  # (operation, client index, hot) -> client
Key = tuple[str, str]  # (history, read)


def nothing() -> None:
    pass


# --- settings and database ------------------------------------------------------------------------
def server_env(url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": url,
        "HOUSTON_ENV": "development",
        "JWT_SECRET": "bench-only-jwt-secret-" + "x" * 40,
        "BCRYPT_ROUNDS": "4",
        "LOG_LEVEL": "WARNING",
        # The ledger's path against a bare endpoint: a load test is exactly what rate limits
        # refuse (429s would be counted as served), and the bare app keeps no metrics either.
        # What limits and metrics cost is bench.overhead's measure.
        "RATELIMIT_ENABLED": "false",
        "METRICS_ENABLED": "false",
    }


def recreate_database(url: str) -> None:
    parsed = make_url(url)
    name = parsed.database or ""
    if "bench" not in name:
        raise SystemExit(f"refusing to drop database {name!r}: a bench database name must contain 'bench'")
    server = create_engine(parsed.set(database=""))
    with server.begin() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        connection.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    server.dispose()


def build_container(url: str, engine: Engine) -> Container:
    return bootstrap(load_settings(server_env(url)), uow=SqlUnitOfWorkFactory(engine))


def fund(ledger: Ledger, account_id: str) -> None:
    ledger.grant(account_id, source=GrantSource.PURCHASE, amount=FUNDS, idempotency_key="bench-funds")


@dataclass
class Accounts:
    distinct: list[str]
    hot: str
    api_keys: dict[str, str] = field(default_factory=dict)  # account id -> API key (HTTP only)

    def pick(self, index: int, hot: bool) -> str:
        return self.hot if hot else self.distinct[index]


def open_accounts(ledger: Ledger, prefix: str, count: int = CLIENTS + 1) -> list[str]:
    ids = [f"{prefix}-{i:02d}" for i in range(count)]
    for account_id in ids:
        ledger.open_account(account_id)
    return ids


def funded(ledger: Ledger, ids: list[str], api_keys: dict[str, str] | None = None) -> Accounts:
    for account_id in ids:
        fund(ledger, account_id)
    return Accounts(distinct=ids[:CLIENTS], hot=ids[CLIENTS], api_keys=api_keys or {})


# --- seeding a long history ------------------------------------------------------------------------
def numbers_sql(width: int) -> str:
    """SELECT n FROM 0 .. 10**width - 1, built from cross-joined digits (MariaDB and MySQL)."""
    digits = "(SELECT 0 AS n UNION ALL " + " UNION ALL ".join(f"SELECT {d}" for d in range(1, 10)) + ")"
    expression = " + ".join(f"{10**i} * d{i}.n" for i in range(width))
    joined = " CROSS JOIN ".join(f"{digits} AS d{i}" for i in range(width))
    return f"SELECT {expression} AS n FROM {joined}"


def seed_sql(chunk: int) -> str:
    width = len(str(chunk)) - 1
    if 10**width != chunk:
        raise ValueError(f"seed chunks are powers of ten, not {chunk}")
    return f"""
        INSERT INTO ledger_entries (id, account_id, seq, kind, amount, balance_after, feature_key,
                                    reference, idempotency_key, grant_id, hold_id, created_at)
        SELECT CONCAT(:tag, LPAD(s.n, 7, '0')), :account, :base_seq + s.n, 'charge', -1,
               :base_balance - s.n, '{FEATURE}', NULL, CONCAT('seed:', s.n), NULL, NULL,
               TIMESTAMPADD(MICROSECOND, s.n, :t0)
        FROM (SELECT q.n + :offset + 1 AS n FROM ({numbers_sql(width)}) AS q) AS s"""


def seed_history(engine: Engine, ledger: Ledger, account_id: str, count: int, tag: str) -> float:
    """Append `count` charges of 1 credit by bulk INSERT ... SELECT, keeping the balance chain,
    last_seq and the grant's remaining coherent (allocations are not seeded). Returns seconds."""
    started = time.perf_counter()
    seeded = ledger.grant(account_id, source=GrantSource.PURCHASE, amount=count, idempotency_key="bench-seed")
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT balance, last_seq FROM ledger_accounts WHERE id = :id"), {"id": account_id}
        ).one()
    chunk = min(count, SEED_CHUNK)
    params = {
        "tag": tag,
        "account": account_id,
        "base_seq": row.last_seq,
        "base_balance": row.balance,
        "t0": datetime.now(UTC).replace(tzinfo=None),
    }
    for offset in range(0, count, chunk):
        with engine.begin() as connection:
            connection.execute(text(seed_sql(chunk)), {**params, "offset": offset})
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE ledger_accounts SET balance = balance - :n, last_seq = last_seq + :n WHERE id = :id"),
            {"n": count, "id": account_id},
        )
        connection.execute(
            text("UPDATE ledger_grants SET remaining = remaining - :n WHERE id = :id"),
            {"n": count, "id": seeded.grant_id},
        )
    return time.perf_counter() - started


# --- HTTP --------------------------------------------------------------------------------------------
class HttpClient:
    """One keep-alive connection. When the server closes it, reconnect and send again: charges
    carry an Idempotency-Key, so a resent request never charges twice."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self._headers = headers or {}

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        payload = None if body is None else json.dumps(body).encode()
        all_headers = {**self._headers, **(headers or {})}
        if payload is not None:
            all_headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            try:
                self._connection.request(method, path, body=payload, headers=all_headers)
                response = self._connection.getresponse()
                data = response.read()
                if response.will_close:
                    self._connection.close()
                return response.status, data
            except (http.client.HTTPException, ConnectionError):
                self._connection.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._connection.close()


PORTS: list[range] = []  # set by `--ports LO-HI` (a machine shared by several benches keeps to its range)


def use_ports(spec: str | None) -> None:
    """`LO-HI`: the servers this bench starts listen only on ports in that range."""
    if spec:
        low, _, high = spec.partition("-")
        PORTS[:] = [range(int(low), int(high or low) + 1)]


def free_port() -> int:
    candidates = list(PORTS[0]) if PORTS else [0]
    for port in candidates:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise SystemExit(f"no free port in {PORTS[0]}")


def http_routes_present() -> bool:
    modules = ("entrypoints.http.identity", "entrypoints.http.ledger")
    return all(importlib.util.find_spec(module) is not None for module in modules)


def wait_until_serving(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> bool:
    """Poll /health while gunicorn boots (a process start, not a thread: nothing to wait on)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            client = HttpClient(port)
            status, _ = client.call("GET", "/health")
            client.close()
            if status == 200:
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


@dataclass
class Server:
    port: int | None  # None: the server did not start
    process: subprocess.Popen[bytes]

    def alive(self) -> bool:
        return self.port is not None and self.process.poll() is None


@contextmanager
def gunicorn(url: str, workers: int, threads: int, log_path: Path) -> Iterator[Server]:
    """Serve wsgi:app on a free loopback port until the block ends."""
    port = free_port()
    binary = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    # gunicorn >= 25 opens a control socket at one per-user default path, shared by every instance
    argv = [
        binary,
        "wsgi:app",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--keep-alive",
        "30",
        "--log-level",
        "info",
        "--no-control-socket",
    ]
    with open(log_path, "wb") as log:
        env = {**os.environ, **server_env(url)}
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=log)
        try:
            yield Server(port if wait_until_serving(port, process) else None, process)
        finally:
            process.terminate()
            process.wait(timeout=30)


def expect(status: int, body: bytes, wanted: int, what: str) -> Any:
    if status != wanted:
        raise RuntimeError(f"{what}: HTTP {status} {body[:300]!r}")
    return json.loads(body)


def register(port: int, email: str) -> tuple[str, str]:
    """A new user through the API, and an API key for it: (user id, key)."""
    client = HttpClient(port)
    try:
        body = {"email": email, "password": "bench-password-1", "name": "Bench"}
        user = expect(*client.call("POST", "/v1/auth/register", body), 201, "register")
        bearer = {"Authorization": f"Bearer {user['access_token']}"}
        key = expect(*client.call("POST", "/v1/api-keys", {"name": "bench"}, bearer), 201, "api key")
        return str(user["user"]["id"]), str(key["key"])
    finally:
        client.close()


def registered(port: int, run: str, label: str, count: int) -> dict[str, str]:
    pairs = [register(port, f"bench-{run}-{label}-{i}@example.com") for i in range(count)]
    return dict(pairs)


# --- the three layers ---------------------------------------------------------------------------------
def new_key() -> str:
    return uuid.uuid4().hex


def service_layer(ledger: Ledger, accounts: Accounts) -> Layer:
    def charge(account_id: str) -> str:
        try:
            ledger.charge(account_id, feature_key=FEATURE, idempotency_key=new_key())
            return "ok"
        except InsufficientCredits:
            return "insufficient"

    def balance(account_id: str) -> str:
        ledger.balance(account_id)
        return "ok"

    def client(operation: str, index: int, hot: bool) -> tuple[Op, Closer]:
        account_id = accounts.pick(index, hot)
        call = charge if operation == "charge" else balance
        return (lambda: call(account_id)), nothing

    return client


def http_layer(port: int, accounts: Accounts) -> Layer:
    charge_body = {"feature_key": FEATURE}

    def client(operation: str, index: int, hot: bool) -> tuple[Op, Closer]:
        connection = HttpClient(port, {"X-API-Key": accounts.api_keys[accounts.pick(index, hot)]})
        if operation == "charge":

            def op() -> str:
                headers = {"Idempotency-Key": new_key()}
                return str(connection.call("POST", "/v1/credits/charges", charge_body, headers)[0])
        else:

            def op() -> str:
                return str(connection.call("GET", "/v1/credits/balance")[0])

        return op, connection.close

    return client


INSERT_ENTRY = """
    INSERT INTO ledger_entries (id, account_id, seq, kind, amount, balance_after, feature_key, reference,
                                idempotency_key, grant_id, hold_id, created_at)
    VALUES (%s, %s, %s, 'charge', -1, %s, %s, NULL, %s, NULL, NULL, %s)"""


class BareSql:
    """The guarded charge as bare SQL on one pymysql connection (READ COMMITTED, like the engine)."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self._connection = pymysql.connect(
            host=parsed.host or "127.0.0.1",
            port=parsed.port or 3306,
            user=parsed.username or "root",
            password=parsed.password or "",
            database=parsed.database,
            charset="utf8mb4",
            autocommit=False,
        )
        with self._connection.cursor() as cursor:
            cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        self._ids = RandomIds()

    def charge(self, account_id: str) -> str:
        try:
            with self._connection.cursor() as cursor:
                outcome = self._guarded_charge(cursor, account_id)
            self._connection.commit()
            return outcome
        except pymysql.MySQLError:
            self._connection.rollback()
            raise

    def _guarded_charge(self, cursor: Any, account_id: str) -> str:
        cursor.execute("SELECT balance, held, last_seq FROM ledger_accounts WHERE id = %s FOR UPDATE", (account_id,))
        balance, held, last_seq = cursor.fetchone()
        if balance - held < 1:
            return "insufficient"
        cursor.execute("SELECT id FROM ledger_grants WHERE account_id = %s AND remaining > 0 LIMIT 1", (account_id,))
        (grant_id,) = cursor.fetchone()
        now = datetime.now(UTC).replace(tzinfo=None)
        entry = (self._ids.new_id("txn"), account_id, last_seq + 1, balance - 1, FEATURE, new_key(), now)
        cursor.execute(INSERT_ENTRY, entry)
        cursor.execute("UPDATE ledger_grants SET remaining = remaining - 1 WHERE id = %s", (grant_id,))
        cursor.execute(
            "UPDATE ledger_accounts SET balance = %s, last_seq = %s WHERE id = %s",
            (balance - 1, last_seq + 1, account_id),
        )
        return "ok"

    def balance(self, account_id: str) -> str:
        with self._connection.cursor() as cursor:
            cursor.execute("SELECT balance, held FROM ledger_accounts WHERE id = %s", (account_id,))
            cursor.fetchone()
        self._connection.commit()
        return "ok"

    def close(self) -> None:
        self._connection.close()


def baseline_layer(url: str, accounts: Accounts) -> Layer:
    def client(operation: str, index: int, hot: bool) -> tuple[Op, Closer]:
        bare, account_id = BareSql(url), accounts.pick(index, hot)
        call = bare.charge if operation == "charge" else bare.balance
        return (lambda: call(account_id)), bare.close

    return client


# --- load and latency ------------------------------------------------------------------------------
@dataclass
class LoadResult:
    layer: str
    operation: str
    accounts: str
    clients: int
    seconds: float
    requests: int
    outcomes: dict[str, int]
    rps: float
    p50_ms: float
    p99_ms: float
    vs_baseline: float | None = None


def percentile_ms(samples: list[float], pct: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))] * 1000


def timed_loop(op: Op, deadline: float, latencies: list[float], outcomes: Counter[str]) -> None:
    while (started := time.perf_counter()) < deadline:
        try:
            outcome = op()
        except Exception as error:  # a benchmark counts failures; it does not stop on them
            outcome = f"error:{type(error).__name__}"
        latencies.append(time.perf_counter() - started)
        outcomes[outcome] += 1


def run_load(layer_name: str, layer: Layer, operation: str, hot: bool, seconds: float) -> LoadResult:
    """CLIENTS threads, each with its own client, released together by a barrier for `seconds`."""
    barrier = threading.Barrier(CLIENTS + 1)
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    outcomes: list[Counter[str]] = [Counter() for _ in range(CLIENTS)]
    window: list[float] = []

    def worker(index: int) -> None:
        op, close = layer(operation, index, hot)
        try:
            barrier.wait()
            timed_loop(op, window[0], latencies[index], outcomes[index])
        finally:
            close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    window.append(time.perf_counter() + seconds)  # published before the barrier releases the workers
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    samples = [s for per_client in latencies for s in per_client]
    total: Counter[str] = sum(outcomes, Counter())
    return LoadResult(
        layer=layer_name,
        operation=operation,
        accounts="hot" if hot else "distinct",
        clients=CLIENTS,
        seconds=round(elapsed, 2),
        requests=len(samples),
        outcomes=dict(total),
        rps=round(len(samples) / elapsed, 1),
        p50_ms=round(percentile_ms(samples, 50), 2),
        p99_ms=round(percentile_ms(samples, 99), 2),
    )


def throughput(layers: dict[str, Layer], seconds: float) -> list[LoadResult]:
    results = []
    for name, layer in layers.items():
        for operation, hot in SCENARIOS:
            result = run_load(name, layer, operation, hot, seconds)
            line = f"  {name:8} {operation:7} {result.accounts:8} {result.rps:8.1f} req/s  {result.outcomes}"
            print(line, flush=True)
            results.append(result)
    baseline = {(r.operation, r.accounts): r.rps for r in results if r.layer == "baseline"}
    for result in results:
        floor = baseline.get((result.operation, result.accounts))
        result.vs_baseline = round(result.rps / floor, 3) if floor else None
    return results


# --- read cost against history size -------------------------------------------------------------------
DEEP_CURSOR = encode_cursor({"seq": DEEP_SEQ})  # the cursor the API gives for a page ending at seq 100
READ_QUERIES: dict[str, dict[str, str]] = {  # pages of PAGE entries
    "first page": {},
    "deep page": {"cursor": DEEP_CURSOR},
    "first page kind=charge": {"kind": "charge"},
    "deep page kind=charge": {"cursor": DEEP_CURSOR, "kind": "charge"},
    "page of a rare kind": {"kind": "purchase"},  # 1 entry among 1,000,000: the kind index, no scan
}
READS = ["balance", *READ_QUERIES]


def service_read(ledger: Ledger, account_id: str, read: str) -> Op:
    if read == "balance":
        return lambda: str(ledger.balance(account_id).balance)
    query = READ_QUERIES[read]
    return lambda: str(len(ledger.transactions(account_id, limit=PAGE, **query).items))


def http_read(client: HttpClient, read: str) -> Op:
    path = "/v1/credits/balance"
    if read != "balance":
        path = "/v1/credits/transactions?" + urlencode({"limit": PAGE, **READ_QUERIES[read]})

    def op() -> str:
        status, body = client.call("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path}: HTTP {status} {body[:200]!r}")
        return str(status)

    return op


@dataclass
class ReadCost:
    layer: str
    history: str
    read: str
    p50_ms: float
    p99_ms: float


def measure_side_by_side(ops: dict[Key, Op], repeat: int = READ_REPEAT) -> dict[Key, list[float]]:
    """Time every op `repeat` times, round-robin (forwards, then backwards), so drift in the
    machine's load (InnoDB flushing after the seeding and the load, say) weighs on all alike."""
    keys = list(ops)
    for key in keys * (repeat // 10):  # warm the buffer pool and the connections
        ops[key]()
    samples: dict[Key, list[float]] = {key: [] for key in keys}
    for round_ in range(repeat):
        for key in keys if round_ % 2 else reversed(keys):
            started = time.perf_counter()
            ops[key]()
            samples[key].append(time.perf_counter() - started)
    return samples


def read_costs(ledger: Ledger, deep: Accounts, port: int | None) -> list[ReadCost]:
    histories = dict(zip(HISTORIES, deep.distinct, strict=True))
    makers: dict[str, Callable[[str, str], Op]] = {"service": lambda a, read: service_read(ledger, a, read)}
    clients = {a: HttpClient(port, {"X-API-Key": deep.api_keys[a]}) for a in deep.distinct} if port else {}
    if clients:
        makers["http"] = lambda a, read: http_read(clients[a], read)
    costs = []
    for layer, make in makers.items():
        ops = {(history, read): make(account, read) for read in READS for history, account in histories.items()}
        samples = measure_side_by_side(ops)
        costs += [
            ReadCost(layer, h, read, round(percentile_ms(s, 50), 3), round(percentile_ms(s, 99), 3))
            for (h, read), s in samples.items()
        ]
    for client in clients.values():
        client.close()
    return costs


def read_ratios(costs: list[ReadCost]) -> list[dict[str, Any]]:
    """p50 of the 1M-entry account over the 1k one, and the deep page over the first page."""
    p50 = {(c.layer, c.history, c.read): c.p50_ms for c in costs}
    ratios = []
    for layer, history, read in p50:
        if history != "1M":
            continue
        row: dict[str, Any] = {"layer": layer, "read": read}
        row["1M_over_1k"] = round(p50[layer, "1M", read] / p50[layer, "1k", read], 2)
        if read.startswith("deep"):
            first = read.replace("deep", "first")
            row["deep_over_first_1M"] = round(p50[layer, "1M", read] / p50[layer, "1M", first], 2)
        ratios.append(row)
    return ratios


def explain_reads(engine: Engine, ledger: Ledger, account_id: str) -> list[dict[str, Any]]:
    """EXPLAIN each ledger_entries query the repository sends for the reads above, and count the
    index rows it really touched (Handler_read_* before and after)."""
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM ledger_entries" in statement:
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        for read in READS[1:]:
            service_read(ledger, account_id, read)()
        ledger.usage(account_id, datetime.now(UTC).strftime("%Y-%m"))
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    with engine.connect() as connection:
        return [explain_one(connection, statement, parameters) for statement, parameters in captured]


def explain_one(connection: Any, statement: str, parameters: Any) -> dict[str, Any]:
    plan = connection.exec_driver_sql("EXPLAIN " + statement, parameters).mappings().first()
    before = handler_reads(connection)
    connection.exec_driver_sql(statement, parameters).all()
    touched = handler_reads(connection) - before
    return {
        "sql": " ".join(statement.split())[-160:],
        "type": plan["type"],
        "key": plan["key"],
        "rows_estimate": plan["rows"],
        "index_rows_read": touched,
    }


def handler_reads(connection: Any) -> int:
    rows = connection.exec_driver_sql("SHOW SESSION STATUS LIKE 'Handler_read%%'").all()
    counted = ("Handler_read_key", "Handler_read_next", "Handler_read_prev")
    return sum(int(value) for name, value in rows if name in counted)


# --- report -------------------------------------------------------------------------------------------
def print_throughput(results: list[LoadResult]) -> None:
    print(
        f"\n{'layer':9}{'operation':10}{'accounts':10}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'vs base':>9}  outcomes"
    )
    for r in results:
        ratio = f"{r.vs_baseline:.2f}" if r.vs_baseline is not None else "-"
        print(
            f"{r.layer:9}{r.operation:10}{r.accounts:10}{r.requests:9}{r.rps:9.1f}"
            f"{r.p50_ms:9.2f}{r.p99_ms:9.2f}{ratio:>9}  {r.outcomes}"
        )


def print_reads(costs: list[ReadCost], ratios: list[dict[str, Any]], explain: list[dict[str, Any]]) -> None:
    print(f"\n{'layer':9}{'history':9}{'read':24}{'p50 ms':>9}{'p99 ms':>9}")
    for c in costs:
        print(f"{c.layer:9}{c.history:9}{c.read:24}{c.p50_ms:9.3f}{c.p99_ms:9.3f}")
    print(f"\n{'layer':9}{'read':24}{'1M/1k':>8}{'deep/first (1M)':>17}")
    for r in ratios:
        print(f"{r['layer']:9}{r['read']:24}{r['1M_over_1k']:8.2f}{r.get('deep_over_first_1M', ''):>17}")
    print("\nEXPLAIN on the 1M-entry account (index rows read = Handler_read_key+next+prev):")
    for e in explain:
        print(
            f"  {e['type']:6} {str(e['key'])[:50]:50} est {e['rows_estimate']:>8}"
            f"  read {e['index_rows_read']:>7}  ...{e['sql'][-70:]}"
        )


def save(report: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"ledger-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    return path


# --- the run ------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ledger", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--seconds", type=float, default=15, help="per throughput scenario (12 scenarios)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--reuse", action="store_true", help="keep the bench database instead of recreating it")
    return parser.parse_args(argv)


@dataclass
class Setup:
    url: str
    run: str
    engine: Engine
    container: Container
    server: Server

    @property
    def ledger(self) -> Ledger:
        return self.container.ledger

    @property
    def port(self) -> int | None:
        """The HTTP server's port, or None when there is no live server to measure."""
        return self.server.port if self.server.alive() else None


@dataclass
class Results:
    seed_seconds: dict[str, float]
    throughput: list[LoadResult]
    reads: list[ReadCost]
    read_ratios: list[dict[str, Any]]
    explain: list[dict[str, Any]]
    hot_account_invariant_violations: dict[str, list[str]]


def make_accounts(setup: Setup) -> dict[str, Accounts]:
    accounts = {
        "baseline": funded(setup.ledger, open_accounts(setup.ledger, f"bench-{setup.run}-base")),
        "service": funded(setup.ledger, open_accounts(setup.ledger, f"bench-{setup.run}-svc")),
    }
    if setup.port is not None:
        keys = registered(setup.port, setup.run, "load", CLIENTS + 1)
        accounts["http"] = funded(setup.ledger, list(keys), keys)
    return accounts


def make_layers(setup: Setup, accounts: dict[str, Accounts]) -> dict[str, Layer]:
    layers = {
        "baseline": baseline_layer(setup.url, accounts["baseline"]),
        "service": service_layer(setup.ledger, accounts["service"]),
    }
    if setup.port is not None:
        layers["http"] = http_layer(setup.port, accounts["http"])
    return layers


def deep_accounts(setup: Setup) -> tuple[Accounts, dict[str, float]]:
    """One account per HISTORIES size (users with API keys when HTTP runs), seeded in bulk."""
    if setup.port is not None:
        keys = registered(setup.port, setup.run, "deep", len(HISTORIES))
        ids = list(keys)
    else:
        keys, ids = {}, open_accounts(setup.ledger, f"bench-{setup.run}-deep", len(HISTORIES))
    seconds = {}
    for index, (label, count) in enumerate(HISTORIES.items()):
        tag = f"sd{setup.run}{index}_"
        seconds[label] = round(seed_history(setup.engine, setup.ledger, ids[index], count, tag), 1)
        print(f"  seeded {count:>9,} entries in {seconds[label]:6.1f} s", flush=True)
    return Accounts(distinct=ids, hot=ids[0], api_keys=keys), seconds


def measure_all(setup: Setup, seconds: float) -> Results:
    print("seeding long histories", flush=True)
    deep, seed_seconds = deep_accounts(setup)
    accounts = make_accounts(setup)
    print(f"throughput: {CLIENTS} clients, {seconds:g} s per scenario", flush=True)
    results = throughput(make_layers(setup, accounts), seconds)
    print("read cost against history size", flush=True)
    costs = read_costs(setup.ledger, deep, setup.port)
    checked = [name for name in ("service", "http") if name in accounts]
    return Results(
        seed_seconds=seed_seconds,
        throughput=results,
        reads=costs,
        read_ratios=read_ratios(costs),
        explain=explain_reads(setup.engine, setup.ledger, deep.distinct[0]),
        hot_account_invariant_violations={n: setup.ledger.check_invariants(accounts[n].hot) for n in checked},
    )


def http_notes(server: Server) -> list[str]:
    if server.port is None:
        why = "the server did not start (see its log)" if http_routes_present() else "routes are missing"
        return [f"HTTP skipped: {why}"]
    if not server.alive():
        return [f"the HTTP server exited during the run (code {server.process.returncode}, see its log)"]
    return []


def describe(args: argparse.Namespace, setup: Setup) -> dict[str, Any]:
    return {
        "run": setup.run,
        "database_url": setup.url,
        "clients": CLIENTS,
        "seconds_per_scenario": args.seconds,
        "gunicorn": {"workers": args.workers, "threads": args.threads, "worker_class": "gthread"},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "server": server_version(setup.engine),
        },
        "notes": http_notes(setup.server),
    }


def server_version(engine: Engine) -> str:
    with engine.connect() as connection:
        return str(connection.exec_driver_sql("SELECT VERSION()").scalar_one())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started, run = time.perf_counter(), uuid.uuid4().hex[:8]
    if not args.reuse:
        recreate_database(args.database_url)
    upgrade(args.database_url)
    engine = make_engine(args.database_url, pool_size=CLIENTS + 4, max_overflow=CLIENTS)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    log_path = RESULTS_DIR / f"gunicorn-{run}.log"
    with gunicorn(args.database_url, args.workers, args.threads, log_path) as server:
        setup = Setup(args.database_url, run, engine, build_container(args.database_url, engine), server)
        results = measure_all(setup, args.seconds)
        description = describe(args, setup)
    elapsed = round(time.perf_counter() - started, 1)
    report = {**description, **asdict(results), "total_seconds": elapsed}
    print_throughput(results.throughput)
    print_reads(results.reads, results.read_ratios, results.explain)
    print(f"\ninvariant violations on the hot accounts: {results.hot_account_invariant_violations}")
    for note in report["notes"]:
        print(f"NOTE: {note}")
    print(f"\nsaved {save(report)} after {report['total_seconds']} s")
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
