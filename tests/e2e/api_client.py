"""Helpers that drive the API like a client would (after cosmicpython's tests/e2e/api_client.py).

Each helper asserts the status it expects (pass `expect=` for another) and returns the JSON body.
"""
from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from entrypoints.bootstrap import Container
from tests.helpers import unique

PASSWORD = "correct horse battery staple"


def new_email(prefix: str = "user") -> str:
    return f"{unique(prefix)}@example.com"


def auth_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def api_key_headers(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def _expect(response: Any, expect: int) -> Any:
    assert response.status_code == expect, (response.status_code, response.get_json(silent=True))
    return response.get_json(silent=True)


def register(
    client: FlaskClient, email: str | None = None, password: str = PASSWORD, *, expect: int = 201, **extra: Any
) -> Any:
    """Register (a fresh email when none is given); returns `{user, access_token, refresh_token, ...}`."""
    body = {"email": email or new_email(), "password": password, **extra}
    return _expect(client.post("/v1/auth/register", json=body), expect)


def login(client: FlaskClient, email: str, password: str = PASSWORD, *, expect: int = 200) -> Any:
    return _expect(client.post("/v1/auth/login", json={"email": email, "password": password}), expect)


def refresh(client: FlaskClient, refresh_token: str, *, expect: int = 200) -> Any:
    return _expect(client.post("/v1/auth/refresh", json={"refresh_token": refresh_token}), expect)


def logout(client: FlaskClient, refresh_token: str, *, expect: int = 204) -> None:
    _expect(client.post("/v1/auth/logout", json={"refresh_token": refresh_token}), expect)


def me(client: FlaskClient, headers: dict[str, str], *, expect: int = 200) -> Any:
    return _expect(client.get("/v1/me", headers=headers), expect)


def create_api_key(client: FlaskClient, token: str, name: str = "ci", *, expect: int = 201) -> Any:
    """Create an API key as the bearer of `token`; returns `{id, name, prefix, key, created_at}`."""
    return _expect(client.post("/v1/api-keys", json={"name": name}, headers=auth_headers(token)), expect)


def register_admin(client: FlaskClient, container: Container, email: str | None = None) -> Any:
    """An admin account (made through the service, as `houston create-admin` would), signed in."""
    email = email or new_email("admin")
    container.identity.create_admin(email, PASSWORD)
    return login(client, email)
