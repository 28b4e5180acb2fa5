"""Issue 26 §3: billing receives the ledger through a narrow port (`CreditBooking`), so a test can
fail a ledger call with a fake that implements the port: no subclass of `Ledger`, no patching.
The fake fails the movement a paid pack's convergence makes; the payment, the event and the
credits must stay in step (all in one transaction), and the same key must apply once later."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.stripe import events as ev
from adapters.stripe.fake import FakePaymentGateway
from domain.billing.model import EventStatus, PaymentStatus
from domain.billing.services import BillingService
from domain.ledger.ports import CreditBooking, CreditGrants, CreditHolds, LedgerUnitOfWork
from domain.ledger.results import Movement
from domain.ledger.services import Ledger
from domain.ledger.services.book import Work
from domain.shared.errors import TransientError, Unavailable
from entrypoints.bootstrap import Container
from tests.fixtures.containers import new_user, urls
from tests.fixtures.stripe import Stripe


class FailingBooking:
    """A `CreditBooking` that raises the given errors on its next calls, then hands the calls to
    the real ledger. It implements the port; it is not a `Ledger`."""

    def __init__(self, ledger: CreditBooking, *errors: Exception) -> None:
        self._ledger = ledger
        self._errors = list(errors)
        self.keys: list[str] = []

    def book_within(
        self, uow: LedgerUnitOfWork, account_id: str, *, key: str, operation: str, args: dict[str, Any], work: Work
    ) -> Movement:
        self.keys.append(key)
        if self._errors:
            raise self._errors.pop(0)
        return self._ledger.book_within(uow, account_id, key=key, operation=operation, args=args, work=work)


def billing_with(container: Container, booking: CreditBooking) -> BillingService:
    """The container's billing, built again around `booking` (the same storage, clock and gateway)."""
    return BillingService(
        uow=container.uow,
        clock=container.clock,
        ids=container.ids,
        ledger=booking,
        catalogue=container.billing.catalogue,
        gateway=container.payment_gateway,
        verifier=container.webhook_verifier,
        config=container.billing.config,
    )


def paid_pack(container: Container, billing: BillingService, gateway: FakePaymentGateway) -> tuple[str, str, str]:
    """A pack of 100 credits paid at the provider, its event stored but not handled: (user, payment, event)."""
    user_id = new_user(container)
    started = billing.checkout(user_id, pack_id="pack_100", **urls())
    [event] = ev.checkout_outcome(
        Stripe(billing, container.clock, gateway).facts(started.session_id), "paid", container.clock.now()
    )
    assert billing.store_event(event, source="webhook", enqueue=False)
    return user_id, started.payment_id, str(event["id"])


def test_a_ledger_that_fails_leaves_the_payment_and_its_credits_as_they_were(
    container: Container, gateway: FakePaymentGateway
) -> None:
    booking = FailingBooking(container.ledger, Unavailable("the ledger's database went away"))
    billing = billing_with(container, booking)
    user_id, payment_id, event_id = paid_pack(container, billing, gateway)
    before = container.ledger.balance(user_id).balance  # the free plan's allowance

    with pytest.raises(Unavailable):
        billing.handle_event(event_id)  # not retried: a 503 says nothing happened

    failed = billing.payment(payment_id)
    assert (failed.status, failed.credits_held, failed.ledger_version, failed.grant_id) == (
        PaymentStatus.PENDING,
        0,
        0,
        None,
    )
    assert container.ledger.balance(user_id).balance == before
    stored = billing.event(event_id)
    assert stored is not None and stored.status is EventStatus.FAILED
    assert stored.payment_id is None  # its attachment rolled back with the rest

    assert billing.handle_event(event_id) == "processed"  # the queue's retry: the same key applies once
    paid = billing.payment(payment_id)
    assert (paid.status, paid.credits_held, paid.ledger_version) == (PaymentStatus.PAID, 100, 1)
    assert container.ledger.balance(user_id).balance == before + 100
    assert booking.keys == [f"billing:{payment_id}:1"] * 2
    assert container.ledger.check_invariants(user_id) == []


def test_contention_in_the_ledger_reruns_the_whole_convergence_once(
    container: Container, gateway: FakePaymentGateway
) -> None:
    booking = FailingBooking(container.ledger, TransientError("Deadlock found when trying to get lock"))
    billing = billing_with(container, booking)
    user_id, payment_id, event_id = paid_pack(container, billing, gateway)
    before = container.ledger.balance(user_id).balance

    assert billing.handle_event(event_id) == "processed"

    paid = billing.payment(payment_id)
    assert (paid.status, paid.credits_held, paid.ledger_version) == (PaymentStatus.PAID, 100, 1)
    assert container.ledger.balance(user_id).balance == before + 100  # granted once, not twice
    assert booking.keys == [f"billing:{payment_id}:1"] * 2
    assert container.ledger.check_invariants(user_id) == []


def test_the_ledger_satisfies_every_port_other_areas_receive(container: Container) -> None:
    # mypy checks the same in domain/ledger/services/ledger.py (`_fits_every_port`); this keeps
    # the runtime half: every port method exists on the ledger with the port's parameters.
    import inspect

    ledger: Ledger = container.ledger
    for port in (CreditHolds, CreditGrants, CreditBooking):
        for name, method in vars(port).items():
            if inspect.isfunction(method) and not name.startswith("_"):
                mine = inspect.signature(getattr(ledger, name))
                wanted = inspect.signature(method).parameters
                assert list(mine.parameters) == [p for p in wanted if p != "self"], f"{port.__name__}.{name}"
