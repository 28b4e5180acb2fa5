"""Hostile input, thrown at every operation of /openapi.json (not route by route), on SQLite and MariaDB.

Each payload class once reached a 500: lone surrogates in strings that are hashed or stored, JSON
nested 100,000 arrays or 20,000 objects deep, a 5,000-digit integer, forged cursors (timestamps at
the edge of the calendar, a surrogate inside, a sequence number beyond 64 bits). Every answer
must be a 4xx in API.md's error shape, and nothing may be written. A route added tomorrow is in
/openapi.json, so it is in this test.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from sqlalchemy import func, select

from adapters.sql import tables
from entrypoints.http.hostile import NOT_TEXT, reject_hostile_input
from tests.fixtures.apps import sql_app
from tests.fixtures.http import api_key_headers, auth_headers, create_api_key, register, register_admin

METHODS = ("get", "post", "put", "patch", "delete")
SURROGATE = "\ud800"


def _cursor(position: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def _raw_cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


# Refused by every cursor decoder, whatever position its route keeps.
FORGED_CURSORS = {
    "seq beyond 64 bits": _cursor({"seq": 2**70, "id": 2**70, "t": 2**70}),
    "negative beyond 64 bits": _cursor({"seq": -(2**70), "id": -(2**70), "t": -(2**70)}),
    "surrogate everywhere": _raw_cursor('{"id": "\\ud800", "t": "\\ud800", "seq": "\\ud800"}'),
    "5000 digits": _raw_cursor('{"seq": ' + "9" * 5000 + "}"),
    "deep": _raw_cursor("[" * 60 + "]" * 60),
    "NaN": _raw_cursor('{"seq": NaN}'),
    "not a dict": _cursor([1, 2]),
    "not base64": "!!!!",
    "not JSON": _raw_cursor("{"),
}
# Timestamps at the edge of the calendar: refused where a route reads a timestamp from its cursor,
# harmless (ignored) where it does not; never a 5xx.
EDGE_CURSORS = {
    "late edge": _cursor({"t": "9999-12-31T23:59:59-14:00", "id": "key_x", "seq": 1}),
    "early edge": _cursor({"t": "0001-01-01T00:00:00+14:00", "id": "key_x", "seq": 1}),
}


def _bodies(properties: dict[str, Any]) -> dict[str, bytes]:
    """Raw hostile bodies: each is refused however the route's schema reads it."""
    strings = {name: SURROGATE + "x" * 12 for name in properties} or {"name": SURROGATE}
    return {
        "surrogate in every field": json.dumps(strings).encode(),  # json.dumps escapes it as \\ud800
        "surrogate in a key": b'{"\\udc00": 1}',
        "100000 arrays deep": b"[" * 100_000 + b"]" * 100_000,
        "20000 objects deep": b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
        "5000-digit integer": json.dumps({name: 1 for name in properties}).replace("1", "9" * 5000).encode()
        if properties
        else b"9" * 5000,
        "infinite float": b'{"amount": 1e400}',
        "NaN": b'{"amount": NaN}',
        "not UTF-8": b'{"name": "\xed\xa0\x80"}',
    }


