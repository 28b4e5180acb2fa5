"""Issue 26 §4: one module builds a caller's Idempotency-Key as stored and the request fingerprint.
The stored forms are data: a retry that spans a deploy must find what the first attempt wrote, so
these pin them byte for byte (coaching's, the ledger's and billing's, now one module)."""

from __future__ import annotations

import hashlib

import pytest

from domain.ledger.services.inputs import fingerprint as ledger_fingerprint
from domain.shared.errors import InvalidInput
from domain.shared.idempotency import MAX_KEY_LENGTH, check_key, fingerprint, request_key, scoped_key


def test_a_key_in_the_callers_own_space_keeps_its_readable_form_and_is_hashed_only_when_long() -> None:
    assert scoped_key("http", "order-42") == "http:order-42"
    long = "k" * MAX_KEY_LENGTH
    assert scoped_key("admin", long) == "admin:#" + hashlib.sha256(long.encode()).hexdigest()
    assert len(scoped_key("checkout", long)) <= MAX_KEY_LENGTH


def test_a_key_in_a_shared_space_is_coachings_hash_of_owner_scope_and_key() -> None:
    assert (
        request_key("usr_1", "chat", "k") == hashlib.sha256(b"usr_1\x00chat\x00k").hexdigest()
    )  # coaching's stored form
    assert request_key("usr_1", "chat", "k") != request_key("usr_2", "chat", "k")
    assert len(request_key("usr_1", "task", "x" * 255)) == 64


def test_the_fingerprint_is_the_ledgers_and_coachings_canonical_json() -> None:
    args = {"quantity": 2, "feature_key": "coach.message", "reference": None}
    assert fingerprint({"op": "charge", **args}) == ledger_fingerprint("charge", args)
    assert fingerprint({"b": 1, "a": "x"}) == hashlib.sha256(b'{"a":"x","b":1}').hexdigest()
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


@pytest.mark.parametrize("key", ["", "x" * (MAX_KEY_LENGTH + 1), "tab\there", "caf\u00e9"])
def test_a_key_outside_1_to_255_printable_ascii_is_refused(key: str) -> None:
    with pytest.raises(InvalidInput):
        check_key(key)
