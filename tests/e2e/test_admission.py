"""Admission at call start over real SIP: a business at its concurrent-call limit gets 503 with
Retry-After and a header naming the limit (SIPp is the caller), and the slot comes back at hangup;
over the API, an outbound call over the limit is refused with 429 naming it, or, when the request
asks to queue, accepted as queued and dialled (SIPp answers as the carrier) once the slot is free.
A queued call that runs out of time or is hung up while it waits is never dialled, and leaves a record."""

import json
import subprocess
import time
from pathlib import Path

import httpx

from tests.support.serve import env_without_voicegrid, serving
from tests.support.sipp import sipp_argv, sipp_command, sipp_errors
from voicegrid.testing.ports import free_udp_and_tcp_port


def sipp(sip_port: int, workdir: Path, *args: str) -> list[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    return sipp_command(sip_port, "-trace_err", "-sn", "uac", "-s", "+15550101", "-m", "1", *args)


def _stored_outcomes(api: httpx.Client, business_id: str, ids: set[str]) -> dict[str, str]:
    """The outcomes in the stored records of these calls (the export reads only the store)."""
    export = api.get(f"/v1/businesses/{business_id}/calls/export", params={"format": "ndjson"})
    export.raise_for_status()
    records = [json.loads(line) for line in export.text.splitlines() if line.strip()]
    return {r["id"]: r["outcome"] for r in records if r["id"] in ids}


def test_a_business_at_its_call_limit_gets_503_with_retry_after_and_the_slot_returns_at_hangup(
    tmp_path: Path,
) -> None:
    sip_port = free_udp_and_tcp_port()
    admin = "vg_admin_for_admission_tests_01"
    env = env_without_voicegrid(VOICEGRID_ADMIN_KEY=admin)
    with serving(tmp_path / "var", "--demo", sip_port=sip_port, env=env) as (url, _):
        demo = json.loads((tmp_path / "var" / "demo.json").read_text())
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"}, timeout=10)
        limits = {"max_concurrent_calls": 1, "max_outbound_cps": None, "monthly_minutes": None}
        base = f"/v1/businesses/{demo['business_id']}"
        api.put(f"{base}/limits", json=limits).raise_for_status()
        trunk = api.get(f"{base}/trunks").json()["items"][0]
        carrier_port = free_udp_and_tcp_port()
        carrier = {"outbound_host": "127.0.0.1", "outbound_port": carrier_port}
        api.patch(f"{base}/trunks/{trunk['id']}", json=carrier).raise_for_status()
        (tmp_path / "carrier").mkdir()
        carrier_sipp = subprocess.Popen(
            sipp_argv(
                "-sn",
                "uas",
                "-i",
                "127.0.0.1",
                "-p",
                str(carrier_port),
                "-m",
                "1",
                "-nostdin",
                "-timeout",
                "60s",
                "-trace_err",
            ),
            cwd=tmp_path / "carrier",
            stdout=subprocess.DEVNULL,
        )
        held = subprocess.Popen(
            sipp(sip_port, tmp_path / "held", "-d", "4000"), cwd=tmp_path / "held", stdout=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                live = api.get(f"/v1/businesses/{demo['business_id']}/calls").json()["items"]
                if any(c["state"] == "up" for c in live):
                    break
                time.sleep(0.1)
            refused = subprocess.run(
                sipp(sip_port, tmp_path / "refused"),
                cwd=tmp_path / "refused",
                capture_output=True,
                timeout=60,
            )
            assert refused.returncode != 0
            log = sipp_errors(tmp_path / "refused")
            assert "SIP/2.0 503 Over capacity" in log
            assert "Retry-After: 5" in log
            assert "X-Voicegrid-Limit: business max_concurrent_calls=1" in log
            # Outbound over the same limit, through the API: 429 naming the limit, nothing dialled.
            outbound = api.post(
                f"/v1/businesses/{demo['business_id']}/calls",
                json={"agent_id": demo["agent_id"], "to": "+15557770000"},
            )
            assert outbound.status_code == 429, outbound.text
            assert outbound.headers["Retry-After"] == "5"
            assert outbound.json()["limit"] == "business max_concurrent_calls=1"
            # Queued calls that never get a slot: one runs out of time, one is hung up while it waits.
            # Neither is ever dialled (the carrier answers one call only, and that is the call below,
            # queued after them), and each leaves a record saying what became of it.
            gone = {}
            for deadline_s, outcome in ((1, "queue-timeout"), (30, "cancelled")):
                placed = api.post(
                    f"/v1/businesses/{demo['business_id']}/calls",
                    json={"agent_id": demo["agent_id"], "to": "+15557770001", "queue_deadline_s": deadline_s},
                )
                assert placed.status_code == 202, placed.text
                gone[placed.json()["id"]] = outcome
            cancelled = next(i for i, o in gone.items() if o == "cancelled")
            hung_up = api.post(f"/v1/businesses/{demo['business_id']}/calls/{cancelled}/hangup")
            assert hung_up.status_code == 202, hung_up.text
            assert (hung_up.json()["state"], hung_up.json()["outcome"]) == ("ended", "cancelled")
            # The same call asking to queue: accepted now, dialled when the held call hangs up.
            queued = api.post(
                f"/v1/businesses/{demo['business_id']}/calls",
                json={"agent_id": demo["agent_id"], "to": "+15557770000", "queue_deadline_s": 30},
            )
            assert queued.status_code == 202, queued.text
            assert queued.json()["state"] == "queued"
            call_url = f"/v1/businesses/{demo['business_id']}/calls/{queued.json()['id']}"
            assert api.get(call_url).json()["state"] == "queued"
            assert held.wait(timeout=30) == 0
            deadline = time.monotonic() + 15
            while (state := api.get(call_url).json()["state"]) != "up":
                assert state in ("queued", "ringing"), api.get(call_url).json()
                assert time.monotonic() < deadline, "the queued call was not dialled"
                time.sleep(0.1)
            api.post(f"{call_url}/hangup").raise_for_status()
            assert carrier_sipp.wait(timeout=30) == 0, sipp_errors(tmp_path / "carrier")
            deadline = time.monotonic() + 15
            while (stored := _stored_outcomes(api, demo["business_id"], set(gone))) != gone:
                assert time.monotonic() < deadline, f"records of the undialled calls: {stored}"
                time.sleep(0.2)
        finally:
            for process in (held, carrier_sipp):
                if process.poll() is None:
                    process.kill()
        again = subprocess.run(
            sipp(sip_port, tmp_path / "again"), cwd=tmp_path / "again", capture_output=True, timeout=60
        )
        assert again.returncode == 0, sipp_errors(tmp_path / "again")
