"""Every route x every role x every scope x own business / other business / other reseller.

The table EXPECT states, independently of the policy code, what each route allows. The test reads
the app's own route table and fails on any route the table does not cover (and on any entry that
no longer matches a route), so a new route cannot ship without its access rules being stated here.
"""

import itertools
from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts

from tests.api.world import ROLES, SCOPES, World
from tests.support.platform import Running
from voicegrid.api.routes.dashboard import plotly_version

RANK = {"viewer": 0, "member": 1, "admin": 2, "owner": 3}
SCOPE_RANK = {"business": 0, "reseller": 1, "platform": 2}
SUCCESS = {"GET": 200, "POST": 201, "PUT": 200, "PATCH": 200, "DELETE": 204}
TARGETS = ("own", "other_business", "other_reseller")

# What each kind of business-owned thing needs: (role to read, role to write, lowest scope that writes).
NEEDS = {
    "agents": ("viewer", "member", "business"),
    "calls": ("viewer", "member", "business"),
    "numbers": ("viewer", "member", "business"),
    "trunks": ("viewer", "admin", "business"),
    "credentials": ("viewer", "admin", "business"),
    "users": ("member", "admin", "business"),
    "api-keys": ("admin", "admin", "business"),
    "limits": ("viewer", "admin", "reseller"),
    "audit-log": ("admin", "owner", "platform"),
    "business": ("viewer", "admin", "reseller"),
    "privacy": ("viewer", "admin", "business"),
    "webhooks": ("admin", "admin", "business"),
    "do-not-call": ("viewer", "member", "business"),
    "campaigns": ("viewer", "member", "business"),
}

Expect = Callable[[str, str, str, str], int]  # (method, scope, role, target) -> status


def _role_ok(kind: str, method: str, scope: str, role: str) -> int | None:
    """None when allowed, else 403."""
    read, write, write_scope = NEEDS[kind]
    if method == "GET":
        return None if RANK[role] >= RANK[read] else 403
    if SCOPE_RANK[scope] < SCOPE_RANK[write_scope]:
        return 403
    return None if RANK[role] >= RANK[write] else 403


def _visible(scope: str, target: str) -> bool:
    # The principals are: the platform; reseller A; business A1. Targets: A1, A2 (reseller A), B1.
    return {"platform": True, "reseller": target != "other_reseller", "business": target == "own"}[scope]


def business_route(kind: str) -> Expect:
    def expect(method: str, scope: str, role: str, target: str) -> int:
        if not _visible(scope, target):
            return 404
        return _role_ok(kind, method, scope, role) or SUCCESS[method]

    return expect


def own_business_route(kind: str) -> Expect:
    def expect(method: str, scope: str, role: str, target: str) -> int:
        if scope != "business":
            return 403  # reseller and platform keys must name the business
        return _role_ok(kind, method, scope, role) or SUCCESS[method]

    return expect


def reseller_level_route(kind: str) -> Expect:
    def expect(method: str, scope: str, role: str, target: str) -> int:
        if scope == "business":
            return 403
        if scope == "reseller" and target == "other_reseller":
            return 404
        return _role_ok(kind, method, scope, role) or SUCCESS[method]

    return expect


def own_level_route(kind: str) -> Expect:
    def expect(method: str, scope: str, role: str, target: str) -> int:
        return _role_ok(kind, method, scope, role) or SUCCESS[method]

    return expect


def platform_only(method: str, scope: str, role: str, target: str) -> int:
    if scope != "platform":
        return 403
    needed = "viewer" if method == "GET" else "admin"
    return SUCCESS[method] if RANK[role] >= RANK[needed] else 403


def reseller_record(method: str, scope: str, role: str, target: str) -> int:
    if scope == "business":
        return 403
    if scope == "reseller" and target == "other_reseller":
        return 404
    if method == "GET":
        return 200
    return platform_only(method, scope, role, target)


def reseller_limits(method: str, scope: str, role: str, target: str) -> int:
    if method == "GET":
        return reseller_level_route("limits")(method, scope, role, target)
    if scope == "business":
        return 403
    if scope == "reseller":
        return 404 if target == "other_reseller" else 403
    return 200 if RANK[role] >= RANK["admin"] else 403


def own_limits(method: str, scope: str, role: str, target: str) -> int:
    if method == "GET":
        return 200
    if scope == "platform":
        return 404 if RANK[role] >= RANK["admin"] else 403
    return 403  # limits are set from above


