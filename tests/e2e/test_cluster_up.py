"""`voicegrid cluster up`, as a person runs it: it writes cluster.json with every part's address
and pid, the demo answers at the edge, and SIGTERM stops every process it started."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.sipp import SCENARIOS, sipp_argv, sipp_errors
from voicegrid.testing.ports import free_udp_and_tcp_port


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return stat[0] != "Z"  # a zombie waiting for its parent has ended


def test_cluster_up_writes_where_everything_is_answers_at_the_edge_and_stops_it_all_on_sigterm(
    tmp_path: Path,
) -> None:
    data = tmp_path / "cluster"
    up = subprocess.Popen(
        [sys.executable, "-m", "voicegrid", "cluster", "up", "--nodes", "2", "--data-dir", str(data)],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "up.log").open("wb"),
    )
    try:
        deadline = time.monotonic() + 120
        while not (data / "cluster.json").exists():
            assert up.poll() is None, (tmp_path / "up.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "up.log").read_text()
            time.sleep(0.2)
        manifest = json.loads((data / "cluster.json").read_text())
        assert (data / "cluster.json").stat().st_mode & 0o777 == 0o600  # it holds the admin key
        pids = [manifest["edge"]["pid"], manifest["redis"]["pid"], manifest["postgres"]["pid"]]
        pids += [node["pid"] for node in manifest["nodes"]]
        assert [n["name"] for n in manifest["nodes"]] == ["node1", "node2"]
        assert all(_alive(pid) for pid in pids)
        assert manifest["demo"]["api_key"].startswith("vg_")
        edge = manifest["edge"]["sip_uri"].removeprefix("sip:")
        assert manifest["demo"]["sip_uri"] == f"sip:+15550100@{edge}"
        command = sipp_argv(
            edge, "-sf", str(SCENARIOS / "uac_via_edge.xml"), "-s", "+15550101",
            "-i", "127.0.0.1", "-p", str(free_udp_and_tcp_port()), "-m", "2", "-d", "300",
            "-nostdin", "-timeout", "30s", "-trace_err",
        )  # fmt: skip
        caller = subprocess.run(command, cwd=tmp_path, capture_output=True, timeout=60)
        assert caller.returncode == 0, sipp_errors(tmp_path)
    finally:
        up.send_signal(signal.SIGTERM)
        code = up.wait(timeout=90)
    assert code == 0, (tmp_path / "up.log").read_text()
    assert not [pid for pid in pids if _alive(pid)]
