"""What an area needs to write an audit record in the transaction of its own change.

The audit log itself (records, actions, queries) belongs to domain.platform; the ledger and
identity only hand a record to the unit of work they already hold, so they depend on this
shape and not on the platform area.
"""
from __future__ import annotations

from typing import Any, Protocol


class AuditSink(Protocol):
    def add(self, record: Any) -> None: ...


class AuditingUnitOfWork(Protocol):
    @property
    def audit(self) -> AuditSink: ...
