"""Read the database's own files, byte for byte, and find no provider secret, password or API key."""

import asyncio
from pathlib import Path

import asyncpg
from sqlalchemy import text

from tests.api.world import World
from tests.support.platform import ADMIN_KEY, Running

CLEAR_MARKER = "credential-name-stored-in-clear-7731"
SECRETS = {
    "deepgram": "dg-4f3c2b1a0987654321fedcba-PLAINTEXT",
    "trunk_in": "trunk-inbound-PLAINTEXT-pass",
    "trunk_out": "trunk-outbound-PLAINTEXT-pass",
    "user_password": "user-password-PLAINTEXT",
}


async def _store_secrets(run: Running, world: World) -> list[str]:
    base = f"/v1/businesses/{world.business_a1}"
    await run.ok(
        "POST",
        f"{base}/credentials",
        json={"name": CLEAR_MARKER, "provider": "deepgram", "secret": SECRETS["deepgram"]},
    )
    await run.ok(
        "POST",
        f"{base}/trunks",
        json={
            "name": "carrier",
            "inbound_username": "u",
            "inbound_password": SECRETS["trunk_in"],
            "outbound_host": "sip.example.net",
            "outbound_username": "o",
            "outbound_password": SECRETS["trunk_out"],
        },
    )
    await run.ok(
        "POST",
        f"{base}/users",
        json={"email": "x@example.com", "role": "viewer", "password": SECRETS["user_password"]},
    )
    new_key = (await run.ok("POST", f"{base}/api-keys", json={"role": "admin"}))["key"]
    return [*SECRETS.values(), new_key, ADMIN_KEY, *world.keys.values()]


def _files_containing(paths: list[Path], needles: list[str]) -> list[str]:
    found = []
    for path in paths:
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # PostgreSQL drops some files as it runs (pg_internal.init, temp files)
            continue
        found += [f"{needle} in {path.name}" for needle in needles if needle.encode() in data]
    return found


async def test_no_secret_or_key_is_stored_in_plaintext(
    run: Running, world: World, engine_name: str, request
) -> None:  # type: ignore[no-untyped-def]
    needles = await _store_secrets(run, world)
    assert len(needles) >= 17
    engine = run.platform.engine
    if engine_name == "sqlite":
        async with engine.connect() as conn:
            await conn.execute(text("PRAGMA wal_checkpoint(FULL)"))
        db_path = Path(str(engine.url.database))
        files = [p for p in db_path.parent.iterdir() if p.name.startswith(db_path.name)]
    else:
        server = request.getfixturevalue("postgres")
        conn = await asyncpg.connect(host="127.0.0.1", port=server.port, user="postgres", database="postgres")
        try:
            await conn.execute("CHECKPOINT")
        finally:
            await conn.close()
        files = [p for p in server.datadir.rglob("*") if p.is_file()]
    assert files
    # The scan checks itself: the credential's name, stored in clear beside its secret, is found.
    assert await asyncio.to_thread(_files_containing, files, [CLEAR_MARKER]) != []
    found = await asyncio.to_thread(_files_containing, files, needles)
    assert found == []
