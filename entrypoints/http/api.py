"""The flask-smorest Api and Blueprint, bent to API.md's error shape and security schemes."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import flask_smorest
import marshmallow as ma
from werkzeug.exceptions import HTTPException

from entrypoints.http.errors import handle_http_exception

F = TypeVar("F", bound=Callable[..., Any])


class ErrorDetailSchema(ma.Schema):
    code = ma.fields.String(required=True)
    message = ma.fields.String(required=True)
    details = ma.fields.Dict(required=True)


class ErrorSchema(ma.Schema):
    error = ma.fields.Nested(ErrorDetailSchema, required=True)


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException) -> Any:
        return handle_http_exception(error)

    def register_blueprint(self, blp: flask_smorest.Blueprint, **options: Any) -> None:
        for name, schema in getattr(blp, "components", {}).items():
            if name not in self.spec.components.schemas:
                self.spec.components.schema(name, schema=schema)
        super().register_blueprint(blp, **options)


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint, plus `map_of` and `errors` for the documentation; JSON bodies
    document their 400."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.components: dict[str, type[ma.Schema]] = {}

    def map_of(self, schema: type[ma.Schema]) -> dict[str, Any]:
        """The OpenAPI schema of a JSON object whose free-form keys all map to `schema` (which
        flask-smorest cannot dump or document by itself); the Api registers `schema` as a component."""
        name = schema.__name__.removesuffix("Schema")
        self.components[name] = schema
        return {"type": "object", "additionalProperties": {"$ref": f"#/components/schemas/{name}"}}

    def arguments(self, schema: Any, *, location: str = "json", **kwargs: Any) -> Callable[[F], F]:
        """flask-smorest's `arguments`, which also documents the 400 a JSON body that is not JSON gets."""
        parse = super().arguments(schema, location=location, **kwargs)
        if location != "json":
            return parse  # type: ignore[no-any-return]
        return lambda func: self.errors({400: "The body is not valid JSON (bad_request)"})(parse(func))

    def errors(self, responses: dict[int, str]) -> Callable[[F], F]:
        """Document error responses (status -> description), each with the ErrorSchema body."""

        def decorator(func: F) -> F:
            for status, description in sorted(responses.items(), reverse=True):
                func = self.alt_response(status, schema=ErrorSchema, description=description)(func)
            return func

        return decorator


UNAUTHENTICATED = "No valid access token or API key (unauthenticated, token_expired, token_revoked)"


SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}
USER_AUTH: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyAuth": []}]
