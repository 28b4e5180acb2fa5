"""Small helpers the tests import (fixtures live in the conftest files)."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from entrypoints.config import Settings

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)


def unique(prefix: str = "t") -> str:
    """A short unique reference, so tests never depend on cleanup (cosmicpython's random_refs)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        env="test",
        database_url="memory://",
        jwt_secret="test-secret-" + "x" * 40,
        bcrypt_rounds=4,
        ratelimit_enabled=False,  # the suite is not throttled; tests/e2e/test_rate_limits.py turns them on
    )
    values.update(overrides)
    return Settings(**values)


def own_mariadb_database(url: str, suffix: str) -> Any:
    """A migrated sibling database of `url`'s (`<database>_<suffix>`, made anew) and an engine on
    it: for tests whose rows must never meet what other tests' sweeps and reconciliations read."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from adapters.sql.engine import make_engine
    from adapters.sql.migrate import upgrade

    base = make_url(url)
    name = f"{base.database}_{suffix}"
    server = make_engine(base.set(database=""))
    with server.begin() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        connection.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
    server.dispose()
    own = base.set(database=name).render_as_string(hide_password=False)
    upgrade(own)
    return make_engine(own)
