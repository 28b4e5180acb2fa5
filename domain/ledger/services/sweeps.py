"""The periodic sweeps: expire grants, release holds past their ttl. Each account is its own
locked unit of work; one broken account does not stall the others."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from domain.ledger.errors import SweepIncomplete
from domain.ledger.ports import LedgerUnitOfWork
from domain.ledger.services.book import Book
from domain.shared.clock import Clock
from domain.shared.ids import IdGenerator
from domain.shared.uow import transaction

SWEEP_BATCH = 100


class LedgerSweeps:
    def __init__(self, *, uow: Callable[[], LedgerUnitOfWork], clock: Clock, ids: IdGenerator) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids

    def expire_grants(self, now: datetime | None = None) -> int:
        """Remove what is left of every grant whose expires_at <= now. Returns grants expired."""
        return self._sweep(
            now,
            lambda uow, t: uow.ledger.accounts_with_expired_grants(t, SWEEP_BATCH),
            lambda book: len(book.expire_due()),
        )

    def release_expired_holds(self, now: datetime | None = None) -> int:
        """Release every active hold whose expires_at <= now. Returns holds released."""
        return self._sweep(now, lambda uow, t: uow.ledger.accounts_with_expired_holds(t, SWEEP_BATCH), Book.release_due)

    def _sweep(
        self,
        now: datetime | None,
        find: Callable[[LedgerUnitOfWork, datetime], list[str]],
        per_account: Callable[[Book], int],
    ) -> int:
        at = now or self._clock.now()
        done, seen, failed = 0, set(), []
        while True:
            with self._uow() as uow:
                batch = [a for a in find(uow, at) if a not in seen]
            if not batch:
                break
            for account_id in batch:
                seen.add(account_id)  # one pass per account: a sweep always ends
                try:
                    done += transaction(self._uow, lambda uow: self._locked(uow, account_id, at, per_account))
                except Exception:  # one broken account must not stall every other one
                    failed.append(account_id)
        if failed:
            raise SweepIncomplete(done, failed)
        return done

    def _locked(self, uow: LedgerUnitOfWork, account_id: str, now: datetime, work: Callable[[Book], int]) -> int:
        locked = uow.ledger.lock_account(account_id)
        if locked is None:
            return 0
        book = Book(uow, *locked, now=now, key="", ids=self._ids)
        count = work(book)
        book.account.ensure_sound()
        uow.ledger.update_account(book.account)
        return count
