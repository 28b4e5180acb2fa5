"""Billing's use cases, one small class per group, each given its collaborators:

| class               | module        | does                                                        |
| ------------------- | ------------- | ----------------------------------------------------------- |
| `BillingQueries`    | `queries.py`  | catalogue, checkout details, subscription view, payments, events |
| `CheckoutUseCases`  | `checkout.py` | checkout, billing portal, cancel a subscription, admin refund |
| `EventIntake`       | `events.py`   | verify, store once, handle a stored event by the registry   |
| `EventHandlers`     | `handlers.py` | what invoice and subscription events do                     |
| `Convergence`       | `converge.py` | payment events attach to their payment, which converges     |
| `Reconciliation`    | `reconcile.py`| the daily reconciliation                                    |

`handler_registry` (`registry.py`) is the one table event type -> handler. `BillingService` is
the facade the composition root builds and entrypoints call: it composes the groups and keeps
one method per use case."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from domain.billing.catalogue import Catalogue, Pack, Plan
from domain.billing.model import CheckoutDetails, CheckoutStarted, Payment, ProviderEvent, ReconcileReport
from domain.billing.ports import BillingUnitOfWork, PaymentGateway, RefundResult, WebhookVerifier
from domain.billing.services.base import BillingConfig
from domain.billing.services.checkout import CheckoutUseCases
from domain.billing.services.converge import Convergence
from domain.billing.services.events import EventIntake, Outcome
from domain.billing.services.handlers import EventHandlers
from domain.billing.services.queries import BillingQueries, SubscriptionView
from domain.billing.services.reconcile import Reconciliation
from domain.billing.services.registry import handler_registry
from domain.ledger.ports import CreditBooking
from domain.shared.clock import Clock
from domain.shared.ids import IdGenerator
from domain.shared.pagination import Page
from domain.shared.purchase_hooks import PurchaseHooks


class BillingService:
    """Every billing use case; built once by the composition root."""

    def __init__(
        self,
        *,
        uow: Callable[[], BillingUnitOfWork],
        clock: Clock,
        ids: IdGenerator,
        ledger: CreditBooking,  # the one ledger verb billing uses: a movement inside its transaction
        catalogue: Catalogue,
        gateway: PaymentGateway,
        verifier: WebhookVerifier,
        config: BillingConfig | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.gateway = gateway
        self.verifier = verifier
        config = config or BillingConfig()
        self.queries = BillingQueries(uow=uow, catalogue=catalogue)
        self.checkouts = CheckoutUseCases(
            uow=uow, clock=clock, ids=ids, catalogue=catalogue, gateway=gateway, queries=self.queries
        )
        self.convergence = Convergence(uow=uow, clock=clock, ledger=ledger)
        self.handlers = EventHandlers(
            uow=uow, clock=clock, ids=ids, catalogue=catalogue, on_payment_event=self.convergence.on_payment_event
        )
        self.intake = EventIntake(
            uow=uow,
            clock=clock,
            verifier=verifier,
            config=config,
            handlers=handler_registry(self.handlers, self.convergence),
        )
        self.reconciliation = Reconciliation(
            uow=uow,
            clock=clock,
            gateway=gateway,
            intake=self.intake,
            convergence=self.convergence,
            queries=self.queries,
            config=config,
        )
        self._config = config

    # --- what is set after construction (the composition root; tests) ------------------------
    @property
    def config(self) -> BillingConfig:
        return self._config

    @config.setter
    def config(self, config: BillingConfig) -> None:
        self._config = self.intake.config = self.reconciliation.config = config

    @property
    def purchase_hooks(self) -> PurchaseHooks:
        return self.convergence.purchase_hooks

    @purchase_hooks.setter
    def purchase_hooks(self, hooks: PurchaseHooks) -> None:
        """Referrals (issue 24), set by bootstrap: told of paid and reversed purchases."""
        self.convergence.purchase_hooks = hooks

    # --- queries ------------------------------------------------------------------------------
    def plans(self) -> list[Plan]:
        return self.queries.plans()

    def packs(self) -> list[Pack]:
        return self.queries.packs()

    def checkout_details(self, session_id: str) -> CheckoutDetails | None:
        return self.queries.checkout_details(session_id)

    def subscription(self, user_id: str) -> SubscriptionView:
        return self.queries.subscription(user_id)

    def payments(self, user_id: str, *, limit: int = 50, cursor: str | None = None) -> Page[Payment]:
        return self.queries.payments(user_id, limit=limit, cursor=cursor)

    def payment(self, payment_id: str) -> Payment:
        return self.queries.payment(payment_id)

    def event(self, event_id: str) -> ProviderEvent | None:
        return self.queries.event(event_id)

    # --- selling ------------------------------------------------------------------------------
    def checkout(
        self,
        user_id: str,
        *,
        pack_id: str | None = None,
        plan_id: str | None = None,
        success_url: str,
        cancel_url: str,
        idempotency_key: str | None = None,
    ) -> CheckoutStarted:
        return self.checkouts.checkout(
            user_id,
            pack_id=pack_id,
            plan_id=plan_id,
            success_url=success_url,
            cancel_url=cancel_url,
            idempotency_key=idempotency_key,
        )

    def portal(self, user_id: str, *, return_url: str) -> str:
        return self.checkouts.portal(user_id, return_url=return_url)

    def cancel_subscription(self, user_id: str) -> SubscriptionView:
        return self.checkouts.cancel_subscription(user_id)

    def refund(self, payment_id: str, *, amount_cents: int | None, idempotency_key: str | None = None) -> RefundResult:
        return self.checkouts.refund(payment_id, amount_cents=amount_cents, idempotency_key=idempotency_key)

    # --- provider events ----------------------------------------------------------------------
    def receive_webhook(self, payload: bytes, signature_header: str) -> None:
        self.intake.receive_webhook(payload, signature_header)

    def store_event(self, event: Mapping[str, Any], *, source: str, enqueue: bool = True) -> bool:
        return self.intake.store_event(event, source=source, enqueue=enqueue)

    def handle_event(self, event_id: str) -> str:
        return self.intake.handle_event(event_id)

    def dispatch(self, event: Mapping[str, Any]) -> Outcome:
        return self.intake.dispatch(event)

    def converge(self, payment_id: str) -> Payment:
        return self.convergence.converge(payment_id)

    def reconcile(self, *, since: datetime | None = None) -> ReconcileReport:
        return self.reconciliation.reconcile(since=since)


__all__ = ["BillingConfig", "BillingService", "SubscriptionView"]
