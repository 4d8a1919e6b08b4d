"""voicegrid nodes as real processes: `voicegrid serve` with its own ports, RTP range, data dir and
name, sharing the cluster's database, Redis, secrets key and admin key."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from voicegrid.testing.ports import free_port, free_udp_and_tcp_port

VOICEGRID = [sys.executable, "-m", "voicegrid"]


class NodeError(RuntimeError):
    """A node could not start or answer (the message says which, with the end of its log)."""


@dataclass(frozen=True, slots=True)
class Shared:
    """What every node of a cluster is started with."""

    database_url: str
    capacity_url: str
    secret_key: str
    admin_key: str
    edge_addresses: tuple[str, ...] = ("127.0.0.1",)
    host: str = "127.0.0.1"
    env: dict[str, str] = field(default_factory=dict)  # any other VOICEGRID_* setting


@dataclass
class Node:
    name: str
    host: str
    http_port: int
    sip_port: int
    rtp_ports: tuple[int, int]
    data_dir: Path
    process: "subprocess.Popen[bytes]"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def sip_address(self) -> tuple[str, int]:
        return (self.host, self.sip_port)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def log_path(self) -> Path:
        return self.data_dir / "node.log"

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def signal(self, sig: int) -> None:
        if self.alive():
            self.process.send_signal(sig)

    def wait(self, timeout_s: float) -> int | None:
        """Wait for the node to exit by itself; None if it is still running after `timeout_s`."""
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM (the node drains), then SIGKILL after `timeout_s`."""
        self.signal(signal.SIGTERM)
        if self.wait(timeout_s) is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                raise NodeError(f"node {self.name} exited:\n{self.tail()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise NodeError(f"node {self.name} was not ready within {timeout_s:.0f} s:\n{self.tail()}")


def node_env(shared: Shared, name: str, http_port: int, rtp_ports: tuple[int, int]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("VOICEGRID_")}
    return {
        **base,
        "VOICEGRID_NODE_ID": name,
        "VOICEGRID_DATABASE_URL": shared.database_url,
        "VOICEGRID_CAPACITY_URL": shared.capacity_url,
        "VOICEGRID_SECRET_KEY": shared.secret_key,
        "VOICEGRID_ADMIN_KEY": shared.admin_key,
        "VOICEGRID_SIP_HOST": shared.host,
        "VOICEGRID_HTTP_HOST": shared.host,
        "VOICEGRID_PUBLIC_URL": f"http://{shared.host}:{http_port}",
        "VOICEGRID_SIP_EDGE_ADDRESSES": json.dumps(list(shared.edge_addresses)),
        "VOICEGRID_RTP_PORT_MIN": str(rtp_ports[0]),
        "VOICEGRID_RTP_PORT_MAX": str(rtp_ports[1]),
        **shared.env,
    }


def start_node(
    shared: Shared,
    name: str,
    data_dir: Path,
    rtp_ports: tuple[int, int],
    *,
    demo: bool = False,
    http_port: int | None = None,
    sip_port: int | None = None,
) -> Node:
    """Start `voicegrid serve` (returns at once: `wait_ready` waits for it)."""
    http_port = http_port or free_port()
    sip_port = sip_port or free_udp_and_tcp_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        *VOICEGRID, "serve", "--data-dir", str(data_dir),
        "--http-port", str(http_port), "--sip-port", str(sip_port), *(["--demo"] if demo else []),
    ]  # fmt: skip
    with (data_dir / "node.log").open("ab") as log:
        process = subprocess.Popen(
            command,
            env=node_env(shared, name, http_port, rtp_ports),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in `cluster up` reaches the nodes through it, in order
        )
    return Node(name, shared.host, http_port, sip_port, rtp_ports, data_dir, process)
