"""The ledger state machine and the helpers shared by the unit (memory) and integration (SQL) runs.

`LedgerMachine` drives the real `Ledger` use cases with random amounts, clock jumps, replays and
conflicting keys, and checks ARCHITECTURE.md's invariants after every step. Subclasses choose the
storage by overriding `make_uow`.
"""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)

from domain.ledger.errors import HoldExpired, HoldNotActive, HoldNotFound, InsufficientCredits, PendingGrantClosed
from domain.ledger.model import GrantSource, PendingStatus, Price, PriceList
from domain.ledger.services import Ledger
from domain.shared.clock import ManualClock
from domain.shared.errors import DomainError, IdempotencyConflict
from tests.helpers import T0

PRICES = PriceList(
    {
        "coach.message": Price(1, "message"),
        "task.strategy": Price(25, "task"),
        "api.call": Price(3, "call"),
    }
)


class NamespacedIds:
    """Sequential ids under a namespace unique to one run, so runs can share one SQL database."""

    def __init__(self, namespace: str | None = None) -> None:
        self.namespace = namespace or uuid.uuid4().hex[:12]
        self._counter = 0

    def new_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}_{self.namespace}{self._counter:06d}"


def state_of(ledger: Ledger, uow_factory: Any, account_id: str) -> tuple[Any, ...]:
    """Everything stored for one account, comparable across adapters and across time."""
    with uow_factory() as uow:
        repo = uow.ledger
        account = repo.get_account(account_id)
        grants = sorted(repo.all_grants(account_id), key=lambda g: g.id)
        entries = sorted(repo.list_entries(account_id, limit=10**9), key=lambda e: e.seq)
        holds = sorted(repo.active_holds(account_id), key=lambda h: h.id)
        allocations = [repo.allocations_of_entry(e.id) for e in entries]
        pending = sorted(repo.pending_grants(account_id), key=lambda p: p.id)
    return account, grants, entries, holds, [sorted(a, key=lambda x: x.grant_id) for a in allocations], pending


def canonical(value: Any, namespace: str) -> str:
    """`value`'s repr with this run's ids renamed by order of first appearance.

    On a shared SQL database a sweep also expires other runs' leftover grants, drawing ids from
    this run's generator; the ids then differ from memory's while the ledger itself does not.
    """
    names: dict[str, str] = {}

    def rename(match: re.Match[str]) -> str:
        return names.setdefault(match.group(0), f"{match.group(1)}#{len(names) + 1}")

    return re.sub(rf"\b(txn|grt|hld|pgr)_{re.escape(namespace)}\d{{6}}\b", rename, repr(value))


def outcome(call: Any) -> Any:
    """A call's result, or its error code: what the differential test compares."""
    try:
        return ("ok", call())
    except DomainError as error:
        return ("error", error.code, error.details)


amounts = st.integers(min_value=1, max_value=400)
fractions = st.floats(min_value=0, max_value=1.3, allow_nan=False)
keys = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=12)


