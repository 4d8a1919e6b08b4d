"""The dashboard in Debian Chromium (Playwright), after a real demo call over SIP and RTP.

A person signs in with email and password, sees the overview's charts, opens the call, and finds its
cost breakdown (the same items and total as the API's record), the latency chart with one bar per turn
and component, the transcript and the recording; the reseller's product name is on every page.
The overview's range can be picked by hand. A business API key signs in too. The page must log no
error (a CSP refusal of plotly would show here).
Screenshots go to test-artifacts/ (git-ignored).
"""

import json
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright

from tests.e2e.test_voice_call import recorded
from tests.support.browser import ARGS, ARTIFACTS, serious_violations
from tests.support.serve import demo_call, env_without_voicegrid, serving
from voicegrid.testing.ports import free_udp_and_tcp_port

ADMIN = "vg_dashboard_test_platform_key_0123456789"
PRODUCT = "Acme Talk Studio"
EMAIL, PASSWORD = "maria@bella.example", "a long enough passphrase"


def _prepare(url: str, demo: dict[str, Any]) -> None:
    """The reseller's product name, a person to sign in, and recording on for the demo agent."""
    admin = {"Authorization": f"Bearer {ADMIN}"}
    business = {"Authorization": f"Bearer {demo['api_key']}"}
    steps = [
        ("PATCH", f"/v1/resellers/{demo['reseller_id']}", admin, {"product_name": PRODUCT}),
        (
            "POST",
            "/v1/users",
            business,
            {"email": EMAIL, "name": "Maria", "role": "viewer", "password": PASSWORD},
        ),
        ("PATCH", f"/v1/agents/{demo['agent_id']}", business, {"recording": True}),
    ]
    for method, path, headers, body in steps:
        response = httpx.request(method, f"{url}{path}", headers=headers, json=body, timeout=10)
        assert response.status_code < 300, response.text


# The page's text nodes that say what a script had no value for ("null", "undefined", "NaN").
_NO_VALUE = """() => {
  const walker = document.createTreeWalker(document.getElementById("page"), NodeFilter.SHOW_TEXT);
  const found = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.trim();
    if (text === "null" || text === "undefined" || text === "NaN") found.push(node.parentElement.outerHTML);
  }
  return found;
}"""


def _ready(page: Page, name: str) -> None:
    """The page `name` is shown whole: no error, and no value missing from its text."""
    page.wait_for_selector(f"#page[data-page={name}][data-ready]", timeout=20_000)
    assert page.text_content("#page-error") == ""
    assert page.evaluate(_NO_VALUE) == []


