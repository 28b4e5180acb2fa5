"""Coaching: workspaces, goals, todos, coaches, chat sessions and messages (JSON or SSE), AI tasks.

Every route asks the use cases, which ask the one access policy (domain/coaching/policy.py):
another user's workspace, goal, todo, session or task is 404 on every route.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Generator, Iterator
from dataclasses import asdict
from typing import Any

from flask import Response, request
from flask.views import MethodView

from domain.coaching.services import Coaching, Delta, Done, Exchange, Failed, SessionView, StreamEvent
from domain.shared.errors import DomainError
from entrypoints.http.api import IDEMPOTENCY_CONFLICT, USER_AUTH, Blueprint
from entrypoints.http.auth import current_principal
from entrypoints.http.coaching_schemas import (
    CoachSchema,
    ExchangeSchema,
    GoalArgsSchema,
    GoalCreateSchema,
    GoalPageSchema,
    GoalPatchSchema,
    GoalSchema,
    MessageCreateSchema,
    SessionCreateSchema,
    SessionPageSchema,
    SessionSchema,
    SessionWithMessagesSchema,
    TaskArgsSchema,
    TaskCreateSchema,
    TaskPageSchema,
    TaskSchema,
    TodoArgsSchema,
    TodoCreateSchema,
    TodoPageSchema,
    TodoPatchSchema,
    TodoSchema,
    WorkspaceCreateSchema,
    WorkspacePageSchema,
    WorkspacePatchSchema,
    WorkspaceSchema,
)
from entrypoints.http.context import container
from entrypoints.http.errors import error_body
from entrypoints.http.schemas import OptionalIdempotencyKeyHeaderSchema, PageArgsSchema

log = logging.getLogger("houston.http.coaching")
blp = Blueprint(
    "coaching",
    __name__,
    url_prefix="/v1",
    description="Coaching: workspaces, goals, todos, the AI coach",
    errors={
        403: "Your role in the workspace may not do this, e.g. a viewer writing (forbidden)",
        404: "No such {what} (or not yours) (not_found)",
    },
)
EVENT_STREAM = "text/event-stream"


def coaching() -> Coaching:
    return container().coaching


def me() -> str:
    return current_principal().user_id


# --- workspaces ----------------------------------------------------------------------------------
@blp.route("/workspaces")
class Workspaces(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, WorkspacePageSchema)
    @blp.errors(401, 403, 404, 422, what="workspace")
    def get(self, args: dict[str, Any]) -> Any:
        """The caller's workspaces, newest first (keyset pages)"""
        return coaching().list_workspaces(me(), **args)

    @blp.doc(security=USER_AUTH)
    @blp.arguments(WorkspaceCreateSchema)
    @blp.response(201, WorkspaceSchema)
    @blp.errors(401, 403, 404, 422, what="workspace")
    def post(self, body: dict[str, Any]) -> Any:
        """Create a workspace"""
        return coaching().create_workspace(me(), **body)


