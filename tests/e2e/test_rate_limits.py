"""Rate limits over HTTP: in-process storage, real Redis shared by two app instances, and fail open
when the limiter's Redis does not answer (issue 15). The rest of the suite runs with limits off."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from entrypoints.bootstrap import Container
from tests.fixtures.http import PASSWORD, api_key_headers, auth_headers, create_api_key, new_email
from tests.fixtures.settings import make_settings, unique

LIMITED = dict(ratelimit_enabled=True, ratelimit_auth="3/minute", ratelimit_default="5/minute")


def limited_app(make_app: Callable[..., Flask], **settings: Any) -> Flask:
    return make_app(settings=make_settings(**{**LIMITED, **settings}))


def addr() -> dict[str, str]:
    """A fresh client address per test: fixed windows in a shared Redis outlive a test."""
    return {"REMOTE_ADDR": f"10.{int(unique('')[1:], 16) % 250}.{time.monotonic_ns() % 250}.{int(time.time()) % 250}"}


def signup(client: FlaskClient) -> Any:
    """Register from a fresh address (the auth budget is not the one under test)."""
    response = client.post("/v1/auth/register", json=login_body(new_email(), PASSWORD), environ_base=addr())
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def login_body(email: str, password: str = "wrong password") -> dict[str, str]:
    return {"email": email, "password": password}


def test_register_is_limited_per_address_with_the_documented_429(make_app: Callable[..., Flask]) -> None:
    client = limited_app(make_app).test_client()
    env = addr()
    for _ in range(3):
        ok = client.post("/v1/auth/register", json=login_body(new_email(), PASSWORD), environ_base=env)
        assert ok.status_code == 201 and "X-RateLimit-Limit" not in ok.headers  # only a 429 carries them
    refused = client.post("/v1/auth/register", json=login_body(new_email(), PASSWORD), environ_base=env)
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert (refused.headers["X-RateLimit-Limit"], refused.headers["X-RateLimit-Remaining"]) == ("3", "0")
    assert int(refused.headers["X-RateLimit-Reset"]) >= int(time.time())
    other = client.post("/v1/auth/register", json=login_body(new_email(), PASSWORD), environ_base=addr())
    assert other.status_code == 201  # another address has its own budget


def test_login_is_limited_per_email_across_addresses(make_app: Callable[..., Flask]) -> None:
    client = limited_app(make_app).test_client()
    target = new_email()
    client.post("/v1/auth/register", json=login_body(target, PASSWORD), environ_base=addr())
    statuses = [
        client.post("/v1/auth/login", json=login_body(target.upper()), environ_base=addr()).status_code
        for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]  # a new address each time: the email's budget runs out
    assert client.post("/v1/auth/login", json=login_body(new_email()), environ_base=addr()).status_code == 401


def test_users_are_limited_by_plan_per_user_not_per_address(make_app: Callable[..., Flask]) -> None:
    app = limited_app(make_app, ratelimit_auth="100/minute", ratelimit_plans=(("pro", "8/minute"),))
    client = app.test_client()
    container: Container = app.extensions["houston"]
    free = signup(client)
    pro = signup(client)
    with container.uow() as uow:
        user = uow.users.get(pro["user"]["id"])
        user.plan = "pro"
        uow.users.update(user)
        uow.commit()
    free_statuses = [
        client.get("/v1/me", headers=auth_headers(free["access_token"]), environ_base=addr()).status_code
        for _ in range(6)
    ]
    assert free_statuses == [200] * 5 + [429]
    pro_headers = auth_headers(pro["access_token"])
    pro_statuses = [client.get("/v1/me", headers=pro_headers).status_code for _ in range(9)]
    assert pro_statuses == [200] * 8 + [429]


def test_an_api_key_counts_against_its_users_budget(make_app: Callable[..., Flask]) -> None:
    client = limited_app(make_app, ratelimit_auth="100/minute").test_client()
    user = signup(client)
    key = create_api_key(client, user["access_token"])["key"]  # 1 of 5
    for _ in range(4):
        assert client.get("/v1/credits/balance", headers=api_key_headers(key)).status_code == 200
    assert client.get("/v1/me", headers=auth_headers(user["access_token"])).status_code == 429


def test_probes_docs_and_the_stripe_webhook_are_never_limited(make_app: Callable[..., Flask]) -> None:
    client = limited_app(make_app, ratelimit_default="1/minute").test_client()
    env = addr()
    for path in ("/health", "/ready", "/metrics", "/openapi.json"):
        responses = [client.get(path, environ_base=env) for _ in range(3)]
        assert [r.status_code for r in responses] == [200] * 3, path
        assert "X-RateLimit-Limit" not in responses[0].headers
    hooks = [client.post("/v1/webhooks/stripe", data=b"{}", environ_base=env).status_code for _ in range(3)]
    assert 429 not in hooks
    assert [client.get("/v1/credits/prices", environ_base=env).status_code for _ in range(2)] == [200, 429]


def test_limits_off_means_no_headers_and_no_429(client: FlaskClient) -> None:
    responses = [client.post("/v1/auth/login", json=login_body(new_email())) for _ in range(30)]
    assert {r.status_code for r in responses} == {401}
    assert "X-RateLimit-Limit" not in responses[-1].headers


@pytest.mark.redis
def test_two_instances_share_one_limit_in_redis(make_app: Callable[..., Flask], redis_url: str) -> None:
    first, second = (limited_app(make_app, redis_url=redis_url).test_client() for _ in range(2))
    env = addr()
    statuses = [
        (first if i % 2 else second)
        .post("/v1/auth/register", json=login_body(new_email(), PASSWORD), environ_base=env)
        .status_code
        for i in range(4)
    ]
    assert statuses == [201, 201, 201, 429]
    limiter = first.application.extensions["houston"].limiter
    assert type(limiter.storage).__name__ == "RedisStorage"


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_dead_limiter_redis_fails_open_and_is_counted(make_app: Callable[..., Flask]) -> None:
    app = limited_app(make_app, redis_url=f"redis://127.0.0.1:{_dead_port()}/0")
    client = app.test_client()
    env = addr()
    started = time.perf_counter()
    statuses = [
        client.post("/v1/auth/register", json=login_body(new_email(), PASSWORD), environ_base=env).status_code
        for _ in range(6)
    ]
    assert statuses == [201] * 6  # over the 3/minute limit, yet served
    assert time.perf_counter() - started < 5
    scrape = client.get("/metrics").get_data(as_text=True)
    assert "houston_rate_limit_fail_open_total 6.0" in scrape
    assert 'houston_dependency_errors_total{dependency="redis"} 1.0' in scrape  # then paused, not retried per request


# --- the limiter's leases (adapters/ratelimit) -------------------------------------------------
def _limiter(url: str) -> Any:
    from adapters.ratelimit.limits_limiter import LimitsRateLimiter

    return LimitsRateLimiter(url)


def _allowed(limiter: Any, text: str, key: str, attempts: int) -> int:
    from adapters.ratelimit.limits_limiter import parse_limits

    items = parse_limits(text)
    return sum(1 for _ in range(attempts) if limiter.check(items, "lease", key).allowed)  # type: ignore[union-attr]


def test_a_leasing_limiter_allows_exactly_the_limit_alone() -> None:
    from adapters.ratelimit.limits_limiter import lease_size, parse_limits

    assert [lease_size(parse_limits(t)[0]) for t in ("10/minute", "300/minute", "5000/minute")] == [1, 6, 10]
    assert _allowed(_limiter("memory://"), "300/minute", unique("k"), 400) == 300


@pytest.mark.redis
def test_leases_of_two_instances_never_pass_the_shared_limit(redis_url: str) -> None:
    first, second = _limiter(redis_url), _limiter(redis_url)
    key = unique("k")
    allowed = sum(_allowed(limiter, "300/minute", key, 1) for _ in range(200) for limiter in (first, second))
    # Never more than the limit; at most (lease - 1) per instance refused early.
    assert 300 - 2 * 5 <= allowed <= 300
