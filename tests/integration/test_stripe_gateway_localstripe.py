"""StripePaymentGateway against localstripe (a fake Stripe server from PyPI, run in-process on
127.0.0.1) for the calls it supports: refunds of a PaymentIntent (full, partial, too much, unknown),
reading a subscription and cancelling it at period end. localstripe answers in an older API shape
than the pinned one, so these tests check what both shapes share (ids, amounts, statuses, flags)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from adapters.stripe.gateway import StripePaymentGateway
from domain.billing.errors import PaymentProviderError, PaymentProviderUnavailable
from tests.fixtures.settings import unique
from tests.fixtures.stripe_servers import localstripe_server

KEY = "sk_test_localstripe"
# localstripe registers plain functions as aiohttp handlers, which aiohttp deprecates (its code, not ours)
pytestmark = pytest.mark.filterwarnings("ignore:Bare functions are deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def localstripe_url() -> Iterator[str]:
    with localstripe_server() as url:
        yield url


@pytest.fixture
def gateway(localstripe_url: str) -> StripePaymentGateway:
    return StripePaymentGateway(KEY, api_base=localstripe_url, read_timeout=5.0, max_network_retries=0)


@pytest.fixture
def stripe_client(localstripe_url: str) -> stripe.StripeClient:
    """A raw client to set the scene (customers, payments, plans) as Stripe would have it."""
    return stripe.StripeClient(KEY, base_addresses={"api": localstripe_url})


def paid_intent(client: stripe.StripeClient, amount: int = 1000) -> str:
    customer = client.v1.customers.create({"email": f"{unique('buyer')}@example.com"})
    method = client.v1.payment_methods.create(
        {
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        }
    )
    client.v1.payment_methods.attach(method.id, {"customer": customer.id})
    intent = client.v1.payment_intents.create(
        {
            "amount": amount,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": method.id,
            "confirm": True,
        }
    )
    assert intent.status == "succeeded"
    return str(intent.id)


def active_subscription(client: stripe.StripeClient) -> str:
    customer = client.v1.customers.create({"email": f"{unique('sub')}@example.com"})
    method = client.v1.payment_methods.create(
        {
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        }
    )
    client.v1.payment_methods.attach(method.id, {"customer": customer.id})
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": method.id}})
    product = client.v1.products.create({"name": "Pro"})
    plan: Any = client.raw_request(
        "post", "/v1/plans", amount=2000, currency="usd", interval="month", product=product.id
    )
    plan_id = client.deserialize(plan, api_mode="V1").id
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"plan": plan_id}]})  # type: ignore[typeddict-item]
    return str(sub.id)


def test_a_full_refund_returns_the_whole_amount(
    gateway: StripePaymentGateway, stripe_client: stripe.StripeClient
) -> None:
    intent = paid_intent(stripe_client, 1500)

    refund = gateway.refund(payment_intent_id=intent, amount_cents=None, idempotency_key=unique("refund"))

    assert refund.id.startswith("re_")
    assert (refund.amount_cents, refund.status) == (1500, "succeeded")


def test_a_partial_refund_returns_its_own_amount(
    gateway: StripePaymentGateway, stripe_client: stripe.StripeClient
) -> None:
    intent = paid_intent(stripe_client, 1000)

    first = gateway.refund(payment_intent_id=intent, amount_cents=400, idempotency_key=unique("refund"))
    second = gateway.refund(payment_intent_id=intent, amount_cents=100, idempotency_key=unique("refund"))

    assert (first.amount_cents, second.amount_cents) == (400, 100)
    assert first.id != second.id
    refunds = stripe_client.v1.refunds.list({"payment_intent": intent})
    assert sorted(r.amount for r in refunds.data) == [100, 400]


def test_refunding_an_unknown_payment_is_a_provider_error(gateway: StripePaymentGateway) -> None:
    with pytest.raises(PaymentProviderError) as caught:
        gateway.refund(payment_intent_id="pi_doesnotexist", amount_cents=None, idempotency_key=unique("refund"))

    assert not isinstance(caught.value, PaymentProviderUnavailable)
    assert caught.value.details["provider_status"] == 404


def test_a_refund_the_provider_rejects_as_malformed_is_a_provider_error(
    gateway: StripePaymentGateway, stripe_client: stripe.StripeClient
) -> None:
    intent = paid_intent(stripe_client)

    with pytest.raises(PaymentProviderError) as caught:
        gateway.refund(payment_intent_id=intent, amount_cents=-5, idempotency_key=unique("refund"))

    assert caught.value.details["provider_status"] == 400


def test_a_subscription_reads_back_as_a_plain_dict(
    gateway: StripePaymentGateway, stripe_client: stripe.StripeClient
) -> None:
    sub_id = active_subscription(stripe_client)

    sub = gateway.retrieve_subscription(sub_id)

    assert type(sub) is dict
    assert sub["id"] == sub_id
    assert sub["status"] == "active"
    assert sub["cancel_at_period_end"] is False
    assert type(sub["items"]) is dict and type(sub["items"]["data"][0]) is dict


def test_cancelling_at_period_end_sets_the_flag_and_keeps_it_active(
    gateway: StripePaymentGateway, stripe_client: stripe.StripeClient
) -> None:
    sub_id = active_subscription(stripe_client)

    sub = gateway.cancel_subscription_at_period_end(sub_id)

    assert (sub["id"], sub["status"], sub["cancel_at_period_end"]) == (sub_id, "active", True)
    assert gateway.retrieve_subscription(sub_id)["cancel_at_period_end"] is True


def test_an_unknown_subscription_is_a_provider_error(gateway: StripePaymentGateway) -> None:
    with pytest.raises(PaymentProviderError):
        gateway.retrieve_subscription("sub_doesnotexist")
    with pytest.raises(PaymentProviderError):
        gateway.cancel_subscription_at_period_end("sub_doesnotexist")


def test_localstripe_has_no_checkout_which_is_why_those_calls_use_the_fake_server(
    gateway: StripePaymentGateway,
) -> None:
    from tests.integration.test_stripe_gateway_fake_server import pack_request

    with pytest.raises(PaymentProviderError) as caught:
        gateway.create_checkout_session(pack_request())

    assert caught.value.details["provider_status"] == 404
