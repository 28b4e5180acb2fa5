"""Real parts for the webhook and email tests: an HTTP receiver on loopback that verifies what it
gets with the `standardwebhooks` package (never with our code) and misbehaves on command, and a
real SMTP server (aiosmtpd) whose mailbox the test reads."""
from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool
    payload: dict[str, Any] | None


@dataclass
class Receiver:
    """`mode`: ok | 500 | 410 | timeout | slow_body | huge_body | redirect_private."""

    secrets: list[str] = field(default_factory=list)
    mode: str = "ok"
    sleep: float = 0.0
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self, port: int = 0) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                payload, verified = None, False
                for secret in receiver.secrets:
                    try:
                        payload, verified = Webhook(secret).verify(body, headers), True
                        break
                    except WebhookVerificationError:
                        continue
                receiver.received.append(Received(headers, body, verified, payload))
                mode = receiver.mode
                if mode == "timeout":
                    time.sleep(receiver.sleep or 3)
                if mode == "redirect_private":
                    self.send_response(302)
                    self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = {"500": 500, "410": 410}.get(mode, 200)
                self.send_response(status)
                if mode == "slow_body":
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    try:
                        for _ in range(100):
                            self.wfile.write(b"x" * 10)
                            self.wfile.flush()
                            time.sleep(0.2)
                    except OSError:
                        pass
                    return
                out = b"y" * 1_000_000 if mode == "huge_body" else json.dumps({"ok": status == 200}).encode()
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                try:
                    self.wfile.write(out)
                except OSError:
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def payloads(self) -> list[dict[str, Any]]:
        return [r.payload for r in self.received if r.verified and r.payload is not None]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Mailbox:
    """aiosmtpd's Controller on 127.0.0.1 with a handler that keeps every message."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[EmailMessage] = []
        mailbox = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                parsed = message_from_bytes(envelope.content, policy=policy.default)
                mailbox.messages.append(parsed)  # type: ignore[arg-type]
                return "250 Message accepted for delivery"

        self.port = free_port()  # aiosmtpd checks its server by connecting to the port it was given
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def start(self) -> Mailbox:
        self._controller.start()
        return self

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._controller.stop()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.messages


class FakePayment:
    """A payment record as billing hands it to `emitters.payment`."""

    def __init__(self, user_id: str, payment_id: str | None = None, amount_cents: int = 2000) -> None:
        import uuid
        from datetime import datetime, timezone

        now = datetime.now(timezone.utc)
        self.id, self.user_id, self.kind = payment_id or f"pay_{uuid.uuid4().hex[:12]}", user_id, "pack"
        self.item_id, self.item_name, self.credits = "pack_500", "500 credits", 500
        self.amount_cents, self.currency, self.status = amount_cents, "usd", "paid"
        self.refunded_cents, self.created_at, self.updated_at = 0, now, now
