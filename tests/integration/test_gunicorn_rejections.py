"""What gunicorn refuses before the app answers in API.md's error shape, under `houston serve`.

A real gunicorn, started by `houston serve` on a free 127.0.0.1 port, gets raw malformed requests
over a socket: a NUL, DEL or control character in a header (400), a request line over the chosen
limit (414), a header over the chosen size or too many headers (431). Each answer must be JSON
`{"error": {"code", "message", "details"}}`, not gunicorn's HTML page, and the worker keeps serving.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from entrypoints import gunicorn_conf
from tests.fixtures.serving import exchange, houston_serve


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with houston_serve(tmp_path_factory.mktemp("serve")) as (port, _):
        yield port


def _request(path: str = "/health", headers: bytes = b"") -> bytes:
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n" + headers + b"Connection: close\r\n\r\n"


CASES = {
    "NUL in a header": (_request(headers=b"X-Trace: a\x00b\r\n"), 400, "bad_request"),
    "DEL in a header": (_request(headers=b"X-Trace: a\x7fb\r\n"), 400, "bad_request"),
    "control character in a header": (_request(headers=b"X-Trace: a\x01b\r\n"), 400, "bad_request"),
    "bad header name": (_request(headers=b"X Trace: 1\r\n"), 400, "bad_request"),
    "request line over the limit": (
        _request("/v1/credits/transactions?cursor=" + "A" * gunicorn_conf.limit_request_line),
        414,
        "uri_too_long",
    ),
    "header over the size limit": (
        _request(headers=b"X-Big: " + b"a" * (gunicorn_conf.limit_request_field_size + 10) + b"\r\n"),
        431,
        "request_header_fields_too_large",
    ),
    "too many headers": (
        _request(headers=b"".join(b"X-H%d: 1\r\n" % i for i in range(gunicorn_conf.limit_request_fields + 1))),
        431,
        "request_header_fields_too_large",
    ),
    "not HTTP at all": (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", 400, "bad_request"),
}


@pytest.mark.parametrize("name", CASES)
def test_gunicorn_rejections_are_json_in_the_error_shape(server: int, name: str) -> None:
    raw, status, code = CASES[name]
    got, headers, body = exchange(server, raw)
    assert got == status, (name, got, body[:200])
    assert headers["content-type"] == "application/json", body[:200]
    assert json.loads(body) == {"error": {"code": code, "message": json.loads(body)["error"]["message"], "details": {}}}
    assert b"<html" not in body
    assert exchange(server, _request())[0] == 200  # the worker still serves


def test_requests_within_the_limits_reach_the_app(server: int) -> None:
    near = "/v1/credits/transactions?cursor=" + "A" * 180 + "&limit=50&kind=charge"
    status, headers, body = exchange(server, _request(near, b"X-Trace: " + b"a" * 4000 + b"\r\n"))
    assert status == 401 and json.loads(body)["error"]["code"] == "unauthenticated"
