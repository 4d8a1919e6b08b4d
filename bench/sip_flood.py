"""How a node holds up while strangers flood it: SIP floods over UDP, idle and slow TCP connections.

Run: .venv/bin/python bench/sip_flood.py [--seconds 10] [--rate 5000]

It starts `voicegrid serve --demo` with a file limit of 1,024 (soft and hard) on loopback, then runs one
phase after another, each for --seconds: nothing (the baseline); OPTIONS at --rate per second from one
source address; INVITEs to an unknown number at --rate from one source; OPTIONS at --rate spread over
200 sources; 1,000 idle TCP connections (kept open: each one the node closes is opened again);
200 slow TCP connections (a byte a second); and OPTIONS from one source with the 1,000 idle TCP
connections at once. The attack runs in its own process. Meanwhile this process asks /healthz every
20 ms and places a normal call (INVITE to the demo's echo number from an address of its own, then
ACK and BYE) every second. Per phase it prints /healthz p50/p99/max, calls set up and their set-up
time, the node's RSS and open descriptors, and what the node dropped or closed (its /metrics).
Everything goes to 127.0.0.0/8 only, and every loop is bounded by the phase's time.
Figures: bench/results/sip_flood-<date>.json and .md. Goal: a normal call still connects and
/healthz p99 stays under 200 ms with 5,000 messages/s from one source and 1,000 idle TCP connections.
"""

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import re
import resource
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from voicegrid.testing.ports import free_port, free_udp_and_tcp_port

ADMIN_KEY = "vg_admin_" + secrets.token_hex(16)
FILE_LIMIT = 1024
RESULTS = Path(__file__).resolve().parent / "results"
SDP = "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n"


def request(method: str, ip: str, port: int, sip_port: int, number: str, body: str = "", to_tag: str = "",
            call_id: str | None = None, cseq: int = 1) -> bytes:  # fmt: skip
    call_id = call_id or secrets.token_hex(8)
    lines = [
        f"{method} sip:{number}@127.0.0.1:{sip_port} SIP/2.0",
        f"Via: SIP/2.0/UDP {ip}:{port};branch=z9hG4bK{secrets.token_hex(6)};rport",
        "Max-Forwards: 70",
        f"From: <sip:bench@{ip}>;tag=f{call_id[:6]}",
        f"To: <sip:{number}@127.0.0.1>" + (f";tag={to_tag}" if to_tag else ""),
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
        f"Contact: <sip:bench@{ip}:{port}>",
    ]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


# ---- the attacker, in its own process -----------------------------------------------------------
def _udp_flood(method: str, sources: list[str], rate: float, seconds: float, sip_port: int) -> int:
    socks = []
    for ip in sources:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((ip, 0))
        s.setblocking(False)
        socks.append(s)
    number = "+19999999999" if method == "INVITE" else "probe"
    body = SDP.format(ip=sources[0], port=4000) if method == "INVITE" else ""
    sent, start, step = 0, time.monotonic(), 0.01
    while (now := time.monotonic()) < start + seconds:
        due = int((now - start) * rate)
        while sent < due:
            s = socks[sent % len(socks)]
            ip, port = s.getsockname()
            with contextlib.suppress(BlockingIOError, OSError):
                s.sendto(request(method, ip, port, sip_port, number, body), ("127.0.0.1", sip_port))
            sent += 1
        time.sleep(step)
    return sent


def _tcp_hold(count: int, sip_port: int, seconds: float, slow: bool) -> int:
    """Keep `count` connections open from 40 source addresses; reopen what the node closes."""
    sources = [f"127.0.2.{i}" for i in range(1, 41)]
    conns: dict[int, socket.socket] = {}
    opened, start, drip = 0, time.monotonic(), 0.0
    while time.monotonic() < start + seconds:
        for i in range(count):
            s = conns.get(i)
            if s is not None:
                try:
                    if s.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) == b"":
                        raise ConnectionResetError
                except BlockingIOError:
                    continue
                except OSError:
                    s.close()
                    del conns[i]
            if opened - len(conns) > count * 20:
                continue  # bounded: no more than 20 reopenings per slot in a phase
            try:
                s = socket.create_connection(
                    ("127.0.0.1", sip_port), timeout=1, source_address=(sources[i % 40], 0)
                )
                s.setblocking(False)
                conns[i] = s
                opened += 1
            except OSError:
                pass
        if slow and time.monotonic() - drip >= 1.0:  # a byte a second of a message that never ends
            drip = time.monotonic()
            for s in conns.values():
                with contextlib.suppress(OSError):
                    s.send(b"O")
        time.sleep(0.2)
    for s in conns.values():
        s.close()
    return opened