def create_business(method: str, scope: str, role: str, target: str) -> int:
    if scope == "business" or RANK[role] < RANK["admin"]:
        return 403
    return 201


def branding(method: str, scope: str, role: str, target: str) -> int:
    if method == "GET":
        return 200
    if scope == "business":
        return 403
    if RANK[role] < RANK["admin"]:
        return 403
    return 404 if scope == "platform" else 200


def anyone(method: str, scope: str, role: str, target: str) -> int:
    return SUCCESS[method]


def no_such_user(method: str, scope: str, role: str, target: str) -> int:
    """Sign-in reads only its body (here an unknown email): a key in the header signs no one in."""
    return 401


PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/v1/public/branding"),
    ("GET", "/talk/{agent_id}"),
    ("GET", "/"),
    ("GET", "/dashboard/{name}"),
    ("GET", "/dashboard/vendor/plotly-{version}.min.js"),
    ("GET", "/dashboard/lib/{name}"),
    ("GET", "/dashboard/ui/{name}"),
}
B = "/v1/businesses/{business_id}"
R = "/v1/resellers/{reseller_id}"

EXPECT: dict[tuple[str, str], Expect] = {
    ("GET", "/healthz"): anyone,
    ("GET", "/readyz"): anyone,
    ("GET", "/v1/public/branding"): anyone,
    ("GET", "/talk/{agent_id}"): anyone,  # the page only; the socket it opens checks the key
    ("GET", "/v1/me"): anyone,
    ("GET", "/"): anyone,  # the dashboard's page and files hold no data; its API calls are checked
    ("GET", "/dashboard/{name}"): anyone,
    ("GET", "/dashboard/vendor/plotly-{version}.min.js"): anyone,
    ("GET", "/dashboard/lib/{name}"): anyone,  # the component library's files (public code)
    ("GET", "/dashboard/ui/{name}"): anyone,
    ("POST", "/v1/sessions"): no_such_user,
    ("DELETE", "/v1/sessions/current"): anyone,  # an API key is left alone; a sign-in token is revoked
    ("GET", "/v1/resellers"): platform_only,
    ("POST", "/v1/resellers"): platform_only,
    ("GET", R): reseller_record,
    ("PATCH", R): reseller_record,
    ("DELETE", R): reseller_record,
    ("GET", f"{R}/limits"): reseller_limits,
    ("PUT", f"{R}/limits"): reseller_limits,
    ("GET", "/v1/businesses"): anyone,
    ("POST", "/v1/businesses"): create_business,
    ("GET", B): business_route("business"),
    ("PATCH", B): business_route("business"),
    ("DELETE", B): business_route("business"),
    ("GET", f"{B}/limits"): business_route("limits"),
    ("PUT", f"{B}/limits"): business_route("limits"),
    ("GET", "/v1/limits"): own_limits,
    ("PUT", "/v1/limits"): own_limits,
    ("GET", "/v1/branding"): branding,
    ("PUT", "/v1/branding"): branding,
    ("GET", f"{B}/audit-log"): business_route("audit-log"),
    ("GET", "/v1/audit-log"): own_level_route("audit-log"),
    ("GET", "/v1/capacity"): platform_only,
    ("GET", "/v1/capacity/provider-limits"): platform_only,
    ("PUT", "/v1/capacity/provider-limits"): platform_only,
    ("GET", "/metrics"): platform_only,
    ("GET", f"{B}/webhook"): business_route("webhooks"),
    ("PUT", f"{B}/webhook"): business_route("webhooks"),
    ("GET", f"{B}/webhook/deliveries"): business_route("webhooks"),
    ("GET", f"{B}/privacy"): business_route("privacy"),
    ("PUT", f"{B}/privacy"): business_route("privacy"),
    ("GET", f"{B}/rates"): business_route("limits"),
    ("PUT", f"{B}/rates"): business_route("limits"),
    ("GET", f"{R}/markup"): reseller_limits,
    ("PUT", f"{R}/markup"): reseller_limits,
    ("GET", "/v1/catalog"): anyone,
    ("GET", "/v1/catalog/per-minute"): anyone,
    ("POST", "/v1/catalog/versions"): platform_only,
}


def accepted(expect: Expect) -> Expect:
    """Actions on a call answer 202 where a create would answer 201."""

    def wrapped(method: str, scope: str, role: str, target: str) -> int:
        status = expect(method, scope, role, target)
        return 202 if status == 201 else status

    return wrapped


