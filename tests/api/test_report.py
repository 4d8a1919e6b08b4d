"""The plan for a business, made through the API by its reseller from the business's call records."""

from datetime import UTC, datetime, timedelta

from tests.api.test_call_analysis import record
from tests.api.world import World
from tests.support.platform import Running
from voicegrid.analytics.rollup import record_deltas
from voicegrid.store.call_records import write_call_records


async def test_a_reseller_makes_the_plan_of_one_of_its_businesses_from_its_calls(
    run: Running, world: World
) -> None:
    biz = world.business_a1
    reseller_key = world.key("reseller", "viewer")
    path = f"/v1/businesses/{biz}/report"
    empty = await run.as_key(reseller_key, "GET", path)
    assert empty.status_code == 422
    assert "no call records" in empty.text
    calls = [record(n, biz, "agt_x", ["are you open tonight"]) for n in range(3)]
    await write_call_records(run.platform.services.sessions, calls, deltas=record_deltas)
    day = datetime(2026, 11, 20, tzinfo=UTC).date()
    made = await run.as_key(reseller_key, "GET", f"{path}?from={day}&to={day + timedelta(days=1)}")
    assert made.status_code == 200, made.text
    assert made.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in made.headers["content-security-policy"]
    assert "3 call records of A1" in made.text
    for section in (
        "answer",
        "how",
        "concurrency",
        "cost",
        "growing",
        "security",
        "rollout",
        "questions",
        "glossary",
    ):
        assert f'<section id="{section}">' in made.text
    own = await run.as_key(world.key("business", "owner"), "GET", path)
    assert own.status_code == 403  # the business's own keys read their figures in the dashboard
