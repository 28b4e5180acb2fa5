"""Token estimates used for pricing before a model call and when a provider sends no usage."""

from __future__ import annotations


def estimate_tokens(text: str) -> int:
    """Rough: about 4 characters a token; 0 for "", at least 1 otherwise."""
    return (len(text) + 3) // 4
