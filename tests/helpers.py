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
