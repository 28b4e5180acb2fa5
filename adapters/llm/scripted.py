"""The offline, deterministic coach: the embedded default when no LLM endpoint is configured.

A real adapter, not a test double: `make run` with no keys gives a coach that reads the workspace
context the system prompt carries (the line-based block of `domain.coaching.prompts`: `Workspace:`,
`Active goals:` then `- title [progress 40%, due 2026-03-01] ...`, `Open todos:` then
`- title [open, due ..., goal: ...]`) and answers in the persona's voice with a concrete next step.

Decisions, and why:
- Deterministic: the same messages always give the same answer (no clock, no randomness; the
  closing question is picked by a CRC of the user's message), so tests and demos are repeatable.
- The persona's voice: its name from the prompt's "You are <Name>" (else "your coach") and a tone
  picked from cue words in the prompt (blunt/accountability: terse orders; reflective: open
  questions; otherwise calm and practical: one step and one committing question). The goal or
  todo whose title shares the most words with the user's message becomes the focus; else the goal
  due soonest (the prompt lists them soonest first) and the first open todo tied to it.
- A task's prompt (a user message starting with one of `TASK_INSTRUCTIONS`) gets a numbered plan:
  up to three goals, each with its first step.
- Tokens are counted like the service estimates them (`prompt_tokens`, `estimate_tokens`), so a
  scripted answer never costs more than its hold. An answer longer than `max_tokens` is cut at a
  word boundary to fit and marked `cut_short`.
- Streaming yields the answer word by word (each piece keeps its trailing space, so the pieces
  join to exactly the final text), then the Reply. It answers at once: no artificial delay.
"""
from __future__ import annotations

import re
import zlib
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field

from domain.coaching.ports import ChatMessage, ModelSettings, Reply
from domain.coaching.prompts import GOALS_HEADER, TASK_INSTRUCTIONS, TODOS_HEADER, prompt_tokens
from domain.coaching.tokens import estimate_tokens

MODEL_NAME = "scripted-coach"
QUOTE_MAX = 80
NAME = re.compile(r"\b(?i:you are) ([A-Z][\w-]*)")
BRACKET = re.compile(r"^(?P<title>.*)\s\[(?P<meta>(?:progress \d+%|open|in_progress|done)[^\]]*)\]")
WORD = re.compile(r"\w+")
STOPWORDS = frozenset("the and for with from this that your you what how can should about into".split())
@dataclass(frozen=True)
class Tone:
    """How a persona speaks: picked from words in its system prompt (the first tone that matches)."""

    cues: tuple[str, ...]
    greeting: str  # after "<Name> here."
    step: str  # "{todo}" is the next todo, described
    closings: tuple[str, ...]


PRACTICAL = Tone(
    cues=(),
    greeting="",
    step="Next step: {todo}; finish it before anything else.",
    closings=("What would make that step easy enough to start in the next hour?",
              "What could get in the way, and how will you handle it?",
              "How will you know, by Friday, that it worked?",
              "Who could you tell about it, so you follow through?"),
)  # fmt: skip
TONES = (
    Tone(
        cues=("blunt", "accountability", "terse"),
        greeting=" No excuses.",
        step="Today you do {todo}. Nothing else until it is done.",
        closings=("Report back when it is done.", "Do it now.", "Done by tonight. Then tell me."),
    ),
    Tone(
        cues=("reflective", "open questions"),
        greeting=" Let's look at this together.",
        step="You might start with {todo}, if it still feels right.",
        closings=("What have you noticed about where your time went this week?",
                  "What would change if this goal were already done?",
                  "Which of your todos do you keep postponing, and why?"),
    ),  # fmt: skip
)


def tone_of(system: str) -> Tone:
    lowered = system.lower()
    return next((tone for tone in TONES if any(cue in lowered for cue in tone.cues)), PRACTICAL)


@dataclass(frozen=True)
class Item:
    title: str
    meta: dict[str, str] = field(default_factory=dict)  # progress, due, goal, status

    def describe(self) -> str:
        facts = [f"{self.meta['progress']} done" if "progress" in self.meta else "",
                 f"due {self.meta['due']}" if "due" in self.meta else ""]  # fmt: skip
        shown = ", ".join(fact for fact in facts if fact)
        return f'"{self.title}"' + (f" ({shown})" if shown else "")


@dataclass(frozen=True)
class Context:
    coach: str
    workspace: str
    goals: list[Item]
    todos: list[Item]
    tone: Tone = PRACTICAL


def parse_item(line: str) -> Item:
    """`- Title [progress 40%, due 2026-03-01] notes` or `- Title [open, due ..., goal: G]`."""
    body = line[2:].strip()
    match = BRACKET.match(body)
    if match is None:
        return Item(body)
    meta: dict[str, str] = {}
    facts, _, goal = match["meta"].partition(", goal: ")  # last, and its title may hold commas
    if goal:
        meta["goal"] = goal.strip()
    for part in (p.strip() for p in facts.split(",")):
        if part.startswith("progress "):
            meta["progress"] = part.removeprefix("progress ")
        elif part.startswith("due "):
            meta["due"] = part.removeprefix("due ")
        elif part:
            meta["status"] = part
    return Item(match["title"].strip() or body, meta)


