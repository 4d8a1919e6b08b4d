"""The density benchmark's measuring parts: RTP lateness from a pcap capture, /proc readings, the report."""

import struct
from pathlib import Path

import pytest
from bench.harness import procfs
from bench.harness.harness import GOAL, Step, judge, stt_audio_share
from bench.harness.pcap import PcapError, RtpPacket, clock_skew_ms_per_s, lateness_ms, read_rtp
from bench.harness.profile import summarize
from bench.harness.report import markdown
from hypothesis import given, settings
from hypothesis import strategies as st


def _frame(src: int, dst: int, seq: int, ts: int, ssrc: int = 7, pt: int = 0) -> bytes:
    rtp = struct.pack("!BBHII", 0x80, pt, seq, ts, ssrc) + b"\xff" * 160
    udp = struct.pack("!HHHH", src, dst, 8 + len(rtp), 0) + rtp
    ip = bytes([0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]) + udp
    return b"\x00" * 12 + b"\x08\x00" + ip  # Ethernet, as on Linux lo


def _pcap(records: list[tuple[float, bytes]], nanos: bool = False) -> bytes:
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    out = struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 65535, 1)
    for at, frame in records:
        seconds = int(at)
        fraction = round((at - seconds) * (1e9 if nanos else 1e6))
        out += struct.pack("<IIII", seconds, fraction, len(frame), len(frame)) + frame
    return out


def test_a_stream_sent_on_time_is_never_late_and_a_delayed_packet_shows_its_delay() -> None:
    t0 = 1_700_000_000.0
    records = [(t0 + 0.020 * n, _frame(40000, 20000, n, 160 * n)) for n in range(50)]
    records[30] = (t0 + 0.020 * 30 + 0.0125, records[30][1])  # sent 12.5 ms late
    packets = list(read_rtp(_pcap(records)))
    assert len(packets) == 50
    late = lateness_ms(packets)
    assert max(late) == pytest.approx(12.5, abs=0.01)
    assert sorted(late)[-2] == pytest.approx(0.0, abs=0.01)


def test_each_stream_is_judged_against_its_own_timeline_and_timestamps_may_wrap() -> None:
    t0 = 1_700_000_000.0
    start = 2**32 - 160 * 10  # wraps after 10 packets
    a = [(t0 + 0.020 * n, _frame(40000, 20000, n, (start + 160 * n) % 2**32, ssrc=1)) for n in range(30)]
    b = [(t0 + 0.007 + 0.020 * n, _frame(40002, 20002, n, 999 + 160 * n, ssrc=2)) for n in range(30)]
    late = lateness_ms(list(read_rtp(_pcap(sorted(a + b), nanos=True))))
    assert len(late) == 60
    assert max(late) == pytest.approx(0.0, abs=0.01)  # another phase is not lateness


def test_a_capture_clock_that_runs_apart_from_the_senders_is_measured_as_a_skew_not_hidden() -> None:
    t0 = 1_700_000_000.0
    on_time = [(t0 + 0.020 * n, _frame(40000, 20000, n, 160 * n, ssrc=1)) for n in range(400)]
    # 0.5% slow: each 20 ms of RTP time takes 20.1 ms on the capture's clock, 5 ms more every second
    slow = [(t0 + 0.0201 * n, _frame(40002, 20002, n, 160 * n, ssrc=2)) for n in range(400)]
    short = [(t0 + 0.020 * n, _frame(40004, 20004, n, 160 * n, ssrc=3)) for n in range(100)]  # 2 s
    assert clock_skew_ms_per_s(list(read_rtp(_pcap(on_time)))) == pytest.approx(0.0, abs=1e-3)
    assert clock_skew_ms_per_s(list(read_rtp(_pcap(slow)))) == pytest.approx(0.1 / 20.1 * 1000, abs=1e-3)
    assert clock_skew_ms_per_s(list(read_rtp(_pcap(short)))) is None  # too short to tell
    late = lateness_ms(list(read_rtp(_pcap(slow))))
    assert max(late) == pytest.approx(399 * 0.1, abs=0.01)  # what the lateness alone would report


