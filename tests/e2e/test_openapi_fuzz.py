"""Schemathesis walks every operation of /openapi.json in process (no server) and checks each answer.

One app for the module (memory storage, a ManualClock at T0, so tokens never expire mid-run),
with a funded user who calls through an API key and an admin who calls the admin routes with a
Bearer token. Every built-in check runs (5xx, response schemas, status codes, content types,
headers, negative and positive data, ignored auth, 405 and Allow), plus the two below: every
error body has API.md's shape, and every route-specific error status is listed on its operation.

The run is seeded, so `make test` sees the same cases each time; set HOUSTON_FUZZ_SEED to explore
others (for example HOUSTON_FUZZ_SEED=$RANDOM). Hypothesis writes .hypothesis/ and Schemathesis
.schemathesis/ into the working directory; both are gitignored.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import schemathesis
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings

from adapters.memory.uow import MemoryUnitOfWorkFactory
from adapters.queue.recording import RecordingJobQueue
from domain.platform.notifications_model import optional
from domain.shared.clock import ManualClock
from domain.shared.pagination import encode_cursor
from entrypoints.bootstrap import bootstrap
from entrypoints.http.app import create_app
from tests.fixtures.http import api_key_headers, auth_headers, create_api_key, login, register, register_admin
from tests.fixtures.settings import T0, make_settings

SEED = int(os.environ.get("HOUSTON_FUZZ_SEED", "20260115"))
SQL_ONLY_PATHS = r"^/v1/(account|account/export|admin/metrics)$"
# Statuses any route may answer, documented once by the `default` response. Every other error
# status must be listed on the operation itself: the built-in status_code_conformance accepts
# anything once `default` is there, so it could not tell a forgotten 401 or 404.
GENERIC_ERRORS = {405, 413, 429, 500, 503}


def _build_app() -> Any:
    """What the e2e `make_app` fixture builds, once for the module (fixtures are per test)."""
    queue = RecordingJobQueue()
    container = bootstrap(make_settings(), clock=ManualClock(T0), queue=queue, uow=MemoryUnitOfWorkFactory(queue=queue))
    app = create_app(container)
    app.testing = True
    return app


APP = _build_app()
_client: FlaskClient = APP.test_client()
_container = APP.extensions["houston"]
USER = register(_client)
USER_KEY = create_api_key(_client, USER["access_token"])["key"]
create_api_key(_client, USER["access_token"], name="second")  # so /v1/api-keys has a second page
ADMIN = register_admin(_client, _container)
# Enough that schema-valid charges (any priced feature, at most 10**6 units) never run out in a run,
# and that an admin adjustment of -10**12 (the largest the schema allows) still finds its credits.
for _n in range(3):  # a grant is at most 10**12
    _container.ledger.grant(USER["user"]["id"], source="promo", amount=10**12, idempotency_key=f"fuzz-funds-{_n}")
# Billing: two checkouts so /v1/billing/payments has a second page.
for _pack in ("pack_100", "pack_500"):
    _container.billing.checkout(USER["user"]["id"], pack_id=_pack, success_url="http://x/ok", cancel_url="http://x/no")


def _second_page_cursor(path: str, headers: dict[str, str]) -> str:
    cursor = _client.get(f"{path}?limit=1", headers=headers).get_json()["next_cursor"]
    assert cursor, path
    return cursor  # type: ignore[no-any-return]


REAL_CURSORS = {
    "/v1/credits/transactions": _second_page_cursor("/v1/credits/transactions", api_key_headers(USER_KEY)),
    "/v1/api-keys": _second_page_cursor("/v1/api-keys", api_key_headers(USER_KEY)),
    "/v1/admin/users": _second_page_cursor("/v1/admin/users", auth_headers(ADMIN["access_token"])),
    "/v1/billing/payments": _second_page_cursor("/v1/billing/payments", api_key_headers(USER_KEY)),
}
# Two sign-ins of USER, and the audit records of its two API keys: second pages exist (issue 15).
login(_client, USER["user"]["email"]), login(_client, USER["user"]["email"])
REAL_CURSORS["/v1/me/logins"] = _second_page_cursor("/v1/me/logins", api_key_headers(USER_KEY))
REAL_CURSORS["/v1/admin/users/{user_id}/logins"] = REAL_CURSORS["/v1/me/logins"]
REAL_CURSORS["/v1/admin/audit"] = _second_page_cursor("/v1/admin/audit", auth_headers(ADMIN["access_token"]))

# Coaching (issue 14): two of everything, so every list has a second page; positive cases get a
# real id for half of their path ids (the other half stays random: 404) and real references.
_coach = _container.coaching
_WS = [_coach.create_workspace(USER["user"]["id"], name=f"fuzz {n}") for n in (1, 2)]
COACHING_IDS = {"workspace_id": _WS[0].id}
_goals = [_coach.create_goal(USER["user"]["id"], _WS[0].id, {"title": f"goal {n}"}) for n in (1, 2)]
_todos = [_coach.create_todo(USER["user"]["id"], _WS[0].id, {"title": f"todo {n}"}) for n in (1, 2)]
_sessions = [_coach.create_session(USER["user"]["id"], _WS[0].id) for _ in (1, 2)]
_coach.send_message(USER["user"]["id"], _sessions[0].id, "first")
_tasks = [_coach.create_task(USER["user"]["id"], type="strategy", workspace_id=_WS[0].id, input={}) for _ in (1, 2)]
COACHING_IDS.update(goal_id=_goals[0].id, todo_id=_todos[0].id, session_id=_sessions[0].id, task_id=_tasks[0].id)
_user_headers = api_key_headers(USER_KEY)
REAL_CURSORS.update(
    {
        "/v1/workspaces": _second_page_cursor("/v1/workspaces", _user_headers),
        "/v1/workspaces/{workspace_id}/goals": _second_page_cursor(f"/v1/workspaces/{_WS[0].id}/goals", _user_headers),
        "/v1/workspaces/{workspace_id}/todos": _second_page_cursor(f"/v1/workspaces/{_WS[0].id}/todos", _user_headers),
        "/v1/workspaces/{workspace_id}/chat/sessions": _second_page_cursor(
            f"/v1/workspaces/{_WS[0].id}/chat/sessions", _user_headers
        ),
        "/v1/chat/sessions/{session_id}": _second_page_cursor(f"/v1/chat/sessions/{_sessions[0].id}", _user_headers),
        "/v1/tasks": _second_page_cursor("/v1/tasks", _user_headers),
    }
)

# Webhooks and notifications (issue 22): two endpoints and two notifications (second pages), real
# ids for half the cases, public URLs, and no turning off of what cannot be turned off.
_platform = _container.platform_events
_platform.webhooks.config = replace(_platform.webhooks.config, endpoints_per_user=10**6)
_ENDPOINTS = [
    _platform.webhooks.create(USER["user"]["id"], f"https://example.com/hook/{n}", ["payment.succeeded"], None)
    for n in (1, 2)
]
for _n in (1, 2):
    with _container.uow() as _uow:
        _platform.notifications.notify(
            _uow, USER["user"]["id"], "task_finished", title="t", body="b", dedupe_key=f"fuzz{_n}"
        )
        _uow.commit()
_NOTES = _platform.notifications.inbox(USER["user"]["id"], unread_only=False, limit=2, cursor=None)[0].items
PLATFORM_IDS = {"endpoint_id": _ENDPOINTS[0].id, "notification_id": _NOTES[0].id}
REAL_CURSORS.update(
    {
        "/v1/webhook-endpoints": _second_page_cursor("/v1/webhook-endpoints", _user_headers),
        "/v1/notifications": _second_page_cursor("/v1/notifications", _user_headers),
        "/v1/webhook-endpoints/{endpoint_id}/deliveries": encode_cursor({"id": "wha_0"}),
    }
)


def _platform_runtime_values(case: Any) -> None:
    for name, real in PLATFORM_IDS.items():
        if name in (case.path_parameters or {}) and len(case.path_parameters[name]) % 2:
            case.path_parameters[name] = real
    if isinstance(case.body, dict) and case.operation.path.startswith("/v1/webhook-endpoints") and "url" in case.body:
        case.body["url"] = "https://example.com/hook"
    if case.operation.path == "/v1/me/notification-preferences" and isinstance(case.body, dict):
        for locked in [t for t in case.body if not optional(t)]:
            case.body.pop(locked)
    if case.operation.path == "/v1/notifications/unsubscribe" and isinstance(case.query, dict):
        case.query["token"] = _platform.notifications._token(USER["user"]["id"], "task_finished")


def _coaching_runtime_values(case: Any) -> None:
    for name, real in COACHING_IDS.items():
        if name in (case.path_parameters or {}) and len(case.path_parameters[name]) % 2:
            case.path_parameters[name] = real
    if isinstance(case.body, dict):
        if "goal_id" in case.body and case.body["goal_id"] is not None:
            case.body["goal_id"] = _goals[1].id  # a goal of the workspace the real ids point at
        if "workspace_id" in case.body:
            case.body["workspace_id"] = _WS[1].id  # never deleted by a fuzzed DELETE of the first
    if isinstance(case.query, dict) and case.query.get("goal_id") is not None:
        case.query["goal_id"] = _goals[1].id


# Teams (issue 23): two invitations out of the first workspace, two to USER from someone else's
# workspaces, a member in the first workspace (second pages everywhere); real ids for half the cases.
_teammate = register(_client)
for _n in (1, 2):
    _coach.invite(USER["user"]["id"], _WS[0].id, email=f"fuzz-invitee-{_n}@example.com", role="viewer")
_inviter = register(_client)
_theirs = [_coach.create_workspace(_inviter["user"]["id"], name=f"theirs {n}") for n in (1, 2, 3)]
_to_user = [_coach.invite(_inviter["user"]["id"], w.id, email=USER["user"]["email"], role="member") for w in _theirs]
_joined = _coach.invite(USER["user"]["id"], _WS[0].id, email=_teammate["user"]["email"], role="member")
_coach.respond_to_invitation(_teammate["user"]["id"], _joined.id, accept=True)
TEAM_IDS = {"invitation_id": _to_user[0].id, "user_id": _teammate["user"]["id"]}
REAL_CURSORS.update(
    {
        "/v1/workspaces/{workspace_id}/invitations": _second_page_cursor(
            f"/v1/workspaces/{_WS[0].id}/invitations", _user_headers
        ),
        "/v1/invitations": _second_page_cursor("/v1/invitations", _user_headers),
        "/v1/workspaces/{workspace_id}/members": _second_page_cursor(
            f"/v1/workspaces/{_WS[0].id}/members", _user_headers
        ),
    }
)


def _teams_runtime_values(case: Any) -> None:
    path = case.operation.path
    if not (path.startswith("/v1/invitations/") or path.startswith("/v1/workspaces/{workspace_id}/")):
        return
    for name, real in TEAM_IDS.items():
        if name in (case.path_parameters or {}) and len(case.path_parameters[name]) % 2:
            case.path_parameters[name] = real


schema = schemathesis.openapi.from_wsgi("/openapi.json", APP, config=schemathesis.Config(seed=SEED)).exclude(
    path_regex=SQL_ONLY_PATHS
)  # issue 24: these need SQL storage; tests/e2e/test_platform24_fuzz.py fuzzes them on SQLite


@schemathesis.check
def error_body_has_the_contract_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """API.md: every error is `{"error": {"code", "message", "details"}}` in JSON, nothing more."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), f"error served as {content_type!r}"
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message", "details"}, body
    assert isinstance(error["code"], str) and error["code"], body
    assert isinstance(error["message"], str) and isinstance(error["details"], dict), body
    assert "Traceback" not in response.text, body
    return None


