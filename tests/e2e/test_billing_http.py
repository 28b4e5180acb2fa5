"""Billing end to end through HTTP, on memory, SQLite and MariaDB: the app of `create_app(bootstrap())`
with the fake gateway the embedded default uses, and Stripe-shaped events signed with the webhook
secret and POSTed to /v1/webhooks/stripe as Stripe would. Handling runs inline after each commit."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from adapters.queue.inline import InlineJobQueue
from adapters.stripe import events as ev
from domain.shared.clock import ManualClock
from domain.shared.jobs import Job
from entrypoints.bootstrap import Container
from entrypoints.http.app import create_app
from entrypoints.worker.jobs import run_job
from tests.fixtures.containers import ContainerBuilder
from tests.fixtures.http import api_key_headers, auth_headers, create_api_key, register, register_admin
from tests.fixtures.settings import make_settings

SECRET = "whsec_e2e_" + "s" * 32
URLS = {"success_url": "https://app.example/ok", "cancel_url": "https://app.example/no"}
FREE = 100


class Shop:
    """A signed-in buyer, the app, and Stripe's side (events built from the checkout, signed, POSTed)."""

    def __init__(self, container: Container, clock: ManualClock) -> None:
        self.container, self.clock = container, clock
        self.app = create_app(container)
        self.app.testing = True
        self.client: FlaskClient = self.app.test_client()
        self.auth = register(self.client)
        # An API key: the tests move the clock past an access token's lifetime.
        self.headers = api_key_headers(create_api_key(self.client, self.auth["access_token"])["key"])
        self.user_id = self.auth["user"]["id"]

    def balance(self) -> int:
        return int(self.client.get("/v1/credits/balance", headers=self.headers).get_json()["balance"])

    def checkout(self, expect: int = 201, headers: dict[str, str] | None = None, **item: str) -> Any:
        response = self.client.post(
            "/v1/billing/checkout", json={**item, **URLS}, headers={**self.headers, **(headers or {})}
        )
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def facts(self, session_id: str) -> ev.CheckoutFacts:
        return ev.CheckoutFacts.from_details(self.container.billing.checkout_details(session_id))

    def post_event(self, event: dict[str, Any], *, secret: str = SECRET, expect: int = 200) -> Any:
        payload, header = ev.signed(event, secret, int(__import__("time").time()))
        response = self.client.post(
            "/v1/webhooks/stripe",
            data=payload,
            headers={"Stripe-Signature": header, "Content-Type": "application/json"},
        )
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def pay(self, session_id: str, outcome: str = "paid") -> list[dict[str, Any]]:
        events = ev.checkout_outcome(self.facts(session_id), outcome, self.clock.now())
        self.container.payment_gateway.record(events)  # type: ignore[union-attr]  # Stripe knows them
        for event in events:
            self.post_event(event)
        return events


@pytest.fixture
def shop(make_container: ContainerBuilder, clock: ManualClock) -> Shop:
    container = make_container(
        settings=make_settings(stripe_webhook_secret=SECRET), clock=clock, queue=InlineJobQueue(raise_errors=True)
    )
    return Shop(container, clock)


def test_plans_and_packs_are_public(shop: Shop) -> None:
    plans = shop.client.get("/v1/billing/plans").get_json()
    packs = shop.client.get("/v1/billing/packs").get_json()
    assert [(p["id"], p["monthly_credits"], p["interval"]) for p in plans] == [
        ("free", 100, "month"),
        ("pro", 2000, "month"),
        ("enterprise", 12000, "month"),
    ]
    assert [(p["id"], p["credits"], p["amount_cents"], p["currency"]) for p in packs] == [
        ("pack_100", 100, 500, "usd"),
        ("pack_500", 500, 2000, "usd"),
        ("pack_2000", 2000, 7000, "usd"),
    ]


def test_checkout_then_a_signed_webhook_shows_the_credits_once(shop: Shop) -> None:
    started = shop.checkout(pack_id="pack_500")
    assert started["url"].endswith(f"/v1/billing/fake-checkout/{started['session_id']}")
    assert shop.balance() == FREE  # the redirect alone gives nothing
    [event] = shop.pay(started["session_id"])
    assert shop.balance() == FREE + 500
    assert shop.post_event(event) == {"received": True}  # Stripe retries the delivery
    assert shop.balance() == FREE + 500
    [payment] = shop.client.get("/v1/billing/payments", headers=shop.headers).get_json()["items"]
    assert (payment["kind"], payment["status"], payment["credits"], payment["amount_cents"]) == (
        "pack",
        "paid",
        500,
        2000,
    )


