"""The fake payment gateway (unit tests and the embedded default) and the fake checkout.

`FakePaymentGateway` answers every `PaymentGateway` call from memory, in the shapes of the real
one: Checkout URLs point at the service's own fake-checkout page, subscriptions and charges it
has seen can be read, cancelled and refunded, and every event it "sends" is kept so that
`list_events` (the reconciliation) sees it, exactly as Stripe keeps undelivered events.

`FakeCheckout` plays the buyer and Stripe's webhook sender: it reads what a session is about
from the billing service, builds the events a real Stripe would send for the outcome
(`adapters/stripe/events.py`), signs each with the webhook secret and hands the exact bytes to
`billing.receive_webhook` — the same path the real webhook route takes. The page, `houston
simulate-payment` and the tests all go through it.

Decisions:
- Ids of the fake world are derived from the session and the user (see events.py), so the page
  served by one gunicorn worker and the CLI in another process build the same ids. What the fake
  provider remembers (sessions, charges and their refunds, subscriptions, sent events) lives in a
  JSON file when given `state_file` (the embedded default keeps it beside its SQLite database), so
  every worker and the CLI see the same provider; without one, in memory (tests). Ids it has never
  seen are refused, as Stripe refuses unknown ids.
- Events the fake sends on its own (a refund's `charge.refunded`, a cancellation's
  `customer.subscription.updated`) are delivered after the call has been recorded, and a failing
  delivery is logged, not raised: with Stripe too a refund succeeds whether or not its webhook
  arrives, and the reconciliation replays what was missed.
"""

from __future__ import annotations

import copy
import dataclasses
import fcntl
import hashlib
import hmac
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from adapters.stripe import events as ev
from domain.billing.errors import PaymentProviderError
from domain.billing.ports import CheckoutRequest, CheckoutSession, RefundResult
from domain.shared.clock import Clock, SystemClock
from domain.shared.errors import Conflict, NotFound
from domain.shared.ids import IdGenerator, RandomIds

log = logging.getLogger(__name__)
FAKE_CHECKOUT_PATH = "/v1/billing/fake-checkout/"
FAKE_PORTAL_PATH = "/v1/billing/fake-portal/"
OPEN_STATUSES = ("pending", "open")
SUBSCRIPTION_ACTIONS = ("renew", "renew-fails", "end")
MAX_EVENTS = 10_000  # the fake provider keeps its latest events, as Stripe keeps 30 days
Deliver = Callable[[Sequence[Mapping[str, Any]]], None]


class _State:
    """The fake provider's memory: a dict in this process, or a JSON file shared by every process
    (web workers, the CLI, RQ workers) under an exclusive `flock` while one call reads and writes it."""

    def __init__(self, path: str | None) -> None:
        self._path = Path(path) if path else None
        self._memory: dict[str, Any] = _empty_state()
        self._lock = threading.RLock()

    @contextmanager
    def open(self) -> Iterator[dict[str, Any]]:
        with self._lock:
            if self._path is None:
                yield self._memory
                return
            self._path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)  # buyers' emails: not world-readable
            with os.fdopen(fd, "r+", encoding="utf-8") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    handle.seek(0)
                    raw = handle.read()
                    state = json.loads(raw) if raw.strip() else _empty_state()
                    yield state
                    state["events"] = state["events"][-MAX_EVENTS:]
                    handle.seek(0)
                    handle.truncate()
                    handle.write(json.dumps(state))
                    handle.flush()
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)


def _empty_state() -> dict[str, Any]:
    return {
        "sessions": {},
        "charges": {},
        "subscriptions": {},
        "refunds": {},
        "events": [],
        "portal_sessions": [],
        "deleted_customers": [],
    }


