"""An in-memory database: named tables of copied records, one writer at a time, real rollback."""
from __future__ import annotations

import copy
import threading
from typing import Any


class MemoryStore:
    """Shared by every MemoryUnitOfWork made from one factory, like a database is shared."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[Any, Any]] = {}
        self.lock = threading.RLock()

    def table(self, name: str) -> dict[Any, Any]:
        return self.tables.setdefault(name, {})

    def snapshot(self) -> dict[str, dict[Any, Any]]:
        return copy.deepcopy(self.tables)

    def restore(self, snapshot: dict[str, dict[Any, Any]]) -> None:
        self.tables.clear()
        self.tables.update(snapshot)
