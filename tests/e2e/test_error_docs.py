"""Issue 26 §4: error responses are documented one way (Blueprint.errors) and follow the one error
table: a code a route's documentation names is one the table answers with that status."""

from __future__ import annotations

import importlib
import pkgutil
import re
from typing import Any

from flask.testing import FlaskClient

import domain
from domain.shared.errors import DomainError
from entrypoints.http.errors import HTTP_CODES, status_of

METHODS = ("get", "put", "post", "patch", "delete")
NAMED = re.compile(r"\(([^()]*)\)")


def statuses_by_code() -> dict[str, set[int]]:
    """Every code the service answers with, and the statuses it comes with (from the error table)."""
    for module in pkgutil.walk_packages(domain.__path__, "domain."):
        importlib.import_module(module.name)
    table: dict[str, set[int]] = {code: {status} for status, code in HTTP_CODES.items()}
    stack = [DomainError]
    while stack:
        for cls in stack.pop().__subclasses__():
            stack.append(cls)
            if cls.__module__.startswith("domain."):
                table.setdefault(cls.code, set()).add(status_of(cls.__new__(cls)))
    return table


def misdocumented(document: dict[str, Any], table: dict[str, set[int]]) -> list[str]:
    found = []
    for path, item in document["paths"].items():
        for method in METHODS:
            for status, response in item.get(method, {}).get("responses", {}).items():
                if not status.isdigit() or int(status) < 400:
                    continue
                if "$ref" in response:  # flask-smorest's own 422: a shared response
                    response = document["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
                named = {
                    word
                    for group in NAMED.findall(response.get("description", ""))
                    for word in re.findall(r"[a-z]+(?:_[a-z]+)*", group)
                }
                for code in sorted(named & set(table)):
                    if int(status) not in table[code]:
                        found.append(f"{method.upper()} {path} {status}: {code} is {sorted(table[code])}")
                if response.get("content", {}).get("application/json", {}).get("schema") != {
                    "$ref": "#/components/schemas/Error"
                }:
                    found.append(f"{method.upper()} {path} {status}: not the error body")
    return found


def test_every_documented_error_names_codes_the_table_gives_that_status(client: FlaskClient) -> None:
    document = client.get("/openapi.json").get_json()
    assert misdocumented(document, statuses_by_code()) == []


def test_the_check_finds_a_code_documented_under_another_status(client: FlaskClient) -> None:
    document = client.get("/openapi.json").get_json()
    charge = document["paths"]["/v1/credits/charges"]["post"]["responses"]
    charge["409"]["description"] = "Short of credits (insufficient_credits)"
    del charge["401"]["content"]
    assert sorted(misdocumented(document, statuses_by_code())) == [
        "POST /v1/credits/charges 401: not the error body",
        "POST /v1/credits/charges 409: insufficient_credits is [402]",
    ]
