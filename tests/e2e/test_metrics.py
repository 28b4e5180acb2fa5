"""/metrics in one process: requests by route template and status, ledger outcomes, jobs,
rate-limit refusals, the optional token (issue 15). Several workers: tests/integration/test_metrics_gunicorn.py."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient

from domain.shared.jobs import Job
from entrypoints.bootstrap import Container
from entrypoints.worker.jobs import run_job
from tests.fixtures.http import api_key_headers, create_api_key, register
from tests.fixtures.settings import make_settings


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if match and match[1] == name and ",".join(sorted((match[2] or "").split(","))) == wanted:
            return float(match[3])
    return 0.0


def scrape(client: FlaskClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.content_type.startswith("text/plain")
    return response.get_data(as_text=True)


def test_requests_are_counted_by_route_template_and_status(client: FlaskClient) -> None:
    key = create_api_key(client, register(client)["access_token"])["key"]
    for key_id in ("key_a", "key_b"):
        client.delete(f"/v1/api-keys/{key_id}", headers=api_key_headers(key))
    client.get("/no/such/path")
    text = scrape(client)
    template = "/v1/api-keys/<string:key_id>"
    assert sample(text, "houston_http_requests_total", method="DELETE", route=template, status="404") == 2
    assert sample(text, "houston_http_requests_total", method="POST", route="/v1/auth/register", status="201") == 1
    assert sample(text, "houston_http_requests_total", method="GET", route="<unmatched>", status="404") == 1
    assert "key_a" not in text  # raw paths never become series
    assert (
        sample(text, "houston_http_request_duration_seconds_count", method="DELETE", route=template, status="404") == 2
    )


def test_ledger_operations_are_counted_by_outcome(client: FlaskClient, container: Container) -> None:
    key = create_api_key(client, register(client)["access_token"])["key"]
    headers = api_key_headers(key)

    def charge(idem: str, quantity: int) -> int:
        body = {"feature_key": "api.call", "quantity": quantity}
        return client.post("/v1/credits/charges", json=body, headers={**headers, "Idempotency-Key": idem}).status_code

    assert [charge("a", 1), charge("b", 10**6), charge("a", 2)] == [201, 402, 409]
    text = scrape(client)
    assert sample(text, "houston_ledger_operations_total", operation="charge", outcome="ok") == 1
    assert sample(text, "houston_ledger_operations_total", operation="charge", outcome="insufficient_credits") == 1
    assert sample(text, "houston_ledger_operations_total", operation="charge", outcome="idempotency_conflict") == 1


def test_jobs_are_counted_by_name_and_outcome(client: FlaskClient, container: Container) -> None:
    run_job(container, Job("ledger.expire_grants"))
    try:
        run_job(container, Job("ledger.grant_free_plan_monthly_credits", {"period": "not-a-month"}))
    except ValueError:
        pass
    text = scrape(client)
    assert sample(text, "houston_jobs_total", job="ledger.expire_grants", outcome="succeeded") == 1
    assert sample(text, "houston_jobs_total", job="ledger.grant_free_plan_monthly_credits", outcome="failed") == 1


def test_rate_limit_refusals_are_counted(make_app: Callable[..., Flask]) -> None:
    client = make_app(settings=make_settings(ratelimit_enabled=True, ratelimit_default="1/minute")).test_client()
    assert [client.get("/v1/credits/prices").status_code for _ in range(3)] == [200, 429, 429]
    assert sample(scrape(client), "houston_rate_limited_total", scope="ip") == 2


def test_a_metrics_token_guards_the_scrape(make_app: Callable[..., Flask]) -> None:
    client = make_app(settings=make_settings(metrics_token="s3cret-scrape-token")).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"})
    assert ok.status_code == 200 and b"houston_http_requests_total" in ok.data


def test_metrics_off_is_404_and_counts_nothing(make_app: Callable[..., Flask]) -> None:
    client = make_app(settings=make_settings(metrics_enabled=False)).test_client()
    assert client.get("/health").status_code == 200
    response = client.get("/metrics")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_database_errors_are_counted(tmp_path: object) -> None:
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from entrypoints.bootstrap import bootstrap
    from entrypoints.http.app import create_app

    container = bootstrap(make_settings(database_url=f"sqlite:///{tmp_path}/m.db"))
    engine = container.resources.engine
    with pytest.raises(OperationalError), engine.connect() as connection:
        connection.execute(text("SELECT * FROM no_such_table"))
    scrape = create_app(container).test_client().get("/metrics").get_data(as_text=True)
    assert sample(scrape, "houston_dependency_errors_total", dependency="database") == 1
    engine.dispose()


def test_invented_methods_and_unknown_paths_fold_into_one_series_each(client: FlaskClient) -> None:
    """Issue 21 (11): the method label came from the client, so 40 invented methods made 40 series."""
    before = scrape(client)
    invented = [f"X{chr(ord('A') + n % 26)}{n}" for n in range(40)]
    for method in invented:
        client.open("/v1/credits/prices", method=method)
        client.open(f"/no/such/{method}", method=method)
    text = scrape(client)
    labels = set(re.findall(r'houston_http_requests_total\{method="([^"]*)"', text))
    assert labels <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}, labels
    assert not any(method in text for method in invented)
    assert sample(text, "houston_http_requests_total", method="other", route="<unmatched>", status="405") == 40
    assert sample(text, "houston_http_requests_total", method="other", route="<unmatched>", status="404") == 40
    series = lambda t: {line for line in t.splitlines() if line.startswith("houston_http_requests_total{")}  # noqa: E731
    assert len(series(text) - series(before)) <= 3  # the two above and the first scrape's own GET
