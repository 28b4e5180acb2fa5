"""Stripe-shaped events, built and signed exactly as Stripe would send them.

One builder serves the fake checkout page, `houston simulate-payment`, the fake gateway's
refunds and the webhook tests. The shapes are those of API version `2026-07-29.dahlia` (the
version the real gateway pins): each object below copies the structure of the recorded samples
in the project's shared Stripe fixtures, field for field; only the values are ours. Things
handlers written against older versions get wrong are kept as Stripe has them: an invoice's
subscription is under `parent.subscription_details.subscription` (top-level `subscription` is
null), its period under `lines.data[].period`, a subscription's period under
`items.data[].current_period_*`, and `charge.refunds` is not expanded.

Ids of objects that only exist in the fake world (`pi_fake_...`, `cus_fake_...`,
`sub_fake_...`) are *derived* from the checkout session and the user, never random: two web
workers, or the page and the CLI, build the same ids for the same session without sharing memory.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

API_VERSION = "2026-07-29.dahlia"
OUTCOMES = ("paid", "failed", "cancel")
Event = dict[str, Any]


# --- signing ---------------------------------------------------------------------------------


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """The `Stripe-Signature` header for `payload`: `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<payload>">`,
    keyed with the whole `whsec_...` secret, exactly as Stripe computes it."""
    signed = str(timestamp).encode() + b"." + payload
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def encode(event: Mapping[str, Any]) -> bytes:
    """The bytes Stripe would post: pretty-printed JSON, as its webhooks are."""
    return json.dumps(event, indent=2).encode("utf-8")


def signed(event: Mapping[str, Any], secret: str, timestamp: int) -> tuple[bytes, str]:
    """`(payload, Stripe-Signature header)` for one event."""
    payload = encode(event)
    return payload, sign(payload, secret, timestamp)


# --- ids -------------------------------------------------------------------------------------


def derived_id(prefix: str, *parts: str) -> str:
    """A stable id for an object of the fake world: the same parts always give the same id."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:24]
    return f"{prefix}_fake_{digest}"


def new_event_id() -> str:
    return f"evt_fake_{secrets.token_hex(12)}"


def unix(when: datetime) -> int:
    return int(when.timestamp())


def add_month(when: datetime) -> datetime:
    """One calendar month later, clamped to the month's last day (Stripe's monthly anchor)."""
    year, month = (when.year + 1, 1) if when.month == 12 else (when.year, when.month + 1)
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day)


# --- what a checkout was about ---------------------------------------------------------------


@dataclass(frozen=True)
class CheckoutFacts:
    """What Stripe knows about one Checkout session: enough to build every event it leads to."""

    session_id: str
    mode: str  # "payment" | "subscription"
    user_id: str
    customer_email: str
    amount_cents: int
    currency: str
    metadata: Mapping[str, str]
    product_name: str = ""
    price_id: str | None = None
    customer_id: str | None = None
    success_url: str = "http://127.0.0.1:8000/"
    cancel_url: str = "http://127.0.0.1:8000/"
    created: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def customer(self) -> str:
        return self.customer_id or derived_id("cus", self.user_id)

    @property
    def payment_intent(self) -> str | None:
        return derived_id("pi", self.session_id) if self.mode == "payment" else None

    @property
    def subscription(self) -> str | None:
        return derived_id("sub", self.session_id) if self.mode == "subscription" else None

    @property
    def charge(self) -> str:
        return derived_id("ch", self.payment_intent or self.session_id)

    @property
    def price(self) -> str:
        return self.price_id or derived_id("price", self.session_id)

    @property
    def product(self) -> str:
        return derived_id("prod", self.price)

    @classmethod
    def from_details(cls, details: Any) -> CheckoutFacts:
        """From the billing service's `CheckoutDetails` (session_id, payment_id, user_id,
        customer_email, kind, item_id, item_name, amount_cents, currency, price_id)."""
        kind = str(details.kind)
        metadata = {
            "payment_id": str(details.payment_id),
            "user_id": str(details.user_id),
            ("plan_id" if kind == "plan" else "pack_id"): str(details.item_id),
        }
        return cls(
            session_id=str(details.session_id),
            mode="subscription" if kind == "plan" else "payment",
            user_id=str(details.user_id),
            customer_email=str(details.customer_email),
            amount_cents=int(details.amount_cents),
            currency=str(details.currency),
            metadata=metadata,
            product_name=str(details.item_name),
            price_id=getattr(details, "price_id", None),
        )


