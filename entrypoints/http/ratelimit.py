"""Rate limits on every request but the probes, the docs and provider webhooks.

What is limited, by what key (the limits are settings in the `limits` library's notation):
- register and login: RATELIMIT_AUTH per client IP, and login also per email tried;
- everything else: RATELIMIT_PLAN_<PLAN> (else RATELIMIT_DEFAULT) per authenticated user, or
  RATELIMIT_DEFAULT per client IP when the request carries no valid credentials.
A refusal is `429 rate_limited` with Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining and
X-RateLimit-Reset (epoch seconds). Allowed responses carry no rate-limit headers: reading the
window back would double the limiter's Redis round trips on every request. When the limiter's
storage fails, the request is served (fail open) and counted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, Response, request

from domain.identity.model import normalize_email
from domain.shared.errors import DomainError
from entrypoints.http.auth import current_principal
from entrypoints.http.errors import error_response
from entrypoints.http.operations import client_ip

if TYPE_CHECKING:
    from limits import RateLimitItem

    from adapters.ratelimit.limits_limiter import Decision
    from entrypoints.container import Container

# Never limited: probes and scrapes must answer under load, and Stripe retries on its own schedule.
EXEMPT_PATHS = frozenset({"/health", "/ready", "/metrics", "/openapi.json", "/v1/webhooks/stripe"})
EXEMPT_PREFIXES = ("/docs",)
AUTH_PATHS = frozenset({"/v1/auth/register", "/v1/auth/login"})


@dataclass(frozen=True)
class RatePolicy:
    auth: tuple[RateLimitItem, ...]
    default: tuple[RateLimitItem, ...]
    plans: dict[str, tuple[RateLimitItem, ...]]

    @classmethod
    def of(cls, container: Container) -> RatePolicy:
        from adapters.ratelimit.limits_limiter import parse_limits

        s = container.settings
        plans = {plan: parse_limits(text) for plan, text in s.ratelimit_plans}
        return cls(parse_limits(s.ratelimit_auth), parse_limits(s.ratelimit_default), plans)

    def checks(self) -> list[tuple[str, tuple[RateLimitItem, ...], str]]:
        """(scope, limits, key) for this request, in the order they are counted."""
        if request.path in AUTH_PATHS:
            checks = [("auth-ip", self.auth, client_ip())]
            email = _email_key() if request.path.endswith("/login") else None
            return checks + [("auth-email", self.auth, email)] if email else checks
        try:
            principal = current_principal()  # cached for the view
        except DomainError:  # no or bad credentials: the view answers that; limit by address
            return [("ip", self.default, client_ip())]
        return [("user", self.plans.get(principal.plan, self.default), principal.user_id)]


def _email_key() -> str | None:
    """The email a login tries, hashed: addresses stay out of the limiter's storage."""
    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    if not isinstance(email, str):
        return None
    try:
        normalized = normalize_email(email)
    except DomainError:
        return None
    return hashlib.sha256(normalized.encode()).hexdigest()[:32]


def register_rate_limits(app: Flask, container: Container) -> None:
    limiter = container.limiter
    if limiter is None:  # RATELIMIT_ENABLED=false: no hook at all, no cost
        return
    policy = RatePolicy.of(container)
    metrics = container.metrics

    @app.before_request
    def _rate_limit() -> Response | None:
        if request.path in EXEMPT_PATHS or request.path.startswith(EXEMPT_PREFIXES):
            return None
        for scope, limits, key in policy.checks():
            decision = limiter.check(limits, scope, key)
            if decision is None:
                metrics.rate_limit_fail_open()
            elif not decision.allowed:
                metrics.rate_limited(scope)
                return _refusal(decision)
        return None


def _refusal(decision: Decision) -> Response:
    retry = decision.retry_after
    response = error_response(
        429,
        "rate_limited",
        f"Too many requests; try again in {retry} s.",
        {"limit": str(decision.limit), "retry_after": retry},
    )
    response.headers["Retry-After"] = str(retry)
    _headers(response, decision)
    return response


def _headers(response: Response, decision: Decision) -> None:
    assert decision.limit is not None
    response.headers["X-RateLimit-Limit"] = str(decision.limit.amount)
    response.headers["X-RateLimit-Remaining"] = str(decision.remaining)
    response.headers["X-RateLimit-Reset"] = str(int(decision.reset_at))
