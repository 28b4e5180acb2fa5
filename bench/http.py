"""`make bench`: the ledger's hot path over HTTP against a bare Flask + SQL endpoint (issue 11).

Both apps run under the same gunicorn (sync workers), on the same MariaDB, with the same engine
settings, and are loaded by the same `wrk` (2 threads, 16 connections, N seconds), in interleaved
rounds (bare, project, bare, project, ...) so that both see the same background load.

Scenarios (project route  vs  bare route):
- charge, 8 accounts:  POST /v1/credits/charges (Bearer, unique Idempotency-Key)  vs  POST /charge
- charge, 1 hot account: the same on one account
- balance, 8 accounts: GET /v1/credits/balance (Bearer)  vs  GET /balance (no auth, one row)

Per run it reads MariaDB's global `Questions` counter and the CPU time of gunicorn (master and
workers) and of mariadbd from /proc. The server is shared, so the Questions delta of an idle
window of the same length just before the run is subtracted (both figures are printed).
Then, in-process (Flask test client, one thread), it counts the exact COM_QUERY packets each
request sends (what `Questions` counts) and the Python CPU per request, and times
GET /v1/credits/usage on an account with 1,000,000 entries in the month against one with 1,000.

The bench database (default houston_bench_http; its name must contain "bench") is dropped and
recreated. Results: a table on stdout and JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, text

from bench.bare import seed as seed_bare
from bench.ledger import expect, free_port, recreate_database, seed_sql, server_env, use_ports, wait_until_serving

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/houston_bench_http"
FEATURE = "api.call"
FUNDS = 10**9
ACCOUNTS = 8
TICK = os.sysconf("SC_CLK_TCK")

LUA = r"""
local tokens = {%(tokens)s}
local method, path, body, header = "%(method)s", "%(path)s", %(body)s, "%(header)s"
local counter, tid = 0, 0
local threads = {}
function setup(thread)
  tid = tid + 1
  thread:set("tid", tid)
  table.insert(threads, thread)
end
function init(args)
  tid = wrk.thread:get("tid")
end
function request()
  counter = counter + 1
  local headers = {}
  headers[header] = tokens[(counter %% #tokens) + 1]
  if method == "POST" then
    headers["Content-Type"] = "application/json"
    headers["Idempotency-Key"] = "%(tag)s-" .. tid .. "-" .. counter
  end
  return wrk.format(method, path, headers, body)
end
function done(summary, latency, requests)
  local non2xx = summary.errors.status
  local socket = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format('WRKJSON {"requests": %%d, "duration_us": %%d, "non2xx": %%d, "socket_errors": %%d, "p50_us": %%d, "p99_us": %%d}\n',
    summary.requests, summary.duration, non2xx, socket, latency:percentile(50), latency:percentile(99)))
end
"""


# --- processes and counters ------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of `pid` and its children (gunicorn's master and workers)."""
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    return {p: cpu_seconds(p) for p in pids}


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(after[p] - before.get(p, 0.0) for p in after)


def mariadb_pid() -> int | None:
    out = subprocess.run(["pgrep", "-x", "mariadbd"], capture_output=True, text=True).stdout.split()
    if not out:
        out = subprocess.run(["pgrep", "-x", "mysqld"], capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else None


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts)


class Questions:
    def __init__(self, url: str) -> None:
        self._engine = create_engine(url, pool_size=1)

    def read(self) -> int:
        with self._engine.connect() as connection:
            row = connection.execute(text("SHOW GLOBAL STATUS LIKE 'Questions'")).one()
        return int(row[1])

    def close(self) -> None:
        self._engine.dispose()


# --- servers ----------------------------------------------------------------------------------------
@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]


@contextmanager
def gunicorn(name: str, app: str, env: dict[str, str], workers: int, log_dir: Path) -> Iterator[Server]:
    port = free_port()
    binary = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    argv = [
        binary,
        app,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--log-level",
        "warning",
        "--no-control-socket",
    ]
    with open(log_dir / f"{name}.log", "wb") as log:
        process = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=log)
        try:
            if not wait_until_serving(port, process):
                raise SystemExit(f"{name}: gunicorn did not start; see {log_dir / f'{name}.log'}")
            yield Server(name, port, process)
        finally:
            process.terminate()
            process.wait(timeout=30)