# --- the envelope ----------------------------------------------------------------------------


def event(
    type_: str,
    obj: Mapping[str, Any],
    *,
    created: int,
    previous_attributes: Mapping[str, Any] | None = None,
    event_id: str | None = None,
    request_id: str | None = None,
) -> Event:
    data: dict[str, Any] = {"object": dict(obj)}
    if previous_attributes is not None:
        data["previous_attributes"] = dict(previous_attributes)
    return {
        "id": event_id or new_event_id(),
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": request_id, "idempotency_key": None},
        "type": type_,
    }


# --- objects ---------------------------------------------------------------------------------


def checkout_session(facts: CheckoutFacts, *, status: str, payment_status: str, now: int) -> dict[str, Any]:
    """A `checkout.session` object. `status` complete|expired|open; `payment_status` paid|unpaid|no_payment_required."""
    subscription_mode = facts.mode == "subscription"
    created = facts.created or now
    return {
        "id": facts.session_id,
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": False},
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": facts.amount_cents,
        "amount_total": facts.amount_cents,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": facts.cancel_url,
        "client_reference_id": facts.user_id,
        "client_secret": None,
        "collected_information": {"business_name": None, "individual_name": None, "shipping_details": None},
        "consent": None,
        "consent_collection": None,
        "created": created,
        "currency": facts.currency,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": facts.customer if status != "expired" else facts.customer_id,
        "customer_account": None,
        "customer_creation": None if subscription_mode else "always",
        "customer_details": None
        if status == "expired"
        else {
            "address": {
                "city": None,
                "country": "US",
                "line1": None,
                "line2": None,
                "postal_code": "94103",
                "state": None,
            },
            "business_name": None,
            "email": facts.customer_email,
            "individual_name": None,
            "name": None,
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
        },
        "customer_email": facts.customer_email if facts.customer_id is None else None,
        "discounts": [],
        "expires_at": created + 24 * 3600,
        "integration_identifier": None,
        "invoice": derived_id("in", facts.session_id, "1") if subscription_mode and status == "complete" else None,
        "invoice_creation": None
        if subscription_mode
        else {
            "enabled": False,
            "invoice_data": {
                "account_tax_ids": None,
                "custom_fields": None,
                "description": None,
                "footer": None,
                "issuer": None,
                "metadata": {},
                "rendering_options": None,
            },
        },
        "livemode": False,
        "locale": None,
        "managed_payments": None,
        "metadata": dict(facts.metadata),
        "mode": facts.mode,
        "origin_context": None,
        "payment_intent": facts.payment_intent if status == "complete" else None,
        "payment_link": None,
        "payment_method_collection": "always" if subscription_mode else "if_required",
        "payment_method_configuration_details": None,
        "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
        "payment_method_types": ["card"],
        "payment_status": payment_status,
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": {
            "allow_redisplay_filters": ["always"],
            "payment_method_remove": None,
            "payment_method_save": None,
        },
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": status,
        "submit_type": None,
        "subscription": facts.subscription if status == "complete" else None,
        "success_url": facts.success_url,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted_page",
        "url": None,
        "wallet_options": None,
    }


def _price(facts: CheckoutFacts, interval: str) -> dict[str, Any]:
    return {
        "id": facts.price,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": facts.created,
        "currency": facts.currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": None,
        "metadata": {k: v for k, v in facts.metadata.items() if k == "plan_id"},
        "nickname": None,
        "product": facts.product,
        "recurring": {
            "interval": interval,
            "interval_count": 1,
            "meter": None,
            "trial_period_days": None,
            "usage_type": "licensed",
        },
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring",
        "unit_amount": facts.amount_cents,
        "unit_amount_decimal": str(facts.amount_cents),
    }


def _plan(facts: CheckoutFacts, interval: str) -> dict[str, Any]:
    return {
        "id": facts.price,
        "object": "plan",
        "active": True,
        "amount": facts.amount_cents,
        "amount_decimal": str(facts.amount_cents),
        "billing_scheme": "per_unit",
        "created": facts.created,
        "currency": facts.currency,
        "interval": interval,
        "interval_count": 1,
        "livemode": False,
        "metadata": {k: v for k, v in facts.metadata.items() if k == "plan_id"},
        "meter": None,
        "nickname": None,
        "product": facts.product,
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }


def subscription(
    facts: CheckoutFacts,
    *,
    status: str,
    period_start: int,
    period_end: int,
    cancel_at_period_end: bool = False,
    canceled_at: int | None = None,
    ended_at: int | None = None,
    interval: str = "month",
) -> dict[str, Any]:
    """A `subscription` object; the period lives on its item (`items.data[].current_period_*`)."""
    sub_id = facts.subscription or derived_id("sub", facts.session_id)
    item_id = derived_id("si", sub_id)
    created = facts.created or period_start
    return {
        "id": sub_id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": period_start,
        "billing_cycle_anchor_config": None,
        "billing_mode": {"flexible": {"proration_discounts": "included"}, "type": "flexible", "updated_at": created},
        "billing_schedules": [],
        "billing_thresholds": None,
        "cancel_at": period_end if cancel_at_period_end else None,
        "cancel_at_period_end": cancel_at_period_end,
        "canceled_at": canceled_at,
        "cancellation_details": {
            "comment": None,
            "feedback": None,
            "reason": "cancellation_requested" if (cancel_at_period_end or canceled_at) else None,
        },
        "collection_method": "charge_automatically",
        "created": created,
        "currency": facts.currency,
        "customer": facts.customer,
        "customer_account": None,
        "days_until_due": None,
        "default_payment_method": derived_id("pm", facts.customer),
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "ended_at": ended_at,
        "invoice_settings": {
            "account_tax_ids": None,
            "custom_fields": None,
            "description": None,
            "footer": None,
            "issuer": {"type": "self"},
        },
        "items": {
            "object": "list",
            "data": [
                {
                    "id": item_id,
                    "object": "subscription_item",
                    "billing_thresholds": None,
                    "created": created,
                    "current_period_end": period_end,
                    "current_period_start": period_start,
                    "discounts": [],
                    "metadata": {},
                    "plan": _plan(facts, interval),
                    "price": _price(facts, interval),
                    "quantity": 1,
                    "subscription": sub_id,
                    "tax_rates": [],
                }
            ],
            "has_more": False,
            "total_count": 1,
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        "latest_invoice": derived_id("in", facts.session_id, "1"),
        "livemode": False,
        "managed_payments": None,
        "metadata": dict(facts.metadata),
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": created,
        "status": status,
        "test_clock": None,
        "transfer_data": None,
        "trial_end": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": None,
    }


def invoice(
    facts: CheckoutFacts,
    *,
    number: int,
    status: str,
    period_start: int,
    period_end: int,
    billing_reason: str,
    now: int,
) -> dict[str, Any]:
    """An `invoice` of the subscription: `status` paid|open. The subscription is under
    `parent.subscription_details.subscription`; the service period is on the line."""
    sub_id = facts.subscription or derived_id("sub", facts.session_id)
    invoice_id = derived_id("in", facts.session_id, str(number))
    paid = status == "paid"
    amount = facts.amount_cents
    return {
        "id": invoice_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Houston (fake)",
        "account_tax_ids": None,
        "amount_due": amount,
        "amount_overpaid": 0,
        "amount_paid": amount if paid else 0,
        "amount_remaining": 0 if paid else amount,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 1,
        "attempted": True,
        "auto_advance": not paid,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "created": period_start,
        "currency": facts.currency,
        "custom_fields": None,
        "customer": facts.customer,
        "customer_account": None,
        "customer_address": None,
        "customer_email": facts.customer_email,
        "customer_name": None,
        "customer_phone": None,
        "customer_shipping": None,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "due_date": None,
        "effective_at": period_start,
        "ending_balance": 0,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {
            "object": "list",
            "data": [
                {
                    "id": derived_id("il", invoice_id),
                    "object": "line_item",
                    "amount": amount,
                    "currency": facts.currency,
                    "description": f"1 × {facts.product_name or 'plan'}",
                    "discount_amounts": [],
                    "discountable": True,
                    "discounts": [],
                    "invoice": invoice_id,
                    "livemode": False,
                    "metadata": dict(facts.metadata),
                    "parent": {
                        "invoice_item_details": None,
                        "subscription_item_details": {
                            "invoice_item": None,
                            "proration": False,
                            "proration_details": {"credited_items": None},
                            "subscription": sub_id,
                            "subscription_item": derived_id("si", sub_id),
                        },
                        "type": "subscription_item_details",
                    },
                    "period": {"end": period_end, "start": period_start},
                    "pretax_credit_amounts": [],
                    "pricing": {
                        "price_details": {"price": facts.price, "product": facts.product},
                        "type": "price_details",
                        "unit_amount_decimal": str(amount),
                    },
                    "quantity": 1,
                    "quantity_decimal": "1",
                    "subscription": None,
                    "subtotal": amount,
                    "taxes": [],
                }
            ],
            "has_more": False,
            "total_count": 1,
            "url": f"/v1/invoices/{invoice_id}/lines",
        },
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None if paid else now + 3 * 24 * 3600,
        "number": f"FAKE-{number:04d}",
        "on_behalf_of": None,
        "parent": {
            "quote_details": None,
            "subscription_details": {"metadata": dict(facts.metadata), "subscription": sub_id},
            "type": "subscription_details",
        },
        "payment_settings": {"default_mandate": None, "payment_method_options": None, "payment_method_types": None},
        # On a subscription invoice these are the *previous* period's bounds (see the fixtures);
        # the period the invoice pays for is on the line.
        "period_end": period_start,
        "period_start": period_start,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": status,
        "status_transitions": {
            "finalized_at": period_start,
            "marked_uncollectible_at": None,
            "paid_at": now if paid else None,
            "voided_at": None,
        },
        "subscription": None,
        "subtotal": amount,
        "subtotal_excluding_tax": amount,
        "test_clock": None,
        "total": amount,
        "total_discount_amounts": [],
        "total_excluding_tax": amount,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": None,
    }


def charge(
    *,
    payment_intent: str,
    amount_cents: int,
    currency: str,
    amount_refunded: int = 0,
    customer: str | None = None,
    email: str | None = None,
    created: int,
    disputed: bool = False,
    fingerprint: str | None = None,
) -> dict[str, Any]:
    """A `charge` object (its `refunds` list is not expanded in this API version). The card's
    `fingerprint` defaults to one per payment intent (a different card each time)."""
    charge_id = derived_id("ch", payment_intent)
    fingerprint = fingerprint or hashlib.sha256(payment_intent.encode()).hexdigest()[:16]
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount_cents,
        "amount_captured": amount_cents,
        "amount_refunded": amount_refunded,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": derived_id("txn", charge_id),
        "billing_details": {
            "address": {
                "city": None,
                "country": "US",
                "line1": None,
                "line2": None,
                "postal_code": "94103",
                "state": None,
            },
            "email": email,
            "name": None,
            "phone": None,
            "tax_id": None,
        },
        "calculated_statement_descriptor": "HOUSTON",
        "captured": True,
        "created": created,
        "currency": currency,
        "customer": customer,
        "description": None,
        "disputed": disputed,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "livemode": False,
        "metadata": {},
        "on_behalf_of": None,
        "outcome": {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "risk_score": 20,
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
        "paid": True,
        "payment_intent": payment_intent,
        "payment_method": derived_id("pm", payment_intent),
        "payment_method_details": {
            "card": {
                "amount_authorized": amount_cents,
                "authorization_code": "000000",
                "brand": "visa",
                "checks": {"address_line1_check": None, "address_postal_code_check": "pass", "cvc_check": "pass"},
                "country": "US",
                "exp_month": 12,
                "exp_year": 2030,
                "extended_authorization": {"status": "disabled"},
                "fingerprint": fingerprint,
                "funding": "credit",
                "incremental_authorization": {"status": "unavailable"},
                "installments": None,
                "last4": "4242",
                "mandate": None,
                "multicapture": {"status": "unavailable"},
                "network": "visa",
                "network_token": {"used": False},
                "network_transaction_id": "000000000000000",
                "overcapture": {"maximum_amount_capturable": amount_cents, "status": "unavailable"},
                "regulated_status": "unregulated",
                "three_d_secure": None,
                "transaction_link_id": None,
                "wallet": None,
            },
            "type": "card",
        },
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": None,
        "refunded": amount_refunded >= amount_cents,
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded",
        "transfer_data": None,
        "transfer_group": None,
    }


def dispute(
    *,
    payment_intent: str,
    amount_cents: int,
    currency: str,
    created: int,
    reason: str = "fraudulent",
    status: str = "needs_response",
) -> dict[str, Any]:
    """A `dispute` object (`charge.dispute.created` carries one)."""
    charge_id = derived_id("ch", payment_intent)
    return {
        "id": derived_id("dp", charge_id, str(created)),
        "object": "dispute",
        "amount": amount_cents,
        "balance_transactions": [],
        "charge": charge_id,
        "created": created,
        "currency": currency,
        "enhanced_eligibility_types": [],
        "evidence": {},
        "evidence_details": {
            "due_by": created + 7 * 24 * 3600,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": payment_intent,
        "payment_method_details": {"card": {"brand": "visa", "network_reason_code": "10.4"}, "type": "card"},
        "reason": reason,
        "status": status,
    }


# --- whole events ----------------------------------------------------------------------------


def checkout_completed(facts: CheckoutFacts, *, now: int, payment_status: str = "paid") -> Event:
    obj = checkout_session(facts, status="complete", payment_status=payment_status, now=now)
    return event("checkout.session.completed", obj, created=now)


def checkout_async_payment_succeeded(facts: CheckoutFacts, *, now: int) -> Event:
    obj = checkout_session(facts, status="complete", payment_status="paid", now=now)
    return event("checkout.session.async_payment_succeeded", obj, created=now)


def checkout_async_payment_failed(facts: CheckoutFacts, *, now: int) -> Event:
    obj = checkout_session(facts, status="complete", payment_status="unpaid", now=now)
    return event("checkout.session.async_payment_failed", obj, created=now)


def checkout_expired(facts: CheckoutFacts, *, now: int) -> Event:
    obj = checkout_session(facts, status="expired", payment_status="unpaid", now=now)
    return event("checkout.session.expired", obj, created=now)


def subscription_event(
    type_: str,
    facts: CheckoutFacts,
    *,
    now: int,
    status: str,
    period_start: int,
    period_end: int,
    cancel_at_period_end: bool = False,
    previous_attributes: Mapping[str, Any] | None = None,
) -> Event:
    """`customer.subscription.created|updated|deleted`."""
    ended = now if type_ == "customer.subscription.deleted" else None
    obj = subscription(
        facts,
        status=status,
        period_start=period_start,
        period_end=period_end,
        cancel_at_period_end=cancel_at_period_end,
        canceled_at=ended or (now if cancel_at_period_end else None),
        ended_at=ended,
    )
    return event(type_, obj, created=now, previous_attributes=previous_attributes)


def invoice_event(
    type_: str,
    facts: CheckoutFacts,
    *,
    now: int,
    number: int,
    period_start: int,
    period_end: int,
    billing_reason: str = "subscription_create",
) -> Event:
    """`invoice.paid` or `invoice.payment_failed` for the `number`-th invoice of the subscription."""
    status = "paid" if type_ == "invoice.paid" else "open"
    obj = invoice(
        facts,
        number=number,
        status=status,
        period_start=period_start,
        period_end=period_end,
        billing_reason=billing_reason,
        now=now,
    )
    return event(type_, obj, created=now)


def charge_refunded(
    *,
    payment_intent: str,
    amount_cents: int,
    currency: str,
    amount_refunded: int,
    previously_refunded: int,
    now: int,
    customer: str | None = None,
    charge_created: int | None = None,
) -> Event:
    """`charge.refunded`; `amount_refunded` is cumulative, as Stripe's is."""
    obj = charge(
        payment_intent=payment_intent,
        amount_cents=amount_cents,
        currency=currency,
        amount_refunded=amount_refunded,
        customer=customer,
        created=charge_created or now,
    )
    return event(
        "charge.refunded",
        obj,
        created=now,
        previous_attributes={"amount_refunded": previously_refunded},
        request_id=f"req_fake_{secrets.token_hex(7)}",
    )


def charge_succeeded(
    *,
    payment_intent: str,
    amount_cents: int,
    currency: str,
    now: int,
    customer: str | None = None,
    fingerprint: str | None = None,
) -> Event:
    """`charge.succeeded`: the charge that paid, with the card's fingerprint."""
    obj = charge(
        payment_intent=payment_intent,
        amount_cents=amount_cents,
        currency=currency,
        customer=customer,
        created=now,
        fingerprint=fingerprint,
    )
    return event("charge.succeeded", obj, created=now)


def dispute_created(
    *, payment_intent: str, amount_cents: int, currency: str, now: int, reason: str = "fraudulent"
) -> Event:
    obj = dispute(
        payment_intent=payment_intent, amount_cents=amount_cents, currency=currency, created=now, reason=reason
    )
    return event("charge.dispute.created", obj, created=now)


def checkout_outcome(facts: CheckoutFacts, outcome: str, now: datetime) -> list[Event]:
    """The events Stripe sends when the buyer pays, fails or abandons a Checkout session, in order.

    - pack paid:   checkout.session.completed (paid)
    - plan paid:   checkout.session.completed, customer.subscription.created (active), invoice.paid
    - pack failed: checkout.session.completed (unpaid), checkout.session.async_payment_failed
                   (how Stripe reports a Checkout payment that fails after the buyer submitted it)
    - plan failed: customer.subscription.created (incomplete), invoice.payment_failed
    - cancel:      checkout.session.expired
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    t = unix(now.astimezone(UTC))
    if outcome == "cancel":
        return [checkout_expired(facts, now=t)]
    if facts.mode == "payment":
        if outcome == "paid":
            return [checkout_completed(facts, now=t)]
        return [checkout_completed(facts, now=t, payment_status="unpaid"), checkout_async_payment_failed(facts, now=t)]
    end = unix(add_month(now.astimezone(UTC)))
    if outcome == "paid":
        return [
            checkout_completed(facts, now=t),
            subscription_event(
                "customer.subscription.created", facts, now=t, status="active", period_start=t, period_end=end
            ),
            invoice_event("invoice.paid", facts, now=t, number=1, period_start=t, period_end=end),
        ]
    return [
        subscription_event(
            "customer.subscription.created", facts, now=t, status="incomplete", period_start=t, period_end=end
        ),
        invoice_event("invoice.payment_failed", facts, now=t, number=1, period_start=t, period_end=end),
    ]


def renewal(facts: CheckoutFacts, *, number: int, period_start: datetime, paid: bool = True) -> list[Event]:
    """The events of a subscription's `number`-th period (number >= 2): `invoice.paid` plus
    `customer.subscription.updated` with the new period, or `invoice.payment_failed` plus the
    subscription turning `past_due`."""
    start = period_start.astimezone(UTC)
    t, end = unix(start), unix(add_month(start))
    if paid:
        return [
            subscription_event(
                "customer.subscription.updated", facts, now=t, status="active", period_start=t, period_end=end
            ),
            invoice_event(
                "invoice.paid",
                facts,
                now=t,
                number=number,
                period_start=t,
                period_end=end,
                billing_reason="subscription_cycle",
            ),
        ]
    return [
        invoice_event(
            "invoice.payment_failed",
            facts,
            now=t,
            number=number,
            period_start=t,
            period_end=end,
            billing_reason="subscription_cycle",
        ),
        subscription_event(
            "customer.subscription.updated", facts, now=t, status="past_due", period_start=t, period_end=end
        ),
    ]


def types_of(events: Sequence[Mapping[str, Any]]) -> list[str]:
    return [str(e["type"]) for e in events]


# --- refunds (issue 18) ------------------------------------------------------------------------


def refund(
    *, refund_id: str, payment_intent: str, amount_cents: int, currency: str, status: str, created: int
) -> dict[str, Any]:
    """A `refund` object: `status` pending|succeeded|failed|canceled|requires_action."""
    return {
        "id": refund_id,
        "object": "refund",
        "amount": amount_cents,
        "balance_transaction": derived_id("txn", refund_id),
        "charge": derived_id("ch", payment_intent),
        "created": created,
        "currency": currency,
        "destination_details": {
            "card": {"reference_status": "pending", "reference_type": "acquirer_reference_number", "type": "refund"},
            "type": "card",
        },
        "failure_balance_transaction": derived_id("txn", refund_id, "failure") if status == "failed" else None,
        "failure_reason": "lost_or_stolen_card" if status == "failed" else None,
        "metadata": {},
        "payment_intent": payment_intent,
        "reason": None,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": status,
        "transfer_reversal": None,
    }


def refund_updated(
    *, refund_id: str, payment_intent: str, amount_cents: int, currency: str, status: str, created: int, now: int
) -> Event:
    """`charge.refund.updated`: a refund changed status (a `failed` one never left the bank)."""
    obj = refund(
        refund_id=refund_id,
        payment_intent=payment_intent,
        amount_cents=amount_cents,
        currency=currency,
        status=status,
        created=created,
    )
    return event("charge.refund.updated", obj, created=now, previous_attributes={"status": "pending"})


def dispute_event(
    type_: str, *, payment_intent: str, amount_cents: int, currency: str, created: int, now: int, status: str
) -> Event:
    """`charge.dispute.created|updated|closed|funds_withdrawn|funds_reinstated` for the dispute
    opened at `created` (the same dispute id whatever the event)."""
    obj = dispute(
        payment_intent=payment_intent, amount_cents=amount_cents, currency=currency, created=created, status=status
    )
    return event(type_, obj, created=now)
