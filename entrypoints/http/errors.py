"""The one table from domain error to HTTP status, and the error body of API.md."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from domain.billing import errors as billing_errors
from domain.billing.services.handlers import PaymentNotYetKnown
from domain.coaching.errors import CoachUnavailable
from domain.ledger.errors import InsufficientCredits, SweepIncomplete
from domain.shared import errors as e

log = logging.getLogger(__name__)

# The one table from domain error to status. The most specific class wins: the lookup walks each
# error's MRO. An error in no row is a bug, answered 500 (tests/unit/test_error_table.py).
STATUS: dict[type[e.DomainError], int] = {
    e.InvalidInput: 422,
    e.NotFound: 404,
    e.Conflict: 409,
    e.Unauthenticated: 401,
    e.Forbidden: 403,
    e.TransientError: 503,
    e.Unavailable: 503,
    e.OutcomeUnknown: 503,  # issue 20: not "nothing happened"; its code and message say retry with the same key
    billing_errors.PaymentProviderUnavailable: 503,
    billing_errors.PaymentProviderError: 502,
    billing_errors.InvalidSignature: 400,
    billing_errors.InvalidEvent: 400,
    InsufficientCredits: 402,  # also its workspace_budget_exceeded and member_budget_exceeded (issue 23)
    CoachUnavailable: 502,  # issue 14: the coach model failed; nothing was charged
    # Errors of jobs, never of a request: if one reaches HTTP it is a bug, answered as one.
    SweepIncomplete: 500,
    PaymentNotYetKnown: 500,
}

HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


# RFC 9110: a 401 says how to authenticate. Bearer first (the access JWT); an API key goes in X-API-Key.
WWW_AUTHENTICATE = 'Bearer realm="houston"'
NO_ROUTE = "No route matches this path; see /openapi.json or /docs."


def www_authenticate(code: str) -> str:
    """The challenge of a 401: a presented token that failed adds RFC 6750's `error="invalid_token"`."""
    if code in ("token_expired", "token_revoked", "invalid_token"):
        return f'{WWW_AUTHENTICATE}, error="invalid_token"'
    return WWW_AUTHENTICATE


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response:
    response = jsonify(error_body(code, message, details))
    response.status_code = status
    return response


def status_of(error: e.DomainError) -> int:
    """The error's status from the table; 500 for an error nobody mapped (a bug: a unit test
    keeps every DomainError subclass in the table, tests/unit/test_error_table.py)."""
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def handle_domain_error(error: e.DomainError) -> Response:
    status = status_of(error)
    if status == 500:  # never meant for a client: logged with its cause, answered without it
        log.error("a domain error reached HTTP unmapped or as a bug: %s", error.code, exc_info=error)
        return error_response(500, "internal_error", "Something went wrong on our side.")
    response = error_response(status, error.code, error.message, error.details)
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = www_authenticate(error.code)
    if isinstance(error, e.TransientError):
        response.headers["Retry-After"] = "1"
    elif isinstance(error, (e.Unavailable, e.OutcomeUnknown)):  # a dependency is down: give it a few seconds
        response.headers["Retry-After"] = "5"
    if isinstance(error, billing_errors.PaymentProviderUnavailable):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _validation_details(messages: Any) -> dict[str, str]:
    """webargs keys messages by location ({"json": {"email": [...]}}); API.md wants field -> message."""
    details: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, (list, tuple)):
            if all(isinstance(item, str) for item in value):
                details[prefix or "_schema"] = " ".join(value)
            else:
                for index, item in enumerate(value):
                    walk(f"{prefix}.{index}", item)
        else:
            details[prefix or "_schema"] = str(value)

    if isinstance(messages, dict):
        for location_messages in messages.values():
            walk("", location_messages)
    return details


def handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    code = HTTP_CODES.get(status, "http_error")
    data = getattr(error, "data", None) or {}
    details: dict[str, Any] = {}
    message = error.description or error.name
    if status == 422:
        details = _validation_details(data.get("messages", {}))
        message = "The request did not validate."
    elif status == 400 and "messages" in data:
        message = "The request body is not valid JSON."
    elif status == 413:
        message = "The request body is larger than this service accepts."
    elif status == 500:
        message = "Something went wrong on our side."
    elif status == 404 and type(error) is NotFound and message == NotFound.description:
        message = NO_ROUTE  # Werkzeug's routing 404: its two sentences of advice are for HTML pages
    elif status == 405 and type(error) is MethodNotAllowed and message == MethodNotAllowed.description:
        message = "This route does not take this method; see the Allow header."
    response = error_response(status, code, message, details)
    if status == 401:
        response.headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    if status == 405 and getattr(error, "valid_methods", None):
        response.headers["Allow"] = ", ".join(sorted(error.valid_methods))  # type: ignore[attr-defined]
    for name, value in (data.get("headers") or {}).items():
        response.headers[name] = value
    return response


def handle_unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    log.exception("unhandled error", extra={"error_type": type(error).__name__})
    return error_response(500, "internal_error", "Something went wrong on our side.")


def register(app: Flask) -> None:
    app.register_error_handler(e.DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
