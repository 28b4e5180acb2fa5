"""How views reach the container: one tiny helper, no globals."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from entrypoints.container import Container


def container() -> Container:
    return current_app.extensions["houston"]  # type: ignore[no-any-return]
