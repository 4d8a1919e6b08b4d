"""Free loopback ports for the real peers the tests and benchmarks start, and stopping them."""

import contextlib
import os
import random
import signal
import socket
import subprocess
from collections import deque


def free_port() -> int:
    """A port for a peer to listen on, free now: probed for both UDP and TCP, whichever it binds."""
    return free_udp_and_tcp_port()


def free_udp_and_tcp_port(span: int = 1) -> int:
    """A port free for both UDP and TCP, as a SIP listener needs, from below the ephemeral range:
    a port bound to 0 comes from the kernel's ephemeral range, where any process's outgoing TCP
    connection may take it as its own port between our probe and the peer's bind (baresip then
    exits with EADDRINUSE, a node's HTTP listener fails to start); below it, nothing takes a port
    unasked. `span`: the ports after it the peer binds too, all probed and given with it (baresip
    listens for SIP over TLS on the next port)."""
    low, high = _worker_slice()
    for _ in range(200):
        port = random.randrange(high - _SINGLES, high - span + 1)  # the slice's top: no block from there
        ports = range(port, port + span)
        if any(p in given for given in _given for p in ports):
            continue
        with contextlib.ExitStack() as probes:
            try:
                for p in ports:
                    probes.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)).bind(
                        ("127.0.0.1", p)
                    )
                    probes.enter_context(socket.socket()).bind(("127.0.0.1", p))
            except OSError:
                continue
        _given.append(ports)
        return port
    raise RuntimeError(f"no port free for both UDP and TCP in {low}-{high}")


# Below the kernel's ephemeral range (32768-60999 on Linux), so no socket bound to port 0
# anywhere on the machine can take one of these between our probe and the peer's bind; and below
# the media ports the load benchmark gives its SIPps (20000 up) and voicegrid's RTP range (40000).
_BLOCK_LOW, _BLOCK_HIGH = 12000, 20000
_WORKER_SLICES = 8
# Single ports come from the top of a worker's slice and blocks from the rest, so neither can be
# given where the other was given and not yet bound; no port is given twice while its first taker
# may not have bound it (the last 64 ports and blocks are remembered).
_SINGLES = 200
_given: deque[range] = deque(maxlen=64)


def _worker_slice() -> tuple[int, int]:
    """The part of the block range this pytest-xdist worker picks from (gw0, gw1, ...), so that
    parallel workers do not probe the same ports at the same moment."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(name[2:]) if name[2:].isdigit() else 0
    width = (_BLOCK_HIGH - _BLOCK_LOW) // _WORKER_SLICES
    low = _BLOCK_LOW + (index % _WORKER_SLICES) * width
    return low, low + width


def free_port_block(count: int = 4) -> int:
    """The even first port of `count` consecutive UDP ports that are all free, outside the
    ephemeral range: for a peer that binds several ports from one base (SIPp's -mp binds
    audio RTP and RTCP, then video RTP and RTCP), which a single probed port cannot promise."""
    low, high = _worker_slice()
    for attempt in range(400):
        base = random.randrange(low, high - _SINGLES - count, 2)
        block = range(base, base + count)
        # not over a block given lately, whose taker may not have bound it yet (a test that gives
        # voicegrid one block and SIPp another saw SIPp bind voicegrid's RTP ports); past 200 tries
        # (a large block in a crowded slice) only the probe decides
        if attempt < 200 and any(block.start < g.stop and g.start < block.stop for g in _given):
            continue
        sockets: list[socket.socket] = []
        try:
            for port in block:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sockets.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
        _given.append(block)
        return base
    raise RuntimeError(f"no {count} consecutive UDP ports free in {low}-{high}")


def stop_process(process: "subprocess.Popen[bytes]", timeout_s: float = 10.0) -> None:
    """SIGTERM (after SIGCONT, should it be paused), then SIGKILL once `timeout_s` has passed."""
    if process.poll() is None:
        process.send_signal(signal.SIGCONT)
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
