"""The owner's sales figures (`GET /v1/admin/metrics`, issue 24), from the ledger and payments.

How it stays fast: every figure that adds up over days is computed once per closed UTC day and
stored (`metrics_daily`, one row per day, figure and key), like the ledger's usage rollup. A
report reads those rows for its range, computes only the open day (today) live, and rolls up any
closed day it finds missing (the worker rolls up yesterday every night, so a report rarely has
to). The liability at a period's end is the sum of the daily net paid-credit movements before it:
one SUM over the rollup rows. Counts that do not add up over days (distinct paying users) and
snapshots (subscriptions, MRR) are one indexed query per point.

Definitions (decisions where the issue is silent):
- paid credits: grants from a purchase, a paid plan invoice (reference `payment:...`) or a won
  dispute's restore; free credits: the free plan's allowance, referral, admin and promo grants.
- `credits_sold`: paid credits granted in the period (restores excluded: they were sold before).
- consumed: credits `charge` entries took from grants, split by the grant's kind (the ledger
  records what each charge took from each grant, so the split is exact).
- `credits_expired_paid` (breakage): paid credits the expiry took.
- `paid_credit_liability`: paid credits granted and not consumed, expired, reversed (refund,
  dispute) or removed by an admin, at the period's end: deferred revenue in credits.
- `cash_in_cents`: amounts of payments paid in the period minus refunds received in it, by
  currency; `refunds_cents` the refunds alone (from each `charge.refunded` event's increase of
  the cumulative `amount_refunded`, on the day the event was received).
- subscriptions and MRR: billing keeps each subscription's current state, not its history, so a
  point counts the subscriptions created before its end that are live now (exact for today and
  for the current period; an approximation for past ones). MRR: each live subscription's plan
  price per month (yearly plans / 12), by currency.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from domain.billing.catalogue import Catalogue
from domain.shared.clock import Clock
from domain.shared.errors import InvalidInput, Unavailable
from domain.shared.uow import UnitOfWork, transaction

INTERVALS = ("day", "week", "month")
MAX_DAYS = 3 * 366 + 1
MAX_POINTS = 400
ROLLED = ("_rolled", "")  # the row that says a day was rolled up
Figures = dict[tuple[str, str], int]  # (figure, key) -> value; key: a currency, a plan id or ""
# Figures that add up over days (stored per day). The rest are computed per point.
ADDITIVE = {
    "cash_in_cents",
    "refunds_cents",
    "credits_sold",
    "credits_restored",
    "credits_granted_free",
    "credits_consumed_paid",
    "credits_consumed_free",
    "credits_expired_paid",
    "credits_expired_free",
    "credits_removed_paid",
    "paid_net",
    "new_users",
    "new_subscriptions_by_plan",
}
MAPS = {"cash_in_cents", "refunds_cents", "new_subscriptions_by_plan"}


class SalesStore(Protocol):
    def day_figures(self, start: datetime, end: datetime) -> Figures:
        """The additive figures of [start, end) (one UTC day), from the raw rows."""

    def stored_days(self, first: date, last: date) -> dict[date, Figures]:
        """Rolled-up days in [first, last], with their figures."""

    def store_day(self, day: date, figures: Figures) -> None:
        """Replace the day's rollup rows (idempotent)."""

    def paid_net_before(self, day: date) -> int:
        """Sum of the rolled-up `paid_net` of the days before `day`."""

    def first_day(self) -> date | None:
        """The day of the oldest ledger entry or payment (where rollups must start)."""

    def paying_users(self, start: datetime, end: datetime) -> int: ...
    def live_subscriptions(self, before: datetime) -> list[tuple[str, datetime]]:
        """(plan id, created_at) of the subscriptions created before `before` that are live now:
        read once per report, each point keeps those created before its end (issue 27: one
        statement per point was most of a 90-point report's time on MariaDB)."""


@dataclass(frozen=True, slots=True)
class Point:
    start: datetime
    end: datetime
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Report:
    start: datetime
    end: datetime
    interval: str
    totals: dict[str, Any]
    series: list[Point]


def _store(uow: Any) -> SalesStore:
    store: SalesStore | None = getattr(uow, "sales", None)
    if store is None:
        raise Unavailable("Sales figures need SQL storage (SQLite, MySQL or MariaDB).")
    return store


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _next(start: date, interval: str) -> date:
    if interval == "day":
        return start + timedelta(days=1)
    if interval == "week":
        return start + timedelta(days=7)
    return (start.replace(day=1) + timedelta(days=32)).replace(day=1)


def _bucket_start(day: date, interval: str) -> date:
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


