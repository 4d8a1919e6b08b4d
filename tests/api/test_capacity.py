"""Capacity through the API: provider plan limits (stated by the platform, applied at once), the
backend's state, and Prometheus metrics; none of it for tenants."""

import json

from hypothesis import given
from hypothesis import strategies as st

from tests.api.world import World
from tests.support.platform import Running
from voicegrid.api.routes.capacity import ProviderLimit
from voicegrid.pipeline.provider_limits import plan_of


async def test_the_platform_states_provider_limits_and_the_pools_in_use_follow(
    run: Running, world: World
) -> None:
    defaults = await run.ok("GET", "/v1/capacity/provider-limits")
    assert {
        "stage": "tts",
        "provider": "deepgram",
        "slots": 45,
        "rpm": None,
        "tpm": None,
        "weights": {},
        "minimums": {},
    } in defaults["limits"]
    plan = {
        "limits": [
            {
                "stage": "tts",
                "provider": "deepgram",
                "slots": 60,
                "weights": {world.business_a1: 2},
                "minimums": {world.business_b1: 5},
            },
            {"stage": "llm", "provider": "openai", "rpm": 500, "tpm": 200_000},
        ]
    }
    stated = await run.ok("PUT", "/v1/capacity/provider-limits", json=plan)
    assert [(x["stage"], x["provider"], x["slots"], x["tpm"]) for x in stated["limits"]] == [
        ("llm", "openai", None, 200_000),
        ("tts", "deepgram", 60, None),
    ]
    assert (await run.ok("GET", "/v1/capacity/provider-limits")) == stated  # stored
    capacity = await run.ok("GET", "/v1/capacity")
    assert (capacity["backend"], capacity["degraded"], capacity["outbound_queue"]) == ("memory", False, 0)


async def test_provider_limits_that_cannot_hold_are_refused_with_the_reason(run: Running) -> None:
    bad = {"limits": [{"stage": "tts", "provider": "deepgram", "slots": 4, "minimums": {"biz_x": 5}}]}
    response = await run.admin("PUT", "/v1/capacity/provider-limits", json=bad)
    assert response.status_code == 422
    assert "may not exceed" in response.text
    zero_weight = {"limits": [{"stage": "tts", "provider": "deepgram", "slots": 4, "weights": {"biz_x": 0}}]}
    assert (await run.admin("PUT", "/v1/capacity/provider-limits", json=zero_weight)).status_code == 422


async def test_metrics_speak_prometheus_to_the_platform_and_nobody_else(run: Running, world: World) -> None:
    response = await run.admin("GET", "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE voicegrid_admission_rejections_total counter" in response.text
    assert "# TYPE voicegrid_provider_slot_wait_seconds histogram" in response.text
    for scope in ("business", "reseller"):
        assert (await run.as_key(world.key(scope, "owner"), "GET", "/metrics")).status_code == 403


@given(
    stage=st.sampled_from(["stt", "llm", "tts"]),
    provider=st.sampled_from(["deepgram", "openai", "elevenlabs"]),
    slots=st.one_of(st.none(), st.integers(200, 100_000)),
    rpm=st.one_of(st.none(), st.integers(1, 10_000_000)),
    tpm=st.one_of(st.none(), st.integers(1, 10**10)),
    weights=st.dictionaries(st.text(min_size=1, max_size=8), st.floats(0.01, 1000), max_size=3),
    minimums=st.dictionaries(st.text(min_size=1, max_size=8), st.integers(0, 50), max_size=3),
)
def test_limits_stored_by_the_api_are_read_back_by_a_starting_node_as_the_same_plan(
    stage: str,
    provider: str,
    slots: int | None,
    rpm: int | None,
    tpm: int | None,
    weights: dict[str, float],
    minimums: dict[str, int],
) -> None:
    # a node reads the stored limits without the API's models (before its REST API is loaded)
    fields = {"stage": stage, "provider": provider, "slots": slots, "rpm": rpm, "tpm": tpm}
    limit = ProviderLimit.model_validate(
        {**fields, "weights": weights, "minimums": minimums if slots is not None else {}}
    )
    stored = json.loads(json.dumps([limit.model_dump()]))
    assert dict([plan_of(stored[0])]) == {(stage, provider): limit.plan()}
