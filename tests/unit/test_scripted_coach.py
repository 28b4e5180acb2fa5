"""The offline scripted coach, fed by the real prompt builder (so the two agree on the format)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import entrypoints
from adapters.llm.scripted import MODEL_NAME, ScriptedCoach, parse_item, read_context
from domain.coaching.model import Coach, Goal, GoalStatus, Message, Todo, TodoStatus, Workspace
from domain.coaching.ports import ChatMessage, CoachModel, ModelSettings, Reply
from domain.coaching.prompts import chat_messages, prompt_tokens, system_prompt, task_messages
from domain.coaching.tokens import estimate_tokens
from entrypoints.coaches import load_coaches

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HOUSTON = Coach(
    "houston", "Houston", "A practical coach.", "You are Houston, a calm and practical coach.", None, 0.3, 400
)
ROOMY = ModelSettings(model=None, temperature=0.3, max_tokens=1000)
WORKSPACE = Workspace("ws1", "u1", "Acme Shoes", NOW, NOW, industry="Retail", description="Shoes, online.")
SHOP = Goal(
    "g1",
    "ws1",
    "Launch the web shop",
    GoalStatus.ACTIVE,
    40,
    NOW,
    NOW,
    measurable="100 orders",
    due_date=date(2026, 3, 1),
)
HIRE = Goal("g2", "ws1", "Hire a designer", GoalStatus.ACTIVE, 0, NOW, NOW)
PAYMENT = Todo(
    "t1", "ws1", "Pick a payment provider", TodoStatus.OPEN, NOW, NOW, goal_id="g1", due_date=date(2026, 2, 1)
)
JOB_AD = Todo("t2", "ws1", "Write the job ad", TodoStatus.IN_PROGRESS, NOW, NOW, goal_id="g2")


def conversation(
    question: str,
    goals: list[Goal] | None = None,
    todos: list[Todo] | None = None,
    history: list[Message] | None = None,
) -> list[ChatMessage]:
    goals = [SHOP, HIRE] if goals is None else goals
    todos = [PAYMENT, JOB_AD] if todos is None else todos
    return chat_messages(system_prompt(HOUSTON, WORKSPACE, goals, todos), history or [], question)


def test_it_fits_the_coach_model_port() -> None:
    model: CoachModel = ScriptedCoach()
    assert isinstance(model.reply(conversation("Hi"), ROOMY), Reply)


def test_it_reads_back_the_goals_and_todos_the_prompt_builder_wrote() -> None:
    context = read_context(conversation("Hi"))

    assert context.coach == "Houston"
    assert context.workspace == "Acme Shoes (Retail)"
    assert [(g.title, g.meta) for g in context.goals] == [
        ("Launch the web shop", {"progress": "40%", "due": "2026-03-01"}),
        ("Hire a designer", {"progress": "0%"}),
    ]
    assert [(t.title, t.meta) for t in context.todos] == [
        ("Pick a payment provider", {"status": "open", "due": "2026-02-01", "goal": "Launch the web shop"}),
        ("Write the job ad", {"status": "in_progress", "goal": "Hire a designer"}),
    ]


def test_titles_with_brackets_and_commas_survive_parsing() -> None:
    item = parse_item("- Sell [beta] shoes, fast [progress 5%, due 2026-01-01] specific: x")
    todo = parse_item("- Call Ann [open, goal: Hire, then train, a designer]")

    assert (item.title, item.meta) == ("Sell [beta] shoes, fast", {"progress": "5%", "due": "2026-01-01"})
    assert todo.meta["goal"] == "Hire, then train, a designer"


def test_it_answers_in_the_coach_voice_with_the_soonest_goal_and_its_next_todo() -> None:
    text = ScriptedCoach().reply(conversation("How should I start my week?"), ROOMY).text

    assert text.startswith("Houston here.")
    assert '"Launch the web shop" (40% done, due 2026-03-01)' in text
    assert 'Next step: "Pick a payment provider"' in text
    assert "2 active goals and 2 open todos" in text


def test_the_goal_or_todo_the_user_talks_about_becomes_the_focus() -> None:
    text = ScriptedCoach().reply(conversation("Any advice on the job ad?"), ROOMY).text

    assert 'Your focus is "Hire a designer"' in text
    assert 'Next step: "Write the job ad"' in text


def test_without_goals_it_asks_for_a_smart_goal() -> None:
    text = ScriptedCoach().reply(conversation("Where do I begin?", goals=[], todos=[]), ROOMY).text

    assert "no active goals yet" in text
    assert "SMART" in text


def test_a_persona_without_a_name_still_answers() -> None:
    messages = [ChatMessage("system", "Be brief."), ChatMessage("user", "Hello")]

    assert ScriptedCoach().reply(messages, ROOMY).text.startswith("Your coach here.")


def test_the_same_messages_always_give_the_same_answer() -> None:
    first = ScriptedCoach().reply(conversation("What now?"), ROOMY)
    again = ScriptedCoach().reply(conversation("What now?"), ROOMY)

    assert first == again


def test_the_history_does_not_change_which_message_is_answered() -> None:
    history = [
        Message("m1", "s1", 1, "user", "Tell me about the job ad", NOW),
        Message("m2", "s1", 2, "assistant", "Sure.", NOW),
    ]

    text = ScriptedCoach().reply(conversation("And the web shop?", history=history), ROOMY).text

    assert 'Your focus is "Launch the web shop"' in text


# --- issue 21: a convincing coach for a product demo ---------------------------------------------
def test_it_never_parrots_the_question_back() -> None:
    question = "How should I organise my whole week around the launch of the web shop?"

    text = ScriptedCoach().reply(conversation(question), ROOMY).text

    assert "You asked" not in text and question not in text and "organise my whole week" not in text
    assert 'Your focus is "Launch the web shop"' in text


def test_a_todo_the_user_just_said_is_done_is_congratulated_and_never_proposed() -> None:
    text = ScriptedCoach().reply(conversation("I picked the payment provider, it's done. What now?"), ROOMY).text

    assert 'Well done on "Pick a payment provider"' in text
    assert 'Next step: "Pick a payment provider"' not in text
    assert 'moves "Launch the web shop" forward' in text  # its goal has no other todo: write one
    assert "1 open todo" in text


def test_asking_whether_something_is_done_or_saying_it_is_not_is_no_done() -> None:
    for question in ("Is the payment provider done?", "The payment provider is not done yet."):
        text = ScriptedCoach().reply(conversation(question), ROOMY).text
        assert "Well done" not in text and 'Next step: "Pick a payment provider"' in text, question


def test_done_alone_means_the_step_proposed_last_in_the_conversation() -> None:
    coach = ScriptedCoach()
    first = coach.reply(conversation("How should I start my week?"), ROOMY).text
    assert 'Next step: "Pick a payment provider"' in first
    history = [
        Message("m1", "s1", 1, "user", "How should I start my week?", NOW),
        Message("m2", "s1", 2, "assistant", first, NOW),
    ]

    text = coach.reply(conversation("Done!", history=history), ROOMY).text

    assert 'Well done on "Pick a payment provider"' in text
    assert 'Next step: "Pick a payment provider"' not in text


def test_a_todo_done_earlier_in_the_conversation_stays_done() -> None:
    history = [
        Message("m1", "s1", 1, "user", "I finished picking the payment provider", NOW),
        Message("m2", "s1", 2, "assistant", "Houston here. Well done.", NOW),
    ]

    text = ScriptedCoach().reply(conversation("What about the web shop?", history=history), ROOMY).text

    assert "Pick a payment provider" not in text


def test_the_step_it_proposed_last_time_is_recalled_while_it_stays_open() -> None:
    first = ScriptedCoach().reply(conversation("How should I start my week?"), ROOMY).text
    history = [
        Message("m1", "s1", 1, "user", "How should I start my week?", NOW),
        Message("m2", "s1", 2, "assistant", first, NOW),
    ]

    text = ScriptedCoach().reply(conversation("Any advice on the job ad?", history=history), ROOMY).text

    assert 'Next step: "Write the job ad"' in text
    assert 'Last time the step was "Pick a payment provider"; it is still open.' in text


def test_progress_and_due_dates_shape_the_advice() -> None:
    coach = ScriptedCoach(today=lambda: date(2026, 2, 10))

    text = coach.reply(conversation("How should I start my week?"), ROOMY).text

    assert '"Launch the web shop" (40% done, due 2026-03-01, 19 days left)' in text
    assert '"Pick a payment provider" (due 2026-02-01, 9 days overdue)' in text
    stuck = coach.reply(conversation("I'm stuck on the job ad"), ROOMY).text
    assert "too big" in stuck and "has not moved yet" in stuck  # the designer goal is at 0%


def test_the_strategy_never_ties_a_todo_to_another_goal() -> None:
    system = system_prompt(HOUSTON, WORKSPACE, [SHOP, HIRE], [JOB_AD])  # the shop has no todo

    lines = ScriptedCoach().reply(task_messages(system, "strategy", ""), ROOMY).text.splitlines()

    assert lines[1] == '1. "Launch the web shop" (40% done, due 2026-03-01): add the first concrete todo for it.'
    assert lines[2] == '2. "Hire a designer" (0% done): start with "Write the job ad".'


def test_a_task_uses_its_notes() -> None:
    system = system_prompt(HOUSTON, WORKSPACE, [SHOP, HIRE], [PAYMENT, JOB_AD])

    strategy = ScriptedCoach().reply(task_messages(system, "strategy", "A designer comes first."), ROOMY).text
    review = ScriptedCoach().reply(task_messages(system, "weekly_review", "Payments took longer."), ROOMY).text

    assert strategy.splitlines()[1].startswith('1. "Hire a designer"')
    assert 'point at "Hire a designer"' in strategy
    assert "Payments took longer." in review


def test_the_weekly_review_is_its_own_content_not_the_strategy() -> None:
    system = system_prompt(HOUSTON, WORKSPACE, [SHOP, HIRE], [PAYMENT, JOB_AD])
    coach = ScriptedCoach(today=lambda: date(2026, 2, 10))

    review = coach.reply(task_messages(system, "weekly_review", ""), ROOMY).text
    strategy = coach.reply(task_messages(system, "strategy", ""), ROOMY).text

    assert review.splitlines()[1:] != strategy.splitlines()[1:]
    assert 'Moved: "Launch the web shop" is at 40%.' in review
    assert 'Not started: "Hire a designer".' in review
    assert 'Overdue: "Pick a payment provider" (9 days late).' in review
    assert 'In progress: "Write the job ad".' in review
    assert review.splitlines()[-1].startswith('First next week: 1. "Pick a payment provider"')


def test_tokens_are_counted_like_the_service_estimates_them() -> None:
    messages = conversation("How should I start my week?")

    reply = ScriptedCoach().reply(messages, ROOMY)

    assert reply.tokens_in == prompt_tokens(messages)
    assert reply.tokens_out == estimate_tokens(reply.text)
    assert reply.model == MODEL_NAME
    assert reply.cut_short is False


def test_an_answer_longer_than_max_tokens_is_cut_at_a_word_and_marked_cut_short() -> None:
    full = ScriptedCoach().reply(conversation("How should I start my week?"), ROOMY).text
    capped = ModelSettings(model=None, temperature=0.3, max_tokens=12)

    reply = ScriptedCoach().reply(conversation("How should I start my week?"), capped)

    assert reply.cut_short is True
    assert reply.tokens_out <= 12
    assert estimate_tokens(reply.text) == reply.tokens_out
    assert full.startswith(reply.text)
    assert full[len(reply.text)] == " "  # cut between words


def test_a_cap_of_zero_gives_an_empty_cut_short_answer() -> None:
    reply = ScriptedCoach().reply(conversation("Hi"), ModelSettings(model=None, temperature=0.3, max_tokens=0))

    assert (reply.text, reply.tokens_out, reply.cut_short) == ("", 0, True)


def test_streaming_goes_word_by_word_and_ends_with_the_same_reply() -> None:
    messages = conversation("How should I start my week?")

    *chunks, final = list(ScriptedCoach().stream(messages, ROOMY))

    assert final == ScriptedCoach().reply(messages, ROOMY)
    assert "".join(str(chunk) for chunk in chunks) == final.text
    assert len(chunks) == len(final.text.split(" "))
    assert all(isinstance(chunk, str) and chunk.count(" ") <= 1 for chunk in chunks)


def test_a_streamed_answer_respects_max_tokens_too() -> None:
    capped = ModelSettings(model=None, temperature=0.3, max_tokens=8)

    *chunks, final = list(ScriptedCoach().stream(conversation("How should I start my week?"), capped))

    assert isinstance(final, Reply) and final.cut_short
    assert "".join(str(chunk) for chunk in chunks) == final.text


def test_a_strategy_task_gets_a_numbered_plan_per_goal() -> None:
    system = system_prompt(HOUSTON, WORKSPACE, [SHOP, HIRE], [PAYMENT, JOB_AD])

    text = ScriptedCoach().reply(task_messages(system, "strategy", ""), ROOMY).text

    assert text.splitlines() == [
        "Strategy for Acme Shoes (Retail), from Houston:",
        '1. "Launch the web shop" (40% done, due 2026-03-01): start with "Pick a payment provider" (due 2026-02-01).',
        '2. "Hire a designer" (0% done): start with "Write the job ad".',
    ]


def test_a_weekly_review_without_goals_says_what_to_do_first() -> None:
    system = system_prompt(HOUSTON, WORKSPACE, [], [])

    text = ScriptedCoach().reply(task_messages(system, "weekly_review", "notes"), ROOMY).text

    assert text.startswith("Weekly review for Acme Shoes (Retail): there are no active goals yet.")


def test_each_persona_of_the_catalogue_speaks_in_its_own_voice() -> None:
    catalogue = load_coaches(str(Path(entrypoints.__file__).parent / "coaches.toml"))

    def answer(coach_id: str) -> str:
        system = system_prompt(catalogue[coach_id], WORKSPACE, [SHOP], [PAYMENT])
        return ScriptedCoach().reply(chat_messages(system, [], "What now?"), ROOMY).text

    houston, sage, drill = answer("houston"), answer("sage"), answer("drill")
    assert houston.startswith("Houston here.") and "Next step:" in houston and houston.endswith("?")
    assert sage.startswith("Sage here. Let's look at this together.") and sage.endswith("?")
    assert drill.startswith("Drill here. No excuses.") and 'Today you do "Pick a payment provider"' in drill
    assert not drill.endswith("?")
