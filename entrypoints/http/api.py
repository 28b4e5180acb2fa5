"""The flask-smorest Api and Blueprint, bent to API.md's error shape and security schemes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import flask
import flask_smorest
import marshmallow as ma
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import HTTPException, UnsupportedMediaType

from entrypoints.http.errors import handle_http_exception

F = TypeVar("F", bound=Callable[..., Any])


class ErrorDetailSchema(ma.Schema):
    code = ma.fields.String(required=True)
    message = ma.fields.String(required=True)
    details = ma.fields.Dict(required=True)


class ErrorSchema(ma.Schema):
    error = ma.fields.Nested(ErrorDetailSchema, required=True)


DESCRIPTION = """Houston: an AI-coaching service paid for in prepaid credits.

- JSON in and out (a body of another media type is `415`); ids are opaque strings; times are ISO 8601 UTC with `Z`.
- Authenticate with `Authorization: Bearer <access token>` (from `POST /v1/auth/register` or `/v1/auth/login`)
  or `X-API-Key: <key>` (from `POST /v1/api-keys`). A `401` carries `WWW-Authenticate`.
- Credits are integers; money is integer minor units (`amount_cents`) and a lower-case `currency`.
- Requests that move credits or money take an `Idempotency-Key`: a retry with the same key and body
  gets the first answer and changes nothing.
- Lists are keyset pages: `?limit=` (1-200) and the `next_cursor` of the previous page as `?cursor=`.
- Every error is `{"error": {"code", "message", "details"}}`; `429` and `503` carry `Retry-After`."""
SERVERS = [{"url": "/", "description": "The server that serves this document (any host and port)"}]


class Api(flask_smorest.Api):
    """flask-smorest's Api with API.md's error shape, the document's description and servers."""

    ERROR_SCHEMA = ErrorSchema

    def init_app(self, app: flask.Flask, *, spec_kwargs: dict[str, Any] | None = None) -> None:
        defaults = {"info": {"description": DESCRIPTION}, "servers": SERVERS}
        super().init_app(app, spec_kwargs={**defaults, **(spec_kwargs or {})})

    def handle_http_exception(self, error: HTTPException) -> Any:
        return handle_http_exception(error)

    def register_blueprint(self, blp: flask_smorest.Blueprint, **options: Any) -> None:
        for name, schema in getattr(blp, "components", {}).items():
            if name not in self.spec.components.schemas:
                self.spec.components.schema(name, schema=schema)
        super().register_blueprint(blp, **options)


NOT_JSON = "The request body must be JSON, sent with Content-Type: application/json."
UNAUTHENTICATED = "No valid access token or API key (unauthenticated, token_expired, token_revoked)"
BAD_PAGE = "A bad limit or cursor (validation_error)"  # the 422 of a list that takes only ?limit&cursor
IDEMPOTENCY_CONFLICT = "The Idempotency-Key was used for a different request (idempotency_conflict)"

# API.md's error table: every error status a route may declare, with what it means when neither
# the route nor its blueprint says anything more precise (Blueprint.errors).
CONTRACT_ERRORS: dict[int, str] = {
    400: "The body is not valid JSON (bad_request)",
    401: UNAUTHENTICATED,
    402: "Not enough available credits; nothing was charged (insufficient_credits)",
    403: "Admins only (forbidden)",
    404: "No such {what} (not_found)",
    409: "The request contradicts the current state (conflict)",
    413: "The request body is larger than this service accepts (payload_too_large)",
    415: f"{NOT_JSON} (unsupported_media_type)",
    422: "A field breaks a limit or a rule; details name it (validation_error)",
    429: "Too many requests; try again after Retry-After (rate_limited)",
    500: "Something went wrong on our side (internal_error)",
    502: "An upstream service failed; nothing was charged",
    503: "A dependency did not answer; nothing happened; try again after Retry-After (service_unavailable)",
}


class JsonBodyParser(FlaskParser):
    """webargs' parser, except that a body it cannot read as JSON is refused, not ignored.

    webargs reads a body whose media type is not JSON as no body at all: a route whose fields are
    all optional then did its default (an admin refund of `{"amount_cents": 1}` sent as text/plain
    refunded the whole payment), and one with required fields answered "Missing data" for each. Here
    any body of another media type, or with no Content-Type, is `415 unsupported_media_type` (issue
    21). A request with no body at all still reads as `{}`: there is nothing it meant to say."""

    def _raw_load_json(self, req: flask.Request) -> Any:
        require_json_body()
        return super()._raw_load_json(req)


