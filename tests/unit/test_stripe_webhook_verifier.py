"""The webhook verifier with real signatures: the stripe package's own signing and ours agree,
and a tampered body, a wrong secret, a stale timestamp or a missing header are refused."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
import stripe

from adapters.stripe import events as ev
from adapters.stripe.webhooks import StripeWebhookVerifier
from domain.billing.errors import InvalidEvent, InvalidSignature

SECRET = "whsec_test_" + "k" * 32
FACTS = ev.CheckoutFacts(
    session_id="cs_test_fake_abc",
    mode="payment",
    user_id="usr_1",
    customer_email="ada@example.com",
    amount_cents=1000,
    currency="usd",
    metadata={"payment_id": "pay_1", "user_id": "usr_1", "pack_id": "starter"},
)


def a_payload() -> bytes:
    event = ev.checkout_outcome(FACTS, "paid", datetime.now(UTC))[0]
    return ev.encode(event)


def verifier() -> StripeWebhookVerifier:
    return StripeWebhookVerifier(SECRET)


def test_a_body_signed_as_stripe_signs_verifies_and_comes_back_as_the_plain_event() -> None:
    payload = a_payload()

    event = verifier().verify(payload, ev.sign(payload, SECRET, int(time.time())))

    assert type(event) is dict
    assert event == json.loads(payload)
    assert event["data"]["object"]["payment_intent"] == FACTS.payment_intent


def test_our_signature_header_is_byte_for_byte_the_stripe_packages() -> None:
    payload, now = a_payload(), int(time.time())

    assert ev.sign(payload, SECRET, now) == stripe.WebhookSignature.generate_signature_header(
        payload.decode(), SECRET, now
    )


def test_a_header_made_by_the_stripe_package_verifies() -> None:
    payload = a_payload()
    header = stripe.WebhookSignature.generate_signature_header(payload.decode(), SECRET)

    assert verifier().verify(payload, header)["type"] == "checkout.session.completed"


def test_a_tampered_body_is_an_invalid_signature() -> None:
    payload = a_payload()
    header = ev.sign(payload, SECRET, int(time.time()))
    tampered = payload.replace(b'"amount_total": 1000', b'"amount_total": 9999')
    assert tampered != payload

    with pytest.raises(InvalidSignature):
        verifier().verify(tampered, header)


def test_re_serialised_json_does_not_verify_only_the_exact_bytes_do() -> None:
    payload = a_payload()
    header = ev.sign(payload, SECRET, int(time.time()))
    compact = json.dumps(json.loads(payload), separators=(",", ":")).encode()

    with pytest.raises(InvalidSignature):
        verifier().verify(compact, header)


def test_a_wrong_secret_is_an_invalid_signature() -> None:
    payload = a_payload()

    with pytest.raises(InvalidSignature):
        verifier().verify(payload, ev.sign(payload, "whsec_someone_else", int(time.time())))


def test_a_stale_timestamp_is_an_invalid_signature() -> None:
    payload = a_payload()

    with pytest.raises(InvalidSignature):
        verifier().verify(payload, ev.sign(payload, SECRET, int(time.time()) - 301))


def test_a_timestamp_within_the_default_tolerance_verifies() -> None:
    payload = a_payload()

    assert verifier().verify(payload, ev.sign(payload, SECRET, int(time.time()) - 290))["id"].startswith("evt_")


@pytest.mark.parametrize("header", ["", "garbage", "t=abc,v1=00", "t=123", "v1=deadbeef", "t=1,v0=00"])
def test_a_missing_or_malformed_header_is_an_invalid_signature(header: str) -> None:
    with pytest.raises(InvalidSignature):
        verifier().verify(a_payload(), header)


def test_one_good_signature_among_several_verifies_as_during_a_secret_rotation() -> None:
    payload, now = a_payload(), int(time.time())
    old = ev.sign(payload, "whsec_old", now).split(",")[1]
    header = f"{ev.sign(payload, SECRET, now)},{old}"

    assert verifier().verify(payload, header)["type"] == "checkout.session.completed"


def test_bytes_that_are_not_utf8_are_an_invalid_signature_not_a_crash() -> None:
    payload = b"\xff\xfe\x00garbage"

    with pytest.raises(InvalidSignature):
        verifier().verify(payload, ev.sign(payload, SECRET, int(time.time())))


@pytest.mark.parametrize(
    "body",
    [
        b"not json at all",
        b"[]",
        b'{"hello": "world"}',
        b'{"object": "event", "id": "evt_1", "type": "x.y", "created": 1}',
        b'{"object": "event", "id": "nope", "type": "x.y", "created": 1, "data": {"object": {}}}',
        b'{"object": "event", "id": "evt_1", "type": "", "created": 1, "data": {"object": {}}}',
        b'{"object": "event", "id": "evt_1", "type": "x.y", "created": "soon", "data": {"object": {}}}',
        b'{"object": "event", "id": "evt_1", "type": "x.y", "created": 1, "data": {"object": []}}',
        b'{"object": "v2.core.event", "id": "evt_1", "type": "x.y"}',
    ],
)
def test_a_correctly_signed_body_that_is_not_a_stripe_event_is_an_invalid_event(body: bytes) -> None:
    with pytest.raises(InvalidEvent):
        verifier().verify(body, ev.sign(body, SECRET, int(time.time())))


def test_a_verifier_needs_a_secret() -> None:
    with pytest.raises(ValueError):
        StripeWebhookVerifier("")


@pytest.mark.parametrize("header", ["t=123,v1=é", "t=١٢٣,v1=00", "t=1\u0000,v1=00"])
def test_a_header_with_odd_characters_is_an_invalid_signature_not_a_crash(header: str) -> None:
    with pytest.raises(InvalidSignature):
        verifier().verify(a_payload(), header)
