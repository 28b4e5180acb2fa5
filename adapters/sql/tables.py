"""The single MetaData: every table of the service, as SQLAlchemy Core. Alembic targets this."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect

from domain.coaching.model import INDUSTRY_MAX, MODEL_NAME_MAX, TITLE_MAX
from domain.identity.logins import EMAIL_MAX_LENGTH as LOGIN_EMAIL_MAX_LENGTH
from domain.identity.logins import IP_MAX_LENGTH, USER_AGENT_MAX_LENGTH
from domain.identity.model import API_KEY_NAME_MAX_LENGTH, NAME_MAX_LENGTH
from domain.ledger.services.inputs import MAX_REFERENCE_LENGTH
from domain.platform.referrals import CODE_MAX_LENGTH
from domain.shared.idempotency import MAX_KEY_LENGTH
from domain.shared.ids import ID_MAX_LENGTH
from domain.shared.limits import (
    CATALOGUE_ID_MAX_LENGTH,
    COACH_ID_MAX_LENGTH,
    FEATURE_KEY_MAX_LENGTH,
    SHA256_HEX_LENGTH,
)

# Index names are the table and its column names (not `column_0_N_label`, which repeated the table
# name per column and went past MySQL's 64 characters, so MariaDB stored hashed names). Migration
# 0003 renamed the existing indexes to these names.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

# Every table compares its strings byte for byte on MySQL/MariaDB, whatever the database's default
# collation: ids, idempotency keys, token hashes and cursor parts must never match another
# case or a trailing space. `utf8mb4_nopad_bin` is MariaDB's binary NO PAD collation
# (`utf8mb4_bin` is still PAD SPACE there). SQLite compares bytes already. Emails stay
# case-insensitive through their normalised (lower-cased) column, not through a collation.
EXACT: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_nopad_bin"}

# Lengths come from the domain, where the schemas read them too (issue 26 §4): a column never
# holds less than what a request may carry. Lengths of values only the service writes (statuses,
# kinds, provider ids) stay here.
ID = ID_MAX_LENGTH
KEY = MAX_KEY_LENGTH  # a caller's Idempotency-Key as stored (domain.shared.idempotency)
EMAIL_COLUMN = LOGIN_EMAIL_MAX_LENGTH  # every email column holds what a sign-in attempt may record (320)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC out; stored naive UTC with microseconds (DATETIME(6))."""

    impl = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UtcDateTime column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stored: datetime = value
        return stored.replace(tzinfo=UTC)


def _id(name: str = "id", *args: Any, **kw: Any) -> Column[Any]:
    return Column(name, String(ID), *args, **kw)


def _ts(name: str, nullable: bool = False) -> Column[Any]:
    return Column(name, UtcDateTime(), nullable=nullable)


# --- identity -------------------------------------------------------------------------------
users = Table(
    "users",
    metadata,
    _id(primary_key=True),
    Column("email", String(EMAIL_COLUMN), nullable=False),  # stored lower-cased
    Column("password_hash", String(255), nullable=False),
    Column("name", String(NAME_MAX_LENGTH), nullable=True),
    Column("role", String(16), nullable=False),
    Column("plan", String(CATALOGUE_ID_MAX_LENGTH), nullable=False),
    _ts("created_at"),
    _ts("updated_at"),
    UniqueConstraint("email"),
    **EXACT,
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    _id(primary_key=True),
    _id("user_id", ForeignKey("users.id"), nullable=False),
    _id("family_id", nullable=False),
    Column("token_hash", String(SHA256_HEX_LENGTH), nullable=False),  # sha256 hex of the opaque token
    _ts("created_at"),
    _ts("expires_at"),
    _ts("used_at", nullable=True),
    _ts("revoked_at", nullable=True),
    UniqueConstraint("token_hash"),
    Index(None, "family_id"),
    Index(None, "user_id"),
    **EXACT,
)