def require_json_body() -> None:
    """A body that is not JSON (by its Content-Type, or with none) is `415`. The Stripe webhook does
    not call this: it verifies the raw signed bytes whatever their media type, and a 415 to Stripe
    would only delay credits; an unsigned body of any type is `400 invalid_signature` there."""
    if not is_json_request(flask.request) and (flask.request.content_length or flask.request.get_data(cache=True)):
        raise UnsupportedMediaType(NOT_JSON)


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint, plus `map_of` and `errors` for the documentation; JSON bodies
    are read by JsonBodyParser and document their 400 and 415.

    `errors={status: description}` gives the area's own wording of a status (its 404, its 403),
    which `errors()` uses where a route says nothing more precise; `{what}` in it is the route's."""

    ARGUMENTS_PARSER = JsonBodyParser()

    def __init__(self, *args: Any, errors: Mapping[int, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.components: dict[str, type[ma.Schema]] = {}
        _check_statuses(errors or {})
        self.described: dict[int, str] = {**CONTRACT_ERRORS, **(errors or {})}

    def map_of(self, schema: type[ma.Schema]) -> dict[str, Any]:
        """The OpenAPI schema of a JSON object whose free-form keys all map to `schema` (which
        flask-smorest cannot dump or document by itself); the Api registers `schema` as a component."""
        name = schema.__name__.removesuffix("Schema")
        self.components[name] = schema
        return {"type": "object", "additionalProperties": {"$ref": f"#/components/schemas/{name}"}}

    def arguments(self, schema: Any, *, location: str = "json", **kwargs: Any) -> Callable[[F], F]:
        """flask-smorest's `arguments`, which also documents the 400 a JSON body that is not JSON gets.
        A schema class is instantiated once, here: webargs would build an instance per request
        (issue 25: about 0.1 ms per request and schema; an instance keeps no state between loads)."""
        if isinstance(schema, type) and issubclass(schema, ma.Schema):
            schema = schema()
        parse = super().arguments(schema, location=location, **kwargs)
        if location != "json":
            return parse  # type: ignore[no-any-return]
        return lambda func: self.errors(400, 415)(parse(func))

    def alt_response(self, status_code: Any, response: Any = None, **kwargs: Any) -> Callable[[F], F]:
        """flask-smorest's `alt_response`; a 401 documents its WWW-Authenticate challenge."""
        if response is None and int(status_code) == 401:
            kwargs.setdefault("headers", CHALLENGE)
        return super().alt_response(status_code, response, **kwargs)  # type: ignore[no-any-return]

    def errors(self, *statuses: int, what: str | None = None, say: Mapping[int, str] | None = None) -> Callable[[F], F]:
        """Declare a route's error responses: the one way every blueprint documents them (issue 26).

        Each status is one of API.md's error table (CONTRACT_ERRORS) and is documented with the
        ErrorSchema body and a description: the route's own (`say`, for a status it lists), else
        the blueprint's (`Blueprint(errors=...)`), else the contract's. `{what}` in a description
        is `what` ("No such {what} (not_found)"). The codes a description names in parentheses
        must be ones the error table answers with that status (tests/e2e/test_error_docs.py)."""
        said = dict(say or {})
        if not set(said) <= set(statuses):
            raise ValueError(f"say= words statuses the route does not list: {sorted(set(said) - set(statuses))}")
        _check_statuses(dict.fromkeys(statuses, ""))
        responses = {status: _described(said.get(status, self.described[status]), what) for status in statuses}

        def decorator(func: F) -> F:
            for status, description in sorted(responses.items(), reverse=True):
                func = self.alt_response(status, schema=ErrorSchema, description=description)(func)
            return func

        return decorator


def _described(text: str, what: str | None) -> str:
    if what is not None:
        text = text.replace("{what}", what)
    if "{what}" in text:
        raise ValueError(f"the description {text!r} needs what=")
    return text


def _check_statuses(responses: Mapping[int, str]) -> None:
    outside = sorted(set(responses) - set(CONTRACT_ERRORS))
    if outside:
        raise ValueError(f"not error statuses of API.md: {outside}")


CHALLENGE = {
    "WWW-Authenticate": {
        "description": 'How to authenticate: `Bearer realm="houston"` (with `error="invalid_token"` for a bad token)',
        "schema": {"type": "string"},
    }
}


SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}
USER_AUTH: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyAuth": []}]
