"""The coach model over any OpenAI-compatible chat-completions endpoint, with the official `openai` 3 SDK.

Works with OpenAI, Gemini's OpenAI-compatible endpoint, Ollama, vLLM and the like: only
`POST {base_url}/chat/completions` is used, with `model`, `messages`, `temperature`, `max_tokens`
(not `max_completion_tokens`, which most compatible servers do not know) and, when streaming,
`stream_options.include_usage` so that the provider reports the tokens it really counted.

Decisions, and why:
- **Retries are ours, not the SDK's** (the client is built with `max_retries=0`). The SDK also
  retries 408 and 409, which are 4xx, and its backoff (0.5 s to 8 s) cannot be shortened for tests.
  Here: up to `max_retries` retries after the first attempt, with exponential backoff
  (`backoff_seconds * 2**n`, capped at `max_backoff_seconds`) on exactly these failures:
  timeouts, 429 and 5xx, and a connection that failed before any answer (refused or reset: the
  same case as a timeout for the caller, nothing was answered). Never on another 4xx: the request
  itself is wrong and would fail the same way. A `retry-after` (or `retry-after-ms`) on a 429/5xx
  sets the wait; when it asks for more than `max_backoff_seconds`, we give up at once rather than
  hold a request thread (and the user's credit hold) for minutes.
- **A stream is retried only before its first chunk** (the status arrives before any text): after
  text has been shown to the user, a second attempt would repeat or contradict it.
- **Every failure becomes `CoachUnavailable`** with a safe message and `details={"reason": ...}`
  (`timeout`, `unreachable`, `rate_limited`, `upstream_error`, `rejected`, `bad_response`,
  `stream_broken`): never the upstream body, which can quote a key or the prompt. The log gets
  the status, the provider's error code and the attempt count, not the body either.
- **A stream that drops half-way** (connection reset, read timeout between chunks, a malformed
  event, or an end without any finish reason): when text already arrived, the caller has the
  chunks, then one final `Reply` with that text, `cut_short=True`, and tokens counted with
  `prompt_tokens` and `estimate_tokens` (as the service
  estimated the hold) unless the provider's usage arrived before the break.
  It is never an exception at that point: the caller streamed that text and must settle for it.
  When nothing arrived, it is `CoachUnavailable(reason="stream_broken")`.
- `stream()` is a generator: nothing is sent until the first `next()`. Closing it early (the
  caller's `GeneratorExit`) closes the HTTP response, so the provider stops generating.
- The timeout (`timeout` seconds, 60 by default) bounds each read, write and pool wait; connecting
  gets at most 10 s. A stream may last longer than the timeout as long as chunks keep coming.
- The SDK itself still reads `OPENAI_ORG_ID`, `OPENAI_PROJECT_ID` and `OPENAI_CUSTOM_HEADERS` from
  the environment when they are set; the key and base URL always come from our settings.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Sequence
from typing import Any, TypeVar

import httpx2
import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.completion_usage import CompletionUsage

from domain.coaching.errors import CoachUnavailable
from domain.coaching.ports import ChatMessage, ModelSettings, Reply
from domain.coaching.prompts import prompt_tokens
from domain.coaching.tokens import estimate_tokens

log = logging.getLogger(__name__)

T = TypeVar("T")
NO_KEY = "no-key"  # local servers (Ollama, vLLM) need no key; the SDK refuses an empty one
CONNECT_TIMEOUT_CAP = 10.0

MESSAGES = {
    "timeout": "The coach did not answer in time. Nothing was charged; please try again.",
    "unreachable": "The coach could not be reached. Nothing was charged; please try again.",
    "rate_limited": "The coach is busy right now. Nothing was charged; please try again shortly.",
    "upstream_error": "The coach failed to answer. Nothing was charged; please try again.",
    "rejected": "The coach refused the request. Nothing was charged.",
    "bad_response": "The coach sent an answer that could not be read. Nothing was charged.",
    "stream_broken": "The coach's answer broke off before any text. Nothing was charged.",
}


def unavailable(reason: str, **details: Any) -> CoachUnavailable:
    return CoachUnavailable(MESSAGES[reason], details={"reason": reason, **details})


def retry_after(response: httpx2.Response) -> float | None:
    """Seconds the provider asks us to wait (`retry-after-ms` or `retry-after` in seconds), if any."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = response.headers.get(name)
        if raw is None:
            continue
        try:
            return max(0.0, float(raw) / scale)
        except ValueError:
            return None  # an HTTP date: fall back to our own backoff
    return None


