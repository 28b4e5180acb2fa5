"""The local fake-checkout page: DEVELOPMENT ONLY, for the embedded default.

When `STRIPE_SECRET_KEY` is unset, Checkout URLs point here instead of at Stripe. The page shows
what is being bought and offers Pay / Fail / Cancel; the button sends the very events a real
Stripe would send for that outcome, signed with the webhook secret, through
`billing.receive_webhook` — the path of the real webhook route. Credits therefore arrive exactly
as they would in production: only through verified events.

Decisions:
- Registered only when the fake gateway is in use (see `entrypoints/fake_payments.py`); a
  service with a Stripe key has no such routes at all.
- A plain Flask blueprint, not in the OpenAPI document: it serves HTML to a browser, not JSON to
  an API client (the README documents it).
- No login, as on Stripe: the session id is the secret. The form also carries a token (an HMAC
  of the session id keyed with the webhook secret), and a POST announced by the browser as
  cross-site (`Sec-Fetch-Site`/`Origin`) is refused, so another site cannot complete a payment
  through a visitor's browser. Responses are `no-store`, `no-referrer`, and may not be framed.
- Because of `no-referrer`, browsers post the form with `Origin: null` (issue 21: every button
  answered 403 in Chromium). Chosen fix: accept `null` only with `Sec-Fetch-Site: same-origin`,
  a header browsers set and pages cannot (see `_refuse_cross_site`). The alternative,
  `Referrer-Policy: same-origin` (browsers then send the real Origin), would make the guard
  depend on a response header set elsewhere; a bare `null` stays refused either way.
- Errors use API.md's JSON body like every other route, except where a person is looking at the
  page: a press on a settled session answers an HTML page (409) saying so.
- The fake billing portal (`/v1/billing/fake-portal/<id>`) is served here too: read-only, it
  shows the customer's subscriptions and links back to the portal session's `return_url`.
"""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, redirect, request
from markupsafe import escape
from werkzeug.wrappers import Response as BaseResponse

from domain.shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from entrypoints.fake_payments import TEST_CARDS

bp = Blueprint("fake_checkout", __name__)
PATH = "/v1/billing/fake-checkout/<session_id>"
PORTAL_PATH = "/v1/billing/fake-portal/<portal_id>"
EXTENSION = "houston_fake_checkout"
_SESSION_ID = re.compile(r"^[A-Za-z0-9_]{1,255}$")
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # form-action also governs the redirect after the POST, to the caller's success or cancel URL
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http: https:; "
    "frame-ancestors 'none'",
}
OPEN_STATUSES = ("pending", "open")
OUTCOME_LABELS = {"paid": "Pay", "failed": "Fail the payment", "cancel": "Cancel"}


def _checkout() -> Any:
    return current_app.extensions[EXTENSION]


@bp.get(PATH)
def show(session_id: str) -> Response:
    details = _details(session_id)
    return _page(_checkout_page(details, _checkout().form_token(session_id)))


@bp.post(PATH)
def complete(session_id: str) -> BaseResponse:
    details = _details(session_id)
    _refuse_cross_site()
    if not _checkout().check_form_token(session_id, request.form.get("token", "")):
        raise Forbidden("This form is not from this service's checkout page.")
    outcome = request.form.get("outcome", "")
    if outcome not in OUTCOME_LABELS:
        raise InvalidInput("Unknown outcome.", details={"outcome": "Must be one of paid, failed, cancel."})
    if str(details.status) not in OPEN_STATUSES:  # a second press, another tab, the back button
        return _page(_settled_page(details), status=409)
    card = request.form.get("card") or None
    if card is not None and card not in TEST_CARDS:
        raise InvalidInput("Unknown test card.", details={"card": "Must be one of " + ", ".join(TEST_CARDS) + "."})
    try:
        events = _checkout().complete(session_id, outcome, card=card)
    except Conflict:  # settled meanwhile (a concurrent press): the same page, never a second outcome
        return _page(_settled_page(_details(session_id)), status=409)
    target = _checkout().return_url(session_id, outcome)
    if target is not None:
        if urlsplit(target).scheme in ("http", "https"):
            response = redirect(target, code=303)
            response.headers.update(_HEADERS)
            return response
    return _page(_result_page(details, outcome, [str(e["type"]) for e in events]))


@bp.get(PORTAL_PATH)
def portal(portal_id: str) -> Response:
    """The fake billing portal: what `POST /v1/billing/portal` opens without Stripe. Read-only."""
    if not _SESSION_ID.match(portal_id):
        raise NotFound("No such billing portal session.")
    found = _checkout().portal(portal_id)
    rows = (
        "".join(
            f"<tr><td><code>{escape(sub['id'])}</code></td><td>{escape(sub['status'])}</td>"
            f"<td>{escape(_day(sub['items']['data'][0]['current_period_end']))}</td>"
            f"<td>{'yes' if sub.get('cancel_at_period_end') else 'no'}</td></tr>"
            for sub in found["subscriptions"]
        )
        or '<tr><td colspan="4">No subscription (packs only, or nothing bought yet).</td></tr>'
    )
    back = str(found["return_url"])
    link = (
        f'<p><a id="return" href="{escape(back)}">Return to {escape(back)}</a></p>'
        if urlsplit(back).scheme in ("http", "https")
        else ""
    )
    return _page(f"""
<h1>Fake billing portal</h1>
<p class="warn">Development only: this page stands in for Stripe's customer portal because
STRIPE_SECRET_KEY is not set. Stripe's portal lets a customer change cards, read invoices and
cancel; here nothing can be changed.</p>
<table><tr><th>Subscription</th><th>Status</th><th>Period ends</th><th>Cancels at period end</th></tr>{rows}</table>
<p>Offline equivalents: <code>POST /v1/billing/subscription/cancel</code>;
<code>houston simulate-payment SESSION_ID --renew | --renew-fails | --end-period</code>.</p>
{link}
""")


