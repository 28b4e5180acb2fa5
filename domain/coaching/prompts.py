"""What the coach model is sent: the coach's system prompt with the workspace as context, the
history (at most HISTORY_MAX messages; older ones are dropped, not summarised), and the new message.

The context block has a fixed, line-based shape that the scripted coach reads back:

    Workspace: <name> (<industry>)
    <description>
    Active goals:
    - <title> [progress 40%, due 2026-03-01] specific: ...; measurable: ...; target: ...
    Open todos:
    - <title> [in_progress, due 2026-02-01, goal: <goal title>]

"(none)" stands for an empty list. At most CONTEXT_GOALS active goals and CONTEXT_TODOS open
todos are listed (soonest due first), so a huge workspace cannot blow up every prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol

from domain.coaching.model import HISTORY_MAX, Coach, TodoStatus, Workspace
from domain.coaching.ports import ChatMessage
from domain.coaching.tokens import estimate_tokens

CONTEXT_GOALS = 50
CONTEXT_TODOS = 100
MESSAGE_OVERHEAD_TOKENS = 4  # role and separators, per message
GOALS_HEADER = "Active goals:"
TODOS_HEADER = "Open todos:"

TASK_INSTRUCTIONS = {
    "strategy": (
        "Write a short strategy for this workspace: the three most important moves for the next "
        "quarter, each tied to one of the active goals, with the first concrete step for each."
    ),
    "weekly_review": (
        "Write a weekly review: what moved on each active goal, which open todos are overdue or "
        "stuck, and the three todos to do first next week."
    ),
}


class PromptGoal(Protocol):
    """What the context block reads of a goal (a `Goal`, or the `GoalBrief` the chat's context read returns)."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def progress(self) -> int: ...
    @property
    def specific(self) -> str | None: ...
    @property
    def measurable(self) -> str | None: ...
    @property
    def target_value(self) -> str | None: ...
    @property
    def achievable(self) -> str | None: ...
    @property
    def relevant(self) -> str | None: ...
    @property
    def due_date(self) -> date | None: ...


class PromptTodo(Protocol):
    @property
    def title(self) -> str: ...
    @property
    def status(self) -> TodoStatus: ...
    @property
    def goal_id(self) -> str | None: ...
    @property
    def due_date(self) -> date | None: ...


class PromptTurn(Protocol):
    @property
    def role(self) -> str: ...
    @property
    def content(self) -> str: ...


def _due(value: object) -> str:
    return f", due {value}" if value else ""


def context_block(workspace: Workspace, goals: Sequence[PromptGoal], todos: Sequence[PromptTodo]) -> str:
    lines = [f"Workspace: {workspace.name}" + (f" ({workspace.industry})" if workspace.industry else "")]
    if workspace.description:
        lines.append(workspace.description)
    lines.append(GOALS_HEADER)
    titles = {goal.id: goal.title for goal in goals}
    for goal in goals:
        notes = "; ".join(
            f"{label}: {value}"
            for label, value in (
                ("specific", goal.specific),
                ("measurable", goal.measurable),
                ("target", goal.target_value),
                ("achievable", goal.achievable),
                ("relevant", goal.relevant),
            )
            if value
        )
        lines.append(
            f"- {goal.title} [progress {goal.progress}%{_due(goal.due_date)}]" + (f" {notes}" if notes else "")
        )
    if not goals:
        lines.append("(none)")
    lines.append(TODOS_HEADER)
    for todo in todos:
        link = f", goal: {titles[todo.goal_id]}" if todo.goal_id in titles else ""
        lines.append(f"- {todo.title} [{todo.status.value}{_due(todo.due_date)}{link}]")
    if not todos:
        lines.append("(none)")
    return "\n".join(lines)


def system_prompt(coach: Coach, workspace: Workspace, goals: Sequence[PromptGoal], todos: Sequence[PromptTodo]) -> str:
    return f"{coach.system_prompt.strip()}\n\n{context_block(workspace, goals, todos)}"


def chat_messages(system: str, history: Sequence[PromptTurn], content: str) -> list[ChatMessage]:
    """System prompt, the newest HISTORY_MAX stored messages (oldest first), then the new one."""
    recent = list(history)[-HISTORY_MAX:]
    return [
        ChatMessage("system", system),
        *(ChatMessage(m.role, m.content) for m in recent),
        ChatMessage("user", content),
    ]


def task_messages(system: str, task_type: str, notes: str) -> list[ChatMessage]:
    instruction = TASK_INSTRUCTIONS[task_type]
    return [ChatMessage("system", system), ChatMessage("user", f"{instruction}\n\n{notes}".strip())]


def prompt_tokens(messages: Sequence[ChatMessage]) -> int:
    return sum(estimate_tokens(m.content) + MESSAGE_OVERHEAD_TOKENS for m in messages)
