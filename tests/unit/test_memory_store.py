"""The in-memory store's rollback journal: what a unit touched is put back, what it committed stays."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.memory.store import MemoryStore


@dataclass
class Row:
    value: int


def test_a_rollback_puts_back_every_table_the_unit_touched_and_drops_the_ones_it_made() -> None:
    store = MemoryStore()
    store.table("kept")[1] = Row(1)
    store.begin()
    store.table("kept")[1].value = 99  # a record changed in place
    store.table("kept")[2] = Row(2)
    store.table("new")[1] = Row(3)
    store.undo()
    store.end()
    assert store.tables == {"kept": {1: Row(1)}}


def test_a_commit_stays_and_only_later_writes_roll_back() -> None:
    store = MemoryStore()
    store.begin()
    store.table("t")[1] = Row(1)
    store.keep()
    store.table("t")[2] = Row(2)
    store.undo()
    store.end()
    assert store.tables == {"t": {1: Row(1)}}


def test_a_unit_inside_another_rolls_back_alone_and_the_outer_rollback_undoes_both() -> None:
    store = MemoryStore()
    store.begin()
    store.table("t")[1] = Row(1)
    store.begin()
    store.table("t")[2] = Row(2)
    store.undo()
    store.end()
    assert store.tables == {"t": {1: Row(1)}}
    store.undo()
    store.end()
    assert store.tables == {}
