"""The coach catalogue (entrypoints/coaches.toml, or COACHES_FILE) and the coaching tunables.

A bad catalogue stops the service at start-up with a ConfigError naming the coach and field,
never at the first chat message.
"""

from __future__ import annotations

import tomllib
from typing import Any

from domain.coaching.model import TITLE_MAX, Coach
from domain.coaching.services import DEFAULT_COACH, CoachingConfig
from domain.ledger.model import PriceList
from entrypoints.config import ConfigError, Settings

ID_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_-")


def load_coaches(path: str) -> dict[str, Coach]:
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read the coach catalogue {path}: {error}") from None
    coaches = {coach_id: _coach(coach_id, entry) for coach_id, entry in raw.get("coaches", {}).items()}
    if DEFAULT_COACH not in coaches:
        raise ConfigError(f"the coach catalogue {path} has no {DEFAULT_COACH!r} coach (the default)")
    return coaches


def _coach(coach_id: str, entry: dict[str, Any]) -> Coach:
    def fail(message: str) -> ConfigError:
        return ConfigError(f"coach {coach_id!r}: {message}")

    if not (1 <= len(coach_id) <= 64 and set(coach_id) <= ID_CHARS):
        raise fail("ids are 1-64 characters of a-z, 0-9, _ and -")
    try:
        coach = Coach(
            id=coach_id,
            name=str(entry["name"])[:TITLE_MAX],
            description=str(entry.get("description", "")),
            system_prompt=str(entry["system_prompt"]).strip(),
            model=str(entry.get("model") or "") or None,
            temperature=float(entry.get("temperature", 0.4)),
            max_reply_tokens=int(entry.get("max_reply_tokens", 600)),
            price_multiplier=float(entry.get("price_multiplier", 1.0)),
        )
    except KeyError as missing:
        raise fail(f"{missing.args[0]} is required") from None
    except (TypeError, ValueError) as error:
        raise fail(str(error)) from None
    if not 0 <= coach.temperature <= 2:
        raise fail("temperature must be between 0 and 2")
    if not 1 <= coach.max_reply_tokens <= 100_000:
        raise fail("max_reply_tokens must be between 1 and 100000")
    if not 0 < coach.price_multiplier <= 100:
        raise fail("price_multiplier must be above 0 and at most 100")
    if not coach.system_prompt:
        raise fail("system_prompt must not be empty")
    return coach


def coaching_config(settings: Settings, prices: PriceList) -> CoachingConfig:
    """The tunables; prices (`coach.message`, `coach.tokens_1k`, `task.<type>`) are read from the
    price list at each use, so a price list without them refuses chat (503) and tasks (422) only."""
    return CoachingConfig(
        prices=prices,
        min_reply_tokens=settings.coach_min_reply_tokens,
        chat_hold_ttl=settings.coach_hold_ttl,
        invitation_ttl_days=settings.invitation_ttl_days,
        task_timeout=settings.task_timeout,
        task_queue_timeout=settings.task_queue_timeout,
    )
