"""SIPp against voicegrid's SIP stack over real UDP and TCP sockets on loopback."""

import asyncio
import contextlib
import io
import subprocess
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from tests.support.sipp import SCENARIOS, SippRun, run_sipp
from voicegrid.media.ports import PortAllocator
from voicegrid.media.session import AudioFrame, CallSession
from voicegrid.sip.message import Request
from voicegrid.sip.registration import Registration
from voicegrid.sip.useragent import Addr, UserAgent
from voicegrid.telephony.agents import EchoAgent
from voicegrid.telephony.book import Call, CallState
from voicegrid.telephony.calls import CallControl, Decision, DialPlan
from voicegrid.telephony.plan import CallPlan
from voicegrid.telephony.ratelimit import SourceRateLimiter
from voicegrid.testing.ports import free_port_block, free_udp_and_tcp_port


async def decide(request: Request, source: Addr, call_id: str) -> Decision:
    user = request.uri.split(":", 1)[1].split("@", 1)[0]
    if user == "+15550100":
        return Decision(200, ring_ms=50)
    if user == "ring":
        return Decision(200, ring_ms=20_000)
    if user == "late":
        return Decision(200, ring_ms=300)
    if user == "busy":
        return Decision(486)
    return Decision(404)


@pytest.fixture
async def control() -> AsyncIterator[CallControl]:
    port = free_udp_and_tcp_port()
    calls = CallControl(UserAgent(("udp", "127.0.0.1", port)), decide)
    await calls.start("127.0.0.1", port)
    try:
        yield calls
    finally:
        await calls.stop()


def _sipp_args(control: CallControl, *extra: str) -> list[str]:
    port = free_udp_and_tcp_port()
    return [f"127.0.0.1:{control.ua.local[2]}", "-i", "127.0.0.1", "-p", str(port), *extra]


@pytest.mark.parametrize("transport", ["u1", "t1"])
async def test_sipps_builtin_uac_completes_its_calls(
    control: CallControl, transport: str, tmp_path: Path
) -> None:
    run = await run_sipp(
        _sipp_args(
            control, "-sn", "uac", "-s", "+15550100", "-m", "10", "-r", "20", "-d", "200", "-t", transport
        ),
        tmp_path,
    )
    assert run.returncode == 0, run.log
    ended = [c for c in control.calls.values() if c.state is CallState.ENDED]
    assert len(ended) == 10
    assert all(c.ended_by == "remote" and c.media is not None for c in ended)


async def test_calls_complete_under_10_percent_packet_loss(control: CallControl, tmp_path: Path) -> None:
    run = await run_sipp(
        _sipp_args(
            control, "-sn", "uac", "-s", "+15550100", "-m", "20", "-r", "20", "-d", "200", "-lost", "10"
        ),
        tmp_path,
        limit_s=120,
    )
    assert run.returncode == 0, run.log
    counters = control.ua.counters
    assert counters.retransmitted + counters.duplicates > 0  # loss was repaired by retransmission


@pytest.mark.parametrize("transport", ["u1", "t1"])
async def test_cancel_while_ringing_ends_in_487(control: CallControl, transport: str, tmp_path: Path) -> None:
    scenario = str(SCENARIOS / "uac_cancel.xml")
    run = await run_sipp(
        _sipp_args(control, "-sf", scenario, "-s", "ring", "-m", "3", "-t", transport), tmp_path
    )
    assert run.returncode == 0, run.log
    outcomes = sorted(c.outcome or "" for c in control.calls.values())
    assert outcomes == ["cancelled"] * 3


@pytest.mark.parametrize("transport", ["u1", "t1"])
async def test_a_cancel_that_loses_the_race_leaves_the_call_answered(
    control: CallControl, transport: str, tmp_path: Path
) -> None:
    scenario = str(SCENARIOS / "uac_cancel_after_answer.xml")
    run = await run_sipp(
        _sipp_args(control, "-sf", scenario, "-s", "+15550100", "-m", "3", "-t", transport), tmp_path
    )
    assert run.returncode == 0, run.log
    assert sorted(c.outcome or "" for c in control.calls.values()) == ["completed"] * 3
    assert all(c.ended_by == "remote" for c in control.calls.values())