def conflict(expect: Expect) -> Expect:
    """Transfer of a call that never answered: allowed callers get 409, the rest their refusal."""

    def wrapped(method: str, scope: str, role: str, target: str) -> int:
        status = expect(method, scope, role, target)
        return 409 if status == 201 else status

    return wrapped


def admins_only(expect: Expect) -> Expect:
    """Allowed to change calls, and an admin besides."""

    def wrapped(method: str, scope: str, role: str, target: str) -> int:
        status = expect(method, scope, role, target)
        return 403 if status < 300 and RANK[role] < RANK["admin"] else status

    return wrapped


def in_progress(expect: Expect) -> Expect:
    """The call of the matrix never ended: erasing its content is refused with 409 to those allowed."""

    def wrapped(method: str, scope: str, role: str, target: str) -> int:
        status = expect(method, scope, role, target)
        return 409 if status < 300 else status

    return wrapped


def no_recording(expect: Expect) -> Expect:
    """A call that never answered has no recording: 404 for those allowed to ask."""

    def wrapped(method: str, scope: str, role: str, target: str) -> int:
        status = expect(method, scope, role, target)
        return 404 if status == 200 else status

    return wrapped


EXPECT[("POST", f"{B}/webhook/deliveries/retry")] = accepted(business_route("webhooks"))


def no_telephony(expect: Expect) -> Expect:
    """The matrix's platform runs no SIP stack: those allowed to place a trial call get 503."""

    def wrapped(method: str, scope: str, role: str, target: str) -> int:
        status = expect(method, scope, role, target)
        return 503 if status == 201 else status

    return wrapped


def no_csv(expect: Expect) -> Expect:
    """The matrix sends no CSV file: those allowed get 422 for the empty file."""

    def wrapped(method: str, scope: str, role: str, target: str) -> int:
        status = expect(method, scope, role, target)
        return 422 if status == 201 else status

    return wrapped


for prefix, dnc_expect in ((B, business_route("do-not-call")), (R, reseller_level_route("do-not-call"))):
    EXPECT[("GET", f"{prefix}/do-not-call")] = dnc_expect
    EXPECT[("POST", f"{prefix}/do-not-call")] = dnc_expect
    EXPECT[("POST", f"{prefix}/do-not-call/import")] = no_csv(dnc_expect)
    EXPECT[("DELETE", f"{prefix}/do-not-call/{{number}}")] = dnc_expect


def planned_from_above(expect: Expect) -> Expect:
    """The plan is made by a business's reseller or the platform (403 to the business's own keys); the
    matrix's businesses have no stored call to plan from: 422 to those allowed."""

    def wrapped(method: str, scope: str, role: str, target: str) -> int:
        status = expect(method, scope, role, target)
        if status >= 300:
            return status
        return 403 if scope == "business" else 422

    return wrapped


EXPECT[("GET", f"{B}/report")] = planned_from_above(business_route("business"))


def answered(expect: Expect) -> Expect:
    """Actions on a campaign answer 200 where a create would answer 201."""

    def wrapped(method: str, scope: str, role: str, target: str) -> int:
        status = expect(method, scope, role, target)
        return 200 if status == 201 else status

    return wrapped


for prefix, campaign_expect in ((B, business_route("campaigns")), ("/v1", own_business_route("campaigns"))):
    one = f"{prefix}/campaigns/{{campaign_id}}"
    EXPECT[("GET", f"{prefix}/campaigns")] = campaign_expect
    EXPECT[("POST", f"{prefix}/campaigns")] = campaign_expect
    EXPECT[("GET", one)] = campaign_expect
    EXPECT[("PATCH", one)] = campaign_expect  # a fresh campaign is a draft, which may change
    EXPECT[("GET", f"{one}/contacts")] = campaign_expect
    EXPECT[("GET", f"{one}/export")] = campaign_expect
    EXPECT[("POST", f"{one}/contacts")] = campaign_expect
    EXPECT[("POST", f"{one}/contacts/import")] = no_csv(campaign_expect)
    EXPECT[("POST", f"{one}/start")] = answered(campaign_expect)  # a fresh campaign is a draft
    EXPECT[("POST", f"{one}/cancel")] = answered(campaign_expect)
    EXPECT[("POST", f"{one}/pause")] = conflict(campaign_expect)  # a draft is not running
    EXPECT[("POST", f"{one}/resume")] = conflict(campaign_expect)

