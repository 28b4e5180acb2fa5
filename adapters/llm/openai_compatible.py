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
- **One overall deadline per call** (`deadline` seconds, `LLM_DEADLINE_SECONDS`, 25 by default;
  issue 19). It bounds everything a call may take: every attempt, every backoff and every byte of
  the answer. Each attempt's timeout is `min(timeout, what is left of the deadline)`, a backoff
  that would end past the deadline is not waited, and the answer is read by us, chunk by chunk
  (`with_streaming_response`), so a provider that trickles one byte a second is cut at the
  deadline too (the SDK's timeouts bound each read, not the whole body). A JSON reply past the
  deadline is `timeout` (502, nothing charged); a stream past it ends cut short with what was
  relayed. gunicorn's worker `timeout` is derived from the same setting
  (entrypoints/gunicorn_conf.py), so a model call always ends before gunicorn would kill the worker.
- **What the provider sends is validated, never trusted** (issue 19): the body is parsed as plain
  JSON and checked by hand: `content` must be a string or null (null is an empty reply, charged in
  full for its usage); a usage count that is not an integer in 0..2**31-1 is ignored (our estimate
  is used), `completion_tokens` is capped at `max_tokens` (the cap is what was sold), a model name
  that is not a printable string of at most 200 characters is replaced by the one we asked for.
  A JSON reply that breaks these rules is `bad_response` (502, nothing charged).
- **The cap is enforced here, not left to the provider**: a provider may ignore `max_tokens`. The
  text relayed is cut when its estimate passes `CAP_SLACK` (1.5) times `max_tokens` (the estimate
  is 4 characters a token; real tokens run a little longer, so a well-behaved reply at the cap is
  not cut by our estimate), or `REPLY_MAX_BYTES` in UTF-8, whichever comes first; the stream to
  the provider is then closed and the reply is `cut_short`.
- The SDK itself still reads `OPENAI_ORG_ID`, `OPENAI_PROJECT_ID` and `OPENAI_CUSTOM_HEADERS` from
  the environment when they are set; the key and base URL always come from our settings.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import ExitStack
from typing import Any, TypeVar

import httpx2
import openai

from domain.coaching.errors import CoachUnavailable
from domain.coaching.model import MODEL_NAME_MAX, REPLY_MAX_BYTES, TOKENS_MAX
from domain.coaching.ports import ChatMessage, ModelSettings, Reply
from domain.coaching.prompts import prompt_tokens
from domain.coaching.tokens import estimate_tokens

log = logging.getLogger(__name__)

T = TypeVar("T")
NO_KEY = "no-key"  # local servers (Ollama, vLLM) need no key; the SDK refuses an empty one
CONNECT_TIMEOUT_CAP = 10.0
CAP_SLACK = 1.5  # relay up to 1.5x max_tokens by our 4-characters-a-token estimate, then cut
BODY_MAX_BYTES = 4 * REPLY_MAX_BYTES + 65_536  # a JSON reply larger than this is refused while read

MESSAGES = {
    "timeout": "The coach did not answer in time. Nothing was charged; please try again.",
    "unreachable": "The coach could not be reached. Nothing was charged; please try again.",
    "rate_limited": "The coach is busy right now. Nothing was charged; please try again shortly.",
    "upstream_error": "The coach failed to answer. Nothing was charged; please try again.",
    "rejected": "The coach refused the request. Nothing was charged.",
    "bad_response": "The coach sent an answer that could not be read. Nothing was charged.",
    "stream_broken": "The coach's answer broke off before any text. Nothing was charged.",
}


class _BadAnswer(Exception):
    """The provider's answer breaks the rules in the module docstring."""


class _PastDeadline(Exception):
    """The call's overall deadline passed while the answer was being read."""


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
        deadline: float = 25.0,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._model = model
        self._timeout = timeout
        self._deadline = deadline
        self._max_retries = max_retries
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._sleep = sleep
        self._clock = clock
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
        end = self._clock() + self._deadline
        with ExitStack() as stack:
            response = self._open(stack, self._request(messages, settings), end)
            try:
                body = bytearray()
                for piece in response.iter_bytes():
                    body += piece
                    if len(body) > BODY_MAX_BYTES:
                        raise _BadAnswer("body too large")
                    if self._clock() > end:
                        raise _PastDeadline()
                return self._parse_reply(bytes(body), messages, settings)
            except _PastDeadline:
                log.warning("coach model: the answer was still arriving at the deadline (%.1f s)", self._deadline)
                raise unavailable("timeout") from None
            except (_BadAnswer, ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
                log.warning("coach model: unusable answer (%s)", type(error).__name__)
                raise unavailable("bad_response") from None
            except (openai.OpenAIError, httpx2.HTTPError) as error:
                log.warning("coach model: the answer broke off (%s)", type(error).__name__)
                raise unavailable("timeout" if isinstance(error, httpx2.TimeoutException) else "unreachable") from None
        raise AssertionError("not reached")  # pragma: no cover - mypy: ExitStack may swallow

    def stream(self, messages: Sequence[ChatMessage], settings: ModelSettings) -> Generator[str | Reply, None, None]:
        end = self._clock() + self._deadline
        request = {**self._request(messages, settings), "stream": True, "stream_options": {"include_usage": True}}
        limit = _Limit(settings.max_tokens)
        usage: Any = None
        finish: str | None = None
        model = self._model_for(settings)
        broken = False
        with ExitStack() as stack:  # closed on GeneratorExit too: the provider stops generating
            response = self._open(stack, request, end)
            try:
                for event in _sse_events(response.iter_bytes(), self._clock, end):
                    if event == "[DONE]":
                        break
                    chunk = json.loads(event)
                    if not isinstance(chunk, dict):
                        raise _BadAnswer("chunk is not an object")
                    model = _model_name(chunk.get("model")) or model
                    usage = chunk.get("usage") or usage
                    choices = chunk.get("choices") or []
                    if not isinstance(choices, list):
                        raise _BadAnswer("choices is not a list")
                    for choice in choices[:1]:
                        if not isinstance(choice, dict):
                            raise _BadAnswer("choice is not an object")
                        finish = _finish(choice.get("finish_reason")) or finish
                        delta = choice.get("delta") or {}
                        if not isinstance(delta, dict):
                            raise _BadAnswer("delta is not an object")
                        text = _content(delta.get("content"))
                        if text:
                            kept = limit.admit(text)
                            if kept:
                                yield kept
                    if limit.reached:
                        finish = "length"
                        log.warning("coach model: the provider passed the cap of %d tokens; cut", settings.max_tokens)
                        break
            except _PastDeadline:
                broken = True
                log.warning("coach model: the stream was still running at the deadline (%.1f s); cut", self._deadline)
            except (_BadAnswer, openai.OpenAIError, httpx2.HTTPError, ValueError, TypeError) as error:
                broken = True
                log.warning(
                    "coach model: the stream broke after %d characters (%s)", len(limit.text), type(error).__name__
                )
        yield self._final(limit, usage, finish, model, messages, settings, broken=broken or finish is None)

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

    def _open(self, stack: ExitStack, request: dict[str, Any], end: float) -> Any:
        """Send `request` with our retry policy within the deadline; the raw response, entered in `stack`."""

        def send() -> Any:
            left = end - self._clock()
            if left <= 0:
                raise openai.APITimeoutError(request=httpx2.Request("POST", "http://deadline"))
            per_try = min(self._timeout, left)
            timeout = httpx2.Timeout(per_try, connect=min(per_try, CONNECT_TIMEOUT_CAP))
            manager = self._client.chat.completions.with_streaming_response.create(**request, timeout=timeout)
            return stack.enter_context(manager)

        return self._call(send, end)

    def _parse_reply(self, body: bytes, messages: Sequence[ChatMessage], settings: ModelSettings) -> Reply:
        completion = json.loads(body)
        if not isinstance(completion, dict):
            raise _BadAnswer("not an object")
        choices = completion["choices"]
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise _BadAnswer("no choice")
        message = choices[0]["message"]
        if not isinstance(message, dict):
            raise _BadAnswer("no message")
        raw = message.get("content")
        if raw is not None and not isinstance(raw, str):
            raise _BadAnswer("content is not a string")
        limit = _Limit(settings.max_tokens)
        limit.admit(raw or "")
        finish = "length" if limit.reached else _finish(choices[0].get("finish_reason"))
        model = _model_name(completion.get("model")) or self._model_for(settings)
        tokens_in, tokens_out = self._tokens(completion.get("usage"), messages, limit.text, settings)
        return Reply(limit.text, tokens_in, tokens_out, model, cut_short=finish == "length")

    def _tokens(
        self, usage: Any, messages: Sequence[ChatMessage], text: str, settings: ModelSettings
    ) -> tuple[int, int]:
        """The provider's counts when it sent both within bounds, else our estimate (as the hold was
        priced); the reply's count never above the cap."""
        usage = usage if isinstance(usage, dict) else {}
        counted = (_count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens")))
        if counted[0] is not None and counted[1] is not None:
            tokens_in, tokens_out = counted[0], counted[1]
        else:
            tokens_in, tokens_out = prompt_tokens(messages), estimate_tokens(text)
        return tokens_in, min(tokens_out, settings.max_tokens)

    def _final(
        self,
        limit: _Limit,
        usage: Any,
        finish: str | None,
        model: str,
        messages: Sequence[ChatMessage],
        settings: ModelSettings,
        *,
        broken: bool,
    ) -> Reply:
        if broken and not limit.text:
            raise unavailable("stream_broken")
        tokens_in, tokens_out = self._tokens(usage, messages, limit.text, settings)
        cut_short = broken or finish == "length"
        return Reply(text=limit.text, tokens_in=tokens_in, tokens_out=tokens_out, model=model, cut_short=cut_short)

    def _call(self, send: Callable[[], T], end: float) -> T:
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
            if wait is not None and self._clock() + wait >= end:
                wait = None  # the next attempt could not finish before the deadline
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
        log.error(
            "coach model rejected the request: status %s, code %s (check LLM_API_KEY, LLM_MODEL and the request)",
            status,
            code,
        )
        return "rejected", None

    def _backoff_for(self, attempt: int, asked: float | None) -> float | None:
        """The wait before the next attempt, or None when no retry is left (or the wait is too long)."""
        if attempt > self._max_retries:
            return None
        if asked is not None:
            return asked if asked <= self._max_backoff else None
        return min(self._backoff * 2.0 ** (attempt - 1), self._max_backoff)


class _Limit:
    """The text admitted so far, cut at the cap (CAP_SLACK x max_tokens by our estimate) and at
    REPLY_MAX_BYTES; `reached` once something had to be cut."""

    def __init__(self, max_tokens: int) -> None:
        self.max_chars = int(max_tokens * CAP_SLACK) * 4
        self.text = ""
        self.size = 0
        self.reached = False

    def admit(self, piece: str) -> str:
        if self.reached:
            return ""
        room = self.max_chars - len(self.text)
        if len(piece) > room:
            piece, self.reached = piece[: max(room, 0)], True
        encoded = len(piece.encode("utf-8", "surrogatepass"))
        if self.size + encoded > REPLY_MAX_BYTES:
            budget = REPLY_MAX_BYTES - self.size
            piece = piece.encode("utf-8", "surrogatepass")[:budget].decode("utf-8", "ignore")
            encoded, self.reached = len(piece.encode("utf-8", "surrogatepass")), True
        self.text += piece
        self.size += encoded
        return piece


def _sse_events(pieces: Iterator[bytes], clock: Callable[[], float], end: float) -> Iterator[str]:
    """The `data:` payloads of a server-sent event stream, read as bytes arrive; _PastDeadline when
    the deadline passes (checked after every read, so a trickle cannot outlast it)."""
    buffer = b""
    data: list[str] = []
    for piece in pieces:
        if clock() > end:
            raise _PastDeadline()
        buffer += piece
        if len(buffer) > BODY_MAX_BYTES:
            raise _BadAnswer("an event too large")
        *lines, buffer = buffer.split(b"\n")
        for raw in lines:
            line = raw.rstrip(b"\r").decode("utf-8")
            if not line:
                if data:
                    yield "\n".join(data)
                    data = []
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
    if data:
        yield "\n".join(data)


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= TOKENS_MAX:
        return None
    return value


def _content(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _BadAnswer("content is not a string")
    return value


def _finish(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _model_name(value: Any) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= MODEL_NAME_MAX and value.isprintable():
        return value
    return None