async def test_unknown_number_gets_404_and_busy_gets_486(control: CallControl, tmp_path: Path) -> None:
    for user, status in (("+19990000", "404"), ("busy", "486")):
        run = await run_sipp(_sipp_args(control, "-sn", "uac", "-s", user, "-m", "1"), tmp_path / user)
        assert run.returncode != 0  # SIPp's uac expects a 200
        assert f"SIP/2.0 {status}" in run.log or status in run.log


async def sipp_server(
    scenario: list[str], transport: str, workdir: Path
) -> tuple["asyncio.Future[SippRun]", Addr]:
    """SIPp as a callee or registrar on a free port; returns its run (to await) and its address."""
    port = free_udp_and_tcp_port()
    args = [*scenario, "-i", "127.0.0.1", "-p", str(port), "-m", "1", "-t", transport]
    sipp = asyncio.ensure_future(run_sipp(args, workdir, limit_s=20))
    await asyncio.sleep(0.5)  # let SIPp bind
    return sipp, ("udp" if transport == "u1" else "tcp", "127.0.0.1", port)


@pytest.mark.parametrize("transport", ["u1", "t1"])
async def test_an_outbound_invite_answers_a_digest_challenge_and_connects(
    control: CallControl, transport: str, tmp_path: Path
) -> None:
    sipp, dest = await sipp_server(["-sf", str(SCENARIOS / "uas_digest.xml")], transport, tmp_path)
    call: Call = control.dial(
        f"sip:+15557654321@127.0.0.1:{dest[2]}",
        dest,
        from_uri="sip:+15550100@127.0.0.1",
        credentials=("carrier", "pa55word"),
    )
    async with asyncio.timeout(15):
        await call.answered.wait()
    assert call.media is not None
    assert call.media.codec.name == "PCMU"
    await asyncio.sleep(0.2)
    control.hangup(call)
    run = await sipp
    assert run.returncode == 0, run.log
    assert call.outcome == "answered"


@pytest.mark.parametrize("transport", ["u1", "t1"])
async def test_an_outbound_call_to_sipps_builtin_uas_connects_and_hangs_up(
    control: CallControl, transport: str, tmp_path: Path
) -> None:
    sipp, dest = await sipp_server(["-sn", "uas"], transport, tmp_path)
    call = control.dial(f"sip:service@127.0.0.1:{dest[2]}", dest, from_uri="sip:+15550100@127.0.0.1")
    async with asyncio.timeout(15):
        await call.answered.wait()
    control.hangup(call)
    run = await sipp
    assert run.returncode == 0, run.log
    assert (call.outcome, call.ended_by) == ("answered", "local")


async def test_a_registration_answers_the_challenge_and_refreshes_before_expiry(
    control: CallControl, tmp_path: Path
) -> None:
    sipp, dest = await sipp_server(["-sf", str(SCENARIOS / "registrar_digest.xml")], "u1", tmp_path)
    registration = Registration(
        f"sip:127.0.0.1:{dest[2]}", "sip:+15550100@carrier.test", control.contact, 3600
    )
    control.registrations.register(registration, dest, ("trunkuser", "trunkpass"))
    run = await sipp
    assert run.returncode == 0, run.log
    await asyncio.sleep(0.2)
    assert registration.state == "registered"
    assert registration.cseq == 4  # two REGISTERs, each challenged once
    assert registration.expires_at is not None


@pytest.mark.parametrize("transport", ["u1", "t1"])
async def test_hanging_up_a_ringing_outbound_call_cancels_it(
    control: CallControl, transport: str, tmp_path: Path
) -> None:
    sipp, dest = await sipp_server(["-sf", str(SCENARIOS / "uas_ring_then_cancel.xml")], transport, tmp_path)
    call = control.dial(f"sip:+15557654321@127.0.0.1:{dest[2]}", dest, from_uri="sip:+15550100@127.0.0.1")
    await asyncio.sleep(0.5)  # it rings
    control.hangup(call)
    async with asyncio.timeout(10):
        await call.ended.wait()
    run = await sipp
    assert run.returncode == 0, run.log
    assert (call.outcome, call.ended_by) == ("cancelled", "local")


async def make_tone(path: Path, *, seconds: int, hz: int) -> None:
    """A raw PCMU tone file for SIPp's rtp_stream, made with sox."""
    command = ["sox", "-n", "-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw", str(path)]
    await asyncio.to_thread(
        subprocess.run, [*command, "synth", str(seconds), "sine", str(hz)], check=True, timeout=30
    )


