"""GDPR and teams (issue 23), on SQLite: erasing a member removes their memberships and the
invitations to their address; erasing an owner deletes their workspace with its memberships."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from adapters.sql.tables import coaching_workspaces, workspace_invitations, workspace_members
from adapters.sql.uow import SqlUnitOfWorkFactory
from domain.shared.clock import ManualClock
from entrypoints.bootstrap import bootstrap
from tests.fixtures.backends import sqlite_engine
from tests.fixtures.settings import T0, make_settings, unique

PASSWORD = "correct horse battery"


def test_erasure_removes_memberships_invitations_and_an_owners_team(tmp_path: Path) -> None:
    engine = sqlite_engine(tmp_path / "gdpr-teams.db")
    container = bootstrap(make_settings(), clock=ManualClock(T0), uow=SqlUnitOfWorkFactory(engine))
    coaching = container.coaching
    assert coaching is not None
    emails = {name: f"{unique(name)}@example.com" for name in ("owner", "ann", "bob")}
    ids = {name: container.identity.register(email, PASSWORD).user.id for name, email in emails.items()}
    kept = coaching.create_workspace(ids["bob"], name="Bob's")
    doomed = coaching.create_workspace(ids["owner"], name="Owner's")
    for workspace, inviter in ((kept, "bob"), (doomed, "owner")):
        invitation = coaching.invite(ids[inviter], workspace.id, email=emails["ann"], role="member")
        coaching.respond_to_invitation(ids["ann"], invitation.id, accept=True)
    coaching.invite(ids["bob"], kept.id, email=emails["owner"], role="viewer")  # pending, to the owner

    def count(table: object, *where: object) -> int:
        with engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(table).where(*where)).scalar_one())  # type: ignore[arg-type]

    container.platform24.gdpr.erase(ids["ann"], PASSWORD)
    assert count(workspace_members, workspace_members.c.user_id == ids["ann"]) == 0
    assert count(workspace_invitations, workspace_invitations.c.email == emails["ann"]) == 0
    assert count(workspace_invitations, workspace_invitations.c.workspace_id == kept.id) == 1  # the owner's, pending
    container.platform24.gdpr.erase(ids["owner"], PASSWORD)
    assert count(coaching_workspaces, coaching_workspaces.c.id == doomed.id) == 0
    assert count(workspace_invitations, workspace_invitations.c.email == emails["owner"]) == 0
    assert [w.id for w in coaching.list_workspaces(ids["bob"]).items] == [kept.id]
    engine.dispose()
