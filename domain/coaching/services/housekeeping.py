"""What spans chats and tasks: deleting a workspace (never a charge with it) and the periodic sweep."""

from __future__ import annotations

from collections.abc import Callable

from domain.coaching.errors import TaskNotCancellable
from domain.coaching.model import Message, Task, TaskStatus
from domain.coaching.policy import Action
from domain.coaching.ports import CoachingUnitOfWork
from domain.coaching.services.base import authorized
from domain.coaching.services.settlement import DELETE_ROUNDS, AnswerSettlement
from domain.coaching.services.tasks import SweepResult, TaskUseCases
from domain.shared.errors import Conflict
from domain.shared.uow import transaction


class Housekeeping:
    def __init__(
        self, *, uow: Callable[[], CoachingUnitOfWork], answers: AnswerSettlement, tasks: TaskUseCases
    ) -> None:
        self._uow, self._answers, self._tasks = uow, answers, tasks

    def delete_workspace(self, user_id: str, workspace_id: str) -> None:
        """Delete the workspace and everything in it, never a charge (issue 19, defects 1 and 7).

        In one transaction whose first statement locks the workspace row (create_task takes the same
        lock, so a task is either seen here or finds no workspace), then its sessions' rows (answers
        are stored under them): when nothing is left to settle, everything is deleted. Otherwise,
        outside the transaction, unfinished tasks are cancelled (holds released), succeeded tasks and
        stored answers not yet captured are captured, and the deletion is tried again."""

        def attempt(uow: CoachingUnitOfWork) -> tuple[list[Message], list[Task], list[Task]]:
            """Delete when nothing is left to settle; else what is, with nothing changed."""
            authorized(uow, uow.coaching.get_workspace_for_update(workspace_id), user_id, Action.OWN)
            uow.coaching.lock_sessions(workspace_id)
            unsettled = uow.coaching.unsettled_messages_in(workspace_id)
            tasks = uow.coaching.tasks_of_workspace(workspace_id)
            open_tasks = [t for t in tasks if not t.status.finished]
            uncaptured = [t for t in tasks if t.status is TaskStatus.SUCCEEDED and not t.settled]
            if not (unsettled or open_tasks or uncaptured):
                uow.teams.delete_workspace_teams(workspace_id)
                uow.coaching.delete_workspace(workspace_id)
            return unsettled, open_tasks, uncaptured

        for _ in range(DELETE_ROUNDS):
            unsettled, open_tasks, uncaptured = transaction(self._uow, attempt)
            if not (unsettled or open_tasks or uncaptured):
                return
            for task in open_tasks:
                try:
                    self._tasks.cancel_as(task.owner_id, task.id)  # its creator; the payer is on the task
                except TaskNotCancellable:  # it finished meanwhile: the next round settles it
                    pass
            for task in uncaptured:
                self._tasks.settle(task)
            for message in unsettled:
                self._answers.capture(message.account_id or user_id, message)  # the payer of that answer
        raise Conflict("The workspace's last charges are still being settled; try again.")

    def sweep(self) -> SweepResult:
        """The periodic job: fail stuck tasks, settle stored-but-uncaptured charges."""
        try:
            failed, settled_tasks = self._tasks.sweep_tasks()
        finally:
            settled_messages = self._answers.settle_pending_messages()  # runs even when some task was broken
        return SweepResult(failed=failed, settled_tasks=settled_tasks, settled_messages=settled_messages)