class LedgerMachine(RuleBasedStateMachine):
    """Invariants 1-6 after every step; invariant 7 lives in the differential test."""

    grants = Bundle("grants")
    holds = Bundle("holds")
    pendings = Bundle("pendings")

    def make_uow(self) -> Any:
        raise NotImplementedError

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(T0)
        self.ids = NamespacedIds()
        self.uow = self.make_uow()
        self.ledger = Ledger(uow=self.uow, clock=self.clock, ids=self.ids, prices=PRICES, default_hold_ttl=600)
        self.account = f"acc_{self.ids.namespace}"
        self.ledger.open_account(self.account)
        self.used: dict[str, tuple[str, dict[str, Any], Any]] = {}  # key -> (operation, kwargs, result)
        self.counter = 0

    # --- helpers ---------------------------------------------------------------------------
    def fresh_key(self) -> str:
        self.counter += 1
        return f"k{self.counter}"

    def snapshot(self) -> tuple[Any, ...]:
        return state_of(self.ledger, self.uow, self.account)

    def call(self, operation: str, **kwargs: Any) -> Any:
        """Call the ledger; on a domain error check nothing was written, and re-raise."""
        before = self.snapshot()
        try:
            result = getattr(self.ledger, operation)(**kwargs)
        except DomainError:
            assert self.snapshot() == before, f"{operation} failed but changed the ledger"
            raise
        key = kwargs.get("idempotency_key")
        if key is not None:
            self.used[key] = (operation, kwargs, result)
        return result

    # --- rules -----------------------------------------------------------------------------
    @initialize(target=grants, amount=st.integers(50, 600))
    def start_with_credits(self, amount: int) -> str:
        return str(self.call("grant", account_id=self.account, source="purchase", amount=amount,
                             idempotency_key=self.fresh_key()).grant_id)  # fmt: skip

    @rule(target=grants, amount=amounts, hours=st.none() | st.integers(1, 6) | st.integers(1, 24 * 40),
          source=st.sampled_from([s for s in GrantSource if s is not GrantSource.ADMIN]))  # fmt: skip
    def grant(self, amount: int, hours: int | None, source: GrantSource) -> str:
        expires = self.clock.now() + timedelta(hours=hours) if hours else None
        result = self.call("grant", account_id=self.account, source=source, amount=amount,
                           idempotency_key=self.fresh_key(), expires_at=expires)  # fmt: skip
        return str(result.grant_id)

    @rule(feature=st.sampled_from(sorted(PRICES.prices)), quantity=st.integers(1, 6))
    def charge(self, feature: str, quantity: int) -> None:
        available = self.ledger.balance(self.account).available
        cost = PRICES.cost(feature, quantity)
        try:
            result = self.call("charge", account_id=self.account, feature_key=feature, quantity=quantity,
                               idempotency_key=self.fresh_key())  # fmt: skip
        except InsufficientCredits:
            assert cost > available
            return
        assert cost <= available
        assert result.entry.amount == -cost

    @rule(target=holds, share=fractions, ttl=st.integers(1, 7200), outlive=st.booleans())
    def hold(self, share: float, ttl: int, outlive: bool) -> str:
        """Mostly holds that fit (a share of what is available), sometimes more than available;
        half of them outlive the next grant expiry, the edge where expiry must trim holds."""
        available = self.ledger.balance(self.account).available
        amount = max(1, int(available * share))
        next_expiry = self.next_expiry("grant")
        if outlive and next_expiry is not None:
            ttl += int((next_expiry - self.clock.now()).total_seconds())
        try:
            result = self.call("hold", account_id=self.account, amount=amount, ttl_seconds=ttl,
                               idempotency_key=self.fresh_key(), feature_key="coach.message")  # fmt: skip
        except InsufficientCredits:
            assert amount > available
            return "hld_unknown"
        return str(result.hold.id)

    @rule(hold=holds, fraction=st.floats(0, 1.2))
    def capture(self, hold: str, fraction: float) -> None:
        try:
            stored = self.ledger_hold(hold)
            amount = int(stored.requested * fraction) if stored else 1
            result = self.call("capture", account_id=self.account, hold_id=hold, amount=amount,
                               idempotency_key=self.fresh_key())  # fmt: skip
        except (HoldNotFound, HoldNotActive, HoldExpired):
            return
        except DomainError as error:
            assert error.code == "validation_error" and stored is not None and amount > stored.requested
            return
        charged = -result.entry.amount if result.entry else 0
        assert charged <= amount and charged <= stored.amount

    @rule(hold=consumes(holds))
    def void(self, hold: str) -> None:
        try:
            self.call("void", account_id=self.account, hold_id=hold, idempotency_key=self.fresh_key())
        except (HoldNotFound, HoldNotActive, HoldExpired):
            pass

    @rule(grant=grants, share=fractions)
    def reverse(self, grant: str, share: float) -> None:
        before = self.grant_remaining(grant)
        if self.grant_is_expired(grant):  # the call expires it first, as the sweep would
            before = 0
        amount = max(1, int(self.grant_granted(grant) * share))
        available = self.ledger.balance(self.account).available
        result = self.call("reverse_grant", grant_id=grant, amount=amount, reason="refund",
                           idempotency_key=self.fresh_key())  # fmt: skip
        taken = amount - result.shortfall
        assert taken == min(amount, before, available)  # invariant 6
        assert self.grant_remaining(grant) == before - taken

    @rule(amount=st.integers(-300, 300).filter(bool))
    def adjust(self, amount: int) -> None:
        try:
            self.call("adjust", account_id=self.account, amount=amount, reason="support", actor="admin",
                      idempotency_key=self.fresh_key())  # fmt: skip
        except InsufficientCredits:
            assert amount < 0

    # --- pending grants (issue 24): recorded, never spendable, released or voided once ---------
    # Every ledger call first expires due grants and releases due holds (housekeeping that writes
    # its own `expiry:` entries), so these rules look at what the call itself wrote: its key's entries.
    @rule(target=pendings, amount=amounts)
    def add_pending(self, amount: int) -> str:
        key = self.fresh_key()
        pending_id = self.call("add_pending_grant", account_id=self.account, source="referral", amount=amount,
                               idempotency_key=key, reference="referral:test")  # fmt: skip
        assert self.entries_of(key) == []  # nothing spendable arrived
        assert self.pending_status(pending_id) is PendingStatus.PENDING
        return str(pending_id)

    @rule(pending=pendings)
    def release_pending(self, pending: str) -> None:
        state = self.pending_status(pending)
        key = self.fresh_key()
        try:
            result = self.call("release_pending_grant", pending_id=pending, idempotency_key=key)
        except PendingGrantClosed:
            assert state is not PendingStatus.PENDING
            return
        assert state is PendingStatus.PENDING
        assert [e.amount for e in self.entries_of(key)] == [self.pending_amount(pending)]
        assert result.entry is not None and result.entry.balance_after == result.balance.balance
        assert self.pending_status(pending) is PendingStatus.RELEASED

    @rule(pending=pendings)
    def void_pending(self, pending: str) -> None:
        state = self.pending_status(pending)
        key = self.fresh_key()
        try:
            self.call("void_pending_grant", pending_id=pending, idempotency_key=key)
        except PendingGrantClosed:
            assert state is not PendingStatus.PENDING
            return
        assert state is PendingStatus.PENDING
        assert self.entries_of(key) == []  # nothing moved
        assert self.pending_status(pending) is PendingStatus.VOIDED

    def entries_of(self, key: str) -> list[Any]:
        with self.uow() as uow:
            return [e for e in uow.ledger.list_entries(self.account, limit=10**9) if e.idempotency_key == key]

    def pending_status(self, pending_id: str) -> PendingStatus:
        with self.uow() as uow:
            found = uow.ledger.get_pending_grant(pending_id)
        assert found is not None
        return found.status

    def pending_amount(self, pending_id: str) -> int:
        with self.uow() as uow:
            found = uow.ledger.get_pending_grant(pending_id)
        assert found is not None
        return found.amount

    @rule(seconds=st.integers(0, 3600) | st.integers(0, 3600 * 8) | st.integers(0, 3600 * 24 * 10))
    def advance_clock(self, seconds: int) -> None:
        self.clock.advance(seconds=seconds)

    @rule(extra=st.integers(0, 60), which=st.sampled_from(["grant", "hold"]))
    def jump_to_the_next_expiry(self, extra: int, which: str) -> None:
        """Land just past the next grant or hold expiry, where the interesting edges are."""
        when = self.next_expiry(which)
        if when is not None:
            self.clock.set(when + timedelta(seconds=extra))

    @rule(jump=st.booleans())
    def expire_grants(self, jump: bool) -> None:
        if jump:
            self.jump_to_the_next_expiry(0, "grant")
        now = self.clock.now()
        self.ledger.expire_grants()
        with self.uow() as uow:  # invariant 4
            left = [g for g in uow.ledger.open_grants(self.account) if g.expires_at and g.expires_at <= now]
        assert not left, f"expired grants still hold credits: {left}"

    @rule()
    def release_expired_holds(self) -> None:
        now = self.clock.now()
        self.ledger.release_expired_holds()
        with self.uow() as uow:
            assert not [h for h in uow.ledger.active_holds(self.account) if h.expires_at <= now]

    @precondition(lambda self: bool(self.used))
    @rule(data=st.data())
    def replay_a_key(self, data: st.DataObject) -> None:
        """Invariant 5: a replayed key changes nothing and returns the first result."""
        key = data.draw(st.sampled_from(sorted(self.used)))
        operation, kwargs, first = self.used[key]
        before = self.snapshot()
        again = getattr(self.ledger, operation)(**kwargs)
        assert again == first
        assert self.snapshot() == before

    @precondition(lambda self: bool(self.used))
    @rule(data=st.data())
    def reuse_a_key_for_another_request(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.used)))
        before = self.snapshot()
        try:
            self.ledger.charge(self.account, feature_key="task.strategy", quantity=7, idempotency_key=key)
        except IdempotencyConflict:
            pass
        else:
            raise AssertionError("a key reused for a different request was accepted")
        assert self.snapshot() == before

    # --- invariants ------------------------------------------------------------------------
    @invariant()
    def ledger_invariants_hold(self) -> None:
        assert self.ledger.check_invariants(self.account) == []

    @invariant()
    def available_is_never_negative(self) -> None:
        view = self.ledger.balance(self.account)
        assert view.balance >= 0 and view.held >= 0 and view.available >= 0

    # --- reads -----------------------------------------------------------------------------
    def ledger_hold(self, hold_id: str) -> Any:
        with self.uow() as uow:
            return uow.ledger.get_hold(hold_id)

    def next_expiry(self, which: str) -> datetime | None:
        now = self.clock.now()
        with self.uow() as uow:
            if which == "grant":
                times = [g.expires_at for g in uow.ledger.open_grants(self.account) if g.expires_at]
            else:
                times = [h.expires_at for h in uow.ledger.active_holds(self.account)]
        later = [t for t in times if t > now]
        return min(later) if later else None

    def grant_is_expired(self, grant_id: str) -> bool:
        with self.uow() as uow:
            grant = uow.ledger.get_grant(grant_id)
        assert grant is not None
        return grant.is_expired(self.clock.now())

    def grant_granted(self, grant_id: str) -> int:
        with self.uow() as uow:
            grant = uow.ledger.get_grant(grant_id)
        assert grant is not None
        return grant.granted

    def grant_remaining(self, grant_id: str) -> int:
        with self.uow() as uow:
            grant = uow.ledger.get_grant(grant_id)
        assert grant is not None
        return grant.remaining


