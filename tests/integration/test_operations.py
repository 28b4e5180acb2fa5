"""Login history, the audit log and the admin directory on memory, SQLite and MariaDB.

Storage comes from the root `make_container` fixture (parametrised over the backends). Rows are
unique per test (emails, actors), so a shared MariaDB database needs no cleanup; filters keep
each test to its own rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from adapters.queue.recording import RecordingJobQueue
from domain.identity.errors import InvalidCredentials, TokenRevoked
from domain.identity.logins import ClientInfo, LoginEvent
from domain.identity.model import Role
from domain.ledger.errors import InsufficientCredits
from domain.platform.errors import LastAdmin
from domain.shared.audit import AuditAction
from entrypoints.bootstrap import Container
from tests.fixtures.concurrency import run_together
from tests.fixtures.settings import unique

PASSWORD = "correct horse battery staple"
CLIENT = ClientInfo(ip="203.0.113.7", user_agent="pytest/" + "x" * 400)


@pytest.fixture
def c(make_container: Callable[..., Container]) -> Container:
    return make_container(queue=RecordingJobQueue())


def email() -> str:
    return f"{unique('ops')}@example.com"


def test_every_login_attempt_is_recorded_newest_first_with_its_reason(c: Container) -> None:
    address = email()
    user = c.identity.register(address, PASSWORD).user
    with pytest.raises(InvalidCredentials):
        c.identity.login(address, "wrong password!", client=CLIENT)
    c.identity.login(address.upper(), PASSWORD, client=CLIENT)
    page = c.operations.login_history(user.id)
    assert [(a.event, a.success, a.reason) for a in page.items] == [
        (LoginEvent.LOGIN, True, None),
        (LoginEvent.LOGIN, False, "wrong_password"),
    ]
    assert page.items[0].ip == "203.0.113.7" and page.items[0].user_agent == CLIENT.user_agent[:255]  # type: ignore[index]


def test_a_replayed_refresh_token_and_a_logout_are_recorded(c: Container) -> None:
    signed_in = c.identity.register(email(), PASSWORD)
    rotated = c.identity.refresh(signed_in.refresh_token, client=CLIENT)
    with pytest.raises(TokenRevoked):
        c.identity.refresh(signed_in.refresh_token, client=CLIENT)
    second = c.identity.login(signed_in.user.email, PASSWORD)
    c.identity.logout(second.refresh_token, client=CLIENT)
    c.identity.logout(second.refresh_token, client=CLIENT)  # nothing left to revoke: not recorded again
    events = [(a.event, a.success, a.reason) for a in c.operations.login_history(signed_in.user.id).items]
    assert events == [
        (LoginEvent.LOGOUT, True, None),
        (LoginEvent.LOGIN, True, None),
        (LoginEvent.REFRESH_REUSE, False, "refresh_token_reused"),
    ]
    assert rotated.refresh_token not in repr(c.operations.login_history(signed_in.user.id).items)


def test_login_history_pages_by_keyset(c: Container) -> None:
    user = c.identity.register(email(), PASSWORD).user
    for _ in range(3):
        c.identity.login(user.email, PASSWORD)
    first = c.operations.login_history(user.id, limit=2)
    second = c.operations.login_history(user.id, limit=2, cursor=first.next_cursor)
    ids = [a.id for a in first.items + second.items]
    assert len(ids) == 3 and ids == sorted(ids, reverse=True) and second.next_cursor is None


def test_api_key_creation_and_revocation_are_audited_without_the_key(c: Container) -> None:
    user = c.identity.register(email(), PASSWORD).user
    key, plaintext = c.identity.create_api_key(user.id, "deploy")
    c.identity.revoke_api_key(user.id, key.id)
    records = c.operations.audit_page(actor=user.id).items
    assert [(r.action, r.subject_id) for r in records] == [
        (AuditAction.API_KEY_REVOKED, key.id),
        (AuditAction.API_KEY_CREATED, key.id),
    ]
    assert records[0].details == {"name": "deploy", "prefix": key.prefix}
    assert plaintext not in repr(records) and key.key_hash not in repr(records)


def test_an_admin_adjustment_is_audited_in_its_transaction(c: Container) -> None:
    user = c.identity.register(email(), PASSWORD).user
    admin = unique("usr_admin")
    record = c.operations.new_audit(admin, AuditAction.CREDITS_ADJUSTED, "user", user.id, {"amount": 5})
    c.ledger.adjust(user.id, amount=5, reason="goodwill", actor=admin, idempotency_key="k1", audit=record)
    c.ledger.adjust(user.id, amount=5, reason="goodwill", actor=admin, idempotency_key="k1", audit=record)  # replay
    refused = c.operations.new_audit(admin, AuditAction.CREDITS_ADJUSTED, "user", user.id, {"amount": -(10**9)})
    with pytest.raises(InsufficientCredits):
        c.ledger.adjust(user.id, amount=-(10**9), reason="x", actor=admin, idempotency_key="k2", audit=refused)
    assert [r.id for r in c.operations.audit_page(actor=admin).items] == [record.id]  # once, and not the refused one


def test_audit_filters_combine(c: Container) -> None:
    first, second = (c.identity.register(email(), PASSWORD).user for _ in range(2))
    k1, _ = c.identity.create_api_key(first.id, "a")
    c.identity.create_api_key(second.id, "b")
    by_subject = c.operations.audit_page(subject=k1.id).items
    assert [r.actor_id for r in by_subject] == [first.id]
    assert c.operations.audit_page(actor=first.id, action=AuditAction.API_KEY_REVOKED).items == []
    assert len(c.operations.audit_page(actor=second.id, action=AuditAction.API_KEY_CREATED).items) == 1


def test_search_finds_by_email_prefix_or_id_with_the_balance(c: Container) -> None:
    stem = unique("find")
    a = c.identity.register(f"{stem}-a@example.com", PASSWORD).user
    b = c.identity.register(f"{stem}-b@example.com", PASSWORD).user
    c.identity.register(email(), PASSWORD)
    c.ledger.grant(b.id, source="promo", amount=7, idempotency_key="g")
    found = c.operations.search_users(q=stem.upper())
    assert [(s.user.id, s.balance) for s in found.items] == [(a.id, 100), (b.id, 107)]
    assert [s.user.id for s in c.operations.search_users(q=b.id).items] == [b.id]
    assert c.operations.search_users(q=stem, role=Role.ADMIN).items == []
    page = c.operations.search_users(q=stem, limit=1)
    assert [s.user.id for s in c.operations.search_users(q=stem, limit=1, cursor=page.next_cursor).items] == [b.id]


def test_search_shows_what_a_hold_leaves_available(c: Container) -> None:
    stem = unique("held")
    a = c.identity.register(f"{stem}-a@example.com", PASSWORD).user
    b = c.identity.register(f"{stem}-b@example.com", PASSWORD).user
    c.ledger.hold(b.id, amount=30, idempotency_key="h", ttl_seconds=60)
    found = c.operations.search_users(q=stem)
    assert [(s.user.id, s.balance, s.available) for s in found.items] == [(a.id, 100, 100), (b.id, 100, 70)]


def test_search_treats_like_wildcards_as_text(c: Container) -> None:
    c.identity.register(email(), PASSWORD)
    assert c.operations.search_users(q="%").items == [] and c.operations.search_users(q="_").items == []


def _only_admins(c: Container, keep: set[str]) -> None:
    """Demote every other admin (a shared MariaDB has other tests' admins)."""
    with c.uow() as uow:
        for admin_id in uow.directory.admin_ids_for_update():
            if admin_id not in keep:
                user = uow.users.get(admin_id)
                user.role = Role.USER
                uow.users.update(user)
        uow.commit()


def test_a_role_change_is_audited_and_the_last_admin_stays(c: Container) -> None:
    a = c.identity.create_admin(email(), PASSWORD)
    b = c.identity.create_admin(email(), PASSWORD)
    _only_admins(c, {a.id, b.id})
    assert c.operations.change_role(a.id, b.id, Role.USER).role is Role.USER
    with pytest.raises(LastAdmin):
        c.operations.change_role(a.id, a.id, Role.USER)
    assert c.identity.get_user(a.id).role is Role.ADMIN
    [record] = c.operations.audit_page(actor=a.id).items
    assert (record.action, record.subject_id, dict(record.details)) == (
        AuditAction.ROLE_CHANGED,
        b.id,
        {"from": "admin", "to": "user"},
    )


def test_two_admins_demoting_each_other_at_once_leave_one_admin(c: Container) -> None:
    a = c.identity.create_admin(email(), PASSWORD)
    b = c.identity.create_admin(email(), PASSWORD)
    _only_admins(c, {a.id, b.id})

    def demote(actor: str, target: str) -> str:
        try:
            c.operations.change_role(actor, target, Role.USER)
            return "demoted"
        except LastAdmin:
            return "last_admin"

    outcomes, errors = run_together([lambda: demote(a.id, b.id), lambda: demote(b.id, a.id)])
    assert sorted(outcomes) == ["demoted", "last_admin"], errors
    roles = {c.identity.get_user(a.id).role, c.identity.get_user(b.id).role}
    assert roles == {Role.ADMIN, Role.USER}


def test_records_keep_no_secret(c: Container) -> None:
    signed_in = c.identity.register(email(), PASSWORD)
    with pytest.raises(InvalidCredentials):
        c.identity.login(signed_in.user.email, "hunter2-secret!", client=CLIENT)
    stored: Any = c.operations.login_history(signed_in.user.id).items
    assert "hunter2" not in repr(stored) and PASSWORD not in repr(stored)


def test_a_promotion_by_the_cli_is_audited_as_the_system(c: Container) -> None:
    user = c.identity.register(email(), PASSWORD).user
    c.identity.create_admin(user.email, "ignored password")
    [record] = c.operations.audit_page(subject=user.id, action=AuditAction.ROLE_CHANGED).items
    assert record.actor_id is None and dict(record.details) == {"from": "user", "to": "admin"}
