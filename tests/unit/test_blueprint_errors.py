"""Issue 26 §4: Blueprint.errors is the one way a route declares its error responses; it takes
only API.md's error statuses and says what each means (the route's words, its area's, the contract's)."""
from __future__ import annotations

from typing import Any

import pytest

from entrypoints.http.api import CONTRACT_ERRORS, UNAUTHENTICATED, Blueprint


def documented(blp: Blueprint, *statuses: int, **kwargs: Any) -> dict[str, str]:
    def view() -> None: ...

    responses = blp.errors(*statuses, **kwargs)(view)._apidoc["response"]["responses"]  # type: ignore[attr-defined]
    return {str(status): documents[0]["description"] for status, documents in responses.items()}


def test_a_route_gets_its_own_words_else_its_areas_else_the_contracts() -> None:
    blp = Blueprint("area", __name__, errors={404: "No such {what} in this area (not_found)"})
    assert documented(blp, 401, 404, 422, what="goal", say={422: "A bad goal (validation_error)"}) == {
        "401": UNAUTHENTICATED, "404": "No such goal in this area (not_found)", "422": "A bad goal (validation_error)",
    }  # fmt: skip
    assert documented(blp, 409) == {"409": CONTRACT_ERRORS[409]}


@pytest.mark.parametrize("call", [
    lambda blp: blp.errors(418),  # not an error status of API.md
    lambda blp: blp.errors(401, say={404: "No such thing (not_found)"}),  # words a status it does not list
    lambda blp: blp.errors(404),  # the contract's 404 names the thing: what= is needed
])  # fmt: skip
def test_a_declaration_outside_the_contract_fails_when_the_module_loads(call: Any) -> None:
    with pytest.raises(ValueError):
        call(Blueprint("area", __name__))


def test_an_area_cannot_word_a_status_the_contract_does_not_have() -> None:
    with pytest.raises(ValueError):
        Blueprint("area", __name__, errors={418: "I'm a teapot"})