class OpenAICompatibleCoach:
    """`CoachModel` on an OpenAI-compatible endpoint. See the module docstring for the policy."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        model: str,
        timeout: float = 60.0,
        max_retries: int = 3,
        *,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._model = model
        self._max_retries = max_retries
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._sleep = sleep
        self._client = openai.OpenAI(
            base_url=base_url,
            api_key=api_key or NO_KEY,
            timeout=httpx2.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_CAP)),
            max_retries=0,
        )

    def close(self) -> None:
        self._client.close()

    # --- the port ---------------------------------------------------------------------------------
    def reply(self, messages: Sequence[ChatMessage], settings: ModelSettings) -> Reply:
        completion = self._call(lambda: self._client.chat.completions.create(**self._request(messages, settings)))
        try:  # the SDK does not validate strictly: a compatible server may leave anything out
            assert isinstance(completion, ChatCompletion)
            choice = completion.choices[0]
            text = choice.message.content or ""
            finish, model = choice.finish_reason, completion.model
        except (AssertionError, AttributeError, IndexError, TypeError):
            log.warning("coach model: the answer was not a chat completion with a message")
            raise unavailable("bad_response") from None
        tokens_in, tokens_out = self._tokens(completion.usage, messages, text)
        return Reply(text, tokens_in, tokens_out, model or self._model_for(settings), cut_short=finish == "length")

    def stream(self, messages: Sequence[ChatMessage], settings: ModelSettings) -> Generator[str | Reply, None, None]:
        request = {**self._request(messages, settings), "stream": True, "stream_options": {"include_usage": True}}
        chunks = self._call(lambda: self._client.chat.completions.create(**request))
        parts: list[str] = []
        usage: CompletionUsage | None = None
        finish: str | None = None
        model = self._model_for(settings)
        broken = False
        try:
            for chunk in chunks:
                if not isinstance(chunk, ChatCompletionChunk):
                    raise ValueError("not a chat.completion.chunk")
                model = chunk.model or model
                usage = chunk.usage or usage
                for choice in chunk.choices[:1]:
                    finish = choice.finish_reason or finish
                    if choice.delta is not None and choice.delta.content:
                        parts.append(choice.delta.content)
                        yield choice.delta.content
        except (openai.OpenAIError, httpx2.HTTPError, ValueError, TypeError, AttributeError) as error:
            broken = True
            log.warning("coach model: the stream broke after %d chunks (%s)", len(parts), type(error).__name__)
        finally:
            chunks.close()  # also on GeneratorExit: the provider stops generating
        yield self._final(parts, usage, finish, model, messages, broken=broken or finish is None)

    # --- helpers -------------------------------------------------------------------------------------
    def _model_for(self, settings: ModelSettings) -> str:
        return settings.model or self._model

    def _request(self, messages: Sequence[ChatMessage], settings: ModelSettings) -> dict[str, Any]:
        return {
            "model": self._model_for(settings),
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "temperature": settings.temperature,
            "max_tokens": settings.max_tokens,
        }

    def _tokens(self, usage: CompletionUsage | None, messages: Sequence[ChatMessage], text: str) -> tuple[int, int]:
        """The provider's counts when it sent both, else our estimate (as the hold was priced)."""
        counted = (getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None))
        if all(isinstance(n, int) and n >= 0 for n in counted):
            return int(counted[0] or 0), int(counted[1] or 0)
        return prompt_tokens(messages), estimate_tokens(text)

    def _final(
        self,
        parts: list[str],
        usage: CompletionUsage | None,
        finish: str | None,
        model: str,
        messages: Sequence[ChatMessage],
        *,
        broken: bool,
    ) -> Reply:
        text = "".join(parts)
        if broken and not text:
            raise unavailable("stream_broken")
        tokens_in, tokens_out = self._tokens(usage, messages, text)
        cut_short = broken or finish == "length"
        return Reply(text=text, tokens_in=tokens_in, tokens_out=tokens_out, model=model, cut_short=cut_short)

    def _call(self, send: Callable[[], T]) -> T:
        """`send()` with our retry policy; every SDK error leaves as CoachUnavailable."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return send()
            except openai.APIStatusError as error:
                reason, wait = self._status_failure(error, attempt)
                status = error.status_code
            except openai.APITimeoutError:
                reason, wait, status = "timeout", self._backoff_for(attempt, None), None
            except openai.APIConnectionError:
                reason, wait, status = "unreachable", self._backoff_for(attempt, None), None
            except (openai.OpenAIError, ValueError) as error:  # a body the SDK could not read (bad JSON), ...
                log.warning("coach model: unusable answer (%s)", type(error).__name__)
                raise unavailable("bad_response") from None
            if wait is None:
                log.warning("coach model failed: %s, status %s, after %d attempt(s)", reason, status, attempt)
                raise unavailable(reason, attempts=attempt, **({"status": status} if status else {})) from None
            log.info("coach model: %s (status %s), retry %d in %.2f s", reason, status, attempt, wait)
            self._sleep(wait)

    def _status_failure(self, error: openai.APIStatusError, attempt: int) -> tuple[str, float | None]:
        status = error.status_code
        if status == 429 or status >= 500:
            reason = "rate_limited" if status == 429 else "upstream_error"
            return reason, self._backoff_for(attempt, retry_after(error.response))
        code = getattr(error, "code", None)
        log.error("coach model rejected the request: status %s, code %s (check LLM_API_KEY, LLM_MODEL and the request)",
                  status, code)  # fmt: skip
        return "rejected", None

    def _backoff_for(self, attempt: int, asked: float | None) -> float | None:
        """The wait before the next attempt, or None when no retry is left (or the wait is too long)."""
        if attempt > self._max_retries:
            return None
        if asked is not None:
            return asked if asked <= self._max_backoff else None
        return min(self._backoff * 2.0 ** (attempt - 1), self._max_backoff)
