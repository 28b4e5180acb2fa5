"""Budgets inside a hold (issue 23): spending caps per workspace and per member, checked by the one
rule below under the payer's account lock, so that no path can spend past a cap.

The ledger knows a budget only as a `BudgetScope`: an opaque `budget_id` (coaching passes a
workspace id) and a `member_id` (who spends). Caps and monthly usage come from a `BudgetRepository`
read inside the same unit of work as the hold. Every spend on a member's behalf is a hold on the
payer's account (the workspace's owner), and every hold, capture, void and expiry of that account
locks its row first (`Book`), so two members' holds serialise on that lock and cannot together pass
a cap. Usage is kept as rollup rows per (budget, month) and (budget, member, month): O(1) to read.

| step | budget usage (this month's rollups) |
| --- | --- |
| hold N | +N at both levels, after `check_spend` allows it; the reservation is remembered by hold id |
| capture M (M <= N) | -(N - M): the difference is released at both levels |
| void, expiry (TTL or sweep) | -N: everything is released |
| grant expiry trims the hold | nothing until it finishes (a capture then charges at most what is left) |

A spend that lands exactly on a cap is allowed (`used + amount <= cap`); `None` is no cap. A cap
lowered below what is already used refuses every new spend and takes nothing back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from domain.ledger.errors import InsufficientCredits, MemberBudgetExceeded, WorkspaceBudgetExceeded

WORKSPACE_LEVEL = ""  # the member_id of a budget's own (whole-workspace) usage row


@dataclass(frozen=True, slots=True)
class BudgetScope:
    budget_id: str  # the workspace
    member_id: str  # who spends


@dataclass(frozen=True, slots=True)
class Caps:
    budget: int | None  # the workspace's monthly limit
    member: int | None  # the member's monthly limit in it


@dataclass(frozen=True, slots=True)
class Reservation:
    """What one hold added to a budget's usage, until the hold finishes."""

    hold_id: str
    budget_id: str
    member_id: str
    month: str  # YYYY-MM (UTC) of the hold: its capture adjusts that month's usage
    reserved: int


def check_spend(amount: int, *, available: int, caps: Caps, budget_used: int, member_used: int) -> None:
    """Refuse `amount` unless the payer's available balance, the workspace's remaining cap and the
    member's remaining cap all cover it. The refusal names the level that binds (the least room;
    on a tie: the balance, then the workspace, then the member) and says how much room there is."""
    levels: list[tuple[int, type[InsufficientCredits]]] = [(available, InsufficientCredits)]
    if caps.budget is not None:
        levels.append((caps.budget - budget_used, WorkspaceBudgetExceeded))
    if caps.member is not None:
        levels.append((caps.member - member_used, MemberBudgetExceeded))
    room, refusal = min(levels, key=lambda level: level[0])  # min() keeps the first of equals
    if amount > room:
        raise refusal(needed=amount, available=max(room, 0))


class BudgetRepository(Protocol):
    """Caps, usage rollups and live reservations. Never commits."""

    def caps_and_usage(self, scope: BudgetScope, month: str) -> tuple[Caps, int, int]:
        """What a hold's check reads, in one read: the caps, the workspace's usage of the month
        and the member's (0 when there is no row yet)."""

    def usage(self, budget_id: str, member_id: str, month: str) -> int:
        """Credits used (reserved by active holds plus captured) in the month; WORKSPACE_LEVEL for all."""

    def usage_of_month(self, budget_id: str, month: str, members: tuple[str, ...] | None = None) -> dict[str, int]:
        """The month's rows (only these members' when given; one read): member_id -> credits
        (WORKSPACE_LEVEL is the whole workspace). Missing rows are missing, not 0."""

    def add_usage(self, budget_id: str, members: tuple[str, ...], month: str, credits: int) -> None:
        """Add a signed amount to these members' rollup rows (each created at 0 when missing)."""

    def add_reservation(self, reservation: Reservation) -> None: ...
    def take_reservation(self, hold_id: str) -> Reservation | None:
        """The hold's reservation, removed; None when the hold spent no budget."""
