"""The dashboard from the keyboard alone, in Debian Chromium against `voicegrid serve --demo`: a
platform operator signs in with a key, creates a business and sets a reseller's markup; a business
owner builds an agent's tools (a transfer with its destinations, a webhook), tests each from its
button, saves the draft and talks to it from the browser. Every control of every page is reached
with Tab, and axe-core finds no serious or critical violation on any page (the Plan page and the
platform's Resellers page too)."""

import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright

from tests.e2e.test_dashboard import _ready
from tests.e2e.test_dashboard_agents import says
from tests.e2e.test_voice_call import recorded
from tests.support.browser import ARGS, ARTIFACTS, serious_violations, watched_page
from tests.support.serve import env_without_voicegrid, serving

pytestmark = pytest.mark.xdist_group("campaigns")  # a server, a call and Chromium: with the heavy ones

ADMIN = "vg_admin_for_keyboard_tests_0001"
GREETING = "Hello, you are talking to the draft."

# Marks each element that ever takes the focus (the page's own script never sets this attribute).
WATCH_FOCUS = "() => document.addEventListener('focusin', (e) => e.target.setAttribute('data-kb', '1'))"
# The page's controls; one inside an `inert` part (the branding's live preview) is a picture of one.
CONTROLS = """() => [...document.querySelectorAll(
    '#page input, #page select, #page textarea, #page button, #page a[href], nav a[href]')]
  .filter((e) => !e.disabled && e.offsetParent !== null && !e.closest('fieldset[disabled], [inert]'))"""


def tab_to(page: Page, selector: str, limit: int = 250) -> None:
    """Press Tab until `selector` has the focus; fail if Tab never gets there."""
    for _ in range(limit):
        if page.evaluate("(s) => !!document.activeElement && document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reaches {selector}")


def unreachable_by_tab(page: Page) -> list[str]:
    """The page's enabled, visible controls that Tab never focuses (Tab goes round the page once)."""
    page.evaluate(WATCH_FOCUS)
    count = page.evaluate(f"({CONTROLS})().length")
    for _ in range(count + 40):  # the header's controls, and the way round
        page.keyboard.press("Tab")
    missed: list[str] = page.evaluate(
        f"() => ({CONTROLS})().filter((e) => !e.hasAttribute('data-kb'))"
        ".map((e) => e.tagName + '#' + (e.id || e.textContent.trim().slice(0, 30)))"
    )
    return missed


def sign_in_with_key(page: Page, url: str, key: str, where: str) -> None:
    page.goto(f"{url}/#/{where}")
    tab_to(page, "#tab-key")
    page.keyboard.press("Enter")
    tab_to(page, "#api-key")
    page.keyboard.type(key)
    page.keyboard.press("Enter")
    _ready(page, where)


def go(page: Page, name: str) -> None:
    """Follow the nav's link to page `name`, from the keyboard."""
    tab_to(page, f"nav a[data-page={name}]")
    page.keyboard.press("Enter")
    _ready(page, name)


