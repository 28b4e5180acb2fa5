"""StripePaymentGateway against a local fake server in Stripe's recorded shapes: the calls
localstripe does not support (Checkout Sessions, the billing portal, event listing), and how
every kind of failure becomes a domain error (a 500, a 429, a hang past the timeout, a 400,
a server that is not there)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from adapters.stripe import events as ev
from adapters.stripe.gateway import API_VERSION, StripePaymentGateway
from domain.billing.errors import PaymentProviderError, PaymentProviderUnavailable
from domain.billing.ports import CheckoutRequest
from tests.fixtures.stripe_servers import FakeStripeServer, stripe_error


@pytest.fixture
def server() -> Iterator[FakeStripeServer]:
    with FakeStripeServer() as running:
        yield running


def gateway_for(server: FakeStripeServer, **options: float) -> StripePaymentGateway:
    settings = {"read_timeout": 2.0, "max_network_retries": 0, **options}
    return StripePaymentGateway("sk_test_fake", api_base=server.url, **settings)  # type: ignore[arg-type]


def pack_request(**changes: object) -> CheckoutRequest:
    values: dict[str, object] = dict(
        mode="payment",
        user_id="usr_1",
        customer_email="ada@example.com",
        customer_id=None,
        price_id=None,
        product_name="500 credits",
        amount_cents=1000,
        currency="eur",
        success_url="https://app.example.com/ok?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="https://app.example.com/cancelled",
        metadata={"payment_id": "pay_1", "user_id": "usr_1", "pack_id": "starter"},
        idempotency_key="idem-1",
    )
    values.update(changes)
    return CheckoutRequest(**values)  # type: ignore[arg-type]


def test_a_pack_checkout_sends_price_data_metadata_everywhere_and_the_idempotency_key(server: FakeStripeServer) -> None:
    session = gateway_for(server).create_checkout_session(pack_request())

    assert session.id.startswith("cs_test_")
    assert session.url.startswith("https://checkout.stripe.com/c/pay/" + session.id)
    sent = server.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/v1/checkout/sessions")
    assert sent.headers["stripe-version"] == API_VERSION
    assert sent.headers["idempotency-key"] == "idem-1"
    p = sent.params
    assert p["mode"] == "payment"
    assert p["client_reference_id"] == "usr_1"
    assert p["customer_email"] == "ada@example.com"
    assert p["customer_creation"] == "always"
    assert p["line_items[0][price_data][unit_amount]"] == "1000"
    assert p["line_items[0][price_data][currency]"] == "eur"
    assert p["line_items[0][price_data][product_data][name]"] == "500 credits"
    for prefix in ("metadata", "payment_intent_data[metadata]"):
        assert p[f"{prefix}[payment_id]"] == "pay_1"
        assert p[f"{prefix}[pack_id]"] == "starter"
        assert p[f"{prefix}[user_id]"] == "usr_1"
    assert "subscription_data[metadata][payment_id]" not in p


def test_a_plan_checkout_uses_the_price_id_the_known_customer_and_subscription_metadata(
    server: FakeStripeServer,
) -> None:
    request = pack_request(
        mode="subscription",
        price_id="price_pro",
        customer_id="cus_known",
        metadata={"payment_id": "pay_2", "user_id": "usr_1", "plan_id": "pro"},
    )
    session = gateway_for(server).create_checkout_session(request)

    p = server.requests[-1].params
    assert p["mode"] == "subscription"
    assert p["line_items[0][price]"] == "price_pro"
    assert p["customer"] == "cus_known"
    assert "customer_email" not in p and "customer_creation" not in p
    assert p["subscription_data[metadata][plan_id]"] == "pro"
    assert "payment_intent_data[metadata][plan_id]" not in p
    assert session.customer_id == "cus_known"


def test_the_portal_session_returns_stripes_url(server: FakeStripeServer) -> None:
    url = gateway_for(server).create_portal_session(customer_id="cus_9", return_url="https://app.example.com/b")

    assert url.startswith("https://billing.stripe.com/p/session/")
    assert server.requests[-1].params == {"customer": "cus_9", "return_url": "https://app.example.com/b"}


def _events(count: int, start: int) -> list[dict[str, object]]:
    facts = ev.CheckoutFacts(
        session_id="cs_test_list",
        mode="payment",
        user_id="u",
        customer_email="u@example.com",
        amount_cents=500,
        currency="usd",
        metadata={},
    )
    made = []
    for i in range(count):
        kind = ev.checkout_completed if i % 2 == 0 else ev.checkout_expired
        made.append(kind(facts, now=start + i))
    return made


def test_list_events_reads_every_page_and_returns_plain_dicts_oldest_first(server: FakeStripeServer) -> None:
    start = 1_790_000_000
    server.state.events.extend(_events(250, start))
    server.state.events.extend(_events(3, start - 100))  # before the window

    listed = list(gateway_for(server).list_events(created_after=datetime.fromtimestamp(start - 1, UTC)))

    assert [e["created"] for e in listed] == list(range(start, start + 250))
    assert all(type(e) is dict and type(e["data"]["object"]) is dict for e in listed)
    pages = [r for r in server.requests if r.path == "/v1/events"]
    assert len(pages) == 3  # 100 + 100 + 50
    assert pages[0].params["created[gt]"] == str(start - 1)
    assert pages[1].params["starting_after"] == listed[-100]["id"]  # the oldest of the newest hundred


def test_list_events_filters_by_type_on_the_server(server: FakeStripeServer) -> None:
    start = 1_790_000_000
    server.state.events.extend(_events(10, start))

    listed = list(
        gateway_for(server).list_events(
            created_after=datetime.fromtimestamp(0, UTC), types=["checkout.session.expired"]
        )
    )

    assert [e["type"] for e in listed] == ["checkout.session.expired"] * 5
    assert server.requests[-1].params["types[0]"] == "checkout.session.expired"


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_5xx_and_429_are_provider_unavailable(server: FakeStripeServer, status: int) -> None:
    server.fail(status, stripe_error(status, "Boom", type_="api_error"))

    with pytest.raises(PaymentProviderUnavailable):
        gateway_for(server).create_checkout_session(pack_request())


def test_a_400_is_a_provider_error_without_stripes_message(server: FakeStripeServer) -> None:
    server.fail(400, stripe_error(400, "No such price: 'price_x' on account acct_secret", code="resource_missing"))

    with pytest.raises(PaymentProviderError) as caught:
        gateway_for(server).create_checkout_session(pack_request(price_id="price_x"))

    assert not isinstance(caught.value, PaymentProviderUnavailable)
    assert caught.value.details == {"provider_status": 400, "provider_code": "resource_missing"}
    assert "acct_secret" not in caught.value.message


def test_a_bad_api_key_is_a_provider_error(server: FakeStripeServer) -> None:
    server.fail(401, stripe_error(401, "Invalid API Key provided", type_="invalid_request_error"))

    with pytest.raises(PaymentProviderError):
        gateway_for(server).create_portal_session(customer_id="cus_1", return_url="https://x.example")


def test_a_server_that_hangs_past_the_read_timeout_is_unavailable_in_bounded_time(server: FakeStripeServer) -> None:
    server.fail(200, hang=5.0)
    started = time.monotonic()

    with pytest.raises(PaymentProviderUnavailable):
        gateway_for(server, read_timeout=0.5).create_portal_session(customer_id="cus_1", return_url="https://x.example")

    assert time.monotonic() - started < 3.0


def test_no_server_at_all_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gateway = StripePaymentGateway("sk_test_fake", api_base=f"http://127.0.0.1:{port}", max_network_retries=0)

    with pytest.raises(PaymentProviderUnavailable):
        gateway.create_portal_session(customer_id="cus_1", return_url="https://x.example")


def test_a_transient_500_is_retried_with_the_same_idempotency_key(server: FakeStripeServer) -> None:
    server.fail(500, stripe_error(500, "Try again", type_="api_error"))

    session = gateway_for(server, max_network_retries=2).create_checkout_session(pack_request(idempotency_key="k-42"))

    attempts = [r for r in server.requests if r.path == "/v1/checkout/sessions"]
    assert len(attempts) == 2
    assert {r.headers["idempotency-key"] for r in attempts} == {"k-42"}
    assert session.id.startswith("cs_test_")


def test_a_failure_on_a_later_page_of_events_is_a_domain_error_too(server: FakeStripeServer) -> None:
    server.state.events.extend(_events(150, 1_790_000_000))
    server.fail(503, stripe_error(503, "down", type_="api_error"), after=1)

    with pytest.raises(PaymentProviderUnavailable):
        list(gateway_for(server).list_events(created_after=datetime.fromtimestamp(0, UTC)))

    assert [r.path for r in server.requests] == ["/v1/events", "/v1/events"]


def test_a_plan_without_a_stripe_price_is_sold_with_monthly_recurring_price_data(server: FakeStripeServer) -> None:
    request = pack_request(mode="subscription", metadata={"payment_id": "pay_3", "user_id": "usr_1", "plan_id": "pro"})

    gateway_for(server).create_checkout_session(request)

    p = server.requests[-1].params
    assert p["line_items[0][price_data][recurring][interval]"] == "month"
    assert p["line_items[0][price_data][unit_amount]"] == "1000"
    assert "line_items[0][price]" not in p
