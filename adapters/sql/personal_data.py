"""Where personal data lives, column by column, and the SQL that exports and erases it (issue 24).

`INVENTORY` classifies every column of every table (tests/integration/test_gdpr.py fails on a
column it does not name, so a new column that can hold personal data cannot slip in):
- `erase`: personal data; after an erasure no row linked to the person holds it (the row is
  deleted, or the value is blanked);
- `pseudonymise`: kept, because the books need it, but it only holds the user's id (or another
  id of ours), which after erasure leads to a tombstone with no personal data;
- `keep`: not personal (amounts, statuses, times, our own ids, catalogue figures).
`SECRET` columns are never exported (hashes of passwords, tokens and keys).

Merging another branch: add its tables here (and their erase statements to `erase_user`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, delete, or_, select, union, update

from adapters.sql.tables import (
    api_keys,
    audit_log,
    billing_customers,
    billing_events,
    billing_payments,
    billing_subscriptions,
    coaching_goals,
    coaching_messages,
    coaching_sessions,
    coaching_tasks,
    coaching_todos,
    coaching_workspaces,
    ledger_accounts,
    ledger_entries,
    ledger_grants,
    ledger_pending_grants,
    login_events,
    metadata,
    referral_codes,
    referrals,
    refresh_tokens,
    users,
    workspace_invitations,
    workspace_members,
)

if TYPE_CHECKING:
    from adapters.sql.db import Db

ERASE, PSEUDO, KEEP = "erase", "pseudonymise", "keep"


def _k(*names: str) -> dict[str, str]:
    return {name: KEEP for name in names}


def _e(*names: str) -> dict[str, str]:
    return {name: ERASE for name in names}


def _p(*names: str) -> dict[str, str]:
    return {name: PSEUDO for name in names}


INVENTORY: dict[str, dict[str, str]] = {
    "users": {**_p("id"), **_e("email", "password_hash", "name"), **_k("role", "plan", "created_at", "updated_at")},
    "refresh_tokens": {
        **_k("id", "family_id", "created_at", "expires_at", "used_at", "revoked_at"),
        **_p("user_id"),
        **_e("token_hash"),
    },
    "api_keys": {
        **_k("id", "created_at", "revoked_at", "last_used_at"),
        **_p("user_id"),
        **_e("name", "prefix", "key_hash"),
    },
    "ledger_accounts": {**_p("id"), **_k("balance", "held", "last_seq", "created_at")},
    "ledger_grants": {
        **_k("id", "source", "granted", "remaining", "expires_at", "reference", "created_at"),
        **_p("account_id"),
    },
    "ledger_entries": {
        **_k(
            "id",
            "seq",
            "kind",
            "amount",
            "balance_after",
            "feature_key",
            "reference",
            "idempotency_key",
            "grant_id",
            "hold_id",
            "created_at",
        ),
        **_p("account_id"),
    },
    "ledger_allocations": _k("entry_id", "grant_id", "amount"),
    "ledger_holds": {
        **_k(
            "id",
            "requested",
            "amount",
            "captured",
            "status",
            "feature_key",
            "reference",
            "idempotency_key",
            "expires_at",
            "created_at",
            "finished_at",
        ),
        **_p("account_id"),
    },
    "ledger_idempotency": {
        **_p("account_id"),
        **_k("idempotency_key", "operation", "fingerprint", "result", "created_at"),
    },
    "ledger_usage": {**_p("account_id"), **_k("month", "feature_key", "spent")},
    "ledger_pending_grants": {
        **_k("id", "source", "amount", "status", "reference", "grant_id", "created_at", "finished_at"),
        **_p("account_id"),
    },
    "login_events": {
        **_k("id", "at", "event", "success", "reason"),
        **_p("user_id"),
        **_e("email", "ip", "user_agent"),
    },
    "audit_log": {**_k("id", "at", "action", "subject_type"), **_p("actor_id", "subject_id"), **_e("details")},
    "billing_payments": {
        **_k(
            "id",
            "kind",
            "item_id",
            "item_name",
            "credits",
            "amount_cents",
            "currency",
            "status",
            "price_id",
            "checkout_key",
            "session_id",
            "payment_intent_id",
            "subscription_id",
            "invoice_id",
            "grant_id",
            "grant_expires_at",
            "paid_at",
            "refunded_cents",
            "reversal_target",
            "credits_reversed",
            "shortfall",
            "created_at",
            "updated_at",
            "credits_held",
            "ledger_version",
            "charge_id",
            "review",
        ),
        **_p("user_id", "plan_slot"),
        **_e("customer_email", "checkout_url", "customer_id"),
        # the card's fingerprint identifies the person's card across accounts (issue 27): erased
        **_e("card_fingerprint"),
    },
    "billing_events": {
        **_k(
            "id",
            "type",
            "created",
            "status",
            "source",
            "attempts",
            "last_error",
            "note",
            "received_at",
            "handled_at",
            "payment_id",
            "awaiting",
        ),
        **_e("payload"),
    },
    "billing_subscriptions": {
        **_p("user_id"),
        **_e("customer_id"),
        **_k(
            "provider_id",
            "plan_id",
            "status",
            "price_id",
            "current_period_start",
            "current_period_end",
            "cancel_at_period_end",
            "version",
            "created_at",
            "updated_at",
        ),
    },
    "billing_reversals": _k(
        "id", "payment_id", "reason", "reference", "credits", "status", "taken", "shortfall", "created_at", "done_at"
    ),
    "billing_customers": {**_p("user_id"), **_e("customer_id")},
    "coaching_workspaces": {
        **_k("id", "created_at", "updated_at", "monthly_credit_limit"),
        **_p("owner_id"),
        **_e("name", "industry", "description"),
    },
    "coaching_goals": {
        **_k("id", "workspace_id", "status", "progress", "due_date", "created_at", "updated_at"),
        **_e("title", "specific", "measurable", "target_value", "achievable", "relevant"),
    },
    "coaching_todos": {
        **_k("id", "workspace_id", "goal_id", "status", "due_date", "created_at", "updated_at"),
        **_e("title"),
    },
    "coaching_sessions": {
        **_k("id", "workspace_id", "coach", "message_count", "created_at", "updated_at"),
        **_p("owner_id"),
        **_e("title"),
    },
    "coaching_messages": {
        **_k(
            "id",
            "session_id",
            "seq",
            "role",
            "tokens_in",
            "tokens_out",
            "credits_charged",
            "model",
            "cut_short",
            "idempotency_key",
            "fingerprint",
            "hold_id",
            "settled",
            "created_at",
        ),
        **_p("account_id"),
        **_e("content"),
    },
    "coaching_tasks": {
        **_k(
            "id",
            "workspace_id",
            "type",
            "status",
            "credits_held",
            "credits_charged",
            "hold_id",
            "settled",
            "idempotency_key",
            "fingerprint",
            "created_at",
            "updated_at",
            "started_at",
            "finished_at",
        ),
        **_p("owner_id", "payer_id"),
        **_e("input", "result", "error"),
    },
    "referral_codes": {**_p("user_id"), **_e("code"), **_k("created_at")},
    "referrals": {
        **_k(
            "id",
            "status",
            "reason",
            "payment_id",
            "pending_grant_id",
            "referee_grant_id",
            "bonus",
            "referee_bonus",
            "qualified_at",
            "release_after",
            "created_at",
            "updated_at",
        ),
        **_p("referrer_id", "referee_id"),
    },
    "metrics_daily": _k("day", "figure", "key", "value"),
    # issue 19: hashes of (user, route, key) and of the request: nothing that leads to the person
    "coaching_claims": _k("idempotency_key", "fingerprint", "created_at"),
    # issue 22: outbox jobs can name the user and carry what a notification says: erased by content
    "outbox": {**_k("id", "job_name", "created_at", "sent_at", "attempts"), **_e("job")},
    "platform_events": {**_k("id", "type", "created_at"), **_p("user_id"), **_e("body")},
    "webhook_endpoints": {
        **_k(
            "id",
            "events",
            "status",
            "disabled_reason",
            "previous_valid_until",
            "failing_since",
            "failing_notified",
            "created_at",
            "updated_at",
        ),
        **_p("user_id"),
        **_e("url", "description", "secret", "previous_secret"),
    },
    "webhook_messages": _k(
        "id",
        "endpoint_id",
        "event_id",
        "event_type",
        "dedupe_key",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
        "updated_at",
    ),
    "webhook_attempts": {
        **_k(
            "id",
            "endpoint_id",
            "message_id",
            "event_id",
            "event_type",
            "attempt",
            "status_code",
            "duration_ms",
            "created_at",
        ),
        **_e("error", "response"),
    },
    "notifications": {
        **_k("id", "type", "dedupe_key", "in_app", "created_at", "read_at"),
        **_p("user_id"),
        **_e("title", "body", "data"),
    },
    "notification_preferences": {**_p("user_id"), **_k("type", "in_app", "email")},
    "notification_state": {**_p("user_id"), **_k("key", "updated_at"), **_e("value")},
    "alembic_version": _k("version_num"),
    # issue 23: memberships and invitations are deleted with the person (or their workspace); usage
    # rollups and reservations keep only our ids (a tombstone after erasure) next to the amounts
    "workspace_members": {**_k("workspace_id", "role", "monthly_credit_limit", "joined_at"), **_p("user_id")},
    "workspace_invitations": {
        **_k("id", "workspace_id", "role", "status", "created_at", "expires_at", "responded_at"),
        **_p("invited_by"),
        **_e("email"),
    },
    "budget_usage": {**_k("budget_id", "month", "used"), **_p("member_id")},
    "budget_reservations": {**_k("hold_id", "budget_id", "month", "reserved"), **_p("member_id")},
}

SECRET = {
    ("users", "password_hash"),
    ("refresh_tokens", "token_hash"),
    ("api_keys", "key_hash"),
    ("billing_payments", "checkout_url"),
    ("webhook_endpoints", "secret"),
    ("webhook_endpoints", "previous_secret"),
}

ERASED_DOMAIN = "erased.invalid"  # RFC 2606: can never be a real mailbox


def _t(name: str) -> Table:
    """A table defined outside tables.py's names (issue 22's module registers them on `metadata`)."""
    return metadata.tables[name]


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat().replace("+00:00", "Z")
    return value


class SqlPersonalData:
    def __init__(self, db: Db) -> None:
        self._db = db

    # --- export --------------------------------------------------------------------------
    def _rows(self, table: Table, *where: Any, order: Any = None) -> list[dict[str, Any]]:
        statement = select(table).where(*where)
        if order is not None:
            statement = statement.order_by(order)
        shown = [c.name for c in table.columns if (table.name, c.name) not in SECRET]
        return [{name: _plain(row[name]) for name in shown} for row in self._db.execute(statement).mappings()]

    def export(self, user_id: str) -> dict[str, Any]:
        """Everything tied to the user, as plain JSON values (no secret column)."""
        profile = self._rows(users, users.c.id == user_id)
        workspaces = self._rows(
            coaching_workspaces, coaching_workspaces.c.owner_id == user_id, order=coaching_workspaces.c.id
        )
        for workspace in workspaces:
            wid = workspace["id"]
            workspace["goals"] = self._rows(
                coaching_goals, coaching_goals.c.workspace_id == wid, order=coaching_goals.c.id
            )
            workspace["todos"] = self._rows(
                coaching_todos, coaching_todos.c.workspace_id == wid, order=coaching_todos.c.id
            )
            sessions = self._rows(
                coaching_sessions, coaching_sessions.c.workspace_id == wid, order=coaching_sessions.c.id
            )
            for chat in sessions:
                chat["messages"] = self._rows(
                    coaching_messages, coaching_messages.c.session_id == chat["id"], order=coaching_messages.c.seq
                )
            workspace["chat_sessions"] = sessions
        A, E = ledger_accounts.c, ledger_entries.c
        return {
            "profile": profile[0] if profile else None,
            "logins": self._rows(login_events, login_events.c.user_id == user_id, order=login_events.c.at),
            "api_keys": self._rows(api_keys, api_keys.c.user_id == user_id, order=api_keys.c.id),
            "sessions": self._rows(refresh_tokens, refresh_tokens.c.user_id == user_id, order=refresh_tokens.c.id),
            "ledger": {
                "account": next(iter(self._rows(ledger_accounts, A.id == user_id)), None),
                "grants": self._rows(ledger_grants, ledger_grants.c.account_id == user_id, order=ledger_grants.c.id),
                "pending_grants": self._rows(
                    ledger_pending_grants,
                    ledger_pending_grants.c.account_id == user_id,
                    order=ledger_pending_grants.c.id,
                ),
                "entries": self._rows(ledger_entries, E.account_id == user_id, order=E.seq),
            },
            "payments": self._rows(
                billing_payments, billing_payments.c.user_id == user_id, order=billing_payments.c.id
            ),
            "subscription": next(
                iter(self._rows(billing_subscriptions, billing_subscriptions.c.user_id == user_id)), None
            ),
            "workspaces": workspaces,
            "memberships": self._rows(
                workspace_members, workspace_members.c.user_id == user_id, order=workspace_members.c.workspace_id
            ),
            "invitations": self._rows(
                workspace_invitations,
                workspace_invitations.c.email == (profile[0]["email"] if profile else ""),
                order=workspace_invitations.c.id,
            ),
            "tasks": self._rows(coaching_tasks, coaching_tasks.c.owner_id == user_id, order=coaching_tasks.c.id),
            "referrals": {
                "code": next(iter(self._rows(referral_codes, referral_codes.c.user_id == user_id)), None),
                "referred": self._rows(referrals, referrals.c.referrer_id == user_id, order=referrals.c.id),
                "referred_by": next(iter(self._rows(referrals, referrals.c.referee_id == user_id)), None),
            },
            "audit": self._rows(
                audit_log, or_(audit_log.c.subject_id == user_id, audit_log.c.actor_id == user_id), order=audit_log.c.at
            ),
            "webhook_endpoints": self._rows(
                _t("webhook_endpoints"),
                _t("webhook_endpoints").c.user_id == user_id,
                order=_t("webhook_endpoints").c.id,
            ),
            "notifications": self._rows(
                _t("notifications"), _t("notifications").c.user_id == user_id, order=_t("notifications").c.id
            ),
            "notification_preferences": self._rows(
                _t("notification_preferences"), _t("notification_preferences").c.user_id == user_id
            ),
        }

    def provider_ids(self, user_id: str) -> tuple[list[str], list[str]]:
        """(live subscription ids, customer ids) the payment provider knows the user by."""
        S, P, C = billing_subscriptions.c, billing_payments.c, billing_customers.c
        subs = self._db.execute(select(S.provider_id).where(S.user_id == user_id, S.status != "canceled")).scalars()
        customers = self._db.execute(
            union(
                select(C.customer_id).where(C.user_id == user_id),
                select(P.customer_id).where(P.user_id == user_id, P.customer_id.is_not(None)),
                select(S.customer_id).where(S.user_id == user_id, S.customer_id.is_not(None)),
            )
        ).scalars()
        return sorted(set(subs)), sorted(set(customers))

    # --- erasure -------------------------------------------------------------------------
    def erase_user(self, user_id: str, now: datetime) -> dict[str, int]:
        """Remove the user's personal data in this transaction; keep the financial rows under the
        user's id (now a tombstone). Returns rows touched per table (counts only: for the audit)."""
        db, touched = self._db, {}
        user = db.execute(select(users.c.email).where(users.c.id == user_id)).first()
        if user is None:
            return {}
        email = user[0]
        _, customers = self.provider_ids(user_id)

        W, G, T, S, M, K = (
            coaching_workspaces.c,
            coaching_goals.c,
            coaching_todos.c,
            coaching_sessions.c,
            coaching_messages.c,
            coaching_tasks.c,
        )
        owned = select(W.id).where(W.owner_id == user_id).scalar_subquery()
        sessions = select(S.id).where(or_(S.owner_id == user_id, S.workspace_id.in_(owned))).scalar_subquery()
        touched["coaching_messages"] = db.execute(delete(coaching_messages).where(M.session_id.in_(sessions))).rowcount
        touched["coaching_sessions"] = db.execute(
            delete(coaching_sessions).where(or_(S.owner_id == user_id, S.workspace_id.in_(owned)))
        ).rowcount
        touched["coaching_tasks"] = db.execute(
            delete(coaching_tasks).where(or_(K.owner_id == user_id, K.workspace_id.in_(owned)))
        ).rowcount
        touched["coaching_todos"] = db.execute(delete(coaching_todos).where(T.workspace_id.in_(owned))).rowcount
        touched["coaching_goals"] = db.execute(delete(coaching_goals).where(G.workspace_id.in_(owned))).rowcount
        # issue 23: the person's memberships and the invitations to their address go; a workspace they
        # own goes with its members and invitations (its members lose it: erasure does not wait for a transfer)
        WM, WI = workspace_members.c, workspace_invitations.c
        touched["workspace_members"] = db.execute(
            delete(workspace_members).where(or_(WM.user_id == user_id, WM.workspace_id.in_(owned)))
        ).rowcount
        touched["workspace_invitations"] = db.execute(
            delete(workspace_invitations).where(or_(WI.email == email, WI.workspace_id.in_(owned)))
        ).rowcount
        touched["coaching_workspaces"] = db.execute(delete(coaching_workspaces).where(W.owner_id == user_id)).rowcount

        touched["api_keys"] = db.execute(delete(api_keys).where(api_keys.c.user_id == user_id)).rowcount
        # Refresh tokens are revoked, not deleted: a revoked family also ends its access tokens at once.
        touched["refresh_tokens"] = self._revoke_tokens(user_id, now)
        touched["login_events"] = db.execute(
            delete(login_events).where(or_(login_events.c.user_id == user_id, login_events.c.email == email))
        ).rowcount
        touched["audit_log"] = db.execute(
            update(audit_log)
            .where(or_(audit_log.c.subject_id == user_id, audit_log.c.actor_id == user_id))
            .values(details=json.dumps({"erased": True}))
        ).rowcount
        touched["referral_codes"] = db.execute(
            delete(referral_codes).where(referral_codes.c.user_id == user_id)
        ).rowcount

        P, E = billing_payments.c, billing_events.c
        touched["billing_payments"] = db.execute(
            update(billing_payments)
            .where(P.user_id == user_id)
            .values(customer_email="", checkout_url=None, customer_id=None, card_fingerprint=None)
        ).rowcount
        touched["billing_subscriptions"] = db.execute(
            update(billing_subscriptions).where(billing_subscriptions.c.user_id == user_id).values(customer_id=None)
        ).rowcount
        touched["billing_customers"] = db.execute(
            delete(billing_customers).where(billing_customers.c.user_id == user_id)
        ).rowcount
        # Provider events carry the customer's email and address: their payload is replaced by a stub
        # (the row stays, so a redelivered event is still recognised and changes nothing).
        needles = [user_id, email, *customers]
        touched["billing_events"] = db.execute(
            update(billing_events)
            .where(or_(*[E.payload.contains(n, autoescape=True) for n in needles]))
            .values(payload=json.dumps({"erased": True}))
        ).rowcount

        # issue 22: endpoints with their messages and attempts, notifications, events, queued jobs
        endpoints = select(_t("webhook_endpoints").c.id).where(_t("webhook_endpoints").c.user_id == user_id)
        for name in ("webhook_attempts", "webhook_messages"):
            touched[name] = db.execute(
                delete(_t(name)).where(_t(name).c.endpoint_id.in_(endpoints.scalar_subquery()))
            ).rowcount
        for name in (
            "webhook_endpoints",
            "notifications",
            "notification_preferences",
            "notification_state",
            "platform_events",
        ):
            touched[name] = db.execute(delete(_t(name)).where(_t(name).c.user_id == user_id)).rowcount
        touched["outbox"] = db.execute(
            delete(_t("outbox")).where(or_(*[_t("outbox").c.job.contains(n, autoescape=True) for n in needles]))
        ).rowcount

        tombstone = f"erased-{secrets.token_hex(12)}@{ERASED_DOMAIN}"
        touched["users"] = db.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(email=tombstone, name=None, password_hash="!erased", plan="free", updated_at=now)
        ).rowcount
        return {table: count for table, count in touched.items() if count}

    def _revoke_tokens(self, user_id: str, now: datetime) -> int:
        R = refresh_tokens.c
        ids = list(self._db.execute(select(R.id).where(R.user_id == user_id)).scalars())
        for token_id in ids:  # each hash is unique: a fresh random one per row
            self._db.execute(
                update(refresh_tokens).where(R.id == token_id).values(token_hash=_random_hex(), revoked_at=now)
            )
        return len(ids)


def _random_hex() -> str:
    return secrets.token_hex(32)


def inventory_gaps(tables: Mapping[str, Table]) -> list[str]:
    """Columns of `tables` that INVENTORY does not classify, and classified columns that are gone."""
    gaps = [
        f"{name}.{column.name}"
        for name, table in tables.items()
        for column in table.columns
        if column.name not in INVENTORY.get(name, {})
    ]
    gaps += [
        f"{name}.{column} (no longer exists)"
        for name, columns in INVENTORY.items()
        if name in tables
        for column in columns
        if column not in tables[name].columns
    ]
    return gaps
