"""The audit log's records and storage port, shared by every area that writes one in the
transaction of its own change (identity, the ledger, billing); domain.platform reads them.
Append-only: nothing changes or deletes a record. Never a secret in `details`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

DetailValue = str | int | bool | None


class AuditAction(StrEnum):
    CREDITS_ADJUSTED = "credits.adjusted"
    ROLE_CHANGED = "user.role_changed"
    API_KEY_CREATED = "api_key.created"
    API_KEY_REVOKED = "api_key.revoked"
    PASSWORD_CHANGED = "user.password_changed"
    REFUND_REQUESTED = "payment.refund_requested"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One admin action or security event. `actor_id` is the user who acted (None: the system)."""

    id: str
    at: datetime
    actor_id: str | None
    action: str
    subject_type: str  # "user", "api_key", ...
    subject_id: str
    details: Mapping[str, DetailValue] = field(default_factory=dict)


class AuditRepository(Protocol):
    def add(self, record: AuditRecord) -> None: ...

    def search(
        self,
        *,
        actor: str | None,
        action: str | None,
        subject: str | None,
        limit: int,
        before: tuple[datetime, str] | None = None,
    ) -> list[AuditRecord]:
        """Records matching every given filter (exact values), newest first by (at, id) descending,
        strictly before `before`."""


class AuditingUnitOfWork(Protocol):
    @property
    def audit(self) -> AuditRepository: ...
