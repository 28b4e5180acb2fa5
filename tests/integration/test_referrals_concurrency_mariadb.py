"""Referral races on MariaDB with real threads (issue 24): the monthly cap and a first purchase
reported twice at once must hold whatever the interleaving (the referrer's code row is the lock)."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.sql.uow import SqlUnitOfWorkFactory
from domain.platform.referrals import ReferralStatus
from domain.shared.clock import ManualClock
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.platform24 import register_with_referral
from tests.fixtures.concurrency import run_together
from tests.fixtures.settings import T0, make_settings, unique

pytestmark = pytest.mark.mysql
PASSWORD = "correct horse battery"


@pytest.fixture
def container(mysql_engine: Any) -> Container:
    settings = make_settings(referral_monthly_cap=3)
    return bootstrap(settings, clock=ManualClock(T0), uow=SqlUnitOfWorkFactory(mysql_engine))


def _signup(container: Container, referrer: str | None = None) -> str:
    code = container.platform24.referrals.code_for(referrer) if referrer else None
    body = {"email": f"{unique('r')}@example.com", "password": PASSWORD, "name": None, "referral_code": code}
    return register_with_referral(container, body).user.id


def _statuses(container: Container, referees: list[str]) -> list[ReferralStatus]:
    with container.uow() as uow:
        return [uow.referrals.of_referee(r).status for r in referees]  # type: ignore[attr-defined]


def test_concurrent_first_purchases_never_pass_the_monthly_cap(container: Container) -> None:
    referrer = _signup(container)
    referees = [_signup(container, referrer) for _ in range(8)]
    hooks = container.platform24.referrals
    calls = [lambda r=r: hooks.paid(f"pay_{r}", r, None, 2000) for r in referees]
    assert run_together(calls, timeout=60)[1] == []
    statuses = _statuses(container, referees)
    assert statuses.count(ReferralStatus.PENDING) == 3
    assert statuses.count(ReferralStatus.INELIGIBLE) == 5
    assert len(container.ledger.pending_grants(referrer)) == 3
    assert container.ledger.check_invariants(referrer) == []


def test_a_first_purchase_reported_twice_at_once_makes_one_pending_bonus(container: Container) -> None:
    referrer = _signup(container)
    referee = _signup(container, referrer)
    hooks = container.platform24.referrals
    assert run_together([lambda: hooks.paid("pay_same", referee, None, 2000) for _ in range(4)], timeout=60)[1] == []
    assert len(container.ledger.pending_grants(referrer)) == 1
    assert [g.granted for g in container.ledger.balance(referee).grants if g.source.value == "referral"] == [50]
    assert container.ledger.check_invariants(referrer) == []