for prefix, agent_expect in ((B, business_route("agents")), ("/v1", own_business_route("agents"))):
    one = f"{prefix}/agents/{{agent_id}}"
    EXPECT[("GET", f"{one}/draft")] = agent_expect
    EXPECT[("PATCH", f"{one}/draft")] = agent_expect
    EXPECT[("DELETE", f"{one}/draft")] = agent_expect
    EXPECT[("POST", f"{one}/publish")] = answered(agent_expect)  # the matrix begins a draft first
    EXPECT[("GET", f"{one}/versions")] = agent_expect
    EXPECT[("GET", f"{one}/versions/{{number}}")] = agent_expect
    EXPECT[("POST", f"{one}/versions/{{number}}/restore")] = answered(agent_expect)
    EXPECT[("POST", f"{one}/draft/try")] = no_telephony(agent_expect)
    EXPECT[("POST", f"{one}/tools/test")] = answered(agent_expect)  # a transfer tool: no request sent

for prefix, calls_expect in ((B, business_route("calls")), ("/v1", own_business_route("calls"))):
    EXPECT[("POST", f"{prefix}/calls")] = calls_expect
    EXPECT[("GET", f"{prefix}/calls")] = calls_expect
    EXPECT[("GET", f"{prefix}/calls/{{call_id}}")] = calls_expect
    EXPECT[("GET", f"{prefix}/calls/live")] = calls_expect
    EXPECT[("POST", f"{prefix}/calls/{{call_id}}/hangup")] = accepted(calls_expect)
    EXPECT[("POST", f"{prefix}/calls/{{call_id}}/transfer")] = conflict(calls_expect)
    EXPECT[("GET", f"{prefix}/calls/{{call_id}}/recording")] = no_recording(calls_expect)
    EXPECT[("GET", f"{prefix}/calls/{{call_id}}/cost")] = no_recording(calls_expect)  # live: no record yet
    EXPECT[("GET", f"{prefix}/analytics/calls")] = calls_expect
    EXPECT[("GET", f"{prefix}/analytics/recommendations")] = calls_expect
    EXPECT[("GET", f"{prefix}/calls/export")] = calls_expect
    EXPECT[("DELETE", f"{prefix}/calls/{{call_id}}/content")] = in_progress(admins_only(calls_expect))
    EXPECT[("GET", f"{prefix}/analytics/providers")] = calls_expect
    EXPECT[("GET", f"{prefix}/analytics/intents")] = calls_expect
for kind in ("agents", "numbers", "trunks", "credentials", "users", "api-keys"):
    families: list[tuple[str, Expect]] = [(B, business_route(kind))]
    if kind in ("users", "api-keys"):
        families += [(R, reseller_level_route(kind)), ("/v1", own_level_route(kind))]
    else:
        families.append(("/v1", own_business_route(kind)))
    for prefix, expect in families:
        EXPECT[("GET", f"{prefix}/{kind}")] = expect
        EXPECT[("POST", f"{prefix}/{kind}")] = expect
        EXPECT[("GET", f"{prefix}/{kind}/{{item_id}}")] = expect
        if kind != "api-keys":
            EXPECT[("PATCH", f"{prefix}/{kind}/{{item_id}}")] = expect
        EXPECT[("DELETE", f"{prefix}/{kind}/{{item_id}}")] = expect


def app_routes(run: Running) -> set[tuple[str, str]]:
    """Every (method, path) the app serves, included routers flattened as FastAPI itself does."""
    routes = set()
    for context in iter_route_contexts(run.platform.app.routes):
        if isinstance(context.original_route, APIRoute) and context.path:
            for method in context.methods or ():
                routes.add((method, context.path))
    return routes


async def test_the_matrix_covers_every_route_of_the_app_and_nothing_else(run: Running) -> None:
    routes = app_routes(run)
    assert routes - set(EXPECT) == set(), "routes without stated access rules"
    assert set(EXPECT) - routes == set(), "stated rules for routes that no longer exist"