def attack(phase: str, rate: float, seconds: float, sip_port: int) -> None:
    if phase == "options, one source":
        _udp_flood("OPTIONS", ["127.0.0.2"], rate, seconds, sip_port)
    elif phase == "INVITEs, one source":
        _udp_flood("INVITE", ["127.0.0.3"], rate, seconds, sip_port)
    elif phase == "options, 200 sources":
        _udp_flood("OPTIONS", [f"127.0.1.{i}" for i in range(1, 201)], rate, seconds, sip_port)
    elif phase == "1,000 idle TCP":
        _tcp_hold(1000, sip_port, seconds, slow=False)
    elif phase == "200 slow TCP":
        _tcp_hold(200, sip_port, seconds, slow=True)
    elif phase == "options + 1,000 idle TCP":
        held = multiprocessing.Process(target=_tcp_hold, args=(1000, sip_port, seconds, False))
        held.start()
        _udp_flood("OPTIONS", ["127.0.0.2"], rate, seconds, sip_port)
        held.join(seconds + 10)


# ---- the measurer -------------------------------------------------------------------------------
class Caller(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.responses: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.responses.put_nowait(data)


async def normal_call(sip_port: int, statuses: list[int]) -> float | None:
    """INVITE -> 200 time in ms of one call to the echo agent from 127.0.0.250, then ACK and BYE. The
    INVITE is sent again on RFC 3261's timer A (0.5 s, then doubling) until an answer comes, as a phone
    does; the final status goes to `statuses` (0: none within 8 s)."""
    loop = asyncio.get_running_loop()
    caller = Caller()
    transport, _ = await loop.create_datagram_endpoint(lambda: caller, local_addr=("127.0.0.250", 0))
    ip, port = transport.get_extra_info("sockname")
    call_id = secrets.token_hex(8)
    invite = request(
        "INVITE", ip, port, sip_port, "+15550101", SDP.format(ip=ip, port=port + 2), call_id=call_id
    )
    started = time.perf_counter()
    status, heard, wait = 0, False, 0.5
    try:
        async with asyncio.timeout(8):
            transport.sendto(invite, ("127.0.0.1", sip_port))
            while status < 200:
                try:
                    async with asyncio.timeout(wait if not heard else 8):
                        data = await caller.responses.get()
                except TimeoutError:
                    transport.sendto(invite, ("127.0.0.1", sip_port))  # timer A: no answer yet
                    wait *= 2
                    continue
                heard, status = True, int(data.split(b" ", 2)[1])
    except TimeoutError:
        pass
    statuses.append(status)
    try:
        if status != 200:
            return None
        elapsed = (time.perf_counter() - started) * 1000
        tag = re.search(rb"^To:.*;tag=([^;\r\n]+)", data, re.MULTILINE | re.IGNORECASE)
        to_tag = tag.group(1).decode() if tag else ""
        for method, cseq in (("ACK", 1), ("BYE", 2)):
            msg = request(method, ip, port, sip_port, "+15550101", to_tag=to_tag, call_id=call_id, cseq=cseq)
            transport.sendto(msg, ("127.0.0.1", sip_port))
            await asyncio.sleep(0.3)
        return elapsed
    finally:
        transport.close()


def node_figures(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return {"rss_mb": round(rss_kb / 1024, 1), "open_files": len(os.listdir(f"/proc/{pid}/fd"))}


def counters(metrics: str) -> dict[str, float]:
    out = {}
    for line in metrics.splitlines():
        if line.startswith(("voicegrid_sip_", "voicegrid_calls_active ")) and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


async def measure(phase: str, args: argparse.Namespace, http: str, sip_port: int, pid: int) -> dict[str, Any]:
    attacker = None
    if phase != "baseline":
        attacker = multiprocessing.Process(target=attack, args=(phase, args.rate, args.seconds, sip_port))
        attacker.start()
    latencies: list[float] = []
    setups: list[float | None] = []
    statuses: list[int] = []
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(base_url=http, timeout=5) as client:
        before = counters((await client.get("/metrics", headers=headers)).text)
        start = time.monotonic()
        next_call = start + 0.5
        calls: list[asyncio.Task[float | None]] = []
        while time.monotonic() < start + args.seconds:
            t0 = time.perf_counter()
            try:
                ok = (await client.get("/healthz")).status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - t0) * 1000 if ok else 5000.0)
            if time.monotonic() >= next_call:
                next_call += 1.0
                calls.append(asyncio.create_task(normal_call(sip_port, statuses)))
            await asyncio.sleep(0.02)
        setups = list(await asyncio.gather(*calls))
        figures = node_figures(pid)
        after = counters((await client.get("/metrics", headers=headers)).text)
    if attacker is not None:
        attacker.join(args.seconds + 30)
        if attacker.is_alive():
            attacker.kill()
    latencies.sort()
    done = [s for s in setups if s is not None]
    return {
        "phase": phase,
        "healthz_ms": {
            "p50": round(statistics.median(latencies), 2),
            "p99": round(latencies[int(len(latencies) * 0.99) - 1], 2),
            "max": round(latencies[-1], 2),
            "samples": len(latencies),
        },
        "calls": {
            "placed": len(setups),
            "connected": len(done),
            "final_statuses": sorted(set(statuses)),
            "setup_ms_p50": round(statistics.median(done), 1) if done else None,
            "setup_ms_max": round(max(done), 1) if done else None,
        },
        "node": figures,
        "node_counters_delta": {
            k: after[k] - before.get(k, 0.0) for k in after if after[k] != before.get(k, 0.0)
        },
    }


