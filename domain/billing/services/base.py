"""What every billing use case shares: its ports, and a few small helpers."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from domain.billing.catalogue import Catalogue
from domain.billing.errors import PaymentNotFound
from domain.billing.model import Payment
from domain.billing.ports import BillingUnitOfWork, PaymentGateway, WebhookVerifier
from domain.ledger.services import Ledger
from domain.shared.clock import Clock
from domain.shared.ids import IdGenerator
from domain.shared.jobs import RetryPolicy
from domain.shared.purchase_hooks import NoPurchaseHooks, PurchaseHooks

HANDLE_EVENT_JOB = "billing.handle_event"
# A failing handler is tried again by the job queue after 30 s, 2 min, 10 min, 1 h and 6 h;
# the daily reconciliation then tries every event still failed.
HANDLER_RETRY = RetryPolicy(max_retries=5, intervals=(30, 120, 600, 3600, 21600))


@dataclass(frozen=True, slots=True)
class BillingConfig:
    public_base_url: str = "http://127.0.0.1:8000"
    reconcile_window_seconds: int = 30 * 24 * 3600  # Stripe keeps events 30 days
    handler_retry: RetryPolicy = HANDLER_RETRY


class BillingBase:
    def __init__(
        self,
        *,
        uow: Callable[[], BillingUnitOfWork],
        clock: Clock,
        ids: IdGenerator,
        ledger: Ledger,
        catalogue: Catalogue,
        gateway: PaymentGateway,
        verifier: WebhookVerifier,
        config: BillingConfig | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._ledger = ledger
        self.catalogue = catalogue
        self.gateway = gateway
        self.verifier = verifier
        self.config = config or BillingConfig()
        self.purchase_hooks: PurchaseHooks = NoPurchaseHooks()  # referrals (issue 24); set by bootstrap

    def _locked_payment(self, uow: BillingUnitOfWork, payment_id: str) -> Payment:
        payment = uow.billing.get_payment(payment_id, for_update=True)
        if payment is None:
            raise PaymentNotFound()
        return payment
