"""A throwaway `redis-server` on a free loopback port (tests and `bench/admission.py`), stopped by pid.

Nothing is persisted: no RDB snapshots, no AOF, a temporary working directory.
"""

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from voicegrid.testing.ports import free_port, stop_process


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]
    workdir: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections hang, as with a partition."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def restart(self, timeout_s: float = 10.0) -> None:
        """Stop it and start it again on the same port, empty (nothing is persisted): an outage."""
        self.process.terminate()
        self.process.wait(timeout=10)
        self.process = _launch(self.port, self.workdir)
        _wait_ready(self, timeout_s)

    def stop(self) -> None:
        stop_process(self.process)
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_redis(port: int | None = None, timeout_s: float = 10.0) -> RedisServer:
    port = port or free_port()
    workdir = Path(tempfile.mkdtemp(prefix="vg-redis-"))
    server = RedisServer(port, _launch(port, workdir), workdir)
    try:
        _wait_ready(server, timeout_s)
    except RuntimeError:
        server.stop()
        raise
    return server


def _launch(port: int, workdir: Path) -> "subprocess.Popen[bytes]":
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(
            "redis-server is not installed: run `make setup-test` (Debian package redis-server)"
        )
    args = [
        binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", str(workdir), "--daemonize", "no", "--loglevel", "warning",
    ]  # fmt: skip
    return subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_ready(server: RedisServer, timeout_s: float) -> None:
    process, port = server.process, server.port
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"redis-server exited: {err.strip()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"redis-server did not answer on port {port} within {timeout_s} s")
