"""Lengths that more than one area, or both the HTTP schemas and the SQL tables, must agree on:
each number is written here once and read by `entrypoints/http/*_schemas.py` (marshmallow's
`validate.Length`) and `adapters/sql/tables.py` (`String(n)`), so a schema never accepts what a
column cannot hold (issue 26 §4).

An area's own limits stay beside its rules and are read from there the same way:
identity (`domain.identity.model`, `domain.identity.logins`), the ledger
(`domain.ledger.services.inputs`), coaching (`domain.coaching.model`), platform
(`domain.platform.model`, `.referrals`, `.webhooks`); ids are `domain.shared.ids.ID_MAX_LENGTH`,
Idempotency-Keys `domain.shared.idempotency.MAX_KEY_LENGTH`, cursors and pages
`domain.shared.pagination`.
"""

from __future__ import annotations

FEATURE_KEY_MAX_LENGTH = 64  # a price-list feature key (`coach.message`, `task.strategy`, ...)
CATALOGUE_ID_MAX_LENGTH = 40  # a plan or pack id of the catalogue, also a user's plan
CATALOGUE_ID_PATTERN = rf"^[a-z0-9][a-z0-9_-]{{0,{CATALOGUE_ID_MAX_LENGTH - 1}}}$"
COACH_ID_MAX_LENGTH = 64  # a coach of coaches.toml
SHA256_HEX_LENGTH = 64  # what a stored hash is: token and key hashes, request keys, fingerprints
URL_MAX_LENGTH = 2048  # a URL a caller gives (checkout and portal returns, webhook endpoints)
ADJUSTMENT_REASON_MAX_LENGTH = 200  # an admin's reason for a credit adjustment
