"""SQL repository of referral codes and referrals. Never commits."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, or_, select, update

from adapters.sql.tables import billing_customers, billing_payments, referral_codes, referrals
from domain.platform.referrals import Referral, ReferralStatus

if TYPE_CHECKING:  # the unit of work imports this module
    from adapters.sql.db import Db

R, C = referrals.c, referral_codes.c
FIELDS = (
    "id",
    "referrer_id",
    "referee_id",
    "status",
    "reason",
    "payment_id",
    "pending_grant_id",
    "referee_grant_id",
    "bonus",
    "referee_bonus",
    "qualified_at",
    "release_after",
    "created_at",
    "updated_at",
)


def _referral(row: Any) -> Referral:
    values = {name: row[name] for name in FIELDS}
    values["status"] = ReferralStatus(values["status"])
    values["bonus"], values["referee_bonus"] = int(values["bonus"]), int(values["referee_bonus"])
    return Referral(**values)


def _values(referral: Referral) -> dict[str, Any]:
    values = {name: getattr(referral, name) for name in FIELDS}
    values["status"] = referral.status.value
    return values


class SqlReferralRepository:
    def __init__(self, db: Db) -> None:
        self._db = db

    def code_of(self, user_id: str) -> str | None:
        return self._db.execute(select(C.code).where(C.user_id == user_id)).scalar()

    def add_code(self, user_id: str, code: str, now: datetime) -> None:
        self._db.execute(insert(referral_codes).values(user_id=user_id, code=code, created_at=now))

    def user_of_code(self, code: str) -> str | None:
        return self._db.execute(select(C.user_id).where(C.code == code)).scalar()

    def lock_referrer(self, referrer_id: str) -> None:
        self._db.execute(select(C.user_id).where(C.user_id == referrer_id).with_for_update())

    def add(self, referral: Referral) -> None:
        self._db.execute(insert(referrals).values(_values(referral)))

    def update(self, referral: Referral) -> None:
        values = _values(referral)
        del values["id"]
        self._db.execute(update(referrals).where(R.id == referral.id).values(values))

    def _one(self, condition: Any, for_update: bool) -> Referral | None:
        statement = select(referrals).where(condition)
        if for_update:
            statement = statement.with_for_update()
        row = self._db.execute(statement).mappings().first()
        return _referral(row) if row else None

    def of_referee(self, referee_id: str, *, for_update: bool = False) -> Referral | None:
        return self._one(R.referee_id == referee_id, for_update)

    def of_payment(self, payment_id: str, *, for_update: bool = False) -> Referral | None:
        return self._one(R.payment_id == payment_id, for_update)

    def get(self, referral_id: str, *, for_update: bool = False) -> Referral | None:
        return self._one(R.id == referral_id, for_update)

    def of_referrer(self, referrer_id: str, *, limit: int) -> list[Referral]:
        statement = select(referrals).where(R.referrer_id == referrer_id).order_by(R.created_at.desc(), R.id.desc())
        return [_referral(row) for row in self._db.execute(statement.limit(limit)).mappings()]

    def totals(self, referrer_id: str) -> dict[str, tuple[int, int]]:
        statement = (
            select(R.status, func.count(), func.coalesce(func.sum(R.bonus), 0))
            .where(R.referrer_id == referrer_id)
            .group_by(R.status)
        )
        rows: list[Any] = list(self._db.execute(statement).all())
        return {row[0]: (int(row[1]), int(row[2])) for row in rows}

    def qualified_between(self, referrer_id: str, start: datetime, end: datetime) -> int:
        statement = select(func.count()).where(
            R.referrer_id == referrer_id,
            R.qualified_at >= start,
            R.qualified_at < end,
            R.status.in_([ReferralStatus.PENDING.value, ReferralStatus.RELEASED.value, ReferralStatus.VOIDED.value]),
        )
        return int(self._db.execute(statement).scalar() or 0)

    def unfinished(self, now: datetime, limit: int) -> list[str]:
        statement = (
            select(R.id)
            .where(R.status == ReferralStatus.PENDING.value, or_(R.release_after <= now, R.pending_grant_id.is_(None)))
            .order_by(R.release_after, R.id)
            .limit(limit)
        )
        return list(self._db.execute(statement).scalars())

    def customer_ids_of(self, user_id: str) -> set[str]:
        P, BC = billing_payments.c, billing_customers.c
        paid = select(P.customer_id).where(P.user_id == user_id, P.customer_id.is_not(None))
        known = select(BC.customer_id).where(BC.user_id == user_id)
        return {row[0] for row in self._db.execute(paid.union(known))}

    def card_fingerprints_of(self, user_id: str) -> set[str]:
        P = billing_payments.c
        query = select(P.card_fingerprint).where(P.user_id == user_id, P.card_fingerprint.is_not(None)).distinct()
        return {row[0] for row in self._db.execute(query)}
