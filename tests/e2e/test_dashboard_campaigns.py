"""The dashboard's Campaigns page in Debian Chromium (Playwright), against `voicegrid serve --demo`
and SIPp as the carrier: a campaign is made from a CSV file (with the report of a refused row),
started, paused, resumed, watched until it finishes, and exported."""

import json
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import sync_playwright

from tests.e2e.test_campaign_restart import _midday_zone, _wait
from tests.e2e.test_dashboard import _ready
from tests.support.browser import ARGS, ARTIFACTS
from tests.support.carrier import start_quiet_carrier
from tests.support.serve import env_without_voicegrid, serving
from voicegrid.testing.ports import stop_process


def _results(campaign_url: str, key: str) -> dict[str, Any]:
    got = httpx.get(campaign_url, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert got.status_code == 200, got.text
    results: dict[str, Any] = got.json()["results"]
    return results


def test_a_campaign_is_made_from_a_csv_file_run_and_exported_from_the_dashboard(
    chromium: str, tmp_path: Path
) -> None:
    _, carrier_port, carrier = start_quiet_carrier(tmp_path)
    zone = _midday_zone()
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(
        f"number,name,timezone\n+12125551000,Ann,{zone}\nnot a number,Bob,\n+12125551001,Cy,{zone}\n"
    )
    data = tmp_path / "var"
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    try:
        with serving(data, "--demo", env=env_without_voicegrid()) as (url, _log):
            demo = json.loads((data / "demo.json").read_text())
            key = demo["api_key"]
            trunk = {"name": "carrier", "outbound_host": "127.0.0.1", "outbound_port": carrier_port,
                     "caller_ids": ["+12125550100"]}  # fmt: skip
            made = httpx.post(
                f"{url}/v1/trunks", json=trunk, headers={"Authorization": f"Bearer {key}"}, timeout=10
            )
            assert made.status_code == 201, made.text
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=ARGS)
                try:
                    page = browser.new_page(viewport={"width": 1360, "height": 1000})
                    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
                    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                    page.goto(f"{url}/#/campaigns")
                    page.click("#tab-key")
                    page.fill("#api-key", key)
                    page.click("#form-key button[type=submit]")
                    _ready(page, "campaigns")
                    assert "No campaign yet." in (page.text_content("#page") or "")
                    page.fill("#campaign-name", "Order reminders")
                    page.select_option("#campaign-agent", demo["agent_id"])
                    page.fill("#campaign-concurrent", "2")
                    page.set_input_files("#campaign-file", str(contacts))
                    # every day, so that the test holds on a weekend too; first a window that ends
                    # before it starts, which the API refuses in words a person reads
                    page.fill("#campaign-opens", "08:00")
                    page.fill("#campaign-closes", "07:00")
                    page.check("#campaign-day-5")
                    page.check("#campaign-day-6")
                    page.click("#campaign-form button[type=submit]")
                    page.wait_for_function("() => document.getElementById('page-error')?.textContent")
                    assert page.text_content("#page-error") == (
                        "window: the window must end after it starts (local time, the same day)"
                    )
                    page.screenshot(path=str(ARTIFACTS / "dashboard-campaign-form.png"), full_page=True)
                    page.fill("#campaign-closes", "20:00")
                    page.click("#campaign-form button[type=submit]")
                    _ready(page, "campaign")
                    report = page.text_content("#import-report") or ""
                    assert "2 contacts taken, 1 refused" in report
                    assert "not a number" in report
                    assert page.text_content("#campaign-state") == "draft"
                    assert page.text_content("#campaign-window") == "Mon-Sun 08:00-20:00"
                    assert page.text_content("#kpi-waiting .value") == "2"

                    page.fill("#campaign-at", "2030-01-02T09:30")  # the browser's local time
                    page.click("#schedule-form button[type=submit]")
                    page.wait_for_function(
                        "() => document.getElementById('campaign-state')?.textContent === 'scheduled'"
                    )
                    _ready(page, "campaign")
                    assert page.evaluate("() => new Date(2030, 0, 2, 9, 30).toLocaleString()") == (
                        page.text_content("#campaign-starts")
                    )
                    page.screenshot(path=str(ARTIFACTS / "dashboard-campaign-scheduled.png"), full_page=True)
                    page.click("#campaign-start")  # now, not then
                    page.wait_for_function(
                        "() => document.getElementById('campaign-state')?.textContent === 'running'"
                    )
                    page.click("#campaign-pause")
                    page.wait_for_function(
                        "() => document.getElementById('campaign-state')?.textContent === 'paused'"
                    )
                    _ready(page, "campaign")
                    page.fill("#change-concurrent", "1")  # paused: its settings may change
                    assert page.is_checked("#change-day-6")
                    page.click("#change-form button[type=submit]")
                    page.wait_for_function(
                        "() => document.querySelector('#kpi-concurrent .value')?.textContent === '1'"
                    )
                    page.click("#campaign-resume")
                    page.wait_for_function(
                        "() => document.getElementById('campaign-state')?.textContent === 'finished'",
                        timeout=60_000,
                    )
                    _ready(page, "campaign")
                    assert page.text_content("#kpi-done .value") == "2"
                    # the calls' records are stored as they end: once both are, the page sums them
                    one = f"{url}/v1/campaigns/{page.url.split('#/campaigns/')[1]}"
                    # and analysed (the demo agent's plan) a moment later
                    results = _wait(
                        lambda: (r := _results(one, key))["calls"] == r["analyzed"] == 2 and r,
                        "both calls' records, analysed",
                    )
                    page.reload()
                    _ready(page, "campaign")
                    assert page.text_content("#kpi-answered .value") == "2 of 2"
                    assert (page.text_content("#kpi-cost .value") or "").startswith("$")
                    per_success = page.text_content("#kpi-cost-per-success .value") or ""
                    if results["succeeded"]:
                        assert per_success.startswith("$"), per_success
                    else:
                        assert per_success == "\u2013", per_success  # the dashboard's dash for none
                    assert page.locator("#chart-outcomes .main-svg").count() > 0
                    page.screenshot(path=str(ARTIFACTS / "dashboard-campaign.png"), full_page=True)
                    with page.expect_download() as download:
                        page.click("text=Export CSV")
                    exported = Path(download.value.path()).read_text()
                    assert exported.splitlines()[0].startswith("row,number,name,timezone,state,outcome")
                    assert "+12125551000,Ann" in exported
                    assert ",done,answered,1," in exported
                    page.click("nav a[data-page=campaigns]")
                    _ready(page, "campaigns")
                    assert "Order reminders" in (page.text_content("#page") or "")
                finally:
                    browser.close()
    finally:
        stop_process(carrier)
    refused = "Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"
    assert errors == [refused]  # the window that ended before it started, and nothing else
