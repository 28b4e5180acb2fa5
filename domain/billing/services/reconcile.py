"""The daily reconciliation: what the provider says happened against what we stored and granted.

1. List the provider's events of the window (default 30 days, as long as the provider keeps
   events; BILLING_RECONCILE_WINDOW_DAYS) through the gateway, store every one we never received (source `reconcile`)
   and handle it at once: a missed webhook is replayed exactly once, because storing is once.
2. Handle again every stored event still `failed` (after the queue's own retries ran out) or
   `pending` (no payment of ours could be placed for it yet), and every one stored over 10
   minutes ago and never handled (its job was lost: Redis was down right after the commit).
   Events still pending afterwards are reported: money we cannot place.
3. Converge again every payment with a shortfall (credits a refund or dispute should take back
   but that were spent or held): what has come back since (a hold released) is taken now.
4. Report payments whose state disagrees with their target: paid without credits, credits on an
   unpaid payment, a ledger that holds more than the target (shortfall), a paid amount or
   currency we did not sell, and old pending checkouts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from domain.billing.errors import InvalidEvent
from domain.billing.model import EventStatus, PaymentStatus, ReconcileReport
from domain.billing.ports import BillingUnitOfWork, PaymentGateway
from domain.billing.services.base import BillingConfig
from domain.billing.services.converge import Convergence
from domain.billing.services.events import EventIntake
from domain.billing.services.queries import BillingQueries
from domain.shared.clock import Clock

log = logging.getLogger(__name__)
RETRY_BATCH = 500
STUCK_MINUTES = 10  # a stored event not handled after this long lost its job (the queue was down)
CHECK_BATCH = 5000


class Reconciliation:
    def __init__(
        self,
        *,
        uow: Callable[[], BillingUnitOfWork],
        clock: Clock,
        gateway: PaymentGateway,
        intake: EventIntake,
        convergence: Convergence,
        queries: BillingQueries,
        config: BillingConfig,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._gateway = gateway
        self._intake = intake
        self._convergence = convergence
        self._queries = queries
        self.config = config  # the facade replaces it when its own config is replaced

    def reconcile(self, *, since: datetime | None = None) -> ReconcileReport:
        start = since or self._clock.now() - timedelta(seconds=self.config.reconcile_window_seconds)
        listed, replayed, failing = 0, [], []
        for event in self._gateway.list_events(created_after=start, types=None):
            listed += 1
            try:
                if not self._intake.store_event(event, source="reconcile", enqueue=False):
                    continue
            except InvalidEvent:  # not an event we could ever handle: say so, go on
                log.warning("provider listed a malformed event", extra={"event_id": str(event.get("id"))[:255]})
                continue
            replayed.append(str(event["id"]))
            if not self._try(str(event["id"])):
                failing.append(str(event["id"]))
        retried = []
        with self._uow() as uow:
            stuck_before = self._clock.now() - timedelta(minutes=STUCK_MINUTES)
            failed = [e.id for e in uow.billing.unfinished_events(received_before=stuck_before, limit=RETRY_BATCH)]
        for event_id in failed:
            if event_id in failing:
                continue
            retried.append(event_id)
            if not self._try(event_id):
                failing.append(event_id)
        with self._uow() as uow:
            short = [p.id for p in uow.billing.payments_with_shortfall(limit=RETRY_BATCH)]
        for payment_id in short:
            try:
                self._convergence.converge(payment_id)
            except Exception:  # reported below as a mismatch; the next run tries again
                log.warning("billing converge failed", extra={"payment_id": payment_id}, exc_info=True)
        unplaced = []
        for event_id in retried:
            found = self._queries.event(event_id)
            if found is not None and found.status is EventStatus.PENDING:
                unplaced.append(f"event {event_id} ({found.type}): no payment of ours for {found.awaiting}")
        report = ReconcileReport(start, listed, replayed, retried, failing, unplaced + self._mismatches(start))
        log.info(
            "billing reconciled",
            extra={
                "listed": listed,
                "replayed": len(replayed),
                "retried": len(retried),
                "still_failing": len(failing),
                "mismatches": len(report.mismatches),
            },
        )
        return report

    def _try(self, event_id: str) -> bool:
        try:
            self._intake.handle_event(event_id)
        except Exception:  # recorded on the event by handle_event; the report names it
            return False
        return True

    def _mismatches(self, since: datetime) -> list[str]:
        found = []
        with self._uow() as uow:
            payments = uow.billing.payments_updated_since(since, limit=CHECK_BATCH)
        for p in payments:
            owed = p.credits - p.reversal_target  # the target of a paid payment
            if p.settled and owed > 0 and p.credits_held == 0 and p.grant_expires_at is None and not p.review:
                found.append(f"{p.id}: {p.status.value} but no credits were granted")
            if p.credits_held and not p.settled:
                found.append(f"{p.id}: credits granted but the payment is {p.status.value}")
            if p.review:
                found.append(f"{p.id}: no credits granted: {p.review}")
            if p.shortfall:
                found.append(f"{p.id}: {p.shortfall} credits could not be taken back (already spent)")
            if p.status is PaymentStatus.PENDING and p.session_id and p.created_at < since:
                found.append(f"{p.id}: still pending since {p.created_at:%Y-%m-%d}")
        return found
