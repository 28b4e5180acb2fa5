"""Teams over HTTP on SQLite (issue 23): every teams and workspace route with every role -- owner,
admin, member, viewer, a stranger, and a removed member whose access token is still valid --
against the policy's table (README "Teams"); then invitations, sessions per member, transfer, usage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.fixtures.apps import sql_app
from tests.fixtures.backends import sqlite_engine
from tests.fixtures.http import auth_headers, login, new_email, register

ROLES = ("owner", "admin", "member", "viewer", "stranger", "removed")


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    engine = sqlite_engine(tmp_path / "teams.db")
    yield sql_app(engine)
    engine.dispose()


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.get_json(silent=True))
    return response.get_json(silent=True)


class Team:
    """A workspace with one person of each role (plus a viewer `target` to act on)."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.ids: dict[str, str] = {}
        self.headers: dict[str, dict[str, str]] = {}
        for name in (*ROLES, "target"):
            email = new_email(name)
            body = register(client, email)
            self.ids[name], self.headers[name] = body["user"]["id"], auth_headers(body["access_token"])
            self.headers[name + ":email"] = {"email": email}
        self.ws = ok(client.post("/v1/workspaces", json={"name": "Acme"}, headers=self.headers["owner"]), 201)["id"]
        for name, role in (
            ("admin", "admin"),
            ("member", "member"),
            ("viewer", "viewer"),
            ("removed", "member"),
            ("target", "viewer"),
        ):
            self.join(name, role)
        ok(client.delete(f"/v1/workspaces/{self.ws}/members/{self.ids['removed']}", headers=self.headers["owner"]), 204)

    def join(self, name: str, role: str) -> None:
        invitation = ok(
            self.client.post(
                f"/v1/workspaces/{self.ws}/invitations",
                headers=self.headers["owner"],
                json={"email": self.headers[name + ":email"]["email"], "role": role},
            ),
            201,
        )
        ok(self.client.post(f"/v1/invitations/{invitation['id']}/accept", headers=self.headers[name]))

    def call(self, who: str, method: str, path: str, body: Any = None) -> int:
        response = self.client.open(
            path.format(ws=self.ws, **self.ids), method=method, json=body, headers=self.headers[who]
        )
        if response.status_code >= 400:
            error = response.get_json()["error"]
            assert set(error) == {"code", "message", "details"}
        return response.status_code


READ = {"owner": 200, "admin": 200, "member": 200, "viewer": 200, "stranger": 404, "removed": 404}
WRITE = {"owner": 201, "admin": 201, "member": 201, "viewer": 403, "stranger": 404, "removed": 404}
MANAGE = {"owner": 200, "admin": 200, "member": 403, "viewer": 403, "stranger": 404, "removed": 404}
OWN = {"owner": None, "admin": 403, "member": 403, "viewer": 403, "stranger": 404, "removed": 404}

# (method, path, body, expected status per role) -- none of these changes who is in the team
MATRIX = [
    ("GET", "/v1/workspaces/{ws}", None, READ),
    ("GET", "/v1/workspaces/{ws}/goals", None, READ),
    ("GET", "/v1/workspaces/{ws}/todos", None, READ),
    ("GET", "/v1/workspaces/{ws}/chat/sessions", None, READ),
    ("GET", "/v1/workspaces/{ws}/members", None, READ),
    ("GET", "/v1/workspaces/{ws}/usage", None, READ),
    ("GET", "/v1/workspaces/{ws}/usage?month=2026-01", None, READ),
    ("POST", "/v1/workspaces/{ws}/goals", {"title": "Ship"}, WRITE),
    ("POST", "/v1/workspaces/{ws}/todos", {"title": "Docs"}, WRITE),
    ("POST", "/v1/workspaces/{ws}/chat/sessions", {"title": "Mine"}, WRITE),
    (
        "POST",
        "/v1/tasks",
        {"type": "strategy", "workspace_id": "{ws}", "input": {}},
        {**WRITE, "owner": 202, "admin": 202, "member": 202},
    ),
    ("PATCH", "/v1/workspaces/{ws}", {"name": "Acme 2", "monthly_credit_limit": 500}, MANAGE),
    ("GET", "/v1/workspaces/{ws}/invitations", None, MANAGE),
    ("PATCH", "/v1/workspaces/{ws}/members/{target}", {"role": "viewer", "monthly_credit_limit": 9}, MANAGE),
    ("PATCH", "/v1/workspaces/{ws}/members/{owner}", {"role": "admin"}, {**MANAGE, "owner": 409, "admin": 409}),
    ("DELETE", "/v1/workspaces/{ws}/members/{owner}", None, {**MANAGE, "owner": 409, "admin": 409}),
    ("POST", "/v1/workspaces/{ws}/transfer", {"user_id": "{member}"}, {**OWN, "owner": 422}),  # not an admin
    ("DELETE", "/v1/workspaces/{ws}", None, {**OWN, "owner": None}),
]


