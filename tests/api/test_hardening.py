"""Class 4 of the hardening: disabled means disabled, a role means its role, a replay proves itself,
and the pages carry their security headers."""

from pathlib import Path

import httpx

from tests.api.world import World
from tests.support.platform import Running

PASSWORD = "correct horse battery staple"


async def test_a_disabled_business_is_refused_everywhere_but_its_reseller_and_the_platform_can_reenable_it(
    run: Running, world: World
) -> None:
    business_key = world.key("business", "owner")
    await run.ok(
        "POST",
        f"/v1/businesses/{world.business_a1}/users",
        json={"email": "ana@a1.example", "name": "Ana", "role": "admin", "password": PASSWORD},
    )
    path = f"/v1/businesses/{world.business_a1}"
    assert (await run.as_key(business_key, "GET", "/v1/agents")).status_code == 200
    await run.ok("PATCH", path, json={"enabled": False}, key=world.key("reseller", "admin"))
    refused = await run.as_key(business_key, "GET", "/v1/agents")
    assert refused.status_code == 403
    assert "business is disabled" in refused.json()["detail"]
    call = await run.as_key(business_key, "POST", "/v1/calls", json={"agent_id": "agt_x", "to": "+15550199"})
    assert call.status_code == 403
    sign_in = await run.client.post("/v1/sessions", json={"email": "ana@a1.example", "password": PASSWORD})
    assert sign_in.status_code == 403
    assert "business is disabled" in sign_in.json()["detail"]
    read = await run.as_key(world.key("reseller", "viewer"), "GET", path)
    assert read.status_code == 200  # the reseller still sees it
    await run.ok("PATCH", path, json={"enabled": True})  # and the platform enables it again
    assert (await run.as_key(business_key, "GET", "/v1/agents")).status_code == 200


async def test_a_disabled_reseller_refuses_its_own_keys_and_its_businesses_keys(
    run: Running, world: World
) -> None:
    await run.ok("PATCH", f"/v1/resellers/{world.reseller_a}", json={"enabled": False})
    for scope in ("reseller", "business"):
        refused = await run.as_key(world.key(scope, "owner"), "GET", "/v1/me")
        assert refused.status_code == 403, scope
        assert "reseller is disabled" in refused.json()["detail"]
    assert (await run.as_key(run.admin_key, "GET", f"/v1/resellers/{world.reseller_a}")).status_code == 200


async def test_a_role_change_ends_the_users_sign_ins_and_no_one_deletes_or_demotes_a_user_above_them(
    run: Running, world: World
) -> None:
    base = f"/v1/businesses/{world.business_a1}/users"
    boss = await run.ok(
        "POST", base, json={"email": "boss@a1.example", "role": "owner", "password": PASSWORD}
    )
    signed = (
        await run.client.post("/v1/sessions", json={"email": "boss@a1.example", "password": PASSWORD})
    ).json()
    await run.ok("PATCH", f"{base}/{boss['id']}", json={"role": "admin"})
    assert (await run.as_key(str(signed["token"]), "GET", "/v1/me")).status_code == 401
    owner = await run.ok(
        "POST", base, json={"email": "own@a1.example", "role": "owner", "password": PASSWORD}
    )
    admin_key = world.key("business", "admin")
    demote = await run.as_key(admin_key, "PATCH", f"{base}/{owner['id']}", json={"role": "viewer"})
    assert demote.status_code == 403
    delete = await run.as_key(admin_key, "DELETE", f"{base}/{owner['id']}")
    assert delete.status_code == 403
    assert (await run.as_key(run.admin_key, "GET", f"{base}/{owner['id']}")).status_code == 200


async def test_an_idempotent_replay_never_shows_a_secret_again_and_proves_its_key(
    run: Running, world: World
) -> None:
    admin = world.key("business", "admin")
    path = f"/v1/businesses/{world.business_a1}/api-keys"
    headers = {"Idempotency-Key": "make-key-1"}
    first = await run.as_key(admin, "POST", path, json={"name": "ci", "role": "viewer"}, headers=headers)
    assert first.status_code == 201
    secret = first.json()["key"]
    replay = await run.as_key(admin, "POST", path, json={"name": "ci", "role": "viewer"}, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]
    assert replay.json()["key"] is None
    async with run.platform.services.sessions() as session:
        from sqlalchemy import select

        from voicegrid.store.models import IdempotencyRecord

        stored = [r.response_body for r in await session.scalars(select(IdempotencyRecord))]
    assert stored
    assert all(secret not in body for body in stored)
    keys = (await run.as_key(admin, "GET", path)).json()["items"]
    admin_id = next(k["id"] for k in keys if k["name"] == "business-admin")
    await run.ok("DELETE", f"{path}/{admin_id}")
    revoked = await run.as_key(admin, "POST", path, json={"name": "ci", "role": "viewer"}, headers=headers)
    assert revoked.status_code == 401  # a replay is authenticated like any request


