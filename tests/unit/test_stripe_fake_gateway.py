"""The fake gateway and the fake checkout, on their own (no billing service): what they answer,
what they remember, and which signed events they send."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.stripe import events as ev
from adapters.stripe.fake import FakeCheckout, FakePaymentGateway
from adapters.stripe.webhooks import StripeWebhookVerifier
from domain.billing.errors import PaymentProviderError, PaymentProviderUnavailable
from domain.billing.ports import CheckoutRequest
from domain.shared.clock import ManualClock
from domain.shared.errors import Conflict, NotFound
from domain.shared.ids import SequentialIds

SECRET = "whsec_fake_tests_" + "s" * 24
T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def request(**changes: Any) -> CheckoutRequest:
    values: dict[str, Any] = dict(
        mode="payment",
        user_id="usr_1",
        customer_email="ada@example.com",
        customer_id=None,
        price_id=None,
        product_name="Starter",
        amount_cents=1000,
        currency="usd",
        success_url="http://app.example/ok?s={CHECKOUT_SESSION_ID}",
        cancel_url="http://app.example/no",
        metadata={"payment_id": "pay_1", "user_id": "usr_1", "pack_id": "starter"},
        idempotency_key="k1",
    )
    values.update(changes)
    return CheckoutRequest(**values)


class Details:
    """What BillingService.checkout_details returns, for a session the test controls."""

    def __init__(self, session_id: str, kind: str = "pack", status: str = "pending") -> None:
        self.session_id, self.kind, self.status = session_id, kind, status
        self.payment_id, self.user_id, self.customer_email = "pay_1", "usr_1", "ada@example.com"
        self.item_id, self.item_name = ("pro", "Pro") if kind == "plan" else ("starter", "Starter")
        self.credits, self.amount_cents, self.currency = 500, 1000, "usd"
        self.price_id = "price_pro" if kind == "plan" else None


class RecordingBilling:
    """Verifies each delivery with the real verifier and keeps what arrived."""

    def __init__(self) -> None:
        self.verifier = StripeWebhookVerifier(SECRET)
        self.received: list[Mapping[str, Any]] = []
        self.details: dict[str, Details] = {}

    def checkout_details(self, session_id: str) -> Details | None:
        return self.details.get(session_id)

    def receive_webhook(self, payload: bytes, signature_header: str) -> None:
        self.received.append(self.verifier.verify(payload, signature_header))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def gateway(clock: ManualClock) -> FakePaymentGateway:
    return FakePaymentGateway("http://127.0.0.1:8000/", SequentialIds(), clock=clock)


@pytest.fixture
def billing() -> RecordingBilling:
    return RecordingBilling()


@pytest.fixture
def checkout(billing: RecordingBilling, gateway: FakePaymentGateway, clock: ManualClock) -> FakeCheckout:
    made = FakeCheckout(billing=billing, webhook_secret=SECRET, clock=clock, gateway=gateway)
    gateway.bind_delivery(made.deliver)
    return made


def pay(gateway: FakePaymentGateway, billing: RecordingBilling, checkout: FakeCheckout, kind: str = "pack") -> str:
    session = gateway.create_checkout_session(
        request(mode="subscription" if kind == "plan" else "payment", idempotency_key=f"k-{len(gateway.sessions)}")
    )
    billing.details[session.id] = Details(session.id, kind)
    checkout.complete(session.id, "paid")
    billing.details[session.id].status = "paid"
    return session.id


def test_a_checkout_url_opens_the_services_own_fake_checkout_page(gateway: FakePaymentGateway) -> None:
    session = gateway.create_checkout_session(request())

    assert session.id == "cs_test_fake_000001"
    assert session.url == "http://127.0.0.1:8000/v1/billing/fake-checkout/cs_test_fake_000001"
    assert session.customer_id == ev.derived_id("cus", "usr_1")
    assert session.payment_intent_id is None


def test_the_same_idempotency_key_returns_the_same_session_and_a_different_body_is_refused(
    gateway: FakePaymentGateway,
) -> None:
    first = gateway.create_checkout_session(request())

    assert gateway.create_checkout_session(request()) == first
    with pytest.raises(PaymentProviderError):
        gateway.create_checkout_session(request(amount_cents=2000))
    assert gateway.create_checkout_session(request(idempotency_key="k2")).id != first.id


def test_completing_a_pack_sends_its_charge_and_its_completion_verified_and_makes_it_refundable(
    gateway: FakePaymentGateway, billing: RecordingBilling, checkout: FakeCheckout
) -> None:
    session_id = pay(gateway, billing, checkout)

    charge, event = billing.received
    assert (charge["type"], event["type"]) == ("charge.succeeded", "checkout.session.completed")
    intent = event["data"]["object"]["payment_intent"]
    assert charge["data"]["object"]["payment_intent"] == intent
    assert gateway.charges[intent]["amount"] == 1000
    assert checkout.return_url(session_id, "paid") == f"http://app.example/ok?s={session_id}"
    assert checkout.return_url(session_id, "cancel") == "http://app.example/no"


def test_refunds_send_cumulative_charge_refunded_events_and_stop_at_the_amount_paid(
    gateway: FakePaymentGateway, billing: RecordingBilling, checkout: FakeCheckout
) -> None:
    pay(gateway, billing, checkout)
    intent = billing.received[0]["data"]["object"]["payment_intent"]

    first = gateway.refund(payment_intent_id=intent, amount_cents=400, idempotency_key="r1")
    again = gateway.refund(payment_intent_id=intent, amount_cents=400, idempotency_key="r1")
    rest = gateway.refund(payment_intent_id=intent, amount_cents=None, idempotency_key="r2")

    assert first == again and first.amount_cents == 400 and rest.amount_cents == 600
    refunds = [e["data"] for e in billing.received if e["type"] == "charge.refunded"]
    assert [(d["object"]["amount_refunded"], d["previous_attributes"]["amount_refunded"]) for d in refunds] == [
        (400, 0),
        (1000, 400),
    ]
    assert refunds[-1]["object"]["refunded"] is True
    with pytest.raises(PaymentProviderError):
        gateway.refund(payment_intent_id=intent, amount_cents=1, idempotency_key="r3")


def test_refunding_an_unknown_payment_is_refused_like_stripe_does(gateway: FakePaymentGateway) -> None:
    with pytest.raises(PaymentProviderError) as caught:
        gateway.refund(payment_intent_id="pi_fake_nobody", amount_cents=None, idempotency_key="r")

    assert caught.value.details["provider_status"] == 404


def test_a_plan_is_readable_then_cancelled_at_period_end_with_an_updated_event(
    gateway: FakePaymentGateway, billing: RecordingBilling, checkout: FakeCheckout, clock: ManualClock
) -> None:
    pay(gateway, billing, checkout, kind="plan")
    sub_id = billing.received[0]["data"]["object"]["subscription"]
    period_end = gateway.retrieve_subscription(sub_id)["items"]["data"][0]["current_period_end"]

    clock.advance(days=3)
    cancelled = gateway.cancel_subscription_at_period_end(sub_id)

    assert (cancelled["status"], cancelled["cancel_at_period_end"], cancelled["cancel_at"]) == (
        "active",
        True,
        period_end,
    )
    updated = billing.received[-1]
    assert updated["type"] == "customer.subscription.updated"
    assert updated["data"]["previous_attributes"] == {"cancel_at_period_end": False, "cancel_at": None}
    assert updated["created"] == ev.unix(clock.now())
    assert gateway.retrieve_subscription(sub_id)["cancel_at_period_end"] is True


def test_list_events_returns_what_was_sent_after_a_time_oldest_first_by_type(
    gateway: FakePaymentGateway, billing: RecordingBilling, checkout: FakeCheckout, clock: ManualClock
) -> None:
    pay(gateway, billing, checkout)
    clock.advance(hours=1)
    pay(gateway, billing, checkout, kind="plan")

    everything = list(gateway.list_events(created_after=T0 - timedelta(seconds=1)))
    later = list(gateway.list_events(created_after=T0))
    invoices = list(gateway.list_events(created_after=T0 - timedelta(seconds=1), types=["invoice.paid"]))

    assert len(everything) == 5  # the pack's charge and completion, the plan's three
    assert [e["created"] for e in everything] == sorted(e["created"] for e in everything)
    assert ev.types_of(later) == ["checkout.session.completed", "customer.subscription.created", "invoice.paid"]
    assert ev.types_of(invoices) == ["invoice.paid"]


def test_fail_next_makes_the_next_call_fail_once(gateway: FakePaymentGateway) -> None:
    gateway.fail_next(PaymentProviderUnavailable())

    with pytest.raises(PaymentProviderUnavailable):
        gateway.create_checkout_session(request())
    assert gateway.create_checkout_session(request()).id


def test_a_failing_delivery_does_not_fail_the_refund_and_the_event_stays_listed(
    gateway: FakePaymentGateway, billing: RecordingBilling, checkout: FakeCheckout
) -> None:
    pay(gateway, billing, checkout)
    intent = billing.received[0]["data"]["object"]["payment_intent"]

    def broken(events: Sequence[Mapping[str, Any]]) -> None:
        raise RuntimeError("webhook endpoint down")

    gateway.bind_delivery(broken)
    refund = gateway.refund(payment_intent_id=intent, amount_cents=None, idempotency_key="r")

    assert refund.status == "succeeded"
    assert ev.types_of(list(gateway.list_events(created_after=T0 - timedelta(days=1)))) == [
        "charge.succeeded",
        "checkout.session.completed",
        "charge.refunded",
    ]


def test_the_portal_is_a_page_of_the_service_that_knows_its_way_back(gateway: FakePaymentGateway) -> None:
    """Issue 21: the fake portal silently echoed return_url, so the buyer saw nothing of a portal."""
    url = gateway.create_portal_session(customer_id="cus_1", return_url="http://app.example/b")

    assert url.startswith(gateway.public_base_url + "/v1/billing/fake-portal/bps_fake")
    found = gateway.portal(url.rsplit("/", 1)[1])
    assert found is not None and (found["customer"], found["return_url"]) == ("cus_1", "http://app.example/b")
    assert gateway.portal("bps_fake_nobody") is None


def test_an_unknown_session_cannot_be_completed(checkout: FakeCheckout) -> None:
    with pytest.raises(NotFound):
        checkout.complete("cs_test_fake_nobody", "paid")


def test_a_session_that_is_no_longer_pending_cannot_be_completed_again(
    gateway: FakePaymentGateway, billing: RecordingBilling, checkout: FakeCheckout
) -> None:
    session_id = pay(gateway, billing, checkout)

    with pytest.raises(Conflict):
        checkout.complete(session_id, "paid")
    assert ev.types_of(billing.received) == ["charge.succeeded", "checkout.session.completed"]


def test_the_form_token_is_tied_to_the_session_and_the_secret(billing: RecordingBilling) -> None:
    checkout = FakeCheckout(billing=billing, webhook_secret=SECRET)
    other = FakeCheckout(billing=billing, webhook_secret=SECRET + "x")

    token = checkout.form_token("cs_test_fake_1")
    assert checkout.check_form_token("cs_test_fake_1", token)
    assert not checkout.check_form_token("cs_test_fake_2", token)
    assert not other.check_form_token("cs_test_fake_1", token)
    assert not checkout.check_form_token("cs_test_fake_1", "")


def test_deliveries_are_the_exact_bytes_of_pretty_json_signed_now(billing: RecordingBilling) -> None:
    payloads: list[bytes] = []

    class Capturing(RecordingBilling):
        def receive_webhook(self, payload: bytes, signature_header: str) -> None:
            payloads.append(payload)
            super().receive_webhook(payload, signature_header)

    capturing = Capturing()
    capturing.details["cs_test_fake_9"] = Details("cs_test_fake_9")
    FakeCheckout(billing=capturing, webhook_secret=SECRET).complete("cs_test_fake_9", "cancel")

    assert json.loads(payloads[0])["type"] == "checkout.session.expired"
    assert payloads[0] == ev.encode(json.loads(payloads[0]))


def test_gateways_sharing_a_state_file_are_one_provider(tmp_path: Any, clock: ManualClock) -> None:
    path = str(tmp_path / "fake-stripe.json")
    web = FakePaymentGateway("http://127.0.0.1:8000", SequentialIds(), clock=clock, state_file=path)
    cli = FakePaymentGateway("http://127.0.0.1:8000", clock=clock, state_file=path)
    billing = RecordingBilling()
    checkout = FakeCheckout(billing=billing, webhook_secret=SECRET, clock=clock, gateway=cli)
    cli.bind_delivery(checkout.deliver)

    session = web.create_checkout_session(request(mode="subscription"))
    billing.details[session.id] = Details(session.id, "plan")
    checkout.complete(session.id, "paid")
    sub_id = billing.received[0]["data"]["object"]["subscription"]

    assert session.id in cli.sessions
    assert web.retrieve_subscription(sub_id)["status"] == "active"
    assert web.cancel_subscription_at_period_end(sub_id)["cancel_at_period_end"] is True
    assert cli.retrieve_subscription(sub_id)["cancel_at_period_end"] is True
    assert web.checkout_urls(session.id) == ("http://app.example/ok?s=" + session.id, "http://app.example/no")
    assert len(list(cli.list_events(created_after=T0 - timedelta(days=1)))) == 4


def test_concurrent_refunds_through_several_gateways_never_refund_more_than_was_paid(
    tmp_path: Any, clock: ManualClock
) -> None:
    import threading

    path = str(tmp_path / "fake-stripe.json")
    gateways = [FakePaymentGateway(clock=clock, state_file=path) for _ in range(4)]
    gateways[0].record(ev.checkout_outcome(ev.CheckoutFacts.from_details(Details("cs_test_fake_c")), "paid", T0))
    intent = ev.derived_id("pi", "cs_test_fake_c")
    outcomes: list[str] = []

    def ask(n: int) -> None:
        try:
            gateways[n % 4].refund(payment_intent_id=intent, amount_cents=100, idempotency_key=f"r{n}")
            outcomes.append("ok")
        except PaymentProviderError:
            outcomes.append("refused")

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["ok"] * 10 + ["refused"] * 6
    assert gateways[3].charges[intent]["refunded"] == 1000


def test_a_shared_test_card_has_one_fingerprint_for_every_buyer_and_a_card_of_ones_own_another(
    gateway: FakePaymentGateway, billing: RecordingBilling, checkout: FakeCheckout
) -> None:
    def fingerprint(card: str | None) -> str:
        session = gateway.create_checkout_session(request(idempotency_key=f"k-{len(gateway.sessions)}"))
        billing.details[session.id] = Details(session.id, "pack")
        checkout.complete(session.id, "paid", card=card)
        charge = billing.received[-2]
        assert charge["type"] == "charge.succeeded"
        return str(charge["data"]["object"]["payment_method_details"]["card"]["fingerprint"])

    shared = [fingerprint("4242424242424242"), fingerprint("4242424242424242")]
    own = [fingerprint(None), fingerprint(None)]
    assert shared[0] == shared[1] and len({*own, shared[0], fingerprint("5555555555554444")}) == 4
    with pytest.raises(ValueError, match="card must be one of"):
        checkout.complete("cs_test_fake_any", "paid", card="4000000000000002")
