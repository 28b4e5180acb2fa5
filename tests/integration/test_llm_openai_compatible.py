"""The OpenAI-compatible coach against a local fake provider: real SDK, real sockets, 127.0.0.1."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from adapters.llm.openai_compatible import OpenAICompatibleCoach
from domain.coaching.errors import CoachUnavailable
from domain.coaching.ports import ChatMessage, ModelSettings, Reply
from domain.coaching.prompts import prompt_tokens
from domain.coaching.tokens import estimate_tokens
from tests.fixtures.openai_server import DEFAULT_TEXT, FakeOpenAI, Step, words

KEY = "sk-test-never-shown-0123456789"
MESSAGES = (
    ChatMessage("system", "You are Houston, a focused coach."),
    ChatMessage("user", "How do I start my week?"),
)
SETTINGS = ModelSettings(model=None, temperature=0.3, max_tokens=120)
BACKOFF = 0.01


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


class Coach:
    """The adapter with a recorded (not slept) backoff, so retry tests stay fast and exact."""

    def __init__(self, base_url: str, *, timeout: float = 2.0, max_retries: int = 3) -> None:
        self.sleeps: list[float] = []
        self.model = OpenAICompatibleCoach(
            base_url,
            KEY,
            "default-model",
            timeout=timeout,
            max_retries=max_retries,
            backoff_seconds=BACKOFF,
            max_backoff_seconds=1.0,
            sleep=self.sleeps.append,
        )


def coach(fake: FakeOpenAI, **options: float) -> Coach:
    return Coach(fake.base_url, **options)  # type: ignore[arg-type]


def streamed(model: OpenAICompatibleCoach) -> tuple[list[str], Reply]:
    items = list(model.stream(MESSAGES, SETTINGS))
    *chunks, final = items
    assert all(isinstance(chunk, str) for chunk in chunks)
    assert isinstance(final, Reply)
    return [str(chunk) for chunk in chunks], final


def unavailable(call: object) -> CoachUnavailable:
    with pytest.raises(CoachUnavailable) as caught:
        call()  # type: ignore[operator]
    return caught.value


# --- plain replies ------------------------------------------------------------------------------------
def test_a_plain_reply_carries_the_text_the_usage_and_the_model_that_answered(fake: FakeOpenAI) -> None:
    reply = coach(fake).model.reply(MESSAGES, SETTINGS)

    assert reply == Reply(text=DEFAULT_TEXT, tokens_in=11, tokens_out=7, model="fake-model-1", cut_short=False)
    request = fake.requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body["model"] == "default-model"
    assert request.body["max_tokens"] == 120
    assert request.body["temperature"] == 0.3
    assert request.body["messages"] == [{"role": m.role, "content": m.content} for m in MESSAGES]
    assert not request.body.get("stream")


def test_the_coach_settings_model_overrides_the_default_model(fake: FakeOpenAI) -> None:
    coach(fake).model.reply(MESSAGES, ModelSettings(model="persona-model", temperature=0.0, max_tokens=5))

    assert fake.requests[0].body["model"] == "persona-model"
    assert fake.requests[0].body["max_tokens"] == 5


def test_without_usage_from_the_provider_tokens_are_estimated_from_the_text(fake: FakeOpenAI) -> None:
    fake.script(Step(usage=None))

    reply = coach(fake).model.reply(MESSAGES, SETTINGS)

    assert reply.tokens_in == prompt_tokens(MESSAGES)
    assert reply.tokens_out == estimate_tokens(DEFAULT_TEXT)


def test_a_reply_stopped_at_max_tokens_is_marked_cut_short(fake: FakeOpenAI) -> None:
    fake.script(Step(text="Start with", finish_reason="length"))

    reply = coach(fake).model.reply(MESSAGES, SETTINGS)

    assert reply.cut_short is True
    assert reply.text == "Start with"


@pytest.mark.parametrize("body", [b'{"unexpected": true}', b'{"choices": []}', b'{"choices": [{}]}', b"not json"])
def test_an_answer_that_is_not_a_chat_completion_is_unavailable(fake: FakeOpenAI, body: bytes) -> None:
    fake.script(Step(raw_body=body))

    error = unavailable(lambda: coach(fake).model.reply(MESSAGES, SETTINGS))

    assert error.details["reason"] == "bad_response"


def test_usage_with_missing_counts_is_replaced_by_the_estimate(fake: FakeOpenAI) -> None:
    body = {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "usage": {"prompt_tokens": 5},
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi there"}, "finish_reason": "stop"}],
    }
    fake.script(Step(raw_body=json.dumps(body).encode()))

    reply = coach(fake).model.reply(MESSAGES, SETTINGS)

    assert reply.text == "Hi there"
    assert (reply.tokens_in, reply.tokens_out) == (prompt_tokens(MESSAGES), estimate_tokens("Hi there"))


# --- streamed replies ---------------------------------------------------------------------------------
def test_a_streamed_reply_yields_the_chunks_then_one_reply_with_the_provider_usage(fake: FakeOpenAI) -> None:
    chunks, final = streamed(coach(fake).model)

    assert chunks == list(words(DEFAULT_TEXT))
    assert final == Reply(text=DEFAULT_TEXT, tokens_in=11, tokens_out=7, model="fake-model-1", cut_short=False)
    body = fake.requests[0].body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_a_streamed_reply_without_usage_counts_tokens_from_the_text(fake: FakeOpenAI) -> None:
    fake.script(Step(usage=None))

    _, final = streamed(coach(fake).model)

    assert final.tokens_in == prompt_tokens(MESSAGES)
    assert final.tokens_out == estimate_tokens(DEFAULT_TEXT)
    assert final.cut_short is False


def test_a_stream_stopped_at_max_tokens_is_marked_cut_short(fake: FakeOpenAI) -> None:
    fake.script(Step(text="Start small", finish_reason="length"))

    _, final = streamed(coach(fake).model)

    assert final.cut_short is True


def test_a_stream_that_drops_half_way_gives_the_chunks_then_a_cut_short_reply(fake: FakeOpenAI) -> None:
    fake.script(Step(drop_after=3))

    chunks, final = streamed(coach(fake).model)

    assert chunks == list(words(DEFAULT_TEXT)[:3])
    assert final.text == "".join(chunks)
    assert final.cut_short is True
    assert final.tokens_out == estimate_tokens(final.text)
    assert final.tokens_in == prompt_tokens(MESSAGES)
    assert len(fake.requests) == 1  # text was shown: never sent again


def test_a_stream_that_stalls_past_the_timeout_after_some_text_is_cut_short(fake: FakeOpenAI) -> None:
    fake.script(Step(stall_after=2, stall=1.0))

    chunks, final = streamed(coach(fake, timeout=0.3).model)

    assert chunks == list(words(DEFAULT_TEXT)[:2])
    assert final.cut_short is True
    assert len(fake.requests) == 1


def test_a_stream_that_ends_without_a_finish_reason_is_cut_short(fake: FakeOpenAI) -> None:
    fake.script(Step(finish_reason=None, usage=None))

    chunks, final = streamed(coach(fake).model)

    assert "".join(chunks) == DEFAULT_TEXT
    assert final.cut_short is True


def test_a_stream_that_ends_with_no_text_and_no_finish_reason_is_unavailable(fake: FakeOpenAI) -> None:
    fake.script(Step(chunks=(), finish_reason=None, usage=None))

    error = unavailable(lambda: list(coach(fake).model.stream(MESSAGES, SETTINGS)))

    assert error.details["reason"] == "stream_broken"


def test_a_stream_that_drops_before_any_text_is_unavailable(fake: FakeOpenAI) -> None:
    fake.script(Step(drop_after=0))

    error = unavailable(lambda: list(coach(fake).model.stream(MESSAGES, SETTINGS)))

    assert error.details["reason"] == "stream_broken"


def test_a_stream_is_retried_when_it_fails_before_the_first_chunk(fake: FakeOpenAI) -> None:
    fake.script(Step(status=503), Step())
    adapter = coach(fake)

    chunks, final = streamed(adapter.model)

    assert "".join(chunks) == DEFAULT_TEXT
    assert final.cut_short is False
    assert len(fake.requests) == 2
    assert adapter.sleeps == [BACKOFF]


def test_closing_a_stream_early_closes_the_connection_to_the_provider(fake: FakeOpenAI) -> None:
    fake.script(Step(text=" ".join(["word"] * 400), chunk_delay=0.005))
    stream = coach(fake).model.stream(MESSAGES, SETTINGS)

    assert next(stream) == "word "
    stream.close()

    assert fake.aborted.wait(timeout=5), "the provider kept writing to a client that had gone"


def test_nothing_is_sent_before_a_stream_is_iterated(fake: FakeOpenAI) -> None:
    stream = coach(fake).model.stream(MESSAGES, SETTINGS)

    assert fake.requests == []
    assert next(stream) == words(DEFAULT_TEXT)[0]


# --- failures and retries -----------------------------------------------------------------------------
def test_a_timeout_without_retries_is_unavailable_quickly(fake: FakeOpenAI) -> None:
    fake.script(Step(delay=1.5))
    started = time.monotonic()

    error = unavailable(lambda: coach(fake, timeout=0.2, max_retries=0).model.reply(MESSAGES, SETTINGS))

    assert time.monotonic() - started < 1.0
    assert error.code == "llm_unavailable"
    assert error.details["reason"] == "timeout"
    assert len(fake.requests) == 1


def test_a_timeout_is_retried_and_the_next_answer_is_used(fake: FakeOpenAI) -> None:
    fake.script(Step(delay=1.0), Step())
    adapter = coach(fake, timeout=0.2)

    reply = adapter.model.reply(MESSAGES, SETTINGS)

    assert reply.text == DEFAULT_TEXT
    assert adapter.sleeps == [BACKOFF]


def test_429_with_retry_after_waits_as_asked_then_succeeds(fake: FakeOpenAI) -> None:
    fake.script(Step(status=429, headers={"retry-after": "0.05"}), Step())
    adapter = coach(fake)

    reply = adapter.model.reply(MESSAGES, SETTINGS)

    assert reply.text == DEFAULT_TEXT
    assert adapter.sleeps == [0.05]
    assert len(fake.requests) == 2


def test_429_asking_for_a_wait_longer_than_the_backoff_cap_fails_at_once(fake: FakeOpenAI) -> None:
    fake.script(Step(status=429, headers={"retry-after": "120"}))
    adapter = coach(fake)

    error = unavailable(lambda: adapter.model.reply(MESSAGES, SETTINGS))

    assert error.details == {"reason": "rate_limited", "attempts": 1, "status": 429}
    assert adapter.sleeps == []


def test_500_is_retried_with_exponential_backoff_until_the_retries_run_out(fake: FakeOpenAI) -> None:
    fake.script(Step(status=500))
    adapter = coach(fake, max_retries=3)

    error = unavailable(lambda: adapter.model.reply(MESSAGES, SETTINGS))

    assert len(fake.requests) == 4  # the first attempt and three retries
    assert adapter.sleeps == [BACKOFF, 2 * BACKOFF, 4 * BACKOFF]
    assert error.details == {"reason": "upstream_error", "attempts": 4, "status": 500}


@pytest.mark.parametrize("status", [400, 401, 404, 408, 409, 422])
def test_a_4xx_other_than_429_is_never_retried(fake: FakeOpenAI, status: int) -> None:
    fake.script(Step(status=status), Step())
    adapter = coach(fake)

    error = unavailable(lambda: adapter.model.reply(MESSAGES, SETTINGS))

    assert error.details == {"reason": "rejected", "attempts": 1, "status": status}
    assert len(fake.requests) == 1
    assert adapter.sleeps == []


def test_error_messages_never_quote_the_key_or_the_upstream_body(fake: FakeOpenAI) -> None:
    fake.script(Step(status=401))

    error = unavailable(lambda: coach(fake).model.reply(MESSAGES, SETTINGS))

    shown = f"{error} {error.message} {error.details}"
    assert KEY not in shown
    assert "secret-upstream-detail" not in shown
    assert error.__cause__ is None and error.__suppress_context__


def test_a_provider_that_refuses_connections_is_unreachable_after_the_retries() -> None:
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    adapter = Coach(f"http://127.0.0.1:{port}/v1", max_retries=2)

    error = unavailable(lambda: adapter.model.reply(MESSAGES, SETTINGS))

    assert error.details == {"reason": "unreachable", "attempts": 3}
    assert adapter.sleeps == [BACKOFF, 2 * BACKOFF]