# --- wrk --------------------------------------------------------------------------------------------
@dataclass
class Run:
    side: str
    scenario: str
    round: int
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non2xx: int
    socket_errors: int
    questions_per_request: float
    questions_raw_per_request: float
    gunicorn_cpu_ms: float
    mariadb_cpu_ms: float
    machine_busy: float  # share of both cores busy during the run (everything, other helpers too)


@dataclass
class Scenario:
    name: str
    method: str
    project_path: str
    bare_path: str
    hot: bool


SCENARIOS = [
    Scenario("charge, 8 accounts", "POST", "/v1/credits/charges", "/charge", False),
    Scenario("charge, 1 hot account", "POST", "/v1/credits/charges", "/charge", True),
    Scenario("balance, 8 accounts", "GET", "/v1/credits/balance", "/balance", False),
]


def lua_script(tokens: list[str], method: str, path: str, header: str, body: str | None) -> str:
    quoted = ", ".join(json.dumps(t) for t in tokens)
    return LUA % {
        "tokens": quoted,
        "method": method,
        "path": path,
        "header": header,
        "body": json.dumps(body) if body is not None else "nil",
        "tag": uuid.uuid4().hex[:12],
    }


def wrk(port: int, script: str, seconds: int, threads: int, connections: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        argv = [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--timeout",
            "10s",
            "-s",
            handle.name,
            f"http://127.0.0.1:{port}",
        ]
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(handle.name)
    line = next(line for line in out.splitlines() if line.startswith("WRKJSON "))
    return dict(json.loads(line.removeprefix("WRKJSON ")))


@dataclass
class Load:
    seconds: int
    threads: int
    connections: int
    questions: Questions
    db_pid: int | None
    runs: list[Run] = field(default_factory=list)

    def measure(self, side: str, scenario: str, rnd: int, server: Server, script: str) -> Run:
        idle_before = self.questions.read()
        time.sleep(2)
        idle_rate = (self.questions.read() - idle_before) / 2  # other helpers' statements per second
        q0, g0 = self.questions.read(), tree_cpu(server.process.pid)
        d0 = cpu_seconds(self.db_pid) if self.db_pid else 0.0
        b0 = machine_busy()
        result = wrk(server.port, script, self.seconds, self.threads, self.connections)
        q1, g1 = self.questions.read(), tree_cpu(server.process.pid)
        d1 = cpu_seconds(self.db_pid) if self.db_pid else 0.0
        b1 = machine_busy()
        n = max(1, int(result["requests"]))
        seconds = result["duration_us"] / 1e6
        raw = (q1 - q0) / n
        run = Run(
            side=side,
            scenario=scenario,
            round=rnd,
            rps=(n - int(result["non2xx"])) / seconds,  # served, not refused
            p50_ms=result["p50_us"] / 1000,
            p99_ms=result["p99_us"] / 1000,
            requests=n,
            non2xx=int(result["non2xx"]),
            socket_errors=int(result["socket_errors"]),
            questions_per_request=max(0.0, (q1 - q0 - idle_rate * seconds) / n),
            questions_raw_per_request=raw,
            gunicorn_cpu_ms=cpu_delta(g0, g1) * 1000 / n,
            mariadb_cpu_ms=(d1 - d0) * 1000 / n,
            machine_busy=(b1[0] - b0[0]) / max(1, b1[1] - b0[1]),
        )
        self.runs.append(run)
        print(
            f"  round {rnd} {side:7s} {scenario:22s} {run.rps:7.0f} req/s  p99 {run.p99_ms:6.1f} ms  "
            f"non-2xx {run.non2xx}  busy {run.machine_busy:.0%}",
            flush=True,
        )
        return run


# --- in-process figures -----------------------------------------------------------------------------
@contextmanager
def counting_queries() -> Iterator[list[int]]:
    """Count the round trips pymysql makes: every command packet it sends and waits on (statements,
    COMMIT and ROLLBACK, which MariaDB's Questions counts, and pings, which it does not). A batch of
    several statements in one COM_QUERY is one round trip."""
    import pymysql.connections
    from pymysql.constants import COMMAND

    original = pymysql.connections.Connection._execute_command
    count = [0]

    def counted(self: Any, command: int, sql: Any) -> Any:
        if command in (COMMAND.COM_QUERY, COMMAND.COM_STMT_EXECUTE, COMMAND.COM_PING):
            count[0] += 1
        return original(self, command, sql)

    pymysql.connections.Connection._execute_command = counted
    try:
        yield count
    finally:
        pymysql.connections.Connection._execute_command = original


def in_process(url: str, tokens: list[str], repeat: int) -> dict[str, dict[str, float]]:
    from entrypoints.bootstrap import bootstrap
    from entrypoints.config import load_settings
    from entrypoints.http.app import create_app

    app = create_app(bootstrap(load_settings(server_env(url))))
    client = app.test_client()
    auth = {"Authorization": f"Bearer {tokens[0]}"}
    calls: dict[str, Callable[[int], Any]] = {
        "charge": lambda i: client.post(
            "/v1/credits/charges",
            json={"feature_key": FEATURE},
            headers={**auth, "Idempotency-Key": f"inproc-{uuid.uuid4().hex}"},
        ),
        "balance": lambda i: client.get("/v1/credits/balance", headers=auth),
        "usage": lambda i: client.get("/v1/credits/usage", headers=auth),
        "health": lambda i: client.get("/health"),
    }
    figures: dict[str, dict[str, float]] = {}
    for name, call in calls.items():
        for i in range(20):  # warm up: compiled statement caches, pool
            call(i)
        with counting_queries() as count:
            started = time.process_time()
            for i in range(repeat):
                response = call(i)
                if response.status_code >= 300:
                    raise SystemExit(f"in-process {name}: HTTP {response.status_code} {response.data[:200]!r}")
            cpu = time.process_time() - started
        figures[name] = {"statements": count[0] / repeat, "cpu_ms": cpu * 1000 / repeat}
    app.extensions["houston"].resources.engine.dispose()
    figures.update(bare_in_process(url, repeat))
    return figures


def bare_in_process(url: str, repeat: int) -> dict[str, dict[str, float]]:
    """The bare endpoints' round trips and CPU per request, counted like the project's."""
    from bench.bare import create_app as create_bare

    client = create_bare(url).test_client()
    calls: dict[str, Callable[[], Any]] = {
        "bare charge": lambda: client.post(
            "/charge", headers={"X-Account": "bare-0", "Idempotency-Key": uuid.uuid4().hex}
        ),
        "bare balance": lambda: client.get("/balance", headers={"X-Account": "bare-0"}),
    }
    figures: dict[str, dict[str, float]] = {}
    for name, call in calls.items():
        for _ in range(20):
            call()
        with counting_queries() as count:
            started = time.process_time()
            for _ in range(repeat):
                call()
            cpu = time.process_time() - started
        figures[name] = {"statements": count[0] / repeat, "cpu_ms": cpu * 1000 / repeat}
    return figures


def usage_at_scale(url: str, tokens: dict[str, str], sizes: dict[str, int], repeat: int) -> dict[str, float]:
    """Median ms of GET /v1/credits/usage (this month) for accounts with `sizes` charge entries this month."""
    from entrypoints.bootstrap import bootstrap
    from entrypoints.config import load_settings
    from entrypoints.http.app import create_app

    container = bootstrap(load_settings(server_env(url)))
    engine = container.resources.engine
    assert engine is not None, "the bench runs on SQL storage"
    app = create_app(container)
    client = app.test_client()
    users = {label: container.identity.authenticate_access_token(tokens[label]).user_id for label in sizes}
    for label, count in sizes.items():
        seed_charges(engine, users[label], count, tag=f"u{label}-")
    time.sleep(5)  # let the server settle after the bulk insert before timing anything
    samples: dict[str, list[float]] = {label: [] for label in sizes}
    for _ in range(repeat):  # interleaved, so both sizes see the same load
        for label, count in sizes.items():
            started = time.perf_counter()
            response = client.get("/v1/credits/usage", headers={"Authorization": f"Bearer {tokens[label]}"})
            samples[label].append((time.perf_counter() - started) * 1000)
            body = response.get_json()
            if body["by_feature"].get(FEATURE, 0) < count:
                raise SystemExit(f"usage of {label}: {body} misses the {count} seeded charges")
    timings = {label: statistics.median(values) for label, values in samples.items()}
    engine.dispose()
    return timings


def seed_charges(engine: Any, account_id: str, count: int, tag: str) -> None:
    """`count` charges of 1 credit this month by bulk INSERT ... SELECT, and the rollup kept in step
    when the schema has one. Bench data only: the balance chain and grants are not kept coherent."""
    chunk = 10 ** min(5, len(str(count)) - 1)
    with engine.begin() as connection:
        row = connection.execute(
            text("SELECT balance, last_seq FROM ledger_accounts WHERE id = :id FOR UPDATE"), {"id": account_id}
        ).one()
        now = datetime.now(UTC).replace(tzinfo=None)
        params = {
            "tag": tag,
            "account": account_id,
            "base_seq": row.last_seq,
            "t0": now,
            "base_balance": row.balance + count,
        }
        for offset in range(0, count, chunk):
            connection.execute(text(seed_sql(chunk)), {**params, "offset": offset})
        connection.execute(
            text("UPDATE ledger_accounts SET last_seq = last_seq + :n WHERE id = :id"), {"n": count, "id": account_id}
        )
        if "ledger_usage" in inspect(connection).get_table_names():
            connection.execute(
                text(
                    "INSERT INTO ledger_usage (account_id, month, feature_key, spent) VALUES (:a, :m, :f, :n) "
                    "ON DUPLICATE KEY UPDATE spent = spent + VALUES(spent)"
                ),
                {"a": account_id, "m": now.strftime("%Y-%m"), "f": FEATURE, "n": count},
            )


# --- report -----------------------------------------------------------------------------------------
def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def summarise(runs: list[Run], rounds: int) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for scenario in SCENARIOS:
        pairs = [
            (
                next(r for r in runs if r.side == "bare" and r.scenario == scenario.name and r.round == i),
                next(r for r in runs if r.side == "project" and r.scenario == scenario.name and r.round == i),
            )
            for i in range(1, rounds + 1)
        ]
        table[scenario.name] = {
            side: {
                "rps": statistics.median(p[k].rps for p in pairs),
                "p99_ms": statistics.median(p[k].p99_ms for p in pairs),
                "questions": statistics.median(p[k].questions_per_request for p in pairs),
                "questions_raw": statistics.median(p[k].questions_raw_per_request for p in pairs),
                "gunicorn_cpu_ms": statistics.median(p[k].gunicorn_cpu_ms for p in pairs),
                "mariadb_cpu_ms": statistics.median(p[k].mariadb_cpu_ms for p in pairs),
                "non2xx": sum(p[k].non2xx for p in pairs),
            }
            for k, side in ((0, "bare"), (1, "project"))
        }
        table[scenario.name]["rps_ratio"] = [p[1].rps / p[0].rps for p in pairs]
        table[scenario.name]["p99_ratio"] = [p[1].p99_ms / p[0].p99_ms for p in pairs]
    return table


def print_table(table: dict[str, Any], runs: list[Run], figures: dict[str, dict[str, float]]) -> None:
    print()
    print(
        f"{'scenario':24s} {'side':8s} {'req/s':>7s} {'p99 ms':>7s} {'stmts/req':>10s} {'(raw)':>6s} "
        f"{'gunicorn CPU ms/req':>20s} {'MariaDB CPU ms/req':>19s}"
    )
    for name, row in table.items():
        for side in ("bare", "project"):
            s = row[side]
            print(
                f"{name:24s} {side:8s} {s['rps']:7.0f} {s['p99_ms']:7.1f} {s['questions']:10.1f} "
                f"{s['questions_raw']:6.1f} {s['gunicorn_cpu_ms']:20.2f} {s['mariadb_cpu_ms']:19.2f}"
            )
        operation = name.split(",")[0]
        trips = ""
        if operation in figures and f"bare {operation}" in figures:
            trips = (
                f"   round trips/request {figures[operation]['statements']:.1f}"
                f" (bare {figures['bare ' + operation]['statements']:.1f})"
            )
        print(f"{'':24s} ratio    req/s {spread(row['rps_ratio'])}   p99 {spread(row['p99_ratio'])}{trips}")
    hot = table["charge, 1 hot account"]["project"]["rps"]
    eight = table["charge, 8 accounts"]["project"]["rps"]
    print(
        f"one hot account / 8 accounts (project): {hot / eight:.2f}   "
        f"(bare: {table['charge, 1 hot account']['bare']['rps'] / table['charge, 8 accounts']['bare']['rps']:.2f})"
    )
    busy = [r.machine_busy for r in runs]
    print(
        f"machine busy during runs (both cores, all processes): {spread(busy)}; load average now "
        f"{Path('/proc/loadavg').read_text().split()[:3]}"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--repeat", type=int, default=200, help="in-process requests per figure")
    parser.add_argument("--usage-entries", type=int, default=1_000_000, help="0 skips the usage-at-scale figure")
    parser.add_argument("--only", choices=["load", "inproc", "usage"], action="append")
    parser.add_argument("--ports", help="LO-HI: start servers only on ports in this range")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    use_ports(args.ports)
    if shutil.which("wrk") is None:
        print("wrk is not installed: `apt-get install wrk` (Debian/Ubuntu package 'wrk').", file=sys.stderr)
        return 2
    only = set(args.only or ["load", "inproc", "usage"])
    url = args.url
    recreate_database(url)
    from adapters.sql.migrate import upgrade

    upgrade(url)
    bare_accounts = [f"bare-{i}" for i in range(ACCOUNTS + 1)]
    seed_bare(url, bare_accounts, FUNDS)
    env = {**server_env(url), "ACCESS_TOKEN_TTL_SECONDS": "86400", "BARE_DATABASE_URL": url}
    log_dir = Path(tempfile.mkdtemp(prefix="houston-bench-"))
    report: dict[str, Any] = {"url": url, "args": vars(args), "started": datetime.now(UTC).isoformat()}
    with (
        gunicorn("project", "wsgi:app", env, args.workers, log_dir) as project,
        gunicorn("bare", "bench.bare:app", env, args.workers, log_dir) as bare,
    ):
        tokens = register_users(project.port, ACCOUNTS + 3)
        fund_accounts(url, env, tokens)
        if "load" in only:
            load = Load(args.seconds, args.threads, args.connections, Questions(url), mariadb_pid())
            for rnd in range(1, args.rounds + 1):
                for scenario in SCENARIOS:
                    count = 1 if scenario.hot else ACCOUNTS
                    body = json.dumps({"feature_key": FEATURE}) if scenario.method == "POST" else None
                    bare_script = lua_script(
                        bare_accounts[:count], scenario.method, scenario.bare_path, "X-Account", None
                    )
                    bearer = [f"Bearer {t}" for t in tokens[:count]]
                    project_script = lua_script(bearer, scenario.method, scenario.project_path, "Authorization", body)
                    load.measure("bare", scenario.name, rnd, bare, bare_script)
                    load.measure("project", scenario.name, rnd, project, project_script)
            load.questions.close()
    figures: dict[str, dict[str, float]] = {}
    if "inproc" in only:
        figures = in_process(url, tokens[ACCOUNTS:], args.repeat)
        report["in_process"] = figures
    if "load" in only:
        table = summarise(load.runs, args.rounds)
        report["runs"] = [vars(r) for r in load.runs]
        report["table"] = table
        print_table(table, load.runs, figures)
    if figures:
        print(
            "\nin-process (Flask test client, one thread): round trips to the database (statements, COMMIT,"
            " ROLLBACK, pings) and Python CPU per request"
        )
        for name, f in figures.items():
            print(f"  {name:13s} {f['statements']:5.1f} round trips  {f['cpu_ms']:6.2f} ms CPU")
    if "usage" in only and args.usage_entries:
        sizes = {"big": args.usage_entries, "small": 1000}
        timings = usage_at_scale(url, {"big": tokens[ACCOUNTS + 1], "small": tokens[ACCOUNTS + 2]}, sizes, 100)
        report["usage_ms"] = timings
        print(
            f"\nGET /v1/credits/usage: {args.usage_entries:,} entries this month {timings['big']:.2f} ms, "
            f"1,000 entries {timings['small']:.2f} ms (median of 100, interleaved)"
        )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"http-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nsaved {path}")
    return 0


def register_users(port: int, count: int) -> list[str]:
    from bench.ledger import HttpClient

    client = HttpClient(port)
    tokens = []
    run = uuid.uuid4().hex[:8]
    try:
        for i in range(count):
            body = {"email": f"bench-{run}-{i}@example.com", "password": "bench-password-1", "name": "Bench"}
            tokens.append(str(expect(*client.call("POST", "/v1/auth/register", body), 201, "register")["access_token"]))
    finally:
        client.close()
    return tokens


def fund_accounts(url: str, env: dict[str, str], tokens: list[str]) -> None:
    from domain.ledger.model import GrantSource
    from entrypoints.bootstrap import bootstrap
    from entrypoints.config import load_settings

    container = bootstrap(load_settings(env))
    for token in tokens:
        user_id = container.identity.authenticate_access_token(token).user_id
        container.ledger.grant(user_id, source=GrantSource.PURCHASE, amount=FUNDS, idempotency_key="bench-funds")
    if container.resources.engine is not None:
        container.resources.engine.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
