"""The Credits routes of API.md and the admin credits route, through the real app."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from domain.shared.clock import ManualClock
from entrypoints.bootstrap import Container
from tests.fixtures.http import api_key_headers, auth_headers, create_api_key, error, register, register_admin
from tests.fixtures.settings import unique

FREE_CREDITS = 100  # Settings.free_plan_monthly_credits: granted at registration
JANUARY_ENDS = "2026-02-01T00:00:00.000000Z"  # the clock starts at 2026-01-15 12:00 UTC
NOW = "2026-01-15T12:00:00.000000Z"
ENTRY_FIELDS = {"id", "kind", "amount", "balance_after", "feature_key", "reference", "created_at"}


def new_user(client: FlaskClient) -> tuple[str, dict[str, str]]:
    """A fresh free-plan user: (user id, Bearer headers)."""
    body = register(client)
    return body["user"]["id"], auth_headers(body["access_token"])


def fund(container: Container, user_id: str, amount: int, source: str = "promo") -> None:
    container.ledger.grant(user_id, source=source, amount=amount, idempotency_key=unique("fund"))


def post_charge(client: FlaskClient, headers: dict[str, str], key: str | None, body: Any) -> Any:
    extra = {} if key is None else {"Idempotency-Key": key}
    return client.post("/v1/credits/charges", json=body, headers={**headers, **extra})


def charge(client: FlaskClient, headers: dict[str, str], feature_key: str = "api.call", quantity: int = 1) -> Any:
    response = post_charge(client, headers, unique("charge"), {"feature_key": feature_key, "quantity": quantity})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def post_adjustment(client: FlaskClient, headers: dict[str, str], user_id: str, key: str | None, body: Any) -> Any:
    extra = {} if key is None else {"Idempotency-Key": key}
    return client.post(f"/v1/admin/users/{user_id}/credits", json=body, headers={**headers, **extra})


def balance(client: FlaskClient, headers: dict[str, str]) -> Any:
    response = client.get("/v1/credits/balance", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def transactions(client: FlaskClient, headers: dict[str, str], query: str = "") -> Any:
    response = client.get(f"/v1/credits/transactions?{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def all_transactions(client: FlaskClient, headers: dict[str, str], query: str = "") -> list[dict[str, Any]]:
    """Every entry, following next_cursor to the end."""
    page = transactions(client, headers, query)
    items = page["items"]
    while page["next_cursor"]:
        page = transactions(client, headers, f"{query}&cursor={page['next_cursor']}")
        items += page["items"]
    return items  # type: ignore[no-any-return]


@pytest.fixture
def admin_headers(client: FlaskClient, container: Container) -> dict[str, str]:
    return auth_headers(register_admin(client, container)["access_token"])


# --- balance ------------------------------------------------------------------------------------
def test_a_new_free_user_starts_with_this_months_allowance(client: FlaskClient) -> None:
    _, headers = new_user(client)
    body = balance(client, headers)
    assert body == {
        "balance": FREE_CREDITS,
        "held": 0,
        "available": FREE_CREDITS,
        "grants": [
            {"id": body["grants"][0]["id"], "source": "plan", "remaining": FREE_CREDITS, "expires_at": JANUARY_ENDS}
        ],
    }


def test_the_balance_lists_grants_soonest_expiring_first(client: FlaskClient, container: Container) -> None:
    user_id, headers = new_user(client)
    fund(container, user_id, 40, source="purchase")
    grants = balance(client, headers)["grants"]
    assert [(g["source"], g["remaining"], g["expires_at"]) for g in grants] == [
        ("plan", FREE_CREDITS, JANUARY_ENDS),
        ("purchase", 40, None),
    ]
    assert balance(client, headers)["balance"] == FREE_CREDITS + 40


def test_the_credits_routes_need_authentication(client: FlaskClient) -> None:
    for response in (
        client.get("/v1/credits/balance"),
        client.get("/v1/credits/transactions"),
        client.get("/v1/credits/usage"),
        client.post("/v1/credits/charges", json={"feature_key": "api.call"}, headers={"Idempotency-Key": "k"}),
        client.get("/v1/credits/balance", headers=api_key_headers("hk_nope_nope")),
    ):
        assert error(response, 401)["code"] == "unauthenticated"


# --- transactions -------------------------------------------------------------------------------
def test_transactions_are_newest_first_with_the_documented_fields(client: FlaskClient, container: Container) -> None:
    user_id, headers = new_user(client)
    fund(container, user_id, 50)
    charge(client, headers, "coach.message", quantity=3)
    items = transactions(client, headers)["items"]
    assert all(set(item) == ENTRY_FIELDS for item in items)
    assert [(i["kind"], i["amount"], i["balance_after"], i["feature_key"]) for i in items] == [
        ("charge", -3, 147, "coach.message"),
        ("grant", 50, 150, None),
        ("grant", 100, 100, None),
    ]
    assert items[-1]["reference"] == "free-plan:2026-01" and items[-1]["created_at"] == NOW


def test_following_next_cursor_visits_every_entry_once(client: FlaskClient, container: Container) -> None:
    user_id, headers = new_user(client)
    for amount in range(1, 7):
        fund(container, user_id, amount)
    first = transactions(client, headers, "limit=3")
    assert len(first["items"]) == 3 and first["next_cursor"]
    items = all_transactions(client, headers, "limit=3")
    assert [i["amount"] for i in items] == [6, 5, 4, 3, 2, 1, FREE_CREDITS]
    assert len({i["id"] for i in items}) == 7


def test_the_last_page_has_a_null_next_cursor(client: FlaskClient, container: Container) -> None:
    user_id, headers = new_user(client)
    fund(container, user_id, 5)
    page = transactions(client, headers, "limit=2")
    assert (len(page["items"]), page["next_cursor"]) == (2, None)


def test_the_kind_filter_keeps_only_that_kind_across_pages(client: FlaskClient, container: Container) -> None:
    user_id, headers = new_user(client)
    for _ in range(3):
        fund(container, user_id, 10)
        charge(client, headers)
    charges = all_transactions(client, headers, "kind=charge&limit=2")
    assert [(c["kind"], c["amount"]) for c in charges] == [("charge", -1)] * 3
    assert len({c["id"] for c in charges}) == 3
    assert [g["amount"] for g in all_transactions(client, headers, "kind=grant")] == [10, 10, 10, FREE_CREDITS]


@pytest.mark.parametrize(
    "query",
    ["kind=gift", "cursor=not-a-cursor", "cursor=bm90LWpzb24", "cursor=eyJpZCI6MX0", "limit=0", "limit=201"],
)
def test_bad_transaction_queries_are_422_naming_the_field(client: FlaskClient, query: str) -> None:
    _, headers = new_user(client)
    err = error(client.get(f"/v1/credits/transactions?{query}", headers=headers), 422)
    assert err["code"] == "validation_error"
    assert set(err["details"]) == {query.split("=")[0]}


# --- usage --------------------------------------------------------------------------------------
def test_usage_defaults_to_this_month_by_the_clock(client: FlaskClient, clock: ManualClock) -> None:
    headers = api_key_headers(create_api_key(client, register(client)["access_token"])["key"])  # outlives a token
    charge(client, headers, "api.call", quantity=3)
    charge(client, headers, "coach.message", quantity=2)
    charge(client, headers, "api.call")
    body = client.get("/v1/credits/usage", headers=headers).get_json()
    assert body == {"month": "2026-01", "total": 6, "by_feature": {"api.call": 4, "coach.message": 2}}
    clock.advance(days=20)
    assert client.get("/v1/credits/usage", headers=headers).get_json() == {
        "month": "2026-02",
        "total": 0,
        "by_feature": {},
    }
    january = client.get("/v1/credits/usage?month=2026-01", headers=headers).get_json()
    assert january["total"] == 6


def test_usage_of_a_month_without_charges_is_zero(client: FlaskClient) -> None:
    _, headers = new_user(client)
    charge(client, headers)
    body = client.get("/v1/credits/usage?month=2025-12", headers=headers).get_json()
    assert body == {"month": "2025-12", "total": 0, "by_feature": {}}


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "January", "0000-01", "9999-12", ""])
def test_a_bad_usage_month_is_422(client: FlaskClient, month: str) -> None:
    _, headers = new_user(client)
    err = error(client.get(f"/v1/credits/usage?month={month}", headers=headers), 422)
    assert set(err["details"]) == {"month"}


# --- prices -------------------------------------------------------------------------------------
def test_prices_are_public_and_equal_the_price_list(client: FlaskClient, container: Container) -> None:
    response = client.get("/v1/credits/prices")
    assert response.status_code == 200
    expected = {key: {"credits": p.credits, "unit": p.unit} for key, p in container.ledger.prices.prices.items()}
    assert response.get_json() == expected
    assert response.get_json()["task.strategy"] == {"credits": 25, "unit": "task"}


# --- charges ------------------------------------------------------------------------------------
def test_a_charge_with_an_api_key_is_201_with_the_entry_and_the_balance(client: FlaskClient) -> None:
    body = register(client)
    key = create_api_key(client, body["access_token"])["key"]
    response = post_charge(
        client, api_key_headers(key), "k-1", {"feature_key": "coach.tokens_1k", "quantity": 4, "reference": "r-9"}
    )
    assert response.status_code == 201
    created = response.get_json()
    assert created["balance"] == {"balance": 92, "held": 0, "available": 92}
    assert created["transaction"] | {"id": None} == {
        "id": None,
        "kind": "charge",
        "amount": -8,
        "balance_after": 92,
        "feature_key": "coach.tokens_1k",
        "reference": "r-9",
        "created_at": NOW,
    }
    assert transactions(client, auth_headers(body["access_token"]))["items"][0] == created["transaction"]


def test_a_charge_with_a_bearer_token_defaults_to_one_unit(client: FlaskClient) -> None:
    _, headers = new_user(client)
    response = post_charge(client, headers, "k-1", {"feature_key": "task.weekly_review"})
    assert response.status_code == 201
    assert (response.get_json()["transaction"]["amount"], balance(client, headers)["available"]) == (-10, 90)


def test_a_charge_without_an_idempotency_key_is_422_and_writes_nothing(client: FlaskClient) -> None:
    _, headers = new_user(client)
    err = error(post_charge(client, headers, None, {"feature_key": "api.call"}), 422)
    assert set(err["details"]) == {"Idempotency-Key"}
    assert len(transactions(client, headers)["items"]) == 1


@pytest.mark.parametrize("key", ["", " leading-space", "é", "x" * 256, "tab\tinside"])
def test_a_malformed_idempotency_key_is_422(client: FlaskClient, key: str) -> None:
    _, headers = new_user(client)
    err = error(post_charge(client, headers, key, {"feature_key": "api.call"}), 422)
    assert set(err["details"]) == {"Idempotency-Key"}


def test_replaying_a_charge_returns_the_first_response_byte_for_byte(client: FlaskClient) -> None:
    _, headers = new_user(client)
    body = {"feature_key": "api.call", "quantity": 2}
    first = post_charge(client, headers, "same-key", body)
    charge(client, headers)  # the balance moves on in between
    again = post_charge(client, headers, "same-key", body)
    assert (again.status_code, again.data) == (first.status_code, first.data)
    assert first.get_json()["balance"]["balance"] == 98
    assert [i["amount"] for i in transactions(client, headers)["items"]] == [-1, -2, FREE_CREDITS]


def test_the_same_key_with_another_body_is_409_and_charges_nothing(client: FlaskClient) -> None:
    _, headers = new_user(client)
    post_charge(client, headers, "same-key", {"feature_key": "api.call", "quantity": 2})
    err = error(post_charge(client, headers, "same-key", {"feature_key": "api.call", "quantity": 3}), 409)
    assert err["code"] == "idempotency_conflict"
    assert balance(client, headers)["balance"] == 98


def test_users_do_not_share_idempotency_keys(client: FlaskClient) -> None:
    _, alice = new_user(client)
    _, bob = new_user(client)
    post_charge(client, alice, "shared-key", {"feature_key": "api.call"})
    response = post_charge(client, bob, "shared-key", {"feature_key": "api.call", "quantity": 5})
    assert response.status_code == 201 and response.get_json()["balance"]["balance"] == 95


def test_a_charge_larger_than_available_is_402_and_writes_nothing(client: FlaskClient) -> None:
    _, headers = new_user(client)
    err = error(post_charge(client, headers, "k-1", {"feature_key": "task.strategy", "quantity": 5}), 402)
    assert err == {
        "code": "insufficient_credits",
        "message": "Need 125 credits, 100 available.",
        "details": {"needed": 125, "available": 100},
    }
    assert balance(client, headers)["balance"] == FREE_CREDITS
    assert len(transactions(client, headers)["items"]) == 1
    assert post_charge(client, headers, "k-1", {"feature_key": "task.strategy", "quantity": 4}).status_code == 201


def test_a_charge_of_exactly_the_available_credits_leaves_zero(client: FlaskClient) -> None:
    _, headers = new_user(client)
    assert charge(client, headers, "task.strategy", quantity=4)["balance"]["available"] == 0
    assert error(post_charge(client, headers, "k-2", {"feature_key": "api.call"}), 402)["message"] == (
        "Need 1 credits, 0 available."
    )


def test_an_unknown_feature_is_422_naming_feature_key(client: FlaskClient) -> None:
    _, headers = new_user(client)
    err = error(post_charge(client, headers, "k-1", {"feature_key": "teleport"}), 422)
    assert (err["code"], set(err["details"])) == ("validation_error", {"feature_key"})


@pytest.mark.parametrize(
    "body, field",
    [
        ({"feature_key": "api.call", "quantity": 2.7}, "quantity"),
        ({"feature_key": "api.call", "quantity": "5"}, "quantity"),
        ({"feature_key": "api.call", "quantity": 0}, "quantity"),
        ({"feature_key": "api.call", "quantity": True}, "quantity"),
        ({"feature_key": "api.call", "quantity": 1_000_001}, "quantity"),
        ({"quantity": 1}, "feature_key"),
        ({"feature_key": 7}, "feature_key"),
        ({"feature_key": "api.call", "reference": "r" * 256}, "reference"),
        ({"feature_key": "api.call", "price": 0}, "price"),
    ],
)
def test_a_charge_body_is_validated_strictly(client: FlaskClient, body: dict[str, Any], field: str) -> None:
    _, headers = new_user(client)
    assert set(error(post_charge(client, headers, "k-1", body), 422)["details"]) == {field}
    assert balance(client, headers)["balance"] == FREE_CREDITS


# --- isolation ----------------------------------------------------------------------------------
def test_a_user_never_sees_another_users_credits(client: FlaskClient, container: Container) -> None:
    alice_id, alice = new_user(client)
    _, bob = new_user(client)
    fund(container, alice_id, 500)
    charge(client, alice, quantity=7)
    assert balance(client, bob)["balance"] == FREE_CREDITS and len(balance(client, bob)["grants"]) == 1
    alice_ids = {i["id"] for i in all_transactions(client, alice)}
    bob_items = all_transactions(client, bob)
    assert [i["amount"] for i in bob_items] == [FREE_CREDITS] and not alice_ids & {i["id"] for i in bob_items}
    assert client.get("/v1/credits/usage", headers=bob).get_json()["total"] == 0


# --- admin adjustments --------------------------------------------------------------------------
def test_an_admin_adds_credits_as_a_grant_that_never_expires(
    client: FlaskClient, admin_headers: dict[str, str]
) -> None:
    user_id, headers = new_user(client)
    response = post_adjustment(client, admin_headers, user_id, "adj-1", {"amount": 50, "reason": "goodwill"})
    assert response.status_code == 201
    created = response.get_json()
    assert created["balance"] == {"balance": 150, "held": 0, "available": 150}
    assert (created["transaction"]["kind"], created["transaction"]["amount"]) == ("adjustment", 50)
    assert "goodwill" in created["transaction"]["reference"]
    grants = balance(client, headers)["grants"]
    assert [(g["source"], g["remaining"], g["expires_at"]) for g in grants][-1] == ("admin", 50, None)
    assert transactions(client, headers)["items"][0] == created["transaction"]


def test_an_admin_removes_credits_soonest_expiring_first(
    client: FlaskClient, container: Container, admin_headers: dict[str, str]
) -> None:
    user_id, headers = new_user(client)
    fund(container, user_id, 30)
    response = post_adjustment(client, admin_headers, user_id, "adj-1", {"amount": -110, "reason": "abuse"})
    assert response.status_code == 201 and response.get_json()["transaction"]["amount"] == -110
    assert [(g["source"], g["remaining"]) for g in balance(client, headers)["grants"]] == [("promo", 20)]


def test_an_admin_removal_larger_than_available_is_402_and_removes_nothing(
    client: FlaskClient, admin_headers: dict[str, str]
) -> None:
    user_id, headers = new_user(client)
    err = error(post_adjustment(client, admin_headers, user_id, "adj-1", {"amount": -101, "reason": "x"}), 402)
    assert (err["code"], err["message"]) == ("insufficient_credits", "Need 101 credits, 100 available.")
    assert balance(client, headers)["balance"] == FREE_CREDITS
    assert len(transactions(client, headers)["items"]) == 1


def test_an_admin_replay_returns_the_same_result_and_adjusts_once(
    client: FlaskClient, admin_headers: dict[str, str]
) -> None:
    user_id, headers = new_user(client)
    body = {"amount": 25, "reason": "promo"}
    first = post_adjustment(client, admin_headers, user_id, "adj-1", body)
    again = post_adjustment(client, admin_headers, user_id, "adj-1", body)
    assert (again.status_code, again.data) == (201, first.data)
    assert balance(client, headers)["balance"] == 125
    other = post_adjustment(client, admin_headers, user_id, "adj-1", {"amount": 26, "reason": "promo"})
    assert error(other, 409)["code"] == "idempotency_conflict"


def test_an_admin_key_never_replays_the_users_own_charge(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    user_id, headers = new_user(client)
    post_charge(client, headers, "same-key", {"feature_key": "api.call"})
    response = post_adjustment(client, admin_headers, user_id, "same-key", {"amount": 10, "reason": "x"})
    assert response.status_code == 201
    assert balance(client, headers)["balance"] == FREE_CREDITS - 1 + 10


def test_the_admin_route_is_403_for_a_user_and_changes_nothing(client: FlaskClient) -> None:
    user_id, headers = new_user(client)
    body = register(client)
    key_headers = api_key_headers(create_api_key(client, body["access_token"])["key"])
    for caller in (headers, auth_headers(body["access_token"]), key_headers):
        response = post_adjustment(client, caller, user_id, unique("adj"), {"amount": 1000, "reason": "me"})
        assert error(response, 403)["code"] == "forbidden"
    assert balance(client, headers)["balance"] == FREE_CREDITS


def test_the_admin_route_is_401_without_credentials(client: FlaskClient) -> None:
    user_id, _ = new_user(client)
    response = post_adjustment(client, {}, user_id, "adj-1", {"amount": 1, "reason": "x"})
    assert error(response, 401)["code"] == "unauthenticated"


def test_an_adjustment_for_an_unknown_user_is_404(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    response = post_adjustment(client, admin_headers, "usr_nobody", "adj-1", {"amount": 1, "reason": "x"})
    assert error(response, 404)["code"] == "not_found"


@pytest.mark.parametrize(
    "key, body, field",
    [
        (None, {"amount": 1, "reason": "x"}, "Idempotency-Key"),
        ("adj-1", {"amount": 0, "reason": "x"}, "amount"),
        ("adj-1", {"amount": "5", "reason": "x"}, "amount"),
        ("adj-1", {"amount": 1.5, "reason": "x"}, "amount"),
        ("adj-1", {"amount": 10**12 + 1, "reason": "x"}, "amount"),
        ("adj-1", {"amount": 1}, "reason"),
        ("adj-1", {"amount": 1, "reason": ""}, "reason"),
    ],
)
def test_an_adjustment_is_validated_strictly(
    client: FlaskClient, admin_headers: dict[str, str], key: str | None, body: dict[str, Any], field: str
) -> None:
    user_id, headers = new_user(client)
    assert set(error(post_adjustment(client, admin_headers, user_id, key, body), 422)["details"]) == {field}
    assert balance(client, headers)["balance"] == FREE_CREDITS
