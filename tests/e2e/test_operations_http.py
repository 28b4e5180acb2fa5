"""Login history, audit log, admin search and role changes over HTTP (issue 15)."""

from __future__ import annotations

from flask.testing import FlaskClient

from entrypoints.bootstrap import Container
from tests.fixtures.http import auth_headers, create_api_key, error, login, new_email, register, register_admin

BROWSER = {"User-Agent": "Mozilla/5.0 (test)"}


def test_a_user_sees_their_own_login_attempts_newest_first(client: FlaskClient) -> None:
    user = register(client)
    email = user["user"]["email"]
    client.post(
        "/v1/auth/login",
        json={"email": email, "password": "not the password"},
        headers=BROWSER,
        environ_base={"REMOTE_ADDR": "198.51.100.9"},
    )
    login(client, email)
    body = client.get("/v1/me/logins", headers=auth_headers(user["access_token"])).get_json()
    assert [(i["success"], i["reason"]) for i in body["items"]] == [(True, None), (False, "wrong_password")]
    failed = body["items"][1]
    assert (failed["ip"], failed["user_agent"], failed["event"]) == ("198.51.100.9", BROWSER["User-Agent"], "login")
    assert failed["at"].endswith("Z") and body["next_cursor"] is None


def test_another_users_logins_are_for_admins_only(client: FlaskClient, container: Container) -> None:
    user = register(client)
    login(client, user["user"]["email"])
    other = register(client)
    path = f"/v1/admin/users/{user['user']['id']}/logins"
    assert error(client.get(path, headers=auth_headers(other["access_token"])), 403)["code"] == "forbidden"
    admin = register_admin(client, container)
    items = client.get(path, headers=auth_headers(admin["access_token"])).get_json()["items"]
    assert len(items) == 1 and items[0]["success"] is True
    missing = client.get("/v1/admin/users/usr_missing/logins", headers=auth_headers(admin["access_token"]))
    assert error(missing, 404)["code"] == "not_found"


def test_the_audit_log_shows_admin_actions_and_security_events(client: FlaskClient, container: Container) -> None:
    user = register(client)
    key = create_api_key(client, user["access_token"], name="ci")
    admin = register_admin(client, container)
    headers = auth_headers(admin["access_token"])
    adjust = client.post(
        f"/v1/admin/users/{user['user']['id']}/credits",
        json={"amount": 25, "reason": "goodwill"},
        headers={**headers, "Idempotency-Key": "adj-1"},
    )
    assert adjust.status_code == 201
    by_admin = client.get(f"/v1/admin/audit?actor={admin['user']['id']}", headers=headers).get_json()["items"]
    assert [(r["action"], r["subject_id"], r["details"]) for r in by_admin] == [
        ("credits.adjusted", user["user"]["id"], {"amount": 25, "reason": "goodwill"})
    ]
    by_user = client.get(f"/v1/admin/audit?actor={user['user']['id']}&action=api_key.created", headers=headers)
    [created] = by_user.get_json()["items"]
    assert created["subject_id"] == key["id"] and key["key"] not in str(created)
    assert error(client.get("/v1/admin/audit", headers=auth_headers(user["access_token"])), 403)["code"] == "forbidden"


def test_a_refused_adjustment_leaves_no_audit_record(client: FlaskClient, container: Container) -> None:
    user = register(client)
    admin = register_admin(client, container)
    headers = {**auth_headers(admin["access_token"]), "Idempotency-Key": "adj-2"}
    refused = client.post(
        f"/v1/admin/users/{user['user']['id']}/credits", json={"amount": -1000, "reason": "too much"}, headers=headers
    )
    assert refused.status_code == 402
    audit = client.get(f"/v1/admin/audit?subject={user['user']['id']}", headers=auth_headers(admin["access_token"]))
    assert audit.get_json()["items"] == []


def test_admin_search_by_email_prefix_plan_and_role_with_balance(client: FlaskClient, container: Container) -> None:
    stem = new_email("pat").split("@")[0]
    user = register(client, f"{stem}@example.com")
    admin = register_admin(client, container)
    headers = auth_headers(admin["access_token"])
    [found] = client.get(f"/v1/admin/users?q={stem[:12]}", headers=headers).get_json()["items"]
    assert (found["id"], found["plan"], found["balance"], found["available"]) == (user["user"]["id"], "free", 100, 100)
    assert client.get(f"/v1/admin/users?q={stem}&plan=pro", headers=headers).get_json()["items"] == []
    admins = client.get("/v1/admin/users?role=admin", headers=headers).get_json()["items"]
    assert [a["id"] for a in admins] == [admin["user"]["id"]]
    assert error(client.get("/v1/admin/users?role=owner", headers=headers), 422)["details"] == {
        "role": "Must be one of: user, admin."
    }


def test_an_admin_changes_a_role_and_the_change_applies_at_once(client: FlaskClient, container: Container) -> None:
    user = register(client)
    admin = register_admin(client, container)
    headers = auth_headers(admin["access_token"])
    promoted = client.patch(f"/v1/admin/users/{user['user']['id']}", json={"role": "admin"}, headers=headers)
    assert promoted.status_code == 200 and promoted.get_json()["role"] == "admin"
    assert client.get("/v1/admin/audit", headers=auth_headers(user["access_token"])).status_code == 200
    [record] = client.get("/v1/admin/audit?action=user.role_changed", headers=headers).get_json()["items"]
    assert record["details"] == {"from": "user", "to": "admin"} and record["actor_id"] == admin["user"]["id"]


def test_the_last_admin_cannot_be_demoted(client: FlaskClient, container: Container) -> None:
    admin = register_admin(client, container)
    path = f"/v1/admin/users/{admin['user']['id']}"
    refused = client.patch(path, json={"role": "user"}, headers=auth_headers(admin["access_token"]))
    assert error(refused, 409)["code"] == "last_admin"
    assert client.get("/v1/me", headers=auth_headers(admin["access_token"])).get_json()["role"] == "admin"


def test_role_changes_are_for_admins_and_known_users_only(client: FlaskClient, container: Container) -> None:
    user = register(client)
    own = client.patch(
        f"/v1/admin/users/{user['user']['id']}", json={"role": "admin"}, headers=auth_headers(user["access_token"])
    )
    assert error(own, 403)["code"] == "forbidden"
    admin = register_admin(client, container)
    headers = auth_headers(admin["access_token"])
    assert error(client.patch("/v1/admin/users/usr_nope", json={"role": "user"}, headers=headers), 404)
    bad = client.patch(f"/v1/admin/users/{user['user']['id']}", json={"role": "root"}, headers=headers)
    assert "role" in error(bad, 422)["details"]  # type: ignore[operator]


def test_login_history_needs_credentials(client: FlaskClient) -> None:
    assert error(client.get("/v1/me/logins"), 401)["code"] == "unauthenticated"