# --- the differential test's operations -----------------------------------------------------
operations = st.lists(
    st.one_of(
        st.tuples(st.just("grant"), amounts, st.none() | st.integers(1, 24 * 40)),
        st.tuples(st.just("charge"), st.sampled_from(sorted(PRICES.prices)), st.integers(1, 6)),
        st.tuples(st.just("hold"), amounts, st.integers(1, 7200)),
        st.tuples(st.just("capture"), st.integers(0, 30), st.integers(0, 450)),
        st.tuples(st.just("void"), st.integers(0, 30)),
        st.tuples(st.just("reverse"), st.integers(0, 30), amounts),
        st.tuples(st.just("adjust"), st.integers(-300, 300).filter(bool)),
        st.tuples(st.just("advance"), st.integers(0, 3600 * 24 * 10)),
        st.tuples(st.just("expire")),
        st.tuples(st.just("release")),
        st.tuples(st.just("replay"), st.integers(0, 60)),
        st.tuples(st.just("pending"), amounts),
        st.tuples(st.just("release_pending"), st.integers(0, 30)),
        st.tuples(st.just("void_pending"), st.integers(0, 30)),
    ),
    max_size=40,
)


def run_sequence(ledger: Ledger, clock: ManualClock, account: str, steps: list[tuple[Any, ...]]) -> list[Any]:
    """Apply `steps` and return what each one gave (result or error code), for comparison."""
    made: dict[str, list[str]] = {"grants": [], "holds": [], "pendings": []}
    calls: list[tuple[str, dict[str, Any]]] = []
    results = []
    for number, (op, *args) in enumerate(steps):
        key = f"step-{number}"
        call = _call_for(ledger, clock, account, op, args, key, made, calls)
        result = outcome(call)
        if result[0] == "ok" and op == "grant":
            made["grants"].append(result[1].grant_id)
        if result[0] == "ok" and op == "hold":
            made["holds"].append(result[1].hold.id)
        if result[0] == "ok" and op == "pending":
            made["pendings"].append(result[1])
        results.append(result)
    return results


