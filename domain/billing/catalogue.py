"""The catalogue: plans and credit packs, read from configuration (entrypoints/catalogue.toml).

The catalogue only prices what is sold next. A checkout copies the figures it sells (credits,
amount, currency) onto our own pending payment, and every grant is made from that copy, so
editing the catalogue never changes a grant, a balance or a payment already made.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain.shared.errors import InvalidInput
from domain.shared.limits import CATALOGUE_ID_PATTERN

_ID = re.compile(CATALOGUE_ID_PATTERN)
_CURRENCY = re.compile(r"^[a-z]{3}$")
MAX_AMOUNT_CENTS = 10**9


@dataclass(frozen=True, slots=True)
class Plan:
    id: str
    name: str
    monthly_credits: int
    amount_cents: int
    currency: str
    interval: str = "month"
    price_id: str | None = None  # the provider's recurring price; None for the free plan

    @property
    def is_free(self) -> bool:
        return self.amount_cents == 0


@dataclass(frozen=True, slots=True)
class Pack:
    id: str
    name: str
    credits: int
    amount_cents: int
    currency: str
    price_id: str | None = None  # optional: without one, checkout sends price_data


@dataclass(frozen=True, slots=True)
class Catalogue:
    plans: tuple[Plan, ...]
    packs: tuple[Pack, ...]

    def plan(self, plan_id: str) -> Plan | None:
        return next((p for p in self.plans if p.id == plan_id), None)

    def pack(self, pack_id: str) -> Pack | None:
        return next((p for p in self.packs if p.id == pack_id), None)

    def plan_for_price(self, price_id: str | None) -> Plan | None:
        if not price_id:
            return None
        return next((p for p in self.plans if p.price_id == price_id), None)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], price_ids: Mapping[str, str] | None = None) -> Catalogue:
        """Build from the parsed TOML (`[plans.<id>]`, `[packs.<id>]`); `price_ids` (from the
        environment) maps a plan or pack id to its provider price id and wins over the file."""
        price_ids = price_ids or {}
        plans = tuple(
            Plan(
                id=_item_id(key),
                name=str(v["name"]),
                monthly_credits=_count(v, "monthly_credits"),
                amount_cents=_count(v, "amount_cents"),
                currency=_currency(v),
                interval=str(v.get("interval", "month")),
                price_id=price_ids.get(key) or v.get("price_id") or None,
            )
            for key, v in dict(raw.get("plans", {})).items()
        )
        packs = tuple(
            Pack(
                id=_item_id(key),
                name=str(v["name"]),
                credits=_count(v, "credits", minimum=1),
                amount_cents=_count(v, "amount_cents", minimum=1),
                currency=_currency(v),
                price_id=price_ids.get(key) or v.get("price_id") or None,
            )
            for key, v in dict(raw.get("packs", {})).items()
        )
        if len({p.id for p in plans}) != len(plans) or len({p.id for p in packs}) != len(packs):
            raise InvalidInput("Duplicate catalogue ids.")
        return cls(plans=plans, packs=packs)


def _item_id(key: str) -> str:
    if not _ID.match(key):
        raise InvalidInput(f"Bad catalogue id {key!r}.", details={"id": "Lower-case letters, digits, - and _."})
    return key


def _count(values: Mapping[str, Any], name: str, minimum: int = 0) -> int:
    value = values.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= MAX_AMOUNT_CENTS:
        raise InvalidInput(f"Catalogue {name} must be a whole number >= {minimum}.", details={name: "Bad value."})
    return value


def _currency(values: Mapping[str, Any]) -> str:
    currency = str(values.get("currency", "usd"))
    if not _CURRENCY.match(currency):
        raise InvalidInput("Catalogue currency must be 3 lower-case letters.", details={"currency": "Bad value."})
    return currency