def test_a_person_signs_in_and_reads_a_calls_cost_and_latency_under_the_resellers_brand(
    chromium: str, tmp_path: Path
) -> None:
    data = tmp_path / "var"
    sip = free_udp_and_tcp_port()
    ARTIFACTS.mkdir(exist_ok=True)
    env = env_without_voicegrid(VOICEGRID_ADMIN_KEY=ADMIN)
    with serving(data, "--demo", sip_port=sip, env=env) as (url, _log):
        demo = json.loads((data / "demo.json").read_text())
        _prepare(url, demo)
        call_id = demo_call(data, sip, "are you open at nine pm", "thank you, bye")["call_id"]
        call = recorded(url, demo["api_key"], call_id, analysed=True)
        said = " ".join(t["text"] for t in call["conversation"]["transcript"])
        assert "open every day" in said, f"the agent did not hear the question (a busy machine?): {said}"
        assert call["cost"] is not None
        assert call["analysis"]["status"] == "done"
        turns = call["latency"]["turns"]
        assert len(turns) >= 2
        errors: list[str] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1360, "height": 1000})
                page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.goto(f"{url}/")
                page.wait_for_selector("#sign-in:not([hidden])")
                violations: dict[str, list[str]] = {"sign-in": serious_violations(page)}
                page.fill("#email", EMAIL)
                page.fill("#password", "wrong passphrase")
                page.click("#form-user button[type=submit]")
                page.wait_for_function("() => document.getElementById('sign-in-error').textContent !== ''")
                assert page.text_content("#sign-in-error") == "Wrong email or password."
                errors.clear()  # the browser logs the 401 above as a failed resource; that one is expected
                page.fill("#password", PASSWORD)
                page.click("#form-user button[type=submit]")

                _ready(page, "overview")
                assert page.text_content("#product") == PRODUCT
                assert PRODUCT in page.title()
                assert page.text_content("#kpi-calls .value") == "1"
                assert page.text_content("#kpi-success .value") == "100.0 %"  # the call was analysed
                assert "When are you open?" in (page.text_content("#top-intents") or "")
                for chart in ("volume", "cost", "latency", "outcomes"):
                    assert page.locator(f"#chart-{chart} .main-svg").count() > 0, chart
                page.screenshot(path=str(ARTIFACTS / "dashboard-overview.png"), full_page=True)
                violations["overview"] = serious_violations(page)

                # A range of its own: a day too far back is refused in place, then a January without calls.
                page.select_option("#range", "custom")
                _ready(page, "overview")
                page.fill("#range-from", "2020-01-01")
                assert page.text_content("#range-problem") == "A range is at most 400 days."
                page.fill("#range-to", "2020-01-31")
                _ready(page, "overview")
                assert page.text_content("#kpi-calls .value") == "0"
                assert page.input_value("#range-from") == "2020-01-01"
                page.screenshot(path=str(ARTIFACTS / "dashboard-range.png"))
                page.select_option("#range", "month")  # the call was made today
                _ready(page, "overview")
                assert page.text_content("#kpi-calls .value") == "1"
                page.select_option("#direction", "outbound")  # the demo call came in
                _ready(page, "overview")
                assert page.text_content("#kpi-calls .value") == "0"
                page.select_option("#direction", "inbound")
                _ready(page, "overview")
                assert page.text_content("#kpi-calls .value") == "1"
                assert not page.is_visible("#range-from")

                page.click("nav a[data-page=calls]")
                _ready(page, "calls")
                page.screenshot(path=str(ARTIFACTS / "dashboard-calls.png"), full_page=True)
                violations["calls"] = serious_violations(page)
                page.select_option("#filter-success", "false")  # no failed call: the list is empty
                _ready(page, "calls")
                assert page.locator(f"#page tr[data-id='{call_id}']").count() == 0
                page.select_option("#filter-success", "true")
                _ready(page, "calls")
                page.click(f"#page tr[data-id='{call_id}']")
                _ready(page, "call")
                assert "When are you open?" in (page.text_content("#analysis-summary") or "")
                assert "succeeded" in (page.text_content("#analysis") or "")
                assert "at 9 pm" in (page.text_content("#analysis") or "")  # what the caller said
                shown = page.locator("#cost-breakdown tbody tr").all_inner_texts()
                assert [line.split("\t")[0] for line in shown] == [
                    i["component"] for i in call["cost"]["items"]
                ]
                assert {i["component"] for i in call["cost"]["items"]} >= {"stt", "llm", "tts", "telephony"}
                total = page.locator("#cost-breakdown tfoot td").last.inner_text()
                assert total == f"${call['cost']['total']:.6f}"
                # one horizontal bar per turn and component: the latency chart drew every turn
                bars = page.locator("#chart-turns .barlayer .trace").count()
                assert bars == 5  # endpointing, STT final, LLM first token, TTS first audio, platform
                per_trace = page.locator("#chart-turns .barlayer .trace").first.locator(".point").count()
                assert per_trace == len(turns)
                assert "open every day" in (page.text_content("#transcript") or "")
                page.wait_for_function(
                    "() => { const a = document.querySelector('#recording audio');"
                    " return a !== null && a.readyState >= 1 && a.duration > 1; }",
                    timeout=20_000,
                )
                assert page.text_content("#product") == PRODUCT
                page.screenshot(path=str(ARTIFACTS / "dashboard-call.png"), full_page=True)
                violations["call"] = serious_violations(page)

                for name in ("providers", "recommendations", "live", "campaigns"):
                    page.click(f"nav a[data-page={name}]")
                    _ready(page, name)
                    violations[name] = serious_violations(page)
                page.screenshot(path=str(ARTIFACTS / "dashboard-live.png"), full_page=True)
                page.click("#sign-out")
                page.wait_for_selector("#sign-in:not([hidden])")

                keyed = browser.new_page()
                keyed.on("pageerror", lambda e: errors.append(f"page error: {e}"))
                keyed.goto(f"{url}/")
                keyed.click("#tab-key")
                keyed.fill("#api-key", demo["api_key"])
                keyed.click("#form-key button[type=submit]")
                _ready(keyed, "overview")
                assert keyed.text_content("#identity") == "business · owner"
            finally:
                browser.close()
        assert errors == []
    assert [page for page, found in violations.items() if found] == [], violations
