"""`security_new_login` over HTTP (issue 27): a sign-in through `POST /v1/auth/login` from an
address none of the earlier ones came from puts one notice in the inbox; the same address again
puts none. The address is the one the README's `TRUSTED_PROXIES` says the app reads: the peer
without proxies (a forged `X-Forwarded-For` changes nothing), the proxy's entry behind one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from adapters.queue.inline import InlineJobQueue
from entrypoints.worker.jobs import run_job
from tests.fixtures.http import PASSWORD, auth_headers, new_email, register
from tests.fixtures.settings import make_settings


@pytest.fixture
def queue() -> InlineJobQueue:
    return InlineJobQueue(raise_errors=True)


def app_with(make_app: Callable[..., Flask], queue: InlineJobQueue, trusted_proxies: int) -> Flask:
    app = make_app(settings=make_settings(trusted_proxies=trusted_proxies))
    queue.bind(lambda job: run_job(app.extensions["houston"], job))
    return app


def sign_in(client: FlaskClient, email: str, peer: str, forwarded: str | None = None) -> str:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    response = client.post(
        "/v1/auth/login",
        json={"email": email, "password": PASSWORD},
        headers=headers,
        environ_base={"REMOTE_ADDR": peer},
    )
    assert response.status_code == 200, response.get_json()
    return str(response.get_json()["access_token"])


def security_notices(client: FlaskClient, token: str) -> list[dict[str, Any]]:
    response = client.get("/v1/notifications", headers=auth_headers(token))
    assert response.status_code == 200
    return [n for n in response.get_json()["items"] if n["type"] == "security_new_login"]


def test_a_sign_in_from_a_new_peer_address_notifies_once(make_app: Callable[..., Flask], queue: InlineJobQueue) -> None:
    client = app_with(make_app, queue, trusted_proxies=0).test_client()
    email = new_email()
    register(client, email)
    token = sign_in(client, email, "198.51.100.1")  # the first sign-in is not news
    sign_in(client, email, "198.51.100.1")
    assert security_notices(client, token) == []

    token = sign_in(client, email, "203.0.113.7")
    [notice] = security_notices(client, token)
    assert notice["data"] == {"ip": "203.0.113.7"} and "203.0.113.7" in notice["body"]
    sign_in(client, email, "203.0.113.7")  # the same address again: nothing new
    sign_in(client, email, "198.51.100.1")  # nor an earlier one
    assert len(security_notices(client, token)) == 1


def test_without_trusted_proxies_a_forged_forwarded_for_is_not_an_address(
    make_app: Callable[..., Flask], queue: InlineJobQueue
) -> None:
    client = app_with(make_app, queue, trusted_proxies=0).test_client()
    email = new_email()
    register(client, email)
    token = sign_in(client, email, "198.51.100.1")
    sign_in(client, email, "198.51.100.1", forwarded="203.0.113.99")
    assert security_notices(client, token) == []


def test_behind_one_proxy_the_address_is_the_proxys_entry(
    make_app: Callable[..., Flask], queue: InlineJobQueue
) -> None:
    client = app_with(make_app, queue, trusted_proxies=1).test_client()
    email = new_email()
    register(client, email)
    proxy = "10.0.0.5"  # every request arrives from the proxy
    token = sign_in(client, email, proxy, forwarded="198.51.100.1")
    # the client forges an entry; the proxy appends the real address, which is the one read
    sign_in(client, email, proxy, forwarded="203.0.113.99, 198.51.100.1")
    assert security_notices(client, token) == []
    sign_in(client, email, proxy, forwarded="192.0.2.44")
    [notice] = security_notices(client, token)
    assert notice["data"] == {"ip": "192.0.2.44"}
