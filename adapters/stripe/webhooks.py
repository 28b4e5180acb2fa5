"""Webhook verification: `stripe.Webhook.construct_event` on the exact raw bytes.

The signature is an HMAC over the bytes Stripe sent, so the verifier takes `request.get_data()`
untouched; re-serialised JSON would never verify. Stripe's default tolerance (300 s) rejects
replays of old deliveries; timestamps in the future pass, as they do in the stripe package.
What comes back is a plain dict (the event as Stripe sent it), never a StripeObject.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import stripe

from domain.billing.errors import InvalidEvent, InvalidSignature

DEFAULT_TOLERANCE = stripe.Webhook.DEFAULT_TOLERANCE
_REQUIRED = ("id", "type", "created", "data")


class StripeWebhookVerifier:
    def __init__(self, secret: str, *, tolerance: int = DEFAULT_TOLERANCE) -> None:
        if not secret:
            raise ValueError("a webhook secret is required")
        self._secret = secret
        self._tolerance = tolerance

    def verify(self, payload: bytes, signature_header: str) -> Mapping[str, Any]:
        if not signature_header:
            raise InvalidSignature("The Stripe-Signature header is missing.")
        if not signature_header.isascii():  # the stripe package would raise TypeError comparing it
            raise InvalidSignature()
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError:  # Stripe signs UTF-8 JSON: these bytes cannot be one of its deliveries
            raise InvalidSignature() from None
        try:
            stripe.Webhook.construct_event(payload, signature_header, self._secret, self._tolerance)
        except stripe.SignatureVerificationError:
            raise InvalidSignature() from None
        except (ValueError, TypeError, AttributeError, RecursionError):
            # The signature held (it is checked first), but the body is not JSON, or not a JSON
            # object, or a v2 thin event: signed, yet not an event we take.
            raise InvalidEvent("The signed body is not a Stripe event.") from None
        # Parse the same bytes ourselves: a plain dict, key order kept, no SDK objects upstream.
        return _as_event(json.loads(payload))


def _as_event(body: Any) -> dict[str, Any]:
    """The body must look like a Stripe event: an object of type `event` with an id, a type and data."""
    if not isinstance(body, dict) or body.get("object") != "event":
        raise InvalidEvent("The signed body is not a Stripe event.")
    missing = [key for key in _REQUIRED if key not in body]
    if missing:
        raise InvalidEvent("The signed body is not a Stripe event.", details={"missing": ", ".join(missing)})
    if not isinstance(body["id"], str) or not body["id"].startswith("evt_") or len(body["id"]) > 255:
        raise InvalidEvent("The event id is not a Stripe event id.")
    if not isinstance(body["type"], str) or not body["type"] or len(body["type"]) > 255:
        raise InvalidEvent("The event type is missing.")
    data = body["data"]
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise InvalidEvent("The event carries no data object.")
    if not isinstance(body["created"], int) or isinstance(body["created"], bool):
        raise InvalidEvent("The event has no creation time.")
    return body
