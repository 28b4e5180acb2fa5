"""A tiny OpenAI-compatible chat-completions server on 127.0.0.1, scriptable per test.

`POST /v1/chat/completions` answers plain JSON or, when the request says `"stream": true`,
server-sent events (`data: {chunk}` lines, then a usage chunk when `stream_options.include_usage`
is set, then `data: [DONE]`) over chunked transfer encoding. Each request takes the next `Step`
of the script; the last step repeats once the script is used up. A step can wait before
answering (timeouts), answer an error status with headers (429 with `retry-after`, 500), or drop
the connection after some chunks (a stream that breaks half-way). Every request is recorded.

Misbehaving on purpose (issue 19): `content` sends any JSON value as the message content (a
number, a dict, a list, null); a streamed piece that is not a string is sent as the delta's
content as it is; `usage_raw` sends any usage object (huge, negative, strings); `model` can be any
string; `trickle` writes the body (or each streamed event) one small piece at a time with that
many seconds between pieces, so that every read succeeds but the whole takes long; `chunks` can
be longer than any `max_tokens` (a provider that ignores it).

Not a test double for our code: it stands in for the provider, so the real adapter, the real
`openai` SDK and real sockets are exercised.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_TEXT = "Start with the smallest step you can finish today."
TEXT = object()  # Step.content default: send `text`


@dataclass(frozen=True)
class Step:
    status: int = 200
    text: str = DEFAULT_TEXT
    chunks: tuple[Any, ...] | None = None  # streamed pieces; default: the text word by word
    delay: float = 0.0  # seconds before the status line
    chunk_delay: float = 0.0  # seconds before each streamed chunk
    headers: dict[str, str] = field(default_factory=dict)
    usage: tuple[int, int] | None = (11, 7)  # (prompt_tokens, completion_tokens); None: no usage sent
    finish_reason: str | None = "stop"
    model: str = "fake-model-1"
    drop_after: int | None = None  # streaming: close the socket after this many chunks
    stall_after: int | None = None  # streaming: wait `stall` seconds before this chunk
    stall: float = 0.0
    raw_body: bytes | None = None  # send these bytes as the (200) body instead of a completion
    content: Any = TEXT  # the JSON reply's message content; TEXT: `text`
    usage_raw: Any = None  # when set, sent as the usage object instead of `usage`
    trickle: float = 0.0  # seconds between the small pieces the body (or each event) is written in
    trickle_piece: int = 8  # bytes per piece when trickling


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def words(text: str) -> tuple[str, ...]:
    pieces = text.split(" ")
    return tuple(piece + " " for piece in pieces[:-1]) + (pieces[-1],)


class FakeOpenAI:
    """Start with `with FakeOpenAI() as fake:`; `fake.base_url` is the `/v1` root to give the client."""

    def __init__(self) -> None:
        self._steps: list[Step] = [Step()]
        self._lock = threading.Lock()
        self.requests: list[Request] = []
        self.aborted = threading.Event()  # set when a client went away while we were still writing
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def script(self, *steps: Step) -> None:
        with self._lock:
            self._steps = list(steps)

    def next_step(self) -> Step:
        with self._lock:
            return self._steps.pop(0) if len(self._steps) > 1 else self._steps[0]

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_fake: FakeOpenAI

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.server_fake.record(Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        step = self.server_fake.next_step()
        time.sleep(step.delay)
        try:
            if self.path != "/v1/chat/completions":
                self._json(404, {"error": {"message": "no such route", "type": "invalid_request_error"}}, {})
            elif step.status != 200:
                error = {"message": f"fake error {step.status} secret-upstream-detail", "type": "server_error"}
                self._json(step.status, {"error": error}, step.headers)
            elif step.raw_body is not None:
                self._send(200, step.raw_body, {"Content-Type": "application/json", **step.headers})
            elif body.get("stream"):
                self._stream(step, body)
            elif step.trickle:
                data = json.dumps(completion(step)).encode()
                self.send_response(200)
                for name, value in {"Content-Type": "application/json", **step.headers,
                                    "Content-Length": str(len(data))}.items():  # fmt: skip
                    self.send_header(name, value)
                self.end_headers()
                for start in range(0, len(data), step.trickle_piece):
                    self.wfile.write(data[start : start + step.trickle_piece])
                    self.wfile.flush()
                    time.sleep(step.trickle)
            else:
                self._json(200, completion(step), step.headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout, a closed stream)
            self.server_fake.aborted.set()

    def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
        self._send(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **headers})

    def _send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(data))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, step: Step, request: dict[str, Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in step.headers.items():
            self.send_header(name, value)
        self.end_headers()
        pieces = step.chunks if step.chunks is not None else words(step.text)
        for index, piece in enumerate(pieces):
            if step.drop_after is not None and index >= step.drop_after:
                self._drop()
                return
            time.sleep(step.stall if index == step.stall_after else step.chunk_delay)
            self._event(chunk(step, {"content": piece}, None), step)
        if step.drop_after is not None and step.drop_after >= len(pieces):
            self._drop()
            return
        self._event(chunk(step, {}, step.finish_reason))
        if (step.usage is not None or step.usage_raw is not None) and (request.get("stream_options") or {}).get(
            "include_usage"
        ):
            sent = step.usage_raw if step.usage_raw is not None else usage(step.usage or (0, 0))
            self._event({**chunk(step, {}, None), "choices": [], "usage": sent})
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")  # the chunked-encoding terminator

    def _event(self, payload: dict[str, Any], step: Step | None = None) -> None:
        data = b"data: " + json.dumps(payload).encode() + b"\n\n"
        if step is None or not step.trickle:
            self._write_chunk(data)
            return
        for start in range(0, len(data), step.trickle_piece):
            self._write_chunk(data[start : start + step.trickle_piece])
            self.wfile.flush()
            time.sleep(step.trickle)

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def _drop(self) -> None:
        """Close the socket in the middle of the chunked body: the client sees a broken stream."""
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)


def usage(tokens: tuple[int, int]) -> dict[str, int]:
    return {"prompt_tokens": tokens[0], "completion_tokens": tokens[1], "total_tokens": sum(tokens)}


def completion(step: Step) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_800_000_000,
        "model": step.model,
        "choices": [{"index": 0, "message": {"role": "assistant",
                                             "content": step.text if step.content is TEXT else step.content},
                     "finish_reason": step.finish_reason}],  # fmt: skip
    }
    if step.usage_raw is not None:
        payload["usage"] = step.usage_raw
    elif step.usage is not None:
        payload["usage"] = usage(step.usage)
    return payload


def chunk(step: Step, delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1_800_000_000,
        "model": step.model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
