"""What the OpenAPI document states beyond the schemas' own classes (issue 21), so that generated
clients and fuzzers see the real contract instead of hundreds of "valid" requests we then refuse.

Schema classes are written once, at import; the price list, the catalogue and the coaches are
read from files when the service starts. So after every blueprint is registered, this fills in:
- `enum`s for values fixed at start: `feature_key` of a charge (the price list), `pack_id` and
  `plan_id` of a checkout (the catalogue: paid plans only, the free plan is not bought), `coach` of
  a chat session (coaches.toml); and a checkout takes exactly one of pack_id and plan_id (`oneOf`);
- `pattern`s for ids (`<prefix>_` then lower-case base32: domain.shared.ids) in paths, queries and
  bodies, and for cursors (unpadded base64url);
- a `next` link from each page's `next_cursor` to the same operation's `cursor`: a valid cursor is
  one the API gave, which no pattern can say.
Values come from the running container, so the document follows the files without a code change.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from domain.shared.ids import ID_MAX_LENGTH

if TYPE_CHECKING:
    from entrypoints.container import Container
    from entrypoints.http.api import Api

log = logging.getLogger(__name__)
ID_PREFIXES = {
    "user_id": "usr",
    "key_id": "key",
    "payment_id": "pay",
    "workspace_id": "wsp",
    "goal_id": "gol",
    "todo_id": "tdo",
    "session_id": "chs",
    "task_id": "tsk",
    "endpoint_id": "whe",
    "notification_id": "ntf",
    "invitation_id": "inv",
}
CURSOR_PATTERN = "^[A-Za-z0-9_-]+$"
CURSOR_DESCRIPTION = "Opaque: the `next_cursor` of the previous page, unchanged (any other value is 422)"
METHODS = ("get", "put", "post", "patch", "delete")


def id_pattern(name: str) -> str:
    return f"^{ID_PREFIXES[name]}_[0-9a-z]{{1,{ID_MAX_LENGTH - len(ID_PREFIXES[name]) - 1}}}$"


def state_the_contract(api: Api, container: Container) -> None:
    schemas: dict[str, Any] = api.spec.components.schemas
    try:
        features = sorted(container.ledger.prices.prices)
    except Exception:  # a price list that fails is the charge route's 500 to report, not the document's
        log.warning("the price list could not be read: feature_key is documented without an enum")
    else:
        _enum(schemas["Charge"], "feature_key", features)
    billing = container.billing
    _enum(schemas["Checkout"], "pack_id", [pack.id for pack in billing.packs()])
    _enum(schemas["Checkout"], "plan_id", [plan.id for plan in billing.plans() if not plan.is_free])
    schemas["Checkout"]["oneOf"] = [
        {"required": [name], "properties": {name: {"type": "string"}}} for name in ("pack_id", "plan_id")
    ]
    _enum(schemas["SessionCreate"], "coach", sorted(container.coaching.coaches))
    for path, item in api.spec._paths.items():  # apispec keeps no public accessor for the paths
        _parameters(item.get("parameters", []))
        for method in METHODS:
            if method in item:
                _parameters(item[method].get("parameters", []))
                _body_ids(schemas, item[method])
                _next_link(path, method, item[method])


def _enum(schema: dict[str, Any], name: str, values: list[str]) -> None:
    prop = schema["properties"][name]
    prop["enum"] = [*values, None] if prop.get("nullable") else list(values)


def _body_ids(schemas: dict[str, Any], operation: dict[str, Any]) -> None:
    """Ids a request body refers to (a todo's goal_id, a task's workspace_id); responses keep theirs
    free (a checkout's session_id is the provider's)."""
    ref = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    name = ref.get("$ref", "").rsplit("/", 1)[-1]
    for field, prop in schemas.get(name, {}).get("properties", {}).items():
        if field in ID_PREFIXES and prop.get("type") == "string":
            prop["pattern"] = id_pattern(field)


def _parameters(parameters: list[dict[str, Any]]) -> None:
    for parameter in parameters:
        schema = parameter.get("schema", {})
        if parameter["name"] in ID_PREFIXES:
            schema.update(pattern=id_pattern(parameter["name"]), maxLength=ID_MAX_LENGTH)
        elif parameter["name"] == "cursor" and parameter["in"] == "query":
            schema["pattern"] = CURSOR_PATTERN
            parameter["description"] = CURSOR_DESCRIPTION


def _next_link(path: str, method: str, operation: dict[str, Any]) -> None:
    parameters = operation.get("parameters", [])
    if not any(p["name"] == "cursor" for p in parameters) or "200" not in operation.get("responses", {}):
        return
    carried = {name.split("}")[0]: f"$request.path.{name.split('}')[0]}" for name in path.split("{")[1:]}
    pointer = path.replace("~", "~0").replace("/", "~1")
    operation["responses"]["200"]["links"] = {
        "next": {
            "operationRef": f"#/paths/{pointer}/{method}",
            "parameters": {**carried, "cursor": "$response.body#/next_cursor"},
            "description": "The next page (when next_cursor is not null)",
        },
    }
