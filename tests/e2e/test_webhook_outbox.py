"""A business's endpoint is down when its call ends and the node restarts before it comes back: the
events wait in the node's outbox and the restarted node delivers them, same delivery, signed."""

import json
import subprocess
import threading
import time
from pathlib import Path

import httpx

from tests.support.endpoint import Endpoint
from tests.support.serve import env_without_voicegrid, serving
from tests.support.sipp import sipp_command, sipp_errors
from voicegrid.core.webhooks import verify
from voicegrid.testing.ports import free_udp_and_tcp_port


def _events(seen: list[tuple[int, dict[str, str], bytes]]) -> set[str]:
    return {json.loads(body)["event"] for _, _, body in seen}


def _wait(condition, what: str, limit_s: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_call_events_that_could_not_be_delivered_are_sent_by_the_node_after_it_restarts(
    tmp_path: Path,
) -> None:
    endpoint = Endpoint()
    threading.Thread(target=endpoint.serve_forever, daemon=True).start()
    admin = "vg_admin_for_the_outbox_test_0001"
    env = env_without_voicegrid(VOICEGRID_ADMIN_KEY=admin, VOICEGRID_WEBHOOK_ALLOW_PRIVATE="true")
    sip = free_udp_and_tcp_port()
    outbox = tmp_path / "var" / "webhooks"
    try:
        with serving(tmp_path / "var", "--demo", sip_port=sip, env=env) as (url, _):
            demo = json.loads((tmp_path / "var" / "demo.json").read_text())
            api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"}, timeout=10)
            base = f"/v1/businesses/{demo['business_id']}"
            api.patch(f"{base}/agents/{demo['agent_id']}", json={"kind": "echo"}).raise_for_status()
            hook = api.put(f"{base}/webhook", json={"url": endpoint.url})
            hook.raise_for_status()
            key = bytes.fromhex(hook.json()["signing_key"])
            caller = subprocess.run(
                sipp_command(sip, "-sn", "uac", "-s", "+15550100", "-m", "1", "-d", "1000", "-trace_err"),
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                timeout=60,
            )
            assert caller.returncode == 0, sipp_errors(tmp_path)
            _wait(lambda: _events(endpoint.seen) >= {"call.started", "call.ended"}, "both were not tried")
        # The node stopped with both events refused (503) and waiting for their next try.
        waiting = {p.stem for p in outbox.glob("whd_*.json")}
        assert len(waiting) == 2
        tried_before = {s[1]["x-voicegrid-delivery"] for s in endpoint.seen}
        assert tried_before == waiting

        endpoint.status = 200
        with serving(tmp_path / "var", env=env):
            _wait(lambda: len(endpoint.taken()) == 2, "the waiting events were not sent after the restart")
            _wait(lambda: not list(outbox.glob("whd_*.json")), "the outbox was not emptied", limit_s=5)
    finally:
        endpoint.shutdown()
        endpoint.server_close()
    taken = endpoint.taken()
    assert {headers["x-voicegrid-delivery"] for _, headers, _ in taken} == waiting  # the same deliveries
    assert all(int(headers["x-voicegrid-attempt"]) >= 2 for _, headers, _ in taken)
    assert all(verify(key, body, headers["x-voicegrid-signature"], time.time()) for _, headers, body in taken)
    ended = next(
        json.loads(body)["data"] for _, _, body in taken if json.loads(body)["event"] == "call.ended"
    )
    assert ended["outcome"] == "completed"
    assert ended["business_id"] == demo["business_id"]
    assert {i["component"] for i in ended["cost"]["items"]} >= {"telephony"}
