"""A throwaway PostgreSQL server (tests, `bench/analytics_query.py`): initdb in a temp dir, a free
loopback port, stopped by pid.

PostgreSQL refuses to run as root, so when the tests run as root the cluster belongs to the
`postgres` user the Debian package creates, and both initdb and postgres run as that user.
"""

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from voicegrid.testing.ports import free_port


def _bindir() -> Path:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "postgres").exists():
            return Path(candidate)
    found = shutil.which("postgres")
    if found:
        return Path(found).resolve().parent
    raise RuntimeError("PostgreSQL is not installed: run `make setup-test` (Debian package postgresql)")


@dataclass
class PostgresServer:
    port: int
    datadir: Path
    process: subprocess.Popen[bytes]
    user: str = "postgres"

    def url(self, database: str = "postgres", driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://{self.user}@127.0.0.1:{self.port}/{database}"

    @property
    def postmaster_pid(self) -> int | None:
        """The server's own pid: under runuser, the child we started is runuser, not postgres."""
        try:
            return int((self.datadir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def halt(self) -> None:
        """Shut the server down (an outage), keeping its data for `restart`."""
        self._shutdown()

    def restart(self) -> None:
        """Start it again on the same port and data, as after an outage."""
        self.process = _launch(_bindir(), self.datadir, self.datadir.parent, self.port)
        _wait_ready(self, _bindir())

    def stop(self) -> None:
        self._shutdown()
        shutil.rmtree(self.datadir.parent, ignore_errors=True)

    def _shutdown(self) -> None:
        if self.process.poll() is None:
            pid = self.postmaster_pid
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGINT)  # "fast" shutdown: roll back sessions, exit
            else:
                self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


def start_postgres() -> PostgresServer:
    bindir = _bindir()
    root = Path(tempfile.mkdtemp(prefix="vg-pg-"))
    datadir = root / "data"
    datadir.mkdir()
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        os.chown(datadir, pw.pw_uid, pw.pw_gid)
    subprocess.run(
        _as_postgres(
            [str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
        ),
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = free_port()
    server = PostgresServer(port=port, datadir=datadir, process=_launch(bindir, datadir, root, port))
    _wait_ready(server, bindir)
    return server


def _launch(bindir: Path, datadir: Path, root: Path, port: int) -> "subprocess.Popen[bytes]":
    return subprocess.Popen(
        _as_postgres(
            [
                str(bindir / "postgres"),
                "-D",
                str(datadir),
                "-p",
                str(port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={root}",
                "-c",
                "fsync=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ]
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_ready(server: "PostgresServer", bindir: Path) -> None:
    process = server.process
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready = subprocess.run(
            [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(server.port)],
            capture_output=True,
            timeout=10,
        )
        if ready.returncode == 0:
            return
        if process.poll() is not None:
            err = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"postgres exited at start: {err}")
        time.sleep(0.1)
    server.stop()
    raise RuntimeError("postgres did not become ready within 30 s")
