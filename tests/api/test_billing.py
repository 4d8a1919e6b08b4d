"""Money through the API: a stored call re-rated under two catalog versions, a reseller's markup in
the billable total, a business's negotiated rates, and price versions published by the platform."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.api.world import World
from tests.support.platform import Running
from voicegrid.analytics import CallFacts, build_record
from voicegrid.catalog import load_catalog, rate
from voicegrid.store.call_records import write_call_records

USAGE = [
    {"stage": "stt", "provider": "deepgram", "model": "nova-3", "audio_seconds": 170.0},
    {"stage": "llm", "provider": "openai", "model": "gpt-4o-mini", "tokens_in": 30_000, "tokens_out": 1_200},
    {"stage": "tts", "provider": "elevenlabs", "model": "eleven_flash_v2_5", "characters": 2_400},
]


async def stored_call(run: Running, business_id: str) -> str:
    start = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    facts = CallFacts(
        id="call_billing_1", sip_call_id="1@test", direction="outbound", business_id=business_id,
        agent_id=None, from_number="+15550001", to="+15557770000", trunk_id=None, node=None,
        created_at=start, answered_at=start + timedelta(seconds=5), ended_at=start + timedelta(seconds=185),
        outcome="completed", ended_by="agent",
    )  # fmt: skip
    cost = rate(load_catalog(), USAGE, direction="outbound", answered_seconds=180)
    record = build_record(facts, {"usage": USAGE, "transcript": [], "turns": []}, cost).document()
    await write_call_records(run.platform.services.sessions, [record])
    return facts.id


async def test_a_stored_call_is_re_rated_under_two_catalog_versions_and_the_resellers_markup_is_billed(
    run: Running, world: World
) -> None:
    call_id = await stored_call(run, world.business_a1)
    base = f"/v1/businesses/{world.business_a1}/calls/{call_id}"
    listed = await run.ok("GET", f"/v1/businesses/{world.business_a1}/calls?direction=outbound")
    assert [c["id"] for c in listed["items"]] == [call_id]
    stored = await run.ok("GET", base)
    assert stored["cost"]["catalog_version"] == "2026-11"
    now = await run.ok("GET", f"{base}/cost")
    then = await run.ok("GET", f"{base}/cost?catalog_version=2025-09")
    assert now == stored["cost"]
    assert then["total"] > now["total"]  # Deepgram's regular price, ElevenLabs' older listing
    assert {i["component"]: i["unit_price"] for i in then["items"]}["stt"] == 0.0077
    assert (await run.admin("GET", f"{base}/cost?catalog_version=1999")).status_code == 404

    await run.ok(
        "PUT", f"/v1/resellers/{world.reseller_a}/markup", json={"percent": "20", "per_minute": "0.01"}
    )
    billed = await run.ok("GET", f"{base}/cost")
    assert billed["total"] == now["total"]
    assert Decimal(str(billed["billable_total"])) == (
        Decimal(str(now["total"])) * Decimal("1.2") + Decimal("0.03")
    ).quantize(Decimal("0.000001"))
    reseller_key = world.key("reseller", "admin")
    refused = await run.as_key(
        reseller_key, "PUT", f"/v1/resellers/{world.reseller_a}/markup", json={"percent": "0"}
    )
    assert refused.status_code == 403  # a reseller does not set its own markup
    assert (await run.ok("GET", f"/v1/resellers/{world.reseller_a}/markup", reseller_key))["percent"] == "20"


async def test_negotiated_rates_and_published_versions_price_the_calls_that_follow(
    run: Running, world: World
) -> None:
    call_id = await stored_call(run, world.business_a1)
    base = f"/v1/businesses/{world.business_a1}"
    rates = {
        "rates": [{"component": "tts", "provider": "elevenlabs", "unit": "1k_chars", "unit_price": "0.02"}]
    }
    await run.ok("PUT", f"{base}/rates", world.key("reseller", "admin"), json=rates)
    cost = await run.ok("GET", f"{base}/calls/{call_id}/cost")
    tts = next(i for i in cost["items"] if i["component"] == "tts")
    assert (tts["unit_price"], tts["amount"]) == (0.02, pytest.approx(0.048))
    bad = {"rates": [{"component": "tts", "provider": "elevenlabs", "unit": "1k_chars", "unit_price": 0.02}]}
    refused = await run.admin("PUT", f"{base}/rates", json=bad)
    assert refused.status_code == 422
    assert "rates[0]" in refused.text
    assert (
        await run.as_key(world.key("business", "owner"), "PUT", f"{base}/rates", json=rates)
    ).status_code == 403

    version = {
        "version": "2027-01",
        "effective": "2027-01-01",
        "items": [
            {
                "component": "stt",
                "provider": "deepgram",
                "unit": "minute",
                "unit_price": "0.004",
                "source": "contract",
            }
        ],
    }
    published = await run.ok("POST", "/v1/catalog/versions", json=version)
    assert [v["version"] for v in published["versions"]] == ["2025-09", "2026-11", "2027-01"]
    assert (
        await run.admin("POST", "/v1/catalog/versions", json=version)
    ).status_code == 422  # names do not repeat
    assert (await run.ok("GET", f"{base}/calls/{call_id}/cost"))[
        "catalog_version"
    ] == "2026-11"  # the call's day
    newest = await run.ok("GET", f"{base}/calls/{call_id}/cost?catalog_version=2027-01")
    assert newest["catalog_version"] == "2027-01"
    assert {i["component"]: i["unit_price"] for i in newest["items"]}["stt"] == 0.004
    assert {i["component"]: i.get("unpriced") for i in newest["items"]}["llm"] is True  # a gap shows
    catalog = await run.ok("GET", "/v1/catalog", world.key("business", "viewer"))
    assert catalog["versions"][-1]["items"][0]["source"] == "contract"


async def test_a_business_admin_sets_retention_and_masking_and_bad_values_are_refused(
    run: Running, world: World
) -> None:
    path = f"/v1/businesses/{world.business_a1}/privacy"
    assert await run.ok("GET", path, world.key("business", "viewer")) == {
        "retention_days": None,
        "mask_pii": False,
    }
    body = {"retention_days": 90, "mask_pii": True}
    assert await run.ok("PUT", path, world.key("business", "admin"), json=body) == body
    assert (await run.as_key(world.key("business", "member"), "PUT", path, json=body)).status_code == 403
    assert (await run.admin("PUT", path, json={"retention_days": 0})).status_code == 422
    assert await run.ok("GET", path) == body


async def test_a_business_admin_points_call_events_at_a_url_and_reads_the_key_that_signs_them(
    run: Running, world: World
) -> None:
    path = f"/v1/businesses/{world.business_a1}/webhook"
    admin = world.key("business", "admin")
    set_ = await run.ok("PUT", path, admin, json={"url": "https://hooks.example.com/calls"})
    assert (set_["url"], set_["events"]) == (
        "https://hooks.example.com/calls",
        ["call.started", "call.ended", "call.analyzed"],
    )
    key = bytes.fromhex(set_["signing_key"])
    assert len(key) == 32
    assert (await run.ok("GET", path, admin))["signing_key"] == set_["signing_key"]  # stable
    other = await run.ok("GET", f"/v1/businesses/{world.business_a2}/webhook")
    assert other["signing_key"] != set_["signing_key"]  # one key per business
    assert (
        await run.as_key(world.key("business", "member"), "GET", path)
    ).status_code == 403  # the key is secret
    assert (await run.as_key(admin, "PUT", path, json={"url": "ftp://x"})).status_code == 422


async def test_each_provider_choice_has_a_price_per_minute_from_the_catalog_and_embedded_ones_cost_nothing(
    run: Running,
) -> None:
    prices = await run.ok("GET", "/v1/catalog/per-minute")
    by = {(p["stage"], p["provider"], p["model"]): Decimal(p["per_minute"]) for p in prices["items"]}
    # one minute: 60 s heard at $0.0048; 6,000 tokens in at $0.15/M and 250 out at $0.60/M; 450 characters
    assert by[("stt", "deepgram", "nova-3*")] == Decimal("0.0048")
    assert by[("llm", "openai", "gpt-4o-mini*")] == Decimal("0.00105")
    assert by[("tts", "deepgram", "*")] == Decimal("0.0135")
    assert by[("stt", "pocketsphinx", "*")] == by[("tts", "espeak-ng", "*")] == 0
    assert ("tts", "pocketsphinx", "*") not in by  # only a stage's own providers
    assert {p["stage"] for p in prices["items"]} == {"stt", "llm", "tts"}  # no carrier minutes here
