"""The coaching benchmark: `python -m bench.coaching` (run by `make bench` after the ledger bench).

What it measures: the service's own time per chat message, beyond the model's, with the scripted
coach answering at once; through HTTP (gunicorn on 127.0.0.1, one sync worker) with the ledger
and the coaching tables on MariaDB. Target: median under 5 ms.

How:
- The server is `bench.coaching_probe:app`: wsgi.app with timers around the use case's phases
  (auth, the ledger's balance read, ledger hold+capture, context building, storage, the model,
  the rest of the HTTP stack), recording one line per request, exclusive times (see that module).
- The load comes from a separate process (`python -m bench.coaching client ...`), sequential
  requests on one keep-alive connection, so the client never competes with the measured request
  for the two cores, and each request's latency is the service's alone.
- Scenarios, each after its own warm-up:
  `short`   sessions of at most --per-session exchanges (history up to 2x that);
  `long`    one session whose history is at the 200-message cap sent to the model;
  `stream`  like `short`, with `Accept: text/event-stream`, the events read to their end.
  Each message carries an Idempotency-Key (as a retrying client would) and a Bearer token.
- Reported per scenario: the client's round trip (median, p99), the in-app time and the in-app
  time without the model ("own", the target's figure; median, p99), the worker's CPU time for the
  same, the mean of each phase (wall, CPU, SQL round trips), statements, commits and units of work
  per message, and the round trip of a bare `SELECT 1` and `INSERT`+`COMMIT` at the end of the run.
- Reading the figures: wall times include waiting for a core and for MariaDB's fsync, so on a
  shared machine they swing with its load (the bare-SQL line and the load average say how busy it
  was); the CPU time and the round-trip counts are the stable part. `--no-pre-ping` is a what-if
  (the pool's ping before each unit of work switched off in the server) to weigh that choice.

The bench database (default houston_bench_coaching; its name must contain "bench") is dropped and
recreated on every run. Results: a table on stdout and JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
from sqlalchemy.engine import make_url

from adapters.sql.engine import make_engine
from adapters.sql.migrate import upgrade
from bench.ledger import (
    HttpClient,
    Server,
    build_container,
    expect,
    free_port,
    recreate_database,
    server_env,
    use_ports,
    wait_until_serving,
)
from bench.timers import PHASES
from domain.ledger.model import GrantSource

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
DEFAULT_DATABASE_URL = "mysql+pymysql://root@127.0.0.1:3306/houston_bench_coaching"
FUNDS = 10**9
TARGET_MS = 5.0
HISTORY_CAP_EXCHANGES = 100  # 200 messages: the most history sent to the model
QUESTIONS = (
    "How should I start my week?",
    "I keep putting off the payment provider decision. What should I do?",
    "Any advice on the job ad for the designer?",
    "What is the one thing I should finish today?",
    "I finished the supplier call. What next?",
)


# --- the load generator (a separate process) ---------------------------------------------------------
def client_main(spec: dict[str, Any]) -> dict[str, Any]:
    """Sequential messages; returns the latencies (ms) and statuses of the measured ones."""
    connection = HttpClient(spec["port"], {"Authorization": f"Bearer {spec['token']}"})
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    sessions, per_session = spec["sessions"], spec["per_session"]
    for index in range(spec["warmup"] + spec["count"]):
        session = sessions[(index // per_session) % len(sessions)]
        measured = index >= spec["warmup"]
        headers = {"Idempotency-Key": uuid.uuid4().hex, "X-Bench-Scenario": spec["label"] if measured else "warmup"}
        if spec["stream"]:
            headers["Accept"] = "text/event-stream"
        body = {"content": QUESTIONS[index % len(QUESTIONS)]}
        started = time.perf_counter()
        status, data = connection.call("POST", f"/v1/chat/sessions/{session}/messages", body, headers)
        elapsed = (time.perf_counter() - started) * 1000
        if spec["stream"] and b"event: done" not in data:
            status = -status  # an SSE stream without its done event: counted apart
        if measured:
            latencies.append(elapsed)
            statuses[str(status)] = statuses.get(str(status), 0) + 1
    connection.close()
    return {"latencies_ms": latencies, "statuses": statuses}


def run_client(spec: dict[str, Any]) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.coaching", "client", json.dumps(spec)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed: {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout))


# --- the server ----------------------------------------------------------------------------------------
def bench_env(url: str, timings: Path, pre_ping: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "OPENAI_", "BENCH_"))}  # scripted coach
    env.update(server_env(url), BENCH_TIMINGS_PATH=str(timings), ACCESS_TOKEN_TTL_SECONDS="86400")
    if not pre_ping:
        env["BENCH_NO_PRE_PING"] = "1"
    return env


@contextmanager
def gunicorn(url: str, timings: Path, log_path: Path, pre_ping: bool = True) -> Iterator[Server]:
    """One sync worker serving the probed app on a free loopback port until the block ends."""
    port = free_port()
    binary = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    argv = [
        binary,
        "bench.coaching_probe:app",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--worker-class",
        "sync",
        "--keep-alive",
        "30",
        "--log-level",
        "warning",
        "--no-control-socket",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, cwd=ROOT, env=bench_env(url, timings, pre_ping), stdout=log, stderr=log)
        try:
            yield Server(port if wait_until_serving(port, process) else None, process)
        finally:
            process.terminate()
            process.wait(timeout=30)


# --- the workspace -------------------------------------------------------------------------------------
@dataclass
class User:
    id: str
    token: str
    workspace: str


def create(client: HttpClient, path: str, body: dict[str, Any], what: str) -> dict[str, Any]:
    return dict(expect(*client.call("POST", path, body), 201, what))


def make_user(port: int, run: str) -> User:
    """A user with a workspace of 5 active goals and 15 open todos, through the API."""
    client = HttpClient(port)
    body = {"email": f"coach-bench-{run}@example.com", "password": "bench-password-1", "name": "Bench"}
    user = create(client, "/v1/auth/register", body, "register")
    client = HttpClient(port, {"Authorization": f"Bearer {user['access_token']}"})
    workspace = create(
        client,
        "/v1/workspaces",
        {"name": "Acme Shoes", "industry": "Retail", "description": "Handmade shoes, sold online and in two shops."},
        "workspace",
    )
    goals = [
        create(
            client,
            f"/v1/workspaces/{workspace['id']}/goals",
            {
                "title": f"Goal {i}: grow online orders by {10 * (i + 1)}%",
                "specific": "More orders online",
                "measurable": "orders per week",
                "target_value": str(100 + i),
                "due_date": f"2027-0{i + 1}-15",
                "progress": 10 * i,
            },
            "goal",
        )
        for i in range(5)
    ]
    for i in range(15):
        todo = {"title": f"Todo {i}: call supplier {i}", "goal_id": goals[i % 5]["id"], "due_date": f"2027-01-{i + 10}"}
        create(client, f"/v1/workspaces/{workspace['id']}/todos", todo, "todo")
    client.close()
    return User(str(user["user"]["id"]), str(user["access_token"]), str(workspace["id"]))


def make_sessions(port: int, user: User, count: int) -> list[str]:
    client = HttpClient(port, {"Authorization": f"Bearer {user.token}"})
    path = f"/v1/workspaces/{user.workspace}/chat/sessions"
    ids = [str(create(client, path, {"title": f"bench {i}"}, "session")["id"]) for i in range(count)]
    client.close()
    return ids


# --- the scenarios -------------------------------------------------------------------------------------
@dataclass
class Scenario:
    label: str
    per_session: int
    stream: bool = False
    prefill: int = 0  # exchanges sent first, not measured


def scenarios(args: argparse.Namespace) -> list[Scenario]:
    every = [
        Scenario("short", args.per_session),
        Scenario("long", 10**9, prefill=HISTORY_CAP_EXCHANGES),
        Scenario("stream", args.per_session, stream=True),
    ]
    return [scenario for scenario in every if scenario.label in args.scenarios]


def run_scenario(port: int, user: User, scenario: Scenario, args: argparse.Namespace) -> dict[str, Any]:
    total = args.warmup + args.messages
    count = 1 if scenario.prefill else -(-total // scenario.per_session)
    sessions = make_sessions(port, user, count)
    base = {
        "port": port,
        "token": user.token,
        "sessions": sessions,
        "per_session": scenario.per_session,
        "stream": scenario.stream,
    }
    if scenario.prefill:
        run_client({**base, "label": "prefill", "warmup": scenario.prefill, "count": 0})
    spec = {**base, "label": scenario.label, "warmup": args.warmup, "count": args.messages}
    return run_client(spec)


# --- the report ----------------------------------------------------------------------------------------
def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def round_trips(record: dict[str, Any], pre_ping: bool) -> int:
    """Statements, commits, rollbacks, and a ping per unit of work when the pool pings."""
    pings = record["checkouts"] if pre_ping else 0
    return int(record["queries"] + record["commits"] + record["rollbacks"] + pings)


def summarise(label: str, client: dict[str, Any], records: list[dict[str, Any]], pre_ping: bool) -> dict[str, Any]:
    mine = [r for r in records if r["scenario"] == label]
    total = [r["total_ms"] for r in mine]
    own = [r["total_ms"] - r["phases_ms"]["model"] for r in mine]
    own_cpu = [r["cpu_ms"] - r["cpu_phases_ms"]["model"] for r in mine]
    return {
        "scenario": label,
        "messages": len(mine),
        "client_statuses": client["statuses"],
        "server_statuses": dict(
            sorted({str(s): sum(1 for r in mine if r["status"] == s) for s in {r["status"] for r in mine}}.items())
        ),
        "round_trip_ms": {
            "p50": percentile(client["latencies_ms"], 0.5),
            "p99": percentile(client["latencies_ms"], 0.99),
        },
        "in_app_ms": {"p50": percentile(total, 0.5), "p99": percentile(total, 0.99)},
        "own_ms": {"p50": percentile(own, 0.5), "p99": percentile(own, 0.99)},
        "own_cpu_ms": {"p50": percentile(own_cpu, 0.5), "p99": percentile(own_cpu, 0.99)},
        "cpu_phases_mean_ms": {
            p: statistics.fmean([r["cpu_phases_ms"][p] for r in mine]) if mine else 0.0 for p in PHASES
        },
        "commits_per_message": statistics.fmean([r["commits"] for r in mine]) if mine else 0.0,
        "checkouts_per_message": statistics.fmean([r["checkouts"] for r in mine]) if mine else 0.0,
        "round_trips_per_message": statistics.fmean([round_trips(r, pre_ping) for r in mine]) if mine else 0.0,
        "round_trips_by_phase": {
            p: statistics.fmean([r["trips"].get(p, 0) for r in mine]) if mine else 0.0 for p in PHASES
        },
        "phases_p50_ms": {p: percentile([r["phases_ms"][p] for r in mine], 0.5) for p in PHASES},
        "phases_mean_ms": {p: statistics.fmean([r["phases_ms"][p] for r in mine]) if mine else 0.0 for p in PHASES},
        "sql_per_message": statistics.fmean([r["queries"] for r in mine]) if mine else 0.0,
        "sql_ms_p50": percentile([r["db_ms"] for r in mine], 0.5),
    }


def print_report(rows: list[dict[str, Any]], sql: dict[str, Any]) -> None:
    print(
        f"\n{'scenario':9}{'n':>5}{'round trip':>18}{'in app':>16}{'own (no model)':>18}{'own CPU':>16}"
        f"{'SQL/msg':>8}{'commits':>8}{'UoWs':>6}{'trips':>6}{'SQL ms':>8}  statuses"
    )
    print(f"{'':14}{'p50 / p99 ms':>18}{'p50 / p99':>16}{'p50 / p99':>18}{'p50 / p99':>16}")
    for r in rows:
        cells = "".join(
            f"{r[k]['p50']:>{w - 9}.2f} /{r[k]['p99']:>7.2f}"
            for k, w in (("round_trip_ms", 18), ("in_app_ms", 16), ("own_ms", 18), ("own_cpu_ms", 16))
        )
        counts = (
            f"{r['sql_per_message']:8.1f}{r['commits_per_message']:8.1f}{r['checkouts_per_message']:6.1f}"
            f"{r['round_trips_per_message']:6.1f}{r['sql_ms_p50']:8.2f}"
        )
        print(f"{r['scenario']:9}{r['messages']:5}{cells}{counts}  {r['client_statuses']}")
    tables = (
        ("wall ms", "phases_mean_ms"),
        ("CPU ms", "cpu_phases_mean_ms"),
        ("SQL round trips (statements, commits, rollbacks, pool pings)", "round_trips_by_phase"),
    )
    for title, key in tables:
        print(f"\nbreakdown, mean {title} per message (exclusive; http = Flask, routing, schemas, JSON):")
        print(f"{'scenario':9}" + "".join(f"{p:>9}" for p in PHASES))
        for r in rows:
            print(f"{r['scenario']:9}" + "".join(f"{r[key][p]:9.3f}" for p in PHASES))
    print(
        f"\nbare SQL on this machine now (pymysql, p50 ms): SELECT 1 {sql['select_p50_ms']:.3f},"
        f" INSERT+COMMIT {sql['insert_commit_p50_ms']:.3f}; load average {sql['load']}"
    )
    verdict = [f"{r['scenario']}: own p50 {r['own_ms']['p50']:.2f} ms (CPU {r['own_cpu_ms']['p50']:.2f})" for r in rows]
    print(f"target: own time per message, median < {TARGET_MS} ms ({'; '.join(verdict)})")


def bare_sql(url: str, repeat: int = 200) -> dict[str, Any]:
    """Round trips of the simplest statements on a bare connection: the floor under the service's SQL."""
    parsed = make_url(url)
    connection = pymysql.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 3306,
        user=parsed.username or "root",
        password=parsed.password or "",
        database=parsed.database,
        autocommit=False,
    )
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_probe (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
        selects, commits = [], []
        for _ in range(repeat):
            started = time.perf_counter()
            cursor.execute("SELECT 1")
            cursor.fetchall()
            selects.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            cursor.execute("INSERT INTO bench_probe (v) VALUES (1)")
            connection.commit()
            commits.append((time.perf_counter() - started) * 1000)
        cursor.execute("DROP TABLE bench_probe")
    connection.close()
    return {
        "select_p50_ms": percentile(selects, 0.5),
        "insert_commit_p50_ms": percentile(commits, 0.5),
        "load": [round(x, 2) for x in os.getloadavg()],
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.coaching", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--messages", type=int, default=500, help="measured messages per scenario")
    parser.add_argument("--warmup", type=int, default=50, help="messages sent first in each scenario, not measured")
    parser.add_argument("--per-session", type=int, default=10, help="exchanges per session in the short scenarios")
    parser.add_argument(
        "--scenarios", nargs="+", default=["short", "long", "stream"], choices=["short", "long", "stream"]
    )
    parser.add_argument(
        "--no-pre-ping",
        dest="pre_ping",
        action="store_false",
        help="what-if: the server's pool does not ping before each unit of work",
    )
    parser.add_argument("--ports", help="LO-HI: start servers only on ports in this range")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] == ["client"]:
        print(json.dumps(client_main(json.loads(sys.argv[2]))))
        return 0
    args = parse_args(argv)
    use_ports(args.ports)
    started, run = time.perf_counter(), uuid.uuid4().hex[:8]
    recreate_database(args.database_url)
    upgrade(args.database_url)
    engine = make_engine(args.database_url)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    timings = RESULTS_DIR / f"coaching-timings-{run}.jsonl"
    log_path = RESULTS_DIR / f"coaching-gunicorn-{run}.log"
    clients: dict[str, dict[str, Any]] = {}
    with gunicorn(args.database_url, timings, log_path, args.pre_ping) as server:
        if server.port is None:
            raise SystemExit(f"the server did not start: see {log_path}")
        user = make_user(server.port, run)
        ledger = build_container(args.database_url, engine).ledger
        ledger.grant(user.id, source=GrantSource.PURCHASE, amount=FUNDS, idempotency_key="bench-funds")
        for scenario in scenarios(args):
            print(f"scenario {scenario.label}: {args.warmup} warm-up + {args.messages} messages", flush=True)
            clients[scenario.label] = run_scenario(server.port, user, scenario, args)
        invariants = ledger.check_invariants(user.id)
        sql = bare_sql(args.database_url)
    records = [json.loads(line) for line in timings.read_text().splitlines() if line.strip()]
    rows = [summarise(label, client, records, args.pre_ping) for label, client in clients.items()]
    print_report(rows, sql)
    print(f"ledger invariant violations on the bench account: {invariants}")
    report = {
        "run": run,
        "database_url": args.database_url,
        "messages": args.messages,
        "warmup": args.warmup,
        "per_session": args.per_session,
        "pre_ping": args.pre_ping,
        "gunicorn": {"workers": 1, "worker_class": "sync"},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()},
        "results": rows,
        "bare_sql": sql,
        "invariant_violations": invariants,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    path = RESULTS_DIR / f"coaching-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"saved {path} after {report['total_seconds']} s")
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
