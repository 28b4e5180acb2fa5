"""What rate limiting and metrics cost on the charge route: `python -m bench.overhead` (part of
`make bench`).

Two gunicorn servers run side by side on the same database and Redis, identical but for issue
15's features: "on" has RATELIMIT_ENABLED=true (counters in Redis, a limit far above the load so
nothing is refused) and METRICS_ENABLED=true in multiprocess mode (PROMETHEUS_MULTIPROC_DIR, as
`houston serve` runs it); "off" has both false. The two are interleaved request by request in the
same run: each of CLIENTS threads holds a keep-alive connection to both and charges its own funded
account (`POST /v1/credits/charges`, API key) on one, then the other, and so on. Both sides are
thus measured at the same moments, so the shared machine's noise (other processes, the shared
database) falls on both alike; which side goes first alternates by client and by round. A
client's req/s against a side is 1 / its mean latency there. The overhead is 1 - the median of
the rounds' on/off ratios; the budget is 10%. `--features none` runs the method against itself
(both servers off) to show its own bias; `limits` or `metrics` isolate one feature.
Results: a table on stdout and JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
DEFAULT_DATABASE_URL = "mysql+pymysql://root@127.0.0.1:3306/houston_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
CLIENTS = 8
BUDGET = 0.10
NEVER_REACHED = "300/second"  # never reached by this load; leases of 6 hits, like the default 300/minute


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(args: argparse.Namespace) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(
        {
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            "HOUSTON_ENV": "development",
            "JWT_SECRET": "bench-only-jwt-secret-" + "x" * 40,
            "BCRYPT_ROUNDS": "4",
            "LOG_LEVEL": "WARNING",
        }
    )
    return env


def side_env(args: argparse.Namespace, on: bool, metrics_dir: str) -> dict[str, str]:
    env = base_env(args)
    limits, metrics = on and args.features in ("both", "limits"), on and args.features in ("both", "metrics")
    env.update(
        {
            "RATELIMIT_ENABLED": str(limits).lower(),
            "RATELIMIT_DEFAULT": NEVER_REACHED,
            "METRICS_ENABLED": str(metrics).lower(),
        }
    )
    if metrics:
        env["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    return env


class Client:
    def __init__(self, port: int, key: str) -> None:
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self._headers = {"X-API-Key": key, "Content-Type": "application/json"}

    def charge(self) -> int:
        headers = {**self._headers, "Idempotency-Key": uuid.uuid4().hex}
        self._connection.request("POST", "/v1/credits/charges", body=b'{"feature_key": "api.call"}', headers=headers)
        response = self._connection.getresponse()
        response.read()
        return response.status

    def get(self, path: str) -> tuple[int, bytes]:
        self._connection.request("GET", path)
        response = self._connection.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self._connection.close()


@contextmanager
def server(env: dict[str, str], workers: int, threads: int, log: Path) -> Iterator[int]:
    port = free_port()
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    argv = [
        gunicorn,
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
        "--no-control-socket",
    ]
    if env.get("PROMETHEUS_MULTIPROC_DIR"):
        argv += ["--config", "python:entrypoints.gunicorn_hooks"]  # what `houston serve` adds
    with open(log, "ab") as out:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"gunicorn did not start; see {log}")
            try:
                client = Client(port, "")
                if client.get("/health")[0] == 200:
                    client.close()
                    break
            except OSError:
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def funded_keys(args: argparse.Namespace) -> list[str]:
    """One user per client with 10**9 credits and an API key (made in-process, as an operator would)."""
    from adapters.sql.migrate import upgrade
    from bench.ledger import recreate_database
    from entrypoints.bootstrap import bootstrap
    from entrypoints.config import load_settings

    recreate_database(args.database_url)  # a name without "bench" is refused, never dropped
    upgrade(args.database_url)
    env = base_env(args)
    env.pop("REDIS_URL")  # jobs inline here: nothing of this setup goes to a queue
    container = bootstrap(load_settings(env))
    keys = []
    for _ in range(CLIENTS):
        user = container.identity.register(f"bench-{uuid.uuid4().hex[:12]}@example.com", "bench password 1").user
        container.ledger.grant(user.id, source="promo", amount=10**9, idempotency_key="bench-funds")
        keys.append(container.identity.create_api_key(user.id, "bench")[1])
    if container.resources.engine is not None:
        container.resources.engine.dispose()
    return keys


def round_of(ports: dict[str, int], keys: list[str], seconds: float, flip: bool) -> dict[str, Any]:
    """CLIENTS threads, each with a keep-alive connection to both servers, charging on one, then
    the other, then the first... for `seconds` (which goes first alternates by client and round).
    Both servers are measured at the same moments, so the shared machine's noise falls on both."""
    sides = ("on", "off")
    time_in = [{side: 0.0 for side in sides} for _ in keys]
    done = [{side: 0 for side in sides} for _ in keys]
    statuses: dict[str, dict[str, int]] = {side: {} for side in sides}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def work(index: int) -> None:
        clients = {side: Client(ports[side], keys[index]) for side in sides}
        order = sides if (index % 2 == 0) != flip else sides[::-1]
        try:
            while time.monotonic() < stop:
                for side in order:
                    started = time.perf_counter()
                    status = clients[side].charge()
                    time_in[index][side] += time.perf_counter() - started
                    done[index][side] += 1
                    with lock:
                        statuses[side][str(status)] = statuses[side].get(str(status), 0) + 1
        finally:
            for client in clients.values():
                client.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(keys))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # A client's req/s against one side is 1 / its mean latency there; the side's req/s adds its clients.
    rps = {side: sum(d[side] / t[side] for d, t in zip(done, time_in, strict=True) if t[side]) for side in sides}
    return {
        "rps": {side: round(rps[side], 1) for side in sides},
        "statuses": statuses,
        "ratio": rps["on"] / rps["off"] if rps["off"] else 0.0,
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    keys = funded_keys(args)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    run = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log = RESULTS_DIR / f"overhead-gunicorn-{run}.log"
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="houston-bench-metrics-") as metrics_dir:
        with (
            server(side_env(args, True, metrics_dir), args.workers, args.threads, log) as on_port,
            server(side_env(args, False, metrics_dir), args.workers, args.threads, log) as off_port,
        ):
            ports = {"on": on_port, "off": off_port}
            round_of(ports, keys, 2.0, False)  # warm both: pools, caches
            for index in range(args.rounds):
                rounds.append(round_of(ports, keys, args.seconds, flip=bool(index % 2)))
                r = rounds[-1]
                print(
                    f"  round {index + 1:2d}  on {r['rps']['on']:7.1f}  off {r['rps']['off']:7.1f} req/s"
                    f"  on/off {r['ratio']:.3f}",
                    flush=True,
                )
            scrape = Client(on_port, "").get("/metrics")[1].decode()
    on = statistics.median(r["rps"]["on"] for r in rounds)
    off = statistics.median(r["rps"]["off"] for r in rounds)
    ratios = [r["ratio"] for r in rounds]
    overhead = 1 - statistics.median(ratios)
    return {
        "run": run,
        "clients": CLIENTS,
        "seconds_per_round": args.seconds,
        "rounds": args.rounds,
        "features": args.features,
        "gunicorn": {"workers": args.workers, "threads": args.threads, "worker_class": "gthread"},
        "median_rps": {"on": round(on, 1), "off": round(off, 1)},
        "overhead": round(overhead, 4),
        "round_ratios": [round(r, 3) for r in ratios],
        "budget": BUDGET,
        "per_round": rounds,
        "checks": {
            "on_counted_charges": "houston_ledger_operations_total" in scrape or args.features != "both",
            "refused_429": sum(r["statuses"]["on"].get("429", 0) for r in rounds),
        },
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()},
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.overhead", description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=12, help="rounds (each measures both sides)")
    parser.add_argument(
        "--features",
        choices=("both", "limits", "metrics", "none"),
        default="both",
        help="what the 'on' server turns on (default both; the others isolate one)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    result = measure(args)
    path = RESULTS_DIR / f"overhead-{result['run']}.json"
    path.write_text(json.dumps(result, indent=2))
    on, off = result["median_rps"]["on"], result["median_rps"]["off"]
    print(
        f"charge req/s (median of {args.rounds} rounds): on {on}, off {off}; overhead {result['overhead']:.1%} "
        f"(1 - median on/off of the rounds); budget {BUDGET:.0%}; 429s: {result['checks']['refused_429']}"
    )
    print(f"results: {path}")
    return 0 if result["overhead"] < BUDGET and result["checks"]["on_counted_charges"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
