"""The container: every port and use case the entrypoints need, built by `bootstrap()`.

It lives apart from the composition root so that the HTTP app and the worker can name its
type without importing `bootstrap` (which imports them back).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from domain.billing.ports import BillingUnitOfWork, PaymentGateway, WebhookVerifier
from domain.billing.services import BillingService
from domain.coaching.ports import CoachingUnitOfWork, CoachModel
from domain.coaching.services import Coaching
from domain.identity.ports import IdentityUnitOfWork
from domain.identity.services import IdentityService
from domain.ledger.ports import LedgerUnitOfWork
from domain.ledger.services import Ledger
from domain.platform.ports import PlatformUnitOfWork
from domain.platform.services import Operations
from domain.shared.clock import Clock
from domain.shared.ids import IdGenerator
from domain.shared.jobs import JobQueue
from entrypoints.config import Settings
from entrypoints.observability import Metrics, RateLimiter
from entrypoints.platform24 import Platform24
from entrypoints.platform_wiring import PlatformEvents
from entrypoints.worker.schedule import SlotClaims

if TYPE_CHECKING:
    from redis import Redis
    from sqlalchemy.engine import Engine

    from adapters.stripe.fake import FakeCheckout

log = logging.getLogger("entrypoints.bootstrap")


class AppUnitOfWork(
    IdentityUnitOfWork, LedgerUnitOfWork, BillingUnitOfWork, PlatformUnitOfWork, CoachingUnitOfWork, Protocol
):
    """What the storage adapters give every use case: one transaction over all the repositories
    (SqlUnitOfWork and MemoryUnitOfWork both are one)."""


UowFactory = Callable[[], AppUnitOfWork]


@dataclass(frozen=True)
class Resources:
    """What the container holds open and its owner closes (the app factory, the worker, tests):
    the database engine (None on memory storage) and the Redis clients (None without REDIS_URL):
    `redis` with socket timeouts, `worker_redis` without (RQ's worker blocks on BLPOP)."""

    engine: Engine | None = None
    redis: Redis | None = None
    worker_redis: Redis | None = None


@dataclass(frozen=True)
class Container:
    """Everything bootstrap() builds; every field is always set (None only where the type says
    what None means)."""

    settings: Settings
    clock: Clock
    ids: IdGenerator
    uow: UowFactory
    queue: JobQueue
    identity: IdentityService
    ledger: Ledger
    readiness: Mapping[str, Callable[[], None]]
    resources: Resources
    operations: Operations  # issue 15: login history, audit log, admin directory
    metrics: Metrics  # NullMetrics when METRICS_ENABLED=false
    limiter: RateLimiter | None  # None: RATELIMIT_ENABLED=false (no hook at all)
    billing: BillingService  # issue 13
    payment_gateway: PaymentGateway
    webhook_verifier: WebhookVerifier
    coach_model: CoachModel  # issue 14
    coaching: Coaching
    platform_events: PlatformEvents  # issue 22
    platform24: Platform24  # issue 24: referrals, GDPR, sales figures
    slot_claims: SlotClaims  # the periodic schedule's: shared on Redis, else this process's own
    fake_checkout: FakeCheckout | None  # the development checkout page; None with Stripe (or no webhook secret)

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
