"""Payments, subscriptions, provider events and reversals: the records billing keeps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class PaymentKind(StrEnum):
    PACK = "pack"  # a one-time Checkout for a credit pack
    PLAN = "plan"  # one paid invoice of a subscription (the first one comes from a Checkout)


class PaymentStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    DISPUTED = "disputed"


# Statuses a payment can no longer leave through a checkout or invoice event.
SETTLED = {PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED, PaymentStatus.DISPUTED}


@dataclass(slots=True)
class Payment:
    id: str
    user_id: str
    kind: PaymentKind
    item_id: str  # pack id or plan id
    item_name: str
    credits: int  # the catalogue's figure, copied at checkout (or at the invoice): what gets granted
    amount_cents: int
    currency: str
    status: PaymentStatus
    created_at: datetime
    updated_at: datetime
    customer_email: str = ""
    price_id: str | None = None
    checkout_key: str | None = None  # the user's Idempotency-Key of the checkout request (scoped)
    session_id: str | None = None
    checkout_url: str | None = None
    payment_intent_id: str | None = None
    customer_id: str | None = None
    subscription_id: str | None = None  # the provider's subscription id (plans)
    invoice_id: str | None = None  # the provider's invoice id (plans)
    grant_id: str | None = None
    grant_expires_at: datetime | None = None
    paid_at: datetime | None = None
    refunded_cents: int = 0  # cumulative, as the provider reports it
    reversal_target: int = 0  # credits that refunds and disputes have asked to take back so far
    credits_reversed: int = 0  # credits actually taken back
    shortfall: int = 0  # credits the target says to take back but the ledger could not (spent or held)
    credits_held: int = 0  # what the ledger holds for this payment: every move made, net
    ledger_version: int = 0  # ledger moves made so far; the next one's key is `billing:<id>:<version + 1>`
    charge_id: str | None = None
    review: str | None = None  # why a paid payment grants nothing (amount or currency not what we sold)
    plan_slot: str | None = None  # the user id while this plan checkout is open or its subscription lives
    card_fingerprint: str | None = None  # the provider's fingerprint of the card that paid (referral checks)

    @property
    def settled(self) -> bool:
        return self.status in SETTLED

    def credits_for_refund(self, refunded_cents: int) -> int:
        """Credits that correspond to a cumulative refund, in proportion (rounded down; all of
        them once the whole amount is refunded)."""
        if self.amount_cents <= 0 or refunded_cents >= self.amount_cents:
            return self.credits
        return self.credits * max(refunded_cents, 0) // self.amount_cents


class SubscriptionStatus(StrEnum):
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    UNPAID = "unpaid"
    PAUSED = "paused"


# Statuses that keep the user on the subscription's plan.
LIVE_SUBSCRIPTION = {SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE}


@dataclass(slots=True)
class Subscription:
    """The user's one subscription (a new one replaces an ended one)."""

    user_id: str
    provider_id: str
    plan_id: str
    status: SubscriptionStatus
    created_at: datetime
    updated_at: datetime
    customer_id: str | None = None
    price_id: str | None = None
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False
    version: int = 0  # event.created * 4 + rank of the newest event applied (see services)

    @property
    def live(self) -> bool:
        return self.status in LIVE_SUBSCRIPTION


class EventStatus(StrEnum):
    RECEIVED = "received"
    PENDING = "pending"  # concerns a payment we cannot place yet: retried when it appears
    PROCESSED = "processed"
    IGNORED = "ignored"  # a type we do not act on, or nothing to do
    FAILED = "failed"


@dataclass(slots=True)
class ProviderEvent:
    id: str  # the provider's event id: stored once
    type: str
    created: datetime  # the provider's timestamp
    payload: str  # the verified event, as JSON
    status: EventStatus
    received_at: datetime
    source: str = "webhook"  # webhook | reconcile
    attempts: int = 0
    last_error: str | None = None
    handled_at: datetime | None = None
    note: str | None = None
    payment_id: str | None = None  # the payment the event is attached to (its target counts it)
    awaiting: str | None = None  # pending: the provider id it waits for, "pi:<id>", "ch:<id>", ...


class ReversalStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"


@dataclass(slots=True)
class Reversal:
    """Credits a refund or dispute asked to take back from a payment's grant. Claimed under the
    payment's row lock (so concurrent refunds never ask twice), applied through the ledger after."""

    id: str
    payment_id: str
    reason: str  # refund | dispute
    reference: str  # the provider object behind it (charge + cumulative amount, dispute id)
    credits: int
    status: ReversalStatus
    created_at: datetime
    taken: int = 0
    shortfall: int = 0
    done_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CheckoutDetails:
    session_id: str
    payment_id: str
    user_id: str
    customer_email: str
    kind: str  # "pack" | "plan"
    item_id: str
    item_name: str
    credits: int
    amount_cents: int
    currency: str
    status: str
    price_id: str | None


@dataclass(frozen=True, slots=True)
class CheckoutStarted:
    session_id: str
    url: str
    payment_id: str


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    since: datetime
    listed: int
    replayed: list[str]  # events that never reached us, handled now
    retried: list[str]  # stored events that had failed, handled again
    still_failing: list[str]
    mismatches: list[str]  # payments whose state disagrees with their grants
