"""Many nodes behind Kamailio, all real processes (`voicegrid.cluster.up`): PostgreSQL, Redis, the
edge and the nodes, with SIPp calling through the edge.

The first tests share one cluster of three nodes (one xdist group); the fault tests each start
their own, since they break it.
"""

import socket
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import (
    CLUSTER_ENV,
    admin,
    dump,
    finished,
    live,
    record_echo_calls,
    through_edge,
    wait_until,
)
from tests.support.sipp import sipp_errors
from voicegrid.cluster.up import Cluster, start_cluster

ECHO = "+15550101"
SHORT = {"calls": 1, "rate": 10.0, "hold_ms": 300}
pytestmark = pytest.mark.xdist_group("cluster")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = start_cluster(3, tmp_path_factory.mktemp("cluster"), env=CLUSTER_ENV)
    try:
        yield running
    finally:
        running.stop()


def test_calls_through_the_edge_are_spread_over_the_nodes_and_any_node_reads_and_hangs_up_anothers(
    cluster: Cluster, tmp_path: Path
) -> None:
    business = cluster.demo["business_id"]
    caller = through_edge(cluster, tmp_path / "sipp", ECHO, calls=6, rate=20, hold_ms=60_000)
    try:
        wait_until(lambda: len(live(cluster)["calls"]) == 6, "six calls up", limit_s=30)
        views = [live(cluster, i) for i in range(3)]
        ids = [{c["id"] for c in view["calls"]} for view in views]
        assert ids[0] == ids[1] == ids[2]  # every node lists every node's calls
        spread = Counter(c["node"] for c in views[0]["calls"])
        assert spread == {"node1": 2, "node2": 2, "node3": 2}, dump(cluster)  # round robin
        assert views[0]["in_use"] == 6

        held_by_2 = [c for c in views[0]["calls"] if c["node"] == "node2"]
        first, second = (f"/v1/businesses/{business}/calls/{c['id']}" for c in held_by_2)
        node1, node3 = admin(cluster, 0), admin(cluster, 2)
        read = node3.get(first).json()
        assert (read["node"], read["state"], read["transport"]) == ("node2", "up", "sip")
        hung_up = node1.post(first + "/hangup")
        assert hung_up.status_code == 202
        wait_until(lambda: node3.get(first).json()["state"] == "ended", "hung up on node2")
        ended = node3.get(first).json()
        assert (ended["node"], ended["ended_by"]) == ("node2", "local")
        transfer = node3.post(second + "/transfer", json={"to": "+15550199"})
        assert transfer.status_code == 202, transfer.text
        assert transfer.json()["node"] == "node2"
        assert transfer.json()["transfer_to"].startswith("sip:+15550199@")  # a REFER went out

        # another business asks for the call through any node: not found, and no hint whose it is
        reseller = node1.get(f"/v1/businesses/{business}").json()["reseller_id"]
        other = node1.post("/v1/businesses", json={"name": "Other", "reseller_id": reseller}).json()["id"]
        for node in (node1, node3):
            assert node.get(f"/v1/businesses/{other}/calls/{held_by_2[1]['id']}").status_code == 404
            assert node.post(f"/v1/businesses/{other}/calls/{held_by_2[1]['id']}/hangup").status_code == 404
            assert node.get(f"/v1/businesses/{other}/calls/live").json()["calls"] == []
        assert node1.get(f"/v1/businesses/{business}/calls/call_01NOSUCHCALL0000000000000").status_code == 404
    finally:
        caller.kill()
        caller.wait()


