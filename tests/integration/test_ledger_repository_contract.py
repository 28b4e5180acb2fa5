"""The LedgerRepository contract: the same tests against memory, SQLite and MariaDB.

Every test makes its own accounts with unique ids, so a shared MariaDB database needs no cleanup.
Tests of the global sweeps (`accounts_with_expired_*`) run inside one unit of work that is never
committed, with ids that sort before anything else, so rows left by other runs cannot interfere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any

import pytest
from sqlalchemy import text

from domain.ledger.model import (
    Account,
    Allocation,
    Entry,
    EntryKind,
    Grant,
    GrantSource,
    Hold,
    HoldStatus,
    IdempotencyRecord,
)
from domain.shared.errors import DuplicateRecord, TransientError
from tests.fixtures.settings import T0, unique

UowFactory = Callable[[], Any]
NOW = T0.replace(microsecond=123456)
JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)
US = timedelta(microseconds=1)


@pytest.fixture
def uow(backend_uow: UowFactory) -> UowFactory:
    """The root conftest's backend mechanism (memory, SQLite, MariaDB), under this module's name."""
    return backend_uow


# --- builders ---------------------------------------------------------------------------------
def new_account(account_id: str | None = None, **kw: Any) -> Account:
    return Account(id=account_id or unique("acct"), created_at=NOW, **kw)


def new_grant(account_id: str, **kw: Any) -> Grant:
    values: dict[str, Any] = dict(source=GrantSource.PURCHASE, granted=100, remaining=100, created_at=NOW)
    values.update(kw)
    return Grant(id=unique("grt"), account_id=account_id, **values)


def new_entry(account_id: str, seq: int, **kw: Any) -> Entry:
    values: dict[str, Any] = dict(kind=EntryKind.CHARGE, amount=-1, balance_after=0, created_at=NOW)
    values.update(kw)
    return Entry(id=unique("ent"), account_id=account_id, seq=seq, idempotency_key=unique("key"), **values)


def new_hold(account_id: str, **kw: Any) -> Hold:
    values: dict[str, Any] = dict(
        requested=5,
        amount=5,
        status=HoldStatus.ACTIVE,
        created_at=NOW,
        expires_at=NOW + timedelta(minutes=15),
    )
    values.update(kw)
    return Hold(id=unique("hld"), account_id=account_id, idempotency_key=unique("key"), **values)


def put(repo: Any, *records: Any) -> None:
    """Add each record with the repository method for its type."""
    adders: dict[type, Callable[[Any], None]] = {
        Account: repo.add_account,
        Grant: repo.add_grant,
        Entry: repo.add_entry,
        Hold: repo.add_hold,
        IdempotencyRecord: repo.add_idempotency,
    }
    for record in records:
        adders[type(record)](record)


def add_all(uow: UowFactory, *records: Any) -> None:
    with uow() as work:
        put(work.ledger, *records)
        work.commit()


def store(uow: UowFactory, write: Callable[[Any], None]) -> None:
    with uow() as work:
        write(work.ledger)
        work.commit()


def read(uow: UowFactory, query: Callable[[Any], Any]) -> Any:
    with uow() as work:
        return query(work.ledger)


def assert_utc(value: datetime | None) -> None:
    assert value is not None and value.tzinfo is not None and value.utcoffset() == timedelta(0)


# --- round trips ------------------------------------------------------------------------------
def test_an_account_round_trips_with_microseconds_in_aware_utc(uow: UowFactory) -> None:
    account = new_account(balance=40, held=5, last_seq=3)
    add_all(uow, account)

    loaded = read(uow, lambda repo: repo.get_account(account.id))

    assert loaded == account
    assert loaded.created_at.microsecond == 123456
    assert_utc(loaded.created_at)


def test_a_grant_round_trips_with_every_field(uow: UowFactory) -> None:
    account = new_account()
    add_all(uow, account)
    grant = new_grant(
        account.id,
        source=GrantSource.REFUND_RESTORE,
        granted=30,
        remaining=7,
        expires_at=NOW + timedelta(days=30, microseconds=1),
        reference="pi_123",
    )
    add_all(uow, grant)

    loaded = read(uow, lambda repo: repo.get_grant(grant.id))

    assert loaded == grant
    assert loaded.source is GrantSource.REFUND_RESTORE
    assert_utc(loaded.expires_at)
    assert_utc(loaded.created_at)


def test_an_entry_and_its_allocations_round_trip(uow: UowFactory) -> None:
    account = new_account()
    first, second = new_grant(account.id), new_grant(account.id)
    add_all(uow, account, first, second)
    entry = new_entry(
        account.id,
        1,
        kind=EntryKind.CHARGE,
        amount=-12,
        balance_after=188,
        feature_key="coach.message",
        reference="msg_1",
        hold_id="hld_x",
        grant_id=None,
    )
    allocations = [Allocation(entry.id, first.id, 10), Allocation(entry.id, second.id, 2)]

    store(uow, lambda repo: repo.add_entry(entry, allocations))

    entries = read(uow, lambda repo: repo.list_entries(account.id, limit=10))
    stored_allocations = read(uow, lambda repo: repo.allocations_of_entry(entry.id))
    assert entries == [entry]
    assert entries[0].kind is EntryKind.CHARGE
    assert_utc(entries[0].created_at)
    by_grant = attrgetter("grant_id")  # the port promises no order
    assert sorted(stored_allocations, key=by_grant) == sorted(allocations, key=by_grant)


def test_an_entry_without_allocations_has_none(uow: UowFactory) -> None:
    account = new_account()
    entry = new_entry(account.id, 1, kind=EntryKind.GRANT, amount=5, balance_after=5)
    add_all(uow, account, entry)

    assert read(uow, lambda repo: repo.allocations_of_entry(entry.id)) == []


def test_a_hold_round_trips_before_and_after_it_is_finished(uow: UowFactory) -> None:
    account = new_account()
    hold = new_hold(account.id, feature_key="task.strategy", reference="task_1")
    add_all(uow, account, hold)
    assert read(uow, lambda repo: repo.get_hold(hold.id)) == hold

    finished = replace(hold, status=HoldStatus.CAPTURED, captured=3, amount=0, finished_at=NOW + US)
    store(uow, lambda repo: repo.update_hold(finished))

    loaded = read(uow, lambda repo: repo.get_hold(finished.id))
    assert loaded == finished
    assert loaded.status is HoldStatus.CAPTURED
    assert_utc(loaded.finished_at)
    assert loaded.finished_at.microsecond == 123457


def test_an_idempotency_record_round_trips_a_nested_result(uow: UowFactory) -> None:
    account = new_account()
    add_all(uow, account)
    result = {
        "entry": {"id": "ent_1", "amount": -3, "feature_key": None},
        "balance": [10, 2, 8],
        "flags": {"replayed": False, "nested": {"deep": [1, {"x": "é"}]}},
    }
    record = IdempotencyRecord(account.id, unique("key"), "charge", "f" * 64, result, NOW)
    add_all(uow, record)

    loaded = read(uow, lambda repo: repo.get_idempotency(account.id, record.key))

    assert loaded == record
    assert loaded.result == result
    assert_utc(loaded.created_at)


def test_updates_of_accounts_and_grants_are_stored(uow: UowFactory) -> None:
    account = new_account(balance=10)
    grant = new_grant(account.id, granted=10, remaining=10)
    add_all(uow, account, grant)

    def spend(repo: Any) -> None:
        repo.update_account(replace(account, balance=4, held=1, last_seq=2))
        repo.update_grant(replace(grant, remaining=4))

    store(uow, spend)

    expected = replace(account, balance=4, held=1, last_seq=2)
    assert read(uow, lambda repo: repo.get_account(account.id)) == expected
    assert read(uow, lambda repo: repo.get_grant(grant.id)).remaining == 4


@pytest.mark.parametrize("changed", [1, 2], ids=["one grant", "two grants"])
def test_an_account_updated_with_its_grants_stores_all_of_them(uow: UowFactory, changed: int) -> None:
    """One changed grant takes MariaDB's single multi-table UPDATE; more take one UPDATE each.
    Either way every field written is stored, and a grant not passed is left alone."""
    account = new_account(balance=30)
    grants = [new_grant(account.id, granted=10, remaining=10) for _ in range(3)]
    add_all(uow, account, *grants)
    later = NOW + timedelta(days=9)
    updated = [replace(g, remaining=3, expires_at=later, reference=unique("ref")) for g in grants[:changed]]

    expected = replace(account, balance=30 - 7 * changed, held=2, last_seq=changed)

    store(uow, lambda repo: repo.update_account(expected, updated))

    assert read(uow, lambda repo: repo.get_account(account.id)) == expected
    for grant in updated:
        assert read(uow, lambda repo, g=grant: repo.get_grant(g.id)) == grant
    for grant in grants[changed:]:
        assert read(uow, lambda repo, g=grant: repo.get_grant(g.id)) == grant


def test_unknown_ids_give_none(uow: UowFactory) -> None:
    missing = unique("missing")

    assert read(uow, lambda repo: repo.get_account(missing)) is None
    assert read(uow, lambda repo: repo.get_account_for_update(missing)) is None
    assert read(uow, lambda repo: repo.get_grant(missing)) is None
    assert read(uow, lambda repo: repo.get_hold(missing)) is None
    assert read(uow, lambda repo: repo.get_idempotency(missing, "k")) is None


# --- copies -------------------------------------------------------------------------------------
def test_changing_a_returned_object_without_update_changes_nothing(uow: UowFactory) -> None:
    account = new_account(balance=10)
    grant = new_grant(account.id, granted=10, remaining=10)
    hold = new_hold(account.id)
    add_all(uow, account, grant, hold)

    def tamper(repo: Any) -> None:
        repo.get_account_for_update(account.id).balance = 999
        repo.get_account(account.id).held = 7
        repo.get_grant(grant.id).remaining = 0
        repo.open_grants(account.id)[0].remaining = 1
        repo.get_hold(hold.id).status = HoldStatus.VOIDED
        repo.active_holds(account.id)[0].amount = 1

    store(uow, tamper)

    assert read(uow, lambda repo: repo.get_account(account.id)) == account
    assert read(uow, lambda repo: repo.get_grant(grant.id)) == grant
    assert read(uow, lambda repo: repo.get_hold(hold.id)) == hold


def test_changing_an_object_after_adding_it_changes_nothing(uow: UowFactory) -> None:
    account = new_account(balance=10)
    grant = new_grant(account.id, granted=10, remaining=10)
    hold = new_hold(account.id)

    def write(repo: Any) -> None:
        put(repo, account, grant, hold)
        account.balance, grant.remaining, hold.amount = 1, 1, 1

    store(uow, write)

    assert read(uow, lambda repo: repo.get_account(account.id)).balance == 10
    assert read(uow, lambda repo: repo.get_grant(grant.id)).remaining == 10
    assert read(uow, lambda repo: repo.get_hold(hold.id)).amount == 5


# --- transactions -------------------------------------------------------------------------------
def test_leaving_a_unit_of_work_without_commit_discards_its_writes(uow: UowFactory) -> None:
    account = new_account()
    with uow() as work:
        work.ledger.add_account(account)
        work.ledger.add_entry(new_entry(account.id, 1))

    assert read(uow, lambda repo: repo.get_account(account.id)) is None
    assert read(uow, lambda repo: repo.list_entries(account.id, limit=5)) == []


def test_rollback_discards_writes_made_after_the_last_commit(uow: UowFactory) -> None:
    account = new_account(balance=5)
    with uow() as work:
        work.ledger.add_account(account)
        work.commit()
        work.ledger.update_account(replace(account, balance=0))
        work.ledger.add_grant(new_grant(account.id))
        work.rollback()

    assert read(uow, lambda repo: repo.get_account(account.id)).balance == 5
    assert read(uow, lambda repo: repo.all_grants(account.id)) == []


def test_an_error_inside_a_unit_of_work_rolls_it_back(uow: UowFactory) -> None:
    account = new_account()
    with pytest.raises(RuntimeError), uow() as work:
        work.ledger.add_account(account)
        raise RuntimeError("boom")

    assert read(uow, lambda repo: repo.get_account(account.id)) is None


# --- uniqueness ---------------------------------------------------------------------------------
def test_a_second_entry_with_the_same_idempotency_key_is_refused(uow: UowFactory) -> None:
    account = new_account()
    add_all(uow, account)
    first = new_entry(account.id, 1)
    add_all(uow, first)

    with pytest.raises(DuplicateRecord), uow() as work:  # raised by the write, or by the commit it left with
        work.ledger.add_entry(replace(new_entry(account.id, 2), idempotency_key=first.idempotency_key))
        work.commit()

    assert read(uow, lambda repo: repo.list_entries(account.id, limit=5)) == [first]


def test_the_same_idempotency_key_is_allowed_on_another_account(uow: UowFactory) -> None:
    one, two = new_account(), new_account()
    add_all(uow, one, two)
    first = new_entry(one.id, 1)
    other = replace(new_entry(two.id, 1), idempotency_key=first.idempotency_key)

    add_all(uow, first, other)

    assert read(uow, lambda repo: repo.list_entries(two.id, limit=5)) == [other]


def test_a_second_entry_with_the_same_seq_is_refused(uow: UowFactory) -> None:
    account = new_account()
    add_all(uow, account, new_entry(account.id, 1))

    with pytest.raises(DuplicateRecord), uow() as work:
        work.ledger.add_entry(new_entry(account.id, 1))
        work.commit()


@pytest.mark.parametrize("what", ["account", "hold key", "idempotency record"])
def test_other_duplicates_are_refused(uow: UowFactory, what: str) -> None:
    account = new_account()
    add_all(uow, account)
    hold = new_hold(account.id)
    record = IdempotencyRecord(account.id, unique("key"), "charge", "f", {}, NOW)
    add_all(uow, hold, record)
    again: dict[str, Callable[[Any], None]] = {
        "account": lambda repo: repo.add_account(new_account(account.id)),
        "hold key": lambda repo: repo.add_hold(replace(hold, id=unique("hld"))),
        "idempotency record": lambda repo: repo.add_idempotency(replace(record, operation="hold")),
    }

    with pytest.raises(DuplicateRecord), uow() as work:
        again[what](work.ledger)
        work.commit()


# --- listings -----------------------------------------------------------------------------------
KINDS = [
    EntryKind.GRANT,
    EntryKind.CHARGE,
    EntryKind.CHARGE,
    EntryKind.REFUND,
    EntryKind.CHARGE,
    EntryKind.EXPIRY,
    EntryKind.CHARGE,
]


@pytest.fixture
def seven_entries(uow: UowFactory) -> tuple[str, list[Entry]]:
    account, neighbour = new_account(), new_account()
    entries = [new_entry(account.id, seq, kind=kind) for seq, kind in enumerate(KINDS, start=1)]
    add_all(uow, account, neighbour, *entries, new_entry(neighbour.id, 8))
    return account.id, entries


def seqs(entries: list[Entry]) -> list[int]:
    return [e.seq for e in entries]


def test_entries_come_newest_first_one_page_at_a_time(uow: UowFactory, seven_entries: Any) -> None:
    account_id, _ = seven_entries

    first = read(uow, lambda repo: repo.list_entries(account_id, limit=3))
    second = read(uow, lambda repo: repo.list_entries(account_id, limit=3, before_seq=first[-1].seq))
    last = read(uow, lambda repo: repo.list_entries(account_id, limit=3, before_seq=second[-1].seq))

    assert (seqs(first), seqs(second), seqs(last)) == ([7, 6, 5], [4, 3, 2], [1])


def test_entries_filtered_by_kind_page_by_seq(uow: UowFactory, seven_entries: Any) -> None:
    account_id, _ = seven_entries

    first = read(uow, lambda repo: repo.list_entries(account_id, limit=2, kind=EntryKind.CHARGE))
    rest = read(uow, lambda repo: repo.list_entries(account_id, limit=5, kind=EntryKind.CHARGE, before_seq=5))

    assert seqs(first) == [7, 5]
    assert seqs(rest) == [3, 2]
    assert read(uow, lambda repo: repo.list_entries(account_id, limit=5, kind=EntryKind.REVERSAL)) == []


def test_a_page_before_the_first_seq_is_empty(uow: UowFactory, seven_entries: Any) -> None:
    account_id, entries = seven_entries

    assert read(uow, lambda repo: repo.list_entries(account_id, limit=3, before_seq=1)) == []
    assert read(uow, lambda repo: repo.list_entries(account_id, limit=1, before_seq=99)) == [entries[-1]]


def test_usage_sums_charges_by_feature_inside_the_month_window(uow: UowFactory) -> None:
    account = new_account()
    add_all(uow, account)
    rows = [
        (EntryKind.CHARGE, -2, "coach.message", JAN),  # the first instant of the window counts
        (EntryKind.CHARGE, -3, "coach.message", FEB - US),  # so does the last microsecond
        (EntryKind.CHARGE, -25, "task.strategy", NOW),
        (EntryKind.CHARGE, -4, None, NOW),  # no feature key -> ""
        (EntryKind.CHARGE, -100, "coach.message", FEB),  # the end is excluded
        (EntryKind.CHARGE, -100, "coach.message", JAN - US),  # before the start
        (EntryKind.REFUND, 7, "coach.message", NOW),  # only charges count
        (EntryKind.EXPIRY, -9, None, NOW),
    ]
    entries = [
        new_entry(account.id, seq, kind=kind, amount=amount, feature_key=feature, created_at=at)
        for seq, (kind, amount, feature, at) in enumerate(rows, start=1)
    ]
    add_all(uow, *entries)

    usage = read(uow, lambda repo: repo.usage_by_feature(account.id, JAN, FEB))

    assert usage == {"coach.message": 5, "task.strategy": 25, "": 4}
    assert all(type(value) is int for value in usage.values())


def test_usage_of_a_whole_month_and_of_any_other_window_agree_with_the_entries(uow: UowFactory) -> None:
    """A calendar month may be answered from a rollup (SQL), any other window from the entries:
    both must give what the entries say, across month ends and for several accounts."""
    account, other = new_account(), new_account()
    add_all(uow, account, other)
    rows = [
        (account, -2, "coach.message", JAN),
        (account, -3, "coach.message", JAN + timedelta(days=3)),
        (account, -5, None, FEB - US),
        (account, -7, "coach.message", FEB),
        (account, -11, "task.strategy", FEB),
        (other, -13, "coach.message", JAN + timedelta(days=1)),
    ]
    seqs: dict[str, int] = {}
    entries = []
    for owner, amount, feature, at in rows:
        seqs[owner.id] = seqs.get(owner.id, 0) + 1
        entries.append(new_entry(owner.id, seqs[owner.id], amount=amount, feature_key=feature, created_at=at))
    add_all(uow, *entries)
    march = datetime(2026, 3, 1, tzinfo=UTC)

    assert read(uow, lambda repo: repo.usage_by_feature(account.id, JAN, FEB)) == {"coach.message": 5, "": 5}
    assert read(uow, lambda repo: repo.usage_by_feature(account.id, FEB, march)) == {
        "coach.message": 7,
        "task.strategy": 11,
    }
    assert read(uow, lambda repo: repo.usage_by_feature(other.id, JAN, FEB)) == {"coach.message": 13}
    after_the_first_day = read(uow, lambda repo: repo.usage_by_feature(account.id, JAN + timedelta(days=1), FEB))
    assert after_the_first_day == {"coach.message": 3, "": 5}
    assert read(uow, lambda repo: repo.usage_by_feature(account.id, JAN, march)) == {
        "coach.message": 12,
        "": 5,
        "task.strategy": 11,
    }


def test_lock_account_gives_the_account_and_its_open_grants_in_one_call(uow: UowFactory) -> None:
    account = new_account(balance=150, last_seq=2)
    spent = new_grant(account.id, granted=50, remaining=0)
    open_ones = [new_grant(account.id, remaining=100), new_grant(account.id, granted=60, remaining=50)]
    other = new_account()
    add_all(uow, account, other, spent, *open_ones, new_grant(other.id))

    locked = read(uow, lambda repo: repo.lock_account(account.id))

    assert locked is not None
    found, grants = locked
    assert found == account
    assert sorted(grants, key=attrgetter("id")) == sorted(open_ones, key=attrgetter("id"))
    assert read(uow, lambda repo: repo.lock_account("missing")) is None
    unlocked = read(uow, lambda repo: repo.read_account(account.id))
    assert unlocked is not None and unlocked[0] == account
    assert sorted(unlocked[1], key=attrgetter("id")) == sorted(open_ones, key=attrgetter("id"))
    assert read(uow, lambda repo: repo.read_account("missing")) is None


def test_lock_account_of_an_account_without_open_grants(uow: UowFactory) -> None:
    account = new_account()
    add_all(uow, account, new_grant(account.id, granted=5, remaining=0))

    assert read(uow, lambda repo: repo.lock_account(account.id)) == (account, [])


def test_usage_of_a_month_without_charges_is_empty(uow: UowFactory) -> None:
    account = new_account()
    add_all(uow, account)

    assert read(uow, lambda repo: repo.usage_by_feature(account.id, JAN, FEB)) == {}


def test_open_grants_are_those_with_credits_left_and_all_grants_include_spent_ones(uow: UowFactory) -> None:
    account, other = new_account(), new_account()
    add_all(uow, account, other)
    spent = new_grant(account.id, remaining=0)
    partly = new_grant(account.id, remaining=40)
    untouched = new_grant(account.id, expires_at=NOW + timedelta(days=1))
    add_all(uow, spent, partly, untouched, new_grant(other.id))

    open_ids = {g.id for g in read(uow, lambda repo: repo.open_grants(account.id))}
    all_ids = {g.id for g in read(uow, lambda repo: repo.all_grants(account.id))}

    assert open_ids == {partly.id, untouched.id}
    assert all_ids == {spent.id, partly.id, untouched.id}


def test_active_holds_leave_out_finished_ones(uow: UowFactory) -> None:
    account = new_account()
    add_all(uow, account)
    active = new_hold(account.id)
    finished = [
        new_hold(account.id, status=status) for status in (HoldStatus.CAPTURED, HoldStatus.VOIDED, HoldStatus.EXPIRED)
    ]
    add_all(uow, active, *finished)

    assert read(uow, lambda repo: repo.active_holds(account.id)) == [active]


# --- sweeps (uncommitted, so the shared database stays clean) ------------------------------------
def sweep_accounts(count: int) -> list[Account]:
    """Ids that sort before any real id, unique to this test run."""
    run = unique("")
    return [new_account(f"!{run}-{i}") for i in range(count)]


def test_accounts_with_expired_grants_are_those_with_credits_left_past_expiry(uow: UowFactory) -> None:
    at_expiry, two_expired, spent, future, never = accounts = sweep_accounts(5)
    grants = [
        new_grant(at_expiry.id, expires_at=NOW),  # expires_at == now counts as expired
        new_grant(two_expired.id, expires_at=NOW - timedelta(days=1)),
        new_grant(two_expired.id, expires_at=NOW - timedelta(days=2), remaining=1),
        new_grant(spent.id, expires_at=NOW - timedelta(days=1), remaining=0),
        new_grant(future.id, expires_at=NOW + US),
        new_grant(never.id, expires_at=None),
    ]
    with uow() as work:
        put(work.ledger, *accounts, *grants)

        found = work.ledger.accounts_with_expired_grants(NOW, limit=1000)

    mine = set(found) & {a.id for a in accounts}
    assert mine == {at_expiry.id, two_expired.id}
    assert len(found) == len(set(found))  # distinct


def test_accounts_with_expired_holds_are_those_with_active_holds_past_expiry(uow: UowFactory) -> None:
    at_expiry, two_expired, captured, voided, future = accounts = sweep_accounts(5)
    holds = [
        new_hold(at_expiry.id, expires_at=NOW),
        new_hold(two_expired.id, expires_at=NOW - timedelta(minutes=1)),
        new_hold(two_expired.id, expires_at=NOW - timedelta(minutes=2)),
        new_hold(captured.id, expires_at=NOW - timedelta(minutes=1), status=HoldStatus.CAPTURED),
        new_hold(voided.id, expires_at=NOW - timedelta(minutes=1), status=HoldStatus.VOIDED),
        new_hold(future.id, expires_at=NOW + US),
    ]
    with uow() as work:
        put(work.ledger, *accounts, *holds)

        found = work.ledger.accounts_with_expired_holds(NOW, limit=1000)

    mine = set(found) & {a.id for a in accounts}
    assert mine == {at_expiry.id, two_expired.id}
    assert len(found) == len(set(found))  # distinct


@pytest.mark.parametrize("sweep", ["grants", "holds"])
def test_expired_sweeps_return_at_most_limit_distinct_accounts(uow: UowFactory, sweep: str) -> None:
    accounts = sweep_accounts(4)
    past = NOW - timedelta(hours=1)
    with uow() as work:
        for account in accounts:
            work.ledger.add_account(account)
            for _ in range(2):
                if sweep == "grants":
                    work.ledger.add_grant(new_grant(account.id, expires_at=past))
                else:
                    work.ledger.add_hold(new_hold(account.id, expires_at=past))
        query = getattr(work.ledger, f"accounts_with_expired_{sweep}")

        first_three = query(NOW, limit=3)  # both adapters return the smallest ids first

    assert first_three == [a.id for a in accounts[:3]]


# --- locking (MariaDB only: SQLite and memory serialise whole units of work) ---------------------
NOWAIT_LOCK = text("SELECT id FROM ledger_accounts WHERE id = :id FOR UPDATE NOWAIT")


@pytest.fixture
def locked_account(mysql_engine: Any) -> Iterator[Account]:
    """An account whose row a unit of work holds locked (get_account_for_update) during the test."""
    from adapters.sql.uow import SqlUnitOfWorkFactory

    uow = SqlUnitOfWorkFactory(mysql_engine)
    account = new_account(balance=3)
    add_all(uow, account)
    with uow() as holder:
        assert holder.ledger.get_account_for_update(account.id) == account
        yield account


@pytest.mark.mysql
def test_a_locked_account_refuses_a_nowait_lock_from_another_connection(
    mysql_engine: Any, locked_account: Account
) -> None:
    from adapters.sql.db import Db

    with mysql_engine.connect() as other, pytest.raises(TransientError):
        Db(other).execute(NOWAIT_LOCK, {"id": locked_account.id})


@pytest.mark.mysql
def test_a_second_locker_times_out_with_a_transient_error_but_plain_reads_go_through(
    mysql_engine: Any, locked_account: Account
) -> None:
    from adapters.sql.db import Db
    from adapters.sql.ledger import SqlLedgerRepository

    with mysql_engine.connect() as other:
        try:
            other.exec_driver_sql("SET SESSION innodb_lock_wait_timeout = 1")
            repo = SqlLedgerRepository(Db(other))
            assert repo.get_account(locked_account.id) == locked_account
            with pytest.raises(TransientError):
                repo.get_account_for_update(locked_account.id)
        finally:
            other.invalidate()  # never hand the short timeout back to the pool


@pytest.mark.mysql
def test_the_lock_is_released_when_the_unit_of_work_commits(mysql_engine: Any) -> None:
    from adapters.sql.db import Db
    from adapters.sql.uow import SqlUnitOfWorkFactory

    uow: UowFactory = SqlUnitOfWorkFactory(mysql_engine)
    account = new_account(balance=3)
    add_all(uow, account)
    with uow() as holder:
        holder.ledger.get_account_for_update(account.id)
        holder.ledger.update_account(replace(account, balance=2))
        holder.commit()

    with mysql_engine.connect() as other:
        assert Db(other).execute(NOWAIT_LOCK, {"id": account.id}).scalar_one() == account.id
        other.rollback()