def test_a_checkout_idempotency_key_returns_the_same_session_and_refuses_another_item(shop: Shop) -> None:
    first = shop.checkout(pack_id="pack_100", headers={"Idempotency-Key": "buy-1"})
    again = shop.checkout(pack_id="pack_100", headers={"Idempotency-Key": "buy-1"})
    assert again == first
    error = shop.checkout(expect=409, pack_id="pack_500", headers={"Idempotency-Key": "buy-1"})
    assert error["error"]["code"] == "idempotency_conflict"
    assert len(shop.client.get("/v1/billing/payments", headers=shop.headers).get_json()["items"]) == 1


def test_checkout_refuses_unknown_items_and_both_items_by_name(shop: Shop) -> None:
    assert shop.checkout(expect=422, pack_id="pack_9")["error"]["details"] == {"pack_id": "Not in the catalogue."}
    assert shop.checkout(expect=422, plan_id="free")["error"]["details"] == {"plan_id": "Not in the catalogue."}
    assert "pack_id" in shop.checkout(expect=422, pack_id="pack_100", plan_id="pro")["error"]["details"]


def test_a_subscription_grants_each_period_and_purchased_credits_outlive_it(shop: Shop) -> None:
    shop.pay(shop.checkout(pack_id="pack_100")["session_id"])
    session_id = shop.checkout(plan_id="pro")["session_id"]
    shop.pay(session_id)
    sub = shop.client.get("/v1/billing/subscription", headers=shop.headers).get_json()
    period_end = ev.add_month(shop.clock.now())
    assert (sub["plan_id"], sub["status"], sub["cancel_at_period_end"]) == ("pro", "active", False)
    assert sub["current_period_end"].startswith(period_end.strftime("%Y-%m-%dT%H:%M:%S"))
    assert shop.client.get("/v1/me", headers=shop.headers).get_json()["plan"] == "pro"
    assert shop.balance() == FREE + 100 + 2000
    shop.clock.set(period_end)  # next period: last month's plan credits (and free ones) expire
    for event in ev.renewal(shop.facts(session_id), number=2, period_start=period_end):
        shop.post_event(event)
    grants = shop.client.get("/v1/credits/balance", headers=shop.headers).get_json()["grants"]
    assert sorted((g["source"], g["remaining"]) for g in grants) == [("plan", 2000), ("purchase", 100)]
    # Cancel at period end, through the (fake) provider, whose update event confirms it.
    cancelled = shop.client.post("/v1/billing/subscription/cancel", headers=shop.headers)
    assert cancelled.status_code == 200 and cancelled.get_json()["cancel_at_period_end"] is True
    shop.clock.set(ev.add_month(period_end) + timedelta(days=1))
    assert shop.balance() == 100  # the plan's credits expired; the pack's remain


def test_an_admin_refund_reverses_the_credits_through_the_webhook(shop: Shop) -> None:
    shop.pay(shop.checkout(pack_id="pack_500")["session_id"])
    [payment] = shop.client.get("/v1/billing/payments", headers=shop.headers).get_json()["items"]
    url = f"/v1/admin/payments/{payment['id']}/refund"
    assert shop.client.post(url, json={"amount_cents": 800}, headers=shop.headers).status_code == 403
    admin = auth_headers(register_admin(shop.client, shop.container)["access_token"])
    response = shop.client.post(url, json={"amount_cents": 800}, headers=admin)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["refund"]["amount_cents"] == 800
    assert (body["payment"]["status"], body["payment"]["refunded_cents"], body["payment"]["credits_reversed"]) == (
        "partially_refunded",
        800,
        200,
    )
    assert shop.balance() == FREE + 300
    rest = shop.client.post(url, json={}, headers=admin).get_json()["payment"]
    assert (rest["status"], rest["credits_reversed"], rest["shortfall"]) == ("refunded", 500, 0)
    assert shop.balance() == FREE
    assert shop.client.post(url, json={}, headers=admin).status_code == 409
    assert shop.client.get("/v1/admin/payments/pay_nope", headers=admin).status_code == 404
    # Each refund an admin asked for is in the audit log (the refused third one is not).
    audit = shop.client.get(
        "/v1/admin/audit", query_string={"action": "payment.refund_requested", "subject": payment["id"]}, headers=admin
    )
    records = audit.get_json()["items"]
    assert [(r["subject_id"], r["details"]["amount_cents"]) for r in records] == [
        (payment["id"], 1200),
        (payment["id"], 800),
    ]


