"""The SIP edge: Kamailio (Debian's `kamailio`) with this package's `kamailio.cfg`, on loopback
ports of its own, its nodes in a dispatcher list file, stopped by pid.

`deploy/kamailio/kamailio.cfg` is the same file, for hosts that run Kamailio themselves.
"""

import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voicegrid.testing.ports import free_udp_and_tcp_port, stop_process

CONFIG = Path(__file__).with_name("kamailio.cfg")
KAMCMD = shutil.which("kamcmd") or "/usr/sbin/kamcmd"
_DEST = re.compile(r"URI:\s*(\S+)\s+FLAGS:\s*(\S+)")
_SAFE_PATH = re.compile(r"[A-Za-z0-9_./+-]+")  # a path Kamailio's preprocessor takes inside quotes


def dispatcher_list(nodes: list[tuple[str, str, int]]) -> str:
    """Set 1: one line per node, `sip:<address>:<port>` and the node's name as an attribute."""
    lines = ["# setid destination flags priority attributes"]
    for name, address, port in nodes:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
            raise ValueError(f"node name {name!r}: letters, digits, _ . - only")
        lines.append(f"1 sip:{address}:{port} 0 0 node={name}")
    return "\n".join(lines) + "\n"


@dataclass
class KamailioEdge:
    host: str
    port: int
    workdir: Path
    process: subprocess.Popen[bytes]
    owns_workdir: bool = True  # a temporary one, removed on stop

    @property
    def sip_uri(self) -> str:
        return f"sip:{self.host}:{self.port}"

    @property
    def ctl(self) -> str:
        return f"unix:{self.workdir / 'kamailio_ctl'}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "kamailio.log"

    def rpc(self, *command: str, timeout_s: float = 5.0) -> str:
        """A kamcmd command over the control socket (e.g. `dispatcher.list`)."""
        done = subprocess.run(
            [KAMCMD, "-s", self.ctl, *command], capture_output=True, timeout=timeout_s, check=True
        )
        return done.stdout.decode(errors="replace")

    def node_states(self) -> dict[str, str]:
        """Each node's dispatcher flags: `AP` active (probing), `IP` inactive, `DX` disabled..."""
        return dict(_DEST.findall(self.rpc("dispatcher.list")))

    def set_nodes(self, nodes: list[tuple[str, str, int]]) -> None:
        """Write the dispatcher list and have Kamailio read it again (a node added or removed)."""
        (self.workdir / "dispatcher.list").write_text(dispatcher_list(nodes))
        self.rpc("dispatcher.reload")

    def stop(self) -> None:
        stop_process(self.process)
        if self.owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def start_edge(nodes: list[tuple[str, str, int]], *, port: int | None = None, **options: Any) -> KamailioEdge:
    """`launch_edge`, again on another free port when one it picked was taken meanwhile."""
    for attempt in range(3):
        try:
            return launch_edge(nodes, port=port or free_udp_and_tcp_port(), **options)
        except RuntimeError as exc:
            if port is not None or "Address already in use" not in str(exc) or attempt == 2:
                raise
    raise AssertionError("unreachable")


def launch_edge(
    nodes: list[tuple[str, str, int]],
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    probe_s: int = 1,
    fr_timer_ms: int = 2000,
    pike_density: int = 400,
    workdir: Path | None = None,
    timeout_s: float = 15.0,
) -> KamailioEdge:
    """Kamailio on `host:port` (UDP and TCP), dispatching to `nodes` ((name, address, port)); returns
    once its control socket answers."""
    binary = shutil.which("kamailio") or "/usr/sbin/kamailio"
    if not Path(binary).exists():
        raise RuntimeError("kamailio is not installed: run `make setup-test` (Debian package kamailio)")
    owned = workdir is None
    workdir = workdir or Path(tempfile.mkdtemp(prefix="vg-edge-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if not _SAFE_PATH.fullmatch(str(workdir)):
        raise ValueError(f"the edge's working directory {workdir} has characters Kamailio cannot quote")
    (workdir / "dispatcher.list").write_text(dispatcher_list(nodes))
    port = port or free_udp_and_tcp_port()
    (workdir / "kamailio.log").unlink(missing_ok=True)  # a failed start's, once retried
    args = [
        binary, "-f", str(CONFIG), "-DD", "-E", "-m", "64", "-M", "8",
        "-Y", str(workdir), "-P", str(workdir / "kamailio.pid"), "-w", str(workdir),
        "-l", f"udp:{host}:{port}", "-l", f"tcp:{host}:{port}",
        "-A", f'DS_LIST="{workdir / "dispatcher.list"}"',
        "-A", f'CTL="unix:{workdir / "kamailio_ctl"}"',
        "-A", f"PROBE_S={int(probe_s)}", "-A", f"FR_TIMER_MS={int(fr_timer_ms)}",
        "-A", f"PIKE_DENSITY={int(pike_density)}",
    ]  # fmt: skip
    log = (workdir / "kamailio.log").open("ab")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    edge = KamailioEdge(host, port, workdir, process, owns_workdir=owned)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = edge.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"kamailio exited at start:\n{tail}")
        try:
            edge.node_states()
            return edge
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            time.sleep(0.1)
    edge.stop()
    raise RuntimeError(f"kamailio did not answer on its control socket within {timeout_s} s")
