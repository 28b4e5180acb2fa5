"""Request and response schemas of the billing routes, written by hand against API.md."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow.validate import Length, Range, Regexp

from domain.billing.catalogue import MAX_AMOUNT_CENTS
from domain.shared.limits import CATALOGUE_ID_PATTERN as CATALOGUE_ID
from domain.shared.limits import URL_MAX_LENGTH
from entrypoints.http.schemas import UtcDateTime, page_schema

HTTP_URL = r"^https?://[\x21-\x7e]+$"  # an absolute http(s) URL of printable ASCII; Stripe checks the rest


def _url(**kwargs: Any) -> ma.fields.String:
    return ma.fields.String(
        required=True,
        validate=[Length(max=URL_MAX_LENGTH), Regexp(HTTP_URL)],
        metadata={"description": "An absolute http(s) URL"},
        **kwargs,
    )


# --- requests --------------------------------------------------------------------------------
class CheckoutSchema(ma.Schema):
    pack_id = ma.fields.String(
        load_default=None, validate=Regexp(CATALOGUE_ID), metadata={"description": "Give pack_id or plan_id"}
    )
    plan_id = ma.fields.String(load_default=None, validate=Regexp(CATALOGUE_ID))
    success_url = _url()
    cancel_url = _url()

    @ma.validates_schema
    def _one_item(self, data: dict[str, Any], **kwargs: Any) -> None:
        if (data.get("pack_id") is None) == (data.get("plan_id") is None):
            raise ma.ValidationError("Give exactly one of pack_id and plan_id.", field_name="pack_id")


class PortalSchema(ma.Schema):
    return_url = _url()


class RefundSchema(ma.Schema):
    amount_cents = ma.fields.Integer(
        strict=True,
        load_default=None,
        allow_none=True,
        validate=Range(min=1, max=MAX_AMOUNT_CENTS),
        metadata={"description": "Omit to refund everything not yet refunded"},
    )


class StripeSignatureHeaderSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    stripe_signature = ma.fields.String(
        data_key="Stripe-Signature", load_default=""
    )  # any bad one: 400 invalid_signature


# --- responses -------------------------------------------------------------------------------
class PlanSchema(ma.Schema):
    id = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    monthly_credits = ma.fields.Integer(required=True)
    amount_cents = ma.fields.Integer(required=True)
    currency = ma.fields.String(required=True)
    interval = ma.fields.String(required=True)


class PackSchema(ma.Schema):
    id = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    credits = ma.fields.Integer(required=True)
    amount_cents = ma.fields.Integer(required=True)
    currency = ma.fields.String(required=True)


class CheckoutSessionSchema(ma.Schema):
    session_id = ma.fields.String(required=True)
    url = ma.fields.String(required=True)


class UrlSchema(ma.Schema):
    url = ma.fields.String(required=True)


class SubscriptionSchema(ma.Schema):
    plan_id = ma.fields.String(required=True)
    status = ma.fields.String(required=True)
    current_period_end = UtcDateTime(required=True, allow_none=True)
    cancel_at_period_end = ma.fields.Boolean(required=True)


class PaymentSchema(ma.Schema):
    id = ma.fields.String(required=True)
    kind = ma.fields.Function(lambda p: p.kind.value, required=True)
    amount_cents = ma.fields.Integer(required=True)
    currency = ma.fields.String(required=True)
    credits = ma.fields.Integer(required=True)
    status = ma.fields.Function(lambda p: p.status.value, required=True)
    refunded_cents = ma.fields.Integer(required=True)
    created_at = UtcDateTime(required=True)


PaymentPageSchema = page_schema(PaymentSchema, "PaymentPage")


class AdminPaymentSchema(PaymentSchema):
    user_id = ma.fields.String(required=True)
    item_id = ma.fields.String(required=True)
    session_id = ma.fields.String(required=True, allow_none=True)
    payment_intent_id = ma.fields.String(required=True, allow_none=True)
    invoice_id = ma.fields.String(required=True, allow_none=True)
    grant_id = ma.fields.String(required=True, allow_none=True)
    credits_reversed = ma.fields.Integer(required=True)
    shortfall = ma.fields.Integer(
        required=True, metadata={"description": "Credits refunds or disputes could not take back: already spent"}
    )
    credits_held = ma.fields.Integer(
        required=True,
        metadata={
            "description": "What the ledger holds for this payment now (its converged target, plus the shortfall)"
        },
    )
    review = ma.fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "Why a paid payment granted nothing (an amount or currency we did not sell)"},
    )
    paid_at = UtcDateTime(required=True, allow_none=True)


class RefundResultSchema(ma.Schema):
    id = ma.fields.String(required=True)
    amount_cents = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True)


class AdminRefundSchema(ma.Schema):
    refund = ma.fields.Nested(RefundResultSchema, required=True)
    payment = ma.fields.Nested(AdminPaymentSchema, required=True)


class WebhookReceivedSchema(ma.Schema):
    received = ma.fields.Boolean(required=True)
