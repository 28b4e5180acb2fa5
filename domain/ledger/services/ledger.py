"""The ledger's public verbs. Each checks its input, then says in `work` what it does to the
locked account (a `Book`); `once` gives every verb the same locked, idempotent, committed shape."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from domain.ledger.budgets import BudgetScope
from domain.ledger.errors import (
    AccountNotFound,
    GrantNotFound,
    InsufficientCredits,
    PendingGrantClosed,
    PendingGrantNotFound,
)
from domain.ledger.model import (
    Account,
    Entry,
    EntryKind,
    GrantSource,
    Hold,
    HoldStatus,
    PendingGrant,
    PendingStatus,
    PriceList,
)
from domain.ledger.ports import CreditBooking, CreditGrants, CreditHolds, LedgerUnitOfWork
from domain.ledger.results import BalanceView, Movement, Usage
from domain.ledger.services.book import Book, Work, apply, once
from domain.ledger.services.inputs import (
    MAX_CREDITS,
    MAX_REFERENCE_LENGTH,
    check_amount,
    check_quantity,
    fingerprint,
    grant_source,
    month_bounds,
)
from domain.ledger.services.queries import LedgerQueries
from domain.ledger.services.sweeps import LedgerSweeps
from domain.shared.audit import AuditingUnitOfWork, AuditRecord
from domain.shared.clock import Clock
from domain.shared.errors import InvalidInput
from domain.shared.events import balance_crossed
from domain.shared.ids import IdGenerator
from domain.shared.pagination import Page
from domain.shared.uow import transaction


class _HasPlan(Protocol):
    id: str
    plan: str


class Ledger:
    """The ledger's verbs; its reads and sweeps are `LedgerQueries` and `LedgerSweeps`, composed here."""

    def __init__(
        self,
        *,
        uow: Callable[[], LedgerUnitOfWork],
        clock: Clock,
        ids: IdGenerator,
        prices: PriceList,
        default_hold_ttl: int = 900,
        free_plan_credits: int = 100,
        retry_attempts: int = 5,
        low_balance: tuple[int, int] | None = None,  # issue 22: (threshold, rearm_at) of available credits
    ) -> None:
        self._low_balance = low_balance
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self.prices = prices
        self._default_hold_ttl = default_hold_ttl
        self._free_plan_credits = free_plan_credits
        self._retry_attempts = retry_attempts  # whole-call tries on contention (Galera: certification conflicts)
        self._queries = LedgerQueries(uow=uow, clock=clock)
        self._sweeps = LedgerSweeps(uow=uow, clock=clock, ids=ids)

    # --- reads (queries.py) and sweeps (sweeps.py) --------------------------------------------
    def balance(self, account_id: str) -> BalanceView:
        return self._queries.balance(account_id)

    def transactions(
        self, account_id: str, *, limit: int = 50, cursor: str | None = None, kind: EntryKind | str | None = None
    ) -> Page[Entry]:
        return self._queries.transactions(account_id, limit=limit, cursor=cursor, kind=kind)

    def usage(self, account_id: str, month: str) -> Usage:
        return self._queries.usage(account_id, month)

    def check_invariants(self, account_id: str) -> list[str]:
        return self._queries.check_invariants(account_id)

    def expire_grants(self, now: datetime | None = None) -> int:
        return self._sweeps.expire_grants(now)

    def release_expired_holds(self, now: datetime | None = None) -> int:
        return self._sweeps.release_expired_holds(now)

    def _once(self, account_id: str, key: str, operation: str, args: dict[str, Any], work: Work) -> Movement:
        work = self._watch_balance(work)
        return once(
            self._uow,
            self._clock,
            self._ids,
            account_id,
            key,
            operation,
            fingerprint(operation, args),
            work,
            attempts=self._retry_attempts,
        )

    def _watch_balance(self, work: Work) -> Work:
        """Issue 22: tell the notifier, in the same transaction, when the available balance crosses
        the low-balance threshold downwards (or the re-arm level upwards)."""
        if self._low_balance is None:
            return work
        threshold, rearm_at = self._low_balance

        def watched(book: Book) -> Movement:
            before = book.account.available
            result = work(book)
            balance_crossed(
                book.uow,
                book.account.id,
                before,
                book.account.available,
                book.account.balance,
                book.now,
                threshold=threshold,
                rearm_at=rearm_at,
            )
            return result

        return watched

    def book_within(
        self, uow: LedgerUnitOfWork, account_id: str, *, key: str, operation: str, args: dict[str, Any], work: Work
    ) -> Movement:
        """Run `work` on the account inside the caller's unit of work, for a use case whose own
        records must commit with the credits (billing: a payment and what it moved). The same path
        as every ledger verb (the account locked, brought up to date, the balance watchers told,
        the result saved under `key`); the caller commits, and its own keyed retry settles a
        COMMIT whose answer was lost."""
        locked = uow.ledger.lock_account(account_id)
        if locked is None:
            raise AccountNotFound()
        book = Book(uow, *locked, now=self._clock.now(), key=key, ids=self._ids)
        return apply(book, operation, fingerprint(operation, args), self._watch_balance(work))

    # --- accounts ------------------------------------------------------------------------
    def open_account(self, account_id: str) -> None:
        """Create an empty account (a no-op when it exists)."""

        def work(uow: LedgerUnitOfWork) -> None:  # looks before it adds: a rerun adds at most one
            if uow.ledger.get_account(account_id) is None:
                uow.ledger.add_account(Account(id=account_id, created_at=self._clock.now()))

        transaction(self._uow, work, attempts=self._retry_attempts)

    def open_account_for_new_user(self, uow: LedgerUnitOfWork, user: _HasPlan) -> None:
        """Identity's registration hook, inside its unit of work: the account, and this month's
        free allowance at once (the same key the daily job uses, so it is never granted twice)."""
        now = self._clock.now()
        account = Account(id=user.id, created_at=now)
        uow.ledger.add_account(account)
        if user.plan == "free" and self._free_plan_credits > 0:
            key, args, work = self._allowance(now.strftime("%Y-%m"), self._free_plan_credits)
            book = Book(uow, account, [], now=now, key=key, ids=self._ids)
            apply(book, "allowance", fingerprint("allowance", args), work)

    # --- credits in ------------------------------------------------------------------------
    def grant(
        self,
        account_id: str,
        *,
        source: GrantSource | str,
        amount: int,
        idempotency_key: str,
        expires_at: datetime | None = None,
        reference: str | None = None,
    ) -> Movement:
        source = grant_source(source)
        check_amount(amount)
        if expires_at is not None and expires_at.tzinfo is None:
            raise InvalidInput("expires_at must carry a time zone.", details={"expires_at": "Not aware."})

        def work(book: Book) -> Movement:
            if expires_at is not None and expires_at <= book.now:
                raise InvalidInput("The grant would expire at once.", details={"expires_at": "In the past."})
            return book.add_grant(source, amount, expires_at=expires_at, reference=reference)

        args = {"source": source.value, "amount": amount, "expires_at": expires_at, "reference": reference}
        return self._once(account_id, idempotency_key, "grant", args, work)

    def grant_monthly_allowance(self, account_id: str, *, period: str, credits: int | None = None) -> Movement:
        """The free plan's credits for `period` (YYYY-MM), expiring when the month ends. Once per
        account and period: a rerun, a double tick or a replay returns the first grant."""
        key, args, work = self._allowance(period, credits or self._free_plan_credits)
        return self._once(account_id, key, "allowance", args, work)

    def _allowance(self, period: str, credits: int) -> tuple[str, dict[str, Any], Work]:
        _, end = month_bounds(period)

        def work(book: Book) -> Movement:
            if end <= book.now:
                raise InvalidInput(f"The period {period} has ended.", details={"period": "Already over."})
            return book.add_grant(GrantSource.PLAN, credits, expires_at=end, reference=f"free-plan:{period}")

        return f"allowance:{period}", {"period": period}, work

    # --- credits promised: pending grants (referral bonuses during their hold) ---------------
    def add_pending_grant(
        self,
        account_id: str,
        *,
        source: GrantSource | str,
        amount: int,
        idempotency_key: str,
        reference: str | None = None,
    ) -> str:
        """Record credits promised to the account; nothing moves (no entry, no grant, not
        spendable). Returns the pending grant's id; a replayed key returns the first one."""
        source = grant_source(source)
        check_amount(amount)

        def work(book: Book) -> Movement:
            pending = PendingGrant(
                id=self._ids.new_id("pgr"),
                account_id=book.account.id,
                source=source,
                amount=amount,
                status=PendingStatus.PENDING,
                created_at=book.now,
                reference=reference,
            )
            book.uow.ledger.add_pending_grant(pending)
            return book.movement(grant_id=pending.id)

        args = {"source": source.value, "amount": amount, "reference": reference}
        return str(self._once(account_id, idempotency_key, "add_pending", args, work).grant_id)

    def release_pending_grant(
        self, pending_id: str, *, idempotency_key: str, expires_at: datetime | None = None
    ) -> Movement:
        """Turn a pending grant into an ordinary grant (one entry). Refused after a void."""

        def work(book: Book) -> Movement:
            pending = self._open_pending(book, pending_id)
            movement = book.add_grant(
                pending.source, pending.amount, expires_at=expires_at, reference=pending.reference
            )
            pending.close(PendingStatus.RELEASED, book.now, grant_id=movement.grant_id)
            book.uow.ledger.update_pending_grant(pending)
            return movement

        args = {"pending": pending_id, "expires_at": expires_at}
        return self._once(self._pending_account(pending_id), idempotency_key, "release_pending", args, work)

    def void_pending_grant(self, pending_id: str, *, idempotency_key: str) -> Movement:
        """End a pending grant with nothing given. Refused after a release."""

        def work(book: Book) -> Movement:
            pending = self._open_pending(book, pending_id)
            pending.close(PendingStatus.VOIDED, book.now)
            book.uow.ledger.update_pending_grant(pending)
            return book.movement()

        return self._once(
            self._pending_account(pending_id), idempotency_key, "void_pending", {"pending": pending_id}, work
        )

    def pending_grants(self, account_id: str) -> list[PendingGrant]:
        with self._uow() as uow:
            return uow.ledger.pending_grants(account_id)

    def _pending_account(self, pending_id: str) -> str:
        with self._uow() as uow:
            found = uow.ledger.get_pending_grant(pending_id)
        if found is None:
            raise PendingGrantNotFound()
        return found.account_id

    @staticmethod
    def _open_pending(book: Book, pending_id: str) -> PendingGrant:
        pending = book.uow.ledger.get_pending_grant(pending_id)  # read under the account's lock
        if pending is None or pending.account_id != book.account.id:
            raise PendingGrantNotFound()
        if pending.status is not PendingStatus.PENDING:
            raise PendingGrantClosed(f"The pending grant was already {pending.status.value}.")
        return pending

    # --- credits out -----------------------------------------------------------------------
    def charge(
        self,
        account_id: str,
        *,
        feature_key: str,
        quantity: int = 1,
        idempotency_key: str,
        reference: str | None = None,
    ) -> Movement:
        check_quantity(quantity)
        cost = self.prices.cost(feature_key, quantity)

        def work(book: Book) -> Movement:
            entry = book.debit(cost, EntryKind.CHARGE, feature_key=feature_key, reference=reference)
            return book.movement(entry)

        args = {"feature_key": feature_key, "quantity": quantity, "reference": reference}
        return self._once(account_id, idempotency_key, "charge", args, work)

    def adjust(
        self,
        account_id: str,
        *,
        amount: int,
        reason: str,
        actor: str,
        idempotency_key: str,
        audit: AuditRecord | None = None,
    ) -> Movement:
        """An admin's correction: positive adds a grant that never expires, negative removes
        credits (soonest-expiring first) but never more than are available. `audit` is written
        in the same transaction, and not on a replay."""
        if amount == 0 or abs(amount) > MAX_CREDITS:
            raise InvalidInput("amount must be non-zero and in range.", details={"amount": "Non-zero, in range."})
        reference = f"{actor}: {reason}"[:MAX_REFERENCE_LENGTH]

        def work(book: Book) -> Movement:
            if audit is not None:
                cast(AuditingUnitOfWork, book.uow).audit.add(audit)
            if amount > 0:
                return book.add_grant(GrantSource.ADMIN, amount, expires_at=None, reference=reference)
            return book.movement(book.debit(-amount, EntryKind.ADJUSTMENT, reference=reference))

        args = {"amount": amount, "reason": reason, "actor": actor}
        return self._once(account_id, idempotency_key, "adjust", args, work)

    def reverse_grant(self, grant_id: str, *, amount: int, reason: str, idempotency_key: str) -> Movement:
        """Claw back up to `amount` of what is left of a grant (a provider refund). Never takes
        held or spent credits: what it could not take is reported as `shortfall`."""
        check_amount(amount)
        with self._uow() as uow:
            found = uow.ledger.get_grant(grant_id)
        if found is None:
            raise GrantNotFound()

        def work(book: Book) -> Movement:
            grant = next((g for g in book.grants if g.id == grant_id), None) or book.uow.ledger.get_grant(grant_id)
            assert grant is not None  # grants are never deleted
            taken = min(amount, grant.remaining, book.account.available)
            entry = None
            if taken:
                entry = book.take_from(
                    grant, taken, EntryKind.REVERSAL, key=book.key, reference=reason[:MAX_REFERENCE_LENGTH]
                )
            return book.movement(entry, grant_id=grant_id, shortfall=amount - taken)

        args = {"grant_id": grant_id, "amount": amount, "reason": reason}
        return self._once(found.account_id, idempotency_key, "reverse_grant", args, work)

    # --- holds -----------------------------------------------------------------------------
    def hold(
        self,
        account_id: str,
        *,
        amount: int,
        idempotency_key: str,
        ttl_seconds: int | None = None,
        feature_key: str | None = None,
        reference: str | None = None,
        budget: BudgetScope | None = None,
    ) -> Movement:
        """Reserve `amount` credits before slow work; they stop being available until the hold
        is captured, voided or expires. With a `budget`, the workspace's and the member's monthly
        caps must cover it too, checked and counted under the same lock (domain/ledger/budgets.py)."""
        args, work = self._hold_work(amount, ttl_seconds, feature_key, reference, budget, None)
        return self._once(account_id, idempotency_key, "hold", args, work)

    def hold_within(
        self,
        uow: LedgerUnitOfWork,
        account_id: str,
        *,
        amount: int,
        idempotency_key: str,
        ttl_seconds: int | None = None,
        feature_key: str | None = None,
        reference: str | None = None,
        budget: BudgetScope | None = None,
        shrink: Callable[[InsufficientCredits], int] | None = None,
    ) -> Movement:
        """`hold` inside the caller's unit of work (`book_within`: the caller commits, and learns
        the outcome of a lost COMMIT by its own key). When `amount` is refused (the balance or a
        budget), `shrink(refusal)` may name a smaller amount, tried once under the same lock; it
        raises to give up. A refused attempt writes nothing, so the second one starts clean."""
        args, work = self._hold_work(amount, ttl_seconds, feature_key, reference, budget, shrink)
        return self.book_within(uow, account_id, key=idempotency_key, operation="hold", args=args, work=work)

    def _hold_work(
        self,
        amount: int,
        ttl_seconds: int | None,
        feature_key: str | None,
        reference: str | None,
        budget: BudgetScope | None,
        shrink: Callable[[InsufficientCredits], int] | None,
    ) -> tuple[dict[str, Any], Work]:
        check_amount(amount)
        ttl = self._default_hold_ttl if ttl_seconds is None else ttl_seconds
        if ttl < 1:
            raise InvalidInput("ttl must be at least 1 second.", details={"ttl_seconds": "At least 1."})

        def place(book: Book, credits: int) -> Movement:
            hold = Hold(
                id=self._ids.new_id("hld"),
                account_id=book.account.id,
                requested=credits,
                amount=credits,
                status=HoldStatus.ACTIVE,
                idempotency_key=book.key,
                expires_at=book.now + timedelta(seconds=ttl),
                created_at=book.now,
                feature_key=feature_key,
                reference=reference,
            )
            if budget is not None:
                book.reserve_budget(budget, hold)  # refuses past a cap (or the balance), naming the level
            book.account.reserve(credits)  # refuses more than is available; takes nothing from grants yet
            book.uow.ledger.add_hold(hold)
            return book.movement(hold=hold)

        def work(book: Book) -> Movement:
            try:
                return place(book, amount)
            except InsufficientCredits as refusal:
                if shrink is None:
                    raise
                smaller = shrink(refusal)
                check_amount(smaller)
                return place(book, smaller)

        args: dict[str, Any] = {"amount": amount, "ttl": ttl, "feature_key": feature_key, "reference": reference}
        if budget is not None:  # a key replayed for another scope is a conflict, not this hold
            args["budget"] = f"{budget.budget_id}/{budget.member_id}"
        if shrink is not None:
            args["shrinks"] = True
        return args, work

    def capture(self, account_id: str, hold_id: str, *, amount: int, idempotency_key: str) -> Movement:
        """Charge the actual cost (at most what was requested) and release the rest. If expiry
        trimmed the hold, at most what is still held is charged."""
        return self._once(
            account_id,
            idempotency_key,
            "capture",
            {"hold": hold_id, "amount": amount},
            self._capture_work(hold_id, amount),
        )

    def capture_within(
        self, uow: LedgerUnitOfWork, account_id: str, hold_id: str, *, amount: int, idempotency_key: str
    ) -> Movement:
        """`capture` inside the caller's unit of work (`book_within`): coaching stores an answer and
        charges it in one transaction. A hold that is gone (expired, voided, captured) raises, and
        the caller must roll back: the account was brought up to date in its unit of work."""
        return self.book_within(
            uow,
            account_id,
            key=idempotency_key,
            operation="capture",
            args={"hold": hold_id, "amount": amount},
            work=self._capture_work(hold_id, amount),
        )

    @staticmethod
    def _capture_work(hold_id: str, amount: int) -> Work:
        if not 0 <= amount <= MAX_CREDITS:
            raise InvalidInput("amount is out of range.", details={"amount": "Zero or more."})

        def work(book: Book) -> Movement:
            hold = book.active_hold(hold_id)
            if amount > hold.requested:
                raise InvalidInput(
                    f"Cannot capture {amount}: the hold is for {hold.requested}.",
                    details={"amount": f"At most {hold.requested}."},
                )
            charged = min(amount, hold.amount)
            book.finish(hold, HoldStatus.CAPTURED, captured=charged)
            entry = None
            if charged:
                entry = book.debit(
                    charged, EntryKind.CHARGE, feature_key=hold.feature_key, reference=hold.reference, hold_id=hold.id
                )
            return book.movement(entry, hold=hold)

        return work

    def void(self, account_id: str, hold_id: str, *, idempotency_key: str) -> Movement:
        def work(book: Book) -> Movement:
            hold = book.active_hold(hold_id)
            book.finish(hold, HoldStatus.VOIDED)
            return book.movement(hold=hold)

        return self._once(account_id, idempotency_key, "void", {"hold": hold_id}, work)


def _fits_every_port(ledger: Ledger) -> tuple[CreditHolds, CreditGrants, CreditBooking]:
    """Never called: mypy checks here that `Ledger` satisfies, structurally, every port other areas
    receive instead of it (issue 26 §3; domain/ledger/ports.py). A verb whose signature drifts from
    its port fails `make lint` here, not in the area that uses it."""
    return ledger, ledger, ledger