class FakePaymentGateway:
    """`state_file` shares the fake provider's memory between processes (the embedded default runs
    several gunicorn workers, and `houston simulate-payment` runs in its own process); without
    one, each instance has its own memory (tests)."""

    def __init__(
        self,
        public_base_url: str = "http://127.0.0.1:8000",
        ids: IdGenerator | None = None,
        *,
        clock: Clock | None = None,
        state_file: str | None = None,
    ) -> None:
        self.public_base_url = public_base_url.rstrip("/")
        self._ids = ids or RandomIds()
        self._clock = clock or SystemClock()
        self._state = _State(state_file)
        self.failures: list[Exception] = []  # raised by the next calls, one each (tests)
        self._deliver: Deliver | None = None

    # --- what the fake provider knows (copies) -----------------------------------------------

    @property
    def sessions(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = self._read("sessions")
        return found

    @property
    def charges(self) -> dict[str, dict[str, Any]]:
        """payment intent -> {amount, currency, customer, refunded, created}"""
        found: dict[str, dict[str, Any]] = self._read("charges")
        return found

    @property
    def subscriptions(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = self._read("subscriptions")
        return found

    @property
    def events(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._read("events")
        return found

    @property
    def portal_sessions(self) -> list[list[str]]:
        found: list[list[str]] = self._read("portal_sessions")
        return found

    def _read(self, part: str) -> Any:
        with self._state.open() as state:
            return copy.deepcopy(state[part])

    # --- test and wiring hooks ---------------------------------------------------------------

    def fail_next(self, error: Exception, times: int = 1) -> None:
        """Make the next `times` gateway calls raise `error` (a PaymentProvider* error, usually)."""
        self.failures.extend([error] * times)

    def bind_delivery(self, deliver: Deliver | None) -> None:
        """Where events the fake sends on its own go (refunds, cancellations); None keeps them only
        in `events` for `list_events`."""
        self._deliver = deliver

    def record(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Remember events sent for this gateway's objects: charges become refundable and
        subscriptions readable, and `list_events` returns them."""
        with self._state.open() as state:
            _remember(state, events)

    def checkout_urls(self, session_id: str) -> tuple[str, str] | None:
        """(success_url, cancel_url) of a session this fake provider created, else None."""
        request = self.sessions.get(session_id)
        if request is None:
            return None
        return request["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id), request["cancel_url"]

    # --- PaymentGateway ----------------------------------------------------------------------

    def create_checkout_session(self, request: CheckoutRequest) -> CheckoutSession:
        self._maybe_fail()
        asked = _request_dict(request)
        with self._state.open() as state:
            for session_id, earlier in state["sessions"].items():  # Stripe replays an idempotency key
                if earlier["idempotency_key"] == request.idempotency_key:
                    if earlier != asked:  # Stripe: 400 idempotency_error
                        raise PaymentProviderError(
                            "The payment provider refused to create a Checkout session.",
                            details={"provider_status": 400, "provider_code": "idempotency_error"},
                        )
                    return self._session(session_id, request)
            session_id = self._ids.new_id("cs_test_fake")
            state["sessions"][session_id] = asked
        return self._session(session_id, request)

    def create_portal_session(self, *, customer_id: str, return_url: str) -> str:
        """A session of the fake billing portal: a development page of this service
        (`FAKE_PORTAL_PATH`) that says what Stripe's portal would offer, shows the customer's
        subscriptions, and links back to `return_url`."""
        self._maybe_fail()
        portal_id = self._ids.new_id("bps_fake")
        with self._state.open() as state:
            state["portal_sessions"].append([customer_id, return_url])
            state.setdefault("portals", {})[portal_id] = {"customer": customer_id, "return_url": return_url}
        return f"{self.public_base_url}{FAKE_PORTAL_PATH}{portal_id}"

    def portal(self, portal_id: str) -> dict[str, Any] | None:
        """A portal session this fake provider created, with its customer's subscriptions; else None."""
        with self._state.open() as state:
            found = state.get("portals", {}).get(portal_id)
            if found is None:
                return None
            subscriptions = [
                copy.deepcopy(sub)
                for sub in state["subscriptions"].values()
                if sub.get("customer") == found["customer"]
            ]
        return {**found, "id": portal_id, "subscriptions": subscriptions}

    def cancel_subscription_at_period_end(self, subscription_id: str) -> Mapping[str, Any]:
        self._maybe_fail()
        now = ev.unix(self._clock.now())
        with self._state.open() as state:
            sub = _subscription(state, subscription_id)
            previous = {"cancel_at_period_end": sub["cancel_at_period_end"], "cancel_at": sub["cancel_at"]}
            sub.update(
                cancel_at_period_end=True, cancel_at=sub["items"]["data"][0]["current_period_end"], canceled_at=now
            )
            sub["cancellation_details"]["reason"] = "cancellation_requested"
            sent = [ev.event("customer.subscription.updated", sub, created=now, previous_attributes=previous)]
            _remember(state, sent)
        self._send(sent)
        return copy.deepcopy(sub)

    def next_period(self, facts: ev.CheckoutFacts, action: str) -> list[dict[str, Any]]:
        """The events at the end of the current period of `facts`' subscription, remembered (not
        delivered): `renew` (the next invoice is paid), `renew-fails` (it fails: past_due) or `end`
        (the subscription ends: `customer.subscription.deleted`, as after a cancellation at the
        period's end). The development-only CLI stands in for Stripe's clock with it."""
        if action not in SUBSCRIPTION_ACTIONS:
            raise ValueError(f"action must be one of {', '.join(SUBSCRIPTION_ACTIONS)}")
        sub_id = facts.subscription
        with self._state.open() as state:
            sub = state["subscriptions"].get(sub_id) if sub_id else None
            if sub is None:
                raise NotFound("This checkout session has no subscription (a plan's session that was paid has one).")
            if sub["status"] not in ("active", "past_due"):
                raise Conflict(f"This subscription is {sub['status']}: nothing comes next.")
            end = int(sub["items"]["data"][0]["current_period_end"])
            period_end = datetime.fromtimestamp(end, UTC)
            if action == "end":
                sent = [
                    ev.subscription_event(
                        "customer.subscription.deleted",
                        facts,
                        now=end,
                        status="canceled",
                        period_start=int(sub["items"]["data"][0]["current_period_start"]),
                        period_end=end,
                        cancel_at_period_end=bool(sub["cancel_at_period_end"]),
                    )
                ]
            else:
                if sub["cancel_at_period_end"]:
                    raise Conflict("This subscription was cancelled: it ends at its period's end (use --end-period).")
                numbers = state.setdefault("invoice_numbers", {})
                number = int(numbers.get(sub_id, 1)) + 1
                numbers[sub_id] = number
                sent = ev.renewal(facts, number=number, period_start=period_end, paid=action == "renew")
            _remember(state, sent)
        return sent

    def retrieve_subscription(self, subscription_id: str) -> Mapping[str, Any]:
        self._maybe_fail()
        with self._state.open() as state:
            return copy.deepcopy(_subscription(state, subscription_id))

    def cancel_subscription_now(self, subscription_id: str) -> None:
        self._maybe_fail()
        now = ev.unix(self._clock.now())
        with self._state.open() as state:
            sub = state["subscriptions"].get(subscription_id)
            if sub is None or sub["status"] == "canceled":
                return
            sub.update(status="canceled", canceled_at=now, ended_at=now)
            sent = [ev.event("customer.subscription.deleted", sub, created=now)]
            _remember(state, sent)
        self._send(sent)

    def delete_customer(self, customer_id: str) -> None:
        """Like Stripe: the customer's live subscriptions end at once, and the customer is gone."""
        self._maybe_fail()
        live = [
            sid
            for sid, sub in self.subscriptions.items()
            if sub.get("customer") == customer_id and sub.get("status") != "canceled"
        ]
        for subscription_id in live:
            self.cancel_subscription_now(subscription_id)
        with self._state.open() as state:
            deleted = state.setdefault("deleted_customers", [])
            if customer_id not in deleted:
                deleted.append(customer_id)

    @property
    def deleted_customers(self) -> list[str]:
        with self._state.open() as state:
            return list(state.get("deleted_customers", []))

    def refund(self, *, payment_intent_id: str, amount_cents: int | None, idempotency_key: str) -> RefundResult:
        self._maybe_fail()
        with self._state.open() as state:
            if idempotency_key in state["refunds"]:
                return RefundResult(**state["refunds"][idempotency_key])
            charge = state["charges"].get(payment_intent_id)
            if charge is None:
                raise PaymentProviderError(
                    "The payment provider refused to refund a payment.",
                    details={"provider_status": 404, "provider_code": "resource_missing"},
                )
            left = charge["amount"] - charge["refunded"]
            amount = left if amount_cents is None else amount_cents
            if amount <= 0 or amount > left:
                raise PaymentProviderError(
                    "The payment provider refused to refund a payment.",
                    details={"provider_status": 400, "provider_code": "amount_too_large"},
                )
            before = charge["refunded"]
            charge["refunded"] = before + amount
            result = RefundResult(id=self._ids.new_id("re_fake"), amount_cents=amount, status="succeeded")
            state["refunds"][idempotency_key] = {"id": result.id, "amount_cents": amount, "status": result.status}
            sent = [
                ev.charge_refunded(
                    payment_intent=payment_intent_id,
                    amount_cents=charge["amount"],
                    currency=charge["currency"],
                    amount_refunded=charge["refunded"],
                    previously_refunded=before,
                    now=ev.unix(self._clock.now()),
                    customer=charge["customer"],
                    charge_created=charge["created"],
                )
            ]
            _remember(state, sent)
        self._send(sent)
        return result

    def list_events(
        self, *, created_after: datetime, types: Sequence[str] | None = None
    ) -> Iterator[Mapping[str, Any]]:
        self._maybe_fail()
        after = ev.unix(created_after)
        chosen = [e for e in self.events if int(e["created"]) > after and (not types or e["type"] in types)]
        return iter(sorted(chosen, key=lambda e: int(e["created"])))

    # --- helpers -----------------------------------------------------------------------------

    def _session(self, session_id: str, request: CheckoutRequest) -> CheckoutSession:
        return CheckoutSession(
            id=session_id,
            url=f"{self.public_base_url}{FAKE_CHECKOUT_PATH}{session_id}",
            customer_id=request.customer_id or ev.derived_id("cus", request.user_id),
            payment_intent_id=None,  # as with Stripe: the payment intent exists once the buyer pays
        )

    def _maybe_fail(self) -> None:
        if self.failures:
            raise self.failures.pop(0)

    def _send(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Deliver events already remembered; outside the state lock, since their handlers may
        call this gateway again."""
        if self._deliver is None:
            return
        try:
            self._deliver(events)
        except Exception:  # Stripe's delivery failing never fails the API call; reconciliation replays
            log.warning("fake webhook delivery failed", extra={"types": ev.types_of(events)}, exc_info=True)


def _request_dict(request: CheckoutRequest) -> dict[str, Any]:
    values = dataclasses.asdict(request)
    values["metadata"] = dict(request.metadata)
    return values


def _remember(state: dict[str, Any], events: Sequence[Mapping[str, Any]]) -> None:
    for event in events:
        state["events"].append(copy.deepcopy(dict(event)))
        obj = event["data"]["object"]
        kind = str(event["type"])
        if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
            if obj.get("payment_status") == "paid" and obj.get("payment_intent"):
                state["charges"].setdefault(
                    str(obj["payment_intent"]),
                    {
                        "amount": int(obj["amount_total"]),
                        "currency": str(obj["currency"]),
                        "customer": obj.get("customer"),
                        "refunded": 0,
                        "created": int(event["created"]),
                    },
                )
        elif kind.startswith("customer.subscription."):
            state["subscriptions"][str(obj["id"])] = copy.deepcopy(dict(obj))


def _subscription(state: dict[str, Any], subscription_id: str) -> dict[str, Any]:
    sub = state["subscriptions"].get(subscription_id)
    if sub is None:
        raise PaymentProviderError(
            "The payment provider does not know this subscription.",
            details={"provider_status": 404, "provider_code": "resource_missing"},
        )
    return sub  # type: ignore[no-any-return]


class CheckoutBilling(Protocol):
    """What FakeCheckout needs from the billing use cases."""

    def checkout_details(self, session_id: str) -> Any: ...

    def receive_webhook(self, payload: bytes, signature_header: str) -> None: ...


TEST_CARDS = {
    "4242424242424242": "Visa 4242 (shared test card)",
    "5555555555554444": "Mastercard 4444 (shared test card)",
}


def card_fingerprint(card: str | None) -> str | None:
    """The fingerprint of a test card: one per number, like Stripe's one per card (None: the
    charge's own, a card nobody else used)."""
    return None if card is None else hashlib.sha256(f"fake-card:{card}".encode()).hexdigest()[:16]


class FakeCheckout:
    """Completes, fails or cancels a Checkout session the way Stripe would: with signed webhooks."""

    def __init__(
        self,
        *,
        billing: CheckoutBilling,
        webhook_secret: str,
        clock: Clock | None = None,
        gateway: FakePaymentGateway | None = None,
    ) -> None:
        if not webhook_secret:
            raise ValueError("the fake checkout signs its events: a webhook secret is required")
        self._billing = billing
        self._secret = webhook_secret
        self._clock = clock or SystemClock()
        self._gateway = gateway

    def form_token(self, session_id: str) -> str:
        """A token for the checkout page's form: an HMAC of the session id keyed with the secret."""
        return hmac.new(self._secret.encode(), f"fake-checkout:{session_id}".encode(), hashlib.sha256).hexdigest()

    def check_form_token(self, session_id: str, token: str) -> bool:
        return hmac.compare_digest(token.encode(), self.form_token(session_id).encode())

    def return_url(self, session_id: str, outcome: str) -> str | None:
        """Where the buyer goes next (success or cancel URL), when this process created the session."""
        urls = self._gateway.checkout_urls(session_id) if self._gateway is not None else None
        if urls is None:
            return None
        return urls[0] if outcome == "paid" else urls[1]

    def portal(self, portal_id: str) -> dict[str, Any]:
        found = self._gateway.portal(portal_id) if self._gateway is not None else None
        if found is None:
            raise NotFound("No such billing portal session.")
        return found

    def details(self, session_id: str) -> Any:
        details = self._billing.checkout_details(session_id)
        if details is None:
            raise NotFound("No such checkout session.")
        return details

    def complete(self, session_id: str, outcome: str, card: str | None = None) -> list[dict[str, Any]]:
        """Send the events of `outcome` (paid | failed | cancel) for an open session; returns them.

        A paid pack comes with its `charge.succeeded` (sent first, as Stripe mostly does), which carries the card's fingerprint
        (the referral programme's same-card rule reads it): `card` is a test card number, whose
        fingerprint is the same for every buyer who names it (two accounts paying with one card);
        None is a card of the buyer's own (a fingerprint no one else has)."""
        if outcome not in ev.OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(ev.OUTCOMES)}")
        if card is not None and card not in TEST_CARDS:
            raise ValueError(f"card must be one of {', '.join(TEST_CARDS)}")
        details = self.details(session_id)
        if str(details.status) not in OPEN_STATUSES:
            raise Conflict(f"This checkout session is already {details.status}.")
        facts = ev.CheckoutFacts.from_details(details)
        now = self._clock.now()
        events = ev.checkout_outcome(facts, outcome, now)
        if outcome == "paid" and facts.payment_intent is not None:  # Stripe usually sends the charge first
            events.insert(
                0,
                ev.charge_succeeded(
                    payment_intent=facts.payment_intent,
                    amount_cents=facts.amount_cents,
                    currency=facts.currency,
                    now=ev.unix(now),
                    customer=facts.customer,
                    fingerprint=card_fingerprint(card),
                ),
            )
        if self._gateway is not None:
            self._gateway.record(events)
        self.deliver(events)
        return events

    def next_period(self, session_id: str, action: str) -> list[dict[str, Any]]:
        """End the current period of a paid plan's subscription: `renew`, `renew-fails` or `end`
        (see FakePaymentGateway.next_period); sends the events and returns them."""
        if self._gateway is None:
            raise NotFound("This fake checkout has no provider state to advance.")
        details = self.details(session_id)
        if str(details.kind) != "plan":
            raise NotFound("This checkout session has no subscription (it bought a pack).")
        events = self._gateway.next_period(ev.CheckoutFacts.from_details(details), action)
        self.deliver(events)
        return events

    def deliver(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Sign each event with the wall clock (the verifier's tolerance uses it) and receive it.
        Also what the fake gateway's `bind_delivery` takes, for refunds and cancellations."""
        for event in events:
            payload, header = ev.signed(event, self._secret, int(time.time()))
            self._billing.receive_webhook(payload, header)
