"""Who is calling: a Bearer access token or an X-API-Key header, resolved by the identity use cases."""

from __future__ import annotations

from flask import g, request

from domain.identity.model import Principal
from domain.shared.errors import Forbidden, Unauthenticated
from entrypoints.http.context import container


def current_principal() -> Principal:
    """The authenticated caller, or 401. Resolved once per request."""
    cached = g.get("principal")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    identity = container().identity
    header = request.headers.get("Authorization", "")
    api_key = request.headers.get("X-API-Key")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("Use 'Authorization: Bearer <access token>'.")
        principal = identity.authenticate_access_token(token.strip())
    elif api_key:
        principal = identity.authenticate_api_key(api_key.strip())
    else:
        raise Unauthenticated("Authentication required.")
    g.principal = principal
    g.user_id = principal.user_id
    return principal


def require_admin() -> Principal:
    principal = current_principal()
    if not principal.is_admin:
        raise Forbidden("Admins only.")
    return principal
