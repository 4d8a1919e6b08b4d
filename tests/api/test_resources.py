"""Behaviour of the v1 resources, on SQLite and PostgreSQL."""

from typing import Any

from tests.api.world import World
from tests.support.platform import Running

AGENT = {"name": "Receptionist", "greeting": "Hello", "knowledge_base": {"text": "Open 11-22."}}


async def test_a_business_key_creates_and_lists_its_agents_without_the_prefix(
    run: Running, world: World
) -> None:
    key = world.key("business", "member")
    created = await run.ok("POST", "/v1/agents", key, json=AGENT)
    assert created["id"].startswith("agt_")
    assert created["business_id"] == world.business_a1
    assert created["stt"]["provider"] == "pocketsphinx"
    listed = await run.ok("GET", "/v1/agents", key)
    assert [a["id"] for a in listed["items"]] == [created["id"]]
    assert listed["next_cursor"] is None
    prefixed = await run.ok("GET", f"/v1/businesses/{world.business_a1}/agents", key)
    assert prefixed == listed


async def test_lists_page_with_a_cursor_until_it_runs_out(run: Running, world: World) -> None:
    base = f"/v1/businesses/{world.business_a2}/agents"
    made = [(await run.ok("POST", base, json={"name": f"agent {i}"}))["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await run.ok("GET", base, params=params)
        seen += [a["id"] for a in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made
    assert pages == 3


async def test_an_invalid_body_gets_422_naming_each_bad_field(run: Running, world: World) -> None:
    response = await run.admin(
        "POST",
        f"/v1/businesses/{world.business_a1}/agents",
        json={"name": "", "max_call_seconds": 5, "surprise": 1},
    )
    assert response.status_code == 422
    fields = {tuple(d["loc"]) for d in response.json()["detail"]}
    assert {("body", "name"), ("body", "max_call_seconds"), ("body", "surprise")} <= fields


async def test_an_unknown_provider_is_rejected_with_the_known_ones_listed(run: Running, world: World) -> None:
    response = await run.admin(
        "POST",
        f"/v1/businesses/{world.business_a1}/agents",
        json={"name": "x", "tts": {"provider": "acme-tts"}},
    )
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body", "tts.provider"]
    assert "elevenlabs" in detail["msg"]


async def test_speech_only_is_refused_with_a_flux_stt_whether_created_so_or_changed_to_it(
    run: Running, world: World
) -> None:
    base = f"/v1/businesses/{world.business_a1}/agents"
    flux = {"provider": "deepgram", "model": "flux-general-en"}
    refused = await run.admin(
        "POST", base, json={"name": "x", "stt": flux, "turn": {"stt_speech_only": True}}
    )
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "turn.stt_speech_only"]
    nova = await run.ok("POST", base, json={"name": "y", "turn": {"stt_speech_only": True}})
    assert nova["turn"]["stt_speech_only"] is True
    changed = await run.admin(
        "PATCH", f"{base}/{nova['id']}", json={"stt": {"provider": "simulated", "fallbacks": [flux]}}
    )
    assert changed.status_code == 422
    on_flux = await run.ok("POST", base, json={"name": "z", "stt": flux})
    changed = await run.admin("PATCH", f"{base}/{on_flux['id']}", json={"turn": {"stt_speech_only": True}})
    assert changed.status_code == 422


async def test_an_agent_may_only_use_credentials_of_its_own_business(run: Running, world: World) -> None:
    other = await run.ok(
        "POST",
        f"/v1/businesses/{world.business_b1}/credentials",
        json={"name": "dg", "provider": "deepgram", "secret": "dg-key-of-b1"},
    )
    response = await run.admin(
        "POST",
        f"/v1/businesses/{world.business_a1}/agents",
        json={"name": "x", "stt": {"provider": "deepgram", "credential_id": other["id"]}},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "stt.credential_id"]


async def test_missing_unknown_and_revoked_keys_get_401(run: Running, world: World) -> None:
    assert (await run.client.get("/v1/agents")).status_code == 401
    assert (await run.as_key("vg_not_a_key", "GET", "/v1/agents")).status_code == 401
    created = await run.ok("POST", f"/v1/businesses/{world.business_a1}/api-keys", json={"role": "viewer"})
    assert (await run.as_key(created["key"], "GET", "/v1/agents")).status_code == 200
    await run.ok("DELETE", f"/v1/businesses/{world.business_a1}/api-keys/{created['id']}")
    response = await run.as_key(created["key"], "GET", "/v1/agents")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_an_api_key_is_shown_once_and_never_listed(run: Running, world: World) -> None:
    base = f"/v1/businesses/{world.business_a1}/api-keys"
    created = await run.ok("POST", base, json={"name": "ci", "role": "member"})
    assert created["key"].startswith("vg_")
    listed = await run.ok("GET", base)
    assert all("key" not in k for k in listed["items"])
    assert created["hint"] == created["key"][:10]
    fetched = await run.ok("GET", f"{base}/{created['id']}")
    assert "key" not in fetched


async def test_using_a_key_records_its_last_use(run: Running, world: World) -> None:
    base = f"/v1/businesses/{world.business_a1}/api-keys"
    created = await run.ok("POST", base, json={"role": "viewer"})
    assert (await run.ok("GET", f"{base}/{created['id']}"))["last_used_at"] is None
    await run.ok("GET", "/v1/me", created["key"])
    assert (await run.ok("GET", f"{base}/{created['id']}"))["last_used_at"] is not None


async def test_no_one_grants_a_role_above_their_own(run: Running, world: World) -> None:
    admin = world.key("business", "admin")
    response = await run.as_key(admin, "POST", "/v1/api-keys", json={"role": "owner"})
    assert response.status_code == 403
    response = await run.as_key(admin, "POST", "/v1/users", json={"email": "o@example.com", "role": "owner"})
    assert response.status_code == 403
    assert (await run.as_key(admin, "POST", "/v1/api-keys", json={"role": "admin"})).status_code == 201


async def test_a_number_owned_by_another_business_conflicts_without_naming_it(
    run: Running, world: World
) -> None:
    await run.ok("POST", f"/v1/businesses/{world.business_b1}/numbers", json={"number": "+1 555 010 0"})
    response = await run.as_key(
        world.key("business", "owner"), "POST", "/v1/numbers", json={"number": "+15550100"}
    )
    assert response.status_code == 409
    assert world.business_b1 not in response.text
    again = await run.admin(
        "POST", f"/v1/businesses/{world.business_b1}/numbers", json={"number": "+15550100"}
    )
    assert again.status_code == 409


async def test_a_number_routes_only_to_an_agent_of_its_own_business(run: Running, world: World) -> None:
    foreign = await run.ok("POST", f"/v1/businesses/{world.business_b1}/agents", json={"name": "b"})
    response = await run.admin(
        "POST",
        f"/v1/businesses/{world.business_a1}/numbers",
        json={"number": "+15550111", "agent_id": foreign["id"]},
    )
    assert response.status_code == 422
    own = await run.ok("POST", f"/v1/businesses/{world.business_a1}/agents", json={"name": "a"})
    number = await run.ok(
        "POST",
        f"/v1/businesses/{world.business_a1}/numbers",
        json={"number": "+15550111", "agent_id": own["id"]},
    )
    assert number["number"] == "+15550111"
    blocked = await run.admin("DELETE", f"/v1/businesses/{world.business_a1}/agents/{own['id']}")
    assert blocked.status_code == 409
    assert "+15550111" in blocked.json()["detail"]


async def test_trunk_passwords_and_credential_secrets_are_never_returned(run: Running, world: World) -> None:
    base = f"/v1/businesses/{world.business_a1}"
    trunk = await run.ok(
        "POST",
        f"{base}/trunks",
        json={
            "name": "carrier",
            "inbound_cidrs": ["198.51.100.0/24", "203.0.113.9"],
            "inbound_username": "carrier",
            "inbound_password": "trunk-pass-inbound-1",
            "outbound_host": "sip.carrier.example",
            "outbound_username": "acct",
            "outbound_password": "trunk-pass-outbound-2",
            "caller_ids": ["+1 555 010 0", "+15550100"],
        },
    )
    assert trunk["inbound_cidrs"] == ["198.51.100.0/24", "203.0.113.9/32"]
    assert trunk["caller_ids"] == ["+15550100"]
    assert trunk["inbound_password_set"]
    assert trunk["outbound_password_set"]
    cred = await run.ok(
        "POST",
        f"{base}/credentials",
        json={"name": "dg", "provider": "deepgram", "secret": "dg-secret-abcd1234"},
    )
    assert cred["secret_hint"] == "****1234"
    bodies = [
        (await run.admin("GET", f"{base}/trunks/{trunk['id']}")).text,
        (await run.admin("GET", f"{base}/credentials")).text,
        (await run.admin("GET", f"{base}/audit-log")).text,
    ]
    for body in bodies:
        for secret in ("trunk-pass-inbound-1", "trunk-pass-outbound-2", "dg-secret-abcd1234"):
            assert secret not in body


async def test_a_trunk_with_a_host_bits_cidr_is_rejected(run: Running, world: World) -> None:
    response = await run.admin(
        "POST",
        f"/v1/businesses/{world.business_a1}/trunks",
        json={"name": "t", "inbound_cidrs": ["10.0.0.1/24"]},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "inbound_cidrs"]


async def test_a_credential_secret_can_be_rotated_and_the_secret_decrypts(run: Running, world: World) -> None:
    from sqlalchemy import select

    from voicegrid.api.routes.credentials import secret_context
    from voicegrid.store.models import Credential

    base = f"/v1/businesses/{world.business_a1}/credentials"
    cred = await run.ok("POST", base, json={"name": "oa", "provider": "openai", "secret": "sk-first-0001"})
    await run.ok("PATCH", f"{base}/{cred['id']}", json={"secret": "sk-second-0002"})
    services = run.platform.services
    async with services.sessions() as session:
        row = await session.scalar(select(Credential).where(Credential.id == cred["id"]))
        assert row is not None
        assert services.secrets.decrypt(row.secret_enc, secret_context(row.id)) == "sk-second-0002"
        assert row.secret_hint == "****0002"


async def test_a_body_over_the_cap_gets_413_whether_declared_or_streamed(run: Running, world: World) -> None:
    from voicegrid.api.body_limit import MAX_BODY_BYTES

    path = f"/v1/businesses/{world.business_a1}/agents"
    huge = b'{"name": "' + b"x" * MAX_BODY_BYTES + b'"}'
    declared = await run.admin("POST", path, content=huge, headers={"Content-Type": "application/json"})
    assert declared.status_code == 413

    async def chunks():  # type: ignore[no-untyped-def]  # no Content-Length: counted as it streams
        for i in range(0, len(huge), 1 << 16):
            yield huge[i : i + (1 << 16)]

    streamed = await run.admin("POST", path, content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert (await run.ok("GET", path))["items"] == []


async def test_a_cursor_the_api_did_not_hand_out_gets_422(run: Running, world: World) -> None:
    for cursor in ("ö", "%%%", "bm90IGFuIGlk", "\x00"):
        response = await run.admin("GET", "/v1/resellers", params={"cursor": cursor})
        assert response.status_code == 422, cursor
        assert response.json()["detail"][0]["loc"] == ["query", "cursor"]
