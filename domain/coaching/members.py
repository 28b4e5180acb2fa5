"""Workspace members, invitations and their rules (issue 23). Pure: no I/O.

The owner is the workspace's `owner_id` (the payer, one per workspace) and has no membership row;
everyone else in a workspace has one, with a role (admin, member, viewer) and an optional monthly
credit limit. Invitations are by e-mail address: whoever holds an account with that address (now,
or after registering later) sees the invitation and may accept or decline it until it expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.coaching.model import Role
from domain.identity.model import EMAIL_MAX_LENGTH, normalize_email
from domain.shared.errors import Conflict, InvalidInput, NotFound

EMAIL_MAX = EMAIL_MAX_LENGTH
MAX_MONTHLY_LIMIT = 10**12  # credits; the ledger's own ceiling is far below anything real
INVITABLE = (Role.ADMIN, Role.MEMBER, Role.VIEWER)  # ownership moves only by transfer


class InvitationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    REVOKED = "revoked"
    EXPIRED = "expired"  # never stored: a pending invitation past its expires_at reads as expired


@dataclass(slots=True)
class Membership:
    workspace_id: str
    user_id: str
    role: Role
    joined_at: datetime
    monthly_credit_limit: int | None = None


@dataclass(frozen=True, slots=True)
class MemberView:
    """A member as listed: the membership with the person's e-mail and name."""

    user_id: str
    email: str
    name: str | None
    role: Role
    monthly_credit_limit: int | None
    joined_at: datetime


@dataclass(slots=True)
class Invitation:
    id: str
    workspace_id: str
    email: str  # normalised (lower case)
    role: Role
    invited_by: str
    status: InvitationStatus
    created_at: datetime
    expires_at: datetime
    responded_at: datetime | None = None

    def status_at(self, now: datetime) -> InvitationStatus:
        if self.status is InvitationStatus.PENDING and self.expires_at <= now:
            return InvitationStatus.EXPIRED
        return self.status

    def respond(self, status: InvitationStatus, now: datetime) -> None:
        """Accept, decline or revoke: only a pending invitation that has not expired."""
        current = self.status_at(now)
        if current is not InvitationStatus.PENDING:
            raise InvitationClosed(current)
        self.status, self.responded_at = status, now


class InvitationNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such invitation.")


class MemberNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such member.")


class InvitationClosed(Conflict):
    code = "invitation_closed"

    def __init__(self, status: InvitationStatus) -> None:
        super().__init__(f"The invitation is {status.value}.", details={"status": status.value})


class OwnerIsFixed(Conflict):
    """The owner cannot be removed, leave, or change role except by transferring ownership."""

    def __init__(self, message: str = "The owner's role changes only by transferring ownership.") -> None:
        super().__init__(message)


def invitable_role(value: str) -> Role:
    try:
        role = Role(value)
    except ValueError:
        role = None
    if role not in INVITABLE:
        allowed = ", ".join(r.value for r in INVITABLE)
        raise InvalidInput(f"Unknown role {value!r}.", details={"role": f"One of {allowed}."})
    assert role is not None
    return role


def check_limit_value(value: int | None, field: str = "monthly_credit_limit") -> int | None:
    """A monthly credit limit: None (no cap) or 0..MAX_MONTHLY_LIMIT (0 lets nothing be spent)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_MONTHLY_LIMIT:
        raise InvalidInput(
            f"{field} must be null or 0 to {MAX_MONTHLY_LIMIT}.", details={field: f"Null or 0 to {MAX_MONTHLY_LIMIT}."}
        )
    return value


def check_email(value: str) -> str:
    """The address as identity stores it (stripped, lower-cased), so an invitation meets its account."""
    return normalize_email(value)
