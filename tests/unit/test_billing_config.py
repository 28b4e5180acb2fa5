"""Billing's settings and the gateway bootstrap chooses from them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from adapters.stripe.fake import FakePaymentGateway
from adapters.stripe.gateway import StripePaymentGateway
from domain.billing.catalogue import Catalogue
from domain.shared.errors import InvalidInput
from entrypoints.bootstrap import bootstrap, load_catalogue
from entrypoints.config import ConfigError, load_settings
from tests.fixtures.settings import make_settings

STRONG = "s" * 40


def test_production_with_a_stripe_key_needs_a_webhook_secret(tmp_path: Path) -> None:
    env = {
        "HOUSTON_ENV": "production",
        "JWT_SECRET": STRONG,
        "STRIPE_SECRET_KEY": "sk_test_x",
        "HOUSTON_DATA_DIR": str(tmp_path),
    }
    with pytest.raises(ConfigError, match="STRIPE_WEBHOOK_SECRET"):
        load_settings(env)
    assert load_settings({**env, "STRIPE_WEBHOOK_SECRET": "whsec_live"}).stripe_webhook_secret == "whsec_live"


def test_development_generates_one_webhook_secret_and_keeps_it(tmp_path: Path) -> None:
    first = load_settings({"HOUSTON_DATA_DIR": str(tmp_path)}).stripe_webhook_secret
    assert (
        first.startswith("whsec_") and first == load_settings({"HOUSTON_DATA_DIR": str(tmp_path)}).stripe_webhook_secret
    )
    assert (tmp_path / "dev-stripe-webhook-secret").stat().st_mode & 0o077 == 0


def test_price_ids_come_from_the_environment_and_a_bad_list_is_refused(tmp_path: Path) -> None:
    env = {"HOUSTON_DATA_DIR": str(tmp_path), "STRIPE_PRICE_IDS": "pro=price_a, enterprise=price_b"}
    settings = load_settings(env)
    assert settings.stripe_price_ids == (("pro", "price_a"), ("enterprise", "price_b"))
    catalogue = load_catalogue(settings)
    assert catalogue.plan_for_price("price_b") == catalogue.plan("enterprise")
    with pytest.raises(ConfigError, match="STRIPE_PRICE_IDS"):
        load_settings({**env, "STRIPE_PRICE_IDS": "pro"})


def test_bootstrap_uses_stripe_with_a_secret_key_and_the_fake_gateway_without(tmp_path: Path) -> None:
    assert isinstance(bootstrap(make_settings()).payment_gateway, FakePaymentGateway)
    real = bootstrap(make_settings(stripe_secret_key="sk_test_x", stripe_api_base="http://127.0.0.1:9"))
    assert isinstance(real.payment_gateway, StripePaymentGateway)


def test_a_catalogue_with_a_bad_figure_is_refused() -> None:
    with pytest.raises(InvalidInput):
        Catalogue.from_mapping({"packs": {"p": {"name": "P", "credits": -5, "amount_cents": 100}}})
    with pytest.raises(InvalidInput):
        Catalogue.from_mapping({"packs": {"P!": {"name": "P", "credits": 5, "amount_cents": 100}}})


# --- issue 18: production never runs on the fake gateway ---------------------------------------
@pytest.mark.parametrize("missing", [{}, {"STRIPE_SECRET_KEY": "sk_live_x"}, {"STRIPE_WEBHOOK_SECRET": "whsec_live"}])
def test_production_refuses_to_start_without_real_payment_settings(tmp_path: Path, missing: dict[str, str]) -> None:
    env = {"HOUSTON_ENV": "production", "JWT_SECRET": STRONG, "HOUSTON_DATA_DIR": str(tmp_path), **missing}
    with pytest.raises(ConfigError, match="HOUSTON_ENV=production needs real payment settings"):
        load_settings(env)


def test_production_settings_made_by_hand_never_get_the_fake_gateway_or_its_page(tmp_path: Path) -> None:
    from entrypoints.http.app import create_app

    with pytest.raises(ConfigError, match="fake payment gateway"):
        bootstrap(make_settings(env="production"))
    # the fake gateway and its page, then production settings slipped in
    container = bootstrap(make_settings(stripe_webhook_secret="whsec_" + "x" * 32))
    production = dataclasses.replace(container, settings=make_settings(env="production"))
    assert production.fake_checkout is not None
    with pytest.raises(ConfigError, match="fake checkout page"):
        create_app(production)