def _pick(items: list[str], index: int) -> str:
    return items[index % len(items)] if items else "missing"


def _call_for(
    ledger: Ledger,
    clock: ManualClock,
    account: str,
    op: str,
    args: list[Any],
    key: str,
    made: dict[str, list[str]],
    calls: list[tuple[str, dict[str, Any]]],
) -> Any:
    if op == "advance":
        return lambda: clock.advance(seconds=args[0])
    if op == "expire":  # counts differ on a shared database: compare the state, not the count
        return lambda: _discard(ledger.expire_grants)
    if op == "release":
        return lambda: _discard(ledger.release_expired_holds)
    if op == "replay":
        if not calls:
            return lambda: None
        name, kwargs = calls[args[0] % len(calls)]
        return lambda: getattr(ledger, name)(**kwargs)
    name, kwargs = _kwargs(op, args, account, key, clock.now(), made)
    calls.append((name, kwargs))
    return lambda: getattr(ledger, name)(**kwargs)


def _kwargs(
    op: str, args: list[Any], account: str, key: str, now: datetime, made: dict[str, list[str]]
) -> tuple[str, dict[str, Any]]:
    mine = dict(account_id=account, idempotency_key=key)
    if op == "grant":
        expires = now + timedelta(hours=args[1]) if args[1] else None
        return "grant", dict(mine, source="promo", amount=args[0], expires_at=expires)
    if op == "charge":
        return "charge", dict(mine, feature_key=args[0], quantity=args[1])
    if op == "hold":
        return "hold", dict(mine, amount=args[0], ttl_seconds=args[1])
    if op == "capture":
        return "capture", dict(mine, hold_id=_pick(made["holds"], args[0]), amount=args[1])
    if op == "void":
        return "void", dict(mine, hold_id=_pick(made["holds"], args[0]))
    if op == "reverse":
        grant = _pick(made["grants"], args[0])
        return "reverse_grant", dict(grant_id=grant, amount=args[1], reason="refund", idempotency_key=key)
    if op == "adjust":
        return "adjust", dict(mine, amount=args[0], reason="fix", actor="admin")
    if op == "pending":
        return "add_pending_grant", dict(mine, source="referral", amount=args[0], reference="referral:x")
    if op in ("release_pending", "void_pending"):
        name = "release_pending_grant" if op == "release_pending" else "void_pending_grant"
        return name, dict(pending_id=_pick(made["pendings"], args[0]), idempotency_key=key)
    raise ValueError(op)


def _discard(sweep: Any) -> None:
    sweep()