class Cases:
    """Builds the request for one cell: path parameters, fresh objects to act on, and a body."""

    def __init__(self, run: Running, world: World) -> None:
        self.run = run
        self.world = world
        self.n = itertools.count(1000000)
        self.dialling: dict[str, str] = {}  # business -> an agent that can dial out through a trunk

    def business_for(self, target: str) -> str:
        w = self.world
        return {"own": w.business_a1, "other_business": w.business_a2, "other_reseller": w.business_b1}[
            target
        ]

    def reseller_for(self, target: str) -> str:
        return self.world.reseller_b if target == "other_reseller" else self.world.reseller_a

    async def outbound_ready(self, business: str) -> str:
        """An agent and a trunk that can dial out, in `business` (made once); returns the agent's id."""
        if business in self.dialling:
            return self.dialling[business]
        base = f"/v1/businesses/{business}"
        trunk = {
            "name": "out",
            "outbound_host": "127.0.0.1",
            "outbound_port": 5099,
            "caller_ids": ["+15550000"],
        }
        await self.run.ok("POST", f"{base}/trunks", json=trunk)
        agent = str((await self.run.ok("POST", f"{base}/agents", json={"name": "dialer"}))["id"])
        self.dialling[business] = agent
        return agent

    def body(self, method: str, path: str) -> Any:
        n = next(self.n)
        if path.endswith("/transfer"):
            return {"to": "+15550199"}
        if path.endswith(("/retry", "/do-not-call/import")):
            return None
        if path == "/v1/sessions":
            return {"email": f"nobody{n}@example.com", "password": "not anyone's password"}
        if "/calls" in path:
            return None
        kind = path.replace("/{item_id}", "").rsplit("/", 1)[-1]
        if method == "PUT" and kind == "rates":
            return {
                "rates": [
                    {"component": "tts", "provider": "elevenlabs", "unit": "1k_chars", "unit_price": "0.04"}
                ]
            }
        if method == "PUT" and kind == "webhook":
            return {"url": "https://hooks.example.com/voicegrid"}
        if method == "POST" and path.endswith("/do-not-call"):
            return {"numbers": ["+15557770042"]}
        if method == "PUT" and kind == "privacy":
            return {"retention_days": 30, "mask_pii": True}
        if method == "PUT" and kind == "markup":
            return {"percent": "15"}
        if method == "POST" and kind == "versions":
            item = {"component": "stt", "provider": "deepgram", "unit": "minute", "unit_price": "0.004"}
            return {"version": f"matrix-{n}", "effective": "2027-01-01", "items": [item]}
        if method == "PUT" and kind == "provider-limits":
            return {"limits": [{"stage": "tts", "provider": "deepgram", "slots": 45}]}
        if method == "PUT":
            return {"product_name": "P"} if kind == "branding" else {}
        if method == "PATCH":
            return {
                "agents": {"greeting": "hi"},
                "numbers": {"label": "x"},
                "trunks": {"enabled": False},
                "credentials": {"name": "c2"},
                "users": {"name": "n"},
            }.get(kind, {"name": f"renamed {n}"})
        if method != "POST":
            return None
        return {
            "agents": {"name": f"agent {n}"},
            "numbers": {"number": f"+1555{n}"},
            "trunks": {"name": "t", "inbound_cidrs": ["127.0.0.1/32"]},
            "credentials": {"name": "c", "provider": "openai", "secret": f"sk-test-{n}"},
            "users": {"email": f"user{n}@example.com", "role": "viewer"},
            "api-keys": {"role": "viewer"},
            "resellers": {"name": f"reseller {n}"},
            "businesses": {"name": f"business {n}", "reseller_id": self.world.reseller_a},
        }[kind]

    async def fresh_item(self, collection: str) -> str:
        created = await self.run.ok("POST", collection, json=self.body("POST", collection))
        return str(created["id"])

    async def request(self, method: str, template: str, scope: str, target: str) -> tuple[str, Any]:
        w = self.world
        name = {"/dashboard/lib/": "preact.mjs", "/dashboard/ui/": "agents.mjs"}.get(
            template.removesuffix("{name}"), "app.js"
        )
        path = template.replace("{name}", name).replace("{version}", plotly_version())
        deleting_tenant = method == "DELETE" and template in (B, R) and scope != "business"
        if "{business_id}" in path:
            business = self.business_for(target)
            if deleting_tenant:  # delete a fresh business where the target says, never the shared ones
                reseller = w.reseller_b if target == "other_reseller" else w.reseller_a
                business = await self.fresh_item_json(
                    "/v1/businesses", {"name": "doomed", "reseller_id": reseller}
                )
            path = path.replace("{business_id}", business)
        if "{reseller_id}" in path:
            reseller = self.reseller_for(target)
            if deleting_tenant and scope == "platform":
                reseller = await self.fresh_item("/v1/resellers")
            path = path.replace("{reseller_id}", reseller)
        if "/calls" in template:
            business = (
                path.split("/v1/businesses/")[1].split("/")[0] if "/v1/businesses/" in path else w.business_a1
            )
            agent = await self.outbound_ready(business)
            if "{call_id}" in path:
                call = await self.run.ok(
                    "POST", f"/v1/businesses/{business}/calls", json={"agent_id": agent, "to": "+15557770000"}
                )
                path = path.replace("{call_id}", call["id"])
            elif method == "POST":
                return path, {"agent_id": agent, "to": "+15557770000"}
        if "/campaigns" in template:
            business = (
                path.split("/v1/businesses/")[1].split("/")[0] if "/v1/businesses/" in path else w.business_a1
            )
            agent = await self.outbound_ready(business)
            spec = {"name": "matrix", "agent_id": agent}
            if "{campaign_id}" not in path:
                return path, spec if method == "POST" else None
            created = await self.run.ok("POST", f"/v1/businesses/{business}/campaigns", json=spec)
            path = path.replace("{campaign_id}", created["id"])
            if template.endswith("/contacts") and method == "POST":
                return path, {"contacts": [{"number": "+12125550123", "name": "Ann"}]}
            if method == "PATCH":
                return path, {"max_concurrent": 2}
            return path, None
        if "{agent_id}" in path and not template.startswith("/talk/"):
            business = (
                path.split("/v1/businesses/")[1].split("/")[0] if "/v1/businesses/" in path else w.business_a1
            )
            agent = await self.fresh_item(f"/v1/businesses/{business}/agents")
            if template.endswith("/publish"):
                draft = f"/v1/businesses/{business}/agents/{agent}/draft"
                await self.run.ok("PATCH", draft, json={"greeting": "Hello from the draft."})
            path = path.replace("{agent_id}", agent).replace("{number}", "1")
            if template.endswith("/try"):
                return path, {"lines": ["hello"]}
            if template.endswith("/tools/test"):
                return path, {"tool": {"name": "desk", "kind": "transfer_call", "target": "+15557770001"}}
            return path, {"greeting": "A draft."} if method == "PATCH" else None
        if "{number}" in path:  # a number on the list, to take off it
            listed = path.replace("/{number}", "")
            await self.run.ok("POST", listed, json={"numbers": ["+15557770042"]})
            path = path.replace("{number}", "%2B15557770042")
        if "{item_id}" in path:
            collection = path.split("/{item_id}")[0]
            if collection.startswith("/v1/") and collection.count("/") == 2:  # prefix-less: own level
                level = {
                    "business": f"/v1/businesses/{w.business_a1}",
                    "reseller": f"/v1/resellers/{w.reseller_a}",
                }
                collection = (
                    level.get(scope, "/v1") + collection[3:]
                    if collection[3:] in ("/users", "/api-keys")
                    else (f"/v1/businesses/{w.business_a1}{collection[3:]}")
                )
            path = path.replace("{item_id}", await self.fresh_item(collection))
        return path, self.body(method, template)

    async def fresh_item_json(self, collection: str, body: dict[str, Any]) -> str:
        return str((await self.run.ok("POST", collection, json=body))["id"])


