"""What the ledger needs from storage. Repositories never commit; the unit of work does.

A write's refusal (a duplicate key, a grant that is not the account's) is raised by the write
itself, by the unit of work's next read, or by its commit: a store may send writes with the
COMMIT. Either way nothing of the unit of work is committed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from domain.ledger.budgets import BudgetRepository, BudgetScope
from domain.ledger.errors import InsufficientCredits
from domain.ledger.model import (
    Account,
    Allocation,
    Entry,
    EntryKind,
    Grant,
    GrantSource,
    Hold,
    IdempotencyRecord,
    PendingGrant,
)
from domain.ledger.results import BalanceView, Movement
from domain.shared.uow import UnitOfWork

if TYPE_CHECKING:  # the services import these ports: only the type checker reads this import
    from domain.ledger.services.book import Work


class LedgerRepository(Protocol):
    """Storage of one or many credit accounts.

    Every getter returns a fresh copy: changing it changes nothing until the matching
    `update_*`/`add_*` call. `get_account_for_update` locks the account row until the unit of
    work ends (SELECT ... FOR UPDATE on MySQL/MariaDB); every mutating use case calls it first.
    """

    def add_account(self, account: Account) -> None: ...
    def get_account(self, account_id: str) -> Account | None: ...
    def get_account_for_update(self, account_id: str) -> Account | None: ...
    def lock_account(self, account_id: str) -> tuple[Account, list[Grant]] | None:
        """`get_account_for_update` and `open_grants` in one round trip: the locked account and
        its grants with remaining > 0 (in any order), or None when there is no such account."""

    def read_account(self, account_id: str) -> tuple[Account, list[Grant]] | None:
        """`lock_account` without the lock: one consistent read of the account and its open grants."""

    def update_account(self, account: Account, grants: Sequence[Grant] = ()) -> None:
        """Write the account, and with it these grants (as `update_grant` would): the SQL adapter
        writes an account and one grant in a single statement on MariaDB."""

    def add_grant(self, grant: Grant) -> None: ...
    def get_grant(self, grant_id: str) -> Grant | None: ...
    def update_grant(self, grant: Grant) -> None: ...
    def open_grants(self, account_id: str) -> list[Grant]:
        """Grants of the account with remaining > 0, in any order."""

    def all_grants(self, account_id: str) -> list[Grant]:
        """Every grant of the account, spent or not, in any order."""

    def accounts_with_expired_grants(self, now: datetime, limit: int) -> list[str]:
        """Ids of accounts that have a grant with expires_at <= now and remaining > 0, ascending."""

    def grants_expiring(self, start: datetime, end: datetime, *, after: str | None, limit: int) -> list[Grant]:
        """Grants with start < expires_at <= end and remaining > 0, by id ascending, ids > after (issue 22)."""

    def add_entry(self, entry: Entry, allocations: Sequence[Allocation] = ()) -> None: ...
    def list_entries(
        self, account_id: str, *, limit: int, before_seq: int | None = None, kind: EntryKind | None = None
    ) -> list[Entry]:
        """Entries newest first (seq descending), with seq < before_seq when given."""

    def allocations_of_entry(self, entry_id: str) -> list[Allocation]:
        """What one entry took from (or returned to) each grant, in any order."""

    def usage_by_feature(self, account_id: str, start: datetime, end: datetime) -> dict[str, int]:
        """Credits spent by `charge` entries created in [start, end), by feature key (None -> "").
        When [start, end) is one UTC calendar month its cost must not grow with the entries of the
        month (the SQL adapter keeps a rollup that `add_entry` writes)."""

    def add_hold(self, hold: Hold) -> None: ...
    def get_hold(self, hold_id: str) -> Hold | None: ...
    def update_hold(self, hold: Hold) -> None: ...
    def active_holds(self, account_id: str) -> list[Hold]: ...
    def accounts_with_expired_holds(self, now: datetime, limit: int) -> list[str]:
        """Ids of accounts that have an active hold with expires_at <= now, ascending."""

    def add_pending_grant(self, pending: PendingGrant) -> None: ...
    def get_pending_grant(self, pending_id: str) -> PendingGrant | None: ...
    def update_pending_grant(self, pending: PendingGrant) -> None: ...
    def pending_grants(self, account_id: str) -> list[PendingGrant]:
        """Every pending grant of the account, whatever its status, in any order."""

    def get_idempotency(self, account_id: str, key: str) -> IdempotencyRecord | None: ...
    def add_idempotency(self, record: IdempotencyRecord) -> None: ...


class LedgerUnitOfWork(UnitOfWork, Protocol):
    @property
    def ledger(self) -> LedgerRepository: ...
    @property
    def budgets(self) -> BudgetRepository: ...


class CreditHolds(Protocol):
    """The two-phase part of the ledger another area may use (coaching, issue 19): reserve credits
    before slow or uncertain work, then capture the actual cost or void. Every call is idempotent
    by its key. `domain.ledger.services.Ledger` satisfies it structurally."""

    def hold(
        self,
        account_id: str,
        *,
        amount: int,
        idempotency_key: str,
        ttl_seconds: int | None = None,
        feature_key: str | None = None,
        reference: str | None = None,
        budget: BudgetScope | None = None,
    ) -> Movement: ...

    def capture(self, account_id: str, hold_id: str, *, amount: int, idempotency_key: str) -> Movement: ...

    def void(self, account_id: str, hold_id: str, *, idempotency_key: str) -> Movement: ...

    def balance(self, account_id: str) -> BalanceView: ...

    # The same two verbs inside the caller's unit of work, for a use case whose own records must
    # commit with the credits (coaching: a message's checks and its hold; its answer and its charge).
    # The caller commits; a domain error leaves the unit of work unfit to commit (roll it back).
    def hold_within(
        self,
        uow: LedgerUnitOfWork,
        account_id: str,
        *,
        amount: int,
        idempotency_key: str,
        ttl_seconds: int | None = None,
        feature_key: str | None = None,
        reference: str | None = None,
        budget: BudgetScope | None = None,
        shrink: Callable[[InsufficientCredits], int] | None = None,
    ) -> Movement: ...

    def capture_within(
        self, uow: LedgerUnitOfWork, account_id: str, hold_id: str, *, amount: int, idempotency_key: str
    ) -> Movement: ...


# --- what other areas may ask of the ledger (issue 26 §3) -------------------------------------
# Each area receives the narrowest of these it needs, never the concrete `Ledger`, so a test can
# hand it a fake that fails a call (tests/unit/test_ledger_ports.py), and the ledger's verbs an
# area may call are written down here. `Ledger` satisfies each structurally; mypy checks that
# where bootstrap() passes it, and in tests/unit/test_ledger_ports.py.


class CreditGrants(Protocol):
    """Credits given and taken back by another area (platform: referral bonuses, the referee's
    welcome grant and their reversal). Every call is idempotent by its key."""

    def grant(
        self,
        account_id: str,
        *,
        source: GrantSource | str,
        amount: int,
        idempotency_key: str,
        expires_at: datetime | None = None,
        reference: str | None = None,
    ) -> Movement: ...

    def reverse_grant(self, grant_id: str, *, amount: int, reason: str, idempotency_key: str) -> Movement: ...

    def add_pending_grant(
        self,
        account_id: str,
        *,
        source: GrantSource | str,
        amount: int,
        idempotency_key: str,
        reference: str | None = None,
    ) -> str: ...

    def release_pending_grant(
        self, pending_id: str, *, idempotency_key: str, expires_at: datetime | None = None
    ) -> Movement: ...

    def void_pending_grant(self, pending_id: str, *, idempotency_key: str) -> Movement: ...

    def pending_grants(self, account_id: str) -> list[PendingGrant]: ...


class CreditBooking(Protocol):
    """A movement of credits inside the caller's own unit of work (billing: a payment converges
    and its credits move in one transaction, `domain/billing/services/converge.py`). `work` says
    what happens to the locked account (a `Book`); the result is saved under `key`, and the caller
    commits. The caller's unit of work must be a `LedgerUnitOfWork` (billing's is)."""

    def book_within(
        self, uow: LedgerUnitOfWork, account_id: str, *, key: str, operation: str, args: dict[str, Any], work: Work
    ) -> Movement: ...
