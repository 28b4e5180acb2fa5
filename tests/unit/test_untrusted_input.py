"""The bounded JSON parser and the cursor decoder refuse hostile input with one error type."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.shared.errors import InvalidInput
from domain.shared.pagination import cursor_datetime, decode_cursor, encode_cursor
from domain.shared.untrusted import MAX_INT_DIGITS, UntrustedInput, loads_untrusted


@pytest.mark.parametrize(
    "text",
    [
        '"\\ud800"',
        '{"\\udfff": 1}',
        '["ok", ["\\udc00"]]',
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 20_000 + "1" + "}" * 20_000,
        "[" * 33 + "]" * 33,
        "9" * 5000,
        "-" + "9" * (MAX_INT_DIGITS + 1),
        "1e400",
        "NaN",
        "-Infinity",
        "{",
        b"\xed\xa0\x80",
    ],
)
def test_hostile_json_is_refused_with_untrusted_input(text: str | bytes) -> None:
    with pytest.raises(UntrustedInput):
        loads_untrusted(text)


def test_ordinary_json_within_the_bounds_is_parsed() -> None:
    text = '{"a": ' * 10 + '["\\ud83d\\ude00", ' + str(2**63 - 1) + "]" + "}" * 10
    value = loads_untrusted(text)
    for _ in range(10):
        value = value["a"]
    assert value == ["\U0001f600", 2**63 - 1]


@pytest.mark.parametrize(
    "position",
    [{"seq": 2**63}, {"seq": -(2**63) - 1}, {"id": "\ud800"}, [[[[[1]]]]]],
)
def test_forged_cursors_are_invalid_input(position: object) -> None:
    raw = json.dumps(position).encode()
    with pytest.raises(InvalidInput):
        decode_cursor(base64.urlsafe_b64encode(raw).decode())


def test_a_cursor_with_a_non_ascii_character_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        decode_cursor("\ud800abc")


def test_cursors_this_api_gives_round_trip() -> None:
    assert decode_cursor(encode_cursor({"seq": 2**63 - 1, "id": "usr_1"})) == {"seq": 2**63 - 1, "id": "usr_1"}


@pytest.mark.parametrize(
    "value", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "2026-01-01T00:00:00", "x", 5, None]
)
def test_cursor_times_outside_the_calendar_or_naive_are_invalid_input(value: object) -> None:
    with pytest.raises(InvalidInput):
        cursor_datetime(value)


def test_cursor_times_come_back_in_utc() -> None:
    assert cursor_datetime("2026-01-01T02:00:00+02:00").isoformat() == "2026-01-01T00:00:00+00:00"


@given(st.one_of(st.text(), st.binary()))
def test_any_input_is_parsed_or_refused_with_untrusted_input_never_another_error(raw: str | bytes) -> None:
    try:
        loads_untrusted(raw)
    except UntrustedInput:
        pass


_json = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=20,
)


@given(_json)
def test_json_we_would_write_round_trips_unless_it_holds_a_surrogate(value: object) -> None:
    text = json.dumps(value)
    try:
        assert loads_untrusted(text) == value
    except UntrustedInput as error:
        assert "surrogate" in str(error) or "nested" in str(error)
