"""The ledger's use cases. Each mutating call locks its account, is idempotent by its key, and
commits once; see ARCHITECTURE.md "The ledger" for the invariants they keep."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol, cast

from domain.ledger import checks
from domain.ledger.errors import (
    AccountNotFound,
    GrantNotFound,
    HoldExpired,
    HoldNotActive,
    HoldNotFound,
    InsufficientCredits,
    SweepIncomplete,
)
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
    PriceList,
    consumption_order,
    take_from_grants,
)
from domain.ledger.ports import LedgerUnitOfWork
from domain.ledger.results import BalanceSnapshot, BalanceView, Movement, Usage
from domain.platform.model import AuditRecord
from domain.platform.ports import AuditUnitOfWork
from domain.shared.clock import Clock
from domain.shared.errors import IdempotencyConflict, InvalidInput
from domain.shared.ids import IdGenerator
from domain.shared.pagination import Page, check_limit, decode_cursor, encode_cursor
from domain.shared.uow import retrying

MAX_CREDITS = 10**12  # far above any real grant, far below BIGINT
MAX_QUANTITY = 10**6
SWEEP_BATCH = 100
# A use case's own step, inside the shared locked shape (_apply). `grants` are the account's
# live open grants, read once per call and kept current by _add_grant and _debit.
Work = Callable[[LedgerUnitOfWork, Account, datetime, list[Grant]], Movement]


class _HasPlan(Protocol):
    id: str
    plan: str


class Ledger:
    def __init__(
        self,
        *,
        uow: Callable[[], LedgerUnitOfWork],
        clock: Clock,
        ids: IdGenerator,
        prices: PriceList,
        default_hold_ttl: int = 900,
        free_plan_credits: int = 100,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self.prices = prices
        self._default_hold_ttl = default_hold_ttl
        self._free_plan_credits = free_plan_credits

    # --- accounts ------------------------------------------------------------------------
    def open_account(self, account_id: str) -> None:
        """Create an empty account (a no-op when it exists)."""
        with self._uow() as uow:
            if uow.ledger.get_account(account_id) is None:
                uow.ledger.add_account(Account(id=account_id, created_at=self._clock.now()))
                uow.commit()

    def open_account_for_new_user(self, uow: LedgerUnitOfWork, user: _HasPlan) -> None:
        """Identity's registration hook, inside its unit of work: the account, and this month's
        free allowance at once (the same key the daily job uses, so it is never granted twice)."""
        now = self._clock.now()
        account = Account(id=user.id, created_at=now)
        uow.ledger.add_account(account)
        if user.plan == "free" and self._free_plan_credits > 0:
            period = now.strftime("%Y-%m")
            key, fingerprint, work = self._allowance(period, self._free_plan_credits)
            self._apply(uow, account, key, "allowance", fingerprint, work, now)

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
        source = _source(source)
        _check_amount(amount)
        if expires_at is not None and expires_at.tzinfo is None:
            raise InvalidInput("expires_at must carry a time zone.", details={"expires_at": "Not aware."})

        def work(uow: LedgerUnitOfWork, account: Account, now: datetime, grants: list[Grant]) -> Movement:
            if expires_at is not None and expires_at <= now:
                raise InvalidInput("The grant would expire at once.", details={"expires_at": "In the past."})
            return self._add_grant(uow, account, now, grants, source, amount, idempotency_key, expires_at, reference)

        args = {"source": source.value, "amount": amount, "expires_at": expires_at, "reference": reference}
        return self._mutate(account_id, idempotency_key, "grant", args, work)

    def grant_monthly_allowance(self, account_id: str, *, period: str, credits: int | None = None) -> Movement:
        """The free plan's credits for `period` (YYYY-MM), expiring when the month ends. Once per
        account and period: a rerun, a double tick or a replay returns the first grant."""
        key, fingerprint, work = self._allowance(period, credits or self._free_plan_credits)
        return self._mutate_raw(account_id, key, "allowance", fingerprint, work)

    def _allowance(self, period: str, credits: int) -> tuple[str, str, Work]:
        start, end = _month_bounds(period)
        key = f"allowance:{period}"

        def work(uow: LedgerUnitOfWork, account: Account, now: datetime, grants: list[Grant]) -> Movement:
            if end <= now:
                raise InvalidInput(f"The period {period} has ended.", details={"period": "Already over."})
            return self._add_grant(
                uow, account, now, grants, GrantSource.PLAN, credits, key, end, f"free-plan:{period}"
            )

        return key, _fingerprint("allowance", {"period": period}), work

    def _add_grant(
        self,
        uow: LedgerUnitOfWork,
        account: Account,
        now: datetime,
        grants: list[Grant],
        source: GrantSource,
        amount: int,
        key: str,
        expires_at: datetime | None,
        reference: str | None,
    ) -> Movement:
        grant = Grant(
            id=self._ids.new_id("grt"),
            account_id=account.id,
            source=source,
            granted=amount,
            remaining=amount,
            created_at=now,
            expires_at=expires_at,
            reference=reference,
        )
        uow.ledger.add_grant(grant)
        grants.append(grant)
        entry = self._write_entry(
            uow, account, now, kind=GRANT_ENTRY_KIND[source], amount=amount, key=key,
            reference=reference, grant_id=grant.id,
        )  # fmt: skip
        return Movement(balance=BalanceSnapshot.of(account), entry=entry, grant_id=grant.id)

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
        if not 1 <= quantity <= MAX_QUANTITY:
            raise InvalidInput("quantity is out of range.", details={"quantity": f"Between 1 and {MAX_QUANTITY}."})
        cost = self.prices.cost(feature_key, quantity)

        def work(uow: LedgerUnitOfWork, account: Account, now: datetime, grants: list[Grant]) -> Movement:
            entry = self._debit(
                uow, account, now, grants, cost, kind=EntryKind.CHARGE, key=idempotency_key,
                feature_key=feature_key, reference=reference,
            )  # fmt: skip
            return Movement(balance=BalanceSnapshot.of(account), entry=entry)

        args = {"feature_key": feature_key, "quantity": quantity, "reference": reference}
        return self._mutate(account_id, idempotency_key, "charge", args, work)

    def adjust(
        self, account_id: str, *, amount: int, reason: str, actor: str, idempotency_key: str,
        audit: AuditRecord | None = None,
    ) -> Movement:
        """An admin's correction: positive adds a grant that never expires, negative removes
        credits (soonest-expiring first) but never more than are available. `audit` is written
        in the same transaction (not on a replay)."""
        if amount == 0 or abs(amount) > MAX_CREDITS:
            raise InvalidInput("amount must be non-zero and in range.", details={"amount": "Non-zero, in range."})
        reference = f"{actor}: {reason}"[:255]

        def work(uow: LedgerUnitOfWork, account: Account, now: datetime, grants: list[Grant]) -> Movement:
            if audit is not None:
                cast(AuditUnitOfWork, uow).audit.add(audit)
            if amount > 0:
                return self._add_grant(
                    uow, account, now, grants, GrantSource.ADMIN, amount, idempotency_key, None, reference
                )
            entry = self._debit(
                uow, account, now, grants, -amount, kind=EntryKind.ADJUSTMENT, key=idempotency_key, reference=reference
            )
            return Movement(balance=BalanceSnapshot.of(account), entry=entry)

        args = {"amount": amount, "reason": reason, "actor": actor}
        return self._mutate(account_id, idempotency_key, "adjust", args, work)

    def reverse_grant(self, grant_id: str, *, amount: int, reason: str, idempotency_key: str) -> Movement:
        """Claw back up to `amount` of what is left of a grant (a provider refund). Never takes
        held or spent credits: what it could not take is reported as `shortfall`."""
        _check_amount(amount)
        with self._uow() as uow:
            found = uow.ledger.get_grant(grant_id)
        if found is None:
            raise GrantNotFound()

        def work(uow: LedgerUnitOfWork, account: Account, now: datetime, grants: list[Grant]) -> Movement:
            grant = next((g for g in grants if g.id == grant_id), None) or uow.ledger.get_grant(grant_id)
            assert grant is not None  # grants are never deleted
            taken = min(amount, grant.remaining, account.available)
            entry = None
            if taken:
                grant.remaining -= taken
                uow.ledger.update_grant(grant)
                entry = self._write_entry(
                    uow, account, now, kind=EntryKind.REVERSAL, amount=-taken, key=idempotency_key,
                    reference=reason[:255], grant_id=grant.id, allocations=[(grant, taken)],
                )  # fmt: skip
            snapshot = BalanceSnapshot.of(account)
            return Movement(balance=snapshot, entry=entry, grant_id=grant_id, shortfall=amount - taken)

        args = {"grant_id": grant_id, "amount": amount, "reason": reason}
        return self._mutate(found.account_id, idempotency_key, "reverse_grant", args, work)

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
    ) -> Movement:
        """Reserve `amount` credits before slow work; they stop being available until the hold
        is captured, voided or expires."""
        _check_amount(amount)
        ttl = self._default_hold_ttl if ttl_seconds is None else ttl_seconds
        if ttl < 1:
            raise InvalidInput("ttl must be at least 1 second.", details={"ttl_seconds": "At least 1."})

        def work(uow: LedgerUnitOfWork, account: Account, now: datetime, grants: list[Grant]) -> Movement:
            if amount > account.available:  # holds reserve credits; they take nothing from grants yet
                raise InsufficientCredits(needed=amount, available=account.available)
            hold = Hold(
                id=self._ids.new_id("hld"), account_id=account.id, requested=amount, amount=amount,
                status=HoldStatus.ACTIVE, idempotency_key=idempotency_key,
                expires_at=now + timedelta(seconds=ttl), created_at=now,
                feature_key=feature_key, reference=reference,
            )  # fmt: skip
            uow.ledger.add_hold(hold)
            account.held += amount
            return Movement(balance=BalanceSnapshot.of(account), hold=hold)

        args = {"amount": amount, "ttl": ttl, "feature_key": feature_key, "reference": reference}
        return self._mutate(account_id, idempotency_key, "hold", args, work)

    def capture(self, account_id: str, hold_id: str, *, amount: int, idempotency_key: str) -> Movement:
        """Charge the actual cost (at most what was requested) and release the rest. If expiry
        trimmed the hold, at most what is still held is charged."""
        if not 0 <= amount <= MAX_CREDITS:
            raise InvalidInput("amount is out of range.", details={"amount": "Zero or more."})

        def work(uow: LedgerUnitOfWork, account: Account, now: datetime, grants: list[Grant]) -> Movement:
            hold = self._active_hold(uow, account, hold_id)
            if amount > hold.requested:
                raise InvalidInput(
                    f"Cannot capture {amount}: the hold is for {hold.requested}.",
                    details={"amount": f"At most {hold.requested}."},
                )
            charged = min(amount, hold.amount)
            self._finish_hold(uow, account, hold, HoldStatus.CAPTURED, now, captured=charged)
            entry = None
            if charged:
                entry = self._debit(
                    uow, account, now, grants, charged, kind=EntryKind.CHARGE, key=idempotency_key,
                    feature_key=hold.feature_key, reference=hold.reference, hold_id=hold.id,
                )  # fmt: skip
            return Movement(balance=BalanceSnapshot.of(account), entry=entry, hold=hold)

        return self._mutate(account_id, idempotency_key, "capture", {"hold": hold_id, "amount": amount}, work)

    def void(self, account_id: str, hold_id: str, *, idempotency_key: str) -> Movement:
        def work(uow: LedgerUnitOfWork, account: Account, now: datetime, grants: list[Grant]) -> Movement:
            hold = self._active_hold(uow, account, hold_id)
            self._finish_hold(uow, account, hold, HoldStatus.VOIDED, now)
            return Movement(balance=BalanceSnapshot.of(account), hold=hold)

        return self._mutate(account_id, idempotency_key, "void", {"hold": hold_id}, work)

    def _active_hold(self, uow: LedgerUnitOfWork, account: Account, hold_id: str) -> Hold:
        hold = uow.ledger.get_hold(hold_id)
        if hold is None or hold.account_id != account.id:
            raise HoldNotFound()
        if hold.status is HoldStatus.EXPIRED:
            raise HoldExpired("The hold has expired and its credits were released.")
        if hold.status is not HoldStatus.ACTIVE:
            raise HoldNotActive(f"The hold is already {hold.status.value}.")
        return hold

    def _finish_hold(
        self,
        uow: LedgerUnitOfWork,
        account: Account,
        hold: Hold,
        status: HoldStatus,
        now: datetime,
        captured: int | None = None,
    ) -> None:
        account.held -= hold.amount
        hold.status, hold.captured, hold.finished_at = status, captured, now
        uow.ledger.update_hold(hold)

    # --- sweeps (periodic jobs) ------------------------------------------------------------
    def expire_grants(self, now: datetime | None = None) -> int:
        """Remove what is left of every grant whose expires_at <= now. Returns grants expired."""
        return self._sweep(now, lambda uow, t: uow.ledger.accounts_with_expired_grants(t, SWEEP_BATCH),
                           self._expire_account)  # fmt: skip

    def release_expired_holds(self, now: datetime | None = None) -> int:
        """Release every active hold whose expires_at <= now. Returns holds released."""
        return self._sweep(now, lambda uow, t: uow.ledger.accounts_with_expired_holds(t, SWEEP_BATCH),
                           self._release_account)  # fmt: skip

    def _sweep(
        self,
        now: datetime | None,
        find: Callable[[LedgerUnitOfWork, datetime], list[str]],
        per_account: Callable[[LedgerUnitOfWork, Account, datetime], int],
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
                    done += retrying(lambda: self._locked(account_id, at, per_account))
                except Exception:  # one broken account must not stall every other one
                    failed.append(account_id)
        if failed:
            raise SweepIncomplete(done, failed)
        return done

    def _locked(self, account_id: str, now: datetime, work: Callable[[LedgerUnitOfWork, Account, datetime], int]) -> int:
        with self._uow() as uow:
            account = uow.ledger.get_account_for_update(account_id)
            if account is None:
                return 0
            count = work(uow, account, now)
            account.ensure_sound()
            uow.ledger.update_account(account)
            uow.commit()
            return count

    def _expire_account(self, uow: LedgerUnitOfWork, account: Account, now: datetime) -> int:
        return len(self._expire_due(uow, account, now)[0])

    def _expire_due(self, uow: LedgerUnitOfWork, account: Account, now: datetime) -> tuple[list[Grant], list[Grant]]:
        """Expire the account's grants that are due; return (expired, live open grants)."""
        open_grants = consumption_order(uow.ledger.open_grants(account.id))
        expired = [g for g in open_grants if g.is_expired(now)]
        for grant in expired:
            left, grant.remaining = grant.remaining, 0
            uow.ledger.update_grant(grant)
            self._write_entry(
                uow, account, now, kind=EntryKind.EXPIRY, amount=-left, key=f"expiry:{grant.id}",
                reference=grant.reference, grant_id=grant.id, allocations=[(grant, left)],
            )  # fmt: skip
        if expired:
            self._trim_holds(uow, account)
        return expired, [g for g in open_grants if not g.is_expired(now)]

    def _trim_holds(self, uow: LedgerUnitOfWork, account: Account) -> None:
        """Expired credits cannot be spent, even when held: if expiry left less than is held,
        the newest holds shrink until held == balance (a capture then charges at most that)."""
        excess = account.held - account.balance
        if excess <= 0:
            return
        holds = sorted(uow.ledger.active_holds(account.id), key=lambda h: (h.created_at, h.id), reverse=True)
        for hold in holds:
            if excess <= 0:
                return
            cut = min(hold.amount, excess)
            hold.amount -= cut
            account.held -= cut
            excess -= cut
            uow.ledger.update_hold(hold)

    def _release_account(self, uow: LedgerUnitOfWork, account: Account, now: datetime) -> int:
        due = [h for h in uow.ledger.active_holds(account.id) if h.expires_at <= now]
        for hold in due:
            self._finish_hold(uow, account, hold, HoldStatus.EXPIRED, now)
        return len(due)

    # --- queries ---------------------------------------------------------------------------
    def balance(self, account_id: str) -> BalanceView:
        """The balance as the sweeps would leave it now: grants past their expiry and holds past
        their ttl no longer count, even before the periodic jobs have written that down."""
        now = self._clock.now()
        with self._uow() as uow:
            account = uow.ledger.get_account(account_id)
            if account is None:
                raise AccountNotFound()
            held = account.held
            if held:
                held = sum(h.amount for h in uow.ledger.active_holds(account_id) if h.expires_at > now)
            grants = consumption_order(uow.ledger.open_grants(account_id))
        live = [g for g in grants if not g.is_expired(now)]
        balance = sum(g.remaining for g in live)
        held = min(held, balance)  # as expiry trims holds
        return BalanceView(balance=balance, held=held, available=balance - held, grants=live)

    def transactions(
        self, account_id: str, *, limit: int = 50, cursor: str | None = None, kind: EntryKind | str | None = None
    ) -> Page[Entry]:
        check_limit(limit)
        before = _seq_cursor(cursor)
        with self._uow() as uow:
            if uow.ledger.get_account(account_id) is None:
                raise AccountNotFound()
            rows = uow.ledger.list_entries(account_id, limit=limit + 1, before_seq=before, kind=_kind(kind))
        more = len(rows) > limit
        items = rows[:limit]
        return Page(items=items, next_cursor=encode_cursor({"seq": items[-1].seq}) if more else None)

    def usage(self, account_id: str, month: str) -> Usage:
        start, end = _month_bounds(month)
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

    # --- the shape every mutating call shares ----------------------------------------------
    def _mutate(self, account_id: str, key: str, operation: str, args: dict[str, Any], work: Work) -> Movement:
        return self._mutate_raw(account_id, key, operation, _fingerprint(operation, args), work)

    def _mutate_raw(self, account_id: str, key: str, operation: str, fingerprint: str, work: Work) -> Movement:
        _check_key(key)

        def attempt() -> Movement:
            with self._uow() as uow:
                account = uow.ledger.get_account_for_update(account_id)
                if account is None:
                    raise AccountNotFound()
                result = self._apply(uow, account, key, operation, fingerprint, work, self._clock.now())
                uow.commit()
                return result

        return retrying(attempt)

    def _apply(
        self,
        uow: LedgerUnitOfWork,
        account: Account,
        key: str,
        operation: str,
        fingerprint: str,
        work: Work,
        now: datetime,
    ) -> Movement:
        """Replay the first result of `key`, or do the work, save the account and remember it."""
        previous = uow.ledger.get_idempotency(account.id, key)
        if previous is not None:
            if previous.operation != operation or previous.fingerprint != fingerprint:
                raise IdempotencyConflict("This Idempotency-Key was used for a different request.")
            return Movement.from_record(dict(previous.result))
        # What the sweeps would do, done now for this account: expired credits are never spent.
        _, grants = self._expire_due(uow, account, now)
        if account.held:
            self._release_account(uow, account, now)
        result = work(uow, account, now, grants)
        account.ensure_sound()
        uow.ledger.update_account(account)
        uow.ledger.add_idempotency(
            IdempotencyRecord(account.id, key, operation, fingerprint, result.to_record(), now)
        )
        return result

    def _debit(
        self,
        uow: LedgerUnitOfWork,
        account: Account,
        now: datetime,
        grants: list[Grant],
        amount: int,
        *,
        kind: EntryKind,
        key: str,
        feature_key: str | None = None,
        reference: str | None = None,
        hold_id: str | None = None,
    ) -> Entry:
        plan = take_from_grants(grants, amount, account.available)
        for grant, taken in plan:
            grant.remaining -= taken
            uow.ledger.update_grant(grant)
        return self._write_entry(
            uow, account, now, kind=kind, amount=-amount, key=key, feature_key=feature_key,
            reference=reference, hold_id=hold_id, allocations=plan,
        )  # fmt: skip

    def _write_entry(
        self,
        uow: LedgerUnitOfWork,
        account: Account,
        now: datetime,
        *,
        kind: EntryKind,
        amount: int,
        key: str,
        feature_key: str | None = None,
        reference: str | None = None,
        grant_id: str | None = None,
        hold_id: str | None = None,
        allocations: list[tuple[Grant, int]] | None = None,
    ) -> Entry:
        account.balance += amount
        account.last_seq += 1
        entry = Entry(
            id=self._ids.new_id("txn"), account_id=account.id, seq=account.last_seq, kind=kind,
            amount=amount, balance_after=account.balance, idempotency_key=key, created_at=now,
            feature_key=feature_key, reference=reference, grant_id=grant_id, hold_id=hold_id,
        )  # fmt: skip
        taken = [Allocation(entry.id, grant.id, credits) for grant, credits in allocations or []]
        uow.ledger.add_entry(entry, taken)
        return entry


