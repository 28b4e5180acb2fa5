"""gunicorn's sync and threaded workers, answering the requests gunicorn rejects itself in API.md's error shape.

gunicorn refuses some requests before the app sees them (a NUL or control character in a header:
400; a request line over `limit_request_line`: 414; too many or too large headers: 431) and writes
an HTML page for each. `JsonErrorSyncWorker.handle_error` lets gunicorn decide, log and account as
usual (its decision table is long and version-specific), catches the status it would have written,
and writes `{"error": {"code", "message", "details"}}` instead. The message is fixed per status:
nothing from the rejected request is echoed back.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

CODES = {
    400: ("bad_request", "The request is malformed."),
    403: ("forbidden", "The request is forbidden."),
    413: ("payload_too_large", "The request body is larger than this service accepts."),
    414: ("uri_too_long", "The request line is longer than this service accepts."),
    417: ("expectation_failed", "The Expect header is not supported."),
    431: ("request_header_fields_too_large", "The request headers are too many or too large."),
    501: ("not_implemented", "The request uses a transfer coding this service does not support."),
}
INTERNAL = ("internal_error", "Something went wrong on our side.")


class _StatusCatcher:
    """Stands in for the client socket while gunicorn writes its HTML error: keeps the status line."""

    def __init__(self) -> None:
        self.written = b""

    def gettimeout(self) -> float:
        return 0.0

    def setblocking(self, flag: bool) -> None:
        pass

    def sendall(self, data: bytes) -> None:
        self.written += data

    def status(self) -> tuple[int, str]:
        line = self.written.split(b"\r\n", 1)[0].decode("latin-1")  # "HTTP/1.1 414 URI Too Long"
        parts = line.split(" ", 2)
        try:
            return int(parts[1]), parts[2] if len(parts) > 2 else ""
        except (IndexError, ValueError):
            return 500, "Internal Server Error"


def json_error(status: int, reason: str) -> bytes:
    code, message = CODES.get(status, INTERNAL)
    body = json.dumps({"error": {"code": code, "message": message, "details": {}}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode("latin-1")
    return head + body


class _JsonErrors:
    """Mixed into a gunicorn worker class: its `handle_error` writes API.md's error shape."""

    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: BaseException) -> None:
        catcher = _StatusCatcher()
        super().handle_error(req, catcher, addr, exc)  # type: ignore[misc]
        if not catcher.written:
            return
        try:
            client.sendall(json_error(*catcher.status()))
        except OSError:
            self.log.debug("Failed to send error message.")  # type: ignore[attr-defined]


class JsonErrorSyncWorker(_JsonErrors, SyncWorker):  # type: ignore[misc]  # gunicorn is untyped
    """One request at a time per process: production, behind a buffering proxy."""


class JsonErrorThreadWorker(_JsonErrors, ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker: the embedded default (`make run`), where a browser talks to
    gunicorn directly. A connection that sends nothing (a browser's speculative preconnect) holds
    a thread for at most 5 s, then waits in the worker's poller, so idle connections cannot starve
    the service as they starve sync workers (measured: README, "Serving a browser")."""
