"""Issue 24's periodic jobs: releasing referral bonuses whose hold is over (and finishing any
referral step a crash interrupted), and the nightly rollup of the sales figures."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from entrypoints.container import Container


def release_referrals(container: Container, payload: Mapping[str, Any]) -> dict[str, Any]:
    return {"released": container.platform24.referrals.release_due()}


def sales_rollup(container: Container, payload: Mapping[str, Any]) -> dict[str, Any]:
    return {"days": container.platform24.sales.rollup()}


PLATFORM24_JOBS: Mapping[str, Callable[[Container, Mapping[str, Any]], dict[str, Any]]] = {
    "referrals.release_due": release_referrals,
    "sales.rollup": sales_rollup,
}
