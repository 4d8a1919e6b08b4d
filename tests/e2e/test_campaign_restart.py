"""A node running a campaign is stopped (SIGTERM) and later killed (-9) in the middle of it; each
time a new run of the node takes the campaign over and finishes it, and no contact is called
twice: the carrier (SIPp) sees one INVITE per contact."""

import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.carrier import start_quiet_carrier
from tests.support.serve import env_without_voicegrid, serving
from voicegrid.testing.ports import stop_process

pytestmark = pytest.mark.xdist_group("campaigns")
ADMIN = "vg_admin_for_the_campaign_restart_test_01"
CONTACTS = 24
CONCURRENT = 4


def _midday_zone() -> str:
    """An IANA zone where it is about noon now, so that the window (08:00 to 20:00) is open."""
    ahead = 12 - datetime.now(UTC).hour  # hours to add to UTC for noon; Etc/GMT signs are inverted
    return "Etc/GMT" if ahead == 0 else f"Etc/GMT{-ahead:+d}"


def _wait(check: Callable[[], Any], what: str, limit_s: float = 90) -> Any:
    deadline = time.monotonic() + limit_s
    while not (found := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.2)
    return found


def _invites(workdir: Path) -> Counter[str]:
    text = "".join(p.read_text(errors="replace") for p in workdir.glob("*_messages.log"))
    return Counter(re.findall(r"^INVITE sip:(\+[0-9]+)@", text, flags=re.MULTILINE))


def test_a_campaign_goes_on_after_its_node_stops_or_dies_and_no_contact_is_called_twice(
    tmp_path: Path,
) -> None:
    carrier_dir, carrier_port, carrier = start_quiet_carrier(tmp_path)
    env = env_without_voicegrid(
        VOICEGRID_ADMIN_KEY=ADMIN, VOICEGRID_CAMPAIGN_LEASE_S="4", VOICEGRID_CAMPAIGN_TICK_S="0.2"
    )
    data = tmp_path / "var"
    processes: list[subprocess.Popen[bytes]] = []
    numbers = [f"+1212555{1000 + 10 * i + (i % 4)}" for i in range(CONTACTS)]  # last digits 0-3: people
    try:
        with serving(data, env=env) as (url, _):
            api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)
            campaign = _make_campaign(api, carrier_port, numbers)
            done = _progress(api, campaign)
            _wait(lambda: done()["done"] >= 6, "the first contacts were not called")
        # stopped (SIGTERM): the calls under way finished, and the campaign was given back
        with serving(data, env=env, processes=processes) as (url, _):
            api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)
            done = _progress(api, campaign)
            at_start = done()  # no call of this run has ended yet: each lasts seconds
            assert at_start["calling"] <= CONCURRENT
            stopped_at = at_start["done"]
            assert CONTACTS > stopped_at >= 6
            _wait(lambda: done()["done"] >= stopped_at + 6, "the campaign did not go on after the restart")
            processes[0].send_signal(signal.SIGKILL)  # dies with calls under way
            processes[0].wait(timeout=10)
        with serving(data, env=env) as (url, _):
            api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)
            done = _progress(api, campaign)
            _wait(lambda: done()["state"] == "finished", "the campaign did not finish after the crash", 120)
            contacts = api.get(f"{campaign}/contacts", params={"limit": 200}).json()["items"]
            metrics = api.get("/metrics").text
    finally:
        stop_process(carrier)

    assert "voicegrid_campaign_calls_active 0.0" in metrics
    assert "voicegrid_campaign_ends_unstored 0.0" in metrics

    assert len(contacts) == CONTACTS
    assert all(c["state"] == "done" for c in contacts)
    invites = _invites(carrier_dir)
    assert set(invites) <= set(numbers)
    assert max(invites.values()) == 1, invites.most_common(3)  # no contact called twice
    never = [c for c in contacts if c["number"] not in invites]  # claimed, then the kill came first
    assert all(c["outcome"] == "interrupted" for c in never), never
    outcomes = Counter(c["outcome"] for c in contacts)
    # the calls the crash cut off end `interrupted` (not tried again: failures get no retry here)
    assert set(outcomes) <= {"answered", "interrupted"}, outcomes
    assert outcomes["answered"] >= CONTACTS - CONCURRENT
    assert all(c["attempts"] == 1 for c in contacts)


def _make_campaign(api: httpx.Client, carrier_port: int, numbers: list[str]) -> str:
    reseller = api.post("/v1/resellers", json={"name": "R"}).json()["id"]
    business = api.post("/v1/businesses", json={"name": "B", "reseller_id": reseller}).json()["id"]
    base = f"/v1/businesses/{business}"
    trunk = {"name": "carrier", "outbound_host": "127.0.0.1", "outbound_port": carrier_port,
             "caller_ids": ["+12125550100"]}  # fmt: skip
    api.post(f"{base}/trunks", json=trunk).raise_for_status()
    agent = api.post(f"{base}/agents", json={"name": "echo", "kind": "echo"}).json()["id"]
    zone = _midday_zone()
    spec = {
        "name": "restart", "agent_id": agent, "max_concurrent": CONCURRENT, "calls_per_second": 2,
        "window": {"start": "08:00", "end": "20:00", "days": [0, 1, 2, 3, 4, 5, 6]},
        "retries": {"failed": {"attempts": 1, "delay_s": 1}}, "ring_timeout_s": 10,
        "contacts": [{"number": n, "timezone": zone} for n in numbers],
    }  # fmt: skip
    made = api.post(f"{base}/campaigns", json=spec)
    assert made.status_code == 201, made.text
    campaign = str(made.json()["id"])
    api.post(f"{base}/campaigns/{campaign}/start").raise_for_status()
    return f"{base}/campaigns/{campaign}"


def _progress(api: httpx.Client, campaign: str) -> Callable[[], dict[str, Any]]:
    def now() -> dict[str, Any]:
        got = api.get(campaign).json()
        return {**got["progress"], "state": got["state"]}

    return now
