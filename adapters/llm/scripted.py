"""The offline, deterministic coach: the embedded default when no LLM endpoint is configured.

A real adapter, not a test double: `make run` with no keys gives a coach that reads the workspace
context the system prompt carries (the line-based block of `domain.coaching.prompts`: `Workspace:`,
`Active goals:` then `- title [progress 40%, due 2026-03-01] ...`, `Open todos:` then
`- title [open, due ..., goal: ...]`), the recent conversation, and a task's notes, and answers in
the persona's voice with a concrete next step. It is the first thing a newcomer talks to (issue 21).

Decisions, and why:
- Deterministic: the same messages (and the same day) always give the same answer (no randomness;
  the closing question is picked by a CRC of the user's message), so tests and demos are repeatable.
  The day comes from an injected `today` (the container's clock); without one, due dates are shown
  but never called overdue.
- It never repeats the question back. It reacts to it: a todo the user says is done (in this message,
  or earlier in the conversation: "done" alone means the step proposed last) is congratulated and never
  proposed again; "stuck", "behind" and the like get a smaller step; the goal or todo whose title shares
  the most words with the message becomes the focus; else the goal that needs attention most (overdue,
  then due soonest, then least progress). Its progress and due date shape the advice.
- The step is always a todo of the focused goal (in progress first, then due soonest); a goal with no
  open todo gets "write the first todo", never another goal's todo.
- Tasks: `strategy` is a numbered plan, one move per goal (the goals the notes name first), each with a
  first step of that goal; `weekly_review` says what moved, what has not started, what is overdue or in
  progress, and the three todos to do first next week. Both use the task's notes.
- The persona's voice: its name from the prompt's "You are <Name>" (else "your coach") and a tone
  picked from cue words in the prompt (blunt/accountability: terse orders; reflective: open
  questions; otherwise calm and practical: one step and one committing question).
- Tokens are counted like the service estimates them (`prompt_tokens`, `estimate_tokens`), so a
  scripted answer never costs more than its hold. An answer longer than `max_tokens` is cut at a
  word boundary to fit and marked `cut_short`.
- Streaming yields the answer word by word (each piece keeps its trailing space, so the pieces
  join to exactly the final text), then the Reply. It answers at once: no artificial delay.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from datetime import date

from domain.coaching.ports import ChatMessage, ModelSettings, Reply
from domain.coaching.prompts import GOALS_HEADER, TASK_INSTRUCTIONS, TODOS_HEADER, prompt_tokens
from domain.coaching.tokens import estimate_tokens

MODEL_NAME = "scripted-coach"
QUOTE_MAX = 80
NAME = re.compile(r"\b(?i:you are) ([A-Z][\w-]*)")
BRACKET = re.compile(r"^(?P<title>.*)\s\[(?P<meta>(?:progress \d+%|open|in_progress|done)[^\]]*)\]")
WORD = re.compile(r"\w+")
STOPWORDS = frozenset("the and for with from this that your you what how can should about into done just".split())
DONE_CUES = ("done", "finished", "completed", "did it", "shipped", "sent it", "wrapped up", "ticked off")
NOT_DONE_CUES = ("not done", "not finished", "not yet", "haven t", "didn t", "isn t", "never", "when done")
STUCK_CUES = ("stuck", "blocked", "overwhelmed", "procrastinating", "behind", "can t", "cannot", "struggling")
STEP_LEADS = ("Next step: ", "Today you do ", "You might start with ")  # each tone's step, read back later


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
    closings=(
        "What would make that step easy enough to start in the next hour?",
        "What could get in the way, and how will you handle it?",
        "How will you know, by Friday, that it worked?",
        "Who could you tell about it, so you follow through?",
    ),
)
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
        closings=(
            "What have you noticed about where your time went this week?",
            "What would change if this goal were already done?",
            "Which of your todos do you keep postponing, and why?",
        ),
    ),
)


def tone_of(system: str) -> Tone:
    lowered = system.lower()
    return next((tone for tone in TONES if any(cue in lowered for cue in tone.cues)), PRACTICAL)


@dataclass(frozen=True)
class Item:
    title: str
    meta: dict[str, str] = field(default_factory=dict)  # progress, due, goal, status

    def describe(self) -> str:
        facts = [
            f"{self.meta['progress']} done" if "progress" in self.meta else "",
            f"due {self.meta['due']}" if "due" in self.meta else "",
        ]
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


def quote(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= QUOTE_MAX else flat[: QUOTE_MAX - 3].rstrip() + "..."


def says(text: str, cues: tuple[str, ...]) -> bool:
    lowered = f" {' '.join(WORD.findall(text.lower()))} "
    return any(f" {cue} " in lowered for cue in cues)


def says_done(text: str) -> bool:
    """A statement that something is done ("Sent it." "Done!"), not a question ("Is it done?")."""
    statements = [part for part in re.split(r"(?<=[.!?])\s+", text.strip()) if not part.endswith("?")]
    return any(says(part, DONE_CUES) and not says(part, NOT_DONE_CUES) for part in statements)


@dataclass(frozen=True)
class Conversation:
    """What the chat so far tells: the todos the user said are done, and the step proposed last."""

    done: frozenset[str]
    last_step: Item | None


def read_conversation(messages: Sequence[ChatMessage], todos: list[Item]) -> Conversation:
    done: set[str] = set()
    last_step: Item | None = None
    for message in messages:
        if message.role == "assistant":
            last_step = next(
                (t for t in todos for lead in STEP_LEADS if f'{lead}"{t.title}"' in message.content), last_step
            )
        elif message.role == "user" and says_done(message.content):
            todo = mentioned(todos, message.content) or last_step
            if todo is not None:
                done.add(todo.title)
    return Conversation(frozenset(done), last_step)


def parse_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Coaching:
    """One answer's reasoning: the context, what is done, and the day (None: no clock)."""

    context: Context
    done: frozenset[str]
    today: date | None

    def open_todos(self) -> list[Item]:
        return [todo for todo in self.context.todos if todo.title not in self.done]

    def overdue(self, item: Item) -> int:
        """Days past its due date (0: not overdue, or no day known)."""
        due = parse_date(item.meta.get("due"))
        return (self.today - due).days if due is not None and self.today is not None and due < self.today else 0

    def when(self, item: Item) -> str:
        due = parse_date(item.meta.get("due"))
        if due is None or self.today is None:
            return ""
        days = (due - self.today).days
        return f"{-days} days overdue" if days < 0 else "due today" if days == 0 else f"{days} days left"

    def urgency(self, goal: Item) -> tuple[int, str, int]:
        return (-self.overdue(goal), goal.meta.get("due") or "9999-99-99", progress_of(goal))

    def focus_goal(self) -> Item | None:
        return min(self.context.goals, key=self.urgency, default=None)

    def step_for(self, goal: Item | None) -> Item | None:
        """The todo to do next: of `goal` only (when given), in progress first, then due soonest."""
        todos = [t for t in self.open_todos() if goal is None or t.meta.get("goal") == goal.title]
        ranked = sorted(
            enumerate(todos),
            key=lambda pair: (
                -self.overdue(pair[1]),
                pair[1].meta.get("status") != "in_progress",
                pair[1].meta.get("due") or "9999-99-99",
                pair[0],
            ),
        )
        return ranked[0][1] if ranked else None

    def goal_of(self, todo: Item | None) -> Item | None:
        return next((g for g in self.context.goals if todo is not None and g.title == todo.meta.get("goal")), None)

    def describe(self, item: Item) -> str:
        text = item.describe()
        when = self.when(item)
        return text[:-1] + f", {when})" if when and text.endswith(")") else text + (f" ({when})" if when else "")


