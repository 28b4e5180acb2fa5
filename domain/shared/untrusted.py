"""JSON and text from outside the service, parsed with bounds so that hostile input is an error
the caller made, never a crash of ours.

Python's own `json.loads` accepts what the rest of the stack cannot hold: a lone UTF-16 surrogate
(`"\\ud800"`), which no encoder can turn into UTF-8 for hashing or storage; nesting deep enough to
exhaust the interpreter's recursion limit; integer literals longer than Python's int-string limit;
and `NaN`/`Infinity`, which are not JSON at all. `loads_untrusted` refuses all of these with
`UntrustedInput` (a ValueError), whose message says which bound was crossed. The HTTP layer runs
every request body through it, and the cursor decoder every cursor, so a new route or a new cursor
gets the same guard without asking for it.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import Any

MAX_JSON_DEPTH = 32  # arrays and objects inside one another; our widest schema needs 3
MAX_INT_DIGITS = 20  # a signed 64-bit integer has at most 19 digits
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")


class UntrustedInput(ValueError):
    """The input crosses one of the bounds above; the message says which (and never echoes it)."""


def has_surrogate(text: str) -> bool:
    """True when `text` holds a lone UTF-16 surrogate, which UTF-8 cannot encode."""
    return _SURROGATE.search(text) is not None


@lru_cache(maxsize=1)
def _decoder() -> json.JSONDecoder:
    """Built once (json.loads with these hooks builds a decoder per call; issue 25)."""
    return json.JSONDecoder(parse_int=_bounded_int, parse_float=_finite_float, parse_constant=_no_constant)


def loads_untrusted(text: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`json.loads` with the bounds of this module; raises UntrustedInput for any input it refuses
    (malformed JSON and undecodable bytes included)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise UntrustedInput("The body is not UTF-8.") from None
    try:
        value = _decoder().decode(text)
    except RecursionError:
        raise UntrustedInput(f"JSON nested deeper than {max_depth} levels.") from None
    except UntrustedInput:
        raise
    except ValueError:
        raise UntrustedInput("Not valid JSON.") from None
    check_tree(value, max_depth=max_depth)
    return value


def check_tree(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Walk a parsed JSON value without recursion: bounded depth, no surrogate in any string."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if has_surrogate(item):
                raise UntrustedInput("A string holds a lone UTF-16 surrogate, which is not valid text.")
        elif isinstance(item, (list, dict)):
            if depth > max_depth:
                raise UntrustedInput(f"JSON nested deeper than {max_depth} levels.")
            if isinstance(item, dict):
                stack.extend((key, depth) for key in item)
                stack.extend((inner, depth + 1) for inner in item.values())
            else:
                stack.extend((inner, depth + 1) for inner in item)


def _bounded_int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INT_DIGITS:
        raise UntrustedInput(f"An integer has more than {MAX_INT_DIGITS} digits.")
    return int(literal)


def _finite_float(literal: str) -> float:
    if len(literal) > 100:
        raise UntrustedInput("A number literal is too long.")
    value = float(literal)
    if not math.isfinite(value):
        raise UntrustedInput("A number is out of range.")
    return value


def _no_constant(literal: str) -> Any:
    raise UntrustedInput(f"{literal} is not JSON.")
