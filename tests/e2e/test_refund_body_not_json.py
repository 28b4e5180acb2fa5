"""Issue 21 (12), the case that found it: an admin refund whose body is not JSON refunded everything.

`{"amount_cents": 1}` sent as text/plain was read as no body, so the all-optional schema gave
"refund what is left": 500 of 500 cents, and the pack's credits reversed. Now it is a 415 and
nothing moves; the same body sent as JSON refunds the one cent it asks for. Memory, SQLite, MariaDB.
"""

from __future__ import annotations

from tests.e2e.test_billing_http import FREE, Shop, shop  # noqa: F401  (a fixture)
from tests.fixtures.http import auth_headers, register_admin


def test_a_refund_body_that_is_not_json_refunds_nothing(shop: Shop) -> None:  # noqa: F811
    shop.pay(shop.checkout(pack_id="pack_500")["session_id"])
    [payment] = shop.client.get("/v1/billing/payments", headers=shop.headers).get_json()["items"]
    admin = auth_headers(register_admin(shop.client, shop.container)["access_token"])
    url = f"/v1/admin/payments/{payment['id']}/refund"
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        environ = {} if content_type is None else {"CONTENT_TYPE": content_type}
        response = shop.client.post(url, data=b'{"amount_cents": 1}', environ_overrides=environ, headers=admin)
        assert response.status_code == 415, (content_type, response.get_json())
        assert response.get_json()["error"]["code"] == "unsupported_media_type"
    assert shop.balance() == FREE + 500
    [unchanged] = shop.client.get("/v1/billing/payments", headers=shop.headers).get_json()["items"]
    assert (unchanged["status"], unchanged["refunded_cents"]) == (payment["status"], 0)
    one_cent = shop.client.post(url, json={"amount_cents": 1}, headers=admin).get_json()
    assert one_cent["refund"]["amount_cents"] == 1 and one_cent["payment"]["refunded_cents"] == 1
