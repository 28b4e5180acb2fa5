"""Issue 26 §1: billing's, identity's and the ledger's use cases are small classes composed by one
facade, not a mixin chain. These checks keep it that way: a facade inherits from nothing, each
of its delegating methods has the signature of the use case it forwards to, and every provider
event type the convergence or the handlers act on is in the one registry."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from domain.billing.convergence import PAYMENT_EVENTS
from domain.billing.services import BillingService
from domain.billing.services.checkout import CheckoutUseCases
from domain.billing.services.converge import Convergence
from domain.billing.services.events import EventIntake
from domain.billing.services.handlers import EventHandlers
from domain.billing.services.queries import BillingQueries
from domain.billing.services.reconcile import Reconciliation
from domain.billing.services.registry import handler_registry
from domain.identity.services import IdentityService
from domain.identity.services.accounts import AccountUseCases
from domain.identity.services.api_keys import ApiKeyUseCases
from domain.identity.services.sessions import SessionUseCases
from domain.ledger.services import Ledger
from domain.ledger.services.queries import LedgerQueries
from domain.ledger.services.sweeps import LedgerSweeps

FACADES: dict[type, tuple[type, ...]] = {
    BillingService: (BillingQueries, CheckoutUseCases, EventIntake, Convergence, Reconciliation),
    IdentityService: (AccountUseCases, SessionUseCases, ApiKeyUseCases),
    Ledger: (LedgerQueries, LedgerSweeps),
}


def _public(cls: type) -> dict[str, Any]:
    return {name: value for name, value in vars(cls).items() if not name.startswith("_") and inspect.isfunction(value)}


@pytest.mark.parametrize("facade", list(FACADES), ids=lambda c: c.__name__)
def test_a_facade_composes_and_inherits_nothing(facade: type) -> None:
    assert facade.__bases__ == (object,)
    for part in FACADES[facade]:
        assert part.__bases__ == (object,), f"{part.__name__} is a mixin again"


@pytest.mark.parametrize("facade", list(FACADES), ids=lambda c: c.__name__)
def test_each_delegation_keeps_the_use_case_signature(facade: type) -> None:
    mine = _public(facade)
    checked = 0
    for part in FACADES[facade]:
        for name, function in _public(part).items():
            if name in mine:
                assert inspect.signature(mine[name]) == inspect.signature(function), f"{facade.__name__}.{name}"
                checked += 1
    assert checked >= len(FACADES[facade])


def test_every_event_a_handler_exists_for_is_in_the_registry() -> None:
    handlers = object.__new__(EventHandlers)
    convergence = object.__new__(Convergence)
    registry = handler_registry(handlers, convergence)
    assert set(PAYMENT_EVENTS) <= set(registry)
    assert {
        "invoice.paid",
        "invoice.payment_failed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    } <= set(registry)
    public_handlers = {name for name in _public(EventHandlers) if name.startswith("on_")}
    registered = {getattr(h, "__name__", "") for h in registry.values()}
    assert public_handlers | {"on_payment_event"} == registered
