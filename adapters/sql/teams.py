"""SQL memberships, invitations and workspace budgets (issue 23), over SQLAlchemy Core. Never commits."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, insert, or_, select, update
from sqlalchemy.engine import RowMapping

from adapters.sql.db import upsert_adding
from adapters.sql.tables import (
    budget_reservations,
    budget_usage,
    coaching_workspaces,
    users,
    workspace_invitations,
    workspace_members,
)
from domain.coaching.members import Invitation, InvitationStatus, Membership, MemberView
from domain.coaching.model import Role, Workspace
from domain.ledger.budgets import WORKSPACE_LEVEL, BudgetScope, Caps, Reservation

if TYPE_CHECKING:
    from adapters.sql.db import Db


def _membership(row: RowMapping) -> Membership:
    return Membership(**{**dict(row), "role": Role(row["role"])})


def _invitation(row: RowMapping) -> Invitation:
    return Invitation(**{**dict(row), "role": Role(row["role"]), "status": InvitationStatus(row["status"])})


def _values(entity: Any) -> dict[str, Any]:
    return {k: (v.value if isinstance(v, (Role, InvitationStatus)) else v) for k, v in asdict(entity).items()}


class SqlTeamsRepository:
    def __init__(self, db: Db) -> None:
        self._db = db

    # members
    def get_member(self, workspace_id: str, user_id: str) -> Membership | None:
        t = workspace_members
        row = (
            self._db.execute(select(t).where(t.c.workspace_id == workspace_id, t.c.user_id == user_id))
            .mappings()
            .first()
        )
        return _membership(row) if row is not None else None

    def add_member(self, membership: Membership) -> None:
        self._db.execute(insert(workspace_members).values(_values(membership)))

    def update_member(self, membership: Membership) -> None:
        t = workspace_members
        self._db.execute(
            update(t)
            .where(t.c.workspace_id == membership.workspace_id, t.c.user_id == membership.user_id)
            .values(role=membership.role.value, monthly_credit_limit=membership.monthly_credit_limit)
        )

    def remove_member(self, workspace_id: str, user_id: str) -> None:
        t = workspace_members
        self._db.execute(delete(t).where(t.c.workspace_id == workspace_id, t.c.user_id == user_id))

    def list_members(self, workspace_id: str) -> list[MemberView]:
        m, u = workspace_members, users
        query = (
            select(m, u.c.email, u.c.name)
            .join(u, u.c.id == m.c.user_id)
            .where(m.c.workspace_id == workspace_id)
            .order_by(m.c.user_id)
        )
        return [
            MemberView(r["user_id"], r["email"], r["name"], Role(r["role"]), r["monthly_credit_limit"], r["joined_at"])
            for r in self._db.execute(query).mappings()
        ]

    def contact(self, user_id: str) -> tuple[str, str | None] | None:
        row = self._db.execute(select(users.c.email, users.c.name).where(users.c.id == user_id)).mappings().first()
        return (row["email"], row["name"]) if row is not None else None

    def user_id_by_email(self, email: str) -> str | None:
        row = self._db.execute(select(users.c.id).where(users.c.email == email)).first()
        return str(row[0]) if row is not None else None

    def workspaces_of(self, user_id: str, *, limit: int, before: str | None) -> list[tuple[Workspace, Role]]:
        w, m = coaching_workspaces, workspace_members
        query = (
            select(w, m.c.role.label("member_role"))
            .outerjoin(m, (m.c.workspace_id == w.c.id) & (m.c.user_id == user_id))
            .where(or_(w.c.owner_id == user_id, m.c.user_id.is_not(None)))
        )
        if before is not None:
            query = query.where(w.c.id < before)
        rows = self._db.execute(query.order_by(w.c.id.desc()).limit(limit)).mappings()
        found = []
        for row in rows:
            values = dict(row)
            member_role = values.pop("member_role")
            workspace = Workspace(**values)
            found.append((workspace, Role.OWNER if workspace.owner_id == user_id else Role(member_role)))
        return found

    # invitations
    def add_invitation(self, invitation: Invitation) -> None:
        self._db.execute(insert(workspace_invitations).values(_values(invitation)))

    def get_invitation(self, invitation_id: str) -> Invitation | None:
        t = workspace_invitations
        row = self._db.execute(select(t).where(t.c.id == invitation_id)).mappings().first()
        return _invitation(row) if row is not None else None

    def update_invitation(self, invitation: Invitation) -> None:
        t = workspace_invitations
        self._db.execute(update(t).where(t.c.id == invitation.id).values(_values(invitation)))

    def pending_invitation(self, workspace_id: str, email: str) -> Invitation | None:
        t = workspace_invitations
        query = select(t).where(
            t.c.workspace_id == workspace_id, t.c.email == email, t.c.status == InvitationStatus.PENDING.value
        )
        row = self._db.execute(query).mappings().first()
        return _invitation(row) if row is not None else None

    def invitations_of_workspace(self, workspace_id: str, *, limit: int, before: str | None) -> list[Invitation]:
        return self._newest(workspace_invitations.c.workspace_id == workspace_id, limit, before)

    def invitations_for(self, email: str, *, limit: int, before: str | None) -> list[Invitation]:
        t = workspace_invitations
        return self._newest((t.c.email == email) & (t.c.status == InvitationStatus.PENDING.value), limit, before)

    def _newest(self, where: Any, limit: int, before: str | None) -> list[Invitation]:
        t = workspace_invitations
        query = select(t).where(where)
        if before is not None:
            query = query.where(t.c.id < before)
        return [_invitation(r) for r in self._db.execute(query.order_by(t.c.id.desc()).limit(limit)).mappings()]

    def delete_workspace_teams(self, workspace_id: str) -> None:
        for t in (workspace_members, workspace_invitations):
            self._db.execute(delete(t).where(t.c.workspace_id == workspace_id))


# The budget's hot writes (a hold's check and its finish), built once so that the write batch
# compiles each once (adapters/sql/batch.py): rollup rows upserted, reservations added and dropped.
ADD_USAGE = upsert_adding(budget_usage, "used")
ADD_RESERVATION = insert(budget_reservations)
DROP_RESERVATION = delete(budget_reservations).where(budget_reservations.c.hold_id == bindparam("hold"))


class SqlBudgetRepository:
    """Caps are read from the workspace and the membership rows in the hold's transaction."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def caps_and_usage(self, scope: BudgetScope, month: str) -> tuple[Caps, int, int]:
        """One SELECT of four scalar subqueries (the hold's check: one round trip, not two)."""
        w, m, u = coaching_workspaces, workspace_members, budget_usage

        def used(member_id: str) -> Any:
            return (
                select(u.c.used)
                .where(u.c.budget_id == scope.budget_id, u.c.month == month, u.c.member_id == member_id)
                .scalar_subquery()
            )

        query = select(
            select(w.c.monthly_credit_limit).where(w.c.id == scope.budget_id).scalar_subquery().label("budget"),
            select(m.c.monthly_credit_limit)
            .where(m.c.workspace_id == scope.budget_id, m.c.user_id == scope.member_id)
            .scalar_subquery()
            .label("member"),
            used(WORKSPACE_LEVEL).label("budget_used"),
            used(scope.member_id).label("member_used"),
        )
        row = self._db.execute(query).mappings().one()
        return (
            Caps(budget=row["budget"], member=row["member"]),
            int(row["budget_used"] or 0),
            int(row["member_used"] or 0),
        )

    def usage(self, budget_id: str, member_id: str, month: str) -> int:
        t = budget_usage
        used = self._db.execute(
            select(t.c.used).where(t.c.budget_id == budget_id, t.c.month == month, t.c.member_id == member_id)
        ).scalar_one_or_none()
        return int(used or 0)

    def usage_of_month(self, budget_id: str, month: str, members: tuple[str, ...] | None = None) -> dict[str, int]:
        t = budget_usage
        query = select(t.c.member_id, t.c.used).where(t.c.budget_id == budget_id, t.c.month == month)
        if members is not None:
            query = query.where(t.c.member_id.in_(members))
        return {str(r["member_id"]): int(r["used"]) for r in self._db.execute(query).mappings()}

    def add_usage(self, budget_id: str, members: tuple[str, ...], month: str, credits: int) -> None:
        """One upsert of the rows (both levels), created at `credits` when missing (the first spend
        of a month): a write nobody reads back, so it leaves with the unit's next statement or its
        COMMIT where writes are batched (adapters/sql/batch.py). All under the payer's account
        lock, which every writer of this budget's rows holds."""
        rows = [{"budget_id": budget_id, "month": month, "member_id": m, "used": credits} for m in sorted(set(members))]
        self._db.write(ADD_USAGE[self._db.dialect], rows)

    def add_reservation(self, reservation: Reservation) -> None:
        self._db.write(ADD_RESERVATION, asdict(reservation))

    def take_reservation(self, hold_id: str) -> Reservation | None:
        t = budget_reservations
        row = self._db.execute(select(t).where(t.c.hold_id == hold_id)).mappings().first()
        if row is None:
            return None
        self._db.write(DROP_RESERVATION, {"hold": hold_id})
        return Reservation(**dict(row))
