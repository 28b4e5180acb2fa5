"""The development-only fake checkout: through HTTP, a newcomer buys a pack or a plan offline, and
credits arrive only through the signed events the page sends (the real webhook path). Also
`houston simulate-payment`, the same from a shell, and what keeps the page safe."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from adapters.queue.inline import InlineJobQueue
from entrypoints.billing_cli import simulate_payment
from entrypoints.bootstrap import Container
from entrypoints.config import Settings
from entrypoints.worker.jobs import run_job
from tests.fixtures.http import auth_headers, register, register_admin
from tests.fixtures.settings import make_settings, unique

SECRET = "whsec_e2e_" + "w" * 32
PAGE = "/v1/billing/fake-checkout/"


@pytest.fixture
def settings() -> Settings:
    return make_settings(stripe_webhook_secret=SECRET, public_base_url="http://localhost:8000")


@pytest.fixture
def queue() -> InlineJobQueue:
    return InlineJobQueue(raise_errors=True)


@pytest.fixture
def app(make_app: Callable[..., Flask], queue: InlineJobQueue) -> Flask:
    app = make_app()
    queue.bind(lambda job: run_job(app.extensions["houston"], job))
    return app


def buyer(client: FlaskClient) -> dict[str, str]:
    return auth_headers(register(client)["access_token"])


def start_checkout(client: FlaskClient, headers: dict[str, str], **item: str) -> dict[str, Any]:
    body = {
        "success_url": "https://app.example/ok?s={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://app.example/no",
        **(item or {"pack_id": "pack_500"}),
    }
    response = client.post("/v1/billing/checkout", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def page_token(client: FlaskClient, session_id: str) -> str:
    html = client.get(PAGE + session_id).get_data(as_text=True)
    found = re.search(r'name="token" value="([0-9a-f]{64})"', html)
    assert found, html
    return found.group(1)


def press(client: FlaskClient, session_id: str, outcome: str, **headers: str) -> Any:
    token = page_token(client, session_id)
    return client.post(PAGE + session_id, data={"outcome": outcome, "token": token}, headers=headers)


def balance(client: FlaskClient, headers: dict[str, str]) -> int:
    return int(client.get("/v1/credits/balance", headers=headers).get_json()["balance"])


def payments(client: FlaskClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    return client.get("/v1/billing/payments", headers=headers).get_json()["items"]  # type: ignore[no-any-return]


def test_the_checkout_url_opens_a_page_showing_what_is_bought(client: FlaskClient) -> None:
    session = start_checkout(client, buyer(client))

    assert session["url"] == f"http://localhost:8000{PAGE}{session['session_id']}"
    response = client.get(PAGE + session["session_id"])
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "500 credits" in html and "20.00 USD" in html and "Development only" in html
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_pay_grants_the_packs_credits_once_through_the_signed_webhook(client: FlaskClient) -> None:
    headers = buyer(client)
    before = balance(client, headers)
    session = start_checkout(client, headers)

    response = press(client, session["session_id"], "paid")

    assert response.status_code == 303
    assert response.headers["Location"] == f"https://app.example/ok?s={session['session_id']}"
    assert balance(client, headers) == before + 500
    assert [p["status"] for p in payments(client, headers)] == ["paid"]
    assert press_again_is_refused(client, session["session_id"])
    assert balance(client, headers) == before + 500


def press_again_is_refused(client: FlaskClient, session_id: str) -> bool:
    html = client.get(PAGE + session_id).get_data(as_text=True)
    assert 'name="outcome"' not in html  # no buttons on a settled session
    token_free = client.post(PAGE + session_id, data={"outcome": "paid", "token": "0" * 64})
    return token_free.status_code == 403


def test_a_repeated_post_with_the_right_token_is_a_conflict_not_a_second_grant(
    client: FlaskClient, container: Container
) -> None:
    headers = buyer(client)
    session = start_checkout(client, headers)
    checkout = container.fake_checkout
    assert checkout is not None
    token = checkout.form_token(session["session_id"])
    before = balance(client, headers)

    first = client.post(PAGE + session["session_id"], data={"outcome": "paid", "token": token})
    second = client.post(PAGE + session["session_id"], data={"outcome": "paid", "token": token})

    assert first.status_code == 303
    # a page for the person who pressed, not raw JSON (issue 21), and nothing sent twice
    assert second.status_code == 409 and second.mimetype == "text/html"
    assert 'already <b id="status">paid</b>: nothing was sent again' in second.get_data(as_text=True)
    assert balance(client, headers) == before + 500


def test_fail_grants_nothing_and_marks_the_payment_failed(client: FlaskClient) -> None:
    headers = buyer(client)
    before = balance(client, headers)
    session = start_checkout(client, headers)

    response = press(client, session["session_id"], "failed")

    assert response.status_code == 303 and response.headers["Location"] == "https://app.example/no"
    assert balance(client, headers) == before
    assert [p["status"] for p in payments(client, headers)] == ["failed"]


def test_cancel_expires_the_session_and_grants_nothing(client: FlaskClient) -> None:
    headers = buyer(client)
    before = balance(client, headers)
    session = start_checkout(client, headers)

    assert press(client, session["session_id"], "cancel").status_code == 303

    assert balance(client, headers) == before
    assert [p["status"] for p in payments(client, headers)] == ["expired"]


def test_paying_a_plan_makes_an_active_subscription_with_its_monthly_credits(client: FlaskClient) -> None:
    headers = buyer(client)
    before = balance(client, headers)
    session = start_checkout(client, headers, plan_id="pro")

    assert press(client, session["session_id"], "paid").status_code == 303

    subscription = client.get("/v1/billing/subscription", headers=headers).get_json()
    assert (subscription["plan_id"], subscription["status"]) == ("pro", "active")
    assert balance(client, headers) == before + 2000


def test_a_post_without_the_pages_token_is_forbidden_and_sends_nothing(client: FlaskClient) -> None:
    headers = buyer(client)
    session = start_checkout(client, headers)
    before = balance(client, headers)

    response = client.post(PAGE + session["session_id"], data={"outcome": "paid"})

    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"
    assert balance(client, headers) == before
    assert [p["status"] for p in payments(client, headers)] == ["pending"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "same-origin"},  # the Origin names another host
        {"Origin": "null"},  # a sandboxed frame or data: page of another site, from an older browser
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "null", "Sec-Fetch-Site": "same-site"},
        {"Origin": "null", "Sec-Fetch-Site": "none"},
    ],
)
def test_a_cross_site_form_post_is_forbidden_even_with_the_token(client: FlaskClient, headers: dict[str, str]) -> None:
    auth = buyer(client)
    session = start_checkout(client, auth)

    response = press(client, session["session_id"], "paid", **headers)

    assert response.status_code == 403
    assert [p["status"] for p in payments(client, auth)] == ["pending"]


def test_a_same_origin_post_is_accepted(client: FlaskClient) -> None:
    auth = buyer(client)
    session = start_checkout(client, auth)

    response = press(
        client, session["session_id"], "paid", Origin="http://localhost", **{"Sec-Fetch-Site": "same-origin"}
    )

    assert response.status_code == 303


def test_what_a_browser_sends_from_the_no_referrer_page_is_accepted(client: FlaskClient) -> None:
    """Issue 21: the page is `Referrer-Policy: no-referrer`, so Chromium and Firefox post its form
    with `Origin: null` and `Sec-Fetch-Site: same-origin` (seen in Chromium 156). Refused before."""
    auth = buyer(client)
    before = balance(client, auth)
    session = start_checkout(client, auth)

    response = press(client, session["session_id"], "paid", Origin="null", **{"Sec-Fetch-Site": "same-origin"})

    assert response.status_code == 303
    assert balance(client, auth) == before + 500


def test_the_shell_hint_is_only_on_an_open_session(client: FlaskClient) -> None:
    session = start_checkout(client, buyer(client))
    assert "houston simulate-payment" in client.get(PAGE + session["session_id"]).get_data(as_text=True)

    press(client, session["session_id"], "cancel")

    html = client.get(PAGE + session["session_id"]).get_data(as_text=True)
    assert "houston simulate-payment" not in html and "expired</b>: nothing left to do" in html


def test_an_unknown_outcome_is_a_validation_error(client: FlaskClient) -> None:
    session = start_checkout(client, buyer(client))

    response = press(client, session["session_id"], "maybe")

    assert response.status_code == 422
    assert "outcome" in response.get_json()["error"]["details"]


@pytest.mark.parametrize("session_id", ["cs_test_fake_nobody", "bad%20id", "x" * 300])
def test_an_unknown_or_malformed_session_is_404(client: FlaskClient, session_id: str) -> None:
    assert client.get(PAGE + session_id).status_code == 404
    assert client.post(PAGE + session_id, data={"outcome": "paid", "token": "0" * 64}).status_code == 404


def test_the_page_is_not_in_the_openapi_document(client: FlaskClient) -> None:
    assert not [p for p in client.get("/openapi.json").get_json()["paths"] if "fake-checkout" in p]


def test_with_a_stripe_key_there_is_no_fake_checkout_page(make_app: Callable[..., Flask]) -> None:
    real = make_app(
        settings=make_settings(
            stripe_webhook_secret=SECRET, stripe_secret_key="sk_test_x", stripe_api_base="http://127.0.0.1:9"
        )
    )

    assert real.test_client().get(PAGE + "cs_test_fake_1").status_code == 404


def test_simulate_payment_pays_from_the_shell(
    client: FlaskClient, container: Container, capsys: pytest.CaptureFixture[str]
) -> None:
    headers = buyer(client)
    before = balance(client, headers)
    session = start_checkout(client, headers)

    assert simulate_payment(container, session["session_id"]) == 0

    out = capsys.readouterr().out
    assert "sent checkout.session.completed" in out and ": paid" in out
    assert balance(client, headers) == before + 500
    assert simulate_payment(container, session["session_id"]) == 1  # already paid
    assert balance(client, headers) == before + 500


def test_simulate_payment_fail_and_unknown_session(client: FlaskClient, container: Container) -> None:
    headers = buyer(client)
    session = start_checkout(client, headers, plan_id="pro")

    assert simulate_payment(container, session["session_id"], "failed") == 0
    assert [p["status"] for p in payments(client, headers)] == ["failed"]
    assert simulate_payment(container, "cs_test_fake_nobody") == 1


def test_simulate_payment_refuses_to_run_against_stripe(make_app: Callable[..., Flask]) -> None:
    real = make_app(
        settings=make_settings(
            stripe_webhook_secret=SECRET, stripe_secret_key="sk_test_x", stripe_api_base="http://127.0.0.1:9"
        )
    )

    assert simulate_payment(real.extensions["houston"], "cs_test_1") == 2


@pytest.mark.parametrize("storage", ["memory", "sqlite", "mariadb"])
def test_an_admin_refund_through_the_fake_gateway_sends_charge_refunded_and_reverses_the_credits(
    make_app: Callable[..., Flask], queue: InlineJobQueue, tmp_path: Any, storage: str, request: pytest.FixtureRequest
) -> None:
    overrides: dict[str, Any] = {}
    if storage != "memory":
        from adapters.sql.uow import SqlUnitOfWorkFactory
        from tests.fixtures.backends import sqlite_engine

        engine = (
            sqlite_engine(tmp_path / "refund.db") if storage == "sqlite" else request.getfixturevalue("mysql_engine")
        )
        overrides["uow"] = SqlUnitOfWorkFactory(engine, queue)
    app = make_app(**overrides)
    container = app.extensions["houston"]
    queue.bind(lambda job: run_job(container, job))
    client = app.test_client()
    headers = buyer(client)
    before = balance(client, headers)
    session = start_checkout(client, headers)
    assert press(client, session["session_id"], "paid").status_code == 303
    [payment] = payments(client, headers)
    admin_email = f"{unique('root')}@example.com"
    container.identity.create_admin(admin_email, "correct horse battery staple")
    admin = auth_headers(
        client.post(
            "/v1/auth/login", json={"email": admin_email, "password": "correct horse battery staple"}
        ).get_json()["access_token"]
    )

    part = client.post(
        f"/v1/admin/payments/{payment['id']}/refund",
        json={"amount_cents": 500},
        headers={**admin, "Idempotency-Key": "refund-1"},
    )

    assert part.status_code == 200, part.get_json()
    assert balance(client, headers) == before + 375  # a quarter of 2000 cents refunded: 125 of 500 credits
    rest = client.post(
        f"/v1/admin/payments/{payment['id']}/refund", json={}, headers={**admin, "Idempotency-Key": "refund-2"}
    )
    assert rest.status_code == 200, rest.get_json()
    assert balance(client, headers) == before
    [after] = payments(client, headers)
    assert (after["status"], after["refunded_cents"]) == ("refunded", 2000)


def test_a_refund_webhook_that_never_arrived_is_replayed_once_by_reconciliation(
    client: FlaskClient, container: Container
) -> None:
    headers = buyer(client)
    before = balance(client, headers)
    session = start_checkout(client, headers)
    assert press(client, session["session_id"], "paid").status_code == 303
    [payment] = payments(client, headers)
    gateway: Any = container.payment_gateway
    gateway.bind_delivery(None)  # the refund's webhook is lost on its way
    container.billing.refund(payment["id"], amount_cents=None, idempotency_key="lost")
    assert balance(client, headers) == before + 500

    first = container.billing.reconcile(since=container.clock.now() - timedelta(days=1))
    second = container.billing.reconcile(since=container.clock.now() - timedelta(days=1))

    assert len(first.replayed) == 1 and len(second.replayed) == 0
    assert balance(client, headers) == before
    assert [p["status"] for p in payments(client, headers)] == ["refunded"]


def test_simulate_payment_renews_fails_a_renewal_and_ends_the_period(
    client: FlaskClient, container: Container, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 21: offline, a plan can reach its next periods and the end of a cancelled one."""
    headers = buyer(client)
    session = start_checkout(client, headers, plan_id="pro")["session_id"]
    assert simulate_payment(container, session, "renew") == 1  # nothing to renew before it is paid
    assert simulate_payment(container, session) == 0
    first = client.get("/v1/billing/subscription", headers=headers).get_json()

    assert simulate_payment(container, session, "renew") == 0
    renewed = client.get("/v1/billing/subscription", headers=headers).get_json()
    assert renewed["status"] == "active" and renewed["current_period_end"] > first["current_period_end"]
    assert "sent invoice.paid" in capsys.readouterr().out

    assert simulate_payment(container, session, "renew-fails") == 0
    assert client.get("/v1/billing/subscription", headers=headers).get_json()["status"] == "past_due"

    assert client.post("/v1/billing/subscription/cancel", headers=headers).status_code == 200
    assert simulate_payment(container, session, "renew") == 1  # a cancelled plan is not renewed
    assert simulate_payment(container, session, "end") == 0
    assert "subscription sub_" in capsys.readouterr().out
    assert client.get("/v1/me", headers=headers).get_json()["plan"] == "free"
    assert simulate_payment(container, session, "end") == 1  # ended: nothing comes next