def start_node(workdir: Path) -> tuple[subprocess.Popen[bytes], str, int]:
    http, sip = free_port(), free_udp_and_tcp_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEGRID_")}
    env.update(VOICEGRID_ADMIN_KEY=ADMIN_KEY, VOICEGRID_LOG_LEVEL="warning")

    def low_file_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (FILE_LIMIT, FILE_LIMIT))

    node = subprocess.Popen(
        [sys.executable, "-m", "voicegrid", "serve", "--demo", "--data-dir", str(workdir / "var"),
         "--http-port", str(http), "--sip-port", str(sip)],
        env=env, stdout=(workdir / "node.log").open("wb"), stderr=subprocess.STDOUT, preexec_fn=low_file_limit,
    )  # fmt: skip
    url = f"http://127.0.0.1:{http}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return node, url, sip
        if node.poll() is not None:
            break
        time.sleep(0.2)
    node.kill()
    raise SystemExit("the node did not start:\n" + (workdir / "node.log").read_text()[-3000:])


PHASES = (
    "baseline",
    "options, one source",
    "INVITEs, one source",
    "options, 200 sources",
    "1,000 idle TCP",
    "200 slow TCP",
    "options + 1,000 idle TCP",
)


def table(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        f"SIP flood against one node (file limit {FILE_LIMIT}), {args.seconds:g} s a phase, {args.rate:g} messages/s",
        "",
        "| phase | /healthz p50 ms | p99 ms | max ms | calls connected | set-up p50 ms | max ms | RSS MB | open files | node dropped or closed |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        h, c, n = r["healthz_ms"], r["calls"], r["node"]
        dropped = (
            ", ".join(
                f"{k.replace('voicegrid_sip_', '')} {v:g}"
                for k, v in r["node_counters_delta"].items()
                if k.startswith("voicegrid_sip_")
            )
            or "-"
        )
        lines.append(
            f"| {r['phase']} | {h['p50']} | {h['p99']} | {h['max']} | {c['connected']}/{c['placed']} | "
            f"{c['setup_ms_p50']} | {c['setup_ms_max']} | {n['rss_mb']} | {n['open_files']} | {dropped} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--rate", type=float, default=5000.0, help="messages per second of the UDP floods")
    parser.add_argument("--phases", nargs="*", default=list(PHASES), choices=PHASES)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="sip-flood-"))
    node, url, sip_port = start_node(workdir)
    rows = []
    try:
        for phase in args.phases:
            row = asyncio.run(measure(phase, args, url, sip_port, node.pid))
            rows.append(row)
            print(f"{phase}: healthz p99 {row['healthz_ms']['p99']} ms, calls {row['calls']['connected']}/"
                  f"{row['calls']['placed']}, RSS {row['node']['rss_mb']} MB", flush=True)  # fmt: skip
            time.sleep(2)  # the node settles between phases
    finally:
        node.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            node.wait(timeout=40)
        if node.poll() is None:
            node.kill()
    report = table(rows, args)
    print()
    print(report)
    RESULTS.mkdir(exist_ok=True)
    day = datetime.now(UTC).date().isoformat()
    saved = {"date": day, "machine": platform.platform(), "cpus": os.cpu_count(), "file_limit": FILE_LIMIT,
             "seconds_per_phase": args.seconds, "rate_per_s": args.rate, "phases": rows}  # fmt: skip
    (RESULTS / f"sip_flood-{day}.json").write_text(json.dumps(saved, indent=2) + "\n")
    (RESULTS / f"sip_flood-{day}.md").write_text(report + "\n")
    print(f"\nsaved bench/results/sip_flood-{day}.json and .md (node log: {workdir / 'node.log'})")


if __name__ == "__main__":
    main()
