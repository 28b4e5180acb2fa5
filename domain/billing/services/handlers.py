"""What each provider event type does. Events about a payment never act by themselves: they are
attached to their payment and the payment converges (services/converge.py, the target rules in
domain/billing/convergence.py). Subscription events sync the user's one subscription.

| event                                                      | effect                                                   |
| ---------------------------------------------------------- | -------------------------------------------------------- |
| checkout.session.completed / async_payment_succeeded / async_payment_failed / expired | attached to the session's payment; paid (packs), the amount and currency paid, failed/expired |
| invoice.paid                                               | records the invoice's payment (the checkout's for the first, a renewal's after), attaches, converges: paid, amount, period, whether the invoice grants (billing_reason, $0); clears `past_due` |
| invoice_payment.paid                                       | attached to the invoice's payment: links its payment intent (so refunds and disputes of plan invoices find it) |
| charge.refunded                                            | attached by payment intent (or charge): the charge's amount and cumulative refunded |
| charge.refund.updated, refund.created / updated / failed   | attached: each refund's latest status (a failed or canceled refund gives the credits back) |
| charge.dispute.created / updated / closed / funds_withdrawn / funds_reinstated | attached: each dispute's latest status (open and lost take, inquiries and won take nothing) |
| invoice.payment_failed                                     | the invoice's pending payment `failed`; the subscription `past_due` (unless the invoice was paid) |
| customer.subscription.created / updated / deleted          | sync plan, status, period, cancel_at_period_end (newest event wins); the user's plan follows; an ended subscription frees the user's plan slot |
| anything else                                              | stored and ignored                                        |

Credits always come from our own payment record (the catalogue's figure copied at checkout, or the
plan's figure when a renewal invoice is recorded); never from the event's metadata, which only
helps find our own payment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from domain.billing import objects as o
from domain.billing.catalogue import Catalogue
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
from domain.billing.services.events import Handler, Outcome, _ignored
from domain.identity.model import FREE_PLAN
from domain.platform import emitters  # issue 22: events to webhooks and notifications
from domain.shared.clock import Clock
from domain.shared.errors import DomainError, DuplicateRecord, InvalidInput
from domain.shared.ids import IdGenerator
from domain.shared.uow import transaction

ONCE = 1  # a handler's transactions are not retried one by one: handle_event retries the whole handler
ENDED_SUBSCRIPTION = {SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE_EXPIRED, SubscriptionStatus.UNPAID}
# Events of one subscription that carry the same `created` second apply in this order.
SUBSCRIPTION_RANK = {
    "customer.subscription.created": 0,
    "customer.subscription.updated": 1,
    "customer.subscription.deleted": 2,
}


class PaymentNotYetKnown(DomainError):
    """An event for a payment or subscription we cannot place yet (its checkout event has not
    arrived): the handler fails and the queue tries again later."""

    code = "payment_not_yet_known"


def _done(note: str | None = None) -> Outcome:
    return EventStatus.PROCESSED, note


class EventHandlers:
    """What invoice and subscription events do. Payment events (and invoice.paid, once its payment
    is recorded) go to the convergence, given here as `on_payment_event`."""

    def __init__(
        self,
        *,
        uow: Callable[[], BillingUnitOfWork],
        clock: Clock,
        ids: IdGenerator,
        catalogue: Catalogue,
        on_payment_event: Handler,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._catalogue = catalogue
        self._on_payment_event = on_payment_event

    # --- invoices ----------------------------------------------------------------------------
    def on_invoice_paid(self, event: Mapping[str, Any]) -> Outcome:
        invoice = o.obj(event)
        invoice_id = o.text(invoice, "id")
        if not invoice_id:
            raise InvalidInput("invoice without an id")
        self._invoice_payment(invoice, invoice_id)
        outcome = self._on_payment_event(event)
        self._clear_past_due(o.invoice_subscription(invoice), int(event["created"]))
        return outcome

    def _clear_past_due(self, provider_id: str | None, created: int) -> None:
        """A paid invoice ends `past_due`, unless a newer subscription event said otherwise."""
        if not provider_id:
            return
        version = created * 4 + 1

        def clear(uow: BillingUnitOfWork) -> None:
            found = uow.billing.subscription_by_provider_id(provider_id)
            if found is None or found.status is not SubscriptionStatus.PAST_DUE or found.version > version:
                return
            locked = uow.billing.get_subscription(found.user_id, for_update=True)
            if locked is None or locked.provider_id != provider_id:
                return
            locked.status, locked.version, locked.updated_at = SubscriptionStatus.ACTIVE, version, self._clock.now()
            uow.billing.save_subscription(locked)

        transaction(self._uow, clear, attempts=ONCE)

    def _invoice_payment(self, invoice: Mapping[str, Any], invoice_id: str) -> Payment:
        """Our payment for this invoice: the one already linked to it, else the subscription's
        checkout payment no invoice has claimed, else a new record for a renewal, priced from the
        catalogue's plan for the invoice's price (or the subscription's plan). Two deliveries of
        one invoice (different event ids) may both record it: the loser reads the winner's."""
        try:
            return self._record_invoice_payment(invoice, invoice_id)
        except DuplicateRecord:
            return self._record_invoice_payment(invoice, invoice_id)

    def _record_invoice_payment(self, invoice: Mapping[str, Any], invoice_id: str) -> Payment:
        subscription_id = o.invoice_subscription(invoice)

        def record(uow: BillingUnitOfWork) -> Payment:
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
            return payment

        return transaction(self._uow, record, attempts=ONCE)

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
        plan = self._catalogue.plan_for_price(o.invoice_price(invoice)) or self._catalogue.plan(subscription.plan_id)
        if plan is None:
            raise PaymentNotYetKnown(f"invoice {invoice_id}: no plan in the catalogue for it")
        now = self._clock.now()
        return Payment(
            id=self._ids.new_id("pay"),
            user_id=subscription.user_id,
            kind=PaymentKind.PLAN,
            item_id=plan.id,
            item_name=plan.name,
            credits=plan.monthly_credits,
            amount_cents=plan.amount_cents,
            currency=plan.currency,  # what we sell: the paid amount is checked against it
            status=PaymentStatus.PENDING,
            created_at=now,
            updated_at=now,
            price_id=plan.price_id,
            customer_id=o.text(invoice, "customer"),
            subscription_id=subscription_id,
            invoice_id=invoice_id,
        )

    def on_invoice_failed(self, event: Mapping[str, Any]) -> Outcome:
        invoice = o.obj(event)
        invoice_id = o.text(invoice, "id") or ""
        subscription_id = o.invoice_subscription(invoice)

        def fail(uow: BillingUnitOfWork) -> Outcome:
            payment = self._known_invoice_payment(uow, invoice, invoice_id, subscription_id)
            if payment is not None and payment.settled:
                return _ignored("that invoice is already paid")
            if payment is not None and payment.status is PaymentStatus.PENDING:
                payment.status, payment.updated_at = PaymentStatus.FAILED, self._clock.now()
                uow.billing.update_payment(payment)
            subscription = uow.billing.subscription_by_provider_id(subscription_id) if subscription_id else None
            if subscription is not None and subscription.status in (
                SubscriptionStatus.ACTIVE,
                SubscriptionStatus.TRIALING,
            ):
                subscription.status, subscription.updated_at = SubscriptionStatus.PAST_DUE, self._clock.now()
                uow.billing.save_subscription(subscription)
            owner = (
                payment.user_id if payment is not None else subscription.user_id if subscription is not None else None
            )
            if owner is not None:
                emitters.invoice_failed(
                    uow,
                    owner,
                    invoice_id,
                    payment.id if payment else None,
                    o.integer(invoice, "amount_due") or 0,
                    o.text(invoice, "currency") or "",
                    o.integer(invoice, "attempt_count") or 1,
                    self._clock.now(),
                )
            return _done("payment failed; subscription past_due")

        return transaction(self._uow, fail, attempts=ONCE)

    # --- subscriptions -----------------------------------------------------------------------
    def on_subscription(self, event: Mapping[str, Any]) -> Outcome:
        sub = o.obj(event)
        provider_id = o.text(sub, "id")
        if not provider_id:
            raise InvalidInput("subscription without an id")
        version = int(event["created"]) * 4 + SUBSCRIPTION_RANK[event["type"]]

        def sync(uow: BillingUnitOfWork) -> Outcome:
            user_id = self._subscriber(uow, sub, provider_id)
            current = uow.billing.get_subscription(user_id, for_update=True)
            if current is not None and current.provider_id == provider_id:
                if version < current.version or (
                    version == current.version and event["type"] != "customer.subscription.updated"
                ):
                    return _ignored("an older state of the subscription")
            elif current is not None and current.live and sub.get("status") not in LIVE_SUBSCRIPTION:
                return _ignored("an ended subscription; the user has a newer live one")
            synced = self._synced(sub, provider_id, user_id, current, version)
            uow.billing.save_subscription(synced)
            if synced.customer_id and uow.billing.customer_id(user_id) is None:
                uow.billing.set_customer_id(user_id, synced.customer_id)
            self._follow_plan(uow, user_id, synced.plan_id if synced.live else FREE_PLAN)
            emitters.subscription(uow, synced, self._clock.now())
            if synced.status in ENDED_SUBSCRIPTION:
                self._free_plan_slot(uow, user_id, provider_id)
            return _done(f"subscription {synced.status.value} on {synced.plan_id}")

        return transaction(self._uow, sync, attempts=ONCE)

    def _free_plan_slot(self, uow: BillingUnitOfWork, user_id: str, provider_id: str) -> None:
        """The subscription ended: its checkout no longer keeps the user from buying a plan."""
        holder = uow.billing.payment_by("plan_slot", user_id, for_update=True)
        if holder is not None and holder.subscription_id in (None, provider_id):
            holder.plan_slot, holder.updated_at = None, self._clock.now()
            uow.billing.update_payment(holder)

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
        plan = self._catalogue.plan_for_price(price_id)
        plan_id = plan.id if plan else (same.plan_id if same else None)
        if plan_id is None:
            meta_plan = o.metadata(sub).get("plan_id", "")
            plan_id = meta_plan if self._catalogue.plan(meta_plan) is not None else None
        if plan_id is None:
            raise PaymentNotYetKnown(f"subscription {provider_id}: price {price_id} is in no plan of the catalogue")
        try:
            status = SubscriptionStatus(str(sub.get("status")))
        except ValueError:
            raise InvalidInput(f"unknown subscription status {sub.get('status')!r}") from None
        now = self._clock.now()
        return Subscription(
            user_id=user_id,
            provider_id=provider_id,
            plan_id=plan_id,
            status=status,
            created_at=same.created_at if same else now,
            updated_at=now,
            customer_id=o.text(sub, "customer"),
            price_id=price_id,
            current_period_start=o.timestamp(item, "current_period_start"),
            current_period_end=o.timestamp(item, "current_period_end"),
            cancel_at_period_end=bool(sub.get("cancel_at_period_end")),
            version=version,
        )

    def _follow_plan(self, uow: BillingUnitOfWork, user_id: str, plan_id: str) -> None:
        user = uow.users.get(user_id)
        if user is not None and user.plan != plan_id:
            user.plan, user.updated_at = plan_id, self._clock.now()
            uow.users.update(user)
