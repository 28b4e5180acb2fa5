"""Issue 21 (8): what the contract says beyond the routes — typed statuses, the document's own
description and servers, the 401 challenge, unknown routes, and a JSON body sent without a type."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.fixtures.http import auth_headers, register


def spec(client: FlaskClient) -> dict[str, Any]:
    return client.get("/openapi.json").get_json()  # type: ignore[no-any-return]


def test_goal_todo_and_task_statuses_are_typed_enums_in_the_document(client: FlaskClient) -> None:
    schemas = spec(client)["components"]["schemas"]
    expected = {
        "Goal": ["active", "done", "dropped"],
        "Todo": ["open", "in_progress", "done"],
        "Task": ["queued", "running", "succeeded", "failed", "cancelled"],
    }
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
        (path, method)
        for path, item in spec(client)["paths"].items()
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete") and "401" in op.get("responses", {})
    ]
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


# --- issue 21 (14): the document states what the service accepts ---------------------------------
def test_values_fixed_at_start_are_enums_taken_from_the_running_service(client: FlaskClient, container: Any) -> None:
    schemas = spec(client)["components"]["schemas"]
    assert schemas["Charge"]["properties"]["feature_key"]["enum"] == sorted(container.ledger.prices.prices)
    checkout = schemas["Checkout"]
    assert checkout["properties"]["pack_id"]["enum"][:-1] == [p.id for p in container.billing.packs()]
    assert checkout["properties"]["plan_id"]["enum"][:-1] == [p.id for p in container.billing.plans() if not p.is_free]
    assert [branch["required"] for branch in checkout["oneOf"]] == [["pack_id"], ["plan_id"]]
    assert schemas["SessionCreate"]["properties"]["coach"]["enum"][:-1] == sorted(container.coaching.coaches)


def test_every_id_parameter_and_cursor_has_a_pattern_that_real_values_match(client: FlaskClient) -> None:
    import re

    user = register(client)
    headers = auth_headers(user["access_token"])
    for n in (1, 2):
        client.post("/v1/api-keys", json={"name": f"k{n}"}, headers=headers)
    page = client.get("/v1/api-keys?limit=1", headers=headers).get_json()
    document = spec(client)
    ids = {"user_id": user["user"]["id"], "key_id": page["items"][0]["id"]}
    seen = 0
    for path, item in document["paths"].items():
        operations = [op for method, op in item.items() if method in ("get", "post", "put", "patch", "delete")]
        for parameter in item.get("parameters", []) + [p for op in operations for p in op.get("parameters", [])]:
            if parameter["in"] == "path":
                assert "pattern" in parameter["schema"], (path, parameter["name"])
                if parameter["name"] in ids:
                    assert re.match(parameter["schema"]["pattern"], ids[parameter["name"]]), path
                seen += 1
            elif parameter["name"] == "cursor":
                assert re.match(parameter["schema"]["pattern"], page["next_cursor"]), path
                seen += 1
        for op in operations:
            if any(p["name"] == "cursor" for p in op.get("parameters", [])):
                link = op["responses"]["200"]["links"]["next"]
                assert link["parameters"]["cursor"] == "$response.body#/next_cursor", path
    assert seen > 20
