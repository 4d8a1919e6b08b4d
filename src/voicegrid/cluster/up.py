"""`voicegrid cluster up`: Kamailio, Redis, PostgreSQL and N nodes on this machine, as real processes
on free loopback ports; `<data dir>/cluster.json` says where each is, and how to sign in."""

import base64
import contextlib
import json
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicegrid.cluster.edge import KamailioEdge, start_edge
from voicegrid.cluster.nodes import Node, NodeError, Shared, start_node
from voicegrid.core.files import write_private_json
from voicegrid.testing.postgres_server import PostgresServer, start_postgres
from voicegrid.testing.redis_server import RedisServer, start_redis

RTP_PORTS_PER_NODE = 2000
RTP_BASE = 40000


@dataclass
class Cluster:
    data_dir: Path
    shared: Shared
    postgres: PostgresServer
    redis: RedisServer
    nodes: list[Node] = field(default_factory=list)
    edge: KamailioEdge | None = None
    demo: dict[str, Any] = field(default_factory=dict)

    @property
    def manifest_path(self) -> Path:
        return self.data_dir / "cluster.json"

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def add_node(self, *, demo: bool = False, name: str | None = None) -> Node:
        """Start one more node (not yet in the edge's list: `dispatch` puts it there)."""
        index = len(self.nodes)
        name = name or f"node{index + 1}"
        low = RTP_BASE + index * RTP_PORTS_PER_NODE
        node = start_node(
            self.shared,
            name,
            self.data_dir / "nodes" / name,
            (low, low + RTP_PORTS_PER_NODE - 1),
            demo=demo,
        )
        self.nodes.append(node)
        return node

    def ready(self, node: Node, attempts: int = 3) -> Node:
        """Wait for `node`; a free port another process took meanwhile starts it again on others."""
        for attempt in range(attempts):
            try:
                node.wait_ready()
                return node
            except NodeError as exc:
                if "address already in use" not in str(exc) or attempt == attempts - 1:
                    raise
            first = self.nodes.index(node) == 0  # the one that seeds the demo
            again = start_node(self.shared, node.name, node.data_dir, node.rtp_ports, demo=first)
            self.nodes[self.nodes.index(node)] = node = again
        return node

    def restart_node(self, name: str) -> Node:
        """Start a node that ended again, on its ports and data dir (its journal and outbox)."""
        old = self.node(name)
        node = start_node(
            self.shared, name, old.data_dir, old.rtp_ports,
            http_port=old.http_port, sip_port=old.sip_port,
        )  # fmt: skip
        self.nodes[self.nodes.index(old)] = node
        return node

    def dispatch(self) -> None:
        """The edge sends new calls to every node of the cluster (it probes them itself)."""
        assert self.edge is not None
        self.edge.set_nodes([(n.name, n.host, n.sip_port) for n in self.nodes])

    def manifest(self) -> dict[str, Any]:
        edge = self.edge
        demo = dict(self.demo)
        if edge is not None and demo.get("number"):
            demo["sip_uri"] = f"sip:{demo['number']}@{edge.host}:{edge.port}"
        return {
            "edge": {"sip_uri": edge.sip_uri if edge else None, "pid": edge.process.pid if edge else None},
            "nodes": [
                {
                    "name": n.name, "http_url": n.url, "sip_address": f"{n.host}:{n.sip_port}",
                    "rtp_ports": list(n.rtp_ports), "pid": n.pid, "data_dir": str(n.data_dir),
                }
                for n in self.nodes
            ],
            "redis": {"url": self.redis.url, "pid": self.redis.process.pid},
            "postgres": {"url": self.shared.database_url, "pid": self.postgres.postmaster_pid},
            "admin_key": self.shared.admin_key,
            "demo": demo,
        }  # fmt: skip

    def write_manifest(self) -> Path:
        """cluster.json, owner-only: it holds the admin key and the demo's API key."""
        write_private_json(self.manifest_path, self.manifest())
        return self.manifest_path

    def stop(self) -> None:
        """Everything this cluster started, by pid: the edge first (no new calls), then the nodes
        (they drain at once, together), then Redis and PostgreSQL."""
        if self.edge is not None:
            self.edge.stop()
        for node in self.nodes:
            node.signal(15)
        for node in self.nodes:
            node.stop()
        self.redis.stop()
        self.postgres.stop()


def start_cluster(
    nodes: int,
    data_dir: Path,
    *,
    probe_s: int = 1,
    env: dict[str, str] | None = None,
    edge_port: int | None = None,
    flood_per_2s: int = 400,
) -> Cluster:
    """Start the whole set and wait until every node is ready and the edge dispatches to them; stops
    what it started if any part fails."""
    if nodes < 1:
        raise ValueError("a cluster has at least one node")
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    postgres = start_postgres()
    redis: RedisServer | None = None
    cluster: Cluster | None = None
    try:
        redis = start_redis()
        shared = Shared(
            database_url=postgres.url(),
            capacity_url=redis.url,
            secret_key=base64.b64encode(secrets.token_bytes(32)).decode(),
            admin_key="vg_admin_" + secrets.token_urlsafe(24),
            env=env or {},
        )
        cluster = Cluster(data_dir, shared, postgres, redis)
        first = cluster.ready(cluster.add_node(demo=True))  # migrates and seeds the demo, once
        cluster.demo = json.loads((first.data_dir / "demo.json").read_text())
        for _ in range(nodes - 1):
            cluster.add_node()
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(cluster.ready, cluster.nodes[1:]))
        cluster.edge = start_edge(
            [(n.name, n.host, n.sip_port) for n in cluster.nodes],
            port=edge_port,
            probe_s=probe_s,
            pike_density=flood_per_2s,
            workdir=data_dir / "edge",
        )
        cluster.write_manifest()
        return cluster
    except BaseException:
        if cluster is not None:
            cluster.stop()
        else:
            if redis is not None:
                redis.stop()
            with contextlib.suppress(Exception):
                postgres.stop()
        raise
