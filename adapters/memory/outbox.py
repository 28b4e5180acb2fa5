"""The in-memory outbox: rows in the shared store, rolled back with it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from adapters.memory.store import MemoryStore
from domain.shared.outbox import OutboxMessage


class InMemoryOutboxRepository:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    @property
    def _rows(self) -> dict[str, OutboxMessage]:
        return self._store.table("outbox")

    def add(self, message: OutboxMessage) -> None:
        self._rows[message.id] = message

    def pending(self, *, created_before: datetime, limit: int) -> list[OutboxMessage]:
        rows = [m for m in self._rows.values() if m.sent_at is None and m.created_at <= created_before]
        return sorted(rows, key=lambda m: (m.created_at, m.id))[:limit]

    def mark_sent(self, ids: Sequence[str], at: datetime) -> None:
        for message_id in ids:
            if message_id in self._rows:
                self._rows[message_id] = replace(self._rows[message_id], sent_at=at)

    def mark_failed(self, ids: Sequence[str]) -> None:
        for message_id in ids:
            if message_id in self._rows:
                row = self._rows[message_id]
                self._rows[message_id] = replace(row, attempts=row.attempts + 1)

    def purge_sent(self, sent_before: datetime, limit: int) -> int:
        old = [k for k, m in self._rows.items() if m.sent_at is not None and m.sent_at < sent_before][:limit]
        for key in old:
            del self._rows[key]
        return len(old)
