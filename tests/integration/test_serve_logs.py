"""What `make run` prints (issue 21): each request once (the app's JSON line; gunicorn's access line
doubled it), the JWT_SECRET warning once (every worker and the shutdown hooks printed it), and
gthread workers that a browser's idle connections do not get killed for."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from tests.fixtures.browser import embedded_serve
from tests.fixtures.serving import get


def test_make_run_logs_each_request_once_and_the_secret_warning_once(tmp_path: Path) -> None:
    with embedded_serve(tmp_path) as (port, _):
        idle = socket.create_connection(("127.0.0.1", port))  # a browser's speculative connection
        try:
            time.sleep(1)
            assert get(port, "/health", b"X-Request-ID: issue21-once\r\n")[0] == 200
        finally:
            idle.close()
        time.sleep(0.5)
    lines = (tmp_path / "serve.log").read_text().splitlines()

    about_request = [line for line in lines if "issue21-once" in line or "GET /health" in line]
    assert len(about_request) == 1, about_request
    assert json.loads(about_request[0])["status"] == 200
    warnings = [line for line in lines if "JWT_SECRET is not set" in line]
    assert len(warnings) == 1, warnings  # two workers and the shutdown: still once
    assert not [line for line in lines if "WORKER TIMEOUT" in line]
    assert [line for line in lines if "Using worker: entrypoints.gunicorn_worker.JsonErrorThreadWorker" in line]
