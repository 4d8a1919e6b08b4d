"""What one RTP packet out costs, by the way it is handed to the kernel: the event loop's datagram
transport (`transport.sendto`, uvloop), the socket's own `sendto`, and a connected socket's `send`.
N bound sockets on loopback each send one 172-byte packet (a G.711 frame and its header) per round, to
N receiving sockets that are drained between runs; CPU time per packet, the best of `--repeats` runs.

Run: .venv/bin/python bench/udp_send.py [--sockets 200] [--rounds 50] [--repeats 20]
Saves bench/results/udp_send-<date>.json, with the machine's stolen time.
"""

import argparse
import asyncio
import json
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import procfs

PACKET = bytes(172)


def _udp(connect_to: tuple[str, int] | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    if connect_to is not None:
        sock.connect(connect_to)
    return sock


def _drain(sinks: list[socket.socket]) -> None:
    for sink in sinks:
        try:
            while True:
                sink.recv(2048)
        except BlockingIOError:
            pass


async def measure(sockets: int, rounds: int, repeats: int) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    sinks = [_udp() for _ in range(sockets)]
    for sink in sinks:
        sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    addrs = [sink.getsockname() for sink in sinks]
    plain = [_udp() for _ in range(sockets)]
    transports = [
        (await loop.create_datagram_endpoint(asyncio.DatagramProtocol, sock=_udp()))[0] for _ in addrs
    ]
    connected = [_udp(addr) for addr in addrs]

    def by_transport() -> None:
        for transport, addr in zip(transports, addrs, strict=True):
            transport.sendto(PACKET, addr)

    def by_socket() -> None:
        for sock, addr in zip(plain, addrs, strict=True):
            sock.sendto(PACKET, addr)

    def by_connected_socket() -> None:
        for sock in connected:
            sock.send(PACKET)

    ways = {
        "loop transport sendto": by_transport,
        "socket sendto": by_socket,
        "connected send": by_connected_socket,
    }
    best = dict.fromkeys(ways, float("inf"))
    for _ in range(repeats):  # the ways take turns, so a slow spell of the machine falls on each alike
        for name, send in ways.items():
            cpu = time.process_time()
            for _ in range(rounds):
                send()
            best[name] = min(best[name], (time.process_time() - cpu) / (rounds * sockets))
            _drain(sinks)
    results = {name: round(seconds * 1e6, 2) for name, seconds in best.items()}
    for sock in [*sinks, *plain, *connected]:
        sock.close()
    for transport in transports:
        transport.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    before, wall = procfs.machine(), time.monotonic()
    results = uvloop.run(measure(args.sockets, args.rounds, args.repeats))
    stolen = (procfs.machine().stolen_s - before.stolen_s) / (time.monotonic() - wall)
    for name, us in results.items():
        print(f"{name:>22}: {us} us of CPU per packet")
    print(f"stolen cores: {stolen:.3f}")
    date = datetime.now(UTC).date().isoformat()
    out = args.out or Path(__file__).parent / "results" / f"udp_send-{date}.json"
    summary = {
        "date": date,
        "sockets": args.sockets,
        "us_per_packet": results,
        "stolen_cores": round(stolen, 3),
    }
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"saved {out}")


if __name__ == "__main__":
    main()
