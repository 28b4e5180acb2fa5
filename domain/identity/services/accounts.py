"""Account use cases: register, admins, the caller's profile, user listings."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from enum import Enum

from domain.identity.core import AuthResult, TokenIssuer, UserCreatedHook
from domain.identity.errors import EmailTaken, UserNotFound
from domain.identity.model import (
    FREE_PLAN,
    Role,
    User,
    check_password,
    clean_name,
    normalize_email,
)
from domain.identity.ports import IdentityUnitOfWork, PasswordHasher
from domain.shared.audit import AuditAction, AuditRecord
from domain.shared.clock import Clock
from domain.shared.errors import DuplicateRecord
from domain.shared.ids import IdGenerator
from domain.shared.pagination import Page, check_limit, id_cursor, id_position, page_of
from domain.shared.uow import transaction


class Unset(Enum):
    UNSET = "unset"


UNSET = Unset.UNSET


class AccountUseCases:
    """Register, admins, the caller's profile, user listings."""

    def __init__(
        self,
        *,
        uow: Callable[[], IdentityUnitOfWork],
        clock: Clock,
        ids: IdGenerator,
        hasher: PasswordHasher,
        issuer: TokenIssuer,
        on_user_created: Sequence[UserCreatedHook] = (),
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._hasher = hasher
        self._issuer = issuer
        self._on_user_created = tuple(on_user_created)

    def register(self, email: str, password: str, name: str | None = None) -> AuthResult:
        email = normalize_email(email)
        check_password(password)
        name = clean_name(name)
        password_hash = self._hasher.hash(password)  # slow: before the unit of work opens
        return transaction(self._uow, lambda uow: self._register(uow, email, password_hash, name))

    def _register(self, uow: IdentityUnitOfWork, email: str, password_hash: str, name: str | None) -> AuthResult:
        now = self._clock.now()
        user = self._add_user(uow, email, password_hash, name, Role.USER, now)
        return self._issuer.issue(uow, user, now, family_id=None)

    def create_admin(self, email: str, password: str) -> User:
        """Create an admin, or promote the user who has this email (the password is then ignored)."""
        email = normalize_email(email)
        promoted = transaction(self._uow, lambda uow: self._promote(uow, email))
        if promoted is not None:
            return promoted
        check_password(password)
        password_hash = self._hasher.hash(password)
        return transaction(
            self._uow, lambda uow: self._add_user(uow, email, password_hash, None, Role.ADMIN, self._clock.now())
        )

    def promote_admin(self, email: str) -> User | None:
        """Make the user who has this email an admin; None when nobody has it (nothing changes)."""
        normalized = normalize_email(email)
        return transaction(self._uow, lambda uow: self._promote(uow, normalized))

    def _promote(self, uow: IdentityUnitOfWork, email: str) -> User | None:
        user = uow.users.get_by_email(email)
        if user is None:
            return None
        if user.role is not Role.ADMIN:  # audited: the system (the CLI) made an admin
            uow.audit.add(
                AuditRecord(
                    id=self._ids.new_id("aud"),
                    at=self._clock.now(),
                    actor_id=None,
                    action=AuditAction.ROLE_CHANGED,
                    subject_type="user",
                    subject_id=user.id,
                    details={"from": user.role.value, "to": "admin"},
                )
            )
        user.role, user.updated_at = Role.ADMIN, self._clock.now()
        uow.users.update(user)
        return user

    def _add_user(
        self, uow: IdentityUnitOfWork, email: str, password_hash: str, name: str | None, role: Role, now: datetime
    ) -> User:
        if uow.users.get_by_email(email) is not None:
            raise EmailTaken()
        user = User(
            id=self._ids.new_id("usr"),
            email=email,
            password_hash=password_hash,
            role=role,
            plan=FREE_PLAN,
            created_at=now,
            updated_at=now,
            name=name,
        )
        try:
            uow.users.add(user)
        except DuplicateRecord:  # another request took the email since the check above
            raise EmailTaken() from None
        for hook in self._on_user_created:
            hook(uow, user)
        return user

    def get_user(self, user_id: str) -> User:
        with self._uow() as uow:
            user = uow.users.get(user_id)
        if user is None:
            raise UserNotFound()
        return user

    def update_me(self, user_id: str, *, name: str | None | Unset = UNSET) -> User:
        """Change what users may change about themselves; UNSET leaves a field as it is."""
        new_name = name if isinstance(name, Unset) else clean_name(name)
        return transaction(self._uow, lambda uow: self._update_me(uow, user_id, new_name))

    def _update_me(self, uow: IdentityUnitOfWork, user_id: str, name: str | None | Unset) -> User:
        user = uow.users.get(user_id)
        if user is None:
            raise UserNotFound()
        if not isinstance(name, Unset):
            user.name, user.updated_at = name, self._clock.now()
            uow.users.update(user)
        return user

    def list_users(self, *, limit: int = 50, cursor: str | None = None) -> Page[User]:
        """Every user by id (ids are time-ordered), in keyset pages."""
        check_limit(limit)
        after = id_cursor(cursor)
        with self._uow() as uow:
            users = uow.users.list_after(after, limit + 1)
        return page_of(users, limit, id_position)

    def user_ids_on_plan(self, plan: str, *, after: str | None, limit: int) -> list[str]:
        """Ids of the users on `plan`, ascending, after `after` (keyset for periodic jobs)."""
        with self._uow() as uow:
            return uow.users.ids_on_plan(plan, after, limit)
