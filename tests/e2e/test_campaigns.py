"""A campaign of 200 contacts against SIPp acting as the carrier: people who say hello, busy lines,
phones that ring out, voicemail greetings with a beep. Every contact ends with an outcome, retries
come as configured, no more calls at once than the campaign allows, numbers on a do-not-call list
(one listed while the campaign runs) are never dialled, and contacts outside their local window
wait for it: the campaign's clock is moved by the test, not waited for."""

import asyncio
import csv
import io
import json
import re
import wave
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.calls import wait_for
from tests.support.carrier import start_carrier, start_quiet_carrier
from tests.support.dialer import Dialler, MovableClock, dialling_platform, echo_business
from tests.support.receiver import Receiver
from voicegrid.media.g711 import ulaw_encode
from voicegrid.testing.amd_corpus import RATE, line, speak, tone
from voicegrid.testing.ports import free_udp_and_tcp_port, stop_process

pytestmark = pytest.mark.xdist_group("campaigns")  # heavy on the CPU: one such test at a time

# Wednesday 2 December 2026, 10:00 in New York (15:00 UTC): midnight in Tokyo, whose window is shut.
START = datetime(2026, 12, 2, 15, 0, tzinfo=UTC).timestamp()
MESSAGE = "Hi {name}, this is Bella Pizza about your {item}. Please call us back."
GREETING = "Hi {name}, about your {item}."
CONCURRENT = 12


def _ulaw(pcm: np.ndarray, path: Path) -> None:
    heard = line(pcm, np.random.default_rng(5), 45.0, 0.0)
    path.write_bytes(ulaw_encode(heard))


def _quiet(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.float32)


def _carrier_audio(workdir: Path) -> None:
    """What the carrier's people and voicemail boxes play when they answer (8 kHz mu-law)."""
    _ulaw(np.concatenate([_quiet(0.3), speak("hello?", "en-us", 165), _quiet(8)]), workdir / "person.ulaw")
    # one long breath, as most greetings are: a pause of 700 ms after a first phrase is what a
    # person's "hello?" looks like, and the detector (97% right on machines) may take it for one
    greeting = speak(
        "You have reached the voicemail box of Sam Taylor who cannot take your call right now "
        "so please leave a message after the tone",
        "en-us",
        165,
    )
    beep = tone(1000, 0.5)
    _ulaw(np.concatenate([_quiet(0.3), greeting, _quiet(0.4), beep, _quiet(20)]), workdir / "voicemail.ulaw")


def _invites(workdir: Path) -> Counter[str]:
    """How often the carrier was sent an INVITE for each number (from SIPp's message trace)."""
    text = "".join(p.read_text(errors="replace") for p in workdir.glob("*_messages.log"))
    return Counter(re.findall(r"^INVITE sip:(\+[0-9]+)@", text, flags=re.MULTILINE))


def _contacts() -> tuple[str, list[str]]:
    """200 contacts: 180 in New York, 20 in Tokyo. The last digit says how the carrier answers."""
    rows = ["number,name,timezone,item,shoe_size"]
    numbers = []
    for i in range(200):
        number = f"+1212555{1000 + i}"
        zone = "Asia/Tokyo" if i >= 180 else ""
        rows.append(f"{number},Guest {i},{zone},pizza {i},42")
        numbers.append(number)
    return "\n".join(rows) + "\n", numbers


def _kind(number: str) -> str:
    return {"4": "busy", "5": "busy", "6": "no-answer", "7": "voicemail"}.get(number[-1], "answered")


