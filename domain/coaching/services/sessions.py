"""Chat sessions: start one with a coach, read it with a page of its messages, list. (Deleting one
settles its answers first: chat.py.)"""

from __future__ import annotations

from collections.abc import Callable

from domain.coaching.errors import UnknownCoach, WorkspaceNotFound
from domain.coaching.model import TITLE_MAX, ChatSession, Coach, Workspace, check_length
from domain.coaching.policy import Action, may
from domain.coaching.ports import CoachingUnitOfWork
from domain.coaching.services.base import DEFAULT_COACH, access, access_within, role_in
from domain.coaching.services.results import SessionView
from domain.shared.clock import Clock
from domain.shared.ids import IdGenerator
from domain.shared.pagination import Page, check_limit, id_cursor, page_of, seq_cursor
from domain.shared.uow import transaction


def own_session(
    uow: CoachingUnitOfWork, workspace: Workspace, session: ChatSession, user_id: str, *, others_may: bool
) -> None:
    """Sessions are their author's (issue 23): another member gets 404. The owner and admins may
    read and delete every session of the workspace (`others_may`), never talk in someone else's."""
    if session.owner_id == user_id:
        return
    if not (others_may and may(role_in(uow, workspace, user_id), Action.MEMBERS)):
        raise WorkspaceNotFound("chat session")


def session_for(uow: CoachingUnitOfWork, user_id: str, session_id: str, action: Action) -> ChatSession:
    """The session, when `user_id` may do `action` with it (its author, or the owner and admins)."""
    session = uow.coaching.get_session(session_id)
    workspace = access_within(uow, session.workspace_id if session else None, user_id, action, "chat session")
    assert session is not None
    own_session(uow, workspace, session, user_id, others_may=True)
    return session


class SessionUseCases:
    def __init__(
        self, *, uow: Callable[[], CoachingUnitOfWork], clock: Clock, ids: IdGenerator, coaches: dict[str, Coach]
    ) -> None:
        self._uow, self._clock, self._ids = uow, clock, ids
        self._coaches = coaches  # the catalogue the facade owns (shared, so a change is seen here)

    def create_session(
        self, user_id: str, workspace_id: str, *, title: str | None = None, coach: str | None = None
    ) -> ChatSession:
        check_length("title", title, TITLE_MAX)
        coach = coach or DEFAULT_COACH
        if coach not in self._coaches:
            raise UnknownCoach(coach)
        now = self._clock.now()
        session = ChatSession(
            id=self._ids.new_id("chs"),
            workspace_id=workspace_id,
            owner_id=user_id,
            title=title,
            coach=coach,
            created_at=now,
            updated_at=now,
        )

        def work(uow: CoachingUnitOfWork) -> None:
            access(uow, workspace_id, user_id, Action.WRITE)
            uow.coaching.add_session(session)

        transaction(self._uow, work)
        return session

    def get_session(self, user_id: str, session_id: str, *, limit: int = 50, cursor: str | None = None) -> SessionView:
        """The session with a page of its messages, oldest first."""
        check_limit(limit)
        with self._uow() as uow:
            session = session_for(uow, user_id, session_id, Action.READ)
            rows = uow.coaching.list_messages(session_id, limit=limit + 1, after_seq=seq_cursor(cursor))
        return SessionView(session, page_of(rows, limit, lambda m: {"seq": m.seq}))

    def list_sessions(
        self, user_id: str, workspace_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> Page[ChatSession]:
        check_limit(limit)
        with self._uow() as uow:
            workspace = access(uow, workspace_id, user_id, Action.READ)
            everyone = may(role_in(uow, workspace, user_id), Action.MEMBERS)  # else one's own sessions
            rows = uow.coaching.list_sessions(
                workspace_id, limit=limit + 1, before=id_cursor(cursor), owner_id=None if everyone else user_id
            )
        return page_of(rows, limit, lambda s: {"id": s.id})
