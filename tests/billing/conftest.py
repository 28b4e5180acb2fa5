"""Billing fixtures: a container on each storage backend with our in-memory gateway, the webhook
secret the `Stripe` helper signs with, and a registered user."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from domain.shared.clock import ManualClock
from entrypoints.bootstrap import Container
from tests.billing.support import WEBHOOK_SECRET, InMemoryGateway, Stripe
from tests.conftest import container_builder
from tests.helpers import make_settings, unique


@pytest.fixture
def gateway() -> InMemoryGateway:
    return InMemoryGateway()


@pytest.fixture
def build(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, clock: ManualClock, gateway: InMemoryGateway
) -> Callable[..., Container]:
    builder = container_builder(backend, tmp_path, request)

    def make(**overrides: Any) -> Container:
        overrides.setdefault("settings", make_settings(stripe_webhook_secret=WEBHOOK_SECRET))
        overrides.setdefault("clock", clock)
        overrides.setdefault("gateway", gateway)
        return builder(**overrides)

    return make


@pytest.fixture
def container(build: Callable[..., Container]) -> Container:
    return build()


@pytest.fixture
def stripe(container: Container, clock: ManualClock, gateway: InMemoryGateway) -> Stripe:
    return Stripe(container.billing, clock, gateway)


@pytest.fixture
def user_id(container: Container) -> str:
    return new_user(container)


def new_user(container: Container) -> str:
    return container.identity.register(f"{unique('buyer')}@example.com", "correct horse battery").user.id


def urls() -> dict[str, str]:
    return {"success_url": "https://app.example/ok", "cancel_url": "https://app.example/cancel"}