async def stream_tone(port: int, workdir: Path) -> SippRun:
    """SIPp calls 127.0.0.1:`port` and streams two seconds of a 700 Hz PCMU tone, then hangs up."""
    await make_tone(workdir / "tone.ulaw", seconds=2, hz=700)
    rtp_port = free_port_block()
    scenario = str(SCENARIOS / "uac_rtp_stream.xml")
    args = [f"127.0.0.1:{port}", "-i", "127.0.0.1", "-p", str(free_udp_and_tcp_port()), "-sf", scenario]
    return await run_sipp([*args, "-s", "+15550100", "-m", "1", "-mp", str(rtp_port)], workdir)


async def test_sipp_audio_into_the_echo_agent_is_received_and_sent_back(
    control: CallControl, tmp_path: Path
) -> None:
    """SIPp streams two seconds of a PCMU tone; the echo agent hears it and sends it back."""

    async def echo(request: Request, source: Addr, call_id: str) -> Decision:
        return Decision(200, plan=CallPlan(talker=EchoAgent()))

    control.decide = echo
    run = await stream_tone(control.ua.local[2], tmp_path)
    assert run.returncode == 0, run.log
    (call,) = control.calls.values()
    media = call.media_summary
    assert media["packets_received"] >= 90  # about 100 packets of 20 ms
    assert media["packets_lost"] <= 2
    assert media["packets_sent"] >= media["packets_received"]  # the echo, plus comfort silence
    assert media["packets_sent"] - media["silence_sent"] >= 90  # the echo itself
    assert media["wrong_source"] == 0
    assert call.rtp_port is None  # released at hangup
    assert control.media.ports.in_use == 0


async def test_dtmf_1_2_3_sent_by_sipp_arrive_as_events(control: CallControl, tmp_path: Path) -> None:
    digits: list[str] = []

    class Digits(EchoAgent):
        def on_dtmf(self, session: CallSession, digit: str) -> None:
            digits.append(digit)

    async def listen(request: Request, source: Addr, call_id: str) -> Decision:
        return Decision(200, plan=CallPlan(talker=Digits()))

    control.decide = listen
    run = await run_sipp(
        _sipp_args(
            control,
            "-sf",
            str(SCENARIOS / "uac_dtmf.xml"),
            "-s",
            "+15550100",
            "-m",
            "1",
            "-mp",
            str(free_port_block()),
        ),
        tmp_path,
    )
    assert run.returncode == 0, run.log
    assert digits == ["1", "2", "3"]


async def test_an_outbound_call_to_a_busy_callee_ends_busy(control: CallControl, tmp_path: Path) -> None:
    sipp, dest = await sipp_server(["-sf", str(SCENARIOS / "uas_busy.xml")], "u1", tmp_path)
    call = control.dial(f"sip:+15557654321@127.0.0.1:{dest[2]}", dest, from_uri="sip:+15550100@127.0.0.1")
    async with asyncio.timeout(10):
        await call.ended.wait()
    run = await sipp
    assert run.returncode == 0, run.log
    assert (call.outcome, call.ended_by) == ("busy", "remote")
    assert control.media.ports.in_use == 0


async def test_an_outbound_call_nobody_answers_ends_no_answer_at_the_ring_timeout(
    control: CallControl, tmp_path: Path
) -> None:
    sipp, dest = await sipp_server(["-sf", str(SCENARIOS / "uas_ring_then_cancel.xml")], "u1", tmp_path)
    call = control.dial(
        f"sip:+15557654321@127.0.0.1:{dest[2]}", dest, from_uri="sip:+15550100@127.0.0.1", ring_timeout_s=1.0
    )
    async with asyncio.timeout(10):
        await call.ended.wait()
    run = await sipp
    assert run.returncode == 0, run.log  # SIPp got its CANCEL and sent 487
    assert (call.outcome, call.ended_by) == ("no-answer", "local")