def test_behind_the_edge_trunks_admit_by_the_callers_own_address_and_a_forged_source_is_ignored(
    cluster: Cluster, tmp_path: Path
) -> None:
    business = cluster.demo["business_id"]
    api = admin(cluster)
    trunks = api.get(f"/v1/businesses/{business}/trunks").json()["items"]
    trunk = next(t for t in trunks if t["inbound_cidrs"])
    path = f"/v1/businesses/{business}/trunks/{trunk['id']}"
    api.patch(path, json={"inbound_cidrs": ["127.0.0.2/32"]}).raise_for_status()
    try:
        allowed = through_edge(cluster, tmp_path / "a", ECHO, source="127.0.0.2", **SHORT)
        assert finished(allowed) == 0, sipp_errors(tmp_path / "a") + dump(cluster)
        refused = through_edge(cluster, tmp_path / "r", ECHO, source="127.0.0.3", **SHORT)
        assert finished(refused) != 0
        assert "403 Source not allowed" in sipp_errors(tmp_path / "r")
        # straight at a node, claiming to be 127.0.0.2: the node believes the header only from the edge
        node = cluster.nodes[0]
        forged = through_edge(
            cluster, tmp_path / "f", ECHO, source="127.0.0.3", scenario="uac_forged_source.xml",
            target=(node.host, node.sip_port), **SHORT,
        )  # fmt: skip
        assert finished(forged) != 0
        assert "403 Source not allowed" in sipp_errors(tmp_path / "f")
    finally:
        api.patch(path, json={"inbound_cidrs": trunk["inbound_cidrs"]}).raise_for_status()


def test_a_source_flooding_the_edge_is_banned_there_and_other_callers_still_get_through(
    cluster: Cluster, tmp_path: Path
) -> None:
    assert cluster.edge is not None
    edge = (cluster.edge.host, cluster.edge.port)
    sent, answered = 2000, 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as flood:
        flood.bind(("127.0.0.4", 0))
        flood.settimeout(0.5)
        port = flood.getsockname()[1]
        for n in range(sent):
            flood.sendto(_options(n, port), edge)
            if n % 50 == 49:
                time.sleep(0.02)  # about 2,000 a second: five times the edge's 400 per 2 s
        try:
            while True:
                flood.recv(4096)
                answered += 1
        except TimeoutError:
            pass
    assert 0 < answered < sent / 2, answered  # answered until the ban, then dropped unanswered
    assert "flood from 127.0.0.4" in cluster.edge.log_path.read_text(errors="replace")
    caller = through_edge(cluster, tmp_path / "ok", ECHO, calls=2, rate=10, hold_ms=300)
    assert finished(caller) == 0, sipp_errors(tmp_path / "ok")


def _options(n: int, port: int) -> bytes:
    return (
        f"OPTIONS sip:+15550101@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.4:{port};branch=z9hG4bKflood{n}\r\n"
        f"From: <sip:flood@127.0.0.4>;tag=f{n}\r\nTo: <sip:+15550101@127.0.0.1>\r\n"
        f"Call-ID: flood-{n}@127.0.0.4\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def test_a_recording_kept_by_one_node_is_served_by_any_node(cluster: Cluster, tmp_path: Path) -> None:
    business, api = cluster.demo["business_id"], admin(cluster)
    record_echo_calls(cluster, True)
    try:
        caller = through_edge(cluster, tmp_path / "rec", ECHO, calls=3, rate=20, hold_ms=1500)
        assert finished(caller) == 0, sipp_errors(tmp_path / "rec")
    finally:
        record_echo_calls(cluster, False)
    calls = api.get(f"/v1/businesses/{business}/calls", params={"limit": 3}).json()["items"]
    assert {c["node"] for c in calls} == {"node1", "node2", "node3"}  # one each
    wavs = {}
    for call in calls:
        path = f"/v1/businesses/{business}/calls/{call['id']}/recording"
        wait_until(lambda p=path: admin(cluster, 1).get(p).status_code == 200, "recording ready")
        for node in range(3):
            got = admin(cluster, node).get(path)
            assert got.status_code == 200, (node, call["node"], got.text)
            assert got.content[:4] == b"RIFF"
            wavs.setdefault(call["id"], got.content)
            assert got.content == wavs[call["id"]]  # the same file, whoever served it
