"""Self-service in the dashboard, in Debian Chromium (Playwright) against `voicegrid serve --demo`: a
business admin signs in, builds an agent from nothing, adds two questions, tries the draft over a
real call, publishes it and routes a number to it; then a real SIP call to that number is answered
by the published version, named in its record. A viewer of the same business sees it all and can
change nothing. axe-core, run in each page, finds no serious or critical violation."""

import json
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright

from tests.e2e.test_dashboard import _ready
from tests.e2e.test_voice_call import recorded
from tests.support.browser import ARGS, ARTIFACTS, serious_violations, watched_page
from tests.support.serve import demo_call, env_without_voicegrid, serving
from voicegrid.testing.ports import free_udp_and_tcp_port

# A server and real calls (and Chromium): one such test at a time with the other heavy ones,
# so that none starves the campaign test's carrier of CPU (its RTP stalls, and answers go unjudged).
pytestmark = pytest.mark.xdist_group("campaigns")

EMAIL, PASSWORD = "maria@bella.example", "a long passphrase for maria"
SECRET = "dg-secret-0123456789abcdef"
QUESTIONS = [
    (
        "Do you have gluten free pizza?",
        "Yes, every pizza comes on a gluten free base too.",
        "gluten, allergy",
    ),
    ("Do you sell gift cards?", "Yes, gift cards are sold at the counter.", "gift, card, voucher"),
]


def says(page: Page, element: str, text: str) -> None:
    """Wait until the element with id `element` says `text` (a status line after a write)."""
    page.wait_for_function(
        "([id, text]) => document.getElementById(id).textContent.includes(text)", arg=[element, text]
    )


def sign_in(page: Page, url: str, where: str, email: str, password: str) -> None:
    """Sign in with an email and a password on the page `where` (#/where), and wait for it."""
    page.goto(f"{url}/#/{where}")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#form-user button[type=submit]")
    _ready(page, where)


def _sign_in_with_key(page: Page, url: str, key: str, where: str) -> None:
    page.goto(f"{url}/#/{where}")
    page.click("#tab-key")
    page.fill("#api-key", key)
    page.click("#form-key button[type=submit]")


