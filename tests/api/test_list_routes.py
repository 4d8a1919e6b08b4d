"""Every list route answers `items` and `next_cursor`: read from the app's own route table (its
OpenAPI document), so a list route added later is held to it too."""

from typing import Any

from voicegrid.api.app import create_app
from voicegrid.services import AppServices
from voicegrid.store import make_engine, make_sessionmaker

# GET routes that return a list inside something that is not a collection of resources. Each
# says why; a route not named here and holding a list of objects is a list route.
NOT_LISTS = {
    "/catalog": "one document: the price catalog, whose versions are part of it",
    "/calls/live": "a snapshot: the calls up now beside the business's counters",
    "/webhook": "the business's webhook settings, with the events it sends",
    "/webhook/deliveries": "the outbox's state: what waits and what was given up",
    "/analytics/calls": "a report: aggregated rows of one query",
    "/analytics/providers": "a report: aggregated rows of one query",
    "/analytics/intents": "a report: the top intents of one query",
    "/analytics/recommendations": "a report: aggregated rows of one query",
}


def _spec() -> dict[str, Any]:
    engine = make_engine("sqlite+aiosqlite:///:memory:")
    services = AppServices(sessions=make_sessionmaker(engine), secrets=None, public_url="http://x")  # type: ignore[arg-type]
    return create_app(engine, services).openapi()


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _holds_array(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    options = [schema, *schema.get("anyOf", [])]
    return any(_resolve(s, components).get("type") == "array" for s in options)


def test_every_list_route_answers_items_and_next_cursor() -> None:
    spec = _spec()
    components = spec["components"]["schemas"]
    lists, wrong = [], []
    for path, operations in spec["paths"].items():
        get = operations.get("get")
        content = (get or {}).get("responses", {}).get("200", {}).get("content", {}).get("application/json")
        if content is None or path.endswith("}") or any(path.endswith(n) for n in NOT_LISTS):
            continue
        schema = _resolve(content["schema"], components)
        properties = schema.get("properties", {})
        if schema.get("type") == "array":
            wrong.append(f"{path}: a bare array")
        elif any(_holds_array(p, components) for p in properties.values()):
            lists.append(path)
            if not {"items", "next_cursor"} <= set(properties):
                wrong.append(f"{path}: {sorted(properties)}")
    assert wrong == []
    assert {
        "/v1/calls",
        "/v1/agents",
        "/v1/businesses/{business_id}/rates",
        "/v1/capacity/provider-limits",
    } <= set(lists)
