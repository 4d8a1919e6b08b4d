"""Cluster tests' helpers: a cluster started for real (`voicegrid.cluster.up`), SIPp callers through
its edge, and the admin API of any node."""

import asyncio
import csv
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import httpx
import redis

from tests.support.sipp import SCENARIOS, sipp_argv
from voicegrid.cluster.up import Cluster
from voicegrid.testing.ports import free_udp_and_tcp_port

CLUSTER_ENV = {
    "VOICEGRID_CAPACITY_TTL_S": "3",  # a dead node's calls come back within 3 s
    "VOICEGRID_INVITE_RATE_PER_SOURCE": "2000",  # SIPp calls from one address
    "VOICEGRID_ALLOW_PRIVATE_DESTINATIONS": "true",  # the webhook endpoint is on loopback
    "VOICEGRID_DRAIN_SECONDS": "20",
    "VOICEGRID_LOG_LEVEL": "info",
}


def admin(cluster: Cluster, node: int = 0) -> httpx.Client:
    return httpx.Client(
        base_url=cluster.nodes[node].url,
        headers={"Authorization": f"Bearer {cluster.shared.admin_key}"},
        timeout=10,
    )


def through_edge(
    cluster: Cluster,
    workdir: Path,
    number: str,
    *,
    calls: int,
    rate: float,
    hold_ms: int,
    source: str = "127.0.0.1",
    scenario: str = "uac_via_edge.xml",
    target: tuple[str, int] | None = None,
) -> "subprocess.Popen[bytes]":
    """SIPp placing `calls` calls to `number` through the edge (or straight at `target`), from
    `source`, each held `hold_ms`; its statistics and errors land in `workdir`."""
    assert cluster.edge is not None
    host, port = target or (cluster.edge.host, cluster.edge.port)
    workdir.mkdir(parents=True, exist_ok=True)
    args = sipp_argv(
        f"{host}:{port}", "-sf", str(SCENARIOS / scenario), "-s", number,
        "-i", source, "-p", str(free_udp_and_tcp_port()), "-m", str(calls), "-l", str(calls),
        "-r", str(rate), "-d", str(hold_ms), "-nostdin", "-timeout", "90s",
        "-trace_stat", "-fd", "1", "-trace_err", "-max_socket", "2000",
    )  # fmt: skip
    return subprocess.Popen(args, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def finished(caller: "subprocess.Popen[bytes]", limit_s: float = 90) -> int:
    try:
        return caller.wait(timeout=limit_s)
    except subprocess.TimeoutExpired:
        caller.kill()
        caller.wait()
        raise


def sipp_stats(workdir: Path) -> dict[str, int]:
    """SIPp's cumulative counters from the last row of its statistics file (zeros before the first)."""
    names = ("SuccessfulCall", "FailedCall", "OutgoingCall")
    for stat_file in workdir.glob("*.csv"):
        rows = list(csv.DictReader(stat_file.open(), delimiter=";"))
        if rows:
            return {name: int(rows[-1][f"{name}(C)"]) for name in names}
    return dict.fromkeys(names, 0)


def wait_until(condition: Callable[[], bool], what: str, limit_s: float = 30) -> float:
    """Seconds it took `condition` to hold; fails the test with `what` after `limit_s`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < limit_s, what
        time.sleep(0.1)
    return time.monotonic() - started


def live(cluster: Cluster, node: int = 0) -> dict[str, object]:
    """GET /v1/calls/live of the demo business, asked of `node`."""
    business = cluster.demo["business_id"]
    body: dict[str, object] = admin(cluster, node).get(f"/v1/businesses/{business}/calls/live").json()
    return body


def records(cluster: Cluster, limit: int = 200) -> list[dict[str, object]]:
    """The demo business's calls (live and stored), newest first, from node 0."""
    business = cluster.demo["business_id"]
    got = admin(cluster).get(f"/v1/businesses/{business}/calls", params={"limit": limit})
    got.raise_for_status()
    items: list[dict[str, object]] = got.json()["items"]
    return items


def log_of(cluster: Cluster, name: str) -> str:
    return cluster.node(name).log_path.read_text(errors="replace")


def dump(cluster: Cluster) -> str:
    """Everything worth reading when a cluster test fails."""
    parts = [json.dumps(cluster.manifest(), indent=1)]
    for node in cluster.nodes:
        parts.append(f"--- {node.name}\n{node.tail(2500)}")
    if cluster.edge is not None:
        parts.append(f"--- edge\n{cluster.edge.log_path.read_text(errors='replace')[-2500:]}")
    return "\n".join(parts)


def leases_in(client: "redis.Redis[str]", business_id: str) -> int:
    """The business's call leases in Redis that have not lapsed (calls admitted, on any node)."""
    seconds, micros = client.time()
    now_ms = seconds * 1000 + micros // 1000
    return int(client.zcount(f"vg:calls:business:{business_id}", now_ms + 1, "+inf"))


def live_leases(cluster: Cluster, business_id: str) -> int:
    client: redis.Redis[str] = redis.Redis.from_url(cluster.redis.url, decode_responses=True)
    try:
        return leases_in(client, business_id)
    finally:
        client.close()


def stored_records(cluster: Cluster, call_ids: list[str]) -> dict[str, str]:
    """Of `call_ids`, those with a record in PostgreSQL: call id -> the node that took the call."""

    async def query() -> dict[str, str]:
        connection = await asyncpg.connect(cluster.shared.database_url.replace("+asyncpg", ""))
        try:
            rows = await connection.fetch(
                "SELECT id, record->>'node' AS node FROM call_records WHERE id = ANY($1::text[])", call_ids
            )
        finally:
            await connection.close()
        return {row["id"]: row["node"] for row in rows}

    return asyncio.run(query())


def record_echo_calls(cluster: Cluster, on: bool) -> None:
    """Whether the demo's echo agent records its calls."""
    business, api = cluster.demo["business_id"], admin(cluster)
    numbers = api.get(f"/v1/businesses/{business}/numbers").json()["items"]
    agent = next(n["agent_id"] for n in numbers if n["number"] == cluster.demo["echo_number"])
    api.patch(f"/v1/businesses/{business}/agents/{agent}", json={"recording": on}).raise_for_status()
