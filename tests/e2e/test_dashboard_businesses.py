"""A reseller runs its businesses from the dashboard (Debian Chromium, Playwright, against `voicegrid
serve --demo`): its admin creates a business, limits it to 2 calls at once and disables it; a real
SIP call to the business's number is answered before and refused after. axe-core finds no serious or
critical violation on the page."""

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import sync_playwright

from tests.e2e.test_dashboard import _ready
from tests.e2e.test_dashboard_agents import says, sign_in
from tests.support.browser import ARGS, ARTIFACTS, serious_violations, watched_page
from tests.support.serve import env_without_voicegrid, serving
from voicegrid.caller import dial
from voicegrid.testing.ports import free_udp_and_tcp_port

# A server and real calls (and Chromium): one such test at a time with the other heavy ones,
# so that none starves the campaign test's carrier of CPU (its RTP stalls, and answers go unjudged).
pytestmark = pytest.mark.xdist_group("campaigns")

ADMIN = "vg_reseller_test_platform_key_0001"
EMAIL, PASSWORD = "ops@acme-voice.example", "a long passphrase for ops"
NUMBER = "+15550142"


def _outcome(sip: int) -> str | None:
    """A real SIP call to NUMBER, hung up after 3 s: its outcome (answered, or failed on a 4xx)."""
    with ThreadPoolExecutor(1) as thread:  # Playwright's sync API holds this thread's event loop
        placed = thread.submit(asyncio.run, dial(f"sip:{NUMBER}@127.0.0.1:{sip}", "127.0.0.1", sip, [], 3.0))
        dialled = placed.result(timeout=30)
    return dialled.call.outcome


def test_a_reseller_admin_creates_limits_and_disables_a_business_whose_number_then_refuses_calls(
    chromium: str, tmp_path: Path
) -> None:
    data = tmp_path / "var"
    sip = free_udp_and_tcp_port()
    ARTIFACTS.mkdir(exist_ok=True)
    env = env_without_voicegrid(VOICEGRID_ADMIN_KEY=ADMIN)
    with serving(data, "--demo", sip_port=sip, env=env) as (url, _):
        demo = json.loads((data / "demo.json").read_text())
        platform = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)
        user = {"email": EMAIL, "role": "admin", "password": PASSWORD}
        assert platform.post(f"/v1/resellers/{demo['reseller_id']}/users", json=user).status_code == 201
        errors: list[str] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=ARGS)
            try:
                page = watched_page(browser, errors)
                sign_in(page, url, "businesses", EMAIL, PASSWORD)
                assert page.is_visible("nav a[data-page=businesses]")
                page.fill("#f-name", "Luigi Trattoria")
                page.click("#new-business button[type=submit]")
                says(page, "businesses-note", "created")
                card = page.locator("section.business", has_text="Luigi Trattoria")
                business = card.get_attribute("data-business")
                assert business
                card.locator(f"#f-{business.replace('_', '-')}-max-concurrent-calls").fill("2")
                card.locator("button", has_text="Save limits").click()
                says(page, "businesses-note", "Limits")
                limits = platform.get(f"/v1/businesses/{business}/limits").json()
                assert limits["max_concurrent_calls"] == 2
                assert limits["monthly_minutes"] is None  # left empty: no limit

                # The business gets an agent, a trunk and a number (through the API), and takes a call.
                base = f"/v1/businesses/{business}"
                agent = platform.post(f"{base}/agents", json={"name": "echo", "kind": "echo"}).json()["id"]
                trunk = {"name": "lab", "inbound_cidrs": ["127.0.0.1/32"]}
                assert platform.post(f"{base}/trunks", json=trunk).status_code == 201
                number = {"number": NUMBER, "agent_id": agent}
                assert platform.post(f"{base}/numbers", json=number).status_code == 201
                assert _outcome(sip) == "answered"

                violations = serious_violations(page)
                card.locator("button", has_text="Disable Luigi Trattoria").click()
                says(page, "businesses-note", "disabled")
                assert card.locator(".pill").text_content() == "disabled"
                page.screenshot(path=str(ARTIFACTS / "dashboard-businesses.png"), full_page=True)

                # The reseller's branding, previewed as it is typed, then saved.
                page.click("nav a[data-page=reseller]")
                _ready(page, "reseller")
                violations += serious_violations(page)
                page.fill("#f-branding-product-name", "Acme Voice Pro")
                page.fill("#f-branding-primary-color", "#0f7")  # half typed: the preview keeps its colour
                button = page.locator(".preview button")
                before = button.evaluate("b => getComputedStyle(b).backgroundColor")
                page.fill("#f-branding-primary-color", "#0f766e")
                assert page.text_content(".preview-top") == "Acme Voice Pro"
                after = button.evaluate("b => getComputedStyle(b).backgroundColor")
                assert after == "rgb(15, 118, 110)" != before
                page.click("#branding button[type=submit]")
                page.wait_for_selector("#branding .saves:has-text('Branding saved')")
                page.screenshot(path=str(ARTIFACTS / "dashboard-reseller.png"), full_page=True)
                assert errors == [], errors
            finally:
                browser.close()
        assert platform.get(f"/v1/businesses/{business}").json()["enabled"] is False
        reseller = platform.get(f"/v1/resellers/{demo['reseller_id']}").json()
        assert (reseller["product_name"], reseller["primary_color"]) == ("Acme Voice Pro", "#0f766e")
        assert _outcome(sip) == "failed"  # 403 Business disabled
    assert violations == []