def test_simulate_payment_has_no_period_for_a_pack(client: FlaskClient, container: Container) -> None:
    session = start_checkout(client, buyer(client))["session_id"]
    assert simulate_payment(container, session) == 0
    assert simulate_payment(container, session, "renew") == 1


def test_the_fake_portal_is_a_page_showing_the_subscription_and_the_way_back(client: FlaskClient) -> None:
    headers = buyer(client)
    session = start_checkout(client, headers, plan_id="pro")
    press(client, session["session_id"], "paid")

    opened = client.post("/v1/billing/portal", json={"return_url": "https://app.example/account"}, headers=headers)

    assert opened.status_code == 201
    url = opened.get_json()["url"]
    assert url.startswith("http://localhost:8000/v1/billing/fake-portal/")  # not the return_url echoed back
    page = client.get(url.removeprefix("http://localhost:8000"))
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Fake billing portal" in html and "Development only" in html
    assert "<td>active</td>" in html and 'href="https://app.example/account"' in html
    assert page.headers["X-Frame-Options"] == "DENY"
    assert client.get("/v1/billing/fake-portal/bps_fake_nobody").status_code == 404


def test_paying_with_the_referrers_test_card_earns_no_bonus_and_a_card_of_ones_own_does(
    app: Flask, client: FlaskClient
) -> None:
    """The referral programme's same-card rule, offline: the page's shared test card has one
    fingerprint for every buyer (two accounts paying with one card), a card of one's own another."""

    def buy(headers: dict[str, str], card: str) -> None:
        session_id = start_checkout(client, headers)["session_id"]
        html = client.get(PAGE + session_id).get_data(as_text=True)
        assert '<option value="4242424242424242">' in html
        answer = client.post(
            PAGE + session_id, data={"outcome": "paid", "token": page_token(client, session_id), "card": card}
        )
        assert answer.status_code == 303, answer.get_data(as_text=True)

    referrer = register(client)
    code = client.get("/v1/referrals", headers=auth_headers(referrer["access_token"])).get_json()["code"]
    buy(auth_headers(referrer["access_token"]), "4242424242424242")
    same_card = register(client, referral_code=code)
    buy(auth_headers(same_card["access_token"]), "4242424242424242")
    own_card = register(client, referral_code=code)
    buy(auth_headers(own_card["access_token"]), "")

    admin = register_admin(client, app.extensions["houston"])
    path = f"/v1/admin/users/{referrer['user']['id']}/referrals"
    signals = client.get(path, headers=auth_headers(admin["access_token"])).get_json()
    by_referee = {r["referee_id"]: (r["status"], r["reason"]) for r in signals["referrals"]}
    assert by_referee == {
        same_card["user"]["id"]: ("ineligible", "same_card"),
        own_card["user"]["id"]: ("pending", None),
    }


def test_an_unknown_test_card_is_a_422_and_sends_nothing(client: FlaskClient) -> None:
    headers = buyer(client)
    session_id = start_checkout(client, headers)["session_id"]
    answer = client.post(
        PAGE + session_id, data={"outcome": "paid", "token": page_token(client, session_id), "card": "4000000000000002"}
    )
    assert answer.status_code == 422 and answer.get_json()["error"]["details"] == {
        "card": "Must be one of 4242424242424242, 5555555555554444."
    }
    assert [p["status"] for p in payments(client, headers)] == ["pending"]
