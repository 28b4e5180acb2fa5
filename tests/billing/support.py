"""Billing test support: a small in-memory PaymentGateway of our own, and a `Stripe` that builds
the events a Checkout leads to (adapters/stripe/events.py, the pinned API version's shapes), signs
them exactly as Stripe does and delivers them to `billing.receive_webhook`, which verifies them
with the stripe package."""
from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from adapters.stripe import events as ev
from domain.billing.errors import PaymentProviderUnavailable
from domain.billing.ports import CheckoutRequest, CheckoutSession, RefundResult
from domain.billing.services import BillingService
from domain.shared.clock import Clock

WEBHOOK_SECRET = "whsec_test_" + "k" * 32


class InMemoryGateway:
    """Implements the PaymentGateway port in memory: what each call was asked, and canned answers."""

    def __init__(self) -> None:
        self._n = itertools.count(1)
        self.requests: list[CheckoutRequest] = []
        self.by_key: dict[str, CheckoutSession] = {}
        self.cancelled: list[str] = []
        self.refunds: list[tuple[str, int | None, str]] = []
        self.events: list[Mapping[str, Any]] = []  # what list_events answers (the provider's log)
        self.down = False

    def create_checkout_session(self, request: CheckoutRequest) -> CheckoutSession:
        if self.down:
            raise PaymentProviderUnavailable()
        if request.idempotency_key in self.by_key:
            return self.by_key[request.idempotency_key]
        self.requests.append(request)
        n = f"{next(self._n):04d}{uuid.uuid4().hex[:16]}"  # unique across tests sharing one database
        session = CheckoutSession(f"cs_test_{n}", f"https://checkout.example/{n}", request.customer_id, None)
        self.by_key[request.idempotency_key] = session
        return session

    def create_portal_session(self, *, customer_id: str, return_url: str) -> str:
        return f"https://portal.example/{customer_id}?return={return_url}"

    def cancel_subscription_at_period_end(self, subscription_id: str) -> Mapping[str, Any]:
        self.cancelled.append(subscription_id)
        return {"id": subscription_id, "cancel_at_period_end": True}

    def retrieve_subscription(self, subscription_id: str) -> Mapping[str, Any]:
        return {"id": subscription_id}

    def refund(self, *, payment_intent_id: str, amount_cents: int | None, idempotency_key: str) -> RefundResult:
        self.refunds.append((payment_intent_id, amount_cents, idempotency_key))
        return RefundResult(f"re_test_{len(self.refunds)}", amount_cents or 0, "succeeded")

    def list_events(self, *, created_after: datetime, types: Sequence[str] | None = None) -> Iterator[Mapping[str, Any]]:
        after = int(created_after.timestamp())
        yield from sorted((e for e in self.events if e["created"] > after), key=lambda e: e["created"])


@dataclass
class Stripe:
    """The provider side of a test: events for a checkout, signed and delivered."""

    billing: BillingService
    clock: Clock
    gateway: InMemoryGateway | None = None
    secret: str = WEBHOOK_SECRET
    delivered: list[dict[str, Any]] = field(default_factory=list)

    def facts(self, session_id: str) -> ev.CheckoutFacts:
        details = self.billing.checkout_details(session_id)
        assert details is not None, session_id
        return ev.CheckoutFacts.from_details(details)

    def now(self) -> int:
        return ev.unix(self.clock.now())

    def deliver(self, event: Mapping[str, Any], *, timestamp: int | None = None) -> None:
        payload, header = self.signed(event, timestamp=timestamp)
        self.billing.receive_webhook(payload, header)
        self.delivered.append(dict(event))
        if self.gateway is not None:
            self.gateway.events.append(dict(event))

    def signed(self, event: Mapping[str, Any], *, timestamp: int | None = None) -> tuple[bytes, str]:
        # The signature's time is the real one: the stripe package checks it against time.time().
        return ev.signed(event, self.secret, timestamp if timestamp is not None else int(time.time()))

    def outcome(self, session_id: str, outcome: str = "paid") -> list[dict[str, Any]]:
        """Deliver what Stripe sends when the buyer pays / fails / abandons; returns the events."""
        events = ev.checkout_outcome(self.facts(session_id), outcome, self.clock.now())
        for event in events:
            self.deliver(event)
        return events

    def refund(self, session_id: str, *, amount_refunded: int, previously: int = 0) -> dict[str, Any]:
        facts = self.facts(session_id)
        assert facts.payment_intent is not None
        event = ev.charge_refunded(
            payment_intent=facts.payment_intent, amount_cents=facts.amount_cents, currency=facts.currency,
            amount_refunded=amount_refunded, previously_refunded=previously, now=self.now(),
        )  # fmt: skip
        self.deliver(event)
        return event

    def dispute(self, session_id: str) -> dict[str, Any]:
        facts = self.facts(session_id)
        assert facts.payment_intent is not None
        event = ev.dispute_created(
            payment_intent=facts.payment_intent, amount_cents=facts.amount_cents, currency=facts.currency,
            now=self.now(),
        )  # fmt: skip
        self.deliver(event)
        return event

    def dispute_closed(self, created: dict[str, Any], status: str) -> dict[str, Any]:
        obj = dict(created["data"]["object"], status=status)
        event = ev.event("charge.dispute.closed", obj, created=self.now())
        self.deliver(event)
        return event

    def renewal(self, session_id: str, number: int, period_start: datetime, paid: bool = True) -> list[dict[str, Any]]:
        events = ev.renewal(self.facts(session_id), number=number, period_start=period_start, paid=paid)
        for event in events:
            self.deliver(event)
        return events

    def subscription_event(
        self, session_id: str, type_: str, *, status: str, created: int, period_start: datetime,
        cancel_at_period_end: bool = False, price_id: str | None = None,
    ) -> dict[str, Any]:
        facts = self.facts(session_id)
        if price_id is not None:
            facts = replace(facts, price_id=price_id)
        start = ev.unix(period_start)
        end = ev.unix(ev.add_month(period_start))
        return ev.subscription_event(
            type_, facts, now=created, status=status, period_start=start, period_end=end,
            cancel_at_period_end=cancel_at_period_end,
        )  # fmt: skip


def later(clock: Any, **delta: float) -> datetime:
    return clock.advance(**delta) if hasattr(clock, "advance") else clock.now() + timedelta(**delta)
