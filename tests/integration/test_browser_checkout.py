"""The fake checkout page in a real browser (issue 21): Chromium opens the checkout URL the API
returned, against a real `houston serve` in its embedded default (gunicorn, SQLite, the fake
gateway), and clicks Pay, Fail or Cancel, each in its own browser session. The balance and the
payment's status are then read over the API. A form posted to the page from another site is
still refused, even with the page's token.

Before the fix every click answered 403: the page is served with `Referrer-Policy: no-referrer`,
so Chromium posts `Origin: null` (with `Sec-Fetch-Site: same-origin`), which the guard refused.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.browser import chromium, embedded_serve, require_chromium
from tests.fixtures.serving import free_port

BUTTONS = {"paid": "Pay", "failed": "Fail the payment", "cancel": "Cancel"}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_chromium()
    with embedded_serve(tmp_path_factory.mktemp("browser")) as (port, _):
        yield f"http://127.0.0.1:{port}"


def call(base: str, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        base + path, method=method, data=None if body is None else json.dumps(body).encode()
    )
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


class Buyer:
    def __init__(self, base: str, email: str) -> None:
        self.base = base
        status, body = call(base, "POST", "/v1/auth/register", {"email": email, "password": "correct horse 42"})
        assert status == 201, body
        self.token = body["access_token"]

    def balance(self) -> int:
        status, body = call(self.base, "GET", "/v1/credits/balance", token=self.token)
        assert status == 200, body
        return int(body["balance"])

    def payment_statuses(self) -> list[str]:
        status, body = call(self.base, "GET", "/v1/billing/payments", token=self.token)
        assert status == 200, body
        return [p["status"] for p in body["items"]]

    def checkout(self, **item: str) -> dict[str, Any]:
        body = {
            "success_url": f"{self.base}/health?paid={{CHECKOUT_SESSION_ID}}",
            "cancel_url": f"{self.base}/health?cancelled=1",
            **(item or {"pack_id": "pack_500"}),
        }
        status, session = call(self.base, "POST", "/v1/billing/checkout", body, token=self.token)
        assert status == 201, session
        return session  # type: ignore[no-any-return]


def click(url: str, outcome: str) -> tuple[str, str]:
    """Open `url` in a new browser session, press the outcome's button; (final URL, page text)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    with chromium() as browser:
        browser.get(url)
        assert "Fake checkout" in browser.page_source
        button = browser.find_element(By.XPATH, f"//button[@value='{outcome}']")
        assert button.text == BUTTONS[outcome]
        button.click()
        WebDriverWait(browser, 30).until(expected_conditions.url_changes(url))
        return browser.current_url, browser.find_element(By.TAG_NAME, "body").text


@pytest.mark.parametrize(
    ("outcome", "credits", "status", "landing"),
    [
        ("paid", 500, "paid", "paid=cs_"),
        ("failed", 0, "failed", "cancelled=1"),
        ("cancel", 0, "expired", "cancelled=1"),
    ],
)
def test_a_browser_pays_fails_or_cancels_on_the_checkout_page(
    base: str,
    outcome: str,
    credits: int,
    status: str,
    landing: str,
) -> None:
    buyer = Buyer(base, f"browser-{outcome}@example.com")
    before = buyer.balance()
    session = buyer.checkout()
    assert session["url"].startswith(base + "/v1/billing/fake-checkout/")  # follows PORT

    final_url, text = click(session["url"], outcome)

    assert landing in final_url, (final_url, text)  # redirected to the success or cancel URL
    assert buyer.balance() == before + credits
    assert buyer.payment_statuses() == [status]


def test_a_second_press_shows_the_settled_page_and_changes_nothing(base: str) -> None:
    """A form posted again after the payment (another tab, a page kept open): same origin, right
    token, a settled session: an HTML page saying so (409), not raw JSON, and no second grant."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    buyer = Buyer(base, "browser-twice@example.com")
    before = buyer.balance()
    url = buyer.checkout()["url"]
    with chromium() as browser:
        browser.get(url)
        form = _replay(browser.page_source, url).replace("<form", '<form id="again"')
        browser.find_element(By.XPATH, "//button[@value='paid']").click()
        WebDriverWait(browser, 30).until(expected_conditions.url_changes(url))
        browser.get(url)
        assert "paid: nothing left to do" in browser.find_element(By.TAG_NAME, "body").text
        assert not browser.find_elements(By.XPATH, "//button")  # no buttons on a settled session
        assert "simulate-payment" not in browser.page_source  # nor the shell hint
        browser.execute_script(
            "document.body.insertAdjacentHTML('beforeend', arguments[0]);"
            "document.querySelector('#again button').click();",
            form,
        )
        try:
            WebDriverWait(browser, 30).until(lambda b: "already" in b.find_element(By.TAG_NAME, "body").text)
        except Exception as error:
            raise AssertionError((browser.current_url, browser.page_source)) from error
        text = browser.find_element(By.TAG_NAME, "body").text
    assert "This session is already paid: nothing was sent again." in text
    assert buyer.balance() == before + 500 and buyer.payment_statuses() == ["paid"]


def _replay(page: str, url: str) -> str:
    token = re.search(r'name="token" value="([0-9a-f]{64})"', page)
    assert token, page
    return (
        f'<form method="post" action="{url}"><input type="hidden" name="token" value="{token[1]}">'
        f'<button name="outcome" value="paid">Pay</button></form>'
    )


class _Attacker(BaseHTTPRequestHandler):
    """Another site (another origin: `localhost` instead of `127.0.0.1`, another port) whose page
    posts the checkout form automatically, even with the right token."""

    page = b""

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_cross_site_form_post_is_refused_even_with_the_pages_token(base: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    buyer = Buyer(base, "browser-victim@example.com")
    before = buyer.balance()
    url = buyer.checkout()["url"]
    html = urllib.request.urlopen(url, timeout=30).read().decode()
    _Attacker.page = (
        _replay(html, url).replace("<form", '<form id="f"') + "<script>document.getElementById('f').submit()</script>"
    ).encode()
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), _Attacker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with chromium() as browser:
            attacker = f"http://localhost:{port}/"
            browser.get(attacker)
            WebDriverWait(browser, 30).until(expected_conditions.url_changes(attacker))
            text = browser.find_element(By.TAG_NAME, "body").text
    finally:
        server.shutdown()
        server.server_close()

    assert "Cross-site form posts are refused." in text
    assert buyer.balance() == before
    assert buyer.payment_statuses() == ["pending"]


def test_the_served_page_says_where_it_runs(base: str) -> None:
    """Item 3 end to end: with PORT set and no PUBLIC_BASE_URL, the URL names the served port."""
    buyer = Buyer(base, "browser-port@example.com")
    url = buyer.checkout(plan_id="pro")["url"]
    assert url.startswith(base + "/")
    assert Path(urllib.request.urlparse(url).path).name.startswith("cs_")