def _fill(body: Any, team: Team) -> Any:
    if isinstance(body, dict):
        return {k: _fill(v, team) for k, v in body.items()}
    if isinstance(body, str):
        return body.format(ws=team.ws, **team.ids)
    return body


def test_every_route_answers_each_role_as_the_policy_says(app: Flask) -> None:
    client = app.test_client()
    team = Team(client)
    seen = {}
    for method, path, body, expected in MATRIX:
        for role in ROLES:
            if expected[role] is None:
                continue  # destructive for that role: covered by its own test below
            seen[(method, path, role)] = team.call(role, method, path, _fill(body, team))
    wanted = {(m, p, r): e[r] for m, p, _, e in MATRIX for r in ROLES if e[r] is not None}
    assert {k: v for k, v in seen.items() if v != wanted[k]} == {}


def test_inviting_removing_and_revoking_follow_the_policy_too(app: Flask) -> None:
    client = app.test_client()
    team = Team(client)
    invite = {"owner": 201, "admin": 201, "member": 403, "viewer": 403, "stranger": 404, "removed": 404}
    for role, status in invite.items():
        assert (
            team.call(role, "POST", "/v1/workspaces/{ws}/invitations", {"email": new_email(), "role": "member"})
            == status
        )
    pending = ok(
        client.post(
            f"/v1/workspaces/{team.ws}/invitations",
            headers=team.headers["owner"],
            json={"email": new_email(), "role": "viewer"},
        ),
        201,
    )
    revoke = f"/v1/workspaces/{{ws}}/invitations/{pending['id']}"
    for role, status in {"stranger": 404, "removed": 404, "member": 403, "viewer": 403, "admin": 204}.items():
        assert team.call(role, "DELETE", revoke) == status, role
    assert team.call("owner", "DELETE", revoke) == 409  # already revoked
    remove = "/v1/workspaces/{ws}/members/{target}"
    for role, status in {"stranger": 404, "removed": 404, "member": 403, "viewer": 403, "admin": 204}.items():
        assert team.call(role, "DELETE", remove) == status, role
    assert team.call("owner", "DELETE", remove) == 404  # gone already
    assert team.call("target", "GET", "/v1/workspaces/{ws}") == 404  # a removed member's token finds nothing


def test_a_member_leaves_by_deleting_themself_and_the_owner_cannot(app: Flask) -> None:
    team = Team(app.test_client())
    assert team.call("viewer", "DELETE", "/v1/workspaces/{ws}/members/{viewer}") == 204
    assert team.call("viewer", "GET", "/v1/workspaces/{ws}/goals") == 404
    assert team.call("owner", "DELETE", "/v1/workspaces/{ws}/members/{owner}") == 409


def test_the_owner_transfers_to_an_admin_and_becomes_one_and_only_the_owner_deletes(app: Flask) -> None:
    client = app.test_client()
    team = Team(client)
    moved = ok(
        client.post(
            f"/v1/workspaces/{team.ws}/transfer", json={"user_id": team.ids["admin"]}, headers=team.headers["owner"]
        )
    )
    assert (moved["owner_id"], moved["role"]) == (team.ids["admin"], "admin")
    assert team.call("owner", "DELETE", "/v1/workspaces/{ws}") == 403  # an admin now
    assert team.call("owner", "POST", "/v1/workspaces/{ws}/transfer", {"user_id": team.ids["owner"]}) == 403
    roles = {
        m["user_id"]: m["role"]
        for m in ok(client.get(f"/v1/workspaces/{team.ws}/members", headers=team.headers["admin"]))["items"]
    }
    assert roles[team.ids["admin"]] == "owner" and roles[team.ids["owner"]] == "admin"
    assert team.call("admin", "DELETE", "/v1/workspaces/{ws}") == 204
    assert team.call("owner", "GET", "/v1/workspaces/{ws}") == 404


def test_lists_show_owned_and_joined_workspaces_with_the_callers_role(app: Flask) -> None:
    client = app.test_client()
    team = Team(client)
    own = ok(client.post("/v1/workspaces", json={"name": "Mine"}, headers=team.headers["member"]), 201)
    listed = ok(client.get("/v1/workspaces", headers=team.headers["member"]))["items"]
    assert [(w["id"], w["role"]) for w in listed] == [(own["id"], "owner"), (team.ws, "member")]
    assert ok(client.get("/v1/workspaces", headers=team.headers["removed"]))["items"] == []


