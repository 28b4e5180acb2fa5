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
        "401": UNAUTHENTICATED,
        "404": "No such goal in this area (not_found)",
        "422": "A bad goal (validation_error)",
    }
    assert documented(blp, 409) == {"409": CONTRACT_ERRORS[409]}


@pytest.mark.parametrize(
    "call",
    [
        lambda blp: blp.errors(418),  # not an error status of API.md
        lambda blp: blp.errors(401, say={404: "No such thing (not_found)"}),  # words a status it does not list
        lambda blp: blp.errors(404),  # the contract's 404 names the thing: what= is needed
    ],
)
def test_a_declaration_outside_the_contract_fails_when_the_module_loads(call: Any) -> None:
    with pytest.raises(ValueError):
        call(Blueprint("area", __name__))


def test_an_area_cannot_word_a_status_the_contract_does_not_have() -> None:
    with pytest.raises(ValueError):
        Blueprint("area", __name__, errors={418: "I'm a teapot"})


def test_a_request_schema_is_built_once_not_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 25: webargs builds an instance of a schema class on every request (two per charge);
    Blueprint.arguments hands it one instance, built when the route is declared."""
    import marshmallow as ma
    from flask import Flask

    from entrypoints.http.api import Api

    class Body(ma.Schema):
        name = ma.fields.String(required=True)

    blp = Blueprint("area", __name__)

    @blp.route("/things", methods=["POST"])
    @blp.arguments(Body)
    def things(body: dict[str, Any]) -> dict[str, Any]:
        return body

    app = Flask("t")
    app.config.update(API_TITLE="t", API_VERSION="1", OPENAPI_VERSION="3.0.3")
    Api(app).register_blueprint(blp)
    built: list[ma.Schema] = []
    original = ma.Schema.__init__

    def counted(self: ma.Schema, *args: Any, **kwargs: Any) -> None:
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(ma.Schema, "__init__", counted)
    client = app.test_client()
    for _ in range(3):
        response = client.post("/things", json={"name": "x"})
        assert response.status_code == 200 and response.get_json() == {"name": "x"}
    assert client.post("/things", json={}).status_code == 422  # still validated
    assert built == []
