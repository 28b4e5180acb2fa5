"""/metrics under real gunicorn with two workers, started by `houston serve` (issue 15).

Requests land on either worker and so does the scrape; every scrape must still count every
request, because prometheus_client's multiprocess mode adds up the workers' files. The directory
is emptied when serve starts and removed when gunicorn stops.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prometheus_client.mmap_dict import MmapedDict

from tests.fixtures.serving import free_port

BIN = Path(sys.executable).parent
REQUESTS = 60


def get(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_until_up(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.poll() is None, server.stderr.read().decode() if server.stderr else "gunicorn exited"
        try:
            # /ready, not /health: a poll that timed out on a loaded machine may still be served
            # and counted, which made the /health totals below one too many (a flaky test)
            if get(port, "/ready")[0] == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("gunicorn did not come up")


def health_count(text: str) -> float:
    pattern = r'^houston_http_requests_total\{method="GET",route="/health",status="200"\} (\S+)$'
    match = re.search(pattern, text, re.M)
    return float(match[1]) if match else 0.0


def per_process_health(directory: Path) -> dict[str, float]:
    """What each worker's own file says about /health: proof that both served some."""
    counts: dict[str, float] = {}
    for path in directory.glob("counter_*.db"):
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):
            name, sample, labels, _help = json.loads(key)
            if sample == "houston_http_requests_total" and labels.get("route") == "/health":
                counts[path.stem] = counts.get(path.stem, 0.0) + value
    return counts


def test_every_scrape_counts_the_requests_of_both_workers(tmp_path: Path) -> None:
    port, metrics_dir = free_port(), tmp_path / "prom"
    metrics_dir.mkdir()
    (metrics_dir / "counter_99999.db").write_bytes(b"stale from a previous run")
    env = {
        **os.environ,
        "HOUSTON_ENV": "test",
        "HOUSTON_DATA_DIR": str(tmp_path),
        "BCRYPT_ROUNDS": "4",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}",
        "JWT_SECRET": "j" * 40,
        "LOG_LEVEL": "WARNING",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "RATELIMIT_ENABLED": "false",
    }
    env.pop("REDIS_URL", None)
    subprocess.run([str(BIN / "houston"), "migrate"], env=env, check=True, capture_output=True)
    server = subprocess.Popen(
        [str(BIN / "houston"), "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        wait_until_up(port, server)
        # Which worker accepts a connection is the kernel's choice (and a worker may still be
        # booting on a loaded machine): send batches until both have served, at most 20.
        sent, statuses = 0, Counter[int]()
        for _ in range(20):
            with ThreadPoolExecutor(8) as pool:
                statuses.update(status for status, _ in pool.map(lambda _: get(port, "/health"), range(REQUESTS)))
            sent += REQUESTS
            if len([n for n in per_process_health(metrics_dir).values() if n > 0]) == 2:
                break
        assert statuses == {200: sent}
        scrapes = [get(port, "/metrics")[1].decode() for _ in range(6)]
        assert [health_count(text) for text in scrapes] == [sent] * 6  # whichever worker answers
        served = per_process_health(metrics_dir)
        assert len([n for n in served.values() if n > 0]) == 2, served  # both workers served /health
        assert sum(served.values()) == sent
        assert not (metrics_dir / "counter_99999.db").exists()  # serve emptied the directory
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert not metrics_dir.exists()  # gunicorn's on_exit hook removed it