def test_invitations_are_the_invitees_expire_and_cannot_be_accepted_twice(app: Flask) -> None:
    client = app.test_client()
    team = Team(client)
    later = new_email("later")
    invitation = ok(
        client.post(
            f"/v1/workspaces/{team.ws}/invitations",
            headers=team.headers["admin"],
            json={"email": later.upper(), "role": "member"},
        ),
        201,
    )
    assert invitation["email"] == later and invitation["status"] == "pending"
    assert team.call("stranger", "POST", f"/v1/invitations/{invitation['id']}/accept") == 404  # not theirs
    newcomer = auth_headers(register(client, later)["access_token"])  # registers after the invitation
    mine = ok(client.get("/v1/invitations", headers=newcomer))["items"]
    assert [i["id"] for i in mine] == [invitation["id"]]
    ok(client.post(f"/v1/invitations/{invitation['id']}/accept", headers=newcomer))
    assert client.post(f"/v1/invitations/{invitation['id']}/accept", headers=newcomer).status_code == 409
    assert client.get(f"/v1/workspaces/{team.ws}/goals", headers=newcomer).status_code == 200
    late = ok(
        client.post(
            f"/v1/workspaces/{team.ws}/invitations",
            headers=team.headers["owner"],
            json={"email": team.headers["stranger:email"]["email"], "role": "viewer"},
        ),
        201,
    )
    app.extensions["houston"].clock.advance(days=7)
    stranger = auth_headers(
        login(client, team.headers["stranger:email"]["email"])["access_token"]
    )  # tokens expired too
    assert ok(client.get("/v1/invitations", headers=stranger))["items"] == []
    refused = client.post(f"/v1/invitations/{late['id']}/accept", headers=stranger)
    assert refused.status_code == 409 and refused.get_json()["error"]["details"] == {"status": "expired"}


def test_sessions_are_their_authors_and_owner_and_admins_read_them_all(app: Flask) -> None:
    client = app.test_client()
    team = Team(client)
    mine = ok(
        client.post(f"/v1/workspaces/{team.ws}/chat/sessions", json={"title": "m"}, headers=team.headers["member"]), 201
    )
    path = f"/v1/chat/sessions/{mine['id']}"
    assert {r: client.get(path, headers=team.headers[r]).status_code for r in ROLES} == {
        "owner": 200,
        "admin": 200,
        "member": 200,
        "viewer": 404,
        "stranger": 404,
        "removed": 404,
    }
    listed = {
        r: [
            s["id"] for s in ok(client.get(f"/v1/workspaces/{team.ws}/chat/sessions", headers=team.headers[r]))["items"]
        ]
        for r in ("admin", "viewer")
    }
    assert listed == {"admin": [mine["id"]], "viewer": []}
    talk = client.post(f"{path}/messages", json={"content": "hi"}, headers=team.headers["admin"])
    assert talk.status_code == 404  # nobody talks in someone else's session


def test_usage_shows_everyone_to_admins_and_ones_own_row_to_members(app: Flask) -> None:
    client = app.test_client()
    team = Team(client)
    ok(client.patch(f"/v1/workspaces/{team.ws}", json={"monthly_credit_limit": 1000}, headers=team.headers["owner"]))
    for role in ("member", "admin"):
        session = ok(client.post(f"/v1/workspaces/{team.ws}/chat/sessions", json={}, headers=team.headers[role]), 201)
        ok(
            client.post(
                f"/v1/chat/sessions/{session['id']}/messages",
                json={"content": "Plan my week"},
                headers=team.headers[role],
            ),
            201,
        )
    spent = ok(client.get("/v1/credits/balance", headers=team.headers["owner"]))
    admin_view = ok(client.get(f"/v1/workspaces/{team.ws}/usage", headers=team.headers["admin"]))
    member_view = ok(client.get(f"/v1/workspaces/{team.ws}/usage", headers=team.headers["member"]))
    assert admin_view["total"] == 100 - spent["balance"] == sum(admin_view["by_member"].values())
    assert set(admin_view["by_member"]) == {team.ids["member"], team.ids["admin"]}
    assert member_view["by_member"] == {team.ids["member"]: admin_view["by_member"][team.ids["member"]]}
    assert member_view["limit"] == admin_view["limit"] == 1000
    for role in ("member", "admin"):  # members' own balances were never touched
        assert ok(client.get("/v1/credits/balance", headers=team.headers[role]))["balance"] == 100
    assert client.get(f"/v1/workspaces/{team.ws}/usage?month=2026-13", headers=team.headers["owner"]).status_code == 422


