"""Resellers, businesses, limits, branding, idempotency and the audit log, on SQLite and PostgreSQL."""

import asyncio

from tests.api.world import World
from tests.support.platform import Running


async def test_a_reseller_sees_only_its_own_businesses(run: Running, world: World) -> None:
    listed = await run.ok("GET", "/v1/businesses", world.key("reseller", "viewer"))
    assert {b["id"] for b in listed["items"]} == {world.business_a1, world.business_a2}
    everything = await run.ok("GET", "/v1/businesses")
    assert {b["id"] for b in everything["items"]} == {world.business_a1, world.business_a2, world.business_b1}


async def test_a_reseller_creates_businesses_under_itself_only(run: Running, world: World) -> None:
    key = world.key("reseller", "admin")
    made = await run.ok("POST", "/v1/businesses", key, json={"name": "Clinic"})
    assert made["reseller_id"] == world.reseller_a
    response = await run.as_key(
        key, "POST", "/v1/businesses", json={"name": "x", "reseller_id": world.reseller_b}
    )
    assert response.status_code == 404


async def test_a_platform_key_must_name_the_reseller_of_a_new_business(run: Running, world: World) -> None:
    response = await run.admin("POST", "/v1/businesses", json={"name": "Orphan"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "reseller_id"]


async def test_limits_are_a_singleton_read_and_set_from_above(run: Running, world: World) -> None:
    path = f"/v1/businesses/{world.business_a1}/limits"
    assert await run.ok("GET", path) == {
        "max_concurrent_calls": None,
        "max_outbound_cps": None,
        "monthly_minutes": None,
        "reserved_inbound_calls": None,
    }
    body = {
        "max_concurrent_calls": 20,
        "max_outbound_cps": 2.5,
        "monthly_minutes": 10_000,
        "reserved_inbound_calls": 4,
    }
    assert await run.ok("PUT", path, world.key("reseller", "admin"), json=body) == body
    assert await run.ok("GET", "/v1/limits", world.key("business", "viewer")) == body
    own = await run.as_key(
        world.key("business", "owner"), "PUT", "/v1/limits", json={"max_concurrent_calls": 999}
    )
    assert own.status_code == 403


async def test_a_resellers_limits_bound_the_sum_of_its_businesses(run: Running, world: World) -> None:
    await run.ok("PUT", f"/v1/resellers/{world.reseller_a}/limits", json={"max_concurrent_calls": None})
    for business in (world.business_a1, world.business_a2):
        await run.ok("PUT", f"/v1/businesses/{business}/limits", json={"max_concurrent_calls": 30})
    too_low = await run.admin(
        "PUT", f"/v1/resellers/{world.reseller_a}/limits", json={"max_concurrent_calls": 50}
    )
    assert too_low.status_code == 409
    assert "max_concurrent_calls" in too_low.json()["detail"]
    await run.ok("PUT", f"/v1/resellers/{world.reseller_a}/limits", json={"max_concurrent_calls": 60})
    over = await run.admin(
        "PUT", f"/v1/businesses/{world.business_a1}/limits", json={"max_concurrent_calls": 31}
    )
    assert over.status_code == 409
    unbounded = await run.admin(
        "POST", "/v1/businesses", json={"name": "New", "reseller_id": world.reseller_a}
    )
    assert unbounded.status_code == 409
    reseller_own = await run.as_key(
        world.key("reseller", "owner"), "PUT", f"/v1/resellers/{world.reseller_a}/limits", json={}
    )
    assert reseller_own.status_code == 403


async def test_an_idempotency_key_replays_the_first_creation(run: Running, world: World) -> None:
    path = f"/v1/businesses/{world.business_a1}/agents"
    headers = {"Idempotency-Key": "create-agent-1"}
    first = await run.admin("POST", path, json={"name": "once"}, headers=headers)
    second = await run.admin("POST", path, json={"name": "once"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert len((await run.ok("GET", path))["items"]) == 1
    other_body = await run.admin("POST", path, json={"name": "twice"}, headers=headers)
    assert other_body.status_code == 422


async def test_concurrent_requests_with_one_idempotency_key_create_once(run: Running, world: World) -> None:
    path = f"/v1/businesses/{world.business_a1}/agents"
    headers = {"Idempotency-Key": "race"}
    responses = await asyncio.gather(
        *[run.admin("POST", path, json={"name": "race"}, headers=headers) for _ in range(5)]
    )
    assert {r.status_code for r in responses} <= {201, 409}
    assert len((await run.ok("GET", path))["items"]) == 1


async def test_an_idempotency_key_belongs_to_the_api_key_that_sent_it(run: Running, world: World) -> None:
    headers = {"Idempotency-Key": "shared"}
    a = await run.as_key(
        world.key("business", "admin"), "POST", "/v1/agents", json={"name": "a"}, headers=headers
    )
    b = await run.as_key(
        world.key("business", "owner"), "POST", "/v1/agents", json={"name": "a"}, headers=headers
    )
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


async def test_a_failed_request_does_not_burn_its_idempotency_key(run: Running, world: World) -> None:
    path = f"/v1/businesses/{world.business_a1}/agents"
    headers = {"Idempotency-Key": "retry-me"}
    assert (await run.admin("POST", path, json={"name": ""}, headers=headers)).status_code == 422
    assert (await run.admin("POST", path, json={"name": ""}, headers=headers)).status_code == 422


async def test_every_write_is_in_the_audit_log_with_who_what_and_where(run: Running, world: World) -> None:
    key = world.key("business", "admin")
    agent = await run.ok(
        "POST", "/v1/agents", key, json={"name": "audited"}, headers={"User-Agent": "probe/1"}
    )
    await run.ok("PATCH", f"/v1/agents/{agent['id']}", key, json={"greeting": "Hi"})
    await run.ok("DELETE", f"/v1/agents/{agent['id']}", key)
    me = await run.ok("GET", "/v1/me", key)
    log = await run.ok("GET", "/v1/audit-log", key, params={"resource": "agents"})
    entries = [e for e in log["items"] if e["resource_id"] == agent["id"]]
    assert [e["action"] for e in entries] == ["delete", "update", "create"]
    create = entries[-1]
    assert create["key_id"] == me["key_id"]
    assert create["actor_role"] == "admin"
    assert create["source_ip"] == "203.0.113.7"
    assert create["user_agent"] == "probe/1"
    assert create["changes"]["name"] == "audited"
    assert entries[1]["changes"] == {"greeting": "Hi"}


async def test_the_audit_log_is_for_admins_and_for_those_above(run: Running, world: World) -> None:
    await run.ok("POST", "/v1/agents", world.key("business", "member"), json={"name": "x"})
    assert (await run.as_key(world.key("business", "member"), "GET", "/v1/audit-log")).status_code == 403
    reseller_view = await run.ok(
        "GET", f"/v1/businesses/{world.business_a1}/audit-log", world.key("reseller", "admin")
    )
    assert any(e["resource"] == "agents" for e in reseller_view["items"])
    other = await run.as_key(
        world.key("reseller", "admin"), "GET", f"/v1/businesses/{world.business_b1}/audit-log"
    )
    assert other.status_code == 404


async def test_deleting_a_business_removes_everything_it_owned(run: Running, world: World) -> None:
    base = f"/v1/businesses/{world.business_a2}"
    agent = await run.ok("POST", f"{base}/agents", json={"name": "x"})
    await run.ok("POST", f"{base}/numbers", json={"number": "+15550177", "agent_id": agent["id"]})
    key = (await run.ok("POST", f"{base}/api-keys", json={"role": "owner"}))["key"]
    await run.ok("DELETE", base, world.key("reseller", "admin"))
    assert (await run.admin("GET", base)).status_code == 404
    assert (await run.as_key(key, "GET", "/v1/agents")).status_code == 401
    reused = await run.admin(
        "POST", f"/v1/businesses/{world.business_a1}/numbers", json={"number": "+15550177"}
    )
    assert reused.status_code == 201


async def test_a_reseller_with_businesses_cannot_be_deleted(run: Running, world: World) -> None:
    response = await run.admin("DELETE", f"/v1/resellers/{world.reseller_b}")
    assert response.status_code == 409
    await run.ok("DELETE", f"/v1/businesses/{world.business_b1}")
    await run.ok("DELETE", f"/v1/resellers/{world.reseller_b}")


async def test_a_resellers_branding_reaches_its_businesses_and_its_domain(run: Running, world: World) -> None:
    brand = {
        "product_name": "Acme Voice",
        "logo_url": "https://acme.example/logo.svg",
        "primary_color": "#e11d48",
        "support_email": "help@acme.example",
        "dashboard_domain": "Voice.Acme.example",
    }
    put = await run.ok("PUT", "/v1/branding", world.key("reseller", "admin"), json=brand)
    assert put["dashboard_domain"] == "voice.acme.example"
    seen = await run.ok("GET", "/v1/branding", world.key("business", "viewer"))
    assert seen["product_name"] == "Acme Voice"
    assert seen["accent_color"] == "#0f172a"  # unset fields fall back to the platform default
    public = await run.client.get("/v1/public/branding", headers={"Host": "voice.acme.example"})
    assert public.json()["product_name"] == "Acme Voice"
    unknown = await run.client.get("/v1/public/branding", params={"domain": "other.example"})
    assert unknown.json()["product_name"] == "voicegrid"
    taken = await run.admin(
        "PATCH", f"/v1/resellers/{world.reseller_b}", json={"dashboard_domain": "voice.acme.example"}
    )
    assert taken.status_code == 409
    member = await run.as_key(world.key("reseller", "member"), "PUT", "/v1/branding", json=brand)
    assert member.status_code == 403