def _max_overlap(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    now = peak = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    return peak


async def _setup(d: Dialler, carrier_port: int, hooks: Receiver) -> tuple[str, str]:
    run = d.run
    reseller = (await run.ok("POST", "/v1/resellers", json={"name": "Voice Co"}))["id"]
    business = (
        await run.ok("POST", "/v1/businesses", json={"name": "Bella Pizza", "reseller_id": reseller})
    )["id"]
    base = f"/v1/businesses/{business}"
    trunk = {
        "name": "carrier", "outbound_host": "127.0.0.1", "outbound_port": carrier_port,
        "caller_ids": ["+12125550100", "+12125550101"], "inbound_cidrs": ["127.0.0.1/32"],
    }  # fmt: skip
    await run.ok("POST", f"{base}/trunks", json=trunk)
    agent = {"name": "reminders", "greeting": GREETING, "recording": True}
    agent_id = (await run.ok("POST", f"{base}/agents", json=agent))["id"]
    await run.ok("PUT", f"{base}/webhook", json={"url": hooks.url})
    return business, agent_id


async def test_a_campaign_of_200_contacts_ends_each_with_an_outcome_within_its_limits(tmp_path: Path) -> None:
    carrier_dir = tmp_path / "carrier"
    carrier_dir.mkdir()
    await asyncio.to_thread(_carrier_audio, carrier_dir)
    carrier_port = free_udp_and_tcp_port()
    carrier = start_carrier(carrier_dir, carrier_port)
    hooks = Receiver()
    await hooks.start()
    clock = MovableClock(START)
    try:
        async with dialling_platform(tmp_path / "data", clock) as d:
            run = d.run
            business, agent_id = await _setup(d, carrier_port, hooks)
            base = f"/v1/businesses/{business}"
            csv_text, numbers = _contacts()
            listed_before, listed_during = numbers[10], numbers[190]  # a New Yorker; one in Tokyo
            await run.ok("POST", f"{base}/do-not-call", json={"numbers": [listed_before]})
            spec = {
                "name": "order reminders", "agent_id": agent_id, "max_concurrent": CONCURRENT,
                "calls_per_second": 5, "ring_timeout_s": 5, "max_attempts": 3,
                "window": {"start": "09:00", "end": "20:00", "days": [0, 1, 2, 3, 4]},
                "retries": {"busy": {"attempts": 2, "delay_s": 600},
                            "no-answer": {"attempts": 2, "delay_s": 600},
                            "failed": {"attempts": 1, "delay_s": 60}},
                "amd": "message", "voicemail_message": MESSAGE,
            }  # fmt: skip
            campaign = await run.ok("POST", f"{base}/campaigns", json=spec)
            cid = campaign["id"]
            report = await run.ok(
                "POST", f"{base}/campaigns/{cid}/contacts/import", content=csv_text.encode(),
                headers={"Content-Type": "text/csv"},
            )  # fmt: skip
            assert report["added"] == 200
            assert report["refused"] == []
            assert report["ignored_columns"] == ["shoe_size"]  # no placeholder of the agent names it
            await run.ok("POST", f"{base}/campaigns/{cid}/start")

            retried = sum(_kind(n) in ("busy", "no-answer") for n in numbers[:180])

            async def settled() -> dict[str, Any] | None:
                """Every New Yorker tried once, nothing under way: what is left waits for the clock."""
                got = await run.ok("GET", f"{base}/campaigns/{cid}")
                p = got["progress"]
                return (
                    got
                    if p["calling"] == 0 and p["waiting"] == retried + 20 and not d.campaigns.flights
                    else None
                )

            first = await wait_for(settled, 240)
            assert first, await _state(run, base, cid)
            tokyo = await run.ok("GET", f"{base}/campaigns/{cid}/contacts", params={"limit": 200})
            held = [c for c in tokyo["items"] if c["timezone"] == "Asia/Tokyo"]
            assert len(held) == 20
            assert all(c["attempts"] == 0 for c in held)
            opens = datetime(2026, 12, 3, 0, 0, tzinfo=UTC)  # 09:00 in Tokyo
            assert {datetime.fromisoformat(c["next_at"]) for c in held} == {opens}
            reseller = (await run.ok("GET", f"/v1/businesses/{business}"))["reseller_id"]
            await run.ok("POST", f"/v1/resellers/{reseller}/do-not-call", json={"numbers": [listed_during]})

            clock.advance(9 * 3600)  # 19:00 in New York, 09:00 in Tokyo: retries due, Tokyo open

            async def finished() -> dict[str, Any] | None:
                got = await run.ok("GET", f"{base}/campaigns/{cid}")
                if got["progress"]["calling"] == 0 and not d.campaigns.flights:
                    clock.advance(600)  # nothing under way: on to the next retries
                return got if got["state"] == "finished" else None

            done = await wait_for(finished, 240)
            assert done, await _state(run, base, cid)
            contacts = (await run.ok("GET", f"{base}/campaigns/{cid}/contacts", params={"limit": 200}))[
                "items"
            ]
            exported = (await run.client.get(f"{base}/campaigns/{cid}/export", headers=_auth(run))).text
            dialled = sum(c["attempts"] for c in contacts if c["outcome"] != "do-not-call")
            records = await _records(run, base, dialled)
            await asyncio.sleep(1.0)  # the last webhooks on their way
    finally:
        stop_process(carrier)
        await hooks.stop()

    by_number = {c["number"]: c for c in contacts}
    amd_wrong = 0
    assert all(c["state"] == "done" for c in contacts)
    for number in numbers:
        contact = by_number[number]
        if number in (listed_before, listed_during):
            assert contact["outcome"] == "do-not-call"
            continue
        kind = _kind(number)
        if kind in ("voicemail", "answered") and contact["outcome"] in ("voicemail", "answered"):
            amd_wrong += contact["outcome"] != kind  # the detector's verdict: counted below
            kind = contact["outcome"]
        assert contact["outcome"] == kind, contact
        assert contact["attempts"] == (2 if kind in ("busy", "no-answer") else 1), contact
        assert [a["outcome"] for a in contact["calls"]] == [kind] * contact["attempts"]
    # Answering-machine detection is right 97-100% of the time (bench/amd.py), less when the
    # carrier's RTP stalls under the suite's load: at most 3 of the 124 answers (97.6%) told wrong
    # or not told at all (counted below).
    assert amd_wrong <= 3, amd_wrong
    invites = _invites(carrier_dir)
    assert listed_before not in invites
    assert listed_during not in invites
    assert all(
        invites[n] == by_number[n]["attempts"] for n in numbers if n not in (listed_before, listed_during)
    )

    spans = [(r["created_at"], r["ended_at"]) for r in records if r["direction"] == "outbound"]
    assert len(spans) == sum(invites.values())
    assert _max_overlap([(_t(a), _t(b)) for a, b in spans]) <= CONCURRENT

    # Voicemail: the message, filled for the contact, after the beep, in the transcript. A person:
    # the greeting, filled for the contact, within 1.5 s of their hello (in the call's recording).
    data, delays, unsure = tmp_path / "data", [], 0
    for record in records:
        number = record["to"].split(":", 1)[1].split("@", 1)[0]
        told = (record["amd"] or {}).get("verdict")
        if _kind(number) in ("voicemail", "answered") and told != {"voicemail": "machine"}.get(
            _kind(number), "human"
        ):
            # told wrong (counted above), or not told at all ("unknown": the carrier's RTP stalled
            # through the detector's window): the agent did as its verdict said
            unsure += told not in ("human", "machine")
            continue
        if _kind(number) == "voicemail":
            said = " ".join(t["text"] for t in record["transcript"] if t["speaker"] == "agent")
            index = numbers.index(number)
            assert said == MESSAGE.format(name=f"Guest {index}", item=f"pizza {index}"), record
            assert (record["amd"] or {}).get("verdict") == "machine", record
            assert record["amd"]["machine_ready_ms"] is not None
        elif _kind(number) == "answered":
            assert (record["amd"] or {}).get("verdict") == "human", record
            said = [t["text"] for t in record["transcript"] if t["speaker"] == "agent"]
            index = numbers.index(number)
            greeting = GREETING.format(name=f"Guest {index}", item=f"pizza {index}")
            # the whole greeting, or as much as was played before the person hung up
            assert said, record
            assert greeting.startswith(said[0]), said
            assert said[0].startswith(f"Hi Guest {index}, about"), said
            wav = data / "recordings" / record["business_id"] / f"{record['id']}.wav"
            delays.append(_greeting_delay_s(wav))
    assert amd_wrong + unsure <= 3, (amd_wrong, unsure)
    answered = sum(_kind(n) == "answered" for n in numbers) - 2  # 2 were listed
    assert len(delays) >= answered - amd_wrong - unsure
    assert max(delays) <= 1.5, sorted(delays)[-5:]

    rows = list(csv.DictReader(io.StringIO(exported)))
    assert len(rows) == 200
    assert {r["number"] for r in rows} == set(numbers)
    assert Counter(r["outcome"] for r in rows) == Counter(c["outcome"] for c in contacts)

    events = [json.loads(r.body) for r in hooks.received]
    ended = [e["data"] for e in events if e["event"] == "campaign.call.ended"]
    assert len(ended) == sum(c["attempts"] for c in contacts)
    assert [e["data"]["campaign_id"] for e in events if e["event"] == "campaign.finished"] == [cid]


def _auth(run: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {run.admin_key}"}


def _t(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


async def _records(run: Any, base: str, count: int) -> list[dict[str, Any]]:
    """The business's call records, once `count` are stored."""

    async def all_stored() -> list[dict[str, Any]] | None:
        export = f"{base}/calls/export"
        response = await run.client.get(export, params={"format": "ndjson"}, headers=_auth(run))
        found = [json.loads(line) for line in response.text.splitlines() if line]
        return found if len(found) >= count else None

    found = await wait_for(all_stored, 20)
    assert found, f"fewer than {count} call records stored"
    return found


async def _state(run: Any, base: str, cid: str) -> str:
    """The campaign's progress and its contacts' attempts, for a failing assertion."""
    progress = (await run.ok("GET", f"{base}/campaigns/{cid}"))["progress"]
    contacts = (await run.ok("GET", f"{base}/campaigns/{cid}/contacts", params={"limit": 200}))["items"]
    tried = Counter((c["state"], c["outcome"], c["attempts"]) for c in contacts)
    return f"progress {progress}; contacts by (state, outcome, attempts) {dict(tried)}"


def _greeting_delay_s(wav: Path) -> float:
    """From the end of the person's hello to the start of the agent's greeting, in a recording
    (both directions mixed): the gap between its first two stretches of sound."""
    with wave.open(str(wav)) as reader:
        pcm = np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16).astype(np.float64)
        rate = reader.getframerate()
    frame = rate // 50
    loud = [float(np.sqrt(np.mean(pcm[i : i + frame] ** 2))) > 300 for i in range(0, len(pcm) - frame, frame)]
    spans: list[list[int]] = []
    for index, on in enumerate(loud):
        if on and spans and index - spans[-1][1] <= 10:  # a pause under 200 ms is within a stretch
            spans[-1][1] = index
        elif on:
            spans.append([index, index])
    assert len(spans) >= 2, f"{wav.name}: {len(spans)} stretches of sound"
    return (spans[1][0] - spans[0][1]) * 0.02


async def test_a_campaign_that_cannot_dial_at_all_is_paused_with_the_reason_and_no_attempt_spent(
    tmp_path: Path,
) -> None:
    async with dialling_platform(tmp_path / "data", MovableClock(START)) as d:
        run = d.run
        reseller = (await run.ok("POST", "/v1/resellers", json={"name": "R"}))["id"]
        business = (await run.ok("POST", "/v1/businesses", json={"name": "B", "reseller_id": reseller}))["id"]
        base = f"/v1/businesses/{business}"
        no_caller_ids = {"name": "t", "outbound_host": "127.0.0.1", "outbound_port": free_udp_and_tcp_port()}
        await run.ok("POST", f"{base}/trunks", json=no_caller_ids)
        agent = (await run.ok("POST", f"{base}/agents", json={"name": "a"}))["id"]
        contacts = [{"number": f"+1212555{n:04d}"} for n in range(1000, 1005)]
        campaign = await run.ok(
            "POST", f"{base}/campaigns", json={"name": "c", "agent_id": agent, "contacts": contacts}
        )
        one = f"{base}/campaigns/{campaign['id']}"
        await run.ok("POST", f"{one}/start")

        async def paused() -> dict[str, Any] | None:
            got = await run.ok("GET", one)
            return got if got["state"] == "paused" else None

        stopped = await wait_for(paused, 10)
        assert stopped, await _state(run, base, campaign["id"])
        assert (
            stopped["state_reason"] == "cannot dial: from: the trunk has no caller IDs; add one to it first"
        )
        assert stopped["progress"] == {"waiting": 5, "calling": 0, "done": 0}
        listed = (await run.ok("GET", f"{one}/contacts"))["items"]
        assert all(c["attempts"] == 0 and c["calls"] == [] for c in listed)
        resumed = await run.ok("POST", f"{one}/resume")  # once mended; here it pauses again
        assert (resumed["state"], resumed["state_reason"]) == ("running", "")


async def test_two_campaigns_under_one_business_limit_share_it_and_neither_starves(tmp_path: Path) -> None:
    _, carrier_port, carrier = start_quiet_carrier(tmp_path)
    clock = MovableClock(START)
    try:
        async with dialling_platform(tmp_path / "data", clock) as d:
            run = d.run
            base, agent = await echo_business(run, carrier_port, limit=4)
            ids = []
            for name, first in (("a", 1000), ("b", 2000)):  # last digits 0-3: people, who talk 5.5 s
                contacts = [{"number": f"+1212555{first + 10 * i + i % 4}"} for i in range(10)]
                # both open at 10:30 in New York, half an hour on: the first started cannot take
                # the whole limit before the second is started (calls are not taken back)
                window = {"start": "10:30", "end": "20:00", "days": [0, 1, 2, 3, 4]}
                spec = {"name": name, "agent_id": agent, "max_concurrent": 4, "calls_per_second": 10,
                        "window": window, "contacts": contacts}  # fmt: skip
                ids.append((await run.ok("POST", f"{base}/campaigns", json=spec))["id"])
            for cid in ids:
                await run.ok("POST", f"{base}/campaigns/{cid}/start")
            clock.advance(1800)
            shares: list[tuple[int, int]] = []  # each campaign's calls under way, while both wait
            while True:
                got = [await run.ok("GET", f"{base}/campaigns/{cid}") for cid in ids]
                if all(g["state"] == "finished" for g in got):
                    break
                flying = [d.campaigns.under_way(cid) for cid in ids]
                if all(g["progress"]["waiting"] > 0 for g in got) and sum(flying) == 4:
                    shares.append((flying[0], flying[1]))
                await asyncio.sleep(0.1)
    finally:
        stop_process(carrier)
    assert len(shares) > 20
    assert all(a + b == 4 for a, b in shares)  # the business's limit, shared
    assert all(min(a, b) >= 1 for a, b in shares), Counter(shares)  # neither was shut out
    assert Counter(shares).most_common(1)[0][0] == (2, 2)  # and most of the time, half each
