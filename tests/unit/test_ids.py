"""Ids made one after another sort in the order they were made, even within one millisecond."""

from __future__ import annotations

import threading

from domain.shared.ids import RandomIds


def test_ids_made_in_one_process_sort_in_the_order_they_were_made() -> None:
    ids = RandomIds()
    made = [ids.new_id("pay") for _ in range(20_000)]  # many share a millisecond
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_ids_made_by_racing_threads_are_unique() -> None:
    ids = RandomIds()
    made: list[str] = []

    def make() -> None:
        made.extend(ids.new_id("x") for _ in range(2_000))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(made)) == 16_000
