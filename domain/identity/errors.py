"""Identity errors. Messages never say whether an email exists or which part of a secret was wrong."""

from __future__ import annotations

from domain.shared.errors import Conflict, NotFound, Unauthenticated


class InvalidCredentials(Unauthenticated):
    """Wrong password or unknown email: one error for both, so accounts cannot be enumerated."""

    code = "invalid_credentials"

    def __init__(self) -> None:
        super().__init__("The email or password is not right.")


class InvalidToken(Unauthenticated):
    """Unknown, malformed or tampered token or API key, or one whose user is gone."""

    code = "unauthenticated"

    def __init__(self, message: str = "The token is not valid.") -> None:
        super().__init__(message)


class TokenExpired(Unauthenticated):
    code = "token_expired"

    def __init__(self, message: str = "The token has expired.") -> None:
        super().__init__(message)


class TokenRevoked(Unauthenticated):
    code = "token_revoked"

    def __init__(self, message: str = "The token has been revoked; sign in again.") -> None:
        super().__init__(message)


class EmailTaken(Conflict):
    code = "email_taken"

    def __init__(self) -> None:
        super().__init__("An account with this email already exists.", details={"email": "Already registered."})


class UserNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such user.")


class ApiKeyNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such API key.")


class ApiKeyLimitReached(Conflict):
    code = "api_key_limit_reached"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"A user may hold at most {limit} active API keys; revoke one first.", details={"limit": limit}
        )