def test_a_business_admin_builds_tries_and_publishes_an_agent_that_then_answers_calls(
    chromium: str, tmp_path: Path
) -> None:
    data = tmp_path / "var"
    sip = free_udp_and_tcp_port()
    ARTIFACTS.mkdir(exist_ok=True)
    with serving(data, "--demo", sip_port=sip, env=env_without_voicegrid()) as (url, _log):
        demo = json.loads((data / "demo.json").read_text())
        owner = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {demo['api_key']}"}, timeout=30)
        made = owner.post("/v1/users", json={"email": EMAIL, "role": "admin", "password": PASSWORD})
        assert made.status_code == 201, made.text
        viewer_key = owner.post("/v1/api-keys", json={"name": "viewer", "role": "viewer"}).json()["key"]
        errors: list[str] = []
        violations: dict[str, list[str]] = {}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=ARGS)
            try:
                page = watched_page(browser, errors)
                sign_in(page, url, "agents", EMAIL, PASSWORD)
                violations["agents"] = serious_violations(page)

                # From nothing: a name, then the draft's greeting and two questions, from the keyboard.
                page.focus("#f-name")
                page.keyboard.type("Luigi")
                page.keyboard.press("Enter")
                _ready(page, "agent")
                agent_id = page.url.rsplit("/", 1)[1]
                assert page.text_content("#published-version") == "published version 1"
                page.fill("#f-greeting", "Hello, this is Luigi at Bella Pizza. How can I help?")
                for i, (question, answer, keywords) in enumerate(QUESTIONS):
                    page.focus("#add-faq")
                    page.keyboard.press("Enter")
                    page.fill(f"#f-knowledge-base-faq-{i}-question", question)
                    page.fill(f"#f-knowledge-base-faq-{i}-answer", answer)
                    page.fill(f"#f-knowledge-base-faq-{i}-keywords", keywords)
                # A field error comes back beside its field, and nothing is saved.
                page.fill("#f-max-call-seconds", "5")
                page.click("#save-draft")
                page.wait_for_selector("#f-max-call-seconds-error")
                assert "greater than or equal to 10" in (page.text_content("#f-max-call-seconds-error") or "")
                assert page.get_attribute("#f-max-call-seconds", "aria-invalid") == "true"
                errors.clear()  # the browser logs the 422 above as a failed resource; that one is expected
                page.fill("#f-max-call-seconds", "600")
                page.check("#f-turn-stt-speech-only")  # the tried call's STT hears the caller's lines only
                page.click("#save-draft")
                says(page, "agent-note", "Draft saved")
                assert page.is_visible("#draft-state")
                violations["agent"] = serious_violations(page)

                # Try the draft: a real call, its transcript shown.
                page.fill("#f-try-lines", "do you have gluten free pizza\nthank you bye")
                page.click("#run-try")
                page.wait_for_selector("#try-result", timeout=120_000)
                said = page.text_content("#try-result") or ""
                assert QUESTIONS[0][1] in said, said
                assert "Hello, this is Luigi" in said
                page.screenshot(path=str(ARTIFACTS / "dashboard-agent-tried.png"), full_page=True)

                page.click("#publish")
                says(page, "agent-note", "Published")
                assert page.text_content("#published-version") == "published version 2"
                assert owner.get(f"/v1/agents/{agent_id}").json()["turn"]["stt_speech_only"] is True
                assert page.locator("#versions tr[data-version='2'] .pill").text_content() == "in use"
                assert EMAIL in (page.text_content("#versions tr[data-version='2']") or "")

                # The demo's number now goes to Luigi.
                page.click("nav a[data-page=numbers]")
                _ready(page, "numbers")
                violations["numbers"] = serious_violations(page)
                number = page.locator("#numbers-table tr[data-number='+15550100'] select")
                number.select_option(agent_id)
                says(page, "numbers-note", "Luigi")
                page.screenshot(path=str(ARTIFACTS / "dashboard-numbers.png"), full_page=True)

                # Settings: a provider account's secret is written and never shown; a new key is shown once.
                page.click("nav a[data-page=settings]")
                _ready(page, "settings")
                violations["settings"] = serious_violations(page)
                page.fill("#f-credentials-name", "Our Deepgram")
                page.select_option("#f-credentials-provider", "deepgram")
                page.fill("#f-credentials-secret", SECRET)
                page.click("#credentials button[type=submit]")
                page.wait_for_selector("#credentials td:has-text('Our Deepgram')")
                assert SECRET not in page.content()
                assert SECRET[-4:] in (page.text_content("#credentials table") or "")  # its hint only
                page.fill("#f-api-keys-name", "reports")
                page.click("#api-keys button[type=submit]")
                page.wait_for_selector("#api-keys-once code")
                shown = page.text_content("#api-keys-once code") or ""
                me = httpx.get(f"{url}/v1/me", headers={"Authorization": f"Bearer {shown}"})
                assert me.status_code == 200
                page.click("nav a[data-page=numbers]")
                _ready(page, "numbers")
                page.click("nav a[data-page=settings]")
                _ready(page, "settings")
                assert page.locator("#api-keys-once").count() == 0  # shown once
                assert errors == [], errors

                # A viewer of the same business sees the agent and its versions, and can change nothing.
                viewer = watched_page(browser, errors, "viewer")
                _sign_in_with_key(viewer, url, viewer_key, f"agents/{agent_id}")
                _ready(viewer, "agent")
                assert viewer.input_value("#f-greeting").startswith("Hello, this is Luigi")
                assert viewer.is_disabled("#f-greeting")
                assert viewer.is_disabled("#f-knowledge-base-faq-1-answer")
                for control in ("#save-draft", "#publish", "#add-faq", "#run-try", "#versions button"):
                    assert viewer.locator(control).count() == 0, control
                viewer.goto(f"{url}/#/numbers")
                _ready(viewer, "numbers")
                assert viewer.locator("#numbers-table select").count() == 0
                assert "Luigi" in (viewer.text_content("#numbers-table tr[data-number='+15550100']") or "")
                viewer.goto(f"{url}/#/settings")
                _ready(viewer, "settings")
                assert viewer.locator("#trunks").count() == viewer.locator("#privacy").count() == 1
                for hidden in ("#users", "#api-keys", "#webhook"):  # the API would refuse a viewer these
                    assert viewer.locator(hidden).count() == 0, hidden
                assert viewer.locator("#settings button, #privacy button, #credentials form").count() == 0
                assert viewer.is_disabled("#f-retention-days")
                viewer.goto(f"{url}/#/agents")
                _ready(viewer, "agents")
                assert viewer.locator("#new-agent").count() == 0
                viewer.screenshot(path=str(ARTIFACTS / "dashboard-agents-viewer.png"), full_page=True)
                assert errors == [], errors
            finally:
                browser.close()

        call = demo_call(data, sip, "do you sell gift cards", "thank you bye")
        assert QUESTIONS[1][1] in [t["text"] for t in call["turns"]], call["turns"]
        record = recorded(url, demo["api_key"], call["call_id"])
        assert record["agent_id"] == agent_id
        assert record["agent_version"] == 2
        audit = owner.get("/v1/audit-log", params={"resource": "agents", "limit": 100}).json()["items"]
        assert {"create", "update_draft", "try_draft", "publish"} <= {e["action"] for e in audit}
    assert violations == {"agents": [], "agent": [], "numbers": [], "settings": []}
