"""The coaching use cases, one module per group; `Coaching` is the one object the entrypoints use.

route -> use case: /v1/workspaces, /goals, /todos -> workspaces.py; /v1/chat -> chat.py;
/v1/tasks -> tasks.py. Shared ports, policy check, pages and keys: base.py.
"""
from __future__ import annotations

from domain.coaching.errors import TaskNotCancellable
from domain.coaching.model import TaskStatus
from domain.coaching.policy import Action
from domain.coaching.services.base import DEFAULT_COACH, CoachingConfig
from domain.coaching.services.chat import DELETE_ROUNDS
from domain.shared.errors import Conflict
from domain.coaching.services.chat import ChatUseCases, Delta, Done, Exchange, Failed, SessionView, StreamEvent
from domain.coaching.services.tasks import RUN_TASK_JOB, SweepResult, TaskUseCases
from domain.coaching.services.teams import InvitationView, TeamUseCases, WorkspaceUsage, WorkspaceView
from domain.coaching.services.workspaces import WorkspaceUseCases


class Coaching(WorkspaceUseCases, ChatUseCases, TaskUseCases, TeamUseCases):
    def delete_workspace(self, user_id: str, workspace_id: str) -> None:
        """Delete the workspace and everything in it, never a charge (issue 19, defects 1 and 7).

        In one transaction whose first statement locks the workspace row (create_task takes the same
        lock, so a task is either seen here or finds no workspace), then its sessions' rows (answers
        are stored under them): when nothing is left to settle, everything is deleted. Otherwise,
        outside the transaction, unfinished tasks are cancelled (holds released), succeeded tasks and
        stored answers not yet captured are captured, and the deletion is tried again."""
        for _ in range(DELETE_ROUNDS):
            with self._uow() as uow:
                self._authorize(uow, uow.coaching.get_workspace_for_update(workspace_id), user_id, Action.OWN)
                uow.coaching.lock_sessions(workspace_id)
                unsettled = uow.coaching.unsettled_messages_in(workspace_id)
                tasks = uow.coaching.tasks_of_workspace(workspace_id)
                open_tasks = [t for t in tasks if not t.status.finished]
                uncaptured = [t for t in tasks if t.status is TaskStatus.SUCCEEDED and not t.settled]
                if not (unsettled or open_tasks or uncaptured):
                    uow.teams.delete_workspace_teams(workspace_id)
                    uow.coaching.delete_workspace(workspace_id)
                    uow.commit()
                    return
            for task in open_tasks:
                try:
                    self._cancel_task_as(task.owner_id, task.id)  # its creator; the payer is on the task
                except TaskNotCancellable:  # it finished meanwhile: the next round settles it
                    pass
            for task in uncaptured:
                self._settle(task)
            for message in unsettled:
                self._capture(message.account_id or user_id, message)  # the payer of that answer
        raise Conflict("The workspace's last charges are still being settled; try again.")

    def sweep(self) -> SweepResult:
        """The periodic job: fail stuck tasks, settle stored-but-uncaptured charges."""
        try:
            failed, settled_tasks = self.sweep_tasks()
        finally:
            settled_messages = self.settle_pending_messages()  # runs even when some task was broken
        return SweepResult(failed=failed, settled_tasks=settled_tasks, settled_messages=settled_messages)


__all__ = [
    "DEFAULT_COACH", "RUN_TASK_JOB", "Coaching", "CoachingConfig", "Delta", "Done", "Exchange", "Failed",
    "InvitationView", "SessionView", "StreamEvent", "SweepResult", "WorkspaceUsage", "WorkspaceView",
]  # fmt: skip
