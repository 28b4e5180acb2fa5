"""One use case per provider event type. What each does to the ledger:

| event                                         | effect                                                                 |
| --------------------------------------------- | ---------------------------------------------------------------------- |
| checkout.session.completed (paid), ..._async_payment_succeeded | pack: grant the payment's credits once (key `payment:<id>`); plan: link the subscription, customer and first invoice, no credits yet |
| checkout.session.completed (unpaid)           | record the payment intent; nothing granted until async_payment_succeeded |
| checkout.session.async_payment_failed         | the pending payment is `failed`; nothing granted                        |
| checkout.session.expired                      | the pending payment is `expired`; nothing granted                       |
| invoice.paid                                  | grant the plan's monthly credits, expiring at the end of the invoice's line period, once per invoice (key `invoice:<id>`) |
| invoice.payment_failed                        | subscription `past_due` (unless that invoice is already paid); no credits move |
| customer.subscription.created/updated/deleted | sync plan, status, period, cancel_at_period_end; the user's plan follows; no credits move (purchased credits are never touched) |
| charge.refunded                               | reverse, from the payment's grant, the credits for the cumulative refunded amount minus what was asked before (key `reversal:<id>`); a shortfall is recorded |
| charge.dispute.created                        | the payment is `disputed` and everything left of its grant is reversed (policy: reverse, not freeze) |
| charge.dispute.closed (won)                   | the credits the dispute took are granted back (key `dispute-won:<id>`)  |
| anything else                                 | stored and ignored                                                     |

Credits always come from our own payment record (the catalogue's figure copied at checkout, or the
plan's figure when a renewal invoice is recorded), found by session, payment intent, invoice or
subscription id; never from the event's metadata, which only helps find our own payment.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from domain.billing import objects as o
from domain.billing.model import (
    LIVE_SUBSCRIPTION,
    EventStatus,
    Payment,
    PaymentKind,
    PaymentStatus,
    Subscription,
    SubscriptionStatus,
)
from domain.billing.ports import BillingUnitOfWork
from domain.billing.services.events import EventUseCases
from domain.identity.model import FREE_PLAN
from domain.ledger.model import GrantSource
from domain.shared.errors import DomainError, InvalidInput

Outcome = tuple[EventStatus, str | None]
# Events of one subscription that carry the same `created` second apply in this order.
SUBSCRIPTION_RANK = {"customer.subscription.created": 0, "customer.subscription.updated": 1,
                     "customer.subscription.deleted": 2}  # fmt: skip


class PaymentNotYetKnown(DomainError):
    """An event for a payment or subscription we cannot place yet (its checkout event has not
    arrived): the handler fails and the queue tries again later."""

    code = "payment_not_yet_known"


def _done(note: str | None = None) -> Outcome:
    return EventStatus.PROCESSED, note


def _ignored(note: str) -> Outcome:
    return EventStatus.IGNORED, note


class EventHandlers(EventUseCases):
    def dispatch(self, event: Mapping[str, Any]) -> Outcome:
        handler = self._handlers().get(event["type"])
        if handler is None:
            return _ignored("type not handled")
        return handler(event)

    def _handlers(self) -> dict[str, Callable[[Mapping[str, Any]], Outcome]]:
        return {
            "checkout.session.completed": self._on_checkout_completed,
            "checkout.session.async_payment_succeeded": self._on_checkout_completed,
            "checkout.session.async_payment_failed": self._on_checkout_failed,
            "checkout.session.expired": self._on_checkout_expired,
            "invoice.paid": self._on_invoice_paid,
            "invoice.payment_failed": self._on_invoice_failed,
            "customer.subscription.created": self._on_subscription,
            "customer.subscription.updated": self._on_subscription,
            "customer.subscription.deleted": self._on_subscription,
            "charge.refunded": self._on_charge_refunded,
            "charge.dispute.created": self._on_dispute_created,
            "charge.dispute.closed": self._on_dispute_closed,
        }

    # --- checkout ----------------------------------------------------------------------------
    def _session_payment(self, uow: BillingUnitOfWork, session: Mapping[str, Any]) -> Payment | None:
        session_id = o.text(session, "id") or ""
        payment = uow.billing.payment_by("session_id", session_id, for_update=True)
        if payment is None:  # our session id never got saved (a crash after the provider answered)
            meta = o.metadata(session)
            candidate = uow.billing.get_payment(meta.get("payment_id", ""), for_update=True)
            if candidate is not None and candidate.session_id is None and candidate.user_id == o.text(
                session, "client_reference_id"
            ):
                candidate.session_id = session_id
                payment = candidate
        return payment

    def _on_checkout_completed(self, event: Mapping[str, Any]) -> Outcome:
        session = o.obj(event)
        with self._uow() as uow:
            payment = self._session_payment(uow, session)
            if payment is None:
                return _ignored("no payment of ours has this session")
            payment.payment_intent_id = payment.payment_intent_id or o.text(session, "payment_intent")
            payment.customer_id = payment.customer_id or o.text(session, "customer")
            if payment.kind is PaymentKind.PLAN:
                payment.subscription_id = payment.subscription_id or o.text(session, "subscription")
                payment.invoice_id = payment.invoice_id or o.text(session, "invoice")
            payment.updated_at = self._clock.now()
            uow.billing.update_payment(payment)
            if payment.customer_id and uow.billing.customer_id(payment.user_id) is None:
                uow.billing.set_customer_id(payment.user_id, payment.customer_id)
            uow.commit()
        if payment.kind is PaymentKind.PLAN:
            return _done("subscription linked; credits come with invoice.paid")
        paid = session.get("payment_status") in ("paid", "no_payment_required")
        if not paid:
            return _done("not paid yet")
        self._grant_payment(payment.id, expires_at=None)
        return _done("pack granted")

    def _on_checkout_failed(self, event: Mapping[str, Any]) -> Outcome:
        return self._close_session(event, PaymentStatus.FAILED)

    def _on_checkout_expired(self, event: Mapping[str, Any]) -> Outcome:
        return self._close_session(event, PaymentStatus.EXPIRED)

    def _close_session(self, event: Mapping[str, Any], status: PaymentStatus) -> Outcome:
        with self._uow() as uow:
            payment = self._session_payment(uow, o.obj(event))
            if payment is None:
                return _ignored("no payment of ours has this session")
            if payment.status is not PaymentStatus.PENDING:
                return _ignored(f"payment already {payment.status.value}")
            payment.status, payment.updated_at = status, self._clock.now()
            uow.billing.update_payment(payment)
            uow.commit()
        return _done(f"payment {status.value}")

    def _grant_payment(self, payment_id: str, *, expires_at: datetime | None) -> None:
        """Grant a payment's recorded credits once (the ledger key is the payment's), then mark it paid."""
        with self._uow() as uow:
            payment = uow.billing.get_payment(payment_id)
        assert payment is not None
        source = GrantSource.PURCHASE if payment.kind is PaymentKind.PACK else GrantSource.PLAN
        grant_id = None
        if payment.credits > 0 and (expires_at is None or expires_at > self._clock.now()):
            movement = self._ledger.grant(
                payment.user_id, source=source, amount=payment.credits, idempotency_key=f"payment:{payment.id}",
                expires_at=expires_at, reference=f"payment:{payment.id}",
            )  # fmt: skip
            grant_id = movement.grant_id
        with self._uow() as uow:
            locked = self._locked_payment(uow, payment_id)
            if locked.grant_id is None:
                locked.grant_id, locked.grant_expires_at = grant_id, expires_at
            if not locked.settled:
                locked.status, locked.paid_at = PaymentStatus.PAID, self._clock.now()
            locked.updated_at = self._clock.now()
            uow.billing.update_payment(locked)
            uow.commit()
        if locked.status is PaymentStatus.PAID:  # issue 24: referrals count the first paid purchase
            self.purchase_hooks.paid(locked.id, locked.user_id, locked.customer_id, locked.amount_cents)

    # --- invoices ----------------------------------------------------------------------------
    def _on_invoice_paid(self, event: Mapping[str, Any]) -> Outcome:
        invoice = o.obj(event)
        invoice_id = o.text(invoice, "id")
        if not invoice_id:
            raise InvalidInput("invoice without an id")
        payment = self._invoice_payment(invoice, invoice_id)
        if payment.grant_id is not None:
            return _done("invoice already granted")
        expires_at = o.invoice_period_end(invoice) or self._subscription_period_end(payment.subscription_id)
        if expires_at is None:  # plan credits always expire: never grant them forever by accident
            raise PaymentNotYetKnown(f"invoice {invoice_id}: no service period on its lines or subscription")
        self._grant_payment(payment.id, expires_at=expires_at)
        return _done("plan credits granted")

    def _subscription_period_end(self, provider_id: str | None) -> datetime | None:
        with self._uow() as uow:
            found = uow.billing.subscription_by_provider_id(provider_id) if provider_id else None
        return found.current_period_end if found is not None else None

    def _invoice_payment(self, invoice: Mapping[str, Any], invoice_id: str) -> Payment:
        """Our payment for this invoice: the one already linked to it, else the subscription's
        checkout payment no invoice has claimed, else a new record for a renewal, priced from the
        catalogue's plan for the invoice's price (or the subscription's plan)."""
        subscription_id = o.invoice_subscription(invoice)
        with self._uow() as uow:
            payment = self._known_invoice_payment(uow, invoice, invoice_id, subscription_id)
            if payment is not None and payment.invoice_id is None:  # the checkout's: claim it for this invoice
                payment.invoice_id = invoice_id
                payment.subscription_id = subscription_id
            if payment is None:
                payment = self._renewal_payment(uow, invoice, invoice_id, subscription_id)
                uow.billing.add_payment(payment)
            else:
                payment.customer_id = payment.customer_id or o.text(invoice, "customer")
                payment.updated_at = self._clock.now()
                uow.billing.update_payment(payment)
            uow.commit()
            return payment

    def _known_invoice_payment(
        self, uow: BillingUnitOfWork, invoice: Mapping[str, Any], invoice_id: str, subscription_id: str | None
    ) -> Payment | None:
        """Locked: the payment linked to this invoice, else (for a subscription's first invoice;
        renewals never take the checkout's) its checkout payment no invoice has claimed yet."""
        payment = uow.billing.payment_by("invoice_id", invoice_id, for_update=True)
        if payment is None and subscription_id and invoice.get("billing_reason") in (None, "subscription_create"):
            payment = uow.billing.open_plan_payment(subscription_id) or self._checkout_payment_from_metadata(
                uow, invoice, subscription_id
            )
        return payment

    def _checkout_payment_from_metadata(
        self, uow: BillingUnitOfWork, invoice: Mapping[str, Any], subscription_id: str
    ) -> Payment | None:
        """invoice.paid can arrive before checkout.session.completed: our metadata on the
        subscription names our payment (used to find it, never for its figures)."""
        meta = o.invoice_metadata(invoice)
        payment = uow.billing.get_payment(meta.get("payment_id", ""), for_update=True)
        if (
            payment is None
            or payment.kind is not PaymentKind.PLAN
            or payment.user_id != meta.get("user_id")
            or payment.invoice_id is not None
            or payment.subscription_id not in (None, subscription_id)
        ):
            return None
        return payment

    def _renewal_payment(
        self, uow: BillingUnitOfWork, invoice: Mapping[str, Any], invoice_id: str, subscription_id: str | None
    ) -> Payment:
        subscription = uow.billing.subscription_by_provider_id(subscription_id) if subscription_id else None
        if subscription is None:
            raise PaymentNotYetKnown(f"invoice {invoice_id} is for a subscription we do not know yet")
        plan = self.catalogue.plan_for_price(o.invoice_price(invoice)) or self.catalogue.plan(subscription.plan_id)
        if plan is None:
            raise PaymentNotYetKnown(f"invoice {invoice_id}: no plan in the catalogue for it")
        now = self._clock.now()
        return Payment(
            id=self._ids.new_id("pay"), user_id=subscription.user_id, kind=PaymentKind.PLAN, item_id=plan.id,
            item_name=plan.name, credits=plan.monthly_credits,
            amount_cents=o.integer(invoice, "amount_paid") or 0, currency=o.text(invoice, "currency") or plan.currency,
            status=PaymentStatus.PENDING, created_at=now, updated_at=now, price_id=plan.price_id,
            customer_id=o.text(invoice, "customer"), subscription_id=subscription_id, invoice_id=invoice_id,
        )  # fmt: skip

    def _on_invoice_failed(self, event: Mapping[str, Any]) -> Outcome:
        invoice = o.obj(event)
        invoice_id = o.text(invoice, "id") or ""
        subscription_id = o.invoice_subscription(invoice)
        with self._uow() as uow:
            payment = self._known_invoice_payment(uow, invoice, invoice_id, subscription_id)
            if payment is not None and payment.settled:
                return _ignored("that invoice is already paid")
            if payment is not None and payment.status is PaymentStatus.PENDING:
                payment.status, payment.updated_at = PaymentStatus.FAILED, self._clock.now()
                uow.billing.update_payment(payment)
            subscription = uow.billing.subscription_by_provider_id(subscription_id) if subscription_id else None
            if subscription is not None and subscription.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING):
                subscription.status, subscription.updated_at = SubscriptionStatus.PAST_DUE, self._clock.now()
                uow.billing.save_subscription(subscription)
            uow.commit()
        return _done("payment failed; subscription past_due")

    # --- subscriptions -----------------------------------------------------------------------
    def _on_subscription(self, event: Mapping[str, Any]) -> Outcome:
        sub = o.obj(event)
        provider_id = o.text(sub, "id")
        if not provider_id:
            raise InvalidInput("subscription without an id")
        version = int(event["created"]) * 4 + SUBSCRIPTION_RANK[event["type"]]
        with self._uow() as uow:
            user_id = self._subscriber(uow, sub, provider_id)
            current = uow.billing.get_subscription(user_id, for_update=True)
            if current is not None and current.provider_id == provider_id:
                if version < current.version or (version == current.version and event["type"] != "customer.subscription.updated"):
                    return _ignored("an older state of the subscription")
            elif current is not None and current.live and sub.get("status") not in LIVE_SUBSCRIPTION:
                return _ignored("an ended subscription; the user has a newer live one")
            synced = self._synced(sub, provider_id, user_id, current, version)
            uow.billing.save_subscription(synced)
            if synced.customer_id and uow.billing.customer_id(user_id) is None:
                uow.billing.set_customer_id(user_id, synced.customer_id)
            self._follow_plan(uow, user_id, synced.plan_id if synced.live else FREE_PLAN)
            uow.commit()
        return _done(f"subscription {synced.status.value} on {synced.plan_id}")

    def _subscriber(self, uow: BillingUnitOfWork, sub: Mapping[str, Any], provider_id: str) -> str:
        known = uow.billing.subscription_by_provider_id(provider_id)
        if known is not None:
            return known.user_id
        payment = uow.billing.open_plan_payment(provider_id)
        if payment is not None:
            return payment.user_id
        meta = o.metadata(sub)
        candidate = uow.billing.get_payment(meta.get("payment_id", ""), for_update=True)
        if candidate is not None and candidate.user_id == meta.get("user_id") and candidate.kind is PaymentKind.PLAN:
            if candidate.subscription_id is None:  # link it now: its checkout event may come later
                candidate.subscription_id, candidate.updated_at = provider_id, self._clock.now()
                uow.billing.update_payment(candidate)
            return candidate.user_id
        customer = o.text(sub, "customer")
        owner = uow.billing.user_of_customer(customer) if customer else None
        if owner is not None:
            return owner
        raise PaymentNotYetKnown(f"subscription {provider_id} belongs to nobody we know yet")

    def _synced(
        self, sub: Mapping[str, Any], provider_id: str, user_id: str, current: Subscription | None, version: int
    ) -> Subscription:
        item = o.first_item(sub)
        price_id = o.text(item, "price", "id")
        same = current if current is not None and current.provider_id == provider_id else None
        plan = self.catalogue.plan_for_price(price_id)
        plan_id = plan.id if plan else (same.plan_id if same else None)
        if plan_id is None:
            meta_plan = o.metadata(sub).get("plan_id", "")
            plan_id = meta_plan if self.catalogue.plan(meta_plan) is not None else None
        if plan_id is None:
            raise PaymentNotYetKnown(f"subscription {provider_id}: price {price_id} is in no plan of the catalogue")
        try:
            status = SubscriptionStatus(str(sub.get("status")))
        except ValueError:
            raise InvalidInput(f"unknown subscription status {sub.get('status')!r}") from None
        now = self._clock.now()
        return Subscription(
            user_id=user_id, provider_id=provider_id, plan_id=plan_id, status=status,
            created_at=same.created_at if same else now, updated_at=now, customer_id=o.text(sub, "customer"),
            price_id=price_id, current_period_start=o.timestamp(item, "current_period_start"),
            current_period_end=o.timestamp(item, "current_period_end"),
            cancel_at_period_end=bool(sub.get("cancel_at_period_end")), version=version,
        )  # fmt: skip

    def _follow_plan(self, uow: BillingUnitOfWork, user_id: str, plan_id: str) -> None:
        user = uow.users.get(user_id)
        if user is not None and user.plan != plan_id:
            user.plan, user.updated_at = plan_id, self._clock.now()
            uow.users.update(user)

    # --- money going back: ReversalUseCases (reversals.py) overrides these ---------------------
    def _on_charge_refunded(self, event: Mapping[str, Any]) -> Outcome:
        raise NotImplementedError

    def _on_dispute_created(self, event: Mapping[str, Any]) -> Outcome:
        raise NotImplementedError

    def _on_dispute_closed(self, event: Mapping[str, Any]) -> Outcome:
        raise NotImplementedError
