"""Platform errors."""

from __future__ import annotations

from domain.shared.errors import Conflict


class LastAdmin(Conflict):
    """Demoting this admin would leave the service with none."""

    code = "last_admin"

    def __init__(self) -> None:
        super().__init__("This is the last admin; promote another user first.", details={"role": "Last admin."})
