"""The ledger's rules, one behaviour per test, on the memory adapter."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.memory.uow import MemoryUnitOfWorkFactory
from domain.ledger.errors import (
    HoldExpired,
    HoldNotActive,
    HoldNotFound,
    InsufficientCredits,
    SweepIncomplete,
    UnknownFeature,
)
from domain.ledger.model import EntryKind
from domain.ledger.services import Ledger, scoped_key
from domain.shared.clock import ManualClock
from domain.shared.errors import IdempotencyConflict, InvalidInput
from tests.fixtures.ledger import PRICES, NamespacedIds
from tests.fixtures.settings import T0

ACC = "acc_1"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def uow() -> MemoryUnitOfWorkFactory:
    return MemoryUnitOfWorkFactory()


@pytest.fixture
def ledger(uow: MemoryUnitOfWorkFactory, clock: ManualClock) -> Ledger:
    ledger = Ledger(uow=uow, clock=clock, ids=NamespacedIds("u"), prices=PRICES, default_hold_ttl=60)
    ledger.open_account(ACC)
    return ledger


def give(ledger: Ledger, amount: int, key: str, days: int | None = None, clock: ManualClock | None = None) -> str:
    expires = (clock or ManualClock(T0)).now() + timedelta(days=days) if days else None
    result = ledger.grant(ACC, source="promo", amount=amount, idempotency_key=key, expires_at=expires)
    assert result.grant_id
    return result.grant_id


def remaining(ledger: Ledger) -> dict[str, int]:
    return {g.id: g.remaining for g in ledger.balance(ACC).grants}


def test_charge_takes_from_the_soonest_expiring_grant_first(ledger: Ledger, clock: ManualClock) -> None:
    forever = give(ledger, 10, "g1")
    later = give(ledger, 10, "g2", days=30, clock=clock)
    soon = give(ledger, 10, "g3", days=2, clock=clock)
    ledger.charge(ACC, feature_key="api.call", quantity=4, idempotency_key="c1")  # 12 credits
    assert remaining(ledger) == {later: 8, forever: 10}
    assert soon not in remaining(ledger)


def test_among_grants_that_never_expire_the_oldest_is_used_first(ledger: Ledger, clock: ManualClock) -> None:
    first = give(ledger, 5, "g1")
    clock.advance(seconds=1)
    second = give(ledger, 5, "g2")
    ledger.charge(ACC, feature_key="coach.message", quantity=3, idempotency_key="c1")
    assert remaining(ledger) == {first: 2, second: 5}


def test_a_charge_larger_than_the_available_balance_is_refused_and_writes_nothing(ledger: Ledger) -> None:
    give(ledger, 5, "g1")
    with pytest.raises(InsufficientCredits) as refused:
        ledger.charge(ACC, feature_key="api.call", quantity=2, idempotency_key="c1")
    assert refused.value.details == {"needed": 6, "available": 5}
    assert str(refused.value) == "Need 6 credits, 5 available."
    assert ledger.balance(ACC).balance == 5
    assert len(ledger.transactions(ACC).items) == 1
    ledger.grant(ACC, source="promo", amount=1, idempotency_key="g2")
    assert ledger.charge(ACC, feature_key="api.call", quantity=2, idempotency_key="c1").balance.balance == 0


def test_an_unknown_feature_is_a_validation_error(ledger: Ledger) -> None:
    with pytest.raises(UnknownFeature):
        ledger.charge(ACC, feature_key="nope", idempotency_key="c1")


def test_a_replayed_key_returns_the_first_result_and_changes_nothing(ledger: Ledger) -> None:
    give(ledger, 10, "g1")
    first = ledger.charge(ACC, feature_key="api.call", idempotency_key="c1")
    again = ledger.charge(ACC, feature_key="api.call", idempotency_key="c1")
    assert again == first
    assert ledger.balance(ACC).balance == 7


def test_a_key_reused_with_other_arguments_is_a_conflict(ledger: Ledger) -> None:
    give(ledger, 10, "g1")
    ledger.charge(ACC, feature_key="api.call", idempotency_key="c1")
    with pytest.raises(IdempotencyConflict):
        ledger.charge(ACC, feature_key="api.call", quantity=2, idempotency_key="c1")
    with pytest.raises(IdempotencyConflict):
        ledger.hold(ACC, amount=1, idempotency_key="c1")


def test_held_credits_are_not_available_to_charges(ledger: Ledger) -> None:
    give(ledger, 10, "g1")
    ledger.hold(ACC, amount=8, idempotency_key="h1")
    with pytest.raises(InsufficientCredits):
        ledger.charge(ACC, feature_key="api.call", idempotency_key="c1")
    view = ledger.balance(ACC)
    assert (view.balance, view.held, view.available) == (10, 8, 2)


def test_a_hold_larger_than_is_available_is_refused_and_holds_nothing(ledger: Ledger) -> None:
    give(ledger, 10, "g1")
    ledger.hold(ACC, amount=4, idempotency_key="h1")
    with pytest.raises(InsufficientCredits) as refused:
        ledger.hold(ACC, amount=7, idempotency_key="h2")
    assert (refused.value.details["needed"], refused.value.details["available"]) == (7, 6)
    view = ledger.balance(ACC)
    assert (view.balance, view.held, view.available) == (10, 4, 6)
    assert ledger.hold(ACC, amount=6, idempotency_key="h3").balance.available == 0


def test_capture_charges_the_actual_amount_and_releases_the_rest(ledger: Ledger) -> None:
    give(ledger, 10, "g1")
    hold = ledger.hold(ACC, amount=8, idempotency_key="h1", feature_key="coach.message").hold
    assert hold is not None
    result = ledger.capture(ACC, hold.id, amount=3, idempotency_key="cap1")
    assert result.entry is not None and result.entry.amount == -3
    assert result.entry.kind is EntryKind.CHARGE and result.entry.feature_key == "coach.message"
    assert (result.balance.balance, result.balance.held, result.balance.available) == (7, 0, 7)


def test_a_capture_above_the_hold_is_refused(ledger: Ledger) -> None:
    give(ledger, 10, "g1")
    hold = ledger.hold(ACC, amount=4, idempotency_key="h1").hold
    assert hold is not None
    with pytest.raises(InvalidInput):
        ledger.capture(ACC, hold.id, amount=5, idempotency_key="cap1")


def test_a_voided_hold_cannot_be_captured(ledger: Ledger) -> None:
    give(ledger, 10, "g1")
    hold = ledger.hold(ACC, amount=4, idempotency_key="h1").hold
    assert hold is not None
    ledger.void(ACC, hold.id, idempotency_key="v1")
    with pytest.raises(HoldNotActive):
        ledger.capture(ACC, hold.id, amount=1, idempotency_key="cap1")
    assert ledger.balance(ACC).available == 10


def test_another_accounts_hold_is_not_found(ledger: Ledger) -> None:
    ledger.open_account("acc_2")
    ledger.grant("acc_2", source="promo", amount=5, idempotency_key="g")
    hold = ledger.hold("acc_2", amount=2, idempotency_key="h").hold
    assert hold is not None
    with pytest.raises(HoldNotFound):
        ledger.void(ACC, hold.id, idempotency_key="v")


def test_a_hold_past_its_ttl_is_released_and_cannot_be_captured(ledger: Ledger, clock: ManualClock) -> None:
    give(ledger, 10, "g1")
    hold = ledger.hold(ACC, amount=6, idempotency_key="h1", ttl_seconds=30).hold
    assert hold is not None
    clock.advance(seconds=31)
    assert ledger.balance(ACC).available == 10
    assert ledger.release_expired_holds() == 1
    with pytest.raises(HoldExpired):
        ledger.capture(ACC, hold.id, amount=1, idempotency_key="cap1")
    assert ledger.check_invariants(ACC) == []


def test_expiry_removes_what_is_left_of_expired_grants(ledger: Ledger, clock: ManualClock) -> None:
    give(ledger, 10, "g1", days=1, clock=clock)
    give(ledger, 5, "g2")
    ledger.charge(ACC, feature_key="api.call", idempotency_key="c1")  # 3 from the expiring grant
    clock.advance(days=1)
    assert ledger.expire_grants() == 1
    assert ledger.balance(ACC).balance == 5
    expiry = ledger.transactions(ACC, kind="expiry").items
    assert [e.amount for e in expiry] == [-7]
    assert ledger.expire_grants() == 0


def test_expiry_trims_holds_that_the_expired_credits_backed(ledger: Ledger, clock: ManualClock) -> None:
    give(ledger, 10, "g1", days=1, clock=clock)
    give(ledger, 4, "g2")
    hold = ledger.hold(ACC, amount=12, idempotency_key="h1", ttl_seconds=3 * 86400).hold
    assert hold is not None
    clock.advance(days=1)
    ledger.expire_grants()
    view = ledger.balance(ACC)
    assert (view.balance, view.held, view.available) == (4, 4, 0)
    captured = ledger.capture(ACC, hold.id, amount=12, idempotency_key="cap1")
    assert captured.entry is not None and captured.entry.amount == -4
    assert ledger.check_invariants(ACC) == []


def test_a_reversal_takes_only_what_is_left_of_its_grant_and_reports_the_shortfall(ledger: Ledger) -> None:
    bought = give(ledger, 10, "g1")
    give(ledger, 100, "g2", days=400)
    ledger.charge(ACC, feature_key="coach.message", quantity=100, idempotency_key="c1")
    ledger.charge(ACC, feature_key="coach.message", quantity=6, idempotency_key="c2")  # 6 of the 10
    result = ledger.reverse_grant(bought, amount=10, reason="stripe refund", idempotency_key="r1")
    assert result.entry is not None and result.entry.amount == -4
    assert result.shortfall == 6
    assert ledger.balance(ACC).balance == 0


def test_a_negative_adjustment_cannot_remove_more_than_is_available(ledger: Ledger) -> None:
    give(ledger, 5, "g1")
    with pytest.raises(InsufficientCredits):
        ledger.adjust(ACC, amount=-6, reason="typo", actor="usr_admin", idempotency_key="a1")
    result = ledger.adjust(ACC, amount=-5, reason="typo", actor="usr_admin", idempotency_key="a2")
    assert result.entry is not None and result.entry.kind is EntryKind.ADJUSTMENT
    assert result.entry.reference == "usr_admin: typo"


def test_transactions_are_keyset_pages_newest_first(ledger: Ledger) -> None:
    for n in range(5):
        give(ledger, n + 1, f"g{n}")
    first = ledger.transactions(ACC, limit=2)
    assert [e.amount for e in first.items] == [5, 4]
    assert first.next_cursor is not None
    second = ledger.transactions(ACC, limit=2, cursor=first.next_cursor)
    third = ledger.transactions(ACC, limit=2, cursor=second.next_cursor)
    assert [e.amount for e in second.items + third.items] == [3, 2, 1]
    assert third.next_cursor is None


def test_a_forged_cursor_is_a_validation_error(ledger: Ledger) -> None:
    with pytest.raises(InvalidInput):
        ledger.transactions(ACC, cursor="not-a-cursor!")


def test_usage_sums_charges_of_one_month_by_feature(ledger: Ledger, clock: ManualClock) -> None:
    give(ledger, 100, "g1")
    ledger.charge(ACC, feature_key="api.call", quantity=2, idempotency_key="c1")
    ledger.charge(ACC, feature_key="coach.message", idempotency_key="c2")
    clock.advance(days=31)
    ledger.charge(ACC, feature_key="api.call", idempotency_key="c3")
    usage = ledger.usage(ACC, T0.strftime("%Y-%m"))
    assert (usage.total, usage.by_feature) == (7, {"api.call": 6, "coach.message": 1})
    assert ledger.usage(ACC, clock.now().strftime("%Y-%m")).total == 3


def test_the_monthly_allowance_is_granted_once_per_period(ledger: Ledger) -> None:
    first = ledger.grant_monthly_allowance(ACC, period="2026-01", credits=50)
    again = ledger.grant_monthly_allowance(ACC, period="2026-01", credits=50)
    assert again == first
    assert ledger.balance(ACC).balance == 50
    grant = ledger.balance(ACC).grants[0]
    assert grant.expires_at is not None and grant.expires_at.isoformat() == "2026-02-01T00:00:00+00:00"


def test_a_scoped_key_keeps_callers_apart_and_fits_the_column() -> None:
    assert scoped_key("http", "abc") == "http:abc"
    assert scoped_key("admin", "abc") != scoped_key("http", "abc")
    assert len(scoped_key("admin", "x" * 255)) <= 255


def test_a_sweep_finishes_the_other_accounts_when_one_fails_and_then_reports_it(
    uow: MemoryUnitOfWorkFactory, clock: ManualClock
) -> None:
    ledger = Ledger(uow=uow, clock=clock, ids=NamespacedIds("s"), prices=PRICES)
    for account in ("acc_a", "acc_b"):
        ledger.open_account(account)
        ledger.grant(
            account, source="promo", amount=5, idempotency_key="g", expires_at=clock.now() + timedelta(hours=1)
        )
    with uow() as broken:  # corrupt acc_a behind the ledger's back: its grant is gone from the balance
        account = broken.ledger.get_account("acc_a")
        assert account is not None
        account.balance = 0
        broken.ledger.update_account(account)
        broken.commit()
    clock.advance(hours=2)
    with pytest.raises(SweepIncomplete) as incomplete:
        ledger.expire_grants()
    assert incomplete.value.details["failed"] == ["acc_a"]
    assert ledger.balance("acc_b").balance == 0


@pytest.mark.parametrize("month", ["9999-12", "2026-13", "26-01", "2026-1x"])
def test_a_month_out_of_range_or_malformed_is_a_validation_error(ledger: Ledger, month: str) -> None:
    with pytest.raises(InvalidInput):
        ledger.usage(ACC, month)
    with pytest.raises(InvalidInput):
        ledger.grant_monthly_allowance(ACC, period=month)


def test_credits_past_their_expiry_are_not_spent_even_before_the_sweep(ledger: Ledger, clock: ManualClock) -> None:
    give(ledger, 10, "g1", days=1, clock=clock)
    give(ledger, 2, "g2")
    clock.advance(days=1)
    assert ledger.balance(ACC).available == 2
    with pytest.raises(InsufficientCredits):
        ledger.charge(ACC, feature_key="api.call", idempotency_key="c1")
    assert ledger.charge(ACC, feature_key="coach.message", quantity=2, idempotency_key="c2").balance.balance == 0
    assert [e.kind for e in ledger.transactions(ACC).items][:2] == [EntryKind.CHARGE, EntryKind.EXPIRY]


def test_an_allowance_for_a_month_that_has_ended_is_refused(ledger: Ledger, clock: ManualClock) -> None:
    clock.set(T0.replace(month=3))
    with pytest.raises(InvalidInput):
        ledger.grant_monthly_allowance(ACC, period="2026-02", credits=50)
    assert ledger.transactions(ACC).items == []
