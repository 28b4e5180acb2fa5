"""The Identity routes of API.md through the real app: status codes, bodies and error shapes."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from domain.shared.clock import ManualClock
from entrypoints.bootstrap import Container
from tests.fixtures.http import (
    PASSWORD,
    api_key_headers,
    auth_headers,
    create_api_key,
    error,
    login,
    logout,
    me,
    new_email,
    refresh,
    register,
    register_admin,
)

USER_FIELDS = {"id", "email", "name", "role", "plan", "created_at"}
ACCESS_TTL = 15 * 60


def invalid_fields(response: Any) -> set[str]:
    """The fields a 422 names in its details."""
    return set(error(response, 422)["details"])


def refresh_error(client: FlaskClient, refresh_token: str) -> str:
    return error(client.post("/v1/auth/refresh", json={"refresh_token": refresh_token}), 401)["code"]  # type: ignore[no-any-return]


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


# --- register -----------------------------------------------------------------------------------
def test_register_answers_201_with_the_user_and_a_token_pair(client: FlaskClient) -> None:
    body = register(client, email=" Ada@Example.COM", name="Ada")
    assert set(body) == {"user", "access_token", "refresh_token", "token_type", "expires_in"}
    assert (body["token_type"], body["expires_in"]) == ("Bearer", ACCESS_TTL)
    assert set(body["user"]) == USER_FIELDS
    assert body["user"] | {"id": None} == {
        "id": None,
        "email": "ada@example.com",
        "name": "Ada",
        "role": "user",
        "plan": "free",
        "created_at": "2026-01-15T12:00:00.000000Z",
    }


def test_register_validation_errors_are_keyed_by_field(client: FlaskClient) -> None:
    err = error(client.post("/v1/auth/register", json={"email": "not-an-email", "password": "short"}), 422)
    assert err["code"] == "validation_error"
    assert set(err["details"]) == {"email", "password"}


def test_register_requires_email_and_password(client: FlaskClient) -> None:
    err = error(client.post("/v1/auth/register", json={}), 422)
    assert set(err["details"]) == {"email", "password"}


def test_register_refuses_unknown_fields(client: FlaskClient) -> None:
    body = {"email": new_email(), "password": PASSWORD, "role": "admin"}
    assert invalid_fields(client.post("/v1/auth/register", json=body)) == {"role"}


def test_register_accepts_a_referral_code_up_to_64_characters(client: FlaskClient) -> None:
    register(client, referral_code="r" * 64)
    body = {"email": new_email(), "password": PASSWORD, "referral_code": "r" * 65}
    assert invalid_fields(client.post("/v1/auth/register", json=body)) == {"referral_code"}


def test_a_password_of_129_characters_is_refused_not_cut(client: FlaskClient) -> None:
    email = new_email()
    err = error(client.post("/v1/auth/register", json={"email": email, "password": "p" * 129}), 422)
    assert set(err["details"]) == {"password"}
    register(client, email=email)  # nothing was stored under that email


def test_a_password_of_128_multibyte_characters_is_accepted_and_logs_in(client: FlaskClient) -> None:
    email, password = new_email(), "é" * 128  # 256 bytes: over bcrypt's 72
    user_id = register(client, email=email, password=password)["user"]["id"]
    assert login(client, email, password)["user"]["id"] == user_id
    error(client.post("/v1/auth/login", json={"email": email, "password": "é" * 127 + "e"}), 401)


def test_a_duplicate_email_in_another_case_is_409_email_taken(client: FlaskClient) -> None:
    email = new_email()
    register(client, email=email)
    err = error(client.post("/v1/auth/register", json={"email": email.upper(), "password": PASSWORD}), 409)
    assert err["code"] == "email_taken"


# --- login --------------------------------------------------------------------------------------
def test_login_answers_200_with_the_same_shape_as_register(client: FlaskClient) -> None:
    email = new_email()
    user = register(client, email=email)["user"]
    body = login(client, email.upper())
    assert body["user"] == user and body["token_type"] == "Bearer"
    assert me(client, auth_headers(body["access_token"]))["id"] == user["id"]


def test_wrong_password_and_unknown_email_give_the_same_401(client: FlaskClient) -> None:
    email = new_email()
    register(client, email=email)
    wrong = client.post("/v1/auth/login", json={"email": email, "password": "not the password"})
    unknown = client.post("/v1/auth/login", json={"email": new_email(), "password": PASSWORD})
    assert error(wrong, 401)["code"] == "invalid_credentials"
    assert unknown.status_code == 401 and unknown.get_json() == wrong.get_json()


def test_login_validation_errors_are_422(client: FlaskClient) -> None:
    err = error(client.post("/v1/auth/login", json={"email": "ada@example.com", "password": "p" * 129}), 422)
    assert set(err["details"]) == {"password"}


# --- access tokens ------------------------------------------------------------------------------
def test_me_without_credentials_is_401_unauthenticated(client: FlaskClient) -> None:
    assert error(client.get("/v1/me"), 401)["code"] == "unauthenticated"
    assert error(client.get("/v1/me", headers={"Authorization": "Basic abc"}), 401)["code"] == "unauthenticated"


def test_an_expired_access_token_is_401_token_expired(client: FlaskClient, clock: ManualClock) -> None:
    headers = auth_headers(register(client)["access_token"])
    clock.advance(seconds=ACCESS_TTL - 1)
    me(client, headers)
    clock.advance(seconds=1)
    assert error(client.get("/v1/me", headers=headers), 401)["code"] == "token_expired"


def test_a_tampered_access_token_is_401_unauthenticated(client: FlaskClient) -> None:
    header, payload, signature = register(client)["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged = ".".join([header, b64({**claims, "role": "admin"}), signature])
    assert error(client.get("/v1/me", headers=auth_headers(forged)), 401)["code"] == "unauthenticated"


def test_an_alg_none_access_token_is_401_unauthenticated(client: FlaskClient) -> None:
    payload = register(client)["access_token"].split(".")[1]
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{payload}."
    assert error(client.get("/v1/me", headers=auth_headers(unsigned)), 401)["code"] == "unauthenticated"


def test_garbage_in_the_bearer_header_is_401_unauthenticated(client: FlaskClient) -> None:
    assert error(client.get("/v1/me", headers=auth_headers("x" * 5000)), 401)["code"] == "unauthenticated"


# --- refresh and logout -------------------------------------------------------------------------
def test_refresh_returns_a_new_pair(client: FlaskClient) -> None:
    first = register(client)
    second = refresh(client, first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    assert second["user"] == first["user"]
    me(client, auth_headers(second["access_token"]))


def test_a_reused_refresh_token_revokes_the_family_even_the_newest(client: FlaskClient) -> None:
    first = register(client)
    newest = refresh(client, first["refresh_token"])
    assert refresh_error(client, first["refresh_token"]) == "token_revoked"
    assert refresh_error(client, newest["refresh_token"]) == "token_revoked"


def test_an_unknown_refresh_token_is_401_unauthenticated(client: FlaskClient) -> None:
    assert refresh_error(client, "never-issued") == "unauthenticated"


def test_an_expired_refresh_token_is_401_token_expired(client: FlaskClient, clock: ManualClock) -> None:
    token = register(client)["refresh_token"]
    clock.advance(days=30)
    assert refresh_error(client, token) == "token_expired"


def test_refresh_needs_a_refresh_token(client: FlaskClient) -> None:
    assert invalid_fields(client.post("/v1/auth/refresh", json={})) == {"refresh_token"}


def test_logout_is_204_and_the_refresh_token_stops_working(client: FlaskClient) -> None:
    token = register(client)["refresh_token"]
    response = client.post("/v1/auth/logout", json={"refresh_token": token})
    assert (response.status_code, response.data) == (204, b"")
    assert refresh_error(client, token) == "token_revoked"


def test_logout_with_an_unknown_token_is_204_too(client: FlaskClient) -> None:
    logout(client, "never-issued")


# --- me -----------------------------------------------------------------------------------------
def test_me_returns_exactly_the_documented_fields(client: FlaskClient) -> None:
    body = register(client, name="Ada")
    assert me(client, auth_headers(body["access_token"])) == body["user"]
    assert set(body["user"]) == USER_FIELDS


def test_patch_me_changes_the_name_and_keeps_it(client: FlaskClient) -> None:
    headers = auth_headers(register(client, name="Ada")["access_token"])
    response = client.patch("/v1/me", json={"name": "Ada L."}, headers=headers)
    assert response.status_code == 200 and response.get_json()["name"] == "Ada L."
    assert me(client, headers)["name"] == "Ada L."
    assert client.patch("/v1/me", json={}, headers=headers).get_json()["name"] == "Ada L."
    assert client.patch("/v1/me", json={"name": None}, headers=headers).get_json()["name"] is None


def test_patch_me_refuses_a_long_name_and_other_fields(client: FlaskClient) -> None:
    headers = auth_headers(register(client)["access_token"])
    assert invalid_fields(client.patch("/v1/me", json={"name": "n" * 201}, headers=headers)) == {"name"}
    assert invalid_fields(client.patch("/v1/me", json={"role": "admin"}, headers=headers)) == {"role"}
    assert me(client, headers)["role"] == "user"


def test_patch_me_needs_authentication(client: FlaskClient) -> None:
    assert error(client.patch("/v1/me", json={"name": "Eve"}), 401)["code"] == "unauthenticated"


# --- API keys -----------------------------------------------------------------------------------
def test_create_api_key_shows_the_key_once(client: FlaskClient) -> None:
    token = register(client)["access_token"]
    created = create_api_key(client, token, name="ci")
    assert set(created) == {"id", "name", "prefix", "key", "created_at", "last_used_at"}
    assert created["prefix"].startswith("hk_") and created["key"].startswith(created["prefix"] + "_")
    listed = client.get("/v1/api-keys", headers=auth_headers(token)).get_json()
    assert [set(k) for k in listed["items"]] == [{"id", "name", "prefix", "created_at", "last_used_at"}]
    assert created["key"] not in json.dumps(listed)


def test_an_api_key_authenticates_as_its_owner(client: FlaskClient) -> None:
    body = register(client)
    key = create_api_key(client, body["access_token"])["key"]
    assert me(client, api_key_headers(key))["id"] == body["user"]["id"]


def test_a_wrong_api_key_is_401(client: FlaskClient) -> None:
    assert error(client.get("/v1/me", headers=api_key_headers("hk_deadbeef_nope")), 401)["code"] == "unauthenticated"


def test_a_deleted_api_key_stops_working_at_once(client: FlaskClient) -> None:
    token = register(client)["access_token"]
    created = create_api_key(client, token)
    me(client, api_key_headers(created["key"]))
    response = client.delete(f"/v1/api-keys/{created['id']}", headers=auth_headers(token))
    assert (response.status_code, response.data) == (204, b"")
    assert error(client.get("/v1/me", headers=api_key_headers(created["key"])), 401)["code"] == "unauthenticated"
    assert client.get("/v1/api-keys", headers=auth_headers(token)).get_json()["items"] == []
    again = client.delete(f"/v1/api-keys/{created['id']}", headers=auth_headers(token))
    assert error(again, 404)["code"] == "not_found"


def test_deleting_another_users_api_key_is_404_and_it_keeps_working(client: FlaskClient) -> None:
    created = create_api_key(client, register(client)["access_token"])
    intruder = register(client)["access_token"]
    response = client.delete(f"/v1/api-keys/{created['id']}", headers=auth_headers(intruder))
    assert error(response, 404)["code"] == "not_found"
    me(client, api_key_headers(created["key"]))


def test_api_keys_are_listed_in_keyset_pages(client: FlaskClient, clock: ManualClock) -> None:
    token = register(client)["access_token"]
    ids = []
    for n in range(3):
        ids.append(create_api_key(client, token, name=f"k{n}")["id"])
        clock.advance(seconds=1)
    first = client.get("/v1/api-keys?limit=2", headers=auth_headers(token)).get_json()
    next_page = f"/v1/api-keys?limit=2&cursor={first['next_cursor']}"
    second = client.get(next_page, headers=auth_headers(token)).get_json()
    assert [k["id"] for k in first["items"] + second["items"]] == ids
    assert second["next_cursor"] is None


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=x", "cursor=bm90LWpzb24"])
def test_bad_page_arguments_are_422(client: FlaskClient, query: str) -> None:
    token = register(client)["access_token"]
    err = error(client.get(f"/v1/api-keys?{query}", headers=auth_headers(token)), 422)
    assert set(err["details"]) == {query.split("=")[0]}


def test_create_api_key_validates_the_name(client: FlaskClient) -> None:
    headers = auth_headers(register(client)["access_token"])
    assert invalid_fields(client.post("/v1/api-keys", json={}, headers=headers)) == {"name"}
    assert invalid_fields(client.post("/v1/api-keys", json={"name": "n" * 101}, headers=headers)) == {"name"}


def test_api_key_routes_need_authentication(client: FlaskClient) -> None:
    assert error(client.get("/v1/api-keys"), 401)["code"] == "unauthenticated"
    assert error(client.post("/v1/api-keys", json={"name": "ci"}), 401)["code"] == "unauthenticated"
    assert error(client.delete("/v1/api-keys/key_x"), 401)["code"] == "unauthenticated"


# --- admin --------------------------------------------------------------------------------------
def test_the_admin_user_list_is_refused_to_a_user(client: FlaskClient) -> None:
    headers = auth_headers(register(client)["access_token"])
    assert error(client.get("/v1/admin/users", headers=headers), 403)["code"] == "forbidden"


def test_the_admin_user_list_is_refused_to_a_users_api_key(client: FlaskClient) -> None:
    key = create_api_key(client, register(client)["access_token"])["key"]
    assert error(client.get("/v1/admin/users", headers=api_key_headers(key)), 403)["code"] == "forbidden"


def test_an_admin_lists_users_in_keyset_pages(client: FlaskClient, container: Container) -> None:
    user = register(client)["user"]
    admin = register_admin(client, container)
    headers = auth_headers(admin["access_token"])
    first = client.get("/v1/admin/users?limit=1", headers=headers).get_json()
    second = client.get(f"/v1/admin/users?limit=1&cursor={first['next_cursor']}", headers=headers).get_json()
    assert [u["id"] for u in first["items"] + second["items"]] == [user["id"], admin["user"]["id"]]
    assert set(first["items"][0]) == USER_FIELDS | {"balance", "available"}  # issue 15: with the balance
    assert second["items"][0]["role"] == "admin"


# --- plumbing -----------------------------------------------------------------------------------
def test_the_request_id_is_echoed(client: FlaskClient) -> None:
    body = {"email": new_email(), "password": PASSWORD}
    response = client.post("/v1/auth/login", json=body, headers={"X-Request-ID": "req-42"})
    assert response.headers["X-Request-ID"] == "req-42"
    assert client.get("/v1/me").headers["X-Request-ID"]  # made up when the client sent none


def test_an_unknown_route_is_404_in_the_error_shape(client: FlaskClient) -> None:
    assert error(client.get("/v1/auth/nowhere"), 404)["code"] == "not_found"


def test_a_wrong_method_is_405_in_the_error_shape(client: FlaskClient) -> None:
    response = client.get("/v1/auth/login")
    assert error(response, 405)["code"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


def test_malformed_json_is_400_bad_request(client: FlaskClient) -> None:
    response = client.post("/v1/auth/login", data="{", content_type="application/json")
    assert error(response, 400)["code"] == "bad_request"


def test_the_openapi_document_describes_every_identity_route(client: FlaskClient) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]
    expected = {
        "/v1/auth/register": {"post"},
        "/v1/auth/login": {"post"},
        "/v1/auth/refresh": {"post"},
        "/v1/auth/logout": {"post"},
        "/v1/me": {"get", "patch"},
        "/v1/api-keys": {"get", "post"},
        "/v1/api-keys/{key_id}": {"delete"},
        "/v1/admin/users": {"get"},
    }
    assert {path: set(paths[path]) & {"get", "post", "patch", "delete"} for path in expected} == expected
    assert paths["/v1/me"]["get"]["security"] and "security" not in paths["/v1/auth/login"]["post"]