async def test_the_talk_page_carries_the_dashboards_policy_and_frame_headers(run: Running) -> None:
    page = await run.client.get("/talk/agt_anything")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self' 'sha256-" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"


async def test_a_guesser_gains_nothing_by_claiming_new_addresses_in_x_forwarded_for(
    run: Running, world: World
) -> None:
    transport = httpx.ASGITransport(app=run.platform.app, client=("198.51.100.30", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for n in range(8):  # a guesser claiming a new address on every try
            await client.post(
                "/v1/sessions",
                json={"email": "x@a1.example", "password": f"g{n}"},
                headers={"X-Forwarded-For": f"10.0.0.{n}"},
            )
        throttled = await client.post(
            "/v1/sessions",
            json={"email": "x@a1.example", "password": "g"},
            headers={"X-Forwarded-For": "10.9.9.9"},
        )
    assert throttled.status_code == 429


async def test_deleting_a_business_deletes_its_call_records_and_recordings_for_good(
    run: Running, world: World, tmp_path: Path
) -> None:
    from voicegrid.core.clock import utcnow
    from voicegrid.store.call_records import get_call_record, write_call_records

    sessions = run.platform.services.sessions
    now = utcnow().isoformat()
    record = {"id": "call_gone", "business_id": world.business_a2, "created_at": now, "transcript": []}
    await write_call_records(sessions, [record])
    calls = run.platform.services.calls
    assert calls is not None
    assert calls.control is not None
    calls.control.media.recordings_dir = tmp_path / "recordings"
    wav = calls.control.recordings_dir / world.business_a2 / "call_gone.wav"
    wav.parent.mkdir(parents=True)
    wav.write_bytes(b"RIFF")
    await run.ok("DELETE", f"/v1/businesses/{world.business_a2}")
    await write_call_records(sessions, [record])  # a journal replay after the delete
    async with sessions() as session:
        assert await get_call_record(session, world.business_a2, "call_gone") is None
    assert not wav.exists()


async def test_creating_a_user_never_tells_whether_another_tenant_uses_the_email(
    run: Running, world: World
) -> None:
    body = {"email": "shared@example.com", "role": "admin", "password": "a1 passphrase here"}
    mine = f"/v1/businesses/{world.business_a1}/users"
    theirs = f"/v1/businesses/{world.business_b1}/users"
    await run.ok("POST", mine, json=body)
    other = await run.as_key(run.admin_key, "POST", theirs, json={**body, "password": "b1 passphrase here"})
    assert other.status_code == 201  # the same as for an email no one uses
    again = await run.as_key(run.admin_key, "POST", mine, json=body)
    assert again.status_code == 409  # within its own tenant an email is one user
    for password, business in (
        ("a1 passphrase here", world.business_a1),
        ("b1 passphrase here", world.business_b1),
    ):
        signed = await run.client.post(
            "/v1/sessions", json={"email": "shared@example.com", "password": password}
        )
        assert signed.status_code == 201
        assert signed.json()["business_id"] == business  # each password opens its own account


async def test_a_trunk_username_that_could_break_out_of_its_header_parameter_is_refused(
    run: Running, world: World
) -> None:
    path = f"/v1/businesses/{world.business_a1}/trunks"
    for bad in ('carrier", realm="x', "car rier", "carrier\\", "carrier\r\nX-Injected: 1"):
        body = {
            "name": "t",
            "outbound_host": "sip.example.com",
            "outbound_username": bad,
            "outbound_password": "pw",
        }
        refused = await run.as_key(run.admin_key, "POST", path, json=body)
        assert refused.status_code == 422, bad
    body = {
        "name": "t",
        "outbound_host": "sip.example.com",
        "outbound_username": "acct+1@sip.example.com",
        "outbound_password": "pw",
    }
    assert (await run.as_key(run.admin_key, "POST", path, json=body)).status_code == 201
