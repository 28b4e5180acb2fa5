"""The container: every port and use case the entrypoints need, built by `bootstrap()`.

It lives apart from the composition root so that the HTTP app and the worker can name its
type without importing `bootstrap` (which imports them back).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from domain.coaching.ports import CoachModel
from domain.coaching.services import Coaching
from domain.identity.services import IdentityService
from domain.ledger.services import Ledger
from domain.shared.clock import Clock
from domain.shared.ids import IdGenerator
from domain.shared.jobs import JobQueue
from entrypoints.config import Settings

log = logging.getLogger("entrypoints.bootstrap")
UowFactory = Callable[[], Any]


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
    coach_model: CoachModel | None = None  # issue 14: always set by bootstrap()
    coaching: Coaching | None = None  # issue 14: always set by bootstrap()

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
