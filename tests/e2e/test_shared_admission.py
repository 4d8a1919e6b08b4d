"""Two voicegrid nodes on one Redis (real redis-server, real processes, SIPp as the callers).

1,000 INVITEs at once, half to each node, for a business allowed 10 calls: exactly 10 are answered
between the two nodes, the rest get 503 naming the limit. Then one node is killed with -9 while
holding its calls: Redis frees them within the TTL, and the other node takes new calls again.
"""

import csv
import json
import signal
import subprocess
import time
from pathlib import Path

import httpx
import redis

from tests.support.cluster import leases_in
from tests.support.serve import env_without_voicegrid, serving
from tests.support.sipp import sipp_command, sipp_errors
from voicegrid.testing.ports import free_udp_and_tcp_port
from voicegrid.testing.redis_server import RedisServer

LIMIT = 10
ATTEMPTS_PER_NODE = 500
TTL_S = 3


def stats(workdir: Path) -> dict[str, int]:
    """SIPp's cumulative counters from the last row of its statistics file."""
    [stat_file] = workdir.glob("*.csv")
    rows = list(csv.DictReader(stat_file.open(), delimiter=";"))
    last = rows[-1]
    return {name: int(last[f"{name}(C)"]) for name in ("SuccessfulCall", "FailedCall", "OutgoingCall")}


def test_two_nodes_on_one_redis_admit_exactly_the_limit_and_a_killed_nodes_calls_come_back_within_the_ttl(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    client: redis.Redis[str] = redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.flushdb()
    admin = "vg_admin_for_shared_admission_01"
    common = {
        "VOICEGRID_ADMIN_KEY": admin,
        "VOICEGRID_CAPACITY_URL": redis_server.url,
        "VOICEGRID_CAPACITY_TTL_S": str(TTL_S),
        "VOICEGRID_INVITE_RATE_PER_SOURCE": "2000",
        "VOICEGRID_DRAIN_SECONDS": "1",
    }
    var = tmp_path / "var"

    def node_env(name: str, rtp_from: int) -> dict[str, str]:
        # Two nodes on one host: each its own RTP ports, as two machines would have.
        return env_without_voicegrid(
            **common,
            VOICEGRID_NODE_ID=name,
            VOICEGRID_RTP_PORT_MIN=str(rtp_from),
            VOICEGRID_RTP_PORT_MAX=str(rtp_from + 4999),
        )

    sip = [free_udp_and_tcp_port(), free_udp_and_tcp_port()]
    nodes: list[subprocess.Popen[bytes]] = []
    with (
        serving(var, "--demo", sip_port=sip[0], env=node_env("a", 40000)) as (url, _),
        serving(var, sip_port=sip[1], env=node_env("b", 45000), processes=nodes),
    ):
        demo = json.loads((var / "demo.json").read_text())
        business = demo["business_id"]
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"}, timeout=10)
        base = f"/v1/businesses/{business}"
        api.put(f"{base}/limits", json={"max_concurrent_calls": LIMIT}).raise_for_status()
        api.patch(f"{base}/agents/{demo['agent_id']}", json={"kind": "echo"}).raise_for_status()

        callers = []
        for node, port in zip("ab", sip, strict=True):
            workdir = tmp_path / f"sipp-{node}"
            workdir.mkdir()
            args = sipp_command(port, "-sn", "uac", "-s", "+15550101", "-m", str(ATTEMPTS_PER_NODE))
            args += ["-r", "250", "-l", str(ATTEMPTS_PER_NODE), "-d", "20000"]
            args += ["-trace_stat", "-fd", "1", "-trace_err", "-max_socket", "2000"]
            callers.append(subprocess.Popen(args, cwd=workdir, stdout=subprocess.DEVNULL))
        try:
            # Every attempt is answered or refused within a few seconds; the answered ones are held.
            deadline = time.monotonic() + 40
            counts: list[dict[str, int]] = []
            while time.monotonic() < deadline:
                time.sleep(1)
                try:
                    counts = [stats(tmp_path / f"sipp-{n}") for n in "ab"]
                except (ValueError, KeyError, IndexError):
                    continue
                if sum(c["FailedCall"] for c in counts) == 2 * ATTEMPTS_PER_NODE - LIMIT:
                    break
            assert sum(c["OutgoingCall"] for c in counts) == 2 * ATTEMPTS_PER_NODE
            assert sum(c["FailedCall"] for c in counts) == 2 * ATTEMPTS_PER_NODE - LIMIT
            assert leases_in(client, business) == LIMIT
            refusals = sum(
                log.read_text().count(f"refused: business max_concurrent_calls={LIMIT}")
                for log in tmp_path.glob("serve-*.log")
            )
            assert refusals == 2 * ATTEMPTS_PER_NODE - LIMIT  # every failure was the limit, nothing else
            errors = sipp_errors(tmp_path / "sipp-a") + sipp_errors(tmp_path / "sipp-b")
            assert "SIP/2.0 503 Over capacity" in errors
            assert f"X-Voicegrid-Limit: business max_concurrent_calls={LIMIT}" in errors
            held_by_b = int(client.zcount(f"vg:calls:business:{business}", "-inf", "+inf")) - len(
                [m for m in client.zrange(f"vg:calls:business:{business}", 0, -1) if m.startswith("a:")]
            )

            # Node b dies holding its calls: no BYE, no release. Its leases lapse within the TTL.
            nodes[0].send_signal(signal.SIGKILL)
            nodes[0].wait()
            died = time.monotonic()
            while leases_in(client, business) > LIMIT - held_by_b:
                assert time.monotonic() - died < TTL_S + 1, "a dead node's calls outlived the TTL"
                time.sleep(0.1)
            freed_after = time.monotonic() - died
            assert held_by_b == 0 or freed_after > 0
            if held_by_b:  # the freed room takes a new call at node a at once
                again = subprocess.run(
                    sipp_command(
                        sip[0], "-sn", "uac", "-s", "+15550101", "-m", "1", "-d", "500", "-trace_err"
                    ),
                    cwd=tmp_path,
                    capture_output=True,
                    timeout=60,
                )
                assert again.returncode == 0, sipp_errors(tmp_path)
        finally:
            for caller in callers:
                caller.kill()
                caller.wait()
    print(f"leases of the killed node freed {freed_after:.2f} s after kill -9 (TTL {TTL_S} s)")
