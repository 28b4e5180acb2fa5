"""In-memory referral codes and referrals: the same answers as the SQL repository."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from adapters.memory.store import MemoryStore
from domain.platform.referrals import Referral, ReferralStatus
from domain.shared.errors import DuplicateRecord

BONUSED = {ReferralStatus.PENDING, ReferralStatus.RELEASED, ReferralStatus.VOIDED}


class InMemoryReferralRepository:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def _codes(self) -> dict[str, str]:
        return self._store.table("referral_codes")

    def _all(self) -> dict[str, Referral]:
        return self._store.table("referrals")

    def code_of(self, user_id: str) -> str | None:
        return self._codes().get(user_id)

    def add_code(self, user_id: str, code: str, now: datetime) -> None:
        if user_id in self._codes() or code in self._codes().values():
            raise DuplicateRecord("The record already exists.")
        self._codes()[user_id] = code

    def user_of_code(self, code: str) -> str | None:
        return next((user for user, mine in self._codes().items() if mine == code), None)

    def lock_referrer(self, referrer_id: str) -> None:
        return None  # the memory unit of work serialises writers

    def add(self, referral: Referral) -> None:
        if referral.id in self._all() or self.of_referee(referral.referee_id) is not None:
            raise DuplicateRecord("The record already exists.")
        self._all()[referral.id] = replace(referral)

    def update(self, referral: Referral) -> None:
        self._all()[referral.id] = replace(referral)

    def _first(self, match: Any) -> Referral | None:
        found = next((r for r in self._all().values() if match(r)), None)
        return replace(found) if found else None

    def of_referee(self, referee_id: str, *, for_update: bool = False) -> Referral | None:
        return self._first(lambda r: r.referee_id == referee_id)

    def of_payment(self, payment_id: str, *, for_update: bool = False) -> Referral | None:
        return self._first(lambda r: r.payment_id == payment_id)

    def get(self, referral_id: str, *, for_update: bool = False) -> Referral | None:
        return self._first(lambda r: r.id == referral_id)

    def of_referrer(self, referrer_id: str, *, limit: int) -> list[Referral]:
        mine = [replace(r) for r in self._all().values() if r.referrer_id == referrer_id]
        return sorted(mine, key=lambda r: (r.created_at, r.id), reverse=True)[:limit]

    def totals(self, referrer_id: str) -> dict[str, tuple[int, int]]:
        totals: dict[str, tuple[int, int]] = {}
        for r in self._all().values():
            if r.referrer_id == referrer_id:
                count, bonus = totals.get(r.status.value, (0, 0))
                totals[r.status.value] = (count + 1, bonus + r.bonus)
        return totals

    def qualified_between(self, referrer_id: str, start: datetime, end: datetime) -> int:
        return sum(
            1
            for r in self._all().values()
            if r.referrer_id == referrer_id and r.status in BONUSED and r.qualified_at and start <= r.qualified_at < end
        )

    def unfinished(self, now: datetime, limit: int) -> list[str]:
        due = [
            r
            for r in self._all().values()
            if r.status is ReferralStatus.PENDING
            and ((r.release_after and r.release_after <= now) or r.pending_grant_id is None)
        ]
        return [r.id for r in sorted(due, key=lambda r: (r.release_after or now, r.id))][:limit]

    def customer_ids_of(self, user_id: str) -> set[str]:
        found = {
            p.customer_id
            for p in self._store.table("billing_payments").values()
            if p.user_id == user_id and p.customer_id
        }
        known = self._store.table("billing_customers").get(user_id)
        return found | ({known} if known else set())

    def card_fingerprints_of(self, user_id: str) -> set[str]:
        return {
            p.card_fingerprint
            for p in self._store.table("billing_payments").values()
            if p.user_id == user_id and p.card_fingerprint
        }
