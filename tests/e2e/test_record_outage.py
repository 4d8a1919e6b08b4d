"""The database goes down in the middle of a call; the call's record is complete in it afterwards.

`voicegrid serve` on a PostgreSQL of its own; SIPp calls the demo number and holds the call; the
database is shut down while the call is up, and the call ends during the outage. The record waits in
the journal; when the database is back, it is written, whole.
"""

import asyncio
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.support.serve import env_without_voicegrid, serving
from tests.support.sipp import sipp_command, sipp_errors
from voicegrid.testing.ports import free_udp_and_tcp_port
from voicegrid.testing.postgres_server import start_postgres


async def stored_record(port: int, business_id: str) -> dict[str, Any] | None:
    conn = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database="postgres")
    try:
        row = await conn.fetchrow("SELECT record FROM call_records WHERE business_id = $1", business_id)
    finally:
        await conn.close()
    return None if row is None else dict(json.loads(row["record"]))


def test_a_call_that_ends_while_the_database_is_down_leaves_its_complete_record_once_it_returns(
    tmp_path: Path,
) -> None:
    database = start_postgres()
    try:
        sip = free_udp_and_tcp_port()
        admin = "vg_admin_for_the_outage_test_001"
        env = env_without_voicegrid(VOICEGRID_ADMIN_KEY=admin, VOICEGRID_DATABASE_URL=database.url())
        with serving(tmp_path / "var", "--demo", sip_port=sip, env=env) as (url, log):
            demo = json.loads((tmp_path / "var" / "demo.json").read_text())
            api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"}, timeout=10)
            base = f"/v1/businesses/{demo['business_id']}"
            api.patch(f"{base}/agents/{demo['agent_id']}", json={"kind": "echo"}).raise_for_status()
            caller = subprocess.Popen(
                sipp_command(sip, "-sn", "uac", "-s", "+15550100", "-m", "1", "-d", "4000", "-trace_err"),
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
            )
            try:
                deadline = time.monotonic() + 15
                while not any(c["state"] == "up" for c in api.get(f"{base}/calls").json()["items"]):
                    assert time.monotonic() < deadline, "the call was not answered"
                    time.sleep(0.1)
                database.halt()  # mid-call
                assert caller.wait(timeout=30) == 0, sipp_errors(tmp_path)  # ends (BYE) during the outage
                time.sleep(3)  # the recorder tries, fails and keeps the record in its journal
                assert "store unavailable" in log.read_text()
                assert (tmp_path / "var" / "journal" / "calls.jsonl").stat().st_size > 0
                database.restart()
                record = None
                deadline = time.monotonic() + 30
                while record is None:
                    assert time.monotonic() < deadline, "the record never reached the database"
                    time.sleep(0.5)
                    record = asyncio.run(stored_record(database.port, demo["business_id"]))
            finally:
                if caller.poll() is None:
                    caller.kill()
            live = api.get(f"{base}/calls/{record['id']}").json()
        # Whole: the same record the platform built, with the call's times, outcome and cost.
        assert (record["direction"], record["outcome"], record["ended_by"]) == (
            "inbound",
            "completed",
            "remote",
        )
        assert record["answered_s"] >= 3.5
        assert {i["component"] for i in record["cost"]["items"]} == {"telephony"}
        # its rates were unreachable too: those read when the call was answered are used, and said so
        assert record["cost"]["note"].startswith("rated at the business's rates as last read")
        assert live["cost"] == record["cost"]
    finally:
        database.stop()
