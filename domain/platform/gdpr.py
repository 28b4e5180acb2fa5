"""GDPR: the user's data as one JSON document (Article 20), and erasure (Article 17) that keeps
the books (issue 24).

Export: one JSON document, built in one read transaction (a consistent snapshot) and sent as the
response. Decision: synchronous, not a job. The document is small next to what one request may
already read (a user's rows, not the service's); a job with a one-time download would add a
stored copy of the personal data, which is the thing to avoid. If exports grow past what one
response should carry, the same `export` feeds a job unchanged.

Erasure, in this order (each step safe to repeat, so a failure anywhere is answered by retrying):
| step | what                                                                         | if it fails            |
| ---- | ---------------------------------------------------------------------------- | ---------------------- |
| 1    | the password (bcrypt, before any transaction)                                | 401, nothing happened  |
| 2    | the payment provider: live subscriptions cancelled now, customers deleted    | 503, nothing erased; both calls are idempotent |
| 3    | one transaction: personal data deleted or blanked (see adapters/sql/personal_data.py), financial rows kept under the user's id (now a tombstone: no email, no name, no password), refresh families revoked, and the audit record `account.erased` (counts only) | 503, rolled back |

The tombstone's email is `erased-<random>@erased.invalid`, so the person's address can register
again as a new user (a new id, no link to the old one). Workspaces: the user's own workspaces are
deleted with everything in them (this codebase has no shared workspaces yet; when teams land, a
workspace with other members should pass to its admin first: see the README).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from domain.billing.ports import PaymentGateway
from domain.identity.errors import InvalidCredentials, UserNotFound
from domain.identity.model import User
from domain.identity.ports import PasswordHasher
from domain.shared.audit import AuditRecord, AuditRepository
from domain.shared.clock import Clock
from domain.shared.errors import Unavailable
from domain.shared.ids import IdGenerator
from domain.shared.uow import UnitOfWork, transaction

EXPORT_FORMAT = "houston-export/1"
ERASED_ACTION = "account.erased"


class PersonalDataStore(Protocol):
    def export(self, user_id: str) -> dict[str, Any]: ...
    def provider_ids(self, user_id: str) -> tuple[list[str], list[str]]:
        """(live subscription ids, customer ids) at the payment provider."""

    def erase_user(self, user_id: str, now: datetime) -> dict[str, int]:
        """Erase in this transaction; rows touched per table."""


class _Users(Protocol):
    def get(self, user_id: str) -> User | None: ...


class GdprUnitOfWork(UnitOfWork, Protocol):
    @property
    def users(self) -> _Users: ...
    @property
    def audit(self) -> AuditRepository: ...


def _store(uow: Any) -> PersonalDataStore:
    store: PersonalDataStore | None = getattr(uow, "personal_data", None)
    if store is None:  # the in-memory storage of tests and demos keeps no inventory
        raise Unavailable("Export and erasure need SQL storage (SQLite, MySQL or MariaDB).")
    return store


class Gdpr:
    def __init__(
        self,
        *,
        uow: Callable[[], GdprUnitOfWork],
        clock: Clock,
        ids: IdGenerator,
        hasher: PasswordHasher,
        gateway: PaymentGateway,
    ) -> None:
        self._uow, self._clock, self._ids, self._hasher, self._gateway = uow, clock, ids, hasher, gateway

    def export(self, user_id: str) -> dict[str, Any]:
        with self._uow() as uow:
            if uow.users.get(user_id) is None:
                raise UserNotFound()
            sections = _store(uow).export(user_id)
        now = self._clock.now().isoformat().replace("+00:00", "Z")
        return {"format": EXPORT_FORMAT, "exported_at": now, "user_id": user_id, **sections}

    def erase(self, user_id: str, password: str) -> dict[str, int]:
        with self._uow() as uow:
            user = uow.users.get(user_id)
            subscriptions, customers = _store(uow).provider_ids(user_id) if user else ([], [])
        if user is None:
            raise UserNotFound()
        if not self._hasher.verify(password, user.password_hash):
            raise InvalidCredentials()
        for subscription_id in subscriptions:
            self._gateway.cancel_subscription_now(subscription_id)
        for customer_id in customers:
            self._gateway.delete_customer(customer_id)
        return transaction(self._uow, lambda uow: self._erase(uow, user_id, len(customers)))

    def _erase(self, uow: GdprUnitOfWork, user_id: str, customers: int) -> dict[str, int]:
        now = self._clock.now()
        touched = _store(uow).erase_user(user_id, now)
        uow.audit.add(
            AuditRecord(
                id=self._ids.new_id("aud"),
                at=now,
                actor_id=user_id,
                action=ERASED_ACTION,
                subject_type="user",
                subject_id=user_id,
                details={
                    "rows": sum(touched.values()),
                    "tables": len(touched),
                    "provider_customers_deleted": customers,
                },
            )
        )
        return touched
