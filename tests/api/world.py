"""A small platform to test against: two resellers, three businesses, a key for every scope and role."""

from dataclasses import dataclass, field

from tests.support.platform import Running

ROLES = ("owner", "admin", "member", "viewer")
SCOPES = ("platform", "reseller", "business")


@dataclass
class World:
    reseller_a: str
    reseller_b: str
    business_a1: str  # the business whose keys are "own business"
    business_a2: str  # another business of the same reseller
    business_b1: str  # a business of another reseller
    keys: dict[tuple[str, str], str] = field(default_factory=dict)  # (scope, role) -> plaintext

    def key(self, scope: str, role: str) -> str:
        return self.keys[(scope, role)]


async def build_world(run: Running) -> World:
    reseller_a = (await run.ok("POST", "/v1/resellers", json={"name": "Reseller A"}))["id"]
    reseller_b = (await run.ok("POST", "/v1/resellers", json={"name": "Reseller B"}))["id"]
    a1 = (await run.ok("POST", "/v1/businesses", json={"name": "A1", "reseller_id": reseller_a}))["id"]
    a2 = (await run.ok("POST", "/v1/businesses", json={"name": "A2", "reseller_id": reseller_a}))["id"]
    b1 = (await run.ok("POST", "/v1/businesses", json={"name": "B1", "reseller_id": reseller_b}))["id"]
    world = World(reseller_a, reseller_b, a1, a2, b1)
    where = {"platform": "/v1", "reseller": f"/v1/resellers/{reseller_a}", "business": f"/v1/businesses/{a1}"}
    for scope in SCOPES:
        for role in ROLES:
            created = await run.ok(
                "POST", f"{where[scope]}/api-keys", json={"name": f"{scope}-{role}", "role": role}
            )
            world.keys[(scope, role)] = created["key"]
    return world
