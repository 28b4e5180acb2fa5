"""Issue 24's routes through the app: referrals, GDPR export and erasure, the owner's sales figures,
on every storage backend (GDPR and the figures need SQL storage: memory answers 503)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.fixtures.http import PASSWORD, auth_headers, login, me, new_email, register, register_admin


def _backend(app: Flask) -> str:
    return type(app.extensions["houston"].uow).__name__


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_json()
    body: dict[str, Any] = response.get_json()["error"]
    return body


def test_a_code_from_get_referrals_records_the_referral_at_registration(any_app: Flask) -> None:
    client: FlaskClient = any_app.test_client()
    referrer = register(client)
    headers = auth_headers(referrer["access_token"])
    mine = client.get("/v1/referrals", headers=headers).get_json()
    assert mine["link"].endswith(mine["code"]) and mine["referred_count"] == 0
    register(client, referral_code=mine["code"])
    register(client, referral_code=mine["code"].lower())  # codes are read case-insensitively
    again = client.get("/v1/referrals", headers=headers).get_json()
    assert again == {**mine, "referred_count": 2}  # the same code; nothing pending or earned at sign-up
    assert again["pending_credits"] == 0 and again["credits_earned"] == 0


def test_referrals_need_a_signed_in_caller(any_app: Flask) -> None:
    assert _error(any_app.test_client().get("/v1/referrals"), 401)["code"] == "unauthenticated"


def test_an_admin_sees_a_users_referral_abuse_signals(any_app: Flask) -> None:
    client = any_app.test_client()
    referrer = register(client, email=f"{new_email('ab').split('@')[0]}@gmail.com")
    code = client.get("/v1/referrals", headers=auth_headers(referrer["access_token"])).get_json()["code"]
    local, domain = referrer["user"]["email"].split("@")
    register(client, email=f"{local}+again@{domain}", referral_code=code)
    register(client, email=new_email("x").replace("example.com", "mailinator.com"), referral_code=code)
    path = f"/v1/admin/users/{referrer['user']['id']}/referrals"
    assert _error(client.get(path, headers=auth_headers(referrer["access_token"])), 403)["code"] == "forbidden"
    admin = register_admin(client, any_app.extensions["houston"])
    signals = client.get(path, headers=auth_headers(admin["access_token"])).get_json()
    assert signals["refused_by_reason"] == {"same_email": 1, "disposable_email": 1}
    assert signals["referred_count"] == 2


def test_export_is_one_json_download_of_the_callers_data(any_app: Flask) -> None:
    client = any_app.test_client()
    user = register(client, name="Ada")
    response = client.get("/v1/account/export", headers=auth_headers(user["access_token"]))
    if _backend(any_app) == "MemoryUnitOfWorkFactory":
        assert _error(response, 503)["code"] == "service_unavailable"
        return
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    document = response.get_json()
    assert document["profile"]["email"] == user["user"]["email"] and document["profile"]["name"] == "Ada"
    assert "password_hash" not in document["profile"]
    assert document["user_id"] == user["user"]["id"]


def test_erasure_needs_the_password_then_ends_the_account_and_frees_the_email(any_app: Flask) -> None:
    client = any_app.test_client()
    email = new_email()
    user = register(client, email=email)
    headers = auth_headers(user["access_token"])
    if _backend(any_app) == "MemoryUnitOfWorkFactory":
        assert _error(client.delete("/v1/account", json={"password": PASSWORD}, headers=headers), 503)
        return
    wrong = client.delete("/v1/account", json={"password": "not the password"}, headers=headers)
    assert _error(wrong, 401)["code"] == "invalid_credentials"
    assert _error(client.delete("/v1/account", json={}, headers=headers), 422)["code"] == "validation_error"
    assert client.delete("/v1/account", json={"password": PASSWORD}, headers=headers).status_code == 204
    assert me(client, headers, expect=401)["error"]["code"] == "token_revoked"  # the session ended at once
    login(client, email, expect=401)
    assert register(client, email=email)["user"]["id"] != user["user"]["id"]  # a new person


def test_sales_figures_are_for_admins_with_every_figure_of_api_md(any_app: Flask) -> None:
    client = any_app.test_client()
    user = register(client)
    response = client.get("/v1/admin/metrics", headers=auth_headers(user["access_token"]))
    assert _error(response, 403)["code"] == "forbidden"
    admin = register_admin(client, any_app.extensions["houston"])
    headers = auth_headers(admin["access_token"])
    bad = client.get("/v1/admin/metrics?interval=hour", headers=headers)
    assert _error(bad, 422)["code"] == "validation_error"
    response = client.get("/v1/admin/metrics?from=2026-01-01&to=2026-01-20&interval=week", headers=headers)
    if _backend(any_app) == "MemoryUnitOfWorkFactory":
        assert _error(response, 503)["code"] == "service_unavailable"
        return
    body = response.get_json()
    assert (body["from"][:19], body["to"][:19], body["interval"]) == (
        "2026-01-01T00:00:00",
        "2026-01-20T00:00:00",
        "week",
    )
    assert body["from"].endswith("Z")
    figures = {
        "cash_in_cents",
        "refunds_cents",
        "mrr_cents",
        "credits_sold",
        "credits_granted_free",
        "credits_consumed_paid",
        "credits_consumed_free",
        "credits_expired_paid",
        "paid_credit_liability",
        "new_users",
        "paying_users",
        "subscriptions_by_plan",
    }
    assert figures <= set(body["totals"])
    assert [p["start"][:10] for p in body["series"]] == ["2026-01-01", "2026-01-05", "2026-01-12", "2026-01-19"]
    assert body["totals"]["new_users"] >= 2  # the two registered here, on T0 (Jan 15)


def test_the_routes_are_in_the_openapi_document(any_app: Flask) -> None:
    paths = any_app.test_client().get("/openapi.json").get_json()["paths"]
    assert {"get"} <= set(paths["/v1/referrals"]) and {"delete"} <= set(paths["/v1/account"])
    assert "get" in paths["/v1/account/export"] and "get" in paths["/v1/admin/metrics"]
    assert "get" in paths["/v1/admin/users/{user_id}/referrals"]
