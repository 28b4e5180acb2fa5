"""Issue 24's fixtures: billing's container (our in-memory gateway, signed webhooks) on each backend."""
from __future__ import annotations

from tests.billing.conftest import build, container, gateway, stripe  # noqa: F401  (fixtures)
