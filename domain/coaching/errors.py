"""Errors of the coaching area."""

from __future__ import annotations

from domain.shared.errors import Conflict, DomainError, InvalidInput, NotFound


class CoachUnavailable(DomainError):
    """The coach model did not answer: timeouts, connection errors, 429/5xx after retries,
    a stream that broke before any text, 4xx. HTTP 502; nothing is charged."""

    code = "llm_unavailable"


class WorkspaceNotFound(NotFound):
    """Also for a workspace (or anything in it) that exists but the caller may not see."""

    def __init__(self, what: str = "workspace") -> None:
        super().__init__(f"No such {what}.")


class TaskNotCancellable(Conflict):
    code = "task_not_cancellable"


class UnknownCoach(InvalidInput):
    def __init__(self, coach: str) -> None:
        super().__init__(f"Unknown coach {coach!r}.", details={"coach": "Not in GET /v1/coaches."})


class UnknownTaskType(InvalidInput):
    def __init__(self, task_type: str) -> None:
        super().__init__(f"Unknown task type {task_type!r}.", details={"type": "Not a task type."})


class RequestInProgress(Conflict):
    """The same Idempotency-Key is still being served by another request (issue 19): retry later
    with the same key to get its result. The model is never called twice for one key."""

    code = "request_in_progress"

    def __init__(self) -> None:
        super().__init__("A request with this Idempotency-Key is still being served; retry shortly with the same key.")