async def test_every_route_answers_every_role_scope_and_tenant_as_stated(run: Running, world: World) -> None:
    cases = Cases(run, world)
    mismatches: list[str] = []
    checked = 0
    for (method, template), expect in sorted(EXPECT.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        targets = TARGETS if ("{business_id}" in template or "{reseller_id}" in template) else ("own",)
        if template.startswith(R):
            targets = ("own", "other_reseller")
        for scope, role, target in itertools.product(SCOPES, ROLES, targets):
            path, body = await cases.request(method, template, scope, target)
            response = await run.as_key(world.key(scope, role), method, path, json=body)
            wanted = expect(method, scope, role, target)
            checked += 1
            if response.status_code != wanted:
                mismatches.append(
                    f"{method} {template} as {scope}/{role} on {target}: got {response.status_code},"
                    f" want {wanted}: {response.text[:160]}"
                )
    assert not mismatches, f"{len(mismatches)} of {checked} cells differ:\n" + "\n".join(mismatches)
    assert checked > 1500


async def test_every_private_route_refuses_a_request_without_a_key(run: Running, world: World) -> None:
    cases = Cases(run, world)
    for method, template in sorted(EXPECT):
        path, body = await cases.request(method, template, "platform", "own")
        response = await run.client.request(method, path, json=body)
        if (method, template) in PUBLIC:
            assert response.status_code == 200, path
        else:
            assert response.status_code == 401, f"{method} {path}: {response.status_code}"
