"""Issue 21 (8): what the contract says beyond the routes — typed statuses, the document's own
description and servers, the 401 challenge, unknown routes, and a JSON body sent without a type."""
from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.e2e.api_client import auth_headers, register


def spec(client: FlaskClient) -> dict[str, Any]:
    return client.get("/openapi.json").get_json()  # type: ignore[no-any-return]


def test_goal_todo_and_task_statuses_are_typed_enums_in_the_document(client: FlaskClient) -> None:
    schemas = spec(client)["components"]["schemas"]
    expected = {"Goal": ["active", "done", "dropped"], "Todo": ["open", "in_progress", "done"],
                "Task": ["queued", "running", "succeeded", "failed", "cancelled"]}  # fmt: skip
    for name, values in expected.items():
        assert schemas[name]["properties"]["status"] == {"type": "string", "enum": values}, name


def test_the_document_has_a_description_and_a_server_that_works_on_any_port(client: FlaskClient) -> None:
    document = spec(client)
    assert "Idempotency-Key" in document["info"]["description"]
    assert "WWW-Authenticate" in document["info"]["description"]
    assert document["servers"] == [{"url": "/", "description": document["servers"][0]["description"]}]


def test_every_401_carries_a_challenge_and_the_document_says_so(client: FlaskClient) -> None:
    missing = client.get("/v1/me")
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == 'Bearer realm="houston"'
    bad = client.get("/v1/me", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401 and bad.headers["WWW-Authenticate"].startswith('Bearer realm="houston"')
    wrong = client.post("/v1/auth/login", json={"email": "nobody@example.com", "password": "wrong-password"})
    assert wrong.status_code == 401 and "WWW-Authenticate" in wrong.headers
    documented = [
        (path, method) for path, item in spec(client)["paths"].items() for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete") and
        "401" in op.get("responses", {})
    ]  # fmt: skip
    assert len(documented) > 20
    for path, method in documented:
        response = spec(client)["paths"][path][method]["responses"]["401"]
        assert "WWW-Authenticate" in response.get("headers", {}), (method, path)


def test_an_unknown_route_answers_a_short_message_in_the_error_shape(client: FlaskClient) -> None:
    response = client.get("/v1/no/such/route")
    assert response.status_code == 404
    error = response.get_json()["error"]
    assert error["code"] == "not_found" and len(error["message"]) < 70 and "spelling" not in error["message"]


def test_a_json_body_without_a_content_type_is_told_that_the_body_must_be_json(client: FlaskClient) -> None:
    response = client.post("/v1/auth/register", data=b'{"email": "a@example.com", "password": "long enough"}')
    assert response.status_code == 415
    error = response.get_json()["error"]
    assert error["code"] == "unsupported_media_type" and "must be JSON" in error["message"], error
    assert "Missing data" not in str(error)


def test_a_json_body_with_a_content_type_still_works(client: FlaskClient) -> None:
    user = register(client)
    response = client.patch("/v1/me", json={"name": "Grace"}, headers=auth_headers(user["access_token"]))
    assert response.status_code == 200 and response.get_json()["name"] == "Grace"
