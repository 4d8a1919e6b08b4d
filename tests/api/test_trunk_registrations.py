"""Trunk registrations follow the database: started for flagged trunks, stopped when one is disabled."""

from tests.api.world import World
from tests.support.platform import Running
from voicegrid.telephony.registrations import TrunkRegistrations


async def test_registrations_start_for_flagged_trunks_and_stop_when_one_is_disabled(
    run: Running, world: World
) -> None:
    services = run.platform.services
    assert services.calls is not None
    assert services.calls.control is not None
    control = services.calls.control
    registrations = TrunkRegistrations(control, services.sessions, services.secrets)
    base = f"/v1/businesses/{world.business_a1}/trunks"
    trunk = await run.ok(
        "POST",
        base,
        json={
            "name": "registering",
            "outbound_host": "sip.carrier.example",
            "outbound_username": "acct",
            "outbound_password": "s3cret-pass",
            "register_with_carrier": True,
        },
    )
    await run.ok("POST", base, json={"name": "plain", "outbound_host": "sip.other.example"})
    await registrations.sync()
    assert list(registrations.active) == [trunk["id"]]
    want, registration = registrations.active[trunk["id"]]
    assert (want.aor, want.username, want.password) == ("sip:acct@sip.carrier.example", "acct", "s3cret-pass")
    assert registration.state == "registering"
    await run.ok("PATCH", f"{base}/{trunk['id']}", json={"outbound_password": "rotated-pass"})
    await registrations.sync()
    assert registrations.active[trunk["id"]][1] is not registration  # new credentials: registered anew
    await run.ok("PATCH", f"{base}/{trunk['id']}", json={"enabled": False})
    await registrations.sync()
    assert registrations.active == {}
