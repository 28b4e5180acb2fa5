"""Disposable-mail domains from the maintained `disposable-email-domains` package (its
`blocklist`, refreshed by each release), never a hand-written list. A subdomain of a listed
domain is disposable too (`x.mailinator.com`)."""

from __future__ import annotations

from collections.abc import Collection


class PackagedDisposableDomains:
    def __init__(self, extra: Collection[str] = ()) -> None:
        from disposable_email_domains import blocklist

        self._domains = frozenset(blocklist) | {d.lower() for d in extra}

    def is_disposable(self, domain: str) -> bool:
        parts = domain.strip().lower().rstrip(".").split(".")
        return any(".".join(parts[i:]) in self._domains for i in range(len(parts) - 1))
