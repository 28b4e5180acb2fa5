"""An in-memory database: named tables of copied records, one writer at a time, real rollback.

Rollback is an undo journal per unit of work: the first time a unit touches a table (to read or
to write), the store keeps a copy of that table as it was; a rollback puts the kept copies back,
a commit forgets them. Before, every unit deep-copied every table at BEGIN and again at COMMIT,
so each call cost time in proportion to everything ever stored (the whole-document fuzz spent
45 % of its time copying). Records are copied one level deep (`copy.copy`): the repositories
store and hand out copies and replace a record's fields, never mutate what a field holds.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

_ABSENT = object()  # the table did not exist when the unit first touched it


class MemoryStore:
    """Shared by every MemoryUnitOfWork made from one factory, like a database is shared."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[Any, Any]] = {}
        self.lock = threading.RLock()
        # One journal per open unit (a unit opened inside another, on the same thread, stacks):
        # table -> its rows before that unit touched it.
        self._journals: list[dict[str, Any]] = []

    def table(self, name: str) -> dict[Any, Any]:
        for journal in self._journals:
            if name not in journal:
                rows = self.tables.get(name)
                journal[name] = _ABSENT if rows is None else {key: copy.copy(row) for key, row in rows.items()}
        return self.tables.setdefault(name, {})

    def begin(self) -> None:
        """Start a unit's journal (the caller holds `lock`)."""
        self._journals.append({})

    def keep(self) -> None:
        """COMMIT: what is there now stays; the unit's later writes roll back to here."""
        self._journals[-1] = {}

    def undo(self) -> None:
        """ROLLBACK the innermost unit to its last `begin` or `keep`."""
        for name, rows in self._journals[-1].items():
            if rows is _ABSENT:
                self.tables.pop(name, None)
            else:
                self.tables[name] = rows
        self._journals[-1] = {}

    def end(self) -> None:
        self._journals.pop()
