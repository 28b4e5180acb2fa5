"""Billing: the catalogue, checkout, the billing portal, the subscription, payments, the admin
refund, and the Stripe webhook. Credits never move here: they follow the verified webhooks."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView

from domain.billing.services import BillingService
from domain.shared.audit import AuditAction
from entrypoints.http.api import BAD_PAGE, USER_AUTH, Blueprint
from entrypoints.http.auth import current_principal, require_admin
from entrypoints.http.billing_schemas import (
    AdminPaymentSchema,
    AdminRefundSchema,
    CheckoutSchema,
    CheckoutSessionSchema,
    PackSchema,
    PaymentPageSchema,
    PlanSchema,
    PortalSchema,
    RefundSchema,
    StripeSignatureHeaderSchema,
    SubscriptionSchema,
    UrlSchema,
    WebhookReceivedSchema,
)
from entrypoints.http.context import container
from entrypoints.http.schemas import OptionalIdempotencyKeyHeaderSchema, PageArgsSchema

blp = Blueprint(
    "billing",
    __name__,
    url_prefix="/v1",
    description="Billing: plans, credit packs, Stripe",
    errors={
        502: "The payment provider refused the request (payment_provider_unavailable)",
        503: "The payment provider did not answer; try again after Retry-After (payment_provider_unavailable)",
    },
)


def billing() -> BillingService:
    return container().billing


@blp.route("/billing/plans")
class Plans(MethodView):
    @blp.response(200, PlanSchema(many=True))
    def get(self) -> Any:
        """The plans on sale, with their monthly credits and price (public)"""
        return billing().plans()


@blp.route("/billing/packs")
class Packs(MethodView):
    @blp.response(200, PackSchema(many=True))
    def get(self) -> Any:
        """The credit packs on sale (public)"""
        return billing().packs()


@blp.route("/billing/checkout")
class Checkout(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(OptionalIdempotencyKeyHeaderSchema, location="headers")
    @blp.arguments(CheckoutSchema)
    @blp.response(201, CheckoutSessionSchema)
    @blp.errors(
        401,
        409,
        422,
        502,
        503,
        say={
            409: "Already subscribed (conflict), or the Idempotency-Key was used for another checkout (idempotency_conflict)",
            422: "A bad body or an unknown pack_id / plan_id (validation_error)",
        },
    )
    def post(self, headers: dict[str, Any], body: dict[str, Any]) -> Any:
        """Start a Checkout for a pack or a plan; credits arrive with the verified webhook, never the redirect"""
        started = billing().checkout(current_principal().user_id, idempotency_key=headers["idempotency_key"], **body)
        return {"session_id": started.session_id, "url": started.url}


@blp.route("/billing/portal")
class Portal(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(PortalSchema)
    @blp.response(201, UrlSchema)
    @blp.errors(401, 404, 502, 503, say={404: "Nothing bought yet (not_found)"})
    def post(self, body: dict[str, Any]) -> Any:
        """Open the provider's billing portal (payment methods, invoices, plan changes)"""
        return {"url": billing().portal(current_principal().user_id, return_url=body["return_url"])}


@blp.route("/billing/subscription")
class Subscription(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.response(200, SubscriptionSchema)
    @blp.errors(401)
    def get(self) -> Any:
        """The caller's subscription; the free plan when there is none"""
        return billing().subscription(current_principal().user_id)


@blp.route("/billing/subscription/cancel")
class CancelSubscription(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.response(200, SubscriptionSchema)
    @blp.errors(401, 404, 502, 503, say={404: "No paid subscription (not_found)"})
    def post(self) -> Any:
        """Cancel the subscription at the end of the paid period"""
        return billing().cancel_subscription(current_principal().user_id)


@blp.route("/billing/payments")
class Payments(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, PaymentPageSchema)
    @blp.errors(401, 422, say={422: BAD_PAGE})
    def get(self, args: dict[str, Any]) -> Any:
        """The caller's payments, newest first (keyset pages)"""
        return billing().payments(current_principal().user_id, **args)


@blp.route("/admin/payments/<string:payment_id>")
class AdminPayment(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.response(200, AdminPaymentSchema)
    @blp.errors(401, 403, 404, what="payment")
    def get(self, payment_id: str) -> Any:
        """One payment with its refunds, reversals and shortfall (admins only)"""
        require_admin()
        return billing().payment(payment_id)


@blp.route("/admin/payments/<string:payment_id>/refund")
class AdminRefund(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(OptionalIdempotencyKeyHeaderSchema, location="headers")
    @blp.arguments(RefundSchema)
    @blp.response(200, AdminRefundSchema)
    @blp.errors(
        401,
        403,
        404,
        409,
        422,
        502,
        503,
        what="payment",
        say={
            409: "The payment is not paid, or already fully refunded (conflict)",
            422: "amount_cents beyond what is left to refund (validation_error)",
        },
    )
    def post(self, headers: dict[str, Any], body: dict[str, Any], payment_id: str) -> Any:
        """Refund a payment in full or in part through the provider (admins only); the credits follow its webhook"""
        admin = require_admin()
        service = billing()
        refund = service.refund(
            payment_id, amount_cents=body["amount_cents"], idempotency_key=headers["idempotency_key"]
        )
        operations = container().operations
        details: dict[str, str | int | bool | None] = {
            "refund_id": refund.id,
            "amount_cents": refund.amount_cents,
            "status": refund.status,
        }
        operations.record(
            operations.new_audit(admin.user_id, AuditAction.REFUND_REQUESTED, "payment", payment_id, details)
        )
        return {"refund": refund, "payment": service.payment(payment_id)}


@blp.route("/webhooks/stripe")
class StripeWebhook(MethodView):
    @blp.arguments(StripeSignatureHeaderSchema, location="headers")
    @blp.doc(
        requestBody={
            "required": True,
            "description": "The raw Stripe event, exactly as Stripe signed it",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    )
    @blp.response(200, WebhookReceivedSchema)
    @blp.errors(400, say={400: "Bad, missing or stale signature (invalid_signature), or not an event (bad_request)"})
    def post(self, headers: dict[str, Any]) -> Any:
        """Receive a Stripe event: verified on the raw body, stored once, handled by a job (a repeat is a no-op)"""
        billing().receive_webhook(request.get_data(cache=False), headers["stripe_signature"])
        return {"received": True}
