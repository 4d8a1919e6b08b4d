"""Debian's Chromium for Playwright: where it is, the flags for a closed network, where screenshots go."""

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags for a closed network and no GPU, as the machine notes say; then the fake media devices.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]


def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        raise RuntimeError("Chromium is not installed: run `make setup-test` (Debian package chromium)")
    return CHROMIUM


def watched_page(browser: "Browser", errors: list[str], name: str = "") -> "Page":
    """A new page whose script errors and console errors are appended to `errors`."""
    page = browser.new_page(viewport={"width": 1360, "height": 1000})
    page.on("pageerror", lambda e: errors.append(f"{name} page error: {e}".strip()))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return page


def serious_violations(page: "Page") -> list[str]:
    """axe-core's serious and critical findings on the page as it is (the script is evaluated through
    the DevTools protocol, so the page's Content-Security-Policy stays as strict as it is)."""
    page.evaluate(_axe())
    found: dict[str, Any] = page.evaluate("async () => await axe.run(document)")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in found["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def _axe() -> str:
    """axe-core's script, from the axe-playwright-python wheel (a dev dependency)."""
    from axe_playwright_python import sync_playwright as axe_module

    return (Path(axe_module.__file__).parent / "axe.min.js").read_text()
