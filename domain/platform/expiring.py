"""`credits.expiring`: a daily scan announces each grant's expiry 7 days and 1 day before it.

The 7-day notice scans grants expiring in (now + 5 d, now + 7 d], the 1-day notice (now, now + 1 d]:
a window wider than the day between two runs, so a missed run is caught up by the next; the
event id is (grant, window), so a grant seen by two runs is announced once (the fan-out drops
the repeat) and each grant gets at most one notice per window.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

from domain.ledger.model import Grant
from domain.ledger.ports import LedgerRepository
from domain.shared.clock import Clock
from domain.shared.events import emit
from domain.shared.uow import UnitOfWork, transaction

WINDOWS = ((7, timedelta(days=5), timedelta(days=7)), (1, timedelta(0), timedelta(days=1)))
PAGE = 200


class ExpiringUnitOfWork(UnitOfWork, Protocol):
    @property
    def ledger(self) -> LedgerRepository: ...


def announce_expiring(uow: Callable[[], ExpiringUnitOfWork], clock: Clock) -> int:
    now = clock.now()
    announced = 0
    for days, near, far in WINDOWS:
        after: str | None = None
        while True:

            def page(unit: ExpiringUnitOfWork) -> list[Grant]:  # run at once, in this iteration
                grants = unit.ledger.grants_expiring(now + near, now + far, after=after, limit=PAGE)
                for grant in grants:
                    obj: dict[str, Any] = {
                        "object": "grant",
                        "source": grant.source.value,
                        "remaining": grant.remaining,
                        "granted": grant.granted,
                        "expires_at": grant.expires_at,
                        "window": f"{days}d",
                    }
                    emit(
                        unit,
                        "credits.expiring",
                        user_id=grant.account_id,
                        object_id=grant.id,
                        obj=obj,
                        version=days,
                        at=now,
                    )
                return grants

            grants = transaction(uow, page)  # events keyed by grant and window: a rerun adds none twice
            announced += len(grants)
            if len(grants) < PAGE:
                break
            after = grants[-1].id
    return announced
