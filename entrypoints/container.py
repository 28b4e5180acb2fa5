"""The container: every port and use case the entrypoints need, built by `bootstrap()`.

It lives apart from the composition root so that the HTTP app and the worker can name its
type without importing `bootstrap` (which imports them back).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from domain.billing.ports import BillingUnitOfWork, PaymentGateway, WebhookVerifier
from domain.billing.services import BillingService
from domain.identity.ports import IdentityUnitOfWork
from domain.coaching.ports import CoachingUnitOfWork, CoachModel
from domain.coaching.services import Coaching
from domain.identity.services import IdentityService
from domain.ledger.ports import LedgerUnitOfWork
from domain.platform.ports import PlatformUnitOfWork
from domain.ledger.services import Ledger
from domain.shared.clock import Clock
from domain.shared.ids import IdGenerator
from domain.shared.jobs import JobQueue
from entrypoints.config import Settings
from entrypoints.platform_wiring import PlatformEvents
from entrypoints.observability import Metrics, NullMetrics

log = logging.getLogger("entrypoints.bootstrap")


class AppUnitOfWork(IdentityUnitOfWork, LedgerUnitOfWork, BillingUnitOfWork, PlatformUnitOfWork, CoachingUnitOfWork, Protocol):
    """What the storage adapters give every use case: one transaction over all the repositories
    (SqlUnitOfWork and MemoryUnitOfWork both are one)."""


UowFactory = Callable[[], AppUnitOfWork]


@dataclass(frozen=True)
class Container:
    settings: Settings
    clock: Clock
    ids: IdGenerator
    uow: UowFactory
    queue: JobQueue
    identity: IdentityService
    ledger: Ledger
    readiness: Mapping[str, Callable[[], None]] = field(default_factory=dict)
    resources: Mapping[str, Any] = field(default_factory=dict)  # engine, redis: closed by the owner
    # --- operations (issue 15) ---
    operations: Any = None  # domain.platform.services.Operations
    metrics: Metrics = field(default_factory=NullMetrics)
    limiter: Any = None  # adapters.ratelimit.limits_limiter.LimitsRateLimiter, None when limits are off
    # billing (issue 13): always built by bootstrap(); None only in hand-made containers
    billing: BillingService | None = None
    payment_gateway: PaymentGateway | None = None
    webhook_verifier: WebhookVerifier | None = None
    coach_model: CoachModel | None = None  # issue 14: always set by bootstrap()
    coaching: Coaching | None = None  # issue 14: always set by bootstrap()
    platform_events: PlatformEvents | None = None  # issue 22: always set by bootstrap()
    platform24: Any = None  # issue 24: entrypoints.platform24.Platform24 (referrals, GDPR, sales figures)

    def check_readiness(self) -> dict[str, str]:
        results: dict[str, str] = {}
        for name, check in self.readiness.items():
            try:
                check()
                results[name] = "ok"
            except Exception:  # a probe: any failure means "not ready", the detail goes to the log
                log.warning("readiness check failed", extra={"check": name}, exc_info=True)
                results[name] = "unavailable"
        return results
