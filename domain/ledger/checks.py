"""The ledger invariants of ARCHITECTURE.md, as a checker that lists every violation it finds.

Used by the property tests and the concurrency tests; cheap enough for an admin audit of one account.
"""

from __future__ import annotations

from collections import defaultdict

from domain.ledger.model import Entry, Grant, PendingStatus
from domain.ledger.ports import LedgerRepository

EVERYTHING = 10**12


def violations(repo: LedgerRepository, account_id: str) -> list[str]:
    account = repo.get_account(account_id)
    if account is None:
        return [f"account {account_id} does not exist"]
    found: list[str] = []
    entries = sorted(repo.list_entries(account_id, limit=EVERYTHING), key=lambda e: e.seq)
    running = 0
    for expected_seq, entry in enumerate(entries, start=1):
        if entry.seq != expected_seq:
            found.append(f"entry {entry.id} has seq {entry.seq}, expected {expected_seq}")
        running += entry.amount
        if entry.balance_after != running:
            found.append(f"entry {entry.id} says balance_after {entry.balance_after}, the chain gives {running}")
    if running != account.balance:
        found.append(f"balance {account.balance} != sum of entries {running}")  # invariant 1
    if account.last_seq != len(entries):
        found.append(f"last_seq {account.last_seq} != {len(entries)} entries")
    if account.balance < 0 or account.held < 0 or account.available < 0:  # invariant 2
        found.append(f"balance {account.balance}, held {account.held}, available {account.available}")
    grants = repo.all_grants(account_id)
    if sum(g.remaining for g in grants) != account.balance:  # invariant 3
        found.append(f"grants hold {sum(g.remaining for g in grants)}, balance is {account.balance}")
    found += [
        f"grant {g.id}: remaining {g.remaining} of {g.granted}" for g in grants if not 0 <= g.remaining <= g.granted
    ]
    holds = repo.active_holds(account_id)
    if sum(h.amount for h in holds) != account.held:
        found.append(f"held {account.held} != active holds {sum(h.amount for h in holds)}")
    found += [f"hold {h.id}: amount {h.amount} of {h.requested}" for h in holds if not 0 <= h.amount <= h.requested]
    found += _allocation_violations(repo, entries, grants)
    found += _pending_violations(repo, account_id, grants)
    return found


def _pending_violations(repo: LedgerRepository, account_id: str, grants: list[Grant]) -> list[str]:
    """Pending grants stay outside the balance: an open or voided one has no grant behind it; a
    released one has exactly one grant of its source and amount, and no two share a grant."""
    found: list[str] = []
    by_id = {g.id: g for g in grants}
    claimed: set[str] = set()
    for pending in repo.pending_grants(account_id):
        if pending.amount <= 0:
            found.append(f"pending grant {pending.id}: amount {pending.amount}")
        if pending.status is PendingStatus.RELEASED:
            grant = by_id.get(pending.grant_id or "")
            if grant is None:
                found.append(f"pending grant {pending.id} released without a grant")
            elif grant.granted != pending.amount or grant.source is not pending.source:
                found.append(
                    f"pending grant {pending.id} of {pending.amount} released as {grant.granted} ({grant.source})"
                )
            if pending.grant_id in claimed:
                found.append(f"pending grant {pending.id} shares grant {pending.grant_id}")
            claimed.add(pending.grant_id or "")
        elif pending.grant_id is not None:
            found.append(f"pending grant {pending.id} is {pending.status.value} but names grant {pending.grant_id}")
        if (pending.status is PendingStatus.PENDING) != (pending.finished_at is None):
            found.append(
                f"pending grant {pending.id}: status {pending.status.value}, finished_at {pending.finished_at}"
            )
    return found


def _allocation_violations(repo: LedgerRepository, entries: list[Entry], grants: list[Grant]) -> list[str]:
    """Each debit records exactly what it took from each grant, so granted - remaining adds up."""
    found: list[str] = []
    taken: dict[str, int] = defaultdict(int)
    for entry in entries:
        if entry.amount >= 0:
            continue
        allocations = repo.allocations_of_entry(entry.id)
        if sum(a.amount for a in allocations) != -entry.amount:
            found.append(f"entry {entry.id} removed {-entry.amount} but allocated {sum(a.amount for a in allocations)}")
        for allocation in allocations:
            taken[allocation.grant_id] += allocation.amount
    for grant in grants:
        if grant.granted - grant.remaining != taken[grant.id]:
            found.append(f"grant {grant.id}: {grant.granted - grant.remaining} used, allocations say {taken[grant.id]}")
    return found
