"""The benchmark's real processes: provider emulators, voicegrid workers, SIPp callers and tcpdump,
each started on loopback ports of its own and stopped by pid."""

import base64
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from voicegrid.testing.ports import free_port, free_udp_and_tcp_port

VOICEGRID = [sys.executable, "-m", "voicegrid"]
SCENARIO = Path(__file__).with_name("caller.xml")


class LoadError(RuntimeError):
    """A part of the benchmark could not start or answer (the message says which, with its log)."""


@dataclass
class Proc:
    name: str
    popen: "subprocess.Popen[bytes]"
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 20.0) -> int | None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
        return self.finish(timeout_s)

    def finish(self, timeout_s: float) -> int | None:
        """Wait for the process to end by itself, killing it after `timeout_s`."""
        try:
            self.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=5)
        return self.popen.returncode


# The load generator and the emulators stand in for machines of their own (the carrier, the vendors):
# on this one they run at a lower priority, so that they do not preempt the system under test when the
# cores are busy. Their CPU is still measured, and a step whose callers could not keep up fails.
GENERATOR_NICE = 10


def start(
    name: str, command: list[str], workdir: Path, env: dict[str, str] | None = None, nice: int = 0
) -> Proc:
    log = workdir / f"{name}.log"
    if nice:
        command = [binary("nice", "coreutils"), "-n", str(nice), *command]
    with log.open("wb") as sink:
        popen = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    return Proc(name, popen, log)


def binary(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise LoadError(f"{name} is not installed: run `make setup-test` (Debian package {package})")
    return found


def wait_http(proc: Proc, url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not proc.alive():
            raise LoadError(f"{proc.name} exited:\n{proc.tail()}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise LoadError(f"{proc.name} did not answer {url} within {timeout_s:.0f} s:\n{proc.tail()}")


@dataclass
class Emulator:
    proc: Proc
    url: str


def start_emulator(
    name: str, provider: str, workdir: Path, first_byte_ms: float, script: list[str], jitter_ms: float = 0.0
) -> Emulator:
    port = free_port()
    lines = [arg for line in script for arg in ("--script", line)]
    proc = start(
        name,
        [
            *VOICEGRID,
            "emulate",
            provider,
            "--port",
            str(port),
            "--first-byte-ms",
            str(first_byte_ms),
            "--jitter-ms",
            str(jitter_ms),
            "--loop-script",
            *lines,
        ],
        workdir,
        nice=GENERATOR_NICE,
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(proc, url + "/")
    return Emulator(proc, url)


@dataclass
class Cluster:
    """voicegrid workers sharing one database and one secret key, each with its own ports and journal."""

    workdir: Path
    admin_key: str = field(default_factory=lambda: "vg_load_" + secrets.token_urlsafe(24))
    secret_key: str = field(default_factory=lambda: base64.b64encode(secrets.token_bytes(32)).decode())
    workers: list[Proc] = field(default_factory=list)
    http: list[str] = field(default_factory=list)
    sip_ports: list[int] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)  # more VOICEGRID_ settings, for every worker

    @property
    def database_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.workdir / 'voicegrid.db'}"

    def env(self, index: int, rtp_ports: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEGRID_")}
        low = 40000 + index * rtp_ports
        return {
            **env,
            "VOICEGRID_ADMIN_KEY": self.admin_key,
            "VOICEGRID_SECRET_KEY": self.secret_key,
            "VOICEGRID_INVITE_RATE_PER_SOURCE": "100000",  # SIPp ramps from one address
            "VOICEGRID_ALLOW_PRIVATE_DESTINATIONS": "true",  # the provider emulators are on loopback
            "VOICEGRID_RTP_PORT_MIN": str(low),
            "VOICEGRID_RTP_PORT_MAX": str(low + rtp_ports - 1),
            "VOICEGRID_LOG_LEVEL": "warning",
            "VOICEGRID_DRAIN_SECONDS": "5",
            **self.settings,
        }

    def add_worker(self, *, demo: bool = False, rtp_ports: int = 2500) -> Proc:
        index = len(self.workers)
        data = self.workdir / f"worker{index}"
        http, sip = free_port(), free_udp_and_tcp_port()
        command = [
            *VOICEGRID,
            "serve",
            "--data-dir",
            str(data),
            "--database-url",
            self.database_url,
            "--http-port",
            str(http),
            "--sip-port",
            str(sip),
            *(["--demo"] if demo else []),
        ]
        proc = start(f"worker{index}", command, self.workdir, env=self.env(index, rtp_ports))
        self.workers.append(proc)
        self.http.append(f"http://127.0.0.1:{http}")
        self.sip_ports.append(sip)
        return proc

    def wait_ready(self) -> None:
        for proc, url in zip(self.workers, self.http, strict=True):
            wait_http(proc, url + "/healthz", timeout_s=120)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.workers]

    def stop(self) -> None:
        for proc in self.workers:  # all drain at once; a second SIGTERM could cut a drain short
            if proc.alive():
                proc.popen.send_signal(signal.SIGTERM)
        for proc in self.workers:
            proc.finish(timeout_s=30)


def start_sipp(
    name: str,
    workdir: Path,
    sip_port: int,
    number: str,
    calls: int,
    rate_cps: float,
    hold_ms: int,
    media_port: int,
) -> Proc:
    """SIPp placing `calls` calls at `rate_cps`, each held `hold_ms` while it streams caller.ulaw."""
    command = [
        binary("sipp", "sip-tester"),
        f"127.0.0.1:{sip_port}",
        "-sf",
        str(SCENARIO),
        "-s",
        number,
        "-i",
        "127.0.0.1",
        "-p",
        str(free_udp_and_tcp_port()),
        "-mp",
        str(media_port),
        "-m",
        str(calls),
        "-l",
        str(calls),
        "-r",
        str(rate_cps),
        "-d",
        str(hold_ms),
        "-nostdin",
        "-trace_stat",
        "-fd",
        "1",
        "-trace_err",
        "-timeout",
        f"{hold_ms // 1000 + 120}s",
        "-max_socket",
        "4096",
    ]
    return start(name, command, workdir, nice=GENERATOR_NICE)


def sipp_counts(workdir: Path) -> tuple[int, int]:
    """(successful, failed) calls from the last line of SIPp's statistics file in `workdir`."""
    files = sorted(workdir.glob("caller_*_.csv"))
    if not files:
        return 0, 0
    lines = [line for line in files[-1].read_text().splitlines() if line.strip()]
    if len(lines) < 2:
        return 0, 0
    header, last = lines[0].split(";"), lines[-1].split(";")
    row = dict(zip(header, last, strict=False))
    return int(row.get("SuccessfulCall(C)", 0) or 0), int(row.get("FailedCall(C)", 0) or 0)


def start_capture(workdir: Path, path: Path, low: int, high: int) -> Proc:
    """tcpdump of the workers' outbound RTP on loopback: headers only, a large kernel buffer."""
    command = [
        binary("tcpdump", "tcpdump"),
        "-i",
        "lo",
        "-n",
        "-s",
        "96",
        "-B",
        "65536",
        "-w",
        str(path),
        f"udp and src portrange {low}-{high}",
    ]
    proc = start("tcpdump", command, workdir)
    deadline = time.monotonic() + 10
    while "listening on" not in proc.tail() and time.monotonic() < deadline:  # tcpdump says so on stderr
        if not proc.alive():
            raise LoadError(f"tcpdump exited:\n{proc.tail()}")
        time.sleep(0.05)
    return proc
