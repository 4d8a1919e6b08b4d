"""`voicegrid serve` as a real process on a free port, stopped by pid (SIGTERM)."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx

from voicegrid.config import Settings
from voicegrid.testing.emulators import Emulator
from voicegrid.testing.ports import free_port, free_udp_and_tcp_port

VOICEGRID = [sys.executable, "-m", "voicegrid"]

# a stopped node may drain its calls for `drain_seconds` (30 by default): a slow machine gets that, and more
STOP_WITHIN_S = float(Settings.model_fields["drain_seconds"].default) + 15


def env_without_voicegrid(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEGRID_")}
    return {**env, **extra}


@contextmanager
def serving(
    data_dir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    sip_port: int | None = None,
    processes: list["subprocess.Popen[bytes]"] | None = None,
) -> Iterator[tuple[str, Path]]:
    """Run `voicegrid serve` until the block ends; yields its URL and the file its stderr goes to.

    `processes` receives the process, for a test that kills it (-9); it is then not stopped again.
    """
    port = free_port()
    sip = sip_port or free_udp_and_tcp_port()
    log = data_dir.parent / f"serve-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                *VOICEGRID,
                "serve",
                "--data-dir",
                str(data_dir),
                "--http-port",
                str(port),
                "--sip-port",
                str(sip),
                *args,
            ],
            env=env or env_without_voicegrid(),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    if processes is not None:
        processes.append(process)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "voicegrid did not answer within 30 s:\n" + log.read_text()
            time.sleep(0.1)
        yield url, log
    finally:
        if process.poll() != -signal.SIGKILL:  # killed by the test on purpose: nothing to stop
            process.send_signal(signal.SIGTERM)
            try:
                try:
                    code = process.wait(timeout=STOP_WITHIN_S)
                except subprocess.TimeoutExpired:  # say what the node was doing, not only that it hung
                    raise AssertionError(
                        f"voicegrid did not stop within {STOP_WITHIN_S} s:\n" + log.read_text()[-4000:]
                    ) from None
                assert code == 0, log.read_text()
            finally:
                if process.poll() is None:
                    process.kill()


@asynccontextmanager
async def demo_node_reaching(tmp_path: Path, *emulators: Emulator) -> AsyncIterator[tuple[str, int, str]]:
    """The emulators started, and a demo node whose tenants' provider URLs may lead to loopback, where
    they listen (an operator's choice, off by default): the node's API URL, its SIP port and the demo
    business's API key. Everything is stopped after."""
    for emulator in emulators:
        await emulator.start()
    data, sip = tmp_path / "var", free_udp_and_tcp_port()
    try:
        env = env_without_voicegrid(VOICEGRID_ALLOW_PRIVATE_DESTINATIONS="true")
        with serving(data, "--demo", sip_port=sip, env=env) as (url, _log):
            yield url, sip, json.loads((data / "demo.json").read_text())["api_key"]
    finally:
        for emulator in emulators:
            await emulator.stop()


def demo_call(data_dir: Path, sip_port: int, *lines: str) -> dict[str, Any]:
    """`voicegrid call` to the demo receptionist, saying `lines`; its --json result (exit 0 checked)."""
    said = [arg for line in lines for arg in ("--say", line)]
    done = subprocess.run(
        [
            *VOICEGRID,
            "call",
            f"sip:+15550100@127.0.0.1:{sip_port}",
            "--data-dir",
            str(data_dir),
            *said,
            "--json",
            "--timeout",
            "90",
        ],
        env=env_without_voicegrid(),
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result