def progress_of(goal: Item) -> int:
    try:
        return int(goal.meta.get("progress", "0").rstrip("%"))
    except ValueError:
        return 0


def advice(coaching: Coaching, goal: Item) -> str:
    """One sentence on where the goal stands, from its progress and due date."""
    late, progress = coaching.overdue(goal), progress_of(goal)
    if late:
        return " It is past its due date: move the date or cut the scope today, then keep going."
    if progress == 0:
        return " It has not moved yet, so the first step matters more than a perfect plan."
    if progress >= 75:
        return " You are close: finish it before you start anything new."
    return f" At {progress}%, steady weekly steps will get it there."


def chat_answer(context: Context, today: date | None, question: str, conversation: Conversation) -> str:
    tone = context.tone
    opening = f"{context.coach[0].upper()}{context.coach[1:]} here.{tone.greeting}"
    finished = (mentioned(context.todos, question) or conversation.last_step) if says_done(question) else None
    done = conversation.done | ({finished.title} if finished is not None else set())
    coaching = Coaching(context, frozenset(done), today)
    todo = None if finished is not None else mentioned(coaching.open_todos(), question)
    goal = mentioned(context.goals, question) or coaching.goal_of(todo) or coaching.goal_of(finished)
    goal = goal or coaching.focus_goal()
    parts = [opening]
    if finished is not None:
        parts.append(f' Well done on "{finished.title}": that is one less thing in the way.')
    elif says(question, STUCK_CUES):
        parts.append(" Feeling stuck usually means the step is too big, so let's make it smaller.")
    if goal is None and not context.todos:
        parts.append(
            " You have no active goals yet, so let's set one SMART goal first: what exactly do you want,"
            " how will you measure it, and by when?"
        )
    else:
        open_count = len(coaching.open_todos())
        parts.append(
            f" You have {len(context.goals)} active goal{'s' * (len(context.goals) != 1)} and"
            f" {open_count} open todo{'s' * (open_count != 1)}."
        )
        if goal is not None:
            parts.append(f" Your focus is {coaching.describe(goal)}.{advice(coaching, goal)}")
        step = todo or coaching.step_for(goal)
        if step is not None:
            parts.append(" " + tone.step.format(todo=coaching.describe(step)))
        elif goal is not None:
            parts.append(f' Next step: write the one todo that moves "{goal.title}" forward today.')
        earlier = conversation.last_step
        if (
            earlier is not None
            and earlier is not step
            and earlier is not finished
            and earlier.title not in coaching.done
        ):
            parts.append(f' Last time the step was "{earlier.title}"; it is still open.')
    parts.append(" " + tone.closings[zlib.crc32(question.encode()) % len(tone.closings)])
    return "".join(parts)


