"""The analysis worker process leaves with its node: a node killed with -9 (no shutdown, no cleanup)
leaves no worker behind holding memory, and a node told to stop is never held by its worker."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.serve import serving

NODE = """
import concurrent.futures, multiprocessing, os, sys
from voicegrid.analysis import worker
pool = concurrent.futures.ProcessPoolExecutor(
    max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=worker.start,
    initargs=(os.getpid(),))
print(pool.submit(worker.pid).result(), flush=True)
sys.stdin.read()  # until the test kills it
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}/stat").exists() else ""
    return " Z " not in stat  # a zombie has ended


def test_a_worker_whose_node_is_killed_with_minus_9_ends_within_seconds() -> None:
    node = subprocess.Popen(
        [sys.executable, "-c", NODE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    worker_pid = 0
    try:
        assert node.stdout is not None
        worker_pid = int(node.stdout.readline())
        assert _alive(worker_pid)
        node.send_signal(signal.SIGKILL)
        node.wait(10)
        deadline = time.monotonic() + 10
        while _alive(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker_pid)
    finally:
        if node.poll() is None:
            node.kill()
        if worker_pid and _alive(worker_pid):
            os.kill(worker_pid, signal.SIGKILL)


def test_a_worker_whose_node_is_gone_before_it_starts_leaves_at_once() -> None:
    # a node killed while its worker was still importing: the worker's parent is init by the time
    # it starts, and it is told its node's pid, which is not its parent's
    script = "import time\nfrom voicegrid.analysis import worker\nworker.start(2**22 + 1)\ntime.sleep(30)"
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], timeout=20, check=False)
    assert done.returncode == 0
    assert time.monotonic() - started < 10


def _spawned_children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def test_a_node_told_to_stop_is_not_held_by_a_worker_stuck_mid_analysis(tmp_path: Path) -> None:
    # a worker that never finishes what it is doing (stopped): Python's exit joins a pool's
    # processes, so a node that only asked its pool to shut down waited for it for ever
    nodes: list[subprocess.Popen[bytes]] = []
    worker_pid = 0
    try:
        with serving(tmp_path / "var", processes=nodes):
            (worker_pid,) = _spawned_children(nodes[0].pid)
            os.kill(worker_pid, signal.SIGSTOP)
        # serving() sent SIGTERM and saw the node exit 0 within its bound
        assert not _alive(worker_pid)
    finally:
        if worker_pid and _alive(worker_pid):
            os.kill(worker_pid, signal.SIGKILL)
