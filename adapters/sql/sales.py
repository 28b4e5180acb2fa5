"""The sales figures' SQL: one UTC day's additive figures from the raw rows, and the daily rollup
(`metrics_daily`) the reports read. Every statement of a day reads by time through an index
(ledger entries, grants, payments, users, events): its cost grows with that day's rows, not the table."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, delete, distinct, func, insert, or_, select

from adapters.sql.tables import (
    billing_events,
    billing_payments,
    billing_subscriptions,
    ledger_allocations,
    ledger_entries,
    ledger_grants,
    metrics_daily,
    users,
)
from domain.platform.sales import Figures

if TYPE_CHECKING:
    from adapters.sql.db import Db

G, E, L, P, S, U, EV, M = (
    ledger_grants.c,
    ledger_entries.c,
    ledger_allocations.c,
    billing_payments.c,
    billing_subscriptions.c,
    users.c,
    billing_events.c,
    metrics_daily.c,
)
PAID_GRANT = or_(
    G.source == "purchase",
    G.source == "refund-restore",
    and_(G.source == "plan", G.reference.like("payment:%")),
)
SETTLED = ("paid", "partially_refunded", "refunded", "disputed")
LIVE = ("active", "trialing", "past_due")


class SqlSalesStore:
    def __init__(self, db: Db) -> None:
        self._db = db

    def _all(self, statement: Any) -> list[Any]:
        return list(self._db.execute(statement).all())

    def day_figures(self, start: datetime, end: datetime) -> Figures:
        figures: Figures = defaultdict(int)
        paid = case((PAID_GRANT, 1), else_=0).label("paid")
        restore = case((G.source == "refund-restore", 1), else_=0).label("restore")
        granted = (
            select(paid, restore, func.sum(G.granted))
            .where(G.created_at >= start, G.created_at < end)
            .group_by(paid, restore)
        )
        for is_paid, is_restore, credits in self._all(granted):
            name = "credits_granted_free" if not is_paid else ("credits_restored" if is_restore else "credits_sold")
            figures[(name, "")] += int(credits or 0)
        taken = (
            select(E.kind, paid, func.sum(L.amount))
            .select_from(
                ledger_entries.join(ledger_allocations, L.entry_id == E.id).join(ledger_grants, G.id == L.grant_id)
            )
            .where(E.created_at >= start, E.created_at < end, E.amount < 0)
            .group_by(E.kind, paid)
        )
        for kind, is_paid, credits in self._all(taken):
            side = "paid" if is_paid else "free"
            # reversals (refunds, disputes) and admin removals are neither consumed nor expired
            removed = "credits_removed_paid" if is_paid else "credits_removed_free"
            name = {"charge": f"credits_consumed_{side}", "expiry": f"credits_expired_{side}"}.get(kind, removed)
            figures[(name, "")] += int(credits or 0)
        figures.pop(("credits_removed_free", ""), None)
        figures[("paid_net", "")] = (
            figures[("credits_sold", "")]
            + figures[("credits_restored", "")]
            - figures[("credits_consumed_paid", "")]
            - figures[("credits_expired_paid", "")]
            - figures[("credits_removed_paid", "")]
        )
        cash = (
            select(P.currency, func.sum(P.amount_cents))
            .where(P.paid_at >= start, P.paid_at < end, P.status.in_(SETTLED))
            .group_by(P.currency)
        )
        for currency, cents in self._all(cash):
            figures[("cash_in_cents", currency)] += int(cents or 0)
        for currency, cents in self._refunds(start, end).items():
            figures[("refunds_cents", currency)] += cents
        figures[("new_users", "")] = int(
            self._db.execute(select(func.count()).where(U.created_at >= start, U.created_at < end)).scalar() or 0
        )
        subs = select(S.plan_id, func.count()).where(S.created_at >= start, S.created_at < end).group_by(S.plan_id)
        for plan_id, count in self._all(subs):
            figures[("new_subscriptions_by_plan", str(plan_id))] += int(count)
        return {k: v for k, v in figures.items() if v or k[0] in ("paid_net",)}

    def _refunds(self, start: datetime, end: datetime) -> dict[str, int]:
        """Each `charge.refunded` event received in [start, end) brings the increase of its charge's
        cumulative `amount_refunded` over the highest earlier event of that charge."""
        rows = self._all(
            select(EV.id, EV.payload, EV.received_at).where(
                EV.type == "charge.refunded", EV.received_at >= start, EV.received_at < end
            )
        )
        refunds: dict[str, int] = defaultdict(int)
        for _, payload, received_at in rows:
            charge = _charge(payload)
            if charge is None:
                continue
            charge_id, amount, currency = charge
            earlier = self._db.execute(
                select(EV.payload).where(
                    EV.type == "charge.refunded",
                    EV.received_at < received_at,
                    EV.payload.contains(charge_id, autoescape=True),
                )
            ).scalars()
            before = max((c[1] for c in map(_charge, earlier) if c and c[0] == charge_id), default=0)
            if amount > before:
                refunds[currency] += amount - before
        return dict(refunds)

    def stored_days(self, first: date, last: date) -> dict[date, Figures]:
        rows = self._all(select(M.day, M.figure, M.key, M.value).where(M.day >= first, M.day <= last))
        days: dict[date, Figures] = defaultdict(dict)
        for day, figure, key, value in rows:
            days[day][(figure, key)] = int(value)
        return {day: figures for day, figures in days.items() if ("_rolled", "") in figures}

    def store_day(self, day: date, figures: Figures) -> None:
        self._db.execute(delete(metrics_daily).where(M.day == day))
        rows = [{"day": day, "figure": f, "key": k[:40], "value": v} for (f, k), v in figures.items()]
        self._db.execute(insert(metrics_daily), rows)

    def paid_net_before(self, day: date) -> int:
        statement = select(func.coalesce(func.sum(M.value), 0)).where(M.figure == "paid_net", M.day < day)
        return int(self._db.execute(statement).scalar() or 0)

    def first_day(self) -> date | None:
        first: Any = None
        for statement in (
            select(func.min(E.created_at)),
            select(func.min(P.created_at)),
            select(func.min(U.created_at)),
        ):
            found = self._db.execute(statement).scalar()
            if found is not None and (first is None or found < first):
                first = found
        return first.date() if first is not None else None

    def paying_users(self, start: datetime, end: datetime) -> int:
        statement = select(func.count(distinct(P.user_id))).where(
            P.paid_at >= start, P.paid_at < end, P.status.in_(SETTLED), P.amount_cents > 0
        )
        return int(self._db.execute(statement).scalar() or 0)

    def live_subscriptions(self, before: datetime) -> list[tuple[str, datetime]]:
        statement = select(S.plan_id, S.created_at).where(S.created_at < before, S.status.in_(LIVE))
        return [(str(row.plan_id), row.created_at) for row in self._db.execute(statement)]


def _charge(payload: str) -> tuple[str, int, str] | None:
    try:
        charge = json.loads(payload)["data"]["object"]
        return str(charge["id"]), int(charge.get("amount_refunded") or 0), str(charge.get("currency") or "").lower()
    except (ValueError, KeyError, TypeError):
        return None
