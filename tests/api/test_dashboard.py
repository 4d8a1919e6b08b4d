"""What the dashboard reads: its page and files (served by us, plotly.js from its wheel), the live view
of a business's calls and capacity, and aggregates as CSV files."""

import csv
import hashlib
import io
import json
import re
from importlib import resources

import pytest

from tests.api.test_analytics import record
from tests.api.world import World
from tests.support.platform import Running
from voicegrid.analytics.rollup import record_deltas
from voicegrid.api.routes.dashboard import STATIC, plotly_version
from voicegrid.store.call_records import write_call_records
from voicegrid.telephony.book import CallState


async def test_the_page_loads_only_from_its_own_origin_and_names_plotly_by_version(run: Running) -> None:
    page = await run.client.get("/")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    version = plotly_version()
    assert f'src="/dashboard/vendor/plotly-{version}.min.js"' in page.text
    assert "http://" not in page.text
    assert "https://" not in page.text  # no CDN, no outside font
    assert re.search(r"vg_[\w-]{16,}", page.text) is None  # no key in the page


async def test_plotly_comes_from_the_installed_wheel_gzipped_and_cached_by_etag(run: Running) -> None:
    path = f"/dashboard/vendor/plotly-{plotly_version()}.min.js"
    shipped = (resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()
    zipped = await run.client.get(path, headers={"Accept-Encoding": "gzip"})
    assert zipped.status_code == 200
    assert zipped.headers["content-encoding"] == "gzip"
    assert "max-age=31536000" in zipped.headers["cache-control"]
    assert zipped.content == shipped  # httpx unzips: the same bytes as the wheel's
    assert int(zipped.headers["content-length"]) < len(shipped) / 2
    plain = await run.client.get(path, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == shipped
    again = await run.client.get(path, headers={"If-None-Match": zipped.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert (await run.client.get("/dashboard/vendor/plotly-0.0.1.min.js")).status_code == 404


async def test_the_dashboard_serves_its_script_and_styles_and_nothing_else_from_its_folder(
    run: Running,
) -> None:
    script = await run.client.get("/dashboard/app.js", headers={"Accept-Encoding": "gzip"})
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "textContent" in script.text
    assert "innerHTML" not in script.text  # API text never becomes markup
    assert (await run.client.get("/dashboard/app.css")).headers["content-type"].startswith("text/css")
    for name in ("index.html", "..%2Fapp.py", "app.js.map"):
        assert (await run.client.get(f"/dashboard/{name}")).status_code in (404, 422), name


async def test_live_lists_the_business_calls_not_yet_ended_and_the_capacity_it_uses(
    run: Running, world: World
) -> None:
    biz = world.business_a1
    base = f"/v1/businesses/{biz}"
    await run.ok("PUT", f"{base}/limits", json={"max_concurrent_calls": 5, "monthly_minutes": 1000})
    trunk = {"name": "out", "outbound_host": "127.0.0.1", "outbound_port": 5099, "caller_ids": ["+15550000"]}
    await run.ok("POST", f"{base}/trunks", json=trunk)
    agent = (await run.ok("POST", f"{base}/agents", json={"name": "dialer"}))["id"]
    calls = [
        await run.ok("POST", f"{base}/calls", json={"agent_id": agent, "to": f"+1555777000{n}"})
        for n in range(2)
    ]
    live = await run.ok("GET", f"{base}/calls/live")
    assert [c["id"] for c in live["calls"]] == [calls[1]["id"], calls[0]["id"]]  # newest first
    assert live["max_concurrent_calls"] == 5
    assert live["monthly_minutes"] == 1000
    assert live["in_use"] == 2  # the admission leases, as the capacity backend counts them
    assert live["minutes_this_month"] >= 0
    own = await run.ok("GET", "/v1/calls/live", key=world.key("business", "viewer"))
    assert [c["id"] for c in own["calls"]] == [calls[1]["id"], calls[0]["id"]]
    ended = run.platform.services.calls
    assert ended is not None
    ended.control.book.by_id[calls[0]["id"]].state = CallState.ENDED  # as the peer's 487 would leave it
    after = await run.ok("GET", f"{base}/calls/live")
    assert [c["id"] for c in after["calls"]] == [calls[1]["id"]]
    other = await run.ok("GET", f"/v1/businesses/{world.business_a2}/calls/live")
    assert other["calls"] == []
    assert other["in_use"] == 0


@pytest.mark.parametrize("group_by", ["day", "agent", "total"])
async def test_aggregates_download_as_csv_with_nested_figures_as_their_own_columns(
    run: Running, world: World, group_by: str
) -> None:
    biz = world.business_a1
    records = [record(n, biz, 20 + n % 2, "agt_a" if n < 3 else "=agt_b", [800.0 + n]) for n in range(5)]
    await write_call_records(run.platform.services.sessions, records, deltas=record_deltas)
    base = f"/v1/businesses/{biz}/analytics"
    query = f"from=2026-11-01&to=2026-11-30&group_by={group_by}"
    as_json = (await run.ok("GET", f"{base}/calls?{query}"))["rows"]
    response = await run.admin("GET", f"{base}/calls?{query}&format=csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert (
        f'filename="calls-by-{group_by}-2026-11-01-2026-11-30.csv"' in response.headers["content-disposition"]
    )
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == len(as_json)
    for line, row in zip(rows, as_json, strict=True):
        assert int(line["calls"]) == row["calls"]
        assert float(line["cost"]) == pytest.approx(row["cost"])
        assert float(line["p95.voice_to_voice_ms"]) == pytest.approx(row["p95"]["voice_to_voice_ms"])
        assert int(line["outcomes.completed"]) == row["outcomes"]["completed"]
    if group_by == "agent":
        assert [r["agent"] for r in rows] == ["'=agt_b", "agt_a"]  # a formula-like id stays text


async def test_provider_aggregates_download_as_csv(run: Running, world: World) -> None:
    biz = world.business_a1
    await write_call_records(
        run.platform.services.sessions,
        [record(n, biz, 20, "agt_a", [900.0]) for n in range(3)],
        deltas=record_deltas,
    )
    response = await run.admin(
        "GET", f"/v1/businesses/{biz}/analytics/providers?from=2026-11-01&to=2026-11-30&format=csv"
    )
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert {(r["stage"], r["provider"]) for r in rows} == {
        ("stt", "deepgram"),
        ("llm", "openai"),
        ("tts", "deepgram"),
        ("telephony", "sip"),
    }
    assert all(int(r["calls"]) == 3 for r in rows)
    assert "wait_ms_p95" in rows[0]


async def test_the_component_library_is_served_from_our_origin_as_make_setup_checked_it(run: Running) -> None:
    manifest = json.loads((STATIC.parent / "vendor.json").read_text())
    digests = json.loads((STATIC / "vendor" / "digests.json").read_text())
    assert digests["manifest"] == json.dumps(manifest, sort_keys=True)  # fetched for these pins
    for name in ("preact.mjs", "hooks.mjs", "htm.mjs"):
        served = await run.client.get(f"/dashboard/lib/{name}")
        assert served.status_code == 200, name
        assert served.headers["content-type"].startswith("text/javascript")
        assert hashlib.sha256(served.content).hexdigest() == digests["files"][name]
    hooks = (await run.client.get("/dashboard/lib/hooks.mjs")).text
    assert 'from"./preact.mjs"' in hooks  # no bare import: the browser needs no import map
    for name in ("agents.mjs", "numbers.mjs", "common.mjs"):
        page = await run.client.get(f"/dashboard/ui/{name}")
        assert page.status_code == 200
        assert "innerHTML" not in page.text  # dangerouslySetInnerHTML included
    for bad in ("digests.json", "..%2F..%2Fapp.py", "preact.LICENSE.txt", "plotly.min.js"):
        assert (await run.client.get(f"/dashboard/lib/{bad}")).status_code in (404, 422), bad
        assert (await run.client.get(f"/dashboard/ui/{bad}")).status_code in (404, 422), bad
