"""The guard every route gets before its view runs: hostile input is a 400/422, never a 500.

One `before_request` hook, so a route added tomorrow is covered without asking:
- a JSON body (any `application/json` or `+json` request with a body) is parsed once with
  `domain.shared.untrusted.loads_untrusted`: lone surrogates anywhere in a string or key, nesting
  deeper than MAX_JSON_DEPTH, integer literals over MAX_INT_DIGITS digits, NaN/Infinity and
  undecodable bytes are `400 bad_request`. webargs parses the same body again afterwards, which
  is cheap next to the request and now safe;
- path parameters and query arguments (names and values) holding a lone surrogate are
  `422 validation_error` naming the parameter.
Cursors are guarded where they are decoded (`domain.shared.pagination.decode_cursor`).
"""

from __future__ import annotations

from flask import Flask, Response, request

from domain.shared.untrusted import UntrustedInput, has_surrogate, loads_untrusted
from entrypoints.http.errors import error_response

NOT_TEXT = "Holds a lone UTF-16 surrogate, which is not valid text."


def register(app: Flask) -> None:
    app.before_request(reject_hostile_input)


def reject_hostile_input() -> Response | None:
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and has_surrogate(value):
            return _invalid(name)
    for name, value in request.args.items(multi=True):
        if has_surrogate(name) or has_surrogate(value):
            return _invalid(name if not has_surrogate(name) else "query")
    if request.is_json and request.content_length != 0:
        body = request.get_data(cache=True)
        if body:
            try:
                loads_untrusted(body)
            except UntrustedInput as error:
                return error_response(400, "bad_request", f"The request body is not acceptable JSON: {error}")
    return None


def _invalid(field: str) -> Response:
    return error_response(422, "validation_error", "The request did not validate.", {field: NOT_TEXT})
