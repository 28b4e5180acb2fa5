"""Operations routes: login history, the audit log, the admin directory and role changes, and
`/metrics` for Prometheus (issue 15)."""

from __future__ import annotations

import hmac
from typing import Any

from flask import Response, request
from flask.views import MethodView

from domain.identity.logins import ClientInfo
from domain.identity.model import Role
from domain.platform.model import UserSummary
from domain.shared.errors import NotFound, Unauthenticated
from entrypoints.http.api import BAD_PAGE, USER_AUTH, Blueprint
from entrypoints.http.auth import current_principal, require_admin
from entrypoints.http.context import container
from entrypoints.http.identity_schemas import UserSchema
from entrypoints.http.operations_schemas import (
    AdminUserArgsSchema,
    AdminUserPageSchema,
    AuditArgsSchema,
    AuditRecordPageSchema,
    LoginAttemptPageSchema,
    RoleChangeSchema,
)
from entrypoints.http.schemas import PageArgsSchema, page_body

blp = Blueprint("operations", __name__, description="Login history, audit log, admin directory, metrics")


def client_info() -> ClientInfo:
    """The caller's address (the TRUSTED_PROXIES-th X-Forwarded-For entry from the right when
    proxies are trusted, else the peer) and user agent."""
    return ClientInfo(ip=client_ip(), user_agent=request.headers.get("User-Agent")).clean()


def client_ip() -> str:
    trusted = container().settings.trusted_proxies
    if trusted:
        forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
        if len(forwarded) >= trusted:
            return forwarded[-trusted]
    return request.remote_addr or "unknown"


def _summary(found: UserSummary) -> dict[str, Any]:
    user = found.user
    fields = ("id", "email", "name", "role", "plan", "created_at")
    return {**{name: getattr(user, name) for name in fields}, "balance": found.balance, "available": found.available}


@blp.route("/v1/me/logins")
class MyLogins(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, LoginAttemptPageSchema)
    @blp.errors(401, 422, say={422: BAD_PAGE})
    def get(self, args: dict[str, Any]) -> Any:
        """The caller's sign-in attempts and refresh-family revocations, newest first (keyset pages)"""
        return container().operations.login_history(current_principal().user_id, **args)


@blp.route("/v1/admin/users/<string:user_id>/logins")
class UserLogins(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, LoginAttemptPageSchema)
    @blp.errors(401, 403, 404, 422, what="user", say={422: BAD_PAGE})
    def get(self, args: dict[str, Any], user_id: str) -> Any:
        """Any user's sign-in attempts, newest first (admins only)"""
        require_admin()
        return container().operations.login_history(user_id, **args)


@blp.route("/v1/admin/audit")
class Audit(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(AuditArgsSchema, location="query")
    @blp.response(200, AuditRecordPageSchema)
    @blp.errors(401, 403, 422, say={422: "A bad filter, limit or cursor (validation_error)"})
    def get(self, args: dict[str, Any]) -> Any:
        """The audit log (admin actions and security events), newest first, filtered by actor,
        action and subject (admins only)"""
        require_admin()
        return container().operations.audit_page(**args)


@blp.route("/v1/admin/users")
class AdminUsers(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(AdminUserArgsSchema, location="query")
    @blp.response(200, AdminUserPageSchema)
    @blp.errors(401, 403, 422, say={422: "A bad filter, limit or cursor (validation_error)"})
    def get(self, args: dict[str, Any]) -> Any:
        """Find users by id or email prefix, plan and role, with their balance, by id (keyset
        pages; admins only)"""
        require_admin()
        page = container().operations.search_users(**args)
        return page_body(page, _summary)


@blp.route("/v1/admin/users/<string:user_id>")
class AdminUser(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(RoleChangeSchema)
    @blp.response(200, UserSchema)
    @blp.errors(
        401,
        403,
        404,
        409,
        422,
        what="user",
        say={409: "The user is the last admin (last_admin)", 422: "A bad role (validation_error)"},
    )
    def patch(self, body: dict[str, Any], user_id: str) -> Any:
        """Change a user's role (audited; the last admin cannot be demoted; admins only)"""
        admin = require_admin()
        return container().operations.change_role(admin.user_id, user_id, Role(body["role"]))


@blp.route("/metrics")
class Metrics(MethodView):
    @blp.doc(
        security=[{"bearerAuth": []}, {}],
        responses={
            "200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}
        },
    )
    @blp.errors(
        401,
        404,
        say={
            401: "METRICS_TOKEN is set and the request does not carry it (unauthenticated)",
            404: "Metrics are off (METRICS_ENABLED=false)",
        },
    )
    def get(self) -> Response:
        """Prometheus metrics of every worker (Bearer METRICS_TOKEN when one is set)"""
        c = container()
        if not c.settings.metrics_enabled:
            raise NotFound("Metrics are off.")
        token = c.settings.metrics_token
        if token is not None:
            scheme, _, given = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
                raise Unauthenticated("This scrape needs 'Authorization: Bearer <METRICS_TOKEN>'.")
        return Response(c.metrics.render(), mimetype=None, content_type=c.metrics.content_type)