async def test_the_agent_transfers_the_caller_by_refer_and_leaves_when_it_succeeds(
    control: CallControl, tmp_path: Path
) -> None:

    class Transferring(EchoAgent):
        def on_start(self, session: CallSession) -> None:
            asyncio.get_running_loop().call_later(0.5, session.transfer, "sip:+15550199@127.0.0.1")

    async def route(request: Request, source: Addr, call_id: str) -> Decision:
        return Decision(200, plan=CallPlan(talker=Transferring()))

    control.decide = route
    run = await run_sipp(
        _sipp_args(
            control,
            "-sf",
            str(SCENARIOS / "uac_accepts_refer.xml"),
            "-s",
            "+15550100",
            "-m",
            "1",
        ),
        tmp_path,
    )
    assert run.returncode == 0, run.log
    (call,) = control.calls.values()
    assert (call.transfer_state, call.outcome, call.ended_by) == ("done", "transferred", "local")
    assert call.transfer_to == "sip:+15550199@127.0.0.1"


async def test_an_invite_flood_from_one_source_gets_503_with_retry_after(
    control: CallControl, tmp_path: Path
) -> None:
    control.decide = decide
    control.limiter = SourceRateLimiter(5, 5)
    run = await run_sipp(
        [
            *_sipp_args(control, "-sn", "uac", "-s", "+15550100", "-m", "40", "-r", "200", "-d", "100"),
            "-trace_err",
        ],
        tmp_path,
    )
    assert run.returncode != 0  # SIPp's uac counts the refused calls as failed
    assert "SIP/2.0 503 Too many calls from this source" in run.log
    assert "X-Voicegrid-Limit: caller invite_rate_per_source" in run.log  # an edge does not fail it over
    assert control.limiter.refused > 0
    answered = [c for c in control.calls.values() if c.outcome == "completed"]
    assert len(answered) >= 5  # the burst got through and completed normally


async def test_draining_refuses_new_calls_and_ends_the_rest_at_the_deadline(
    control: CallControl, tmp_path: Path
) -> None:
    got_call = asyncio.Event()
    route = control.decide

    async def spy(request: Request, source: Addr, call_id: str) -> Decision:
        got_call.set()
        return await route(request, source, call_id)

    control.decide = spy
    long_call = asyncio.ensure_future(
        run_sipp(
            _sipp_args(control, "-sn", "uac", "-s", "+15550100", "-m", "1", "-d", "20000"), tmp_path / "long"
        )
    )
    async with asyncio.timeout(10):
        await got_call.wait()
        await next(iter(control.calls.values())).answered.wait()
    hung_up = await control.drain(limit_s=0.5)
    assert hung_up == 1
    (call,) = control.calls.values()
    assert (call.outcome, call.ended_by) == ("drained", "local")
    refused = await run_sipp(
        [*_sipp_args(control, "-sn", "uac", "-s", "+15550100", "-m", "1"), "-trace_err"], tmp_path / "new"
    )
    assert "SIP/2.0 503 Shutting down" in refused.log
    assert control.ua.options_status == 503
    ended = await long_call  # SIPp saw our BYE where it expected to send its own
    assert ended.returncode != 0


async def test_a_call_longer_than_the_agents_maximum_is_hung_up(control: CallControl, tmp_path: Path) -> None:

    async def short(request: Request, source: Addr, call_id: str) -> Decision:
        return Decision(200, plan=CallPlan(max_duration_s=0.5))

    control.decide = short
    run = await run_sipp(
        [*_sipp_args(control, "-sn", "uac", "-s", "+15550100", "-m", "1", "-d", "10000"), "-trace_err"],
        tmp_path,
    )
    assert run.returncode != 0  # SIPp wanted to hang up itself, after 10 s
    (call,) = control.calls.values()
    assert (call.outcome, call.ended_by) == ("max-duration", "local")


async def test_a_recorded_call_leaves_a_wav_of_both_directions(control: CallControl, tmp_path: Path) -> None:

    async def record(request: Request, source: Addr, call_id: str) -> Decision:
        return Decision(200, plan=CallPlan(talker=EchoAgent(), record=True, business_id="biz_test"))

    control.decide = record
    control.media.recordings_dir = tmp_path / "rec"
    streaming = asyncio.create_task(stream_tone(control.ua.local[2], tmp_path))
    on_disk = [0]  # the .part file's size while the call is up: written as the call goes
    while not streaming.done():
        live = next(iter(control.calls.values()), None)
        if live is not None and live.recording is not None and not live.ended.is_set():
            with contextlib.suppress(FileNotFoundError):
                on_disk.append(live.recording.part.stat().st_size)
        await asyncio.sleep(0.05)
    run = await streaming
    assert run.returncode == 0, run.log
    assert max(on_disk) >= 8000 * 2  # a second of the mix was on disk before the call ended
    (call,) = control.calls.values()
    async with asyncio.timeout(10):
        await call.recorded.wait()
    assert call.recording_path == tmp_path / "rec" / "biz_test" / f"{call.id}.wav"
    data = await asyncio.to_thread(call.recording_path.read_bytes)
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (1, 8000)
        seconds = wav.getnframes() / 8000
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    assert 2.0 <= seconds <= 4.0  # the call: 2 s of tone and the pause before the BYE
    loud = np.abs(pcm.astype(np.int32)) > 3000
    assert loud.sum() > 8000  # the tone heard, and echoed, over a second and more


