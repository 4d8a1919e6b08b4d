"""SIPp as a real peer: started by the test on loopback, awaited with a deadline, killed by pid."""

import asyncio
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

from voicegrid.testing.ports import free_port_block, free_udp_and_tcp_port

SCENARIOS = Path(__file__).resolve().parents[1] / "e2e" / "scenarios"


@dataclass
class SippRun:
    returncode: int
    log: str


def sipp_binary() -> str:
    found = shutil.which("sipp")
    if found is None:
        raise RuntimeError("SIPp is not installed: run `make setup-test` (Debian package sip-tester)")
    return found


def sipp_argv(*args: str) -> list[str]:
    """SIPp's command line with `args` and, unless they name one with -mp, a block of media ports
    of its own: SIPp binds four ports from its media base and dies if any one is taken."""
    media = [] if "-mp" in args else ["-mp", str(free_port_block())]
    return [sipp_binary(), *args, *media]


def sipp_command(sip_port: int, *args: str) -> list[str]:
    """SIPp against our SIP port on loopback, from a free port of its own, with a 30 s call timeout."""
    return sipp_argv(
        f"127.0.0.1:{sip_port}",
        "-i", "127.0.0.1",
        "-p", str(free_udp_and_tcp_port()),
        "-nostdin", "-timeout", "30s",
        *args,
    )  # fmt: skip


def sipp_errors(workdir: Path) -> str:
    """What SIPp logged as unexpected messages (with -trace_err) in `workdir`."""
    return "".join(p.read_text() for p in workdir.glob("*_errors.log"))


def _collect(workdir: Path) -> str:
    text = (workdir / "sipp.out").read_text(errors="replace")
    for error_log in workdir.glob("*_errors.log"):
        text += "\n--- " + error_log.name + "\n" + error_log.read_text(errors="replace")[-3000:]
    return text[-6000:]


async def run_sipp(args: list[str], workdir: Path, *, limit_s: float = 60.0) -> SippRun:
    """Run SIPp to completion in `workdir` (its logs land there); exit code 0 means every call passed."""
    timeout = limit_s
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    sink = await asyncio.to_thread(open, workdir / "sipp.out", "wb")
    with sink:
        process = await asyncio.create_subprocess_exec(
            *sipp_argv(*args),
            "-nostdin",
            "-trace_err",
            "-timeout",
            f"{int(timeout)}s",
            cwd=workdir,
            stdout=sink,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            async with asyncio.timeout(timeout + 10):
                code = await process.wait()
        except TimeoutError:
            process.send_signal(signal.SIGKILL)
            await process.wait()
            code = -9
        except asyncio.CancelledError:
            process.send_signal(signal.SIGKILL)  # never leave a SIPp behind a cancelled test
            await process.wait()
            raise
    return SippRun(code, await asyncio.to_thread(_collect, workdir))
