"""The OpenAI-compatible coach against a provider that misbehaves (issue 19): wrong types, huge or
missing usage, an ignored `max_tokens`, answers that trickle, stall or never end. Real SDK, real
sockets, the local fake provider; deadlines of 1-2 s so the suite stays fast.

Invariants: whatever the provider sends, the adapter returns a `Reply` that storage accepts (text
a string of at most REPLY_MAX_BYTES, token counts in 0..2**31-1 with the reply's at most the cap,
a model name of at most 200 characters) or raises CoachUnavailable; and no call outlives its
deadline by more than a read's slack.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.llm.openai_compatible import CAP_SLACK, OpenAICompatibleCoach
from domain.coaching.errors import CoachUnavailable
from domain.coaching.model import MODEL_NAME_MAX, REPLY_MAX_BYTES, TOKENS_MAX
from domain.coaching.ports import ChatMessage, ModelSettings, Reply
from domain.coaching.prompts import prompt_tokens
from domain.coaching.tokens import estimate_tokens
from tests.fixtures.openai_server import DEFAULT_TEXT, FakeOpenAI, Step, words

MESSAGES = (ChatMessage("system", "You are Houston."), ChatMessage("user", "How do I start my week?"))
CAP = 100
SETTINGS = ModelSettings(model=None, temperature=0.3, max_tokens=CAP)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def adapter(fake: FakeOpenAI, *, deadline: float = 2.0, timeout: float = 5.0) -> OpenAICompatibleCoach:
    return OpenAICompatibleCoach(
        fake.base_url, "sk-test", "asked-model", timeout=timeout, max_retries=0, deadline=deadline
    )


def streamed(model: OpenAICompatibleCoach, settings: ModelSettings = SETTINGS) -> tuple[list[str], Reply]:
    *chunks, final = list(model.stream(MESSAGES, settings))
    assert all(isinstance(chunk, str) for chunk in chunks)
    assert isinstance(final, Reply)
    return [str(c) for c in chunks], final


def storable(reply: Reply, settings: ModelSettings = SETTINGS) -> None:
    """What the adapter admits always fits the columns (and the cap)."""
    assert isinstance(reply.text, str) and len(reply.text.encode()) <= REPLY_MAX_BYTES
    assert 0 <= reply.tokens_in <= TOKENS_MAX
    assert 0 <= reply.tokens_out <= settings.max_tokens
    assert isinstance(reply.model, str) and 0 < len(reply.model) <= MODEL_NAME_MAX


# --- defect 4: content that is not a string ---------------------------------------------------------
@pytest.mark.parametrize("content", [123, {"text": "hi"}, ["hi"], True, 1.5])
def test_a_json_reply_whose_content_is_not_a_string_is_unavailable(fake: FakeOpenAI, content: Any) -> None:
    fake.script(Step(content=content))

    with pytest.raises(CoachUnavailable) as caught:
        adapter(fake).reply(MESSAGES, SETTINGS)

    assert caught.value.details["reason"] == "bad_response"


def test_an_empty_reply_with_null_content_keeps_its_usage_so_it_is_charged_in_full(fake: FakeOpenAI) -> None:
    fake.script(Step(content=None, usage=(40, 25)))

    reply = adapter(fake).reply(MESSAGES, SETTINGS)

    assert (reply.text, reply.tokens_in, reply.tokens_out) == ("", 40, 25)


@pytest.mark.parametrize("bad", [123, {"x": 1}, ["a"]])
def test_a_stream_whose_first_piece_is_not_a_string_is_unavailable(fake: FakeOpenAI, bad: Any) -> None:
    fake.script(Step(chunks=(bad, "then text")))

    with pytest.raises(CoachUnavailable):
        list(adapter(fake).stream(MESSAGES, SETTINGS))


def test_a_stream_that_turns_to_non_strings_half_way_keeps_the_text_so_far_cut_short(fake: FakeOpenAI) -> None:
    fake.script(Step(chunks=("One ", "two ", {"three": 3}, "four")))

    chunks, final = streamed(adapter(fake))

    assert chunks == ["One ", "two "]
    assert (final.text, final.cut_short) == ("One two ", True)
    storable(final)


# --- defect 3: usage, model names and sizes the database would refuse ------------------------------
@pytest.mark.parametrize(
    "usage_raw",
    [
        {"prompt_tokens": 2**31, "completion_tokens": 7},
        {"prompt_tokens": 11, "completion_tokens": 2**63},
        {"prompt_tokens": -1, "completion_tokens": 7},
        {"prompt_tokens": "11", "completion_tokens": "7"},
        {"prompt_tokens": 11.5, "completion_tokens": 7},
        {"prompt_tokens": True, "completion_tokens": 7},
        "lots",
        [11, 7],
    ],
)
def test_usage_out_of_bounds_or_of_the_wrong_type_is_replaced_by_the_estimate(fake: FakeOpenAI, usage_raw: Any) -> None:
    fake.script(Step(usage_raw=usage_raw))

    reply = adapter(fake).reply(MESSAGES, SETTINGS)
    _, final = streamed(adapter(fake))

    for result in (reply, final):
        assert (result.tokens_in, result.tokens_out) == (prompt_tokens(MESSAGES), estimate_tokens(DEFAULT_TEXT))
        storable(result)


def test_a_reply_count_above_the_cap_is_the_cap(fake: FakeOpenAI) -> None:
    fake.script(Step(usage=(11, 5_000)))

    reply = adapter(fake).reply(MESSAGES, SETTINGS)

    assert reply.tokens_out == CAP


@pytest.mark.parametrize("model", ["m" * (MODEL_NAME_MAX + 1), "", "bad\nname"])
def test_a_model_name_the_column_cannot_hold_is_replaced_by_the_model_asked_for(fake: FakeOpenAI, model: str) -> None:
    fake.script(Step(model=model))

    reply = adapter(fake).reply(MESSAGES, SETTINGS)
    _, final = streamed(adapter(fake))

    assert reply.model == final.model == "asked-model"


def test_a_json_reply_longer_than_the_storage_holds_is_cut_to_fit(fake: FakeOpenAI) -> None:
    big = ModelSettings(model=None, temperature=0.3, max_tokens=100_000)
    fake.script(Step(text="é" * 50_000, usage=(11, 50_000)))  # 100,000 bytes in UTF-8

    reply = adapter(fake).reply(MESSAGES, big)

    assert reply.cut_short is True
    assert len(reply.text.encode()) <= REPLY_MAX_BYTES
    assert reply.text == "é" * (REPLY_MAX_BYTES // 2)


# --- defect 5: a provider that ignores max_tokens --------------------------------------------------
def test_a_stream_past_the_cap_is_cut_there_and_the_provider_connection_closed(fake: FakeOpenAI) -> None:
    fake.script(Step(chunks=tuple(["word "] * 2_000), usage=(11, 2_000), chunk_delay=0.001))

    chunks, final = streamed(adapter(fake))

    relayed = "".join(chunks)
    assert relayed == final.text
    assert len(relayed) == int(CAP * CAP_SLACK) * 4  # 150 tokens at 4 characters
    assert final.cut_short is True and final.tokens_out == CAP
    assert fake.aborted.wait(timeout=5), "the provider kept streaming after the cap"


def test_a_json_reply_past_the_cap_is_cut_at_the_cap(fake: FakeOpenAI) -> None:
    fake.script(Step(text="word " * 2_000, usage=(11, 2_000)))

    reply = adapter(fake).reply(MESSAGES, SETTINGS)

    assert len(reply.text) == int(CAP * CAP_SLACK) * 4
    assert reply.cut_short is True and reply.tokens_out == CAP


# --- defect 6: one overall deadline --------------------------------------------------------------
def test_a_json_reply_that_trickles_past_the_deadline_is_a_timeout_at_the_deadline(fake: FakeOpenAI) -> None:
    fake.script(Step(trickle=0.05))  # about 300 bytes, 8 at a time: 2 s in all, every read on time
    started = time.monotonic()

    with pytest.raises(CoachUnavailable) as caught:
        adapter(fake, deadline=1.0).reply(MESSAGES, SETTINGS)

    assert caught.value.details["reason"] == "timeout"
    assert time.monotonic() - started < 1.6


def test_a_stream_that_trickles_past_the_deadline_ends_cut_short_at_the_deadline(fake: FakeOpenAI) -> None:
    fake.script(Step(chunks=tuple(["step "] * 60), chunk_delay=0.05))  # 3 s of steady chunks
    started = time.monotonic()

    chunks, final = streamed(adapter(fake, deadline=1.0))

    assert time.monotonic() - started < 1.6
    assert 0 < len(chunks) < 60
    assert final.cut_short is True and final.text == "".join(chunks)


def test_a_stream_that_stalls_is_cut_at_the_deadline_even_when_the_read_timeout_is_longer(fake: FakeOpenAI) -> None:
    fake.script(Step(stall_after=2, stall=4.0))
    started = time.monotonic()

    chunks, final = streamed(adapter(fake, deadline=1.0, timeout=30.0))

    assert time.monotonic() - started < 1.6
    assert chunks == list(words(DEFAULT_TEXT)[:2])
    assert final.cut_short is True


def test_retries_never_outlast_the_deadline(fake: FakeOpenAI) -> None:
    fake.script(Step(delay=0.6))
    model = OpenAICompatibleCoach(
        fake.base_url, "k", "m", timeout=0.5, max_retries=10, deadline=1.2, backoff_seconds=0.01
    )
    started = time.monotonic()

    with pytest.raises(CoachUnavailable):
        model.reply(MESSAGES, SETTINGS)

    assert time.monotonic() - started < 1.8
    assert len(fake.requests) <= 3


def test_a_stream_without_usage_is_counted_from_what_was_relayed(fake: FakeOpenAI) -> None:
    fake.script(Step(usage=None))

    chunks, final = streamed(adapter(fake))

    assert final.tokens_out == estimate_tokens("".join(chunks))


def test_a_body_that_is_not_json_at_all_is_a_bad_response(fake: FakeOpenAI) -> None:
    fake.script(Step(raw_body=json.dumps({"choices": [{"message": "hi"}]}).encode()))

    with pytest.raises(CoachUnavailable) as caught:
        adapter(fake).reply(MESSAGES, SETTINGS)

    assert caught.value.details["reason"] == "bad_response"