def test_a_step_with_a_skewed_capture_clock_says_so_under_the_table() -> None:
    step = {
        "mode": "one process per core",
        "n": 400,
        "attempt": 2,
        "cores": {},
        "rtp_clock_skew_ms_per_s": 4.97,
    }
    summary = {
        "steps": [step, {**step, "attempt": 1, "rtp_clock_skew_ms_per_s": 0.02}],
        "calls_per_core": 400.0, "best_n": 400, "workers": 2, "machine_cores": 2, "rss_mb_per_call": 0.4,
        "platform_ms_p95": 9.0, "rtp_lateness_ms_p99": 140.0, "max_n": 400, "stopped_because": "x",
    }  # fmt: skip
    notes = [line for line in markdown(summary).splitlines() if "off the RTP timestamps" in line]
    assert len(notes) == 1
    assert "N = 400 (one process per core, try 2)" in notes[0]
    assert "4.97 ms per second" in notes[0]


def test_rtcp_and_other_traffic_are_not_counted_and_the_window_bounds_the_packets() -> None:
    t0 = 1_700_000_000.0
    rtcp = _frame(40001, 20001, 0, 0, pt=72)  # RTCP SR: 200 & 0x7f
    records = [(t0, rtcp)] + [(t0 + 0.02 * n, _frame(40000, 20000, n, 160 * n)) for n in range(10)]
    packets = list(read_rtp(_pcap(records)))
    assert len(packets) == 10
    assert len(lateness_ms(packets, t0 + 0.05, t0 + 0.11)) == 3


def test_a_file_that_is_not_a_classic_pcap_or_is_cut_short_is_refused_clearly() -> None:
    with pytest.raises(PcapError, match="classic pcap"):
        list(read_rtp(b"\x0a\x0d\x0d\x0a" + b"\x00" * 40))  # pcapng
    whole = _pcap([(1.0, _frame(40000, 20000, 0, 0))])
    with pytest.raises(PcapError, match="past the file's end"):
        list(read_rtp(whole[:-10]))
    with pytest.raises(PcapError, match="more than 2 packets"):
        list(read_rtp(_pcap([(1.0 + n, _frame(40000, 20000, n, n)) for n in range(3)]), max_packets=2))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.integers(min_value=0, max_value=400))
def test_any_bytes_after_a_pcap_header_give_packets_or_a_pcap_error(junk: bytes, cut: int) -> None:
    data = _pcap([(1.0, _frame(40000, 20000, 1, 160))]) + junk
    try:
        packets = list(read_rtp(data[: len(data) - cut]))
    except PcapError:
        return
    assert all(isinstance(p, RtpPacket) for p in packets)


def test_proc_readings_add_user_and_system_time_and_read_the_resident_size() -> None:
    line = "123 (voicegrid (worker) x) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0 100 0 0"
    assert procfs.parse_stat(line) == pytest.approx(300 / procfs.CLK_TCK)
    assert procfs.parse_rss("Name:\tpython\nVmRSS:\t  2048 kB\n") == 2 * 2**20
    here = procfs.usage(__import__("os").getpid())
    assert here.cpu_s > 0
    assert here.rss_bytes > 10 * 2**20
    assert procfs.usage(2**22 + 12345) == procfs.Usage(0.0, 0)  # a process that is gone


def test_the_machine_reading_counts_stolen_time_as_busy_and_apart() -> None:
    stat = "cpu  700 40 100 1100 30 0 15 50 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n"
    reading = procfs.parse_machine(stat)
    assert reading.busy_s == pytest.approx((700 + 40 + 100 + 15 + 50) / procfs.CLK_TCK)
    assert reading.stolen_s == pytest.approx(50 / procfs.CLK_TCK)
    assert procfs.machine().busy_s > 0


