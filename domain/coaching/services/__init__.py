"""The coaching use cases, one module per group; `Coaching` is the one object the entrypoints use.

route -> use case: /v1/workspaces, /goals, /todos -> workspaces.py; /v1/chat -> chat.py;
/v1/tasks -> tasks.py. Shared ports, policy check, pages and keys: base.py.
"""
from __future__ import annotations

from domain.coaching.services.base import DEFAULT_COACH, CoachingConfig
from domain.coaching.services.chat import ChatUseCases, Delta, Done, Exchange, Failed, SessionView, StreamEvent
from domain.coaching.services.tasks import RUN_TASK_JOB, SweepResult, TaskUseCases
from domain.coaching.services.workspaces import WorkspaceUseCases


class Coaching(WorkspaceUseCases, ChatUseCases, TaskUseCases):
    def sweep(self) -> SweepResult:
        """The periodic job: fail stuck tasks, settle stored-but-uncaptured charges."""
        try:
            failed, settled_tasks = self.sweep_tasks()
        finally:
            settled_messages = self.settle_pending_messages()  # runs even when some task was broken
        return SweepResult(failed=failed, settled_tasks=settled_tasks, settled_messages=settled_messages)


__all__ = [
    "DEFAULT_COACH", "RUN_TASK_JOB", "Coaching", "CoachingConfig", "Delta", "Done", "Exchange", "Failed",
    "SessionView", "StreamEvent", "SweepResult",
]  # fmt: skip
