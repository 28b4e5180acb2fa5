"""What every billing use case shares: its configuration, the handling job, one small helper."""

from __future__ import annotations

from dataclasses import dataclass

from domain.billing.errors import PaymentNotFound
from domain.billing.model import Payment
from domain.billing.ports import BillingUnitOfWork
from domain.shared.jobs import RetryPolicy

HANDLE_EVENT_JOB = "billing.handle_event"
# A failing handler is tried again by the job queue after 30 s, 2 min, 10 min, 1 h and 6 h;
# the daily reconciliation then tries every event still failed.
HANDLER_RETRY = RetryPolicy(max_retries=5, intervals=(30, 120, 600, 3600, 21600))


@dataclass(frozen=True, slots=True)
class BillingConfig:
    public_base_url: str = "http://127.0.0.1:8000"
    reconcile_window_seconds: int = 30 * 24 * 3600  # Stripe keeps events 30 days
    handler_retry: RetryPolicy = HANDLER_RETRY


def locked_payment(uow: BillingUnitOfWork, payment_id: str) -> Payment:
    """The payment, locked for this unit of work; PaymentNotFound when there is none."""
    payment = uow.billing.get_payment(payment_id, for_update=True)
    if payment is None:
        raise PaymentNotFound()
    return payment