def test_the_markdown_table_has_a_row_per_step_and_states_why_the_run_stopped(tmp_path: Path) -> None:
    step = {
        "mode": "one process per core", "n": 20, "succeeded": 20, "failed": 0, "calls_per_core": 210.5,
        "rss_mb_per_call": 0.4, "rtp_lateness_ms_p99": 3.1, "platform_ms_p95": 19.0,
        "voice_to_voice_ms_p50": 1000.0, "voice_to_voice_ms_p95": 1100.0, "turns": 70,
        "cores": {"voicegrid": 0.1, "sipp": 0.02, "emulators": 0.03, "machine": 0.2},
    }  # fmt: skip
    summary = {
        "steps": [step, {**step, "n": 60, "calls_per_core": None}], "calls_per_core": 210.5, "best_n": 20,
        "workers": 2, "machine_cores": 2, "rss_mb_per_call": 0.4, "platform_ms_p95": 19.0,
        "rtp_lateness_ms_p99": 3.1, "max_n": 60, "stopped_because": "the machine was saturated",
    }  # fmt: skip
    text = markdown(summary)
    rows = [line for line in text.splitlines() if line.startswith("| one process")]
    assert len(rows) == 2
    assert "| 60 |" in rows[1]
    assert "| - |" in rows[1]  # no figure is not a zero
    assert "0.10 / 0.02 / 0.03 / 0.20" in rows[0]
    assert "Stopped at N = 60: the machine was saturated" in text


def test_a_step_that_passes_the_harness_is_judged_apart_against_issue_21s_stricter_goal() -> None:
    step = Step(mode="one process per core", n=200, processes=2, succeeded=200, failed=0, turns=900)
    step.calls_per_core, step.rss_mb_per_call, step.rtp_lateness_ms_p99, step.platform_ms_p95 = (
        190.0,
        0.4,
        9.0,
        20.0,
    )
    judge(step)
    assert step.passed
    assert step.goal_missed == "190.0 calls per core; rtp_lateness_ms_p99 9.0 > 5; platform_ms_p95 20.0 > 10"
    step.calls_per_core, step.rtp_lateness_ms_p99, step.platform_ms_p95 = GOAL["calls_per_core"], 5.0, 10.0
    judge(step)
    assert step.goal_missed == ""
    step.failed = 1
    judge(step)
    assert not step.passed
    assert step.goal_missed.startswith("1 calls failed")


def test_a_py_spy_profile_adds_up_into_functions_and_the_parts_of_a_call() -> None:
    raw = "\n".join(
        [
            "<module> (cli.py:1);Runner.run (asyncio/runners.py:118) 50",
            "Runner.run (r.py:1);MediaClock._run (m.py:84);RtpSession._send (rtp_session.py:298) 30",
            "Runner.run (r.py:1);VoiceSession._respond (s.py:1);Llm.stream (llm/base.py:79);x (o.py:1) 20",
            "garbage line",
        ]
    )
    prof = summarize(raw)
    assert prof["samples"] == 100
    assert prof["own_percent"] == {
        "event loop itself (uvloop: sockets, timers, wake-ups)": 50.0,
        "RtpSession._send": 30.0,
        "x": 20.0,
    }
    assert prof["parts_percent"] == {
        "media clock tick: jitter buffer out, decode, VAD, RTP out": 30.0,
        "LLM request and stream": 20.0,
    }
    assert summarize("") == {"samples": 0}


def test_the_stt_audio_share_is_the_billed_stt_minutes_over_the_answered_time_of_the_calls() -> None:
    def record(answered: str | None, ended: str, stt_minutes: list[float]) -> dict[str, object]:
        items = [{"component": "stt", "unit": "minute", "quantity": m} for m in stt_minutes]
        items.append({"component": "telephony", "unit": "minute", "quantity": 9.0})  # not the STT's
        return {"answered_at": answered, "ended_at": ended, "cost": {"items": items}}

    records = [
        record("2026-12-04T10:00:00+00:00", "2026-12-04T10:01:00+00:00", [0.25]),
        record("2026-12-04T10:00:30+00:00", "2026-12-04T10:01:30+00:00", [0.25, 0.25]),  # after a failover
        record(None, "2026-12-04T10:00:05+00:00", []),  # never answered: no time, no audio
    ]
    assert stt_audio_share(records) == pytest.approx((15 + 30) / 120)
    assert stt_audio_share([]) is None
