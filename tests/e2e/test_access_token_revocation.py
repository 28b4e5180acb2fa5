"""An access token dies with its refresh family: logout, or a reused refresh token, ends it at once
(not when it expires 15 minutes later). Checked per request by one indexed query."""

from __future__ import annotations

from flask import Flask

from tests.fixtures.http import auth_headers, login, logout, me, new_email, refresh, register


def test_logout_ends_the_access_tokens_of_that_family_only(any_app: Flask) -> None:
    client = any_app.test_client()
    email = new_email()
    first = register(client, email)
    second = login(client, email)  # another device: another family
    logout(client, first["refresh_token"])
    body = me(client, auth_headers(first["access_token"]), expect=401)
    assert body["error"]["code"] == "token_revoked"
    assert me(client, auth_headers(second["access_token"]))["email"] == email


def test_a_reused_refresh_token_ends_every_access_token_of_its_family(any_app: Flask) -> None:
    client = any_app.test_client()
    signed_in = register(client)
    rotated = refresh(client, signed_in["refresh_token"])
    assert me(client, auth_headers(rotated["access_token"]))["id"] == signed_in["user"]["id"]
    refresh(client, signed_in["refresh_token"], expect=401)  # the old one again: a leak, family revoked
    for token in (signed_in["access_token"], rotated["access_token"]):
        assert me(client, auth_headers(token), expect=401)["error"]["code"] == "token_revoked"


def test_rotation_alone_keeps_the_previous_access_token_until_it_expires(any_app: Flask) -> None:
    client = any_app.test_client()
    signed_in = register(client)
    refresh(client, signed_in["refresh_token"])
    assert me(client, auth_headers(signed_in["access_token"]))["id"] == signed_in["user"]["id"]