def notes_of(question: str, instruction: str) -> str:
    return question[len(instruction) :].strip()


def strategy_answer(coaching: Coaching, notes: str) -> str:
    context = coaching.context
    where = f" for {context.workspace}" if context.workspace else ""
    if not context.goals:
        return (
            f"Strategy{where}: there are no active goals yet. Set one SMART goal with a"
            " measurable target and a due date, then add the first todo for it."
        )
    named = mentioned(context.goals, notes) if notes else None
    goals = ([named] if named else []) + [g for g in context.goals if g is not named]
    lines = [f"Strategy{where}, from {context.coach}:"]
    for number, goal in enumerate(goals[:3], start=1):
        todo = coaching.step_for(goal)
        step = f"start with {coaching.describe(todo)}" if todo is not None else "add the first concrete todo for it"
        lines.append(f"{number}. {coaching.describe(goal)}: {step}.")
    if notes:
        lines.append(_notes_line(notes, named))
    return "\n".join(lines)


def _notes_line(notes: str, named: Item | None) -> str:
    if named is not None:
        return f'Your notes ("{quote(notes)}") point at "{named.title}", so it comes first.'
    return f'Your notes ("{quote(notes)}") name no goal yet: turn them into a todo under the goal they serve.'


def review_answer(coaching: Coaching, notes: str) -> str:
    context = coaching.context
    where = f" for {context.workspace}" if context.workspace else ""
    todos = coaching.open_todos()
    if not context.goals and not todos:
        return (
            f"Weekly review{where}: there are no active goals yet. Set one SMART goal with a"
            " measurable target and a due date, then add the first todo for it."
        )
    moved = [f'"{g.title}" is at {progress_of(g)}%' for g in context.goals if progress_of(g) > 0]
    idle = [f'"{g.title}"' for g in context.goals if progress_of(g) == 0]
    late = [f'"{t.title}" ({coaching.overdue(t)} days late)' for t in todos if coaching.overdue(t)]
    going = [f'"{t.title}"' for t in todos if t.meta.get("status") == "in_progress" and not coaching.overdue(t)]
    first = sorted(
        enumerate(todos),
        key=lambda pair: (
            -coaching.overdue(pair[1]),
            pair[1].meta.get("status") != "in_progress",
            pair[1].meta.get("due") or "9999-99-99",
            pair[0],
        ),
    )[:3]
    lines = [
        f"Weekly review{where}, from {context.coach}:",
        "Moved: " + ("; ".join(moved) if moved else "no goal has progress recorded yet") + ".",
        "Not started: " + (", ".join(idle) if idle else "none, every goal has moved") + ".",
        "Overdue: " + (", ".join(late) if late else "nothing") + ".",
        "In progress: " + (", ".join(going) if going else "nothing, so start one todo on Monday") + ".",
    ]
    if first:
        picks = [
            f"{n}. {coaching.describe(t)}" + (f' for "{t.meta["goal"]}"' if "goal" in t.meta else "")
            for n, (_, t) in enumerate(first, start=1)
        ]
        lines.append("First next week: " + "; ".join(picks) + ".")
    else:
        lines.append("First next week: write one todo for each goal that has none.")
    if notes:
        lines.append(f'From your notes ("{quote(notes)}"): keep what worked, and drop one thing that did not.')
    return "\n".join(lines)


def fit(text: str, max_tokens: int) -> tuple[str, bool]:
    """The text cut (at a word boundary when there is one) so that estimate_tokens(text) <= max_tokens."""
    if estimate_tokens(text) <= max_tokens:
        return text, False
    head = text[: max(0, max_tokens) * 4]
    cut = head.rsplit(" ", 1)[0] if " " in head else head
    return cut.rstrip(), True


class ScriptedCoach:
    """`CoachModel` that needs no network and no keys. `today` (the container's clock) dates the
    advice; without it, due dates are shown but never called overdue."""

    def __init__(self, today: Callable[[], date] | None = None) -> None:
        self._today = today

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
        today = self._today() if self._today is not None else None
        for kind, instruction in TASK_INSTRUCTIONS.items():
            if question.startswith(instruction):
                coaching = Coaching(context, frozenset(), today)
                notes = notes_of(question, instruction)
                return strategy_answer(coaching, notes) if kind == "strategy" else review_answer(coaching, notes)
        earlier = list(messages)[:-1] if messages and messages[-1].role == "user" else list(messages)
        return chat_answer(context, today, question, read_conversation(earlier, context.todos))