def read_context(messages: Sequence[ChatMessage]) -> Context:
    system = "\n".join(m.content for m in messages if m.role == "system")
    name = NAME.search(system)
    workspace, goals, todos = "", list[Item](), list[Item]()
    section: list[Item] | None = None
    for raw in system.splitlines():
        line = raw.strip()
        if line.startswith("Workspace:"):
            workspace = line.removeprefix("Workspace:").strip()
        elif line == GOALS_HEADER:
            section = goals
        elif line == TODOS_HEADER:
            section = todos
        elif section is not None and line.startswith("- "):
            section.append(parse_item(line))
        elif section is not None and line and line != "(none)":
            section = None  # the context block ended
    return Context(name[1] if name else "your coach", workspace, goals, todos, tone_of(system))


def last_user_message(messages: Sequence[ChatMessage]) -> str:
    return next((m.content for m in reversed(messages) if m.role == "user"), "")


def words_of(text: str) -> set[str]:
    return {word for word in WORD.findall(text.lower()) if len(word) >= 3 and word not in STOPWORDS}


def mentioned(items: list[Item], question: str) -> Item | None:
    """The item whose title shares the most words with the question (the first on a tie), if any."""
    asked = words_of(question)
    scored = [(len(words_of(item.title) & asked), -index, item) for index, item in enumerate(items)]
    best = max(scored, default=None, key=lambda entry: entry[:2])
    return best[2] if best is not None and best[0] > 0 else None


def quote(question: str) -> str:
    flat = " ".join(question.split())
    return flat if len(flat) <= QUOTE_MAX else flat[: QUOTE_MAX - 3].rstrip() + "..."


def next_todo(context: Context, goal: Item | None) -> Item | None:
    if goal is not None:
        linked = [todo for todo in context.todos if todo.meta.get("goal") == goal.title]
        if linked:
            return linked[0]
    return context.todos[0] if context.todos else None


def goal_of(context: Context, todo: Item | None) -> Item | None:
    """The todo's goal when it is listed, else the goal due soonest (listed first)."""
    linked = [goal for goal in context.goals if todo is not None and goal.title == todo.meta.get("goal")]
    candidates = linked or context.goals
    return candidates[0] if candidates else None


def chat_answer(context: Context, question: str) -> str:
    tone = context.tone
    opening = f"{context.coach[0].upper()}{context.coach[1:]} here.{tone.greeting}"
    asked = f' You asked: "{quote(question)}".' if question.strip() else ""
    todo = mentioned(context.todos, question)
    goal = mentioned(context.goals, question) or goal_of(context, todo)
    if goal is None and todo is None:
        body = (" You have no active goals yet, so let's set one SMART goal first: what exactly do you want,"
                " how will you measure it, and by when?")  # fmt: skip
    else:
        todo = todo or next_todo(context, goal)
        focus = f" Your focus is {goal.describe()}." if goal is not None else ""
        step = (" " + tone.step.format(todo=todo.describe()) if todo is not None
                else " Next step: write the one todo that moves it forward today.")  # fmt: skip
        body = (f" You have {len(context.goals)} active goal{'s' * (len(context.goals) != 1)} and"
                f" {len(context.todos)} open todo{'s' * (len(context.todos) != 1)}.{focus}{step}")  # fmt: skip
    closing = tone.closings[zlib.crc32(question.encode()) % len(tone.closings)]
    return f"{opening}{asked}{body} {closing}"


def task_answer(context: Context, kind: str) -> str:
    where = f" for {context.workspace}" if context.workspace else ""
    if not context.goals:
        return (f"{kind.capitalize()}{where}: there are no active goals yet. Set one SMART goal with a"
                " measurable target and a due date, then add the first todo for it.")  # fmt: skip
    lines = [f"{kind.capitalize()}{where}, from {context.coach}:"]
    for number, goal in enumerate(context.goals[:3], start=1):
        todo = next_todo(context, goal)
        step = f"start with {todo.describe()}" if todo is not None else "add the first concrete todo"
        lines.append(f"{number}. {goal.describe()}: {step}.")
    return "\n".join(lines)


def fit(text: str, max_tokens: int) -> tuple[str, bool]:
    """The text cut (at a word boundary when there is one) so that estimate_tokens(text) <= max_tokens."""
    if estimate_tokens(text) <= max_tokens:
        return text, False
    head = text[: max(0, max_tokens) * 4]
    cut = head.rsplit(" ", 1)[0] if " " in head else head
    return cut.rstrip(), True


class ScriptedCoach:
    """`CoachModel` that needs no network and no keys."""

    def reply(self, messages: Sequence[ChatMessage], settings: ModelSettings) -> Reply:
        text, cut_short = fit(self.compose(messages), settings.max_tokens)
        return Reply(text, prompt_tokens(messages), estimate_tokens(text), MODEL_NAME, cut_short)

    def stream(self, messages: Sequence[ChatMessage], settings: ModelSettings) -> Generator[str | Reply, None, None]:
        final = self.reply(messages, settings)
        pieces = final.text.split(" ")
        for index, piece in enumerate(pieces):
            chunk = piece if index == len(pieces) - 1 else piece + " "
            if chunk:
                yield chunk
        yield final

    def compose(self, messages: Sequence[ChatMessage]) -> str:
        context = read_context(messages)
        question = last_user_message(messages)
        for kind, instruction in TASK_INSTRUCTIONS.items():
            if question.startswith(instruction):
                return task_answer(context, kind.replace("_", " "))
        return chat_answer(context, question)
