"""The event builder: events in the recorded samples' shape (same keys, same nesting, same types),
signed so that the stripe package accepts them, and the right sequence for each checkout outcome."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import stripe

from adapters.stripe import events as ev

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stripe_recorded"  # the recorded samples, unchanged
NOW = datetime(2026, 8, 31, 10, 0, tzinfo=UTC)
PACK = ev.CheckoutFacts(
    session_id="cs_test_fake_pack",
    mode="payment",
    user_id="usr_1",
    customer_email="ada@example.com",
    amount_cents=1000,
    currency="usd",
    metadata={"payment_id": "pay_1", "user_id": "usr_1", "pack_id": "starter"},
    product_name="Starter pack",
)
PLAN = ev.CheckoutFacts(
    session_id="cs_test_fake_plan",
    mode="subscription",
    user_id="usr_1",
    customer_email="ada@example.com",
    amount_cents=2000,
    currency="usd",
    metadata={"payment_id": "pay_2", "user_id": "usr_1", "plan_id": "pro"},
    product_name="Pro",
    price_id="price_pro",
)


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def shape_differences(recorded: Any, built: Any, path: str = "") -> list[str]:
    """Where `built` does not have `recorded`'s structure: missing or extra keys, other types
    (a null on either side matches anything: optional fields)."""
    if recorded is None or built is None:
        return []
    if isinstance(recorded, dict):
        if not isinstance(built, dict):
            return [f"{path}: {type(built).__name__} instead of an object"]
        diffs = [f"{path}.{k}: missing" for k in recorded.keys() - built.keys()]
        diffs += [f"{path}.{k}: not in Stripe's shape" for k in built.keys() - recorded.keys()]
        for key in recorded.keys() & built.keys():
            if key == "metadata":  # free-form by design
                continue
            diffs += shape_differences(recorded[key], built[key], f"{path}.{key}")
        return diffs
    if isinstance(recorded, list):
        if not isinstance(built, list):
            return [f"{path}: {type(built).__name__} instead of a list"]
        if recorded and built:
            return shape_differences(recorded[0], built[0], f"{path}[0]")
        return []
    if type(recorded) is not type(built):
        return [f"{path}: {type(built).__name__} instead of {type(recorded).__name__}"]
    return []


def test_the_shape_check_itself_notices_a_missing_key() -> None:
    built = ev.checkout_outcome(PACK, "paid", NOW)[0]
    del built["data"]["object"]["payment_status"]

    assert shape_differences(fixture("02_checkout.session.completed.pack.json"), built) == [
        ".data.object.payment_status: missing"
    ]


@pytest.mark.parametrize(
    ("name", "build"),
    [
        ("02_checkout.session.completed.pack.json", lambda: ev.checkout_outcome(PACK, "paid", NOW)[0]),
        ("05_checkout.session.completed.subscription.json", lambda: ev.checkout_outcome(PLAN, "paid", NOW)[0]),
        ("13_invoice.paid.json", lambda: ev.renewal(PLAN, number=2, period_start=NOW)[1]),
        ("14_customer.subscription.updated.plan_change.json", lambda: ev.renewal(PLAN, number=2, period_start=NOW)[0]),
        (
            "09_charge.refunded.partial.json",
            lambda: ev.charge_refunded(
                payment_intent="pi_fake_1",
                amount_cents=1000,
                currency="usd",
                amount_refunded=400,
                previously_refunded=0,
                now=ev.unix(NOW),
            ),
        ),
    ],
)
def test_built_events_have_the_recorded_samples_shape(name: str, build: Any) -> None:
    recorded, built = fixture(name), build()

    assert built["type"] == recorded["type"]
    assert built["api_version"] == recorded["api_version"] == ev.API_VERSION
    differences = shape_differences(recorded, built)
    if name.startswith("14_"):  # the sample is a plan change: its previous_attributes are its own
        differences = [d for d in differences if not d.startswith(".data.previous_attributes")]
    assert differences == []


def test_a_signed_event_is_accepted_by_stripes_construct_event() -> None:
    event = ev.checkout_outcome(PACK, "paid", NOW)[0]
    payload, header = ev.signed(event, "whsec_abc", int(time.time()))

    constructed = stripe.Webhook.construct_event(payload, header, "whsec_abc")

    assert constructed.id == event["id"]
    assert constructed.data.object.payment_intent == PACK.payment_intent


def test_a_paid_pack_is_one_completed_session_carrying_our_metadata_and_ids() -> None:
    [completed] = ev.checkout_outcome(PACK, "paid", NOW)
    session = completed["data"]["object"]

    assert completed["type"] == "checkout.session.completed"
    assert completed["created"] == ev.unix(NOW)
    assert (session["id"], session["mode"], session["payment_status"], session["status"]) == (
        "cs_test_fake_pack",
        "payment",
        "paid",
        "complete",
    )
    assert session["client_reference_id"] == "usr_1"
    assert session["metadata"] == {"payment_id": "pay_1", "user_id": "usr_1", "pack_id": "starter"}
    assert session["payment_intent"].startswith("pi_fake_")
    assert session["customer"].startswith("cus_fake_")
    assert (session["amount_total"], session["currency"]) == (1000, "usd")
    assert session["subscription"] is None


def test_a_paid_plan_is_completed_then_subscription_created_then_invoice_paid_for_one_month() -> None:
    completed, created, paid = ev.checkout_outcome(PLAN, "paid", NOW)

    assert ev.types_of([completed, created, paid]) == [
        "checkout.session.completed",
        "customer.subscription.created",
        "invoice.paid",
    ]
    sub_id = completed["data"]["object"]["subscription"]
    assert sub_id.startswith("sub_fake_")
    sub = created["data"]["object"]
    item = sub["items"]["data"][0]
    assert (sub["id"], sub["status"], item["price"]["id"]) == (sub_id, "active", "price_pro")
    assert (item["current_period_start"], item["current_period_end"]) == (
        ev.unix(NOW),
        ev.unix(datetime(2026, 9, 30, 10, 0, tzinfo=UTC)),
    )
    invoice = paid["data"]["object"]
    assert invoice["parent"]["subscription_details"]["subscription"] == sub_id
    assert invoice["subscription"] is None  # as in the pinned version: not at the top level
    assert invoice["lines"]["data"][0]["period"] == {
        "start": item["current_period_start"],
        "end": item["current_period_end"],
    }
    assert invoice["lines"]["data"][0]["pricing"]["price_details"]["price"] == "price_pro"
    assert (invoice["amount_paid"], invoice["status"]) == (2000, "paid")
    assert sub["metadata"]["plan_id"] == "pro" == invoice["parent"]["subscription_details"]["metadata"]["plan_id"]


def test_a_failed_pack_is_an_unpaid_completion_then_async_payment_failed() -> None:
    events = ev.checkout_outcome(PACK, "failed", NOW)

    assert ev.types_of(events) == ["checkout.session.completed", "checkout.session.async_payment_failed"]
    assert {e["data"]["object"]["payment_status"] for e in events} == {"unpaid"}


def test_a_failed_plan_is_an_incomplete_subscription_and_a_failed_invoice() -> None:
    created, failed = ev.checkout_outcome(PLAN, "failed", NOW)

    assert created["data"]["object"]["status"] == "incomplete"
    assert failed["type"] == "invoice.payment_failed"
    assert (failed["data"]["object"]["status"], failed["data"]["object"]["amount_paid"]) == ("open", 0)


@pytest.mark.parametrize("facts", [PACK, PLAN])
def test_cancel_is_an_expired_session_without_payment(facts: ev.CheckoutFacts) -> None:
    [expired] = ev.checkout_outcome(facts, "cancel", NOW)

    assert expired["type"] == "checkout.session.expired"
    assert (expired["data"]["object"]["status"], expired["data"]["object"]["payment_status"]) == ("expired", "unpaid")
    assert expired["data"]["object"]["payment_intent"] is None


def test_an_unknown_outcome_is_refused() -> None:
    with pytest.raises(ValueError):
        ev.checkout_outcome(PACK, "maybe", NOW)


def test_ids_are_derived_so_two_processes_agree_and_event_ids_are_unique() -> None:
    first, second = ev.checkout_outcome(PACK, "paid", NOW), ev.checkout_outcome(PACK, "paid", NOW)

    assert first[0]["data"]["object"]["payment_intent"] == second[0]["data"]["object"]["payment_intent"]
    assert first[0]["id"] != second[0]["id"]
    other = ev.CheckoutFacts(**{**PACK.__dict__, "session_id": "cs_test_fake_other"})
    assert other.payment_intent != PACK.payment_intent


def test_a_refund_event_is_cumulative_and_names_the_payment_intent() -> None:
    refunded = ev.charge_refunded(
        payment_intent="pi_fake_1",
        amount_cents=1000,
        currency="usd",
        amount_refunded=700,
        previously_refunded=400,
        now=ev.unix(NOW),
    )
    charge = refunded["data"]["object"]

    assert (charge["amount"], charge["amount_refunded"], charge["refunded"]) == (1000, 700, False)
    assert charge["payment_intent"] == "pi_fake_1"
    assert refunded["data"]["previous_attributes"] == {"amount_refunded": 400}
    assert charge["metadata"] == {}


def test_a_dispute_event_names_the_charge_and_payment_intent() -> None:
    created = ev.dispute_created(payment_intent="pi_fake_1", amount_cents=1000, currency="usd", now=ev.unix(NOW))
    dispute = created["data"]["object"]

    assert created["type"] == "charge.dispute.created"
    assert (dispute["object"], dispute["payment_intent"], dispute["amount"]) == ("dispute", "pi_fake_1", 1000)
    assert dispute["charge"] == ev.derived_id("ch", "pi_fake_1")


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(2026, 1, 31, tzinfo=UTC), datetime(2026, 2, 28, tzinfo=UTC)),
        (datetime(2026, 12, 15, tzinfo=UTC), datetime(2027, 1, 15, tzinfo=UTC)),
        (datetime(2028, 1, 30, tzinfo=UTC), datetime(2028, 2, 29, tzinfo=UTC)),
    ],
)
def test_a_month_later_is_the_same_day_clamped_to_the_months_end(start: datetime, end: datetime) -> None:
    assert ev.add_month(start) == end
