"""Slow clients against the worker class: `python -m bench.slow_clients` (loopback only, bounded).

For each gunicorn configuration (4 sync workers; 4 gthread workers x 4 threads), on the MariaDB
of DATABASE_URL (or SQLite when unset):
1. slowloris: SLOW connections each send the headers and half the body of a POST, then stall for
   HOLD seconds; meanwhile GET /health is timed every 0.5 s (timeout HOLD + 5 s);
2. charges: `wrk -t2 -c8 -d10s --latency` on POST /v1/credits/charges (X-API-Key, a fresh
   Idempotency-Key per request), with no slow client: requests/s, p50, p99.
The third configuration puts nginx (README's proxy advice) in front of the sync workers; it needs
`nginx` and `wrk` on PATH. Prints one JSON line per configuration.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SLOW, HOLD = int(os.environ.get("BENCH_SLOW", "8")), 10
CONFIGS = {
    "sync x4": ["--workers", "4"],
    "gthread x4x4": ["--workers", "4", "--worker-class", "gthread", "--threads", "4"],
    "sync x4 behind nginx": ["--workers", "4"],
}
# The README's proxy advice, as run here (temp paths and ports filled in).
NGINX = """
worker_processes 1; daemon off; pid {tmp}/nginx.pid; error_log {tmp}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  upstream houston {{ server 127.0.0.1:{upstream}; keepalive 16; }}
  server {{
    listen 127.0.0.1:{port};
    client_max_body_size 2m; client_header_timeout 10s; client_body_timeout 10s;
    location / {{
      proxy_pass http://houston; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_request_buffering on; proxy_set_header Host $host;
      proxy_set_header X-Request-ID $request_id;
    }}
  }}
}}
"""
LUA = """
counter = 0
request = function()
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = string.format("wrk-%d-%d-%d", os.time(), math.random(1e9), counter)
  return wrk.format("POST", "/v1/credits/charges", nil, '{"feature_key": "coach.message"}')
end
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def call(
    port: int, method: str, path: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=json.dumps(body).encode() if body else None,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: dict[str, Any] = json.loads(response.read() or b"{}")
        return answer


def health_latency(port: int, timeout: float) -> float:
    started = time.monotonic()
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=timeout).read()
    except OSError:
        return float("inf")
    return time.monotonic() - started


def slowloris(port: int) -> dict[str, float | int]:
    head = (
        b"POST /v1/auth/login HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n" + b'{"email": "slow@example.com", "pass'
    )
    sockets = []
    for _ in range(SLOW):
        conn = socket.create_connection(("127.0.0.1", port))
        conn.sendall(head)
        sockets.append(conn)
    samples = []
    ends = time.monotonic() + HOLD
    while time.monotonic() < ends:
        samples.append(health_latency(port, HOLD + 5))
        time.sleep(0.5)
    for conn in sockets:
        conn.close()
    finite = [s for s in samples if s != float("inf")]
    return {
        "health_probes": len(samples),
        "health_failed": len(samples) - len(finite),
        "health_max_s": round(max(samples), 3),
        "health_median_s": round(sorted(samples)[len(samples) // 2], 3),
    }


def charges(port: int, key: str) -> dict[str, str | None]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA)
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            "-c8",
            "-d10s",
            "--latency",
            "-s",
            script.name,
            "-H",
            f"X-API-Key: {key}",
            "-H",
            "Content-Type: application/json",
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout

    def pick(pattern: str) -> str | None:
        found = re.search(pattern, out, re.M)
        return found[1] if found else None

    return {
        "charges_per_s": pick(r"Requests/sec:\s+([\d.]+)"),
        "p50": pick(r"^\s+50%\s+(\S+)"),
        "p99": pick(r"^\s+99%\s+(\S+)"),
        "non_2xx": pick(r"Non-2xx or 3xx responses: (\d+)") or "0",
    }


def run(name: str, extra: list[str], env: dict[str, str]) -> dict[str, object]:
    port = upstream = free_port()
    argv = [
        str(Path(sys.executable).parent / "gunicorn"),
        "wsgi:app",
        "-c",
        "python:entrypoints.gunicorn_conf",
        "--bind",
        f"127.0.0.1:{upstream}",
        "--no-control-socket",
        *extra,
    ]
    server = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proxy = None
    if "nginx" in name:
        tmp, port = tempfile.mkdtemp(), free_port()
        Path(tmp, "nginx.conf").write_text(NGINX.format(tmp=tmp, upstream=upstream, port=port))
        proxy = subprocess.Popen(
            ["nginx", "-c", f"{tmp}/nginx.conf", "-p", tmp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    try:
        for _ in range(100):
            if health_latency(port, 1) != float("inf"):
                break
            time.sleep(0.2)
        auth = call(
            port,
            "POST",
            "/v1/auth/register",
            {"email": f"bench-{port}-{time.time_ns()}@example.com", "password": "correct horse battery"},
        )
        key = call(
            port, "POST", "/v1/api-keys", {"name": "bench"}, {"Authorization": f"Bearer {auth['access_token']}"}
        )["key"]
        grant(env, auth["user"]["id"])
        return {"config": name, **slowloris(port), **charges(port, key)}
    finally:
        if proxy is not None:
            proxy.terminate()
            proxy.wait(timeout=30)
        server.terminate()
        server.wait(timeout=30)


def grant(env: dict[str, str], user_id: str) -> None:
    code = (
        "from entrypoints.bootstrap import bootstrap; from entrypoints.config import load_settings; "
        f"bootstrap(load_settings()).ledger.grant({user_id!r}, source='promo', amount=10**9, "
        "idempotency_key='bench-funds')"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True)


def main() -> None:
    data = tempfile.mkdtemp()
    env = {
        **os.environ,
        "HOUSTON_ENV": "test",
        "JWT_SECRET": "b" * 40,
        "BCRYPT_ROUNDS": "4",
        "HOUSTON_DATA_DIR": data,
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    env.setdefault("DATABASE_URL", f"sqlite:///{data}/bench.db")
    env.pop("REDIS_URL", None)
    subprocess.run(
        [str(Path(sys.executable).parent / "houston"), "migrate"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    for name, extra in CONFIGS.items():
        if "nginx" in name and shutil.which("nginx") is None:
            print(json.dumps({"config": name, "skipped": "nginx is not installed"}), flush=True)
            continue
        print(json.dumps(run(name, extra, env)), flush=True)


if __name__ == "__main__":
    main()