class SalesFigures:
    def __init__(self, *, uow: Callable[[], UnitOfWork], clock: Clock, catalogue: Catalogue) -> None:
        self._uow, self._clock, self._catalogue = uow, clock, catalogue

    def check_range(self, start: date | None, end: date | None, interval: str) -> tuple[date, date]:
        today = self._clock.now().date()
        end = end or today + timedelta(days=1)
        start = start or end - timedelta(days=30)
        if interval not in INTERVALS:
            raise InvalidInput("Unknown interval.", details={"interval": f"One of {', '.join(INTERVALS)}."})
        if start >= end:
            raise InvalidInput("from must be before to.", details={"from": "Before to."})
        if (end - start).days > MAX_DAYS:
            raise InvalidInput("The range is too long.", details={"to": f"At most {MAX_DAYS} days after from."})
        return start, end

    def rollup(self, until: date | None = None) -> int:
        """Roll up every closed day not rolled up yet, up to `until` (excluded; default today).
        Returns how many days it computed. Run nightly by the worker; reports call it too."""
        today = self._clock.now().date()
        until = min(until or today, today)
        with self._uow() as uow:
            store = _store(uow)
            first = store.first_day()
            if first is None or first >= until:
                return 0
            done = store.stored_days(first, until - timedelta(days=1))
        missing = [
            first + timedelta(days=n) for n in range((until - first).days) if first + timedelta(days=n) not in done
        ]
        for day in missing:
            transaction(self._uow, lambda uow: self._roll_up_day(uow, day))
        return len(missing)

    def _roll_up_day(self, uow: UnitOfWork, day: date) -> None:
        """One closed day's figures, computed and stored in one transaction (a rerun computes the same)."""
        store = _store(uow)
        figures = store.day_figures(_midnight(day), _midnight(day + timedelta(days=1)))
        figures[ROLLED] = 1
        store.store_day(day, figures)

    def report(self, start: date | None, end: date | None, interval: str = "day") -> Report:
        start, end = self.check_range(start, end, interval)
        points = []
        cursor = _bucket_start(start, interval)
        while cursor < end:
            points.append((max(cursor, start), min(_next(cursor, interval), end)))
            cursor = _next(cursor, interval)
        if len(points) > MAX_POINTS:
            raise InvalidInput(
                "Too many points.", details={"interval": f"At most {MAX_POINTS} points: use a longer interval."}
            )
        today = self._clock.now().date()
        self.rollup(min(end, today))
        with self._uow() as uow:
            store = _store(uow)
            daily = store.stored_days(start, end - timedelta(days=1))
            for day in (today,) if start <= today < end else ():
                daily[day] = store.day_figures(_midnight(day), _midnight(day + timedelta(days=1)))
            liability_start = store.paid_net_before(start) if start <= today else None
            live = store.live_subscriptions(_midnight(end))
            series = [self._point(store, daily, a, b, live) for a, b in points]
            totals = self._point(store, daily, start, end, live)
        liability = liability_start or 0
        for point in series:  # the liability at each point's end: the running sum of paid_net
            liability += point.figures.pop("paid_net")
            point.figures["paid_credit_liability"] = liability
        totals.figures.pop("paid_net")
        totals.figures["paid_credit_liability"] = liability
        return Report(
            start=_midnight(start), end=_midnight(end), interval=interval, totals=totals.figures, series=series
        )

    def _point(
        self, store: SalesStore, daily: Mapping[date, Figures], a: date, b: date, live: list[tuple[str, datetime]]
    ) -> Point:
        summed: dict[str, Any] = {name: {} if name in MAPS else 0 for name in ADDITIVE}
        day = a
        while day < b:
            for (figure, key), value in daily.get(day, {}).items():
                if figure not in ADDITIVE:
                    continue
                if figure in MAPS:
                    summed[figure][key] = summed[figure].get(key, 0) + value
                else:
                    summed[figure] += value
            day += timedelta(days=1)
        refunds = summed["refunds_cents"]
        summed["cash_in_cents"] = {c: v - refunds.get(c, 0) for c, v in summed["cash_in_cents"].items()} | {
            c: -v for c, v in refunds.items() if c not in summed["cash_in_cents"]
        }
        summed["paying_users"] = store.paying_users(_midnight(a), _midnight(b))
        by_plan: dict[str, int] = defaultdict(int)
        mrr: dict[str, int] = defaultdict(int)
        for plan_id, created_at in live:
            if created_at >= _midnight(b):
                continue
            by_plan[plan_id] += 1
            plan = self._catalogue.plan(plan_id)
            if plan is not None:
                monthly = plan.amount_cents // 12 if plan.interval == "year" else plan.amount_cents
                mrr[plan.currency] += monthly
        summed["subscriptions_by_plan"] = dict(by_plan)
        summed["mrr_cents"] = dict(mrr)
        for hidden in ("credits_restored", "credits_expired_free", "credits_removed_paid"):
            summed.pop(hidden)
        return Point(start=_midnight(a), end=_midnight(b), figures=summed)
