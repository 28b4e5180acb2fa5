"""Local Stripe servers for the gateway tests, bound to 127.0.0.1 on a free port.

- `localstripe_server()`: localstripe (PyPI), run in-process on its own event loop in a thread.
  It covers customers, payment methods, PaymentIntents, refunds, plans and plan-based subscriptions.
- `FakeStripeServer`: what localstripe lacks (Checkout Sessions, the billing portal, event
  listing), answering in Stripe's recorded shapes (the objects of adapters/stripe/events.py, copied
  from the recorded fixtures), with Stripe's list envelope and pagination, and failures on demand:
  a status with Stripe's error body, or a hang longer than the client's timeout.
"""
from __future__ import annotations

import asyncio
import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from adapters.stripe import events as ev


@contextmanager
def localstripe_server() -> Iterator[str]:
    """Start localstripe on 127.0.0.1 (never on all interfaces, as its CLI does); yield its base URL."""
    from aiohttp import web
    from localstripe.server import app

    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.SockSite(runner, sock).start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="localstripe", daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("localstripe did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass
class Failure:
    status: int
    body: dict[str, Any] | None = None
    hang: float = 0.0
    after: int = 0  # requests answered normally before this failure


@dataclass
class FakeStripeState:
    requests: list[Recorded] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)  # any order; listed newest first
    lock: threading.Lock = field(default_factory=threading.Lock)


def stripe_error(status: int, message: str, code: str | None = None, type_: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "code": code, "param": None,
                      "doc_url": None, "request_log_url": None}}


class FakeStripeServer:
    def __init__(self) -> None:
        self.state = FakeStripeState()
        state = self.state

        class Handler(_Handler):
            shared = state

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="fake-stripe", daemon=True)

    def __enter__(self) -> FakeStripeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def fail(self, status: int, body: dict[str, Any] | None = None, *, times: int = 1, hang: float = 0.0,
             after: int = 0) -> None:
        """Answer the next `times` requests (after `after` normal ones) with `status` and `body`."""
        with self.state.lock:
            self.state.failures.extend(Failure(status, body, hang, after if i == 0 else 0) for i in range(times))

    @property
    def requests(self) -> list[Recorded]:
        return list(self.state.requests)


class _Handler(BaseHTTPRequestHandler):
    shared: FakeStripeState
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        params = dict(parse_qsl(url.query if method == "GET" else body, keep_blank_values=True))
        state = self.shared
        with state.lock:
            state.requests.append(Recorded(method, url.path, params, {k.lower(): v for k, v in self.headers.items()}))
            failure = None
            if state.failures and state.failures[0].after > 0:
                state.failures[0].after -= 1
            elif state.failures:
                failure = state.failures.pop(0)
        if failure is not None:
            if failure.hang:
                time.sleep(failure.hang)
            self._send(failure.status, failure.body or stripe_error(failure.status, "Failure on demand."))
            return
        route = (method, url.path)
        if route == ("POST", "/v1/checkout/sessions"):
            self._send(200, checkout_session_created(params))
        elif route == ("POST", "/v1/billing_portal/sessions"):
            self._send(200, portal_session(params))
        elif route == ("GET", "/v1/events"):
            self._send(200, list_events(state, params))
        else:
            self._send(404, stripe_error(404, f"Unrecognized request URL ({method}: {url.path}).",
                                         code="resource_missing"))

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", "req_fake")
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            pass


def checkout_session_created(params: dict[str, str]) -> dict[str, Any]:
    """An open Checkout Session, as Stripe answers a create: its objects' shape from events.py."""
    session_id = f"cs_test_a1{secrets.token_hex(24)}"
    metadata = {k[len("metadata["):-1]: v for k, v in params.items() if k.startswith("metadata[")}
    amount = int(params.get("line_items[0][price_data][unit_amount]", "0") or 0)
    facts = ev.CheckoutFacts(
        session_id=session_id,
        mode=params.get("mode", "payment"),
        user_id=params.get("client_reference_id", ""),
        customer_email=params.get("customer_email", ""),
        amount_cents=amount,
        currency=params.get("line_items[0][price_data][currency]", "usd"),
        metadata=metadata,
        customer_id=params.get("customer"),
        success_url=params.get("success_url", ""),
        cancel_url=params.get("cancel_url", ""),
    )
    obj = ev.checkout_session(facts, status="open", payment_status="unpaid", now=int(time.time()))
    obj["customer_details"] = None
    obj["url"] = f"https://checkout.stripe.com/c/pay/{session_id}#fid2cGd2"
    return obj


def portal_session(params: dict[str, str]) -> dict[str, Any]:
    return {
        "id": "bps_1FAKEportal",
        "object": "billing_portal.session",
        "configuration": "bpc_1FAKEconfig",
        "created": int(time.time()),
        "customer": params.get("customer"),
        "customer_account": None,
        "flow": None,
        "livemode": False,
        "locale": None,
        "on_behalf_of": None,
        "return_url": params.get("return_url"),
        "url": "https://billing.stripe.com/p/session/test_YWNjdF8xRkFLRQ",
    }


def list_events(state: FakeStripeState, params: dict[str, str]) -> dict[str, Any]:
    """Stripe's list envelope, newest first, `limit` per page, `starting_after`, `created[gt]`, `types[]`."""
    limit = int(params.get("limit", "10"))
    after = int(params.get("created[gt]", "0"))
    types = {v for k, v in params.items() if k.startswith("types[")}
    with state.lock:
        chosen = [e for e in state.events if int(e["created"]) > after and (not types or e["type"] in types)]
    chosen.sort(key=lambda e: (int(e["created"]), e["id"]), reverse=True)
    if "starting_after" in params:
        ids = [e["id"] for e in chosen]
        chosen = chosen[ids.index(params["starting_after"]) + 1:]
    page = chosen[:limit]
    return {"object": "list", "data": page, "has_more": len(chosen) > limit, "url": "/v1/events"}
