"""Faults a cluster must survive, with real processes: a node killed with -9, a node stopped with
SIGTERM, Redis and PostgreSQL restarted under load. Each test starts (and breaks) its own cluster."""

import json
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cluster import (
    CLUSTER_ENV,
    admin,
    dump,
    finished,
    live,
    live_leases,
    log_of,
    record_echo_calls,
    sipp_stats,
    stored_records,
    through_edge,
    wait_until,
)
from tests.support.endpoint import Endpoint
from tests.support.sipp import sipp_errors
from voicegrid.cluster.up import Cluster, start_cluster
from voicegrid.testing.s3_server import ACCESS_KEY, SECRET_KEY, start_s3

ECHO = "+15550101"
LIMIT = 20
TTL_S = 3


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    import threading

    served = Endpoint()
    threading.Thread(target=served.serve_forever, daemon=True).start()
    try:
        yield served
    finally:
        served.shutdown()
        served.server_close()


def _cluster(tmp_path: Path, nodes: int, **env: str) -> Cluster:
    return start_cluster(nodes, tmp_path / "cluster", env={**CLUSTER_ENV, **env}, flood_per_2s=4000)


def _calls(cluster: Cluster) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = live(cluster)["calls"]
    return calls


def test_a_node_killed_with_minus_9_loses_no_capacity_no_webhook_and_no_finished_record(
    tmp_path: Path, endpoint: Endpoint
) -> None:
    cluster = _cluster(tmp_path, 3, VOICEGRID_WEBHOOK_MAX_BACKOFF_S="2")
    try:
        business = cluster.demo["business_id"]
        api = admin(cluster)
        api.put(f"/v1/businesses/{business}/limits", json={"max_concurrent_calls": LIMIT}).raise_for_status()
        api.put(f"/v1/businesses/{business}/webhook", json={"url": endpoint.url}).raise_for_status()
        endpoint.status = 503  # the business's endpoint is down: every node's events wait

        held = through_edge(cluster, tmp_path / "held", ECHO, calls=12, rate=20, hold_ms=120_000)
        wait_until(lambda: len(_calls(cluster)) == 12, "12 calls up", limit_s=30)
        long_calls = _calls(cluster)
        assert Counter(c["node"] for c in long_calls) == {"node1": 4, "node2": 4, "node3": 4}
        long_ids = {c["id"] for c in long_calls}
        on_node2 = {c["id"] for c in long_calls if c["node"] == "node2"}
        wait_until(lambda: _tried(endpoint) >= {c["id"] for c in long_calls}, "every call.started tried")

        # three short calls, one a node; their records cannot be stored (PostgreSQL is down) when
        # they end, so each node keeps its record in its journal
        short = through_edge(cluster, tmp_path / "short", ECHO, calls=3, rate=20, hold_ms=4000)
        wait_until(lambda: len(_calls(cluster)) == 15, "3 more calls up", limit_s=30)
        short_calls = {c["id"]: c["node"] for c in _calls(cluster) if c["id"] not in long_ids}
        assert sorted(short_calls.values()) == ["node1", "node2", "node3"]
        cluster.postgres.halt()
        assert finished(short) == 0, sipp_errors(tmp_path / "short")

        node2 = cluster.node("node2")
        # what a kill -9 may not take is a record already journaled: the few milliseconds between the
        # BYE's answer and the journal's fsync (the billing read, refused by the halted database) are
        # not what this test is about, and a loaded machine stretched them past the kill
        on2 = next(call for call, node in short_calls.items() if node == "node2")
        wait_until(lambda: on2 in _journaled(node2.data_dir), "node2's record journaled", 10)
        node2.signal(signal.SIGKILL)
        node2.wait(10)
        killed = time.monotonic()
        cluster.postgres.restart()

        # its call leases lapse within the TTL; the edge stops sending it calls within the probe interval
        freed_s = wait_until(lambda: live_leases(cluster, business) == 8, "leases back", limit_s=TTL_S + 2)
        assert cluster.edge is not None
        dead_uri = f"sip:{node2.host}:{node2.sip_port}"
        wait_until(lambda: cluster.edge.node_states()[dead_uri].startswith("I"), "node2 marked down", 4)
        print(f"kill -9: leases back after {freed_s + 0:.2f} s, probe marked the node down")

        # its waiting events are sent by another node once its lease lapses
        endpoint.status = 200
        wait_until(lambda: _taken(endpoint) >= on_node2, "node2's call.started sent by another node", 40)

        # 1,000 INVITEs for a business with 20 calls, 8 of them held: exactly 12 more, never more
        flood = through_edge(cluster, tmp_path / "flood", ECHO, calls=1000, rate=150, hold_ms=30_000)
        peak = 0
        # every INVITE has its answer by then: SIPp's own retransmissions (0.5 s doubling, seven
        # times) recover a datagram a starved process's full socket dropped, within 64 s
        deadline = time.monotonic() + 70
        while sipp_stats(tmp_path / "flood")["FailedCall"] < 1000 - 12:
            assert time.monotonic() < deadline, f"{sipp_stats(tmp_path / 'flood')}\n{dump(cluster)}"
            peak = max(peak, live_leases(cluster, business))
            time.sleep(0.05)
        peak = max(peak, live_leases(cluster, business))
        stats = sipp_stats(tmp_path / "flood")
        assert (stats["OutgoingCall"], stats["FailedCall"]) == (1000, 988)
        assert peak == LIMIT
        assert f"X-Voicegrid-Limit: business max_concurrent_calls={LIMIT}" in sipp_errors(tmp_path / "flood")
        refusals = {n: log_of(cluster, n).count(f"max_concurrent_calls={LIMIT}") for n in ("node1", "node3")}
        assert sum(refusals.values()) == 988, refusals  # refused by the live nodes, each once
        new_nodes = Counter(c["node"] for c in _calls(cluster) if c["id"] not in long_ids)
        # none to the dead node; which live node wins the 12 leases is a race (a node whose first
        # database use after the restart is slow may lose them all, as one did in CI)
        assert set(new_nodes) <= {"node1", "node3"}
        assert sum(new_nodes.values()) == 12
        flood.kill()
        held.kill()

        # node2 comes back: it stores the record its journal kept; the edge sends it calls again
        cluster.restart_node("node2").wait_ready()
        kept = list(short_calls)
        wait_until(lambda: stored_records(cluster, kept) == short_calls, "records, node2's from its journal")
        wait_until(lambda: cluster.edge.node_states()[dead_uri].startswith("A"), "node2 back", 5)
        print(f"1,000 INVITEs: 12 admitted, 988 refused; peak {peak} of {LIMIT}; kill -9 at {killed:.0f}")
    except BaseException:
        print(dump(cluster))
        raise
    finally:
        cluster.stop()


