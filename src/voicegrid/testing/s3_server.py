"""A throwaway S3-compatible server (moto's `moto_server`) on a free loopback port, stopped by pid:
for the recordings store's tests. Nothing is kept: it holds its objects in memory."""

import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from voicegrid.testing.ports import free_port, stop_process

ACCESS_KEY, SECRET_KEY = "voicegrid-test", "voicegrid-test-secret"  # moto takes any


@dataclass
class S3Server:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process(self.process)


def start_s3(timeout_s: float = 30.0) -> S3Server:
    binary = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
    if not Path(binary).exists():
        raise RuntimeError("moto_server is not installed: run `make setup` (moto[server] from PyPI)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    server = S3Server(port, process)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"moto_server exited: {err.strip()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"moto_server did not listen on port {port} within {timeout_s} s")