@blp.route("/workspaces/<string:workspace_id>")
class WorkspaceItem(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.response(200, WorkspaceSchema)
    @blp.errors(401, 403, 404, 422, what="workspace")
    def get(self, workspace_id: str) -> Any:
        """One workspace"""
        return coaching().get_workspace(me(), workspace_id)

    @blp.doc(security=USER_AUTH)
    @blp.arguments(WorkspacePatchSchema)
    @blp.response(200, WorkspaceSchema)
    @blp.errors(401, 403, 404, 422, what="workspace")
    def patch(self, body: dict[str, Any], workspace_id: str) -> Any:
        """Rename or describe a workspace"""
        return coaching().update_workspace(me(), workspace_id, body)

    @blp.doc(security=USER_AUTH)
    @blp.response(204)
    @blp.errors(401, 403, 404, 422, what="workspace")
    def delete(self, workspace_id: str) -> None:
        """Delete a workspace and everything in it (unfinished tasks are cancelled, their credits released)"""
        coaching().delete_workspace(me(), workspace_id)


# --- goals ---------------------------------------------------------------------------------------
@blp.route("/workspaces/<string:workspace_id>/goals")
class Goals(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(GoalArgsSchema, location="query")
    @blp.response(200, GoalPageSchema)
    @blp.errors(401, 403, 404, 422, what="workspace")
    def get(self, args: dict[str, Any], workspace_id: str) -> Any:
        """The workspace's goals, newest first, optionally by status"""
        return coaching().list_goals(me(), workspace_id, **args)

    @blp.doc(security=USER_AUTH)
    @blp.arguments(GoalCreateSchema)
    @blp.response(201, GoalSchema)
    @blp.errors(401, 403, 404, 422, what="workspace")
    def post(self, body: dict[str, Any], workspace_id: str) -> Any:
        """Add a SMART goal"""
        return coaching().create_goal(me(), workspace_id, body)


@blp.route("/goals/<string:goal_id>")
class GoalItem(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.response(200, GoalSchema)
    @blp.errors(401, 403, 404, 422, what="goal")
    def get(self, goal_id: str) -> Any:
        """One goal"""
        return coaching().get_goal(me(), goal_id)

    @blp.doc(security=USER_AUTH)
    @blp.arguments(GoalPatchSchema)
    @blp.response(200, GoalSchema)
    @blp.errors(401, 403, 404, 422, what="goal")
    def patch(self, body: dict[str, Any], goal_id: str) -> Any:
        """Change a goal: progress 0-100, status, its SMART fields"""
        return coaching().update_goal(me(), goal_id, body)

    @blp.doc(security=USER_AUTH)
    @blp.response(204)
    @blp.errors(401, 403, 404, 422, what="goal")
    def delete(self, goal_id: str) -> None:
        """Delete a goal (its todos stay, no longer tied to it)"""
        coaching().delete_goal(me(), goal_id)


# --- todos ---------------------------------------------------------------------------------------
@blp.route("/workspaces/<string:workspace_id>/todos")
class Todos(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(TodoArgsSchema, location="query")
    @blp.response(200, TodoPageSchema)
    @blp.errors(401, 403, 404, 422, what="workspace")
    def get(self, args: dict[str, Any], workspace_id: str) -> Any:
        """The workspace's todos, newest first, optionally by status and goal"""
        return coaching().list_todos(me(), workspace_id, **args)

    @blp.doc(security=USER_AUTH)
    @blp.arguments(TodoCreateSchema)
    @blp.response(201, TodoSchema)
    @blp.errors(401, 403, 404, 422, what="workspace")
    def post(self, body: dict[str, Any], workspace_id: str) -> Any:
        """Add a todo, optionally tied to a goal of the same workspace"""
        return coaching().create_todo(me(), workspace_id, body)


@blp.route("/todos/<string:todo_id>")
class TodoItem(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.response(200, TodoSchema)
    @blp.errors(401, 403, 404, 422, what="todo")
    def get(self, todo_id: str) -> Any:
        """One todo"""
        return coaching().get_todo(me(), todo_id)

    @blp.doc(security=USER_AUTH)
    @blp.arguments(TodoPatchSchema)
    @blp.response(200, TodoSchema)
    @blp.errors(401, 403, 404, 422, what="todo")
    def patch(self, body: dict[str, Any], todo_id: str) -> Any:
        """Change a todo"""
        return coaching().update_todo(me(), todo_id, body)

    @blp.doc(security=USER_AUTH)
    @blp.response(204)
    @blp.errors(401, 403, 404, 422, what="todo")
    def delete(self, todo_id: str) -> None:
        """Delete a todo"""
        coaching().delete_todo(me(), todo_id)


# --- coaches -------------------------------------------------------------------------------------
@blp.route("/coaches")
class Coaches(MethodView):
    @blp.response(200, CoachSchema(many=True))
    def get(self) -> Any:
        """The coaches a chat session can pick (public)"""
        return list(coaching().coaches.values())


# --- chat ----------------------------------------------------------------------------------------
@blp.route("/workspaces/<string:workspace_id>/chat/sessions")
class Sessions(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, SessionPageSchema)
    @blp.errors(401, 403, 404, 422, what="workspace")
    def get(self, args: dict[str, Any], workspace_id: str) -> Any:
        """The workspace's chat sessions, newest first"""
        return coaching().list_sessions(me(), workspace_id, **args)

    @blp.doc(security=USER_AUTH)
    @blp.arguments(SessionCreateSchema)
    @blp.response(201, SessionSchema)
    @blp.errors(401, 403, 404, 422, what="workspace")
    def post(self, body: dict[str, Any], workspace_id: str) -> Any:
        """Start a chat session with a coach (default houston)"""
        return coaching().create_session(me(), workspace_id, title=body.get("title"), coach=body.get("coach"))


def _session_view(view: SessionView) -> dict[str, Any]:
    return {**asdict(view.session), "messages": view.messages.items, "next_cursor": view.messages.next_cursor}


@blp.route("/chat/sessions/<string:session_id>")
class SessionItem(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, SessionWithMessagesSchema)
    @blp.errors(401, 403, 404, 422, what="chat session")
    def get(self, args: dict[str, Any], session_id: str) -> Any:
        """The session with its messages, oldest first (`limit` and `cursor` page through them)"""
        return _session_view(coaching().get_session(me(), session_id, **args))

    @blp.doc(security=USER_AUTH)
    @blp.response(204)
    @blp.errors(401, 403, 404, 422, what="chat session")
    def delete(self, session_id: str) -> None:
        """Delete a session and its messages"""
        coaching().delete_session(me(), session_id)


def _exchange(exchange: Exchange) -> dict[str, Any]:
    return {
        "user_message": exchange.user_message,
        "assistant_message": exchange.assistant_message,
        "credits_charged": exchange.credits_charged,
        "balance": exchange.balance,
    }


def wants_stream() -> bool:
    return any(kind == EVENT_STREAM and quality > 0 for kind, quality in request.accept_mimetypes)


@blp.route("/chat/sessions/<string:session_id>/messages")
class Messages(MethodView):
    @blp.doc(
        security=USER_AUTH,
        description=(
            "With `Accept: text/event-stream` the answer streams as server-sent events (status 200): "
            '`event: delta` with `{"text"}` chunks, then exactly one `event: done` with the body a JSON '
            "call returns (message ids, credits_charged, balance), or one `event: error` with API.md's error "
            "body (a model failure before any text: nothing charged). While the model is silent an SSE comment "
            "(`: keep-alive`) is sent every SSE_HEARTBEAT_SECONDS. A client that goes away mid-stream pays for "
            "the prompt and the tokens it was sent; the partial reply is kept, marked cut_short. The answer is "
            "cut at the reply cap and at LLM_DEADLINE_SECONDS (cut_short). If the session is deleted while "
            "the answer streams, what was sent is charged and the stream ends with `event: error` not_found. "
            "With an Idempotency-Key, a request while another with the same key is still being served is "
            "409 request_in_progress (the model is never called twice for one key)."
        ),
    )
    @blp.arguments(OptionalIdempotencyKeyHeaderSchema, location="headers")
    @blp.arguments(MessageCreateSchema)
    @blp.response(201, ExchangeSchema)
    @blp.alt_response(
        200,
        success=True,
        content_type=EVENT_STREAM,
        schema={"type": "string"},
        description="With `Accept: text/event-stream`: the answer as server-sent events (delta, then done or error)",
    )
    @blp.errors(
        401,
        402,
        403,
        404,
        409,
        422,
        502,
        what="chat session",
        say={
            402: "Not enough credits, or the workspace's or your monthly budget is spent, even for the smallest reply; "
            "the model was not called (insufficient_credits, workspace_budget_exceeded, member_budget_exceeded)",
            409: "The Idempotency-Key was used for a different request (idempotency_conflict), or a request "
            "with it is still being served (request_in_progress)",
            502: "The coach model failed or answered nonsense; nothing was charged or stored (llm_unavailable)",
        },
    )
    def post(self, headers: dict[str, Any], body: dict[str, Any], session_id: str) -> Any:
        """Send a message to the coach and get its answer, charged by tokens (JSON or SSE)"""
        key = headers.get("idempotency_key")
        if wants_stream():
            events = coaching().stream_message(me(), session_id, body["content"], idempotency_key=key)
            settings = container().settings
            sse = _Sse(events, settings.sse_heartbeat, settings.llm_deadline + 10)
            return Response(
                sse, status=200, mimetype=EVENT_STREAM, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
            )
        return _exchange(coaching().send_message(me(), session_id, body["content"], idempotency_key=key))


def _event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


HEARTBEAT = b": keep-alive\n\n"  # an SSE comment: clients ignore it; proxies and clients see the stream alive
_END = object()


class _Sse:
    """The WSGI body: the events as SSE, with a comment every `heartbeat` seconds while the model is
    silent (issue 19, defect 6), and always one final `done` or `error` event.

    The events are produced by a pump thread (so the WSGI side can send heartbeats while the model
    is silent), one at a time and only when the WSGI side asks for the next one: the pump never
    runs ahead of what was written to the client, so a client that goes away pays for what it was
    sent, not for what was produced meanwhile. The server closes this body when the client goes
    away (or never reads it): the pump stops before asking for another event (at the latest at the
    model's deadline) and closes `events` in its own thread, which settles the hold (see
    domain/coaching/services/chat.py); `close` waits for that, up to `settle_wait` seconds."""

    def __init__(self, events: Iterator[StreamEvent], heartbeat: float, settle_wait: float) -> None:
        self._events = events
        self._heartbeat = heartbeat
        self._settle_wait = settle_wait
        self._queue: queue.Queue[object] = queue.Queue()
        self._want = threading.Semaphore(0)  # one release: the WSGI side asks for one more event
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __iter__(self) -> Iterator[bytes]:
        self._thread = threading.Thread(target=self._pump, name="sse-pump", daemon=True)
        self._thread.start()
        while True:
            self._want.release()
            while True:
                try:
                    item = self._queue.get(timeout=self._heartbeat)
                    break
                except queue.Empty:
                    yield HEARTBEAT
            if item is _END:
                return
            assert isinstance(item, bytes)
            yield item

    def _pump(self) -> None:
        body = _sse(self._events)
        try:
            while True:
                self._want.acquire()
                if self._stop.is_set():
                    break
                try:
                    chunk = next(body)
                except StopIteration:
                    break
                self._queue.put(chunk)
        finally:
            body.close()  # closes `events` in this thread: the hold is settled here
            self._queue.put(_END)

    def close(self) -> None:
        self._stop.set()
        if self._thread is None:
            _close(self._events)  # never iterated: settle now
        else:
            self._want.release()  # wake the pump if it waits for the next request
            self._thread.join(timeout=self._settle_wait)


def _close(events: Iterator[StreamEvent]) -> None:
    close = getattr(events, "close", None)
    if callable(close):
        close()


def _sse(events: Iterator[StreamEvent]) -> Generator[bytes, None, None]:
    """Every stream ends with exactly one `done` or `error` event, whatever happens (defect 6)."""
    ended = False
    try:
        for event in events:
            if isinstance(event, Delta):
                yield _event("delta", {"text": event.text})
            elif isinstance(event, Done):
                ended = True
                yield _event("done", ExchangeSchema().dump(_exchange(event.exchange)))
            elif isinstance(event, Failed):
                ended = True
                yield _event("error", error_body(event.code, event.message))
    except DomainError as error:
        ended = True
        yield _event("error", error_body(error.code, error.message, error.details))
    except Exception:
        ended = True
        log.exception("the chat stream failed")
        yield _event("error", error_body("internal_error", "Something went wrong on our side."))
    finally:
        _close(events)
    if not ended:  # never expected: the use case always ends with Done or Failed
        yield _event("error", error_body("internal_error", "The answer ended without a result."))


# --- tasks ---------------------------------------------------------------------------------------
@blp.route("/tasks")
class Tasks(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(TaskArgsSchema, location="query")
    @blp.response(200, TaskPageSchema)
    @blp.errors(401, 403, 404, 422, what="task")
    def get(self, args: dict[str, Any]) -> Any:
        """The caller's AI tasks, newest first, optionally by status"""
        return coaching().list_tasks(me(), **args)

    @blp.doc(security=USER_AUTH)
    @blp.arguments(OptionalIdempotencyKeyHeaderSchema, location="headers")
    @blp.arguments(TaskCreateSchema)
    @blp.response(202, TaskSchema)
    @blp.errors(
        401,
        402,
        403,
        404,
        409,
        422,
        what="workspace",
        say={
            402: "Not enough credits, or a workspace or member budget is spent (insufficient_credits, "
            "workspace_budget_exceeded, member_budget_exceeded)",
            409: IDEMPOTENCY_CONFLICT,
        },
    )
    def post(self, headers: dict[str, Any], body: dict[str, Any]) -> Any:
        """Queue an AI task (strategy, weekly_review); its price is held until it finishes"""
        return coaching().create_task(me(), idempotency_key=headers.get("idempotency_key"), **body)


@blp.route("/tasks/<string:task_id>")
class TaskItem(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.response(200, TaskSchema)
    @blp.errors(401, 403, 404, 422, what="task")
    def get(self, task_id: str) -> Any:
        """One task, with its result once it succeeded"""
        return coaching().get_task(me(), task_id)


@blp.route("/tasks/<string:task_id>/cancel")
class TaskCancel(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.response(200, TaskSchema)
    @blp.errors(
        401, 403, 404, 409, 422, what="task", say={409: "The task already succeeded or failed (task_not_cancellable)"}
    )
    def post(self, task_id: str) -> Any:
        """Cancel a queued or running task; its held credits are released"""
        return coaching().cancel_task(me(), task_id)
