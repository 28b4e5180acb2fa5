"""Standard Webhooks signing with the specification's own package (`standardwebhooks`).

Secrets are `whsec_` + base64 of 32 random bytes, as the specification and Svix's libraries expect.
During a rotation both secrets sign: `webhook-signature` carries one `v1,<sig>` per secret,
space-separated, and a receiver that knows either one verifies.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook


class StandardWebhookSigner:
    def new_secret(self) -> str:
        return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()

    def headers(self, secrets_: list[str], message_id: str, at: datetime, body: bytes) -> Mapping[str, str]:
        at = at.astimezone(UTC)
        text = body.decode()
        signatures = " ".join(Webhook(secret).sign(message_id, at, text) for secret in secrets_)
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signatures,
            "content-type": "application/json",
            "user-agent": "Houston-Webhooks/1",
        }
