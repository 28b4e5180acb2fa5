"""The plumbing around the routes: the docs, the probes, request ids, and errors outside the views.

The identity tests already cover the 404 of an unknown /v1 route, 405 with Allow on
/v1/auth/login, malformed JSON and the echo of a valid X-Request-ID; this module does the rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.fixtures.http import auth_headers, error, register
from tests.fixtures.settings import make_settings

SECRET = "disk on fire at /srv/houston/prices.toml"


class BrokenPrices:
    """A price list that fails like a bug would: every use raises."""

    @property
    def prices(self) -> Any:
        raise RuntimeError(SECRET)

    def cost(self, feature_key: str, quantity: int) -> int:
        raise RuntimeError(SECRET)


@pytest.fixture
def sqlite_app(make_app: Callable[..., Flask], tmp_path: Path) -> Iterator[Callable[[str], Flask]]:
    """Build apps on real SQLite storage (the readiness probe only exists there); disposes engines."""
    engines: list[Any] = []

    def build(database_url: str) -> Flask:
        app = make_app(uow=None, settings=make_settings(database_url=database_url))
        engines.append(app.extensions["houston"].resources.engine)
        return app

    yield build
    for engine in engines:
        engine.dispose()


# --- docs ---------------------------------------------------------------------------------------
def test_docs_serve_the_swagger_ui_pointing_at_the_openapi_document(client: FlaskClient) -> None:
    response = client.get("/docs")
    assert (response.status_code, response.mimetype) == (200, "text/html")
    html = response.get_data(as_text=True)
    assert "SwaggerUIBundle" in html and 'url: "/openapi.json"' in html


def test_docs_assets_are_served_locally_not_from_a_cdn(client: FlaskClient) -> None:
    html = client.get("/docs").get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(assets) == 3, assets
    assert all(asset.startswith("/docs/assets/") for asset in assets), assets
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200 and len(response.data) > 1000, asset
        assert response.mimetype in ("text/css", "text/javascript", "application/javascript"), asset


def test_docs_assets_do_not_leave_their_directory(client: FlaskClient) -> None:
    assert client.get("/docs/assets/../app.py").status_code == 404
    assert client.get("/docs/assets/%2e%2e/%2e%2e/setup.cfg").status_code == 404


def test_the_openapi_document_describes_the_error_body(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    assert set(spec["components"]["schemas"]["ErrorDetail"]["required"]) == {"code", "message", "details"}
    charges = spec["paths"]["/v1/credits/charges"]["post"]["responses"]
    assert {"400", "401", "402", "409", "422"} <= set(charges)
    assert charges["402"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


# --- errors outside the views -------------------------------------------------------------------
@pytest.mark.parametrize(
    "method, path, kwargs, status, code",
    [
        ("get", "/nowhere", {}, 404, "not_found"),
        ("delete", "/v1/credits/balance", {}, 405, "method_not_allowed"),
        ("post", "/v1/auth/login", {"data": "{", "content_type": "application/json"}, 400, "bad_request"),
        ("get", "/v1/credits/balance", {}, 401, "unauthenticated"),
        ("post", "/v1/auth/login", {"json": {}}, 422, "validation_error"),
    ],
)
def test_every_error_is_json_in_the_contract_shape(
    client: FlaskClient, method: str, path: str, kwargs: dict[str, Any], status: int, code: str
) -> None:
    assert error(getattr(client, method)(path, **kwargs), status)["code"] == code


def test_a_405_on_a_credits_route_lists_the_allowed_methods(client: FlaskClient) -> None:
    response = client.delete("/v1/credits/balance")
    error(response, 405)
    assert {m.strip() for m in response.headers["Allow"].split(",")} == {"GET", "HEAD", "OPTIONS"}


def test_a_body_over_the_limit_is_413_payload_too_large(make_app: Callable[..., Flask]) -> None:
    client = make_app(settings=make_settings(max_content_length=1024)).test_client()
    body = {"email": "ada@example.com", "password": "p" * 2000}
    assert error(client.post("/v1/auth/register", json=body), 413)["code"] == "payload_too_large"
    assert client.post("/v1/auth/register", json={**body, "password": "p" * 20}).status_code == 201


def test_an_unexpected_exception_is_500_without_a_stack_trace(make_app: Callable[..., Flask]) -> None:
    client = make_app(prices=BrokenPrices()).test_client()
    response = client.get("/v1/credits/prices")
    assert error(response, 500) == {
        "code": "internal_error",
        "message": "Something went wrong on our side.",
        "details": {},
    }
    text = response.get_data(as_text=True)
    assert SECRET not in text and "Traceback" not in text and "RuntimeError" not in text
    assert response.headers["X-Request-ID"]


def test_a_failing_charge_is_500_and_leaves_the_balance_alone(make_app: Callable[..., Flask]) -> None:
    client = make_app(prices=BrokenPrices()).test_client()
    headers = auth_headers(register(client)["access_token"])
    response = client.post(
        "/v1/credits/charges", json={"feature_key": "api.call"}, headers={**headers, "Idempotency-Key": "k"}
    )
    assert error(response, 500)["code"] == "internal_error"
    assert client.get("/v1/credits/balance", headers=headers).get_json()["balance"] == 100


# --- probes -------------------------------------------------------------------------------------
def test_health_is_200_ok(client: FlaskClient) -> None:
    response = client.get("/health")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})


def test_ready_is_200_when_the_database_answers(sqlite_app: Callable[[str], Flask], tmp_path: Path) -> None:
    client = sqlite_app(f"sqlite:///{tmp_path / 'houston.db'}").test_client()
    response = client.get("/ready")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok", "checks": {"database": "ok"}})


def test_ready_is_503_naming_the_database_when_it_does_not_answer(
    sqlite_app: Callable[[str], Flask], tmp_path: Path
) -> None:
    client = sqlite_app(f"sqlite:///{tmp_path}").test_client()  # a directory: SQLite cannot open it
    err = error(client.get("/ready"), 503)
    assert (err["code"], err["details"]) == ("not_ready", {"database": "unavailable"})
    assert "database" in err["message"]
    assert client.get("/health").status_code == 200  # liveness touches no dependency


# --- request ids --------------------------------------------------------------------------------
@pytest.mark.parametrize("sent", [None, "", "has spaces", "x" * 129, "semi;colon"])
def test_a_missing_or_invalid_request_id_is_replaced_by_a_new_one(client: FlaskClient, sent: str | None) -> None:
    headers = {} if sent is None else {"X-Request-ID": sent}
    first = client.get("/health", headers=headers).headers["X-Request-ID"]
    second = client.get("/health", headers=headers).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", first) and first != second


def test_the_request_id_is_echoed_on_errors_too(client: FlaskClient) -> None:
    response = client.get("/nowhere", headers={"X-Request-ID": "trace-1:a.b_c"})
    error(response, 404)
    assert response.headers["X-Request-ID"] == "trace-1:a.b_c"
