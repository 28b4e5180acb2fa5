"""The Flask app factory: the container in, a WSGI app out."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

import swagger_ui_bundle
from flask import Flask, Response, g, request, send_from_directory

from entrypoints.config import ConfigError
from entrypoints.http import errors, hostile
from entrypoints.http.api import SECURITY_SCHEMES, Api
from entrypoints.http.contract import state_the_contract

if TYPE_CHECKING:
    from entrypoints.container import Container

log = logging.getLogger("houston.http")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
DOCS_ASSETS = "/docs/assets/"


def create_app(container: Container) -> Flask:
    app = Flask("houston")
    app.config.update(
        MAX_CONTENT_LENGTH=container.settings.max_content_length,
        API_TITLE="Houston",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=DOCS_ASSETS,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep schema order in bodies
    app.extensions["houston"] = container
    api = Api(app, spec_kwargs={"components": {"securitySchemes": SECURITY_SCHEMES}})
    errors.register(app)
    _register_blueprints(api)
    _register_fake_checkout(app, container)
    _register_plumbing(app)
    _one_connection_per_request(app, container)
    hostile.register(app)
    _register_operations(app, api, container)
    state_the_contract(api, container)  # issue 21: enums and patterns known only at start
    return app


def _register_operations(app: Flask, api: Api, container: Container) -> None:
    """Issue 15: login history, audit log, admin directory, /metrics; rate limits and request metrics."""
    from entrypoints.http import operations
    from entrypoints.http.instrumentation import register_request_metrics
    from entrypoints.http.ratelimit import register_rate_limits

    api.register_blueprint(operations.blp)
    register_rate_limits(app, container)
    register_request_metrics(app, container)


def _register_blueprints(api: Api) -> None:
    from entrypoints.http import billing, health, identity, ledger

    for module in (health, identity, ledger, billing):
        api.register_blueprint(module.blp)
    from entrypoints.http import coaching

    api.register_blueprint(coaching.blp)
    from entrypoints.http import teams  # issue 23

    api.register_blueprint(teams.blp)
    from entrypoints.http import notifications, webhooks  # issue 22

    api.register_blueprint(webhooks.blp)
    api.register_blueprint(notifications.blp)
    from entrypoints.http import account, admin_metrics, referrals  # issue 24

    api.register_blueprint(referrals.blp)  # issue 24
    api.register_blueprint(account.blp)  # issue 24
    api.register_blueprint(admin_metrics.blp)  # issue 24


def _register_fake_checkout(app: Flask, container: Container) -> None:
    """The development-only fake checkout page, when bootstrap built one (the fake gateway is in
    use: no STRIPE_SECRET_KEY). A plain blueprint outside the OpenAPI document: it serves HTML."""
    checkout = container.fake_checkout
    if checkout is None:
        return
    if container.settings.is_production:  # a container built for development, then production settings
        raise ConfigError("HOUSTON_ENV=production never mounts the fake checkout page")
    from entrypoints.http import fake_checkout

    fake_checkout.register(app, checkout)


def _one_connection_per_request(app: Flask, container: Container) -> None:
    """Issue 25: authentication and the use case share one connection and, when authentication
    only read, one transaction (adapters/sql/uow.py, RequestConnection). Nothing outlives the
    request: its end gives the connection back."""
    request_scope = getattr(container.uow, "request_scope", None)
    if request_scope is None:  # the memory adapters
        return

    @app.before_request
    def _share() -> None:
        scope = request_scope()
        scope.__enter__()
        g.connection_scope = scope

    @app.teardown_request
    def _unshare(_error: BaseException | None) -> None:
        scope = g.pop("connection_scope", None)
        if scope is not None:
            scope.__exit__(None, None, None)


def _register_plumbing(app: Flask) -> None:
    @app.get(f"{DOCS_ASSETS}<path:filename>")
    def docs_assets(filename: str) -> Response:
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=86400)

    @app.before_request
    def _start() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        request_id = g.get("request_id") or uuid.uuid4().hex
        response.headers["X-Request-ID"] = request_id
        fields: dict[str, Any] = {
            "request_id": request_id,
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 2),
            "user_id": g.get("user_id"),
        }
        log.info("request", extra=fields)
        return response
