"""The shape every mutating ledger call shares: one account locked in one unit of work (a `Book`),
idempotent by its key, committed once.

`once()` is the whole shape. It assumes the key is new, which it almost always is: it locks the
account (and reads its open grants in the same round trip), lets the verb's `work` change the
`Book`, and writes the idempotency record last. If the key was used before, that write (or the
entry's own unique key) refuses, at once or at the COMMIT (a store may send its writes with it),
or the work fails on the state the first call left: then the first result is read back and
replayed (or refused as a conflict), and this attempt's writes are rolled back. The outcome is the one a lookup first would give, without a lookup per call.

A connection lost during COMMIT (`OutcomeUnknown`: a Galera node dying, a frozen server, a
timeout) leaves the outcome unknown. `once()` never answers that as "nothing happened": it looks
the key up on a fresh connection and replays what was committed; if nothing was, it runs the call
again, which is safe because the key makes it once (a first COMMIT still in flight holds the
account's row lock, or loses certification to this one, so the two cannot both apply). Only when
even the lookup cannot reach the database does the caller see `OutcomeUnknown` ("retry with the
same key"), never `Unavailable`. Every verb gets this: they all go through `once()`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from domain.ledger.budgets import WORKSPACE_LEVEL, BudgetScope, Reservation, check_spend
from domain.ledger.errors import AccountNotFound, HoldExpired, HoldNotActive, HoldNotFound
from domain.ledger.model import (
    GRANT_ENTRY_KIND,
    Account,
    Allocation,
    Entry,
    EntryKind,
    Grant,
    GrantSource,
    Hold,
    HoldStatus,
    IdempotencyRecord,
    consumption_order,
    take_from_grants,
)
from domain.ledger.ports import LedgerUnitOfWork
from domain.ledger.results import BalanceSnapshot, Movement
from domain.ledger.services.inputs import check_key
from domain.shared.clock import Clock
from domain.shared.errors import DomainError, IdempotencyConflict, OutcomeUnknown, TransientError, Unavailable
from domain.shared.ids import IdGenerator
from domain.shared.uow import learn_outcome, retrying

Work = Callable[["Book"], Movement]
log = logging.getLogger(__name__)


class Book:
    """One account locked for one unit of work, with its live open grants. The model does the
    arithmetic (Account.post, Grant.take, Hold.finish); the Book writes each change as it goes."""

    def __init__(
        self, uow: LedgerUnitOfWork, account: Account, grants: list[Grant], *, now: datetime, key: str, ids: IdGenerator
    ) -> None:
        self.uow, self.account, self.grants = uow, account, grants
        self.now, self.key, self._ids = now, key, ids
        self._taken_from: list[Grant] = []  # grants a debit changed: written with the account by save()
        self._active_holds: list[Hold] | None = None  # read by release_due() under the lock

    # credits in and out --------------------------------------------------------------------
    def add_grant(
        self, source: GrantSource, amount: int, *, expires_at: datetime | None, reference: str | None
    ) -> Movement:
        grant = Grant(
            id=self._ids.new_id("grt"),
            account_id=self.account.id,
            source=source,
            granted=amount,
            remaining=amount,
            created_at=self.now,
            expires_at=expires_at,
            reference=reference,
        )
        self.uow.ledger.add_grant(grant)
        self.grants.append(grant)
        entry = self.entry(GRANT_ENTRY_KIND[source], amount, reference=reference, grant_id=grant.id)
        return self.movement(entry, grant_id=grant.id)

    def debit(
        self,
        amount: int,
        kind: EntryKind,
        *,
        feature_key: str | None = None,
        reference: str | None = None,
        hold_id: str | None = None,
    ) -> Entry:
        """Take `amount` available credits from the grants, soonest-expiring first."""
        plan = take_from_grants(self.grants, amount, self.account.available)
        for grant, credits in plan:
            grant.take(credits)
            if all(g is not grant for g in self._taken_from):
                self._taken_from.append(grant)
        return self.entry(
            kind, -amount, feature_key=feature_key, reference=reference, hold_id=hold_id, allocations=plan
        )

    def take_from(self, grant: Grant, credits: int, kind: EntryKind, *, key: str, reference: str | None) -> Entry:
        """Remove `credits` from one grant (a reversal, an expiry)."""
        grant.take(credits)
        self.uow.ledger.update_grant(grant)
        return self.entry(
            kind, -credits, key=key, reference=reference, grant_id=grant.id, allocations=[(grant, credits)]
        )

    def entry(
        self,
        kind: EntryKind,
        amount: int,
        *,
        key: str | None = None,
        feature_key: str | None = None,
        reference: str | None = None,
        grant_id: str | None = None,
        hold_id: str | None = None,
        allocations: Iterable[tuple[Grant, int]] = (),
    ) -> Entry:
        seq, balance_after = self.account.post(amount)
        entry = Entry(
            id=self._ids.new_id("txn"),
            account_id=self.account.id,
            seq=seq,
            kind=kind,
            amount=amount,
            balance_after=balance_after,
            idempotency_key=key or self.key,
            created_at=self.now,
            feature_key=feature_key,
            reference=reference,
            grant_id=grant_id,
            hold_id=hold_id,
        )
        self.uow.ledger.add_entry(entry, [Allocation(entry.id, grant.id, credits) for grant, credits in allocations])
        return entry

    # holds ---------------------------------------------------------------------------------
    def active_hold(self, hold_id: str) -> Hold:
        """The account's active hold `hold_id`. `release_due` has just read the account's active
        holds under its lock (capture and void always run it: the account holds credits): an
        active hold is one of those, with no second read; anything else is read to say why not."""
        for known in self._active_holds or ():
            if known.id == hold_id and known.status is HoldStatus.ACTIVE:
                return known
        hold = self.uow.ledger.get_hold(hold_id)
        if hold is None or hold.account_id != self.account.id:
            raise HoldNotFound()
        if hold.status is HoldStatus.EXPIRED:
            raise HoldExpired("The hold has expired and its credits were released.")
        if hold.status is not HoldStatus.ACTIVE:
            raise HoldNotActive(f"The hold is already {hold.status.value}.")
        return hold

    def finish(self, hold: Hold, status: HoldStatus, captured: int | None = None) -> None:
        self.account.release(hold.finish(status, self.now, captured))
        self._release_budget(hold.id, captured or 0)  # its read first: the writes then leave together
        self.uow.ledger.update_hold(hold)

    # budgets (issue 23; domain/ledger/budgets.py) ------------------------------------------------
    def reserve_budget(self, scope: BudgetScope, hold: Hold) -> None:
        """Check `hold` against the balance and the scope's caps, then count it as used this month;
        under this account's lock, which every spend of the payer takes."""
        budgets, month = self.uow.budgets, self.now.strftime("%Y-%m")
        levels = (WORKSPACE_LEVEL, scope.member_id)
        caps, budget_used, member_used = budgets.caps_and_usage(scope, month)
        check_spend(
            hold.amount,
            available=self.account.available,
            caps=caps,
            budget_used=budget_used,
            member_used=member_used,
        )
        budgets.add_usage(scope.budget_id, levels, month, hold.amount)
        budgets.add_reservation(Reservation(hold.id, scope.budget_id, scope.member_id, month, hold.amount))

    def _release_budget(self, hold_id: str, captured: int) -> None:
        """A finished hold keeps only what was captured in its budget's usage (void, expiry: 0)."""
        reservation = self.uow.budgets.take_reservation(hold_id)
        if reservation is None or reservation.reserved == captured:
            return
        self.uow.budgets.add_usage(
            reservation.budget_id,
            (WORKSPACE_LEVEL, reservation.member_id),
            reservation.month,
            captured - reservation.reserved,
        )

    # what the sweeps do, done for this account -----------------------------------------------
    def expire_due(self) -> list[Grant]:
        """Expire the grants that are due (expired credits are never spent); keep the live ones."""
        ordered = consumption_order(self.grants)
        expired = [g for g in ordered if g.is_expired(self.now)]
        for grant in expired:
            self.take_from(
                grant, grant.remaining, EntryKind.EXPIRY, key=f"expiry:{grant.id}", reference=grant.reference
            )
        if expired:
            self._trim_holds()
        self.grants = [g for g in ordered if not g.is_expired(self.now)]
        return expired

    def _trim_holds(self) -> None:
        """If expiry left less than is held, the newest holds shrink until held == balance."""
        excess = self.account.held - self.account.balance
        if excess <= 0:
            return
        newest_first = sorted(
            self.uow.ledger.active_holds(self.account.id), key=lambda h: (h.created_at, h.id), reverse=True
        )
        for hold in newest_first:
            if excess <= 0:
                return
            cut = hold.trim(excess)
            self.account.release(cut)
            excess -= cut
            self.uow.ledger.update_hold(hold)

    def release_due(self) -> int:
        """Release the active holds whose ttl has passed (the others are kept for `active_hold`)."""
        active = self.uow.ledger.active_holds(self.account.id)
        due = [h for h in active if h.expires_at <= self.now]
        self._active_holds = [h for h in active if h.expires_at > self.now]
        for hold in due:
            self.finish(hold, HoldStatus.EXPIRED)
        return len(due)

    # the end of a call -----------------------------------------------------------------------
    def movement(self, entry: Entry | None = None, **about: object) -> Movement:
        return Movement(balance=BalanceSnapshot.of(self.account), entry=entry, **about)  # type: ignore[arg-type]

    def save(self, operation: str, fingerprint: str, result: Movement) -> None:
        """The account, guarded, and the result for replays: the last writes of every call."""
        self.account.ensure_sound()
        self.uow.ledger.update_account(self.account, self._taken_from)
        record = IdempotencyRecord(self.account.id, self.key, operation, fingerprint, result.to_record(), self.now)
        self.uow.ledger.add_idempotency(record)