class Api:
    """An app on one SQL backend, with a user (API key) and an admin (Bearer) to call it."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client: FlaskClient = app.test_client()
        container = app.extensions["houston"]
        self.user = register(self.client)
        self.user_key = create_api_key(self.client, self.user["access_token"])["key"]
        self.admin = register_admin(self.client, container)
        self.engine = container.uow.engine
        self.spec = self.client.get("/openapi.json").get_json()
        # Real resources of the caller for the paged routes under a parent: a forged cursor there
        # must be refused as a cursor, not hidden behind a 404 for an unknown parent.
        headers = api_key_headers(self.user_key)
        workspace = self.client.post("/v1/workspaces", json={"name": "Hostile"}, headers=headers).get_json()
        session = self.client.post(f"/v1/workspaces/{workspace['id']}/chat/sessions", json={}, headers=headers)
        endpoint = self.client.post(
            "/v1/webhook-endpoints",
            json={"url": "https://example.com/hook", "events": ["payment.succeeded"]},
            headers=headers,
        ).get_json()
        self.path_values = {
            "workspace_id": workspace["id"],
            "session_id": session.get_json()["id"],
            "user_id": self.user["user"]["id"],
            "endpoint_id": endpoint["id"],
        }

    def headers(self, path: str) -> dict[str, str]:
        if path.startswith("/v1/admin/"):
            return auth_headers(self.admin["access_token"])
        return api_key_headers(self.user_key)

    def operations(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for path, item in self.spec["paths"].items():
            for method in METHODS:
                if method in item:
                    yield method, path, item[method]

    def body_properties(self, operation: dict[str, Any]) -> dict[str, Any]:
        schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
        if "$ref" in schema:
            schema = self.spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        return dict(schema.get("properties", {}))

    def url(self, path: str, value: str) -> str:
        for name in path.split("{")[1:]:
            path = path.replace("{" + name.split("}")[0] + "}", value)
        return path

    def real_url(self, path: str) -> str:
        """`path` with each parameter set to a resource the caller may see."""
        for name in path.split("{")[1:]:
            parameter = name.split("}")[0]
            path = path.replace("{" + parameter + "}", self.path_values[parameter])
        return path

    def row_counts(self) -> dict[str, int]:
        with self.engine.connect() as connection:
            return {
                table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
                for table in tables.metadata.sorted_tables
            }


@pytest.fixture
def api(sql_engine: Any) -> Api:
    return Api(sql_app(sql_engine))


def _assert_error_shape(response: Any, where: str) -> None:
    assert 400 <= response.status_code < 500, (where, response.status_code, response.get_data()[:300])
    assert response.mimetype == "application/json", where
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, (where, body)


def test_every_operation_refuses_hostile_json_bodies_with_400_and_writes_nothing(api: Api) -> None:
    before = api.row_counts()
    seen = 0
    for method, path, operation in api.operations():
        url = api.url(path, api.user["user"]["id"])
        for name, body in _bodies(api.body_properties(operation)).items():
            response = api.client.open(
                url,
                method=method.upper(),
                data=body,
                content_type="application/json",
                headers={**api.headers(path), "Idempotency-Key": f"hostile-{name}"},
            )
            where = f"{method.upper()} {path} with {name}"
            _assert_error_shape(response, where)
            assert response.status_code == 400, (where, response.get_json())
            seen += 1
    assert seen >= 8 * 15  # every payload on every operation (15 today)
    assert api.row_counts() == before


NOT_JSON_BODIES = {
    "text/plain": ("text/plain", b'{"amount_cents": 1, "name": "x", "title": "x", "content": "x"}'),
    "a form": ("application/x-www-form-urlencoded", b"amount_cents=1&name=x&title=x"),
    "JSON without a Content-Type": (None, b'{"amount_cents": 1, "name": "x", "title": "x", "content": "x"}'),
    "multipart": (
        "multipart/form-data; boundary=b",
        b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n--b--\r\n',
    ),
}


def test_every_operation_that_takes_a_body_refuses_other_media_types_with_415_and_writes_nothing(api: Api) -> None:
    """Issue 21 (12): webargs read a body of another media type as no body, so an all-optional route
    did its default (a text/plain refund of 1 cent refunded everything) and others said "Missing
    data" for every field. Every operation with a requestBody in the document, real ids in the path."""
    api.path_values["payment_id"] = api.path_values["user_id"]  # whatever the id, the body is refused first
    before = api.row_counts()
    seen = set()
    for method, path, operation in api.operations():
        if "requestBody" not in operation:
            continue
        url = api.real_url(path) if all(p in api.path_values for p in _parameters(path)) else api.url(path, "x_1")
        for name, (content_type, body) in NOT_JSON_BODIES.items():
            environ = {} if content_type is None else {"CONTENT_TYPE": content_type}
            response = api.client.open(
                url,
                method=method.upper(),
                data=body,
                environ_overrides=environ,
                headers={**api.headers(path), "Idempotency-Key": f"media-{name}"},
            )
            where = f"{method.upper()} {path} with {name}"
            _assert_error_shape(response, where)
            if path == "/v1/webhooks/stripe":  # verified on its raw bytes, whatever the media type
                assert response.get_json()["error"]["code"] == "invalid_signature", where
                continue
            assert response.status_code == 415, (where, response.get_json())
            error = response.get_json()["error"]
            assert error["code"] == "unsupported_media_type" and "must be JSON" in error["message"], (where, error)
            seen.add((method, path))
        for body in (b"null", b"[]", b'"refund"'):  # JSON, but not an object: never "do the default"
            response = api.client.open(
                url,
                method=method.upper(),
                data=body,
                content_type="application/json",
                headers={**api.headers(path), "Idempotency-Key": f"shape-{body!r}"},
            )
            _assert_error_shape(response, f"{method.upper()} {path} with {body!r}")
    assert len(seen) >= 20 and ("post", "/v1/admin/payments/{payment_id}/refund") in seen
    assert api.row_counts() == before


def _parameters(path: str) -> list[str]:
    return [name.split("}")[0] for name in path.split("{")[1:]]


def test_an_empty_body_still_reads_as_an_empty_object(api: Api) -> None:
    """Nothing sent, nothing misread: a chat session made with no body takes its defaults."""
    url = api.real_url("/v1/workspaces/{workspace_id}/chat/sessions")
    response = api.client.post(url, headers=api.headers(url))
    assert response.status_code == 201, response.get_json()


