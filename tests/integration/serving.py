"""Start `houston serve` (a real gunicorn) on a free 127.0.0.1 port, and talk to it over raw sockets."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def exchange(port: int, raw: bytes, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read one response (Connection: close or Content-Length); status, headers, body."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(raw)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            lengths = [int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
            if sep and lengths and len(body) >= lengths[0]:
                break
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split(" ")[1]), headers, body


def get(port: int, path: str, headers: bytes = b"", timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    raw = b"GET " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n" + headers + b"Connection: close\r\n\r\n"
    return exchange(port, raw, timeout)


@contextmanager
def houston_serve(data_dir: Path, **env: str) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    values = {
        **os.environ, "HOUSTON_ENV": "test", "DATABASE_URL": "memory://", "JWT_SECRET": "s" * 40,
        "HOUSTON_DATA_DIR": str(data_dir), "HOST": "127.0.0.1", "PORT": str(port),
        "WEB_CONCURRENCY": "1", "LOG_LEVEL": "WARNING", **env,
    }
    values.pop("REDIS_URL", None)
    houston = Path(sys.executable).parent / "houston"
    process = subprocess.Popen([str(houston), "serve"], cwd=ROOT, env=values,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if get(port, "/health")[0] == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "houston serve did not start"
            time.sleep(0.2)
        yield port, process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
