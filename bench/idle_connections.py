"""A browser's idle speculative connections against `houston serve` (issue 21).

Chromium opens connections ahead of need and may leave them idle. This bench plays one such
browser against the embedded default (`make run`: SQLite, 2 workers): every 0.5 s it loads a
page on a new connection and leaves one more connection open without sending a byte (kept for
45 s, then closed), for DURATION seconds. It reports the loads that failed (an error status or
no answer), the slowest load, and gunicorn's worker kills (WORKER TIMEOUT in its log).

    python -m bench.idle_connections [--threads 1] [--duration 60]

`--threads 1` is the sync worker (before issue 21), the default 4 the gthread worker.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import time
from pathlib import Path

from tests.fixtures.browser import embedded_serve
from tests.fixtures.serving import get


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", default="4")
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--hold", type=float, default=45, help="seconds an idle connection stays open")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        embedded_serve(Path(tmp), WEB_THREADS=args.threads, RATELIMIT_ENABLED="false") as (port, _),
    ):
        idle: list[tuple[float, socket.socket]] = []
        loads, failures, slowest = 0, 0, 0.0
        end = time.monotonic() + args.duration
        while time.monotonic() < end:
            now = time.monotonic()
            idle.append((now, socket.create_connection(("127.0.0.1", port))))
            while idle and now - idle[0][0] > args.hold:
                idle.pop(0)[1].close()
            started = time.perf_counter()
            try:
                status = get(port, "/openapi.json" if loads % 2 else "/health", timeout=35)[0]
            except OSError:
                status = 0
            took = time.perf_counter() - started
            loads += 1
            slowest = max(slowest, took)
            failures += status != 200
            time.sleep(max(0.0, 0.5 - took))
        for _, conn in idle:
            conn.close()
        kills = (Path(tmp) / "serve.log").read_text().count("WORKER TIMEOUT")
    print(f"threads={args.threads}: {loads} loads, {failures} failed, slowest {slowest:.2f} s, {kills} worker kills")


if __name__ == "__main__":
    main()