api_keys = Table(
    "api_keys",
    metadata,
    _id(primary_key=True),
    _id("user_id", ForeignKey("users.id"), nullable=False),
    Column("name", String(API_KEY_NAME_MAX_LENGTH), nullable=False),
    Column("prefix", String(24), nullable=False),
    Column("key_hash", String(SHA256_HEX_LENGTH), nullable=False),
    _ts("created_at"),
    _ts("revoked_at", nullable=True),
    _ts("last_used_at", nullable=True),
    UniqueConstraint("key_hash"),
    Index(None, "user_id", "created_at"),
    **EXACT,
)

# --- ledger ---------------------------------------------------------------------------------
ledger_accounts = Table(
    "ledger_accounts",
    metadata,
    _id(primary_key=True),  # the owner's user id: one account per user
    Column("balance", BigInteger, nullable=False),
    Column("held", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),  # seq of the newest entry
    _ts("created_at"),
    CheckConstraint("balance >= 0", name="balance_not_negative"),
    CheckConstraint("held >= 0 AND held <= balance", name="held_within_balance"),
    **EXACT,
)

ledger_grants = Table(
    "ledger_grants",
    metadata,
    _id(primary_key=True),
    _id("account_id", ForeignKey("ledger_accounts.id"), nullable=False),
    Column("source", String(20), nullable=False),
    Column("granted", BigInteger, nullable=False),
    Column("remaining", BigInteger, nullable=False),
    _ts("expires_at", nullable=True),
    Column("reference", String(MAX_REFERENCE_LENGTH), nullable=True),
    _ts("created_at"),
    CheckConstraint("remaining >= 0 AND remaining <= granted", name="remaining_within_granted"),
    Index(None, "account_id", "remaining"),  # the open grants of an account
    Index(None, "expires_at", "remaining"),  # the expiry sweep
    **EXACT,
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    _id(primary_key=True),
    _id("account_id", ForeignKey("ledger_accounts.id"), nullable=False),
    Column("seq", BigInteger, nullable=False),  # 1, 2, 3... per account: the order of the chain
    Column("kind", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("balance_after", BigInteger, nullable=False),
    Column("feature_key", String(FEATURE_KEY_MAX_LENGTH), nullable=True),
    Column("reference", String(MAX_REFERENCE_LENGTH), nullable=True),
    Column("idempotency_key", String(KEY), nullable=False),
    _id("grant_id", nullable=True),
    _id("hold_id", nullable=True),
    _ts("created_at"),
    UniqueConstraint("account_id", "seq"),
    UniqueConstraint("account_id", "idempotency_key"),
    Index(None, "account_id", "kind", "seq"),  # filtered pages (monthly usage reads ledger_usage)
    **EXACT,
)

ledger_allocations = Table(
    "ledger_allocations",
    metadata,
    _id("entry_id", ForeignKey("ledger_entries.id"), primary_key=True),
    _id("grant_id", ForeignKey("ledger_grants.id"), primary_key=True),
    Column("amount", BigInteger, nullable=False),  # credits this entry took from that grant
    Index(None, "grant_id"),
    **EXACT,
)

ledger_holds = Table(
    "ledger_holds",
    metadata,
    _id(primary_key=True),
    _id("account_id", ForeignKey("ledger_accounts.id"), nullable=False),
    Column("requested", BigInteger, nullable=False),  # what was asked for
    Column("amount", BigInteger, nullable=False),  # what is held now (expiry may trim it)
    Column("captured", BigInteger, nullable=True),
    Column("status", String(12), nullable=False),
    Column("feature_key", String(FEATURE_KEY_MAX_LENGTH), nullable=True),
    Column("reference", String(MAX_REFERENCE_LENGTH), nullable=True),
    Column("idempotency_key", String(KEY), nullable=False),
    _ts("expires_at"),
    _ts("created_at"),
    _ts("finished_at", nullable=True),
    UniqueConstraint("account_id", "idempotency_key"),
    Index(None, "account_id", "status"),
    Index(None, "status", "expires_at"),  # the release sweep
    **EXACT,
)

ledger_idempotency = Table(
    "ledger_idempotency",
    metadata,
    _id("account_id", ForeignKey("ledger_accounts.id"), primary_key=True),
    Column("idempotency_key", String(KEY), primary_key=True),
    Column("operation", String(32), nullable=False),
    Column("fingerprint", String(SHA256_HEX_LENGTH), nullable=False),
    Column("result", Text, nullable=False),  # JSON of the first result
    _ts("created_at"),
    **EXACT,
)

# --- operations: login history and audit log (issue 15) --------------------------------------
login_events = Table(
    "login_events",
    metadata,
    _id(primary_key=True),  # pages are keyset on (at, id)
    _ts("at"),
    Column("event", String(16), nullable=False),
    Column("success", Boolean, nullable=False),
    _id("user_id", nullable=True),  # no foreign key: the history outlives an erased account
    Column("email", String(EMAIL_COLUMN), nullable=True),
    Column("ip", String(IP_MAX_LENGTH), nullable=True),
    Column("user_agent", String(USER_AGENT_MAX_LENGTH), nullable=True),
    Column("reason", String(32), nullable=True),
    Index(None, "user_id", "at", "id"),
    **EXACT,
)

audit_log = Table(
    "audit_log",
    metadata,
    _id(primary_key=True),  # pages are keyset on (at, id)
    _ts("at"),
    _id("actor_id", nullable=True),  # None: the system
    Column("action", String(64), nullable=False),
    Column("subject_type", String(32), nullable=False),
    Column("subject_id", String(64), nullable=False),
    Column("details", Text, nullable=False),  # JSON object, never a secret
    Index(None, "at", "id"),
    Index(None, "actor_id", "at", "id"),
    Index(None, "action", "at", "id"),
    Index(None, "subject_id", "at", "id"),
    **EXACT,
)

# --- billing (issue 13) ----------------------------------------------------------------------
PROVIDER_ID = 255  # provider ids (Stripe's are ~30-70 characters; sessions up to 66+)
LONG_TEXT = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")  # whole provider events

billing_payments = Table(
    "billing_payments",
    metadata,
    _id(primary_key=True),
    _id("user_id", ForeignKey("users.id"), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("item_id", String(CATALOGUE_ID_MAX_LENGTH), nullable=False),
    Column("item_name", String(200), nullable=False),
    Column("credits", BigInteger, nullable=False),  # the catalogue's figure at checkout: what is granted
    Column("amount_cents", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(20), nullable=False),
    Column("customer_email", String(EMAIL_COLUMN), nullable=False),
    Column("price_id", String(PROVIDER_ID), nullable=True),
    Column("checkout_key", String(KEY), nullable=True),
    Column("session_id", String(PROVIDER_ID), nullable=True),
    Column("checkout_url", Text, nullable=True),
    Column("payment_intent_id", String(PROVIDER_ID), nullable=True),
    Column("customer_id", String(PROVIDER_ID), nullable=True),
    Column("subscription_id", String(PROVIDER_ID), nullable=True),
    Column("invoice_id", String(PROVIDER_ID), nullable=True),
    _id("grant_id", nullable=True),
    _ts("grant_expires_at", nullable=True),
    _ts("paid_at", nullable=True),
    Column("refunded_cents", BigInteger, nullable=False),
    Column("reversal_target", BigInteger, nullable=False),
    Column("credits_reversed", BigInteger, nullable=False),
    Column("shortfall", BigInteger, nullable=False),
    # issue 18: convergence (migration 0007)
    Column("credits_held", BigInteger, nullable=False, server_default="0"),
    Column("ledger_version", BigInteger, nullable=False, server_default="0"),
    Column("charge_id", String(PROVIDER_ID), nullable=True),
    Column("review", String(255), nullable=True),
    _id("plan_slot", nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    # issue 27 (migration 0012): the card's fingerprint as the provider reports it on the charge
    Column("card_fingerprint", String(64), nullable=True),
    UniqueConstraint("plan_slot"),  # one open or live plan checkout per user
    Index(None, "charge_id"),
    UniqueConstraint("session_id"),
    UniqueConstraint("payment_intent_id"),
    UniqueConstraint("invoice_id"),
    UniqueConstraint("user_id", "checkout_key"),
    Index(None, "user_id", "id"),  # the user's payments, newest first
    Index(None, "subscription_id"),
    Index(None, "updated_at"),  # reconciliation
    **EXACT,
)

billing_events = Table(
    "billing_events",
    metadata,
    Column("id", String(PROVIDER_ID), primary_key=True),  # the provider's event id: stored once
    Column("type", String(100), nullable=False),
    _ts("created"),
    Column("payload", LONG_TEXT, nullable=False),
    Column("status", String(12), nullable=False),
    Column("source", String(12), nullable=False),
    Column("attempts", BigInteger, nullable=False),
    Column("last_error", String(1000), nullable=True),
    Column("note", String(255), nullable=True),
    _ts("received_at"),
    _ts("handled_at", nullable=True),
    _id("payment_id", nullable=True),  # issue 18: the payment it is attached to
    Column("awaiting", String(PROVIDER_ID + 3), nullable=True),  # pending: "pi:<id>", "ch:<id>"...
    Index(None, "status", "id"),
    Index(None, "payment_id"),
    Index(None, "awaiting"),
    **EXACT,
)

billing_subscriptions = Table(
    "billing_subscriptions",
    metadata,
    _id("user_id", ForeignKey("users.id"), primary_key=True),  # one subscription per user
    Column("provider_id", String(PROVIDER_ID), nullable=False),
    Column("plan_id", String(CATALOGUE_ID_MAX_LENGTH), nullable=False),
    Column("status", String(20), nullable=False),
    Column("customer_id", String(PROVIDER_ID), nullable=True),
    Column("price_id", String(PROVIDER_ID), nullable=True),
    _ts("current_period_start", nullable=True),
    _ts("current_period_end", nullable=True),
    Column("cancel_at_period_end", BigInteger, nullable=False),  # 0/1
    Column("version", BigInteger, nullable=False),  # event.created * 4 + rank of the newest applied
    _ts("created_at"),
    _ts("updated_at"),
    UniqueConstraint("provider_id"),
    Index("ix_billing_subscriptions_current_period_end", "current_period_end"),  # the renewal notice (0012)
    **EXACT,
)

billing_reversals = Table(
    "billing_reversals",
    metadata,
    _id(primary_key=True),
    _id("payment_id", ForeignKey("billing_payments.id"), nullable=False),
    Column("reason", String(12), nullable=False),
    Column("reference", String(MAX_REFERENCE_LENGTH), nullable=False),
    Column("credits", BigInteger, nullable=False),
    Column("status", String(12), nullable=False),
    Column("taken", BigInteger, nullable=False),
    Column("shortfall", BigInteger, nullable=False),
    _ts("created_at"),
    _ts("done_at", nullable=True),
    Index(None, "payment_id", "status"),
    **EXACT,
)

billing_customers = Table(
    "billing_customers",
    metadata,
    _id("user_id", ForeignKey("users.id"), primary_key=True),
    Column("customer_id", String(PROVIDER_ID), nullable=False),
    UniqueConstraint("customer_id"),
    **EXACT,
)

# --- ledger: the fast path (issue 11) ---------------------------------------------------------
# Credits spent by `charge` entries, per account, UTC month (YYYY-MM) and feature key ("" for none),
# written by the same statement sequence (the same transaction) as each charge entry: monthly
# usage reads one row per feature instead of every entry of the month.
ledger_usage = Table(
    "ledger_usage",
    metadata,
    _id("account_id", ForeignKey("ledger_accounts.id"), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("feature_key", String(FEATURE_KEY_MAX_LENGTH), primary_key=True),
    Column("spent", BigInteger, nullable=False),
    **EXACT,
)

# --- coaching (issue 14) -----------------------------------------------------------------------
# Deleting a workspace deletes what is in it: the repository deletes children first (no ON
# DELETE CASCADE, so the same code runs on SQLite without foreign-key pragmas).
coaching_workspaces = Table(
    "coaching_workspaces",
    metadata,
    _id(primary_key=True),
    _id("owner_id", ForeignKey("users.id"), nullable=False),
    Column("name", String(TITLE_MAX), nullable=False),
    Column("industry", String(INDUSTRY_MAX), nullable=True),
    Column("description", Text, nullable=True),
    Column("monthly_credit_limit", BigInteger, nullable=True),  # issue 23: null is no cap
    _ts("created_at"),
    _ts("updated_at"),
    Index("ix_coaching_workspaces_owner", "owner_id", "id"),  # the owner's list, newest first
    **EXACT,
)

coaching_goals = Table(
    "coaching_goals",
    metadata,
    _id(primary_key=True),
    _id("workspace_id", ForeignKey("coaching_workspaces.id"), nullable=False),
    Column("title", String(TITLE_MAX), nullable=False),
    Column("status", String(12), nullable=False),
    Column("progress", Integer, nullable=False),
    Column("specific", Text, nullable=True),
    Column("measurable", Text, nullable=True),
    Column("target_value", String(TITLE_MAX), nullable=True),
    Column("achievable", Text, nullable=True),
    Column("relevant", Text, nullable=True),
    Column("due_date", Date, nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    CheckConstraint("progress >= 0 AND progress <= 100", name="progress_in_range"),
    Index("ix_coaching_goals_workspace", "workspace_id", "status", "id"),
    **EXACT,
)

coaching_todos = Table(
    "coaching_todos",
    metadata,
    _id(primary_key=True),
    _id("workspace_id", ForeignKey("coaching_workspaces.id"), nullable=False),
    _id("goal_id", ForeignKey("coaching_goals.id"), nullable=True),
    Column("title", String(TITLE_MAX), nullable=False),
    Column("status", String(12), nullable=False),
    Column("due_date", Date, nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    Index("ix_coaching_todos_workspace", "workspace_id", "status", "id"),
    Index("ix_coaching_todos_goal", "goal_id"),
    **EXACT,
)

coaching_sessions = Table(
    "coaching_sessions",
    metadata,
    _id(primary_key=True),
    _id("workspace_id", ForeignKey("coaching_workspaces.id"), nullable=False),
    _id("owner_id", ForeignKey("users.id"), nullable=False),
    Column("title", String(TITLE_MAX), nullable=True),
    Column("coach", String(COACH_ID_MAX_LENGTH), nullable=False),
    Column("message_count", Integer, nullable=False),
    _ts("created_at"),
    _ts("updated_at"),
    Index("ix_coaching_sessions_workspace", "workspace_id", "id"),
    **EXACT,
)

coaching_messages = Table(
    "coaching_messages",
    metadata,
    _id(primary_key=True),
    _id("session_id", ForeignKey("coaching_sessions.id"), nullable=False),
    Column("seq", Integer, nullable=False),  # 1, 2, 3... per session
    Column("role", String(12), nullable=False),
    Column("content", Text, nullable=False),
    Column("tokens_in", Integer, nullable=False),
    Column("tokens_out", Integer, nullable=False),
    Column("credits_charged", BigInteger, nullable=False),
    Column("model", String(MODEL_NAME_MAX), nullable=True),
    Column("cut_short", Boolean, nullable=False),
    Column("idempotency_key", String(SHA256_HEX_LENGTH), nullable=True),  # sha256 of (user, route, Idempotency-Key)
    Column("fingerprint", String(SHA256_HEX_LENGTH), nullable=True),
    _id("hold_id", nullable=True),
    _id("account_id", nullable=True),
    Column("settled", Boolean, nullable=False),
    _ts("created_at"),
    UniqueConstraint("session_id", "seq"),
    UniqueConstraint("idempotency_key"),
    Index("ix_coaching_messages_settled", "settled", "created_at"),  # the settle sweep
    **EXACT,
)

coaching_tasks = Table(
    "coaching_tasks",
    metadata,
    _id(primary_key=True),
    _id("owner_id", ForeignKey("users.id"), nullable=False),
    _id("workspace_id", ForeignKey("coaching_workspaces.id"), nullable=False),
    Column("type", String(40), nullable=False),
    Column("input", Text, nullable=False),  # JSON
    Column("status", String(12), nullable=False),
    Column("credits_held", BigInteger, nullable=False),
    Column("credits_charged", BigInteger, nullable=False),
    _id("hold_id", nullable=True),
    Column("result", Text, nullable=True),
    Column("error", String(500), nullable=True),
    Column("settled", Boolean, nullable=False),
    Column("idempotency_key", String(SHA256_HEX_LENGTH), nullable=True),
    Column("fingerprint", String(SHA256_HEX_LENGTH), nullable=True),
    _id("payer_id", nullable=True),  # issue 23: whose account holds the credits (null: owner_id)
    _ts("created_at"),
    _ts("updated_at"),
    _ts("started_at", nullable=True),
    _ts("finished_at", nullable=True),
    UniqueConstraint("idempotency_key"),
    Index("ix_coaching_tasks_owner", "owner_id", "status", "id"),
    Index("ix_coaching_tasks_workspace", "workspace_id"),
    Index("ix_coaching_tasks_status", "status", "started_at"),  # the stuck-task sweep
    Index("ix_coaching_tasks_settled", "settled", "finished_at"),  # the settle sweep
    **EXACT,
)

# --- coaching: Idempotency-Key claims (issue 19) ------------------------------------------------
# A chat message's key is claimed here before the model is called: a concurrent duplicate finds
# the claim and never calls the model a second time. Kept after success (the message carries the
# key too); deleted when the attempt failed with nothing charged, so that a retry may proceed.
coaching_claims = Table(
    "coaching_claims",
    metadata,
    Column("idempotency_key", String(SHA256_HEX_LENGTH), primary_key=True),  # sha256 of (user, route, Idempotency-Key)
    Column("fingerprint", String(SHA256_HEX_LENGTH), nullable=False),
    _ts("created_at"),
    **EXACT,
)

# --- outbox, outgoing webhooks, notifications (issue 22): their own module ---
from adapters.sql import outbox_tables as _outbox_tables  # noqa: E402,F401

# --- issue 24: pending grants, referrals, metrics rollup -----------------------------------------
# Credits promised and not yet given (a referral bonus during its hold): outside the balance, so no
# invariant of the ledger changes; `grant_id` names the grant a release made.
ledger_pending_grants = Table(
    "ledger_pending_grants",
    metadata,
    _id(primary_key=True),
    _id("account_id", ForeignKey("ledger_accounts.id"), nullable=False),
    Column("source", String(20), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("status", String(12), nullable=False),
    Column("reference", String(MAX_REFERENCE_LENGTH), nullable=True),
    _id("grant_id", nullable=True),
    _ts("created_at"),
    _ts("finished_at", nullable=True),
    CheckConstraint("amount > 0", name="pending_amount_positive"),
    Index(None, "account_id", "status"),
    **EXACT,
)

referral_codes = Table(
    "referral_codes",
    metadata,
    _id("user_id", ForeignKey("users.id"), primary_key=True),
    Column("code", String(CODE_MAX_LENGTH), nullable=False),
    _ts("created_at"),
    UniqueConstraint("code"),
    **EXACT,
)

referrals = Table(
    "referrals",
    metadata,
    _id(primary_key=True),
    _id("referrer_id", ForeignKey("users.id"), nullable=False),
    _id("referee_id", ForeignKey("users.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", String(32), nullable=True),  # why it earns nothing (an abuse signal for admins)
    _id("payment_id", nullable=True),  # the referee's first paid purchase
    _id("pending_grant_id", nullable=True),  # the referrer's bonus while it is held
    _id("referee_grant_id", nullable=True),  # the referee's own bonus, if any
    Column("bonus", BigInteger, nullable=False),
    Column("referee_bonus", BigInteger, nullable=False),
    _ts("qualified_at", nullable=True),  # the first paid purchase: the month the cap counts in
    _ts("release_after", nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    UniqueConstraint("referee_id"),  # one referrer per referee
    Index(None, "referrer_id", "status"),
    Index(None, "referrer_id", "qualified_at"),  # the monthly cap
    Index(None, "status", "release_after"),  # the release sweep
    Index(None, "payment_id"),
    **EXACT,
)

# --- teams and budgets (issue 23) -------------------------------------------------------------
# The owner is coaching_workspaces.owner_id; everyone else in a workspace has a row here.
workspace_members = Table(
    "workspace_members",
    metadata,
    _id("workspace_id", ForeignKey("coaching_workspaces.id"), primary_key=True),
    _id("user_id", ForeignKey("users.id"), primary_key=True),
    Column("role", String(12), nullable=False),
    Column("monthly_credit_limit", BigInteger, nullable=True),  # null is no cap
    _ts("joined_at"),
    Index(None, "user_id", "workspace_id"),  # the workspaces one is a member of
    **EXACT,
)

workspace_invitations = Table(
    "workspace_invitations",
    metadata,
    _id(primary_key=True),
    _id("workspace_id", ForeignKey("coaching_workspaces.id"), nullable=False),
    Column("email", String(EMAIL_COLUMN), nullable=False),  # lower-cased, like users.email
    Column("role", String(12), nullable=False),
    _id("invited_by", nullable=False),
    Column("status", String(12), nullable=False),
    _ts("created_at"),
    _ts("expires_at"),
    _ts("responded_at", nullable=True),
    Index(None, "workspace_id", "id"),
    Index(None, "email", "status", "id"),  # one's own invitations
    **EXACT,
)

# Budget usage per (workspace, month) -- member_id "" -- and per (workspace, member, month): held
# plus captured credits, written under the payer's account lock with each hold and its end
# (domain/ledger/budgets.py). No foreign keys: the ledger side knows a budget only by its id.
budget_usage = Table(
    "budget_usage",
    metadata,
    _id("budget_id", primary_key=True),
    Column("month", String(7), primary_key=True),
    _id("member_id", primary_key=True),
    Column("used", BigInteger, nullable=False),
    **EXACT,
)

# What each active hold added to budget_usage; removed when the hold is captured, voided or expires.
budget_reservations = Table(
    "budget_reservations",
    metadata,
    _id("hold_id", primary_key=True),
    _id("budget_id", nullable=False),
    _id("member_id", nullable=False),
    Column("month", String(7), nullable=False),
    Column("reserved", BigInteger, nullable=False),
    **EXACT,
)

# Figures of one UTC day, computed once the day is over (see domain/platform/metrics.py): the
# owner's report reads one row per (day, figure, key) instead of every entry and payment.
metrics_daily = Table(
    "metrics_daily",
    metadata,
    Column("day", Date, primary_key=True),
    Column("figure", String(40), primary_key=True),
    Column("key", String(40), primary_key=True),  # a currency, a plan id, or "" for a plain count
    Column("value", BigInteger, nullable=False),
    **EXACT,
)

# The daily rollup scans one day of entries, payments and users: by time, not by account.
Index("ix_ledger_entries_created_at", ledger_entries.c.created_at)
Index("ix_billing_payments_paid_at", billing_payments.c.paid_at)
Index("ix_users_created_at", users.c.created_at)
Index("ix_ledger_grants_created_at", ledger_grants.c.created_at)
Index("ix_billing_events_type_received_at", billing_events.c.type, billing_events.c.received_at)