def test_every_spending_route_refuses_past_a_cap_naming_the_level(app: Flask) -> None:
    client = app.test_client()
    team = Team(client)
    ws = team.ws
    session = ok(client.post(f"/v1/workspaces/{ws}/chat/sessions", json={}, headers=team.headers["member"]), 201)
    message = f"/v1/chat/sessions/{session['id']}/messages"
    task = {"type": "strategy", "workspace_id": ws, "input": {}}

    def refusal(path: str, body: Any) -> tuple[int, str]:
        response = client.post(path, json=body, headers=team.headers["member"])
        return response.status_code, response.get_json()["error"]["code"]

    ok(
        client.patch(
            f"/v1/workspaces/{ws}/members/{team.ids['member']}",
            json={"monthly_credit_limit": 0},
            headers=team.headers["admin"],
        )
    )
    assert refusal(message, {"content": "hi"}) == (402, "member_budget_exceeded")
    assert refusal("/v1/tasks", task) == (402, "member_budget_exceeded")
    ok(client.patch(f"/v1/workspaces/{ws}", json={"monthly_credit_limit": 0}, headers=team.headers["admin"]))
    ok(
        client.patch(
            f"/v1/workspaces/{ws}/members/{team.ids['member']}",
            json={"monthly_credit_limit": None},
            headers=team.headers["owner"],
        )
    )
    assert refusal(message, {"content": "hi"}) == (402, "workspace_budget_exceeded")
    assert refusal("/v1/tasks", task) == (402, "workspace_budget_exceeded")
    ok(client.patch(f"/v1/workspaces/{ws}", json={"monthly_credit_limit": None}, headers=team.headers["owner"]))
    ok(client.post("/v1/tasks", json=task, headers=team.headers["member"]), 202)
    usage = ok(client.get(f"/v1/workspaces/{ws}/usage", headers=team.headers["owner"]))
    assert usage["total"] > 0 and usage["by_member"] == {team.ids["member"]: usage["total"]}  # held, not yet captured
    assert ok(client.get("/v1/credits/balance", headers=team.headers["owner"]))["held"] == usage["total"]


def test_an_invitee_with_an_account_is_notified_once_in_the_app(app: Flask) -> None:
    client = app.test_client()
    team = Team(client)
    container = app.extensions["houston"]
    container.queue.clear()
    invitee = team.headers["stranger:email"]["email"]
    invitation = ok(
        client.post(
            f"/v1/workspaces/{team.ws}/invitations",
            json={"email": invitee, "role": "viewer"},
            headers=team.headers["owner"],
        ),
        201,
    )
    events = [job.payload for job in container.queue.jobs if job.name == "platform.event"]
    assert [(e["user_id"], e["event"]["type"]) for e in events] == [(team.ids["stranger"], "workspace.invitation")]
    for _ in range(2):  # a redelivered event notifies nobody twice
        container.platform_events.fan_out.handle(events[0]["user_id"], events[0]["event"])
    inbox = ok(client.get("/v1/notifications", headers=team.headers["stranger"]))["items"]
    assert [(n["type"], n["data"]["invitation_id"]) for n in inbox] == [("workspace_invitation", invitation["id"])]
    container.queue.clear()
    ok(
        client.post(
            f"/v1/workspaces/{team.ws}/invitations",
            json={"email": new_email("nobody"), "role": "viewer"},
            headers=team.headers["owner"],
        ),
        201,
    )
    assert [job.name for job in container.queue.jobs] == []  # no account yet: nobody to notify


def test_an_address_invited_before_it_had_an_account_is_told_at_sign_up_once_per_pending_invitation(
    app: Flask,
) -> None:
    client = app.test_client()
    team = Team(client)
    container = app.extensions["houston"]
    newcomer = new_email("newcomer")
    invitation = ok(
        client.post(
            f"/v1/workspaces/{team.ws}/invitations",
            json={"email": newcomer, "role": "member"},
            headers=team.headers["owner"],
        ),
        201,
    )
    other_ws = ok(client.post("/v1/workspaces", json={"name": "Other"}, headers=team.headers["admin"]), 201)["id"]
    revoked = ok(
        client.post(
            f"/v1/workspaces/{other_ws}/invitations",
            json={"email": newcomer, "role": "viewer"},
            headers=team.headers["admin"],
        ),
        201,
    )
    ok(client.delete(f"/v1/workspaces/{other_ws}/invitations/{revoked['id']}", headers=team.headers["admin"]), 204)
    container.queue.clear()

    body = register(client, newcomer)

    events = [job.payload for job in container.queue.jobs if job.name == "platform.event"]
    assert [(e["user_id"], e["event"]["type"], e["event"]["data"]["object"]["workspace_name"]) for e in events] == [
        (body["user"]["id"], "workspace.invitation", "Acme")
    ]  # the revoked one is not told
    for event in events:
        container.platform_events.fan_out.handle(event["user_id"], event["event"])
    inbox = ok(client.get("/v1/notifications", headers=auth_headers(body["access_token"])))["items"]
    assert [(n["type"], n["data"]["invitation_id"]) for n in inbox] == [("workspace_invitation", invitation["id"])]
