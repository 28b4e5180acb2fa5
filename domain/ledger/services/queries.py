"""The ledger's reads: balance, history, monthly usage, and the invariant audit."""

from __future__ import annotations

from collections.abc import Callable

from domain.ledger import checks
from domain.ledger.errors import AccountNotFound
from domain.ledger.model import Entry, EntryKind, consumption_order
from domain.ledger.ports import LedgerUnitOfWork
from domain.ledger.results import BalanceView, Usage
from domain.ledger.services.inputs import entry_kind, month_bounds
from domain.shared.clock import Clock
from domain.shared.pagination import Page, check_limit, page_of, seq_cursor


class LedgerQueries:
    def __init__(self, *, uow: Callable[[], LedgerUnitOfWork], clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def balance(self, account_id: str) -> BalanceView:
        """The balance as the sweeps would leave it now: grants past their expiry and holds past
        their ttl no longer count, even before the periodic jobs have written that down."""
        now = self._clock.now()
        with self._uow() as uow:
            found = uow.ledger.read_account(account_id)  # one consistent read of both
            if found is None:
                raise AccountNotFound()
            account, open_grants = found
            held = account.held
            if held:
                held = sum(h.amount for h in uow.ledger.active_holds(account_id) if h.expires_at > now)
            grants = consumption_order(open_grants)
        live = [g for g in grants if not g.is_expired(now)]
        balance = sum(g.remaining for g in live)
        held = min(held, balance)  # as expiry trims holds
        return BalanceView(balance=balance, held=held, available=balance - held, grants=live)

    def transactions(
        self, account_id: str, *, limit: int = 50, cursor: str | None = None, kind: EntryKind | str | None = None
    ) -> Page[Entry]:
        check_limit(limit)
        before = seq_cursor(cursor)
        with self._uow() as uow:
            if uow.ledger.get_account(account_id) is None:
                raise AccountNotFound()
            rows = uow.ledger.list_entries(account_id, limit=limit + 1, before_seq=before, kind=entry_kind(kind))
        return page_of(rows, limit, lambda last: {"seq": last.seq})

    def usage(self, account_id: str, month: str) -> Usage:
        start, end = month_bounds(month)
        with self._uow() as uow:
            if uow.ledger.get_account(account_id) is None:
                raise AccountNotFound()
            by_feature = uow.ledger.usage_by_feature(account_id, start, end)
        by_feature = {k: v for k, v in sorted(by_feature.items()) if v}
        return Usage(month=month, total=sum(by_feature.values()), by_feature=by_feature)

    def check_invariants(self, account_id: str) -> list[str]:
        """Every broken invariant of ARCHITECTURE.md for one account (empty when all hold)."""
        with self._uow() as uow:
            return checks.violations(uow.ledger, account_id)
