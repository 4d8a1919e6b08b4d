"""`voicegrid report`: the plan as a document a non-engineer reads, opened in Chromium, printed as a PDF,
and held number by number to `voicegrid plan` and the price catalog."""

import json
import subprocess
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright
from pypdf import PdfReader

from tests.support.browser import ARGS, ARTIFACTS
from tests.support.serve import VOICEGRID, demo_call, env_without_voicegrid, serving
from voicegrid.catalog import load_catalog, rate
from voicegrid.report.facts import ASSUMED
from voicegrid.report.figures import CANDIDATES, usage_per_minute
from voicegrid.testing.ports import free_udp_and_tcp_port

SECTIONS = {
    "answer": "1. The answer on one page",
    "how": "2. How a call works",
    "concurrency": "3. Concurrency in plain words",
    "cost": "4. Cost",
    "growing": "5. Growing",
    "security": "6. Security and privacy",
    "rollout": "7. A step-by-step rollout plan",
    "questions": "8. Questions to settle",
    "glossary": "9. Glossary",
}
TABLES = ("table-answer", "table-latency", "table-needs", "table-rule", "table-cost", "table-selfhost",
          "table-growth", "table-plans", "table-rollout")  # fmt: skip
CHARTS = ("diagram-call", "chart-wait", "chart-cost")


def report(out: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [*VOICEGRID, "report", "--out", str(out), *args],
        env=env or env_without_voicegrid(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def figures(page: Page) -> dict[str, str]:
    found: dict[str, str] = page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('[data-figure]')]"
        ".map(e => [e.dataset.figure, e.dataset.value]))"
    )
    return found


def opened(chromium: str, html: Path, shot: str) -> tuple[dict[str, str], dict[str, object]]:
    """The document in Chromium: its figures, and what it shows of every section, table and chart."""
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1400})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(html.as_uri())
            page.screenshot(path=str(ARTIFACTS / f"{shot}-first-page.png"))
            page.screenshot(path=str(ARTIFACTS / f"{shot}-whole.png"), full_page=True)
            seen = {
                "titles": {s: page.text_content(f"section#{s} h2") for s in SECTIONS},
                "answers": {s: page.locator(f"section#{s} > p.answer").count() for s in SECTIONS},
                "tables": {t: page.locator(f"table#{t} tbody tr").count() for t in TABLES},
                "charts": {
                    c: (page.locator(f"svg#{c}").bounding_box() or {}).get("height", 0) for c in CHARTS
                },
                "marks": {
                    c: page.locator(f"svg#{c} rect, svg#{c} path, svg#{c} line").count() for c in CHARTS
                },
                "points": (page.get_attribute("svg#chart-wait path.series", "d") or "").count("L"),
                "errors": errors,
            }
            return figures(page), seen
        finally:
            browser.close()


def test_report_with_no_arguments_is_a_whole_document_that_renders_prints_and_matches_the_planner(
    chromium: str, tmp_path: Path
) -> None:
    out = tmp_path / "plan.html"
    report(out, "--pdf", "--bench-results", str(tmp_path / "no-results"))
    shown, seen = opened(chromium, out, "report")
    assert seen["titles"] == SECTIONS
    assert set(seen["answers"].values()) == {1}  # each part opens with its answer
    assert all(rows > 0 for rows in seen["tables"].values()), seen["tables"]
    assert all(height > 100 for height in seen["charts"].values()), seen["charts"]
    assert all(marks > 3 for marks in seen["marks"].values()), seen["marks"]
    assert int(str(seen["points"])) >= 10  # the waiting curve is drawn through its points
    assert seen["errors"] == []
    html = out.read_text()
    assert "<script" not in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing to fetch
    assert "assumptions" in html  # no figures given: labelled as such
    # Every number, against the planner's own command and the catalog, for the same inputs.
    calls, minutes, share = (
        ASSUMED[k][0] for k in ("calls_per_month", "mean_call_minutes", "peak_hour_share")
    )
    busy = calls / ASSUMED["days_per_month"][0] * share
    planned = json.loads(
        subprocess.run(
            [*VOICEGRID, "plan", "--calls-per-hour", str(busy), "--mean-call-s", str(minutes * 60), "--json"],
            env=env_without_voicegrid(), capture_output=True, text=True, timeout=60, check=True,
        ).stdout
    )  # fmt: skip
    assert float(shown["busy_hour_calls"]) == pytest.approx(busy)
    assert float(shown["offered_erlangs"]) == pytest.approx(planned["plan"]["offered_erlangs"], abs=1e-3)
    for name in ("concurrent_calls", "tts_slots", "llm_slots"):
        assert int(shown[name]) == planned["plan"][name], name
    assert shown["deepgram_plan"] == planned["deepgram_plan"]
    for advice in planned["tts_advice"]:
        assert int(shown[f"served:{advice['slots']}"]) == advice["served"]
    today = datetime.now(UTC).date()
    for stack in CANDIDATES:
        priced = rate(
            load_catalog(), usage_per_minute(stack), direction="inbound", answered_seconds=60, on=today
        )
        assert Decimal(shown[f"per_minute:{stack.name}"]) == priced.total, stack.name
        month = (priced.total * Decimal(str(calls * minutes))).quantize(Decimal("0.01"))
        assert Decimal(shown[f"monthly:{stack.name}"]) == month, stack.name
    assert shown["recommended_per_minute"] == shown[f"per_minute:{CANDIDATES[0].name}"]
    # The same document as a PDF: every section, in order, as text.
    text = "\n".join(p.extract_text() for p in PdfReader(tmp_path / "plan.pdf").pages)
    at = [text.find(title) for title in SECTIONS.values()]
    assert all(i >= 0 for i in at), [t for t, i in zip(SECTIONS.values(), at, strict=True) if i < 0]
    assert at == sorted(at)
    assert "Questions to settle" in text
    assert "Glossary" in text


def test_from_records_uses_the_demo_calls_real_figures(chromium: str, tmp_path: Path) -> None:
    data, sip = tmp_path / "var", free_udp_and_tcp_port()
    with serving(data, "--demo", sip_port=sip) as (_url, _log):
        demo_call(data, sip, "are you open at nine pm", "thank you, bye")
    out = tmp_path / "records.html"
    report(out, "--from-records", "--data-dir", str(data))
    shown, seen = opened(chromium, out, "report-records")
    assert seen["titles"] == SECTIONS
    html = out.read_text()
    assert "1 call record of Bella Pizza" in html
    assert "Acme Voice" in html  # the reseller's branding
    assert "Embedded (offline, free)" in html  # the stack the demo runs today
    assert float(shown["busy_hour_calls"]) == pytest.approx(1.0)  # one call in its busiest hour
    # Without records, in a reseller's branding: the demo's reseller, figures as assumptions.
    branded = tmp_path / "branded.html"
    reseller = json.loads((data / "demo.json").read_text())["reseller_id"]
    report(branded, "--reseller", reseller, "--data-dir", str(data))
    html = branded.read_text()
    assert "Acme Voice: the plan" in html
    assert "assumptions" in html
