"""baresip as a real softphone: a config dir made per test, loopback only, auto-answer, stopped by pid."""

import asyncio
import contextlib
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from voicegrid.testing.ports import free_port_block, free_udp_and_tcp_port

CONFIG = """poll_method\t\tepoll
sip_listen\t\t127.0.0.1:{sip_port}
sip_trans_def\t\tudp
net_interface\t\t127.0.0.1
audio_source\t\taufile,{tone}
audio_alert\t\taufile,/dev/null
module_path\t\t/usr/lib/baresip/modules
module\t\t\tg711.so
module\t\t\tg722.so
module\t\t\taufile.so
module\t\t\taccount.so
module_app\t\tmenu.so
rtp_ports\t\t{rtp_low}-{rtp_high}
"""


@dataclass
class Baresip:
    confdir: Path
    sip_port: int
    log: Path

    @property
    def uri(self) -> str:
        return f"sip:baresip@127.0.0.1:{self.sip_port}"

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def make_baresip(workdir: Path, codec: str = "PCMU", *, record: bool = False, sweep: bool = False) -> Baresip:
    """A config dir for one baresip; `record`: its sndfile module dumps what it sends and hears;
    `sweep`: it sends a 300-3000 Hz sweep (which has one best alignment) instead of a 440 Hz tone."""
    if shutil.which("baresip") is None:
        raise RuntimeError("baresip is not installed: run `make setup-test` (Debian package baresip)")
    workdir.mkdir(parents=True, exist_ok=True)
    tone = workdir / "tone.wav"
    # Eight seconds of a 440 Hz tone at 8 kHz, made here with sox so the test ships no audio file.
    rate = "16000" if codec == "G722" else "8000"
    subprocess.run(
        [
            "sox",
            "-n",
            "-r",
            rate,
            "-c",
            "1",
            "-b",
            "16",
            str(tone),
            "synth",
            "8",
            "sine",
            "300-3000" if sweep else "440",
        ],
        check=True,
        timeout=30,
    )
    sip_port = free_udp_and_tcp_port(span=2)  # UDP and TCP on it, TLS on the next: all must be free
    rtp_low = free_port_block(22)  # its RTP and RTCP ports, none of which a parallel test may take
    config = CONFIG.format(sip_port=sip_port, tone=tone, rtp_low=rtp_low, rtp_high=rtp_low + 20)
    if record:
        config += f"module\t\t\tsndfile.so\nsnd_path\t\t{workdir}\n"
    (workdir / "config").write_text(config)
    (workdir / "accounts").write_text(
        f"<sip:baresip@127.0.0.1>;regint=0;answermode=auto;audio_codecs={codec}\n"
    )
    return Baresip(workdir, sip_port, workdir / "baresip.log")


async def run_baresip(phone: Baresip, *args: str, quit_after_s: int) -> asyncio.subprocess.Process:
    sink = await asyncio.to_thread(open, phone.log, "wb")
    with sink:
        return await asyncio.create_subprocess_exec(
            "baresip",
            "-f",
            str(phone.confdir),
            "-t",
            str(quit_after_s),
            *args,
            stdout=sink,
            stderr=asyncio.subprocess.STDOUT,
        )


async def stop(process: asyncio.subprocess.Process, limit_s: float = 15.0) -> None:
    try:
        async with asyncio.timeout(limit_s):
            await process.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):  # it ended as the time ran out
            process.send_signal(signal.SIGKILL)
        await process.wait()