def _journaled(data_dir: Path) -> str:
    journal = data_dir / "journal" / "calls.jsonl"
    return journal.read_text() if journal.exists() else ""


def _tried(endpoint: Endpoint) -> set[str]:
    with endpoint.lock:
        seen = list(endpoint.seen)
    events = [json.loads(body) for _, _, body in seen]
    return {event["data"]["id"] for event in events if event["event"] == "call.started"}


def _taken(endpoint: Endpoint) -> set[str]:
    return {
        json.loads(body)["data"]["id"]
        for _, _, body in endpoint.taken()
        if json.loads(body)["event"] == "call.started"
    }


def test_a_node_stopped_with_sigterm_gets_no_new_calls_ends_its_own_and_exits(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path, 2, VOICEGRID_DRAIN_SECONDS="30")
    try:
        first = through_edge(cluster, tmp_path / "first", ECHO, calls=4, rate=20, hold_ms=6000)
        wait_until(lambda: len(_calls(cluster)) == 4, "4 calls up", limit_s=30)
        assert Counter(c["node"] for c in _calls(cluster)) == {"node1": 2, "node2": 2}
        node1 = cluster.node("node1")
        node1.signal(signal.SIGTERM)
        # new calls at once, while node1 drains: its 503s send them to node2; no caller sees one
        later = through_edge(cluster, tmp_path / "later", ECHO, calls=10, rate=10, hold_ms=500)
        assert finished(later) == 0, sipp_errors(tmp_path / "later")
        assert finished(first) == 0, sipp_errors(tmp_path / "first")  # node1's calls ended normally
        assert node1.wait(20) == 0, node1.tail()
        business = cluster.demo["business_id"]
        records = admin(cluster, 1).get(f"/v1/businesses/{business}/calls", params={"limit": 50}).json()
        placed = Counter(c["node"] for c in records["items"])
        assert placed == {"node1": 2, "node2": 12}, placed
    except BaseException:
        print(dump(cluster))
        raise
    finally:
        cluster.stop()


