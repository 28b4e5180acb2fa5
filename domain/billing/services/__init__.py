"""Billing's use cases, one module per group: checkout and account views (`checkout.py`),
provider events (`events.py`), what each event type does (`handlers.py`), payments converging
on their target (`converge.py`) and the daily reconciliation (`reconcile.py`). `BillingService`
puts them together."""
from __future__ import annotations

from domain.billing.services.base import BillingConfig
from domain.billing.services.checkout import CheckoutUseCases, SubscriptionView
from domain.billing.services.reconcile import ReconcileUseCases


class BillingService(CheckoutUseCases, ReconcileUseCases):
    """Every billing use case; built once by the composition root."""


__all__ = ["BillingConfig", "BillingService", "SubscriptionView"]