async def test_when_the_caller_refuses_refer_we_call_the_target_and_bridge_the_audio(
    control: CallControl, tmp_path: Path
) -> None:
    target_run, target = await sipp_server(["-sn", "uas"], "u1", tmp_path / "target")
    target_uri = f"sip:desk@127.0.0.1:{target[2]}"

    async def route(call: Call, to: str) -> DialPlan | None:
        return DialPlan(to, target, "sip:+15550100@127.0.0.1")

    class Transferring(EchoAgent):
        def on_start(self, session: CallSession) -> None:
            asyncio.get_running_loop().call_later(0.5, session.transfer, target_uri)

    async def answer(request: Request, source: Addr, call_id: str) -> Decision:
        return Decision(200, plan=CallPlan(talker=Transferring()))

    control.decide = answer
    control.transfers.route = route
    await make_tone(tmp_path / "tone.ulaw", seconds=3, hz=700)
    caller = await run_sipp(
        _sipp_args(
            control,
            "-sf",
            str(SCENARIOS / "uac_refuses_refer.xml"),
            "-s",
            "+15550100",
            "-m",
            "1",
            "-mp",
            str(free_port_block()),
        ),
        tmp_path,
    )
    assert caller.returncode == 0, caller.log
    assert (await target_run).returncode == 0  # the target was called, answered, and hung up by us
    first = next(c for c in control.calls.values() if c.direction == "inbound")
    leg = next(c for c in control.calls.values() if c.direction == "outbound")
    assert first.transfer_state == "bridged"
    assert leg.to == target_uri
    forwarded = leg.media_summary["packets_sent"] - leg.media_summary["silence_sent"]
    assert forwarded >= 50  # the caller's tone went on to the target
    assert leg.state is CallState.ENDED


async def test_early_media_on_183_is_heard_before_the_answer(control: CallControl, tmp_path: Path) -> None:
    await make_tone(tmp_path / "tone.ulaw", seconds=1, hz=500)
    sipp, dest = await sipp_server(
        ["-sf", str(SCENARIOS / "uas_early_media.xml"), "-mp", str(free_port_block())],
        "u1",
        tmp_path,
    )
    early: list[float] = []

    class Listener(EchoAgent):
        def on_audio(self, session: CallSession, frame: AudioFrame) -> None:
            if not call.answered.is_set() and not frame.concealed:
                early.append(frame.level_dbfs())

    call = control.dial(
        f"sip:+15557654321@127.0.0.1:{dest[2]}", dest, from_uri="sip:+15550100@127.0.0.1", agent=Listener()
    )
    async with asyncio.timeout(15):
        await call.answered.wait()
    control.hangup(call)
    run = await sipp
    assert run.returncode == 0, run.log
    assert len(early) > 25  # over half a second of the announcement, before the 200
    assert sorted(early)[len(early) // 2] > -30  # and it was the tone, not silence


async def test_when_every_rtp_port_is_taken_a_new_call_gets_503(control: CallControl, tmp_path: Path) -> None:
    low = free_port_block(2)
    control.media.ports = PortAllocator(low, low + 2)  # room for one call
    run = await run_sipp(
        [
            *_sipp_args(
                control, "-sn", "uac", "-s", "+15550100", "-m", "2", "-l", "2", "-r", "10", "-d", "1500"
            ),
            "-trace_err",
        ],
        tmp_path,
    )
    assert run.returncode != 0  # one of the two calls was refused
    assert "SIP/2.0 503 No media ports free" in run.log
    assert [c.outcome for c in control.calls.values()].count("completed") == 1
