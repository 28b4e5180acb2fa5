"""Settings, Hypothesis profiles, markers, and the fixtures shared by every test level.

What the fixtures build on lives in tests/fixtures (one module per subject): storage backends
(`tests.fixtures.backends`), containers, apps, HTTP client helpers, RQ, Stripe, concurrency, LLM
fakes. Billing's fixtures (`gateway`, `build`, `container`, `stripe`, `user_id`) are here for the
unit and integration levels; tests/e2e/conftest.py has its own `container` (the app's).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.register_assert_rewrite("tests.fixtures")  # the helpers' asserts report like the tests' own

from hypothesis import HealthCheck  # noqa: E402
from hypothesis import settings as hsettings  # noqa: E402

from adapters.stripe.fake import FakePaymentGateway  # noqa: E402
from domain.shared.clock import ManualClock  # noqa: E402
from entrypoints.bootstrap import Container  # noqa: E402
from tests.fixtures.backends import IN_CI, MYSQL_URL, REDIS_URL, backend_params, storage_engine  # noqa: E402
from tests.fixtures.containers import ContainerBuilder, billing_builder, container_builder, new_user  # noqa: E402
from tests.fixtures.settings import T0  # noqa: E402
from tests.fixtures.stripe import Stripe  # noqa: E402

hsettings.register_profile(
    "dev",
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
hsettings.register_profile(
    "ci",
    max_examples=200,
    stateful_step_count=30,
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.too_slow],
)
hsettings.register_profile(
    "thorough",
    max_examples=2000,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
hsettings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_configure(config: pytest.Config) -> None:
    if IN_CI and not (MYSQL_URL and REDIS_URL):
        raise pytest.UsageError("CI needs TEST_MYSQL_URL and TEST_REDIS_URL: integration tests must run, not skip")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    missing = [name for name, value in (("TEST_MYSQL_URL", MYSQL_URL), ("TEST_REDIS_URL", REDIS_URL)) if not value]
    if missing:
        bar = "!" * 78
        terminalreporter.write_line(bar, red=True, bold=True)
        terminalreporter.write_line(
            f"  {' and '.join(missing)} unset: the MariaDB/Redis integration tests were SKIPPED.", red=True
        )
        terminalreporter.write_line("  CI runs them; so can you: see README, 'Running the tests'.", red=True)
        terminalreporter.write_line(bar, red=True, bold=True)


@pytest.fixture(scope="session")
def mysql_engine() -> Iterator[Any]:
    if not MYSQL_URL:
        pytest.skip("TEST_MYSQL_URL is not set")
    from adapters.sql.engine import make_engine
    from adapters.sql.migrate import upgrade

    upgrade(MYSQL_URL)
    engine = make_engine(MYSQL_URL, pool_size=20, max_overflow=20)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set")
    return REDIS_URL


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture(params=backend_params())
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_container(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> ContainerBuilder:
    """Build a container on the parametrised backend; keyword arguments go to bootstrap()."""
    return container_builder(backend, tmp_path, request)


@pytest.fixture
def backend_uow(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Callable[[], Any]:
    """A unit-of-work factory on the parametrised backend, with no job queue."""
    from adapters.memory.uow import MemoryUnitOfWorkFactory
    from adapters.sql.uow import SqlUnitOfWorkFactory

    engine = storage_engine(backend, tmp_path, request)
    return MemoryUnitOfWorkFactory() if engine is None else SqlUnitOfWorkFactory(engine)


# --- billing: a container with the product's fake payment gateway, and the provider's side -----
@pytest.fixture
def gateway(clock: ManualClock) -> FakePaymentGateway:
    return FakePaymentGateway(clock=clock)


@pytest.fixture
def build(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, clock: ManualClock, gateway: FakePaymentGateway
) -> ContainerBuilder:
    """Billing's containers on the parametrised backend (the webhook secret `Stripe` signs with)."""
    return billing_builder(container_builder(backend, tmp_path, request), clock=clock, gateway=gateway)


@pytest.fixture
def container(build: ContainerBuilder) -> Container:
    return build()


@pytest.fixture
def stripe(container: Container, clock: ManualClock, gateway: FakePaymentGateway) -> Stripe:
    return Stripe(container.billing, clock, gateway)


@pytest.fixture
def user_id(container: Container) -> str:
    return new_user(container)
