"""Notifications on every backend: low balance once per crossing (hysteresis and cooldown), a new
sign-in address, a finished task; and what the low-balance event tells webhooks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.identity.logins import ClientInfo
from domain.shared.clock import ManualClock
from entrypoints.bootstrap import Container
from tests.fixtures.settings import make_settings, unique


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC))


@pytest.fixture
def container(make_container: Callable[..., Container], clock: ManualClock) -> Container:
    return make_container(
        clock=clock,
        settings=make_settings(low_balance_threshold=20, low_balance_rearm=50, low_balance_cooldown_hours=72),
    )


def inbox(container: Container, user: str) -> list[Any]:
    return list(container.platform_events.notifications.inbox(user, unread_only=False, limit=200, cursor=None)[0].items)


def types(container: Container, user: str) -> list[str]:
    return [n.type for n in inbox(container, user)]


def move(container: Container, user: str, amount: int) -> None:
    container.clock.advance(seconds=1)  # type: ignore[attr-defined]  # (an event's version is its time)
    container.ledger.adjust(user, amount=amount, reason="test", actor="admin", idempotency_key=unique("k"))


def low_balance_events(container: Container, user: str) -> int:
    with container.uow() as uow:
        return sum(
            1
            for e in uow.webhooks.events_since(user, datetime(2000, 1, 1, tzinfo=UTC), limit=1000)
            if e.type == "credits.low_balance"
        )


def test_low_balance_notifies_once_per_crossing_with_hysteresis_and_a_cooldown(
    container: Container, clock: ManualClock
) -> None:
    user = container.identity.register(f"{unique('lb')}@example.com", "correct horse battery").user.id
    assert container.ledger.balance(user).available == 100

    move(container, user, -85)  # 100 -> 15: below 20
    assert types(container, user).count("low_balance") == 1
    move(container, user, -5)  # still below: no new crossing
    move(container, user, +15)  # 10 -> 25: above the threshold, below the re-arm level (50)
    move(container, user, -10)  # 25 -> 15: a crossing, but not re-armed
    assert types(container, user).count("low_balance") == 1
    move(container, user, +40)  # 15 -> 55: re-armed
    move(container, user, -40)  # 55 -> 15: a crossing within the 72 h cooldown
    assert types(container, user).count("low_balance") == 1
    clock.advance(hours=73)
    move(container, user, +40)
    move(container, user, -40)  # re-armed and cooled down: notified again
    assert types(container, user).count("low_balance") == 2
    assert low_balance_events(container, user) == 4  # webhooks hear every crossing


def test_a_sign_in_from_a_new_address_is_a_security_notice(container: Container) -> None:
    email, password = f"{unique('ip')}@example.com", "correct horse battery"
    user = container.identity.register(email, password).user.id

    def sign_in(ip: str) -> None:
        container.identity.login(email, password, client=ClientInfo(ip=ip, user_agent="pytest"))

    sign_in("198.51.100.1")  # the first sign-in is not news
    sign_in("198.51.100.1")
    assert "security_new_login" not in types(container, user)
    sign_in("203.0.113.7")
    sign_in("203.0.113.7")
    notices = [n for n in inbox(container, user) if n.type == "security_new_login"]
    assert len(notices) == 1 and notices[0].data == {"ip": "203.0.113.7"}
    prefs = container.platform_events.notifications.preferences(user)
    assert prefs["security_new_login"].email is True  # cannot be turned off


def test_expiring_credits_are_announced_7_days_and_1_day_before_once_each(
    container: Container, clock: ManualClock
) -> None:
    from datetime import timedelta

    from domain.ledger.model import GrantSource
    from domain.platform.expiring import announce_expiring

    user = container.identity.register(f"{unique('ex')}@example.com", "correct horse battery").user.id
    week = container.ledger.grant(
        user,
        source=GrantSource.PROMO,
        amount=30,
        idempotency_key=unique("g"),
        expires_at=clock.now() + timedelta(days=6),
    )
    container.ledger.grant(
        user,
        source=GrantSource.PROMO,
        amount=10,
        idempotency_key=unique("g"),
        expires_at=clock.now() + timedelta(hours=20),
    )

    announce_expiring(container.uow, clock)
    announce_expiring(container.uow, clock)  # the next run sees them again: nobody is told twice
    assert types(container, user).count("credits_expiring") == 2
    clock.advance(days=5, hours=1)  # the 6-day grant now expires within a day
    announce_expiring(container.uow, clock)
    notes = [n for n in inbox(container, user) if n.type == "credits_expiring"]
    assert len(notes) == 3 and sum(1 for n in notes if n.data == {"grant_id": week.grant_id}) == 2