def test_reconciliation_replays_a_missed_webhook_exactly_once(shop: Shop) -> None:
    session_id = shop.checkout(pack_id="pack_2000")["session_id"]
    events = ev.checkout_outcome(shop.facts(session_id), "paid", shop.clock.now())
    shop.container.payment_gateway.record(events)  # type: ignore[union-attr]  # sent, never received
    assert shop.balance() == FREE
    shop.clock.advance(hours=2)
    first = run_job(shop.container, Job("billing.reconcile", {}))
    assert first["replayed"] == [events[0]["id"]] and first["still_failing"] == []
    assert shop.balance() == FREE + 2000
    second = run_job(shop.container, Job("billing.reconcile", {}))
    assert second["replayed"] == [] and shop.balance() == FREE + 2000


@pytest.mark.parametrize("bad", ["wrong_secret", "no_header"])
def test_a_bad_signature_is_400_and_nothing_is_stored(shop: Shop, bad: str) -> None:
    started = shop.checkout(pack_id="pack_500")
    [event] = ev.checkout_outcome(shop.facts(started["session_id"]), "paid", shop.clock.now())
    if bad == "wrong_secret":
        body = shop.post_event(event, secret="whsec_wrong_" + "w" * 30, expect=400)
    else:
        response = shop.client.post("/v1/webhooks/stripe", data=ev.encode(event), content_type="application/json")
        assert response.status_code == 400
        body = response.get_json()
    assert body["error"]["code"] == "invalid_signature"
    assert shop.container.billing.event(event["id"]) is None  # type: ignore[union-attr]
    assert shop.balance() == FREE


@pytest.mark.parametrize("backend", ["sqlite", "mariadb"], indirect=True)  # two containers share a database
def test_editing_the_catalogue_never_changes_grants_balances_or_a_pending_payment(
    make_container: ContainerBuilder, clock: ManualClock, tmp_path: Path
) -> None:
    settings = make_settings(stripe_webhook_secret=SECRET)
    before = Shop(make_container(settings=settings, clock=clock, queue=InlineJobQueue(raise_errors=True)), clock)
    before.pay(before.checkout(pack_id="pack_100")["session_id"])
    pending = before.checkout(pack_id="pack_500")["session_id"]
    edited = tmp_path / "catalogue.toml"
    edited.write_text(
        '[plans.free]\nname = "Free"\nmonthly_credits = 5\namount_cents = 0\n'
        '[packs.pack_500]\nname = "Now 9,999"\ncredits = 9999\namount_cents = 100\n'
    )
    after_container = make_container(
        settings=make_settings(stripe_webhook_secret=SECRET, catalogue_file=str(edited)),
        clock=clock,
        queue=InlineJobQueue(raise_errors=True),
    )
    after_client = create_app(after_container).test_client()
    assert [p["credits"] for p in after_client.get("/v1/billing/packs").get_json()] == [9999]
    balance = after_client.get("/v1/credits/balance", headers=before.headers).get_json()
    assert balance["balance"] == FREE + 100
    # The checkout made before the edit is paid after it: it grants what it sold.
    facts = ev.CheckoutFacts.from_details(after_container.billing.checkout_details(pending))
    [event] = ev.checkout_outcome(facts, "paid", clock.now())
    payload, header = ev.signed(event, SECRET, int(__import__("time").time()))
    assert (
        after_client.post("/v1/webhooks/stripe", data=payload, headers={"Stripe-Signature": header}).status_code == 200
    )
    assert after_client.get("/v1/credits/balance", headers=before.headers).get_json()["balance"] == FREE + 100 + 500