def test_redis_and_postgresql_restarted_under_load_lose_no_call_and_no_record(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path, 2)
    try:
        business = cluster.demo["business_id"]
        load = through_edge(cluster, tmp_path / "load", ECHO, calls=40, rate=4, hold_ms=2000)
        time.sleep(3)
        cluster.redis.restart()  # empty: every lease and registry entry is gone
        time.sleep(3)
        cluster.postgres.halt()
        time.sleep(2)
        cluster.postgres.restart()
        finished(load, limit_s=60)
        stats = sipp_stats(tmp_path / "load")
        assert stats["OutgoingCall"] == 40
        # calls that could not be routed while PostgreSQL was down were refused (503, try again in
        # 5 s, not failed over: every node shares the database), never dropped; each answered call
        # left its record
        refused = sipp_errors(tmp_path / "load").count("SIP/2.0 503 Database unavailable")
        assert sipp_errors(tmp_path / "load").count("X-Voicegrid-Outage: database") == refused
        calls = admin(cluster).get(f"/v1/businesses/{business}/calls", params={"limit": 100}).json()
        completed = [c for c in calls["items"] if c["outcome"] == "completed"]
        assert len(completed) + refused == 40
        assert len(completed) >= stats["SuccessfulCall"] > 0
        wait_until(
            lambda: len(stored_records(cluster, [c["id"] for c in completed])) == len(completed),
            "every answered call's record stored",
        )
        # Redis came back empty: the nodes put their calls' leases back (their heartbeat found them
        # gone), and with no call up none is left
        logs = [log_of(cluster, node.name) for node in cluster.nodes]
        assert any("holdings had expired in Redis and were put back" in text for text in logs)
        wait_until(lambda: live_leases(cluster, business) == 0, "no lease left")
        assert live(cluster)["in_use"] == 0
        print(f"under restarts: {len(completed)} of 40 answered, {refused} refused (503)")
    except BaseException:
        print(dump(cluster))
        raise
    finally:
        cluster.stop()


def test_with_object_storage_a_dead_nodes_recordings_are_served_by_the_others_and_erased_there(
    tmp_path: Path,
) -> None:
    s3 = start_s3()
    try:
        cluster = _cluster(
            tmp_path, 2,
            VOICEGRID_RECORDINGS_S3_BUCKET="voicegrid-recordings", VOICEGRID_RECORDINGS_S3_ENDPOINT=s3.url,
            VOICEGRID_RECORDINGS_S3_ACCESS_KEY=ACCESS_KEY, VOICEGRID_RECORDINGS_S3_SECRET_KEY=SECRET_KEY,
        )  # fmt: skip
        try:
            business, api = cluster.demo["business_id"], admin(cluster)
            record_echo_calls(cluster, True)
            # one call for each node: both active at the edge first (a node just started on a busy
            # machine may miss the edge's first 1 s probe and be skipped until the next, as in CI once)
            edge = cluster.edge
            assert edge is not None
            wait_until(
                lambda: all(s.startswith("A") for s in edge.node_states().values()), "both nodes active", 10
            )
            caller = through_edge(cluster, tmp_path / "rec", ECHO, calls=2, rate=20, hold_ms=1500)
            assert finished(caller) == 0, sipp_errors(tmp_path / "rec")
            calls = api.get(f"/v1/businesses/{business}/calls", params={"limit": 2}).json()["items"]
            [taken_by_2] = [c for c in calls if c["node"] == "node2"]
            call = f"/v1/businesses/{business}/calls/{taken_by_2['id']}"
            path = f"{call}/recording"
            wait_until(lambda: api.get(path).status_code == 200, "the recording stored")
            before = api.get(path).content
            assert before[:4] == b"RIFF"
            node2 = cluster.node("node2")
            node2.signal(signal.SIGKILL)
            node2.wait(10)
            wait_until(lambda: api.get(path).status_code == 200, "served while node2 is dead", 10)
            assert api.get(path).content == before  # from the object store: node2 cannot answer
            assert api.delete(f"{call}/content").status_code == 204
            assert api.get(path).status_code == 404  # erased from the object store too
        except BaseException:
            print(dump(cluster))
            raise
        finally:
            cluster.stop()
    finally:
        s3.stop()
