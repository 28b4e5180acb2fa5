"""The flask-smorest Api and Blueprint, bent to API.md's error shape and security schemes."""
from __future__ import annotations

from typing import Any

import flask_smorest
import marshmallow as ma
from werkzeug.exceptions import HTTPException

from entrypoints.http.errors import handle_http_exception


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


class Blueprint(flask_smorest.Blueprint):
    """Every documented error response uses ErrorSchema (set on Api); nothing else differs yet."""


SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}
USER_AUTH: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyAuth": []}]
