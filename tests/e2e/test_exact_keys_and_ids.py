"""Ids, idempotency keys and token hashes compare byte for byte; emails stay case-insensitive.

On MariaDB a database created `utf8mb4_unicode_ci` made `Order-ABC-1` and `order-abc-1` one key
(a legitimate charge silently dropped) and let `USR_...` or `usr_... ` reach the real user. The
tables carry `utf8mb4_nopad_bin` now (migration 0002); these tests hold on SQLite and MariaDB.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.fixtures.apps import sql_app
from tests.fixtures.http import (
    api_key_headers,
    auth_headers,
    create_api_key,
    login,
    new_email,
    register,
    register_admin,
)


@pytest.fixture
def app(sql_engine: Any) -> Flask:
    return sql_app(sql_engine, api_keys_per_user=3)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _charge(client: FlaskClient, headers: dict[str, str], key: str) -> Any:
    response = client.post(
        "/v1/credits/charges", json={"feature_key": "coach.message"}, headers={**headers, "Idempotency-Key": key}
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_idempotency_keys_differing_only_in_case_are_two_charges(client: FlaskClient) -> None:
    headers = auth_headers(register(client)["access_token"])
    first = _charge(client, headers, "Order-ABC-1")
    second = _charge(client, headers, "order-abc-1")
    assert first["transaction"]["id"] != second["transaction"]["id"]
    assert second["balance"]["balance"] == first["balance"]["balance"] - 1
    assert _charge(client, headers, "Order-ABC-1") == first  # a true replay still replays


def test_idempotency_keys_differing_only_in_a_trailing_space_are_two_charges(app: Flask, client: FlaskClient) -> None:
    user_id = register(client)["user"]["id"]
    ledger = app.extensions["houston"].ledger
    first = ledger.charge(user_id, feature_key="coach.message", idempotency_key="order-7")
    second = ledger.charge(user_id, feature_key="coach.message", idempotency_key="order-7 ")
    assert first.entry is not None and second.entry is not None and first.entry.id != second.entry.id
    assert ledger.balance(user_id).balance == 98
    http = _charge(client, auth_headers(login(client, _email(app, user_id))["access_token"]), "order 7 ")
    assert http["balance"]["balance"] == 97


def _email(app: Flask, user_id: str) -> str:
    return str(app.extensions["houston"].identity.get_user(user_id).email)


@pytest.mark.parametrize("variant", ["upper", "trailing space", "trailing tab"])
def test_an_id_in_another_case_or_with_trailing_space_is_404(app: Flask, client: FlaskClient, variant: str) -> None:
    admin = auth_headers(register_admin(client, app.extensions["houston"])["access_token"])
    user = register(client)
    user_id = user["user"]["id"]
    forged = {"upper": user_id.upper(), "trailing space": user_id + "%20", "trailing tab": user_id + "%09"}[variant]
    body = {"amount": 5, "reason": "goodwill"}
    response = client.post(f"/v1/admin/users/{forged}/credits", json=body, headers={**admin, "Idempotency-Key": "a1"})
    assert response.status_code == 404, response.get_json()
    assert response.get_json()["error"]["code"] == "not_found"
    ok = client.post(f"/v1/admin/users/{user_id}/credits", json=body, headers={**admin, "Idempotency-Key": "a1"})
    assert ok.status_code == 201 and ok.get_json()["balance"]["balance"] == 105  # nothing else was granted

    key = create_api_key(client, user["access_token"])
    forged_key = {"upper": key["id"].upper(), "trailing space": key["id"] + "%20", "trailing tab": key["id"] + "%09"}
    response = client.delete(f"/v1/api-keys/{forged_key[variant]}", headers=auth_headers(user["access_token"]))
    assert response.status_code == 404
    assert client.get("/v1/me", headers=api_key_headers(key["key"])).status_code == 200  # not revoked


def test_secrets_in_another_case_are_not_accepted(client: FlaskClient) -> None:
    user = register(client)
    key = create_api_key(client, user["access_token"])["key"]
    swapped = key[:12] + key[12:].swapcase()
    assert client.get("/v1/me", headers=api_key_headers(swapped)).status_code == 401
    response = client.post("/v1/auth/refresh", json={"refresh_token": user["refresh_token"].swapcase()})
    assert response.status_code == 401


def test_emails_are_case_insensitive_on_every_path_that_reads_one(app: Flask, client: FlaskClient) -> None:
    local = new_email("Ada").split("@")[0]
    registered = register(client, f"  {local.upper()}@Example.COM ")
    assert registered["user"]["email"] == f"{local.lower()}@example.com"
    assert login(client, f"{local.lower()}@EXAMPLE.com")["user"]["id"] == registered["user"]["id"]
    taken = register(client, f"{local.lower()}@example.com", expect=409)
    assert taken["error"]["code"] == "email_taken"
    promoted = app.extensions["houston"].identity.create_admin(f"{local.title()}@example.COM", "")
    assert promoted.id == registered["user"]["id"] and promoted.role.value == "admin"


def test_api_keys_are_capped_per_user_and_revoking_frees_a_slot(client: FlaskClient) -> None:
    token = register(client)["access_token"]
    keys = [create_api_key(client, token, name=f"k{i}") for i in range(3)]  # the cap is 3 here
    refused = create_api_key(client, token, name="one too many", expect=409)
    assert refused["error"]["code"] == "api_key_limit_reached" and refused["error"]["details"] == {"limit": 3}
    assert client.delete(f"/v1/api-keys/{keys[0]['id']}", headers=auth_headers(token)).status_code == 204
    create_api_key(client, token, name="after a revocation")
    other = register(client)["access_token"]  # the cap is per user
    create_api_key(client, other)
