"""Request and response schemas of the coaching routes, written by hand against API.md.
Limits come from domain.coaching.model (one number in one place); over-limit input is 422 naming the field."""

from __future__ import annotations

import marshmallow as ma

from domain.coaching.members import MAX_MONTHLY_LIMIT
from domain.coaching.model import (
    CONTENT_MAX,
    INDUSTRY_MAX,
    PROGRESS_MAX,
    TEXT_MAX,
    TITLE_MAX,
    GoalStatus,
    Role,
    TaskStatus,
    TodoStatus,
)
from domain.coaching.prompts import TASK_INSTRUCTIONS
from domain.shared.ids import ID_MAX_LENGTH
from domain.shared.limits import COACH_ID_MAX_LENGTH
from entrypoints.http.ledger_schemas import BalanceSchema
from entrypoints.http.schemas import PageArgsSchema, UtcDateTime, page_schema

ID_MAX = ID_MAX_LENGTH


def _title(required: bool) -> ma.fields.String:
    return ma.fields.String(required=required, validate=ma.validate.Length(min=1, max=TITLE_MAX))


def _text(maximum: int = TEXT_MAX) -> ma.fields.String:
    return ma.fields.String(allow_none=True, validate=ma.validate.Length(max=maximum))


def _choice(values: type[GoalStatus] | type[TodoStatus] | type[TaskStatus], **kwargs: object) -> ma.fields.String:
    return ma.fields.String(validate=ma.validate.OneOf([v.value for v in values]), **kwargs)  # type: ignore[arg-type]


def _id(**kwargs: object) -> ma.fields.String:
    return ma.fields.String(validate=ma.validate.Length(min=1, max=ID_MAX), **kwargs)  # type: ignore[arg-type]


# --- workspaces ----------------------------------------------------------------------------------
class WorkspaceSchema(ma.Schema):
    id = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    industry = ma.fields.String(required=True, allow_none=True)
    description = ma.fields.String(required=True, allow_none=True)
    owner_id = ma.fields.String(required=True, metadata={"description": "The owner, whose credits pay (issue 23)"})
    role = ma.fields.Enum(
        Role,
        by_value=True,
        required=True,
        metadata={"type": "string", "description": "The caller's role in the workspace"},
    )
    monthly_credit_limit = ma.fields.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "Credits per UTC month for all spending in it; null: no cap"},
    )
    created_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)


def monthly_limit() -> ma.fields.Integer:
    """A monthly credit limit in a request: null (no cap) or 0 .. MAX_MONTHLY_LIMIT (issue 23)."""
    return ma.fields.Integer(
        strict=True,
        allow_none=True,
        validate=ma.validate.Range(min=0, max=MAX_MONTHLY_LIMIT),
        metadata={"description": "Credits per UTC month; null: no cap"},
    )


class WorkspaceCreateSchema(ma.Schema):
    name = _title(required=True)
    industry = _text(INDUSTRY_MAX)
    description = _text()


class WorkspacePatchSchema(ma.Schema):
    name = _title(required=False)
    industry = _text(INDUSTRY_MAX)
    description = _text()
    monthly_credit_limit = monthly_limit()  # owner, admin (issue 23)


# --- goals ---------------------------------------------------------------------------------------
class GoalSchema(ma.Schema):
    id = ma.fields.String(required=True)
    workspace_id = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    specific = ma.fields.String(required=True, allow_none=True)
    measurable = ma.fields.String(required=True, allow_none=True)
    target_value = ma.fields.String(required=True, allow_none=True)
    achievable = ma.fields.String(required=True, allow_none=True)
    relevant = ma.fields.String(required=True, allow_none=True)
    due_date = ma.fields.Date(required=True, allow_none=True)
    status = ma.fields.Enum(
        GoalStatus, by_value=True, required=True, metadata={"type": "string"}
    )  # issue 21: typed in the document
    progress = ma.fields.Integer(required=True)
    created_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)


class GoalPatchSchema(ma.Schema):
    title = _title(required=False)
    specific = _text()
    measurable = _text()
    target_value = _text(TITLE_MAX)
    achievable = _text()
    relevant = _text()
    due_date = ma.fields.Date(allow_none=True)
    status = _choice(GoalStatus)
    progress = ma.fields.Integer(strict=True, validate=ma.validate.Range(min=0, max=PROGRESS_MAX))


class GoalCreateSchema(GoalPatchSchema):
    title = _title(required=True)


class GoalArgsSchema(PageArgsSchema):
    status = _choice(GoalStatus, load_default=None)