@contextmanager
def tool_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook tool's service on loopback: keeps each request's JSON, answers where the order is."""
    got: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            got.append({"body": json.loads(body), "signature": self.headers.get("X-Voicegrid-Signature")})
            answer = b'{"status": "out for delivery"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/orders", got
    finally:
        server.shutdown()
        server.server_close()


def test_every_form_works_from_the_keyboard_and_every_page_passes_axe(chromium: str, tmp_path: Path) -> None:
    quiet = tmp_path / "quiet.wav"  # the browser's microphone: a quiet room
    subprocess.run(
        ["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(quiet), "trim", "0", "30"],
        check=True,
        timeout=30,
    )
    ARTIFACTS.mkdir(exist_ok=True)
    data = tmp_path / "var"
    # The operator opens loopback to tenants' URLs (VOICEGRID_ALLOW_PRIVATE_DESTINATIONS): the tool
    # service of this test listens there.
    env = env_without_voicegrid(VOICEGRID_ADMIN_KEY=ADMIN, VOICEGRID_ALLOW_PRIVATE_DESTINATIONS="true")
    errors: list[str] = []
    violations: dict[str, list[str]] = {}
    missed: dict[str, list[str]] = {}
    with serving(data, "--demo", env=env) as (url, _log), tool_server() as (tool_url, tool_calls):
        demo = json.loads((data / "demo.json").read_text())
        owner = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {demo['api_key']}"}, timeout=30)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium, args=[*ARGS, f"--use-file-for-fake-audio-capture={quiet}"]
            )
            try:
                # The platform: a new business, then the Resellers and Plan pages.
                page = watched_page(browser, errors, "platform")
                sign_in_with_key(page, url, ADMIN, "businesses")
                violations["businesses (platform)"] = serious_violations(page)
                tab_to(page, "#f-name")
                page.keyboard.type("Keyboard Cafe")
                page.keyboard.press("Enter")
                says(page, "businesses-note", "Keyboard Cafe created")
                missed["businesses"] = unreachable_by_tab(page)
                go(page, "reseller")
                violations["resellers (platform)"] = serious_violations(page)
                # The demo's reseller's markup, set by the platform.
                reseller = demo_reseller(url)
                field = "#f-markup-" + re.sub(r"[^a-zA-Z0-9]+", "-", reseller)
                tab_to(page, f"{field}-percent")
                page.keyboard.press("Control+A")
                page.keyboard.type("12.5")
                tab_to(page, f"{field}-per-minute")
                page.keyboard.press("Control+A")
                page.keyboard.type("0.02")
                page.keyboard.press("Enter")
                page.wait_for_selector(f"#markup-{reseller} .saves:has-text('saved')")
                markup = httpx.get(
                    f"{url}/v1/resellers/{reseller}/markup", headers={"Authorization": f"Bearer {ADMIN}"}
                )
                assert markup.json() == {"percent": "12.5", "per_minute": "0.02"}
                missed["resellers"] = unreachable_by_tab(page)
                go(page, "plan")
                violations["plan"] = serious_violations(page)
                missed["plan"] = unreachable_by_tab(page)
                page.screenshot(path=str(ARTIFACTS / "dashboard-plan.png"), full_page=True)
                page.close()

                # The business: an agent's tools, built, tested and saved from the keyboard.
                page = watched_page(browser, errors, "business")
                sign_in_with_key(page, url, demo["api_key"], "overview")
                go(page, "agents")
                tab_to(page, "#f-name")
                page.keyboard.type("Keys")
                page.keyboard.press("Enter")
                _ready(page, "agent")
                agent_id = page.url.rsplit("/", 1)[1]
                tab_to(page, "#f-greeting")
                page.keyboard.type(GREETING)

                tab_to(page, "#add-tool")  # "Transfer the caller", the first choice
                page.keyboard.press("Enter")
                tab_to(page, "#f-tools-0-targets")
                page.keyboard.type("+4930*\nsip:desk@pbx.example.com")
                tab_to(page, "#f-test-0")
                page.keyboard.type("+49 30 1234")
                tab_to(page, "#test-tool-0")
                page.keyboard.press("Space")
                says(page, "tool-outcome-0", "would transfer to +49301234")

                tab_to(page, "#f-new-tool-kind")
                page.keyboard.press("ArrowDown")  # "Ask another system (webhook)"
                tab_to(page, "#add-tool")
                page.keyboard.press("Space")
                tab_to(page, "#f-tools-1-url")
                page.keyboard.type(tool_url)
                tab_to(page, "#f-test-1")
                page.keyboard.press("Control+A")
                page.keyboard.type('{"order": "A-17"}')
                tab_to(page, "#test-tool-1")
                page.keyboard.press("Enter")
                says(page, "tool-outcome-1", "worked")
                assert "out for delivery" in (page.text_content("#tool-outcome-1") or "")
                [sent] = tool_calls
                assert sent["body"] == {"tool": "webhook", "arguments": {"order": "A-17"},
                                        "call_id": "test", "agent_id": agent_id}  # fmt: skip
                assert (sent["signature"] or "").startswith("t=")

                tab_to(page, "#save-draft")
                page.keyboard.press("Enter")
                says(page, "agent-note", "Draft saved")
                violations["agent with tools"] = serious_violations(page)
                missed["agent"] = unreachable_by_tab(page)
                page.screenshot(path=str(ARTIFACTS / "dashboard-agent-tools.png"), full_page=True)
                draft = owner.get(f"/v1/agents/{agent_id}/draft").json()["config"]
                assert [(t["kind"], t["targets"]) for t in draft["tools"]] == [
                    ("transfer_call", ["+4930*", "sip:desk@pbx.example.com"]),
                    ("webhook", []),
                ]
                assert draft["tools"][1]["url"] == tool_url
                assert owner.get(f"/v1/agents/{agent_id}").json()["tools"] == []  # published: untouched

                # Talk to the draft from the browser: the greeting typed above answers.
                tab_to(page, "#talk-start")
                page.keyboard.press("Enter")
                says(page, "talk-state", "Connected to the draft")
                call = _said_live(owner, GREETING)
                tab_to(page, "#talk-stop")
                page.keyboard.press("Enter")
                says(page, "talk-state", "Call ended")

                for name in ("numbers", "settings"):
                    go(page, name)
                    violations[name] = serious_violations(page)
                    missed[name] = unreachable_by_tab(page)
                go(page, "agents")
                missed["agents"] = unreachable_by_tab(page)
            finally:
                browser.close()
        record = recorded(url, demo["api_key"], call)
    assert violations == {name: [] for name in violations}
    assert missed == {name: [] for name in missed}
    assert errors == []
    assert (record["transport"], record["metadata"].get("trial"), record["agent_version"]) == (
        "browser",
        "draft",
        None,
    )
    said = [t["text"] for t in record["conversation"]["transcript"] if t["speaker"] == "agent"]
    assert said[0] == GREETING


def demo_reseller(url: str) -> str:
    admin = httpx.get(f"{url}/v1/resellers", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
    return str(next(r["id"] for r in admin.json()["items"] if r["name"] == "Acme Voice"))


def _said_live(api: httpx.Client, line: str, seconds: float = 20) -> str:
    """The live browser call's id, once its agent has said `line`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for call in api.get("/v1/calls/live").json()["calls"]:
            detail = api.get(f"/v1/calls/{call['id']}").json()
            lines = (detail.get("conversation") or {}).get("transcript") or []
            if any(t["speaker"] == "agent" and t["text"] == line for t in lines):
                return str(call["id"])
        time.sleep(0.3)
    raise AssertionError(f"no live call said {line!r}")