def scoped_key(scope: str, key: str) -> str:
    """A caller's Idempotency-Key inside one account's key space, apart from other callers' keys
    (an admin's "abc" must not replay the user's own "abc"). Long keys are hashed to fit."""
    scoped = f"{scope}:{key}"
    if len(scoped) <= 255:
        return scoped
    return f"{scope}:#{hashlib.sha256(key.encode()).hexdigest()}"


def _fingerprint(operation: str, args: dict[str, Any]) -> str:
    canonical = json.dumps({"op": operation, **args}, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _check_key(key: str) -> None:
    if not (1 <= len(key) <= 255 and key.isascii() and key.isprintable()):
        raise InvalidInput(
            "Idempotency-Key must be 1-255 printable ASCII characters.",
            details={"Idempotency-Key": "1-255 printable ASCII characters."},
        )


def _check_amount(amount: int) -> None:
    if not 1 <= amount <= MAX_CREDITS:
        raise InvalidInput("amount must be a positive whole number of credits.", details={"amount": "1 or more."})


def _source(source: GrantSource | str) -> GrantSource:
    try:
        return GrantSource(source)
    except ValueError:
        raise InvalidInput(f"Unknown grant source {source!r}.", details={"source": "Unknown source."}) from None


def _kind(kind: EntryKind | str | None) -> EntryKind | None:
    if kind is None:
        return None
    try:
        return EntryKind(kind)
    except ValueError:
        raise InvalidInput(f"Unknown kind {kind!r}.", details={"kind": "Unknown kind."}) from None


def _seq_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    position = decode_cursor(cursor)
    if not (isinstance(position, dict) and isinstance(position.get("seq"), int)):
        raise InvalidInput("The cursor is not valid.", details={"cursor": "Not a cursor this API gave."})
    return int(position["seq"])


def _month_bounds(month: str) -> tuple[datetime, datetime]:
    try:
        start = datetime.strptime(month, "%Y-%m").replace(tzinfo=timezone.utc)
    except ValueError:
        raise InvalidInput("month must look like 2026-11.", details={"month": "Use YYYY-MM."}) from None
    try:
        end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    except ValueError:  # December 9999 has no next month
        raise InvalidInput("month is out of range.", details={"month": "Out of range."}) from None
    return start, end
