"""Sign-in for people: email and password buy an expiring token that acts exactly as the user's role."""

from datetime import timedelta

import httpx
from sqlalchemy import update

from tests.api.world import World
from tests.support.platform import Running
from voicegrid.core.clock import utcnow
from voicegrid.store.models import ApiKey

PASSWORD = "correct horse battery staple"


async def _user(run: Running, world: World, email: str = "maria@a1.example", role: str = "viewer") -> str:
    created = await run.ok(
        "POST",
        f"/v1/businesses/{world.business_a1}/users",
        json={"email": email, "name": "Maria", "role": role, "password": PASSWORD},
    )
    return str(created["id"])


async def _sign_in(run: Running, email: str, password: str = PASSWORD) -> tuple[int, dict[str, object]]:
    response = await run.client.post("/v1/sessions", json={"email": email, "password": password})
    return response.status_code, response.json() if response.content else {}


async def test_a_user_signs_in_and_the_token_acts_with_the_users_scope_and_role(
    run: Running, world: World
) -> None:
    user_id = await _user(run, world, "Maria@A1.example")
    status, signed = await _sign_in(run, "maria@a1.example")  # emails compare without case
    assert status == 201
    assert signed["scope"] == "business"
    assert signed["role"] == "viewer"
    assert signed["business_id"] == world.business_a1
    token = str(signed["token"])
    me = await run.ok("GET", "/v1/me", key=token)
    assert (me["scope"], me["role"], me["business_id"]) == ("business", "viewer", world.business_a1)
    assert (await run.as_key(token, "GET", "/v1/agents")).status_code == 200
    assert (await run.as_key(token, "POST", "/v1/agents", json={"name": "x"})).status_code == 403  # viewer
    other = await run.as_key(token, "GET", f"/v1/businesses/{world.business_b1}/calls")
    assert other.status_code == 404
    users = await run.ok("GET", f"/v1/businesses/{world.business_a1}/users")
    [row] = [u for u in users["items"] if u["id"] == user_id]
    assert row["last_login_at"] is not None
    keys = await run.ok("GET", f"/v1/businesses/{world.business_a1}/api-keys")
    [session_key] = [k for k in keys["items"] if k.get("user_id") == user_id]
    assert session_key["expires_at"] is not None  # an admin sees the sign-in, and can revoke it


async def test_a_wrong_password_an_unknown_email_and_a_disabled_user_get_the_same_401(
    run: Running, world: World
) -> None:
    user_id = await _user(run, world)
    wrong = await _sign_in(run, "maria@a1.example", "not the password")
    unknown = await _sign_in(run, "nobody@a1.example")
    await run.ok("PATCH", f"/v1/businesses/{world.business_a1}/users/{user_id}", json={"disabled": True})
    disabled = await _sign_in(run, "maria@a1.example")
    assert wrong == unknown == disabled == (401, {"detail": "wrong email or password"})


async def test_signing_out_revokes_the_token_and_an_expired_token_is_refused(
    run: Running, world: World
) -> None:
    await _user(run, world)
    _, first = await _sign_in(run, "maria@a1.example")
    _, second = await _sign_in(run, "maria@a1.example")
    assert (await run.as_key(str(first["token"]), "DELETE", "/v1/sessions/current")).status_code == 204
    gone = await run.as_key(str(first["token"]), "GET", "/v1/me")
    assert gone.status_code == 401
    assert (await run.as_key(str(second["token"]), "GET", "/v1/me")).status_code == 200  # the other stays
    async with run.platform.services.sessions() as session:
        await session.execute(
            update(ApiKey)
            .where(ApiKey.expires_at.is_not(None), ApiKey.revoked_at.is_(None))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    expired = await run.as_key(str(second["token"]), "GET", "/v1/me")
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]


async def test_disabling_a_user_or_changing_the_password_ends_the_users_sign_ins(
    run: Running, world: World
) -> None:
    user_id = await _user(run, world)
    path = f"/v1/businesses/{world.business_a1}/users/{user_id}"
    _, signed = await _sign_in(run, "maria@a1.example")
    await run.ok("PATCH", path, json={"password": "a brand new passphrase"})
    assert (await run.as_key(str(signed["token"]), "GET", "/v1/me")).status_code == 401
    _, again = await _sign_in(run, "maria@a1.example", "a brand new passphrase")
    await run.ok("PATCH", path, json={"name": "Maria R."})  # other edits leave the sign-in alone
    assert (await run.as_key(str(again["token"]), "GET", "/v1/me")).status_code == 200
    await run.ok("PATCH", path, json={"disabled": True})
    assert (await run.as_key(str(again["token"]), "GET", "/v1/me")).status_code == 401


async def test_a_burst_of_guesses_for_one_email_is_throttled_with_retry_after(
    run: Running, world: World
) -> None:
    await _user(run, world)
    statuses = [(await _sign_in(run, "maria@a1.example", f"guess {n}"))[0] for n in range(7)]
    assert statuses[:5] == [401] * 5  # the free failures of this email from this address
    assert statuses[5:] == [429, 429]
    refused = await run.client.post("/v1/sessions", json={"email": "maria@a1.example", "password": PASSWORD})
    assert refused.status_code == 429  # even the right password waits: the guesser must not learn it
    assert int(refused.headers["retry-after"]) > 0


async def test_a_guesser_elsewhere_cannot_lock_a_user_out(run: Running, world: World) -> None:
    await _user(run, world)
    for n in range(20):
        await _sign_in(run, "maria@a1.example", f"guess {n}")  # a stranger at 203.0.113.7
    transport = httpx.ASGITransport(app=run.platform.app, client=("198.51.100.20", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as maria:
        mine = await maria.post("/v1/sessions", json={"email": "maria@a1.example", "password": PASSWORD})
    assert mine.status_code == 201  # Maria, from her own address, signs in all the same
