"""The owner's sales figures (issue 24) against a scenario computed by hand, on SQLite and on a
MariaDB database of their own (the figures are the whole database's, so no other test may write there).

The scenario (T0 = Thursday 2026-01-15 12:00 UTC), day by day:
| day    | what happens                                                              |
| ------ | ------------------------------------------------------------------------- |
| Jan 15 | A, B register (100 free each); A buys pack_500 ($20, 500 credits); A spends 150: 100 free (they expire first) + 50 paid |
| Jan 16 | B buys pack_500 and is refunded in full (500 paid credits reversed); A spends 50 paid; A subscribes to pro |
| Jan 17 | an admin gives B 40; C registers (100 free); C gets 70 paid credits expiring Jan 19 12:00 |
| Jan 19 | the expiry takes C's 70 (breakage)                                        |
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from adapters.sql.uow import SqlUnitOfWorkFactory
from adapters.stripe.fake import FakePaymentGateway
from domain.billing.model import Subscription, SubscriptionStatus
from domain.shared.clock import ManualClock
from entrypoints.bootstrap import Container, bootstrap
from tests.fixtures.backends import backend_params, own_mariadb_engine, sqlite_engine
from tests.fixtures.containers import urls
from tests.fixtures.settings import T0, make_settings, unique
from tests.fixtures.stripe import WEBHOOK_SECRET, Stripe

PASSWORD = "correct horse battery"


@pytest.fixture(params=backend_params("sqlite", "mariadb"))
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    made = sqlite_engine(tmp_path / "sales.db") if request.param == "sqlite" else own_mariadb_engine("sales")
    yield made
    made.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def container(engine: Any, clock: ManualClock) -> Container:
    from adapters.queue.inline import InlineJobQueue
    from entrypoints.worker.jobs import run_job

    settings = make_settings(stripe_webhook_secret=WEBHOOK_SECRET, referral_referee_bonus=0)
    queue = InlineJobQueue(raise_errors=True)
    built = bootstrap(
        settings, clock=clock, queue=queue, uow=SqlUnitOfWorkFactory(engine, queue), gateway=FakePaymentGateway()
    )
    queue.bind(lambda job: run_job(built, job))
    return built


def _at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 1, day, hour, tzinfo=UTC)


@pytest.fixture
def scenario(container: Container, clock: ManualClock) -> dict[str, str]:
    stripe = Stripe(container.billing, clock)
    register = container.identity.register
    a = register(f"{unique('a')}@example.com", PASSWORD).user.id
    b = register(f"{unique('b')}@example.com", PASSWORD).user.id
    buy = container.billing.checkout(a, pack_id="pack_500", **urls())
    stripe.outcome(buy.session_id, "paid")
    container.ledger.charge(a, feature_key="task.strategy", quantity=6, idempotency_key="a1")  # 150

    clock.set(_at(16))
    refunded = container.billing.checkout(b, pack_id="pack_500", **urls())
    stripe.outcome(refunded.session_id, "paid")
    stripe.refund(refunded.session_id, amount_refunded=2000)
    container.ledger.charge(a, feature_key="task.strategy", quantity=2, idempotency_key="a2")  # 50
    with container.uow() as uow:
        uow.billing.save_subscription(
            Subscription(
                user_id=a,
                provider_id=f"sub_{unique()}",
                plan_id="pro",
                status=SubscriptionStatus.ACTIVE,
                created_at=clock.now(),
                updated_at=clock.now(),
            )
        )
        uow.commit()

    clock.set(_at(17))
    container.ledger.adjust(b, amount=40, reason="goodwill", actor="admin", idempotency_key="b1")
    c = register(f"{unique('c')}@example.com", PASSWORD).user.id
    container.ledger.grant(c, source="purchase", amount=70, expires_at=_at(19), idempotency_key="c1")

    clock.set(_at(19, 13))
    container.ledger.expire_grants()
    clock.set(_at(20))
    return {"a": a, "b": b, "c": c}


def test_the_figures_per_day_match_the_hand_computed_scenario(container: Container, scenario: dict[str, str]) -> None:
    report = container.platform24.sales.report(date(2026, 1, 15), date(2026, 1, 21), "day")
    days = {point.start.day: point.figures for point in report.series}
    assert sorted(days) == [15, 16, 17, 18, 19, 20]
    expect_15 = dict(
        cash_in_cents={"usd": 2000},
        refunds_cents={},
        credits_sold=500,
        credits_granted_free=200,
        credits_consumed_paid=50,
        credits_consumed_free=100,
        credits_expired_paid=0,
        paid_credit_liability=450,
        new_users=2,
        paying_users=1,
    )
    assert {k: days[15][k] for k in expect_15} == expect_15
    expect_16 = dict(
        cash_in_cents={"usd": 0},
        refunds_cents={"usd": 2000},
        credits_sold=500,
        credits_granted_free=0,
        credits_consumed_paid=50,
        credits_consumed_free=0,
        paid_credit_liability=400,
        new_users=0,
        paying_users=1,
        new_subscriptions_by_plan={"pro": 1},
    )
    assert {k: days[16][k] for k in expect_16} == expect_16
    expect_17 = dict(credits_sold=70, credits_granted_free=140, paid_credit_liability=470, new_users=1, paying_users=0)
    assert {k: days[17][k] for k in expect_17} == expect_17
    assert (days[18]["paid_credit_liability"], days[18]["credits_sold"]) == (470, 0)
    assert (days[19]["credits_expired_paid"], days[19]["paid_credit_liability"]) == (70, 400)
    assert days[20]["paid_credit_liability"] == 400


def test_the_totals_and_the_weekly_points_match_the_hand_computed_scenario(
    container: Container, scenario: dict[str, str]
) -> None:
    report = container.platform24.sales.report(date(2026, 1, 15), date(2026, 1, 21), "week")
    assert report.totals == dict(
        cash_in_cents={"usd": 2000},
        refunds_cents={"usd": 2000},
        credits_sold=1070,
        credits_granted_free=340,
        credits_consumed_paid=100,
        credits_consumed_free=100,
        credits_expired_paid=70,
        paid_credit_liability=400,
        new_users=3,
        paying_users=2,
        new_subscriptions_by_plan={"pro": 1},
        subscriptions_by_plan={"pro": 1},
        mrr_cents={"usd": 2000},
    )
    # Monday-based weeks: [Thu 15, Mon 19) and [Mon 19, Wed 21)
    assert [(p.start.day, p.figures["paid_credit_liability"]) for p in report.series] == [(15, 470), (19, 400)]
    # the liability is what is left of the paid grants
    with container.uow() as uow:
        left = sum(
            g.remaining
            for user in scenario.values()
            for g in uow.ledger.all_grants(user)
            if g.source.value == "purchase"
        )
    assert left == report.totals["paid_credit_liability"]


def test_closed_days_are_read_from_the_rollup(container: Container, engine: Any, scenario: dict[str, str]) -> None:
    container.platform24.sales.report(date(2026, 1, 15), date(2026, 1, 21), "day")
    with engine.begin() as connection:  # the report read every closed day once, and stored it
        days = connection.execute(text("SELECT COUNT(DISTINCT day) FROM metrics_daily")).scalar()
        connection.execute(
            text("UPDATE metrics_daily SET value = 999 WHERE figure = 'credits_sold' AND day = :d"),
            {"d": date(2026, 1, 15)},
        )
    assert days == 5  # Jan 15-19; Jan 20 is today: always live
    again = container.platform24.sales.report(date(2026, 1, 15), date(2026, 1, 16), "day")
    assert again.totals["credits_sold"] == 999  # read, not recomputed
    assert container.platform24.sales.rollup() == 0


def test_a_bad_range_is_a_validation_error(container: Container) -> None:
    from domain.shared.errors import InvalidInput

    sales = container.platform24.sales
    with pytest.raises(InvalidInput):
        sales.report(date(2026, 1, 15), date(2026, 1, 15), "day")
    with pytest.raises(InvalidInput):
        sales.report(date(2020, 1, 1), date(2026, 1, 1), "day")
    with pytest.raises(InvalidInput):
        sales.report(date(2026, 1, 1), date(2026, 1, 2) + timedelta(days=1), "hour")
