"""A campaign's settings changed while it is paused, against SIPp as the carrier: a new calling
window reopens the contacts that were waiting for the old one, and fewer attempts end the contacts
that have had theirs; a campaign scheduled for later starts by itself then. The campaign's clock is
moved by the test."""

import asyncio
import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_campaigns import _invites
from tests.support.calls import wait_for
from tests.support.carrier import start_quiet_carrier
from tests.support.dialer import MovableClock, dialling_platform, echo_business
from tests.support.platform import Running
from voicegrid.testing.ports import stop_process

pytestmark = pytest.mark.xdist_group("campaigns")

# Saturday 5 December 2026, 10:00 in New York: a weekday window opens on Monday at 09:00 (14:00 UTC).
SATURDAY = datetime(2026, 12, 5, 15, 0, tzinfo=UTC).timestamp()
MONDAY_OPENS = "2026-12-07T14:00:00Z"
NUMBERS = ["+12125551000", "+12125551001", "+12125551004"]  # the carrier: two people, one busy line


async def _contacts(run: Running, one: str) -> dict[str, dict[str, Any]]:
    return {c["number"]: c for c in (await run.ok("GET", f"{one}/contacts"))["items"]}


async def test_a_paused_campaign_given_a_new_window_and_fewer_attempts_calls_and_ends_by_them(
    tmp_path: Path,
) -> None:
    carrier_dir, carrier_port, carrier = start_quiet_carrier(tmp_path)
    try:
        async with dialling_platform(tmp_path / "data", MovableClock(SATURDAY)) as d:
            run = d.run
            base, agent = await echo_business(run, carrier_port)
            spec = {"name": "weekdays", "agent_id": agent, "calls_per_second": 10,
                    "contacts": [{"number": n} for n in NUMBERS]}  # fmt: skip
            one = f"{base}/campaigns/" + (await run.ok("POST", f"{base}/campaigns", json=spec))["id"]
            await run.ok("POST", f"{one}/start")

            async def waiting_for_monday() -> bool:
                found = await _contacts(run, one)
                return all(c["next_at"] == MONDAY_OPENS for c in found.values())

            assert await wait_for(waiting_for_monday, 20)
            assert _invites(carrier_dir) == {}
            refused = await run.admin("PATCH", one, json={"max_concurrent": 2})
            assert refused.status_code == 409, refused.text  # a running campaign is paused first
            await run.ok("POST", f"{one}/pause")
            every_day = {"start": "09:00", "end": "20:00", "days": [0, 1, 2, 3, 4, 5, 6]}
            changed = await run.ok("PATCH", one, json={"window": every_day, "max_concurrent": 2})
            assert (changed["window"], changed["max_concurrent"], changed["name"]) == (
                every_day,
                2,
                "weekdays",
            )
            assert all(c["next_at"] is None for c in (await _contacts(run, one)).values())  # due now
            await run.ok("POST", f"{one}/resume")

            async def answered_and_busy_waits() -> bool:
                found = await _contacts(run, one)
                busy = found[NUMBERS[2]]
                return [found[n]["outcome"] for n in NUMBERS[:2]] == ["answered"] * 2 and (
                    busy["state"],
                    busy["outcome"],
                ) == ("waiting", "busy")

            assert await wait_for(answered_and_busy_waits, 60)
            busy = (await _contacts(run, one))[NUMBERS[2]]
            assert busy["attempts"] == 1
            assert busy["next_at"] is not None  # tried again in 10 minutes
            await run.ok("POST", f"{one}/pause")
            weekend = {"start": "08:00", "end": "20:00", "days": [5, 6]}
            await run.ok("PATCH", one, json={"window": weekend})  # a retry's wait is not the window's
            assert (await _contacts(run, one))[NUMBERS[2]]["next_at"] == busy["next_at"]
            fewer = await run.ok("PATCH", one, json={"max_attempts": 1})
            assert fewer["progress"]["done:busy"] == 1
            assert fewer["progress"]["waiting"] == 0
            await run.ok("POST", f"{one}/resume")

            async def finished() -> bool:
                return bool((await run.ok("GET", one))["state"] == "finished")

            assert await wait_for(finished, 20)
            await asyncio.sleep(0.5)  # nothing more is dialled

            async def recorded() -> dict[str, Any] | None:  # each call's record, once stored
                results: dict[str, Any] = (await run.ok("GET", one))["results"]
                return results if results["calls"] == len(NUMBERS) else None

            results = await wait_for(recorded, 20)
            assert results is not None
            calls = [
                c["call_id"] for contact in (await _contacts(run, one)).values() for c in contact["calls"]
            ]
            costs = [(await run.ok("GET", f"{base}/calls/{c}"))["cost"]["total"] for c in calls]
            assert results["cost"] == pytest.approx(sum(costs))
            assert (results["answered"], results["analyzed"], results["success_rate"]) == (2, 0, None)
            assert results["talk_minutes"] > 0.1  # two calls of about 6 s
            exported = (await run.admin("GET", f"{one}/export")).text
            rows = {r["number"]: r for r in csv.DictReader(io.StringIO(exported))}
            assert [float(rows[n]["talk_s"]) > 3 for n in NUMBERS] == [True, True, False]
            talked = sum(float(r["talk_s"]) for r in rows.values())
            assert results["talk_minutes"] == pytest.approx(talked / 60, abs=0.01)
    finally:
        stop_process(carrier)
    assert _invites(carrier_dir) == {n: 1 for n in NUMBERS}


async def test_a_campaign_scheduled_for_later_dials_nothing_until_then_and_then_starts_by_itself(
    tmp_path: Path,
) -> None:
    carrier_dir, carrier_port, carrier = start_quiet_carrier(tmp_path)
    clock = MovableClock(SATURDAY)
    try:
        async with dialling_platform(tmp_path / "data", clock) as d:
            run = d.run
            base, agent = await echo_business(run, carrier_port)
            every_day = {"start": "09:00", "end": "20:00", "days": [0, 1, 2, 3, 4, 5, 6]}
            spec = {"name": "at eleven", "agent_id": agent, "window": every_day,
                    "contacts": [{"number": NUMBERS[0]}]}  # fmt: skip
            one = f"{base}/campaigns/" + (await run.ok("POST", f"{base}/campaigns", json=spec))["id"]
            at = datetime.fromtimestamp(SATURDAY + 3600, UTC).isoformat()  # 11:00 in New York
            assert (await run.ok("POST", f"{one}/start", json={"at": at}))["state"] == "scheduled"
            await asyncio.sleep(1.0)  # five of the runner's ticks
            assert (await run.ok("GET", one))["state"] == "scheduled"
            assert _invites(carrier_dir) == {}
            clock.advance(3600)

            async def finished() -> dict[str, Any] | None:
                got: dict[str, Any] = await run.ok("GET", one)
                return got if got["state"] == "finished" else None

            got = await wait_for(finished, 30)
            assert got is not None
            assert got["starts_at"] is None
            assert got["started_at"].startswith("2026-12-05T16:00")  # on the campaign's clock
            assert got["progress"] == {"waiting": 0, "calling": 0, "done": 1, "done:answered": 1}
    finally:
        stop_process(carrier)
    assert _invites(carrier_dir) == {NUMBERS[0]: 1}
