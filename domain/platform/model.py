"""The admin area's own limits. Login history lives in domain.identity.logins and the audit
log's records in domain.shared.audit (the areas that write them must not import this one)."""

from __future__ import annotations

from dataclasses import dataclass

from domain.identity.model import User

AUDIT_FILTER_MAX_LENGTH = 64
SEARCH_MAX_LENGTH = 254


@dataclass(frozen=True, slots=True)
class UserSummary:
    """A user as the admin directory shows it: the account plus its credit balance (0 without one)."""

    user: User
    balance: int
    available: int