# --- todos ---------------------------------------------------------------------------------------
class TodoSchema(ma.Schema):
    id = ma.fields.String(required=True)
    workspace_id = ma.fields.String(required=True)
    goal_id = ma.fields.String(required=True, allow_none=True)
    title = ma.fields.String(required=True)
    due_date = ma.fields.Date(required=True, allow_none=True)
    status = ma.fields.Enum(TodoStatus, by_value=True, required=True, metadata={"type": "string"})
    created_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)


class TodoPatchSchema(ma.Schema):
    title = _title(required=False)
    goal_id = _id(allow_none=True)
    due_date = ma.fields.Date(allow_none=True)
    status = _choice(TodoStatus)


class TodoCreateSchema(TodoPatchSchema):
    title = _title(required=True)


class TodoArgsSchema(PageArgsSchema):
    status = _choice(TodoStatus, load_default=None)
    goal_id = _id(load_default=None)


# --- coaches and chat ----------------------------------------------------------------------------
class CoachSchema(ma.Schema):
    id = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    description = ma.fields.String(required=True)


class SessionSchema(ma.Schema):
    id = ma.fields.String(required=True)
    workspace_id = ma.fields.String(required=True)
    title = ma.fields.String(required=True, allow_none=True)
    coach = ma.fields.String(required=True)
    message_count = ma.fields.Integer(required=True)
    created_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)


class SessionCreateSchema(ma.Schema):
    title = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=TITLE_MAX))
    coach = ma.fields.String(allow_none=True, validate=ma.validate.Length(min=1, max=COACH_ID_MAX_LENGTH))


class MessageSchema(ma.Schema):
    id = ma.fields.String(required=True)
    seq = ma.fields.Integer(required=True)
    role = ma.fields.String(required=True)
    content = ma.fields.String(required=True)
    tokens_in = ma.fields.Integer(required=True)
    tokens_out = ma.fields.Integer(required=True)
    credits_charged = ma.fields.Integer(required=True)
    model = ma.fields.String(required=True, allow_none=True)
    cut_short = ma.fields.Boolean(
        required=True, metadata={"description": "The reply stopped early (cap or disconnect)"}
    )
    created_at = UtcDateTime(required=True)


class SessionWithMessagesSchema(SessionSchema):
    messages = ma.fields.List(ma.fields.Nested(MessageSchema), required=True, metadata={"description": "Oldest first"})
    next_cursor = ma.fields.String(
        required=True, allow_none=True, metadata={"description": "The next page of messages"}
    )


class MessageCreateSchema(ma.Schema):
    content = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=CONTENT_MAX))


class ExchangeSchema(ma.Schema):
    user_message = ma.fields.Nested(MessageSchema, required=True)
    assistant_message = ma.fields.Nested(MessageSchema, required=True)
    credits_charged = ma.fields.Integer(required=True)
    balance = ma.fields.Nested(BalanceSchema, required=True)


# --- tasks ---------------------------------------------------------------------------------------
class TaskSchema(ma.Schema):
    id = ma.fields.String(required=True)
    type = ma.fields.String(required=True)
    workspace_id = ma.fields.String(required=True)
    status = ma.fields.Enum(TaskStatus, by_value=True, required=True, metadata={"type": "string"})
    input = ma.fields.Dict(required=True)
    result = ma.fields.String(required=True, allow_none=True)
    error = ma.fields.String(required=True, allow_none=True)
    credits_held = ma.fields.Integer(required=True)
    credits_charged = ma.fields.Integer(required=True)
    created_at = UtcDateTime(required=True)
    started_at = UtcDateTime(required=True, allow_none=True)
    finished_at = UtcDateTime(required=True, allow_none=True)


class TaskCreateSchema(ma.Schema):
    type = ma.fields.String(required=True, validate=ma.validate.OneOf(sorted(TASK_INSTRUCTIONS)))
    workspace_id = _id(required=True)
    input = ma.fields.Dict(
        keys=ma.fields.String(),
        load_default=dict,
        metadata={"description": "Free-form; `notes` is passed to the coach. At most 8000 characters as JSON"},
    )


class TaskArgsSchema(PageArgsSchema):
    status = _choice(TaskStatus, load_default=None)


WorkspacePageSchema = page_schema(WorkspaceSchema, "WorkspacePage")
GoalPageSchema = page_schema(GoalSchema, "GoalPage")
TodoPageSchema = page_schema(TodoSchema, "TodoPage")
SessionPageSchema = page_schema(SessionSchema, "SessionPage")
TaskPageSchema = page_schema(TaskSchema, "TaskPage")