def _day(unix: Any) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(int(unix), UTC).strftime("%Y-%m-%d %H:%M UTC")


def _details(session_id: str) -> Any:
    if not _SESSION_ID.match(session_id):
        raise NotFound("No such checkout session.")
    return _checkout().details(session_id)


def _refuse_cross_site() -> None:
    """Refuse a form post that a browser announces as coming from another site.

    The page is served with `Referrer-Policy: no-referrer`, so browsers post its form with
    `Origin: null` (Chromium, Firefox): `null` alone says nothing, but together with
    `Sec-Fetch-Site: same-origin` (set by the browser, never by a page's script) it is our own page.
    Accepted: no Origin (curl, old clients; the form token still applies), an Origin naming this
    host, or `null` announced as same-origin. Refused: `Sec-Fetch-Site: cross-site` or `same-site`,
    an Origin naming another host, and `null` without `Sec-Fetch-Site: same-origin` (a sandboxed
    frame or a `data:` page of another site posts `null`)."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site in ("cross-site", "same-site"):
        raise Forbidden("Cross-site form posts are refused.")
    origin = request.headers.get("Origin")
    if origin is None:
        return
    if origin == "null":
        if fetch_site != "same-origin":
            raise Forbidden("Cross-site form posts are refused.")
        return
    if urlsplit(origin).netloc != request.host:
        raise Forbidden("Cross-site form posts are refused.")


def _money(amount_cents: int, currency: str) -> str:
    return f"{amount_cents // 100}.{amount_cents % 100:02d} {currency.upper()}"


def _checkout_page(details: Any, token: str) -> str:
    what = "a monthly plan" if details.kind == "plan" else "a credit pack"
    per = " per month" if details.kind == "plan" else ""
    open_ = str(details.status) in OPEN_STATUSES
    buttons = "".join(f'<button name="outcome" value="{o}">{label}</button> ' for o, label in OUTCOME_LABELS.items())
    if open_:
        cards = "".join(f'<option value="{n}">{escape(label)}</option>' for n, label in TEST_CARDS.items())
        card = (
            (
                f'<p><label>Card <select name="card"><option value="">a card of your own</option>{cards}'
                f"</select></label></p>"
            )
            if details.kind != "plan"
            else ""
        )
        form = (
            f'<form method="post"><input type="hidden" name="token" value="{escape(token)}">{card}{buttons}'
            f"</form><p>From a shell: <code>houston simulate-payment {escape(details.session_id)} "
            f"[--fail | --cancel] [--card 4242424242424242]</code></p>"
        )
    else:
        form = f"<p>This session is <b>{escape(details.status)}</b>: nothing left to do.</p>"
    return f"""
<h1>Fake checkout</h1>
<p class="warn">Development only: no money moves. This page stands in for Stripe Checkout because
STRIPE_SECRET_KEY is not set. Its buttons send the signed webhooks a real Stripe would send.</p>
<table>
<tr><th>Buying</th><td>{escape(details.item_name)} ({what})</td></tr>
<tr><th>Credits</th><td>{int(details.credits)}{per}</td></tr>
<tr><th>Price</th><td>{escape(_money(int(details.amount_cents), str(details.currency)))}{per}</td></tr>
<tr><th>Account</th><td>{escape(details.customer_email)}</td></tr>
<tr><th>Session</th><td><code>{escape(details.session_id)}</code></td></tr>
<tr><th>Status</th><td>{escape(details.status)}</td></tr>
</table>
{form}
"""


def _result_page(details: Any, outcome: str, types: list[str]) -> str:
    items = "".join(f"<li><code>{escape(t)}</code></li>" for t in types)
    return f"""
<h1>Fake checkout: {escape(outcome)}</h1>
<p class="warn">Development only: no money moved.</p>
<p>Sent to the webhook handler, signed as Stripe signs:</p><ul>{items}</ul>
<p>Session <code>{escape(details.session_id)}</code>. Check <code>GET /v1/billing/payments</code>
and <code>GET /v1/credits/balance</code>.</p>
"""


def _settled_page(details: Any) -> str:
    return f"""
<h1>Fake checkout</h1>
<p class="warn">Development only: no money moves.</p>
<p>This session is already <b id="status">{escape(details.status)}</b>: nothing was sent again.</p>
<p>Session <code>{escape(details.session_id)}</code>. Check <code>GET /v1/billing/payments</code>
and <code>GET /v1/credits/balance</code>.</p>
"""


def _page(body: str, status: int = 200) -> Response:
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Houston fake checkout (development only)</title>
<style>body{{font-family:sans-serif;max-width:40em;margin:2em auto}} .warn{{background:#fff3cd;padding:.5em}}
th{{text-align:left;padding-right:1em}} button{{margin:1em .5em 0 0;padding:.5em 1em}}</style></head>
<body>{body}</body></html>"""
    response = Response(html, status=status, mimetype="text/html")
    response.headers.update(_HEADERS)
    return response


def register(app: Any, checkout: Any) -> None:
    """Serve the page with `checkout` (a FakeCheckout from entrypoints/fake_payments.py)."""
    app.extensions[EXTENSION] = checkout
    app.register_blueprint(bp)