def test_every_operation_with_a_cursor_refuses_forged_cursors_with_422(api: Api) -> None:
    paged = [(m, p) for m, p, op in api.operations() if any(x["name"] == "cursor" for x in op.get("parameters", []))]
    assert len(paged) >= 3  # api-keys, transactions, admin users today
    for method, path in paged:
        for name, cursor in {**FORGED_CURSORS, **EDGE_CURSORS}.items():
            response = api.client.open(
                api.real_url(path), method=method.upper(), query_string={"cursor": cursor}, headers=api.headers(path)
            )
            where = f"{method.upper()} {path} with a cursor: {name}"
            if name in EDGE_CURSORS and response.status_code == 200:
                continue
            _assert_error_shape(response, where)
            assert response.status_code == 422 and "cursor" in response.get_json()["error"]["details"], where


def test_every_query_argument_takes_hostile_values_without_a_5xx(api: Api) -> None:
    values = {
        "5000 digits": "9" * 5000,
        "huge float": "1e400",
        "NUL": "a\x00b",
        "4000 characters": "x" * 4000,
        "undecodable": "\ufffd",
    }
    seen = 0
    for method, path, operation in api.operations():
        for parameter in (p for p in operation.get("parameters", []) if p["in"] == "query"):
            for name, value in values.items():
                response = api.client.open(
                    path, method=method.upper(), query_string={parameter["name"]: value}, headers=api.headers(path)
                )
                where = f"{method.upper()} {path}?{parameter['name']}= {name}"
                if response.status_code >= 400:
                    _assert_error_shape(response, where)
                assert response.status_code < 500, where
                seen += 1
    assert seen >= 5 * 6  # limit and cursor on three lists, kind, month today


def test_a_timestamp_cursor_at_the_edge_of_the_calendar_is_a_422(api: Api) -> None:
    for name, cursor in EDGE_CURSORS.items():
        response = api.client.get("/v1/api-keys", query_string={"cursor": cursor}, headers=api.headers("/v1/api-keys"))
        assert response.status_code == 422, (name, response.get_json())


def test_every_path_parameter_refuses_hostile_values_without_a_5xx(api: Api) -> None:
    before = api.row_counts()
    real_id = api.user["user"]["id"]
    values = {
        "upper-cased id": real_id.upper(),
        "trailing space": real_id + "%20",
        "undecodable bytes": "%ED%A0%80",
        "NUL": "a%00b",
        "4000 characters": "x" * 4000,
    }
    templated = [(m, p) for m, p, _ in api.operations() if "{" in p]
    assert templated
    for method, path in templated:
        for name, value in values.items():
            response = api.client.open(
                api.url(path, value),
                method=method.upper(),
                json={"amount": 5, "reason": "hostile"},
                headers={**api.headers(path), "Idempotency-Key": f"path-{name}"},
            )
            _assert_error_shape(response, f"{method.upper()} {path} with {name}")
    assert api.row_counts() == before


def test_a_surrogate_in_a_query_argument_or_path_parameter_is_a_422_naming_it(api: Api) -> None:
    # Werkzeug decodes undecodable percent-escapes to U+FFFD, so a lone surrogate reaches the app
    # only through the WSGI environ itself (another server, another decoder): test the hook directly.
    from werkzeug.datastructures import ImmutableMultiDict

    with api.app.test_request_context("/v1/credits/transactions"):
        request.args = ImmutableMultiDict([("kind", SURROGATE)])  # type: ignore[misc]
        response = reject_hostile_input()
        assert response is not None and response.status_code == 422
        assert response.get_json()["error"]["details"] == {"kind": NOT_TEXT}
    with api.app.test_request_context("/v1/api-keys/x", method="DELETE"):
        request.view_args = {"key_id": "key_" + SURROGATE}
        response = reject_hostile_input()
        assert response is not None and response.status_code == 422
        assert response.get_json()["error"]["details"] == {"key_id": NOT_TEXT}


def test_a_5000_character_stripe_signature_is_an_invalid_signature_not_a_validation_error(api: Api) -> None:
    """Issue 21 (12): a signature over 4,096 characters was `422 validation_error`; any bad signature is 400."""
    before = api.row_counts()
    for header in ("v1=" + "a" * 5000, "t=1," + "v1=ab," * 1000, "x" * 5000):
        response = api.client.post(
            "/v1/webhooks/stripe",
            data=b'{"id": "evt_1", "type": "x"}',
            content_type="application/json",
            headers={"Stripe-Signature": header},
        )
        _assert_error_shape(response, "a long Stripe-Signature")
        assert (response.status_code, response.get_json()["error"]["code"]) == (400, "invalid_signature")
    assert api.row_counts() == before
