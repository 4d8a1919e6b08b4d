"""The browser page /talk: Debian Chromium, driven by Playwright, talks to the echo agent.

Chromium's fake microphone plays a tone from a WAV made here; the page sends it to the agent and
plays what comes back; the page's own counters (frames sent, received, level) are read from the DOM.
"""

import json
import subprocess
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from tests.support.browser import ARGS, ARTIFACTS, serious_violations
from tests.support.serve import serving


def test_the_talk_page_streams_the_microphone_to_the_agent_and_plays_its_voice(
    chromium: str, tmp_path: Path
) -> None:
    voice = tmp_path / "voice.wav"
    subprocess.run(
        [
            "sox",
            "-n",
            "-r",
            "16000",
            "-c",
            "1",
            "-b",
            "16",
            str(voice),
            "synth",
            "10",
            "sine",
            "440",
            "vol",
            "0.5",
        ],
        check=True,
        timeout=30,
    )
    ARTIFACTS.mkdir(exist_ok=True)
    with serving(tmp_path / "var", "--demo") as (url, _):
        demo = json.loads((tmp_path / "var" / "demo.json").read_text())
        agents = httpx.get(f"{url}/v1/agents", headers={"Authorization": f"Bearer {demo['api_key']}"}).json()[
            "items"
        ]
        echo_id = next(a["id"] for a in agents if a["kind"] == "echo")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium, args=[*ARGS, f"--use-file-for-fake-audio-capture={voice}"]
            )
            try:
                page = browser.new_page()
                page.goto(f"{url}/talk/{echo_id}")
                assert serious_violations(page) == []  # axe-core, as on the dashboard's pages
                page.fill("#key", demo["api_key"])
                page.click("#talk")
                page.wait_for_function(
                    "() => JSON.parse(document.getElementById('stats').textContent).received > 50",
                    timeout=20_000,
                )
                stats = json.loads(page.text_content("#stats") or "{}")
                page.screenshot(path=str(ARTIFACTS / "talk-page.png"))
                assert page.text_content("#state") == "Connected: talk now."
            finally:
                browser.close()
    assert stats["sent"] > 50
    assert stats["received"] > 50
    assert stats["rms"] > 0.05  # the tone came back, not silence


def test_the_talk_socket_refuses_a_wrong_key(chromium: str, tmp_path: Path) -> None:
    with serving(tmp_path / "var", "--demo") as (url, _), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{url}/talk/agt_whatever")
            page.fill("#key", "vg_wrong")
            page.click("#talk")
            page.wait_for_function(
                "() => document.getElementById('state').textContent.startsWith('Disconnected')"
            )
            assert "1008" in (page.text_content("#state") or "")
        finally:
            browser.close()
