"""Errors of the coaching area."""
from __future__ import annotations

from domain.shared.errors import DomainError


class CoachUnavailable(DomainError):
    """The coach model did not answer: timeouts, connection errors, 429/5xx after retries,
    a stream that broke before any text, 4xx. HTTP 502; nothing is charged."""

    code = "llm_unavailable"
