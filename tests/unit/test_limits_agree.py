"""Issue 26 §4: a request field that is stored has its length limit written once, and the column
holds at least what the schema accepts (a longer value would be a 500 on MariaDB, or silently
kept whole on SQLite). Each pair below is a schema field and the column it ends up in."""

from __future__ import annotations

import marshmallow as ma
import pytest
from sqlalchemy import String

from adapters.sql import outbox_tables, tables
from entrypoints.http import coaching_schemas, identity_schemas, ledger_schemas, teams_schemas, webhooks_schemas
from entrypoints.http.schemas import IdempotencyKeyHeaderSchema, OptionalIdempotencyKeyHeaderSchema

PAIRS = [
    (identity_schemas.RegisterSchema, "email", tables.users, "email"),
    (identity_schemas.RegisterSchema, "name", tables.users, "name"),
    (identity_schemas.UpdateMeSchema, "name", tables.users, "name"),
    (identity_schemas.CreateApiKeySchema, "name", tables.api_keys, "name"),
    (ledger_schemas.ChargeSchema, "feature_key", tables.ledger_entries, "feature_key"),
    (ledger_schemas.ChargeSchema, "reference", tables.ledger_entries, "reference"),
    (IdempotencyKeyHeaderSchema, "idempotency_key", tables.ledger_idempotency, "idempotency_key"),
    (OptionalIdempotencyKeyHeaderSchema, "idempotency_key", tables.billing_payments, "checkout_key"),
    (coaching_schemas.WorkspaceCreateSchema, "name", tables.coaching_workspaces, "name"),
    (coaching_schemas.WorkspaceCreateSchema, "industry", tables.coaching_workspaces, "industry"),
    (coaching_schemas.GoalCreateSchema, "title", tables.coaching_goals, "title"),
    (coaching_schemas.GoalCreateSchema, "target_value", tables.coaching_goals, "target_value"),
    (coaching_schemas.TodoCreateSchema, "title", tables.coaching_todos, "title"),
    (coaching_schemas.SessionCreateSchema, "title", tables.coaching_sessions, "title"),
    (coaching_schemas.SessionCreateSchema, "coach", tables.coaching_sessions, "coach"),
    (teams_schemas.InvitationCreateSchema, "email", tables.workspace_invitations, "email"),
    (webhooks_schemas.EndpointCreateSchema, "url", outbox_tables.webhook_endpoints, "url"),
    (webhooks_schemas.EndpointCreateSchema, "description", outbox_tables.webhook_endpoints, "description"),
]


def accepted(schema: type[ma.Schema], name: str) -> int:
    validators = schema._declared_fields[name].validators
    maxima = [v.max for v in validators if isinstance(v, ma.validate.Length) and v.max is not None]
    assert maxima, f"{schema.__name__}.{name} accepts any length"
    return min(maxima)


@pytest.mark.parametrize(
    ("schema", "name", "table", "column"), PAIRS, ids=[f"{s.__name__}.{n}" for s, n, _, _ in PAIRS]
)
def test_the_column_holds_what_the_schema_accepts(
    schema: type[ma.Schema], name: str, table: object, column: str
) -> None:
    kind = table.c[column].type  # type: ignore[attr-defined]
    assert isinstance(kind, String) and kind.length is not None
    assert accepted(schema, name) <= kind.length
