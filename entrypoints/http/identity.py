"""Identity: registration, sign-in, tokens, the caller's profile, API keys, and the admin user list."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from domain.identity.model import ApiKey
from entrypoints.http.api import USER_AUTH, Blueprint
from entrypoints.http.auth import current_principal
from entrypoints.http.context import container
from entrypoints.http.identity_schemas import (
    ApiKeyPageSchema,
    AuthSchema,
    CreateApiKeySchema,
    CreatedApiKeySchema,
    LoginSchema,
    RefreshTokenSchema,
    RegisterSchema,
    UpdateMeSchema,
    UserSchema,
)
from entrypoints.http.operations import client_info
from entrypoints.http.schemas import PageArgsSchema
from entrypoints.platform24 import register_with_referral

blp = Blueprint("identity", __name__, url_prefix="/v1", description="Accounts, tokens and API keys")


def _created_key(key: ApiKey, plaintext: str) -> dict[str, Any]:
    fields = ("id", "name", "prefix", "created_at", "last_used_at")
    return {**{name: getattr(key, name) for name in fields}, "key": plaintext}


@blp.route("/auth/register")
class Register(MethodView):
    @blp.arguments(RegisterSchema)
    @blp.response(201, AuthSchema)
    @blp.errors(409, say={409: "The email is already registered (email_taken)"})
    def post(self, body: dict[str, Any]) -> Any:
        """Create an account and sign in (emails are case-insensitive; passwords 8-128 characters)"""
        return register_with_referral(container(), body)  # issue 24: records the referral


@blp.route("/auth/login")
class Login(MethodView):
    @blp.arguments(LoginSchema)
    @blp.response(200, AuthSchema)
    @blp.errors(401, say={401: "Wrong email or password (invalid_credentials)"})
    def post(self, body: dict[str, Any]) -> Any:
        """Sign in with email and password"""
        return container().identity.login(**body, client=client_info())


@blp.route("/auth/refresh")
class Refresh(MethodView):
    @blp.arguments(RefreshTokenSchema)
    @blp.response(200, AuthSchema)
    @blp.errors(
        401,
        say={
            401: "Unknown (unauthenticated), expired (token_expired), or spent or revoked "
            "(token_revoked: its whole family is revoked)"
        },
    )
    def post(self, body: dict[str, Any]) -> Any:
        """Trade a refresh token for a new pair; the presented one is spent (rotation)"""
        return container().identity.refresh(body["refresh_token"], client=client_info())


@blp.route("/auth/logout")
class Logout(MethodView):
    @blp.arguments(RefreshTokenSchema)
    @blp.response(204)
    def post(self, body: dict[str, Any]) -> None:
        """Revoke the refresh token and its family (an unknown token is a no-op: still 204)"""
        container().identity.logout(body["refresh_token"], client=client_info())


@blp.route("/me")
class Me(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.response(200, UserSchema)
    @blp.errors(401)
    def get(self) -> Any:
        """The caller's account"""
        return container().identity.get_user(current_principal().user_id)

    @blp.doc(security=USER_AUTH)
    @blp.arguments(UpdateMeSchema, required=False)  # an empty PATCH changes nothing
    @blp.response(200, UserSchema)
    @blp.errors(401)
    def patch(self, body: dict[str, Any]) -> Any:
        """Change the caller's display name (absent: unchanged; null: cleared)"""
        return container().identity.update_me(current_principal().user_id, **body)


@blp.route("/api-keys")
class ApiKeys(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, ApiKeyPageSchema)
    @blp.errors(401)
    def get(self, args: dict[str, Any]) -> Any:
        """The caller's active API keys, oldest first (keyset pages; no secrets)"""
        return container().identity.api_keys_page(current_principal().user_id, **args)

    @blp.doc(security=USER_AUTH)
    @blp.arguments(CreateApiKeySchema)
    @blp.response(201, CreatedApiKeySchema)
    @blp.errors(401, 409, say={409: "The caller holds API_KEYS_PER_USER active keys (api_key_limit_reached)"})
    def post(self, body: dict[str, Any]) -> Any:
        """Create an API key; the whole key is in this response and nowhere else"""
        key, plaintext = container().identity.create_api_key(current_principal().user_id, body["name"])
        return _created_key(key, plaintext)


@blp.route("/api-keys/<string:key_id>")
class ApiKeyItem(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.response(204)
    @blp.errors(401, 404, say={404: "No such key among the caller's active keys"})
    def delete(self, key_id: str) -> None:
        """Revoke an API key; it stops working at once"""
        container().identity.revoke_api_key(current_principal().user_id, key_id)


# GET /v1/admin/users (search with balance) lives in entrypoints/http/operations.py (issue 15).
