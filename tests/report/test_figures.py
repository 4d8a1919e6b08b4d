"""The report's figures from inputs, records and bench summaries; what a tenant names is escaped."""

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from voicegrid.capacity import planning
from voicegrid.catalog import load_catalog
from voicegrid.report import Branding, Inputs, build
from voicegrid.report.facts import ASSUMED
from voicegrid.report.figures import CANDIDATES
from voicegrid.report.sources import SHIPPED_DENSITY, density, from_records

ON = date(2026, 12, 2)


def inputs(**given: Any) -> Inputs:
    values = {"calls_per_month": 90_000.0, "mean_call_minutes": 4.0, "peak_hour_share": 0.12, **given}
    return Inputs(**values)


def test_the_busy_hour_is_sized_as_the_planner_sizes_it_and_growth_follows_the_measured_density() -> None:
    figures, _ = build(inputs(), load_catalog(), ON, results=None)
    busy = 90_000 / 30 * 0.12
    assert figures.busy_hour_calls == pytest.approx(busy)
    assert figures.plan == planning.plan(calls_per_hour=busy, mean_call_s=240)
    assert figures.minutes_per_month == 360_000
    per_core = SHIPPED_DENSITY[0]
    assert figures.calls_per_core == per_core
    at_1000 = figures.growth[2]
    assert at_1000.cores == -(-1000 // per_core)
    per_server = per_core * ASSUMED["cores_per_server"][0] * ASSUMED["server_headroom"][0]
    assert at_1000.servers == -(-1000 // per_server)
    assert "Kamailio" in at_1000.nodes_layout
    assert figures.growth[0].servers == 1


def test_every_stack_is_compared_on_the_carrier_of_today() -> None:
    today = replace(CANDIDATES[1], carrier="twilio")
    figures, _ = build(inputs(today=today), load_catalog(), ON)
    assert {c.stack.carrier for c in figures.costs} == {"twilio"}
    assert len(figures.costs) == len(CANDIDATES)  # today's stack is one of them, listed once
    assert figures.today.stack == today
    assert figures.recommended.stack.name == CANDIDATES[0].name


def test_the_newest_passing_bench_summary_gives_the_density(tmp_path: Path) -> None:
    (tmp_path / "load-old.json").write_text(
        json.dumps({"date": "2026-01-01", "calls_per_core": 100, "best_n": 50})
    )
    (tmp_path / "load-new.json").write_text(
        json.dumps({"date": "2026-06-01", "calls_per_core": 180, "best_n": 100})
    )
    (tmp_path / "load-failed.json").write_text(
        json.dumps({"date": "2026-09-01", "calls_per_core": None, "best_n": None})
    )
    (tmp_path / "load-broken.json").write_text("{not json")
    per_core, source = density(tmp_path)
    assert per_core == 180
    assert "load-new.json" in source
    assert density(tmp_path / "missing") == SHIPPED_DENSITY


def _record(n: int, at: datetime, seconds: float, providers: tuple[str, str, str]) -> dict[str, Any]:
    stt, llm, tts = providers
    return {
        "id": f"c{n}",
        "created_at": at.isoformat(),
        "answered_at": at.isoformat(),
        "answered_s": seconds,
        "direction": "inbound",
        "transport": "sip",
        "usage": [
            {"stage": "stt", "provider": stt},
            {"stage": "llm", "provider": llm},
            {"stage": "tts", "provider": tts},
        ],
        "latency": {"turns": [{"voice_to_voice_ms": 900.0 + n}]},
        "cost": {"total": 0.01},
    }


def test_records_give_the_month_the_mean_call_the_busiest_hour_and_the_stack() -> None:
    start = datetime(2026, 11, 1, 9, tzinfo=UTC)
    embedded = ("pocketsphinx", "knowledge-base", "espeak-ng")
    records = [_record(n, start + timedelta(minutes=n), 120.0, embedded) for n in range(3)]  # one hour
    records += [_record(10 + n, start + timedelta(days=1, hours=n), 240.0, embedded) for n in range(7)]
    found = from_records(records, days=2.0, source="records", business="Bella")
    assert found.calls_per_month == pytest.approx(10 * 30 / 2)
    assert found.mean_call_minutes == pytest.approx((3 * 2 + 7 * 4) / 10)
    assert found.peak_hour_share == pytest.approx(3 / 5)  # 3 calls in the busiest hour of a 5-call day
    assert found.today.name == "Embedded (offline, free)"
    assert found.measured["calls"] == 10
    with pytest.raises(ValueError, match="no call records"):
        from_records([], days=1.0, source="none", business=None)


def test_what_a_tenant_names_reaches_the_document_escaped() -> None:
    hostile = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    brand = Branding(product=hostile, primary="red;}</style><script>x()</script>", support_email=hostile)
    _, html = build(inputs(business=hostile, source=hostile), load_catalog(), ON, brand=brand)
    assert "<script" not in html
    assert "<img" not in html
    assert "--primary:#2563eb" in html  # a colour that is not one falls back to the default