@schemathesis.check
def error_status_is_listed_on_the_operation(ctx: Any, response: Any, case: Any) -> bool | None:
    status = response.status_code
    if status < 400 or status in GENERIC_ERRORS:
        return None
    listed = case.operation.responses.status_codes
    assert str(status) in listed, f"{status} is not among the documented responses {sorted(listed)}"
    return None


@schema.auth(refresh_interval=None, retry_on=[])
class Credentials:
    """Valid credentials on every case; the negative cases and the ignored_auth probes take them away."""

    def get(self, case: Any, ctx: Any) -> dict[str, str]:
        if case.operation.path.startswith("/v1/admin/"):
            return auth_headers(ADMIN["access_token"])
        return api_key_headers(USER_KEY)

    def set(self, case: Any, data: dict[str, str], ctx: Any) -> None:
        case.headers = {**(case.headers or {}), **data}


def _with_runtime_values(case: Any) -> None:
    """A schema-valid case may still carry values only the running service can make valid: an
    opaque cursor (the document links each page's next_cursor to it) and the id of something that
    exists. Put real ones into positive cases, so positive_data_acceptance holds them to 2xx and
    the success paths (an admin adjustment, a second page) are fuzzed too. Negative cases are left
    as generated. Feature keys, pack, plan and coach ids are NOT put in: the document lists them
    (issue 21), so every schema-valid one the fuzzer makes must be accepted as it is."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    path = case.operation.path
    if isinstance(case.query, dict) and "cursor" in case.query:
        case.query["cursor"] = REAL_CURSORS[path]
    if path.startswith("/v1/admin/users/{user_id}") and len(case.path_parameters["user_id"]) % 2:
        case.path_parameters["user_id"] = USER["user"]["id"]  # the other half stays random: 404
    _coaching_runtime_values(case)
    _platform_runtime_values(case)
    _teams_runtime_values(case)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case: Any) -> None:
    _with_runtime_values(case)
    if case.operation.path == "/v1/webhooks/stripe":
        # No schema-valid body carries a valid Stripe signature, so acceptance of positive data
        # cannot hold here (tests/integration/test_stripe_webhooks.py covers signed events); every other check runs.
        case.call_and_validate(excluded_checks=[schemathesis.checks.positive_data_acceptance])
        return
    case.call_and_validate()