def once(
    uow: Callable[[], LedgerUnitOfWork],
    clock: Clock,
    ids: IdGenerator,
    account_id: str,
    key: str,
    operation: str,
    fingerprint: str,
    work: Work,
    *,
    attempts: int = 5,
) -> Movement:
    """Run `work` on the locked account exactly once per `key`; see the module's docstring."""
    check_key(key)

    def attempt() -> Movement:
        with uow() as unit:
            locked = unit.ledger.lock_account(account_id)
            if locked is None:
                raise AccountNotFound()
            book = Book(unit, *locked, now=clock.now(), key=key, ids=ids)
            try:
                result = apply(book, operation, fingerprint, work)
                unit.commit()  # a store may refuse a write only here (a duplicate key): replayed the same
            except (TransientError, Unavailable, OutcomeUnknown):  # no read on this connection can help
                raise
            except DomainError:  # a used key (duplicate write), or the first call's state refusing
                previous = unit.ledger.get_idempotency(account_id, key)
                if previous is None:
                    raise
                return replay(previous, operation, fingerprint)  # not committed: this attempt rolls back
            return result

    def attempt_knowing_the_outcome() -> Movement:
        try:
            return attempt()
        except OutcomeUnknown as unknown:
            return settle(unknown)

    def settle(unknown: OutcomeUnknown) -> Movement:
        """After a lost COMMIT: the committed result, or the call run again when nothing was."""

        def lookup() -> Movement:
            with uow() as unit:  # a fresh connection: the lost one was dropped
                previous = unit.ledger.get_idempotency(account_id, key)
            log.warning(
                "a COMMIT's answer was lost; settled by the idempotency key",
                extra={"operation": operation, "committed": previous is not None},
            )
            if previous is not None:
                return replay(previous, operation, fingerprint)
            return attempt()

        return learn_outcome(lookup, unknown)

    return retrying(attempt_knowing_the_outcome, attempts=attempts)


def apply(book: Book, operation: str, fingerprint: str, work: Work) -> Movement:
    """Bring the account up to date (expiry, released holds), do the work, save."""
    book.expire_due()
    if book.account.held:
        book.release_due()
    result = work(book)
    book.save(operation, fingerprint, result)
    return result


def replay(previous: IdempotencyRecord, operation: str, fingerprint: str) -> Movement:
    if previous.operation != operation or previous.fingerprint != fingerprint:
        raise IdempotencyConflict("This Idempotency-Key was used for a different request.")
    return Movement.from_record(dict(previous.result))
