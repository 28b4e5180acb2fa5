"""Issue 21 (13): the API-key cap holds under concurrency, on every storage backend.

64 requests for one user, released together on 64 threads, against a cap of 50: counting the
user's keys and then inserting, without a lock, let two requests both see 49 and both insert
(51–52 keys on MariaDB). The count now runs under a lock on the user's row, in the same unit of
work as the insert, so exactly 50 are created and the other 14 are 409.
"""

from __future__ import annotations

from collections import Counter
from functools import partial

from flask import Flask

from tests.fixtures.concurrency import run_together
from tests.fixtures.http import auth_headers, register

REQUESTS = 64
CAP = 50


def test_64_concurrent_key_creations_make_exactly_50_keys_and_14_conflicts(any_app: Flask) -> None:  # noqa: F811
    user = register(any_app.test_client())
    headers = auth_headers(user["access_token"])
    clients = [any_app.test_client() for _ in range(REQUESTS)]

    def create(index: int) -> tuple[int, str | None]:
        response = clients[index].post("/v1/api-keys", json={"name": f"race {index}"}, headers=headers)
        body = response.get_json() or {}
        return response.status_code, body.get("error", {}).get("code")

    made, errors = run_together([partial(create, index) for index in range(REQUESTS)])
    assert errors == []
    answers = Counter(made)

    assert answers[(201, None)] == CAP, answers
    assert sum(n for (status, _), n in answers.items() if status == 409) == REQUESTS - CAP, answers
    listed = any_app.test_client().get("/v1/api-keys?limit=200", headers=headers).get_json()
    items = listed["items"] if isinstance(listed, dict) else listed
    assert len(items) == CAP
