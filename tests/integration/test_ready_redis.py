"""/ready reports Redis when it is configured: real Redis answers, a dead one is named."""

from __future__ import annotations

import pytest

from entrypoints.bootstrap import bootstrap
from entrypoints.http.app import create_app
from tests.fixtures.settings import make_settings


def test_ready_checks_a_configured_redis_that_answers(redis_url: str) -> None:
    client = create_app(bootstrap(make_settings(redis_url=redis_url))).test_client()
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"redis": "ok"}


def test_ready_is_503_naming_redis_when_it_does_not_answer(caplog: pytest.LogCaptureFixture) -> None:
    client = create_app(bootstrap(make_settings(redis_url="redis://127.0.0.1:1/0"))).test_client()
    response = client.get("/ready")
    assert response.status_code == 503
    body = response.get_json()["error"]
    assert body["code"] == "not_ready" and body["details"] == {"redis": "unavailable"}
    assert "redis" in body["message"]
    assert [r.check for r in caplog.records if r.getMessage() == "readiness check failed"] == ["redis"]
