"""Every domain error has an explicit HTTP status: an error added without one would otherwise be
answered as a bug (500), which this test catches before a client does."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator

import domain
from domain.shared.errors import DomainError
from entrypoints.http.errors import STATUS, handle_domain_error, status_of


def _all_domain_errors() -> Iterator[type[DomainError]]:
    for module in pkgutil.walk_packages(domain.__path__, "domain."):
        importlib.import_module(module.name)
    seen: set[type[DomainError]] = set()
    stack = [DomainError]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in seen and sub.__module__.startswith("domain."):  # not a test's own
                seen.add(sub)
                stack.append(sub)
                yield sub


def test_every_domain_error_subclass_has_an_explicit_status() -> None:
    unmapped = sorted(
        f"{cls.__module__}.{cls.__name__}" for cls in _all_domain_errors() if not any(k in STATUS for k in cls.__mro__)
    )
    assert unmapped == []


def test_an_unmapped_domain_error_is_a_logged_500_that_keeps_its_message_to_itself() -> None:
    class Forgotten(DomainError):
        code = "forgotten"

    error = Forgotten("secret detail of a bug")
    assert status_of(error) == 500
    from flask import Flask

    with Flask(__name__).app_context():
        response = handle_domain_error(error)
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "internal_error"
    assert "secret" not in response.get_data(as_text=True)


def test_codes_once_mapped_by_name_keep_their_statuses_as_rows_of_the_one_table() -> None:
    """Issue 26: 402 and 502 were a second table keyed by code; they are class rows now."""
    from domain.coaching.errors import CoachUnavailable
    from domain.ledger.errors import InsufficientCredits, MemberBudgetExceeded, WorkspaceBudgetExceeded

    statuses = {
        cls.code: status_of(cls.__new__(cls))
        for cls in (InsufficientCredits, WorkspaceBudgetExceeded, MemberBudgetExceeded, CoachUnavailable)
    }
    assert statuses == {
        "insufficient_credits": 402,
        "workspace_budget_exceeded": 402,
        "member_budget_exceeded": 402,
        "llm_unavailable": 502,
    }
