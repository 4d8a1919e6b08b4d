"""`voicegrid serve --demo` takes SIP: SIPp's built-in uac calls the demo number; routing refuses the rest."""

import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.serve import env_without_voicegrid, serving
from tests.support.sipp import SCENARIOS, sipp_argv, sipp_command, sipp_errors
from voicegrid.sip import Response, parse_message
from voicegrid.testing.ports import free_udp_and_tcp_port


def _sipp(sip_port: int, workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        sipp_command(sip_port, *args),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
    )


def start_sipp_server(scenario: str, port: int, workdir: Path) -> subprocess.Popen[str]:
    """SIPp running one call of `scenario` as a server on `port`; the test waits for it and kills it."""
    command = sipp_argv("-sf", str(SCENARIOS / scenario), "-i", "127.0.0.1", "-p", str(port), "-m", "1")
    return subprocess.Popen(
        [*command, "-nostdin", "-timeout", "30s"],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _options(sip_port: int) -> Response:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(5)
        port = s.getsockname()[1]
        s.sendto(
            (
                f"OPTIONS sip:127.0.0.1:{sip_port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKping1;rport\r\n"
                "Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <sip:127.0.0.1>\r\n"
                "Call-ID: ping-1@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            ).encode(),
            ("127.0.0.1", sip_port),
        )
        data, _ = s.recvfrom(65535)
    message = parse_message(data)
    assert isinstance(message, Response)
    return message


def test_sipp_calls_the_demo_number_and_routing_refuses_unknown_numbers(tmp_path: Path) -> None:
    sip_port = free_udp_and_tcp_port()
    with serving(tmp_path / "var", "--demo", sip_port=sip_port):
        demo = json.loads((tmp_path / "var" / "demo.json").read_text())
        assert demo["sip_uri"] == f"sip:+15550100@127.0.0.1:{sip_port}"
        assert _options(sip_port).status == 200
        ok = _sipp(
            sip_port, tmp_path / "uac", "-sn", "uac", "-s", "+15550100", "-m", "5", "-r", "10", "-d", "100"
        )
        assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-2000:]
        unknown = _sipp(
            sip_port, tmp_path / "unknown", "-sn", "uac", "-s", "+15559999", "-m", "1", "-trace_err"
        )
        assert unknown.returncode != 0
        errors = "".join(p.read_text() for p in (tmp_path / "unknown").glob("*_errors.log"))
        assert "SIP/2.0 404" in errors


def test_a_trunk_with_digest_credentials_challenges_and_admits_only_the_right_password(
    tmp_path: Path,
) -> None:
    sip_port = free_udp_and_tcp_port()
    admin = "vg_admin_for_digest_trunk_test_01"
    env = env_without_voicegrid(VOICEGRID_ADMIN_KEY=admin)
    with serving(tmp_path / "var", "--demo", sip_port=sip_port, env=env) as (url, _):
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"})
        demo = json.loads((tmp_path / "var" / "demo.json").read_text())
        clinic = api.post(
            "/v1/businesses", json={"name": "Clinic", "reseller_id": demo["reseller_id"]}
        ).json()
        base = f"/v1/businesses/{clinic['id']}"
        agent = api.post(f"{base}/agents", json={"name": "Front desk"}).json()
        api.post(f"{base}/numbers", json={"number": "+15550177", "agent_id": agent["id"]}).raise_for_status()
        api.post(
            f"{base}/trunks",
            json={
                "name": "carrier",
                "inbound_cidrs": ["198.51.100.0/24"],
                "inbound_username": "clinic",
                "inbound_password": "clinic-pass-1",
                "inbound_digest_algorithms": ["MD5"],  # SIPp can answer MD5 only
            },
        ).raise_for_status()
        scenario = str(SCENARIOS / "uac_digest.xml")
        good = _sipp(
            sip_port,
            tmp_path / "good",
            "-sf",
            scenario,
            "-s",
            "+15550177",
            "-m",
            "2",
            "-au",
            "clinic",
            "-ap",
            "clinic-pass-1",
        )
        assert good.returncode == 0, good.stderr[-3000:]
        bad = _sipp(
            sip_port,
            tmp_path / "bad",
            "-sf",
            scenario,
            "-s",
            "+15550177",
            "-m",
            "1",
            "-au",
            "clinic",
            "-ap",
            "guess",
            "-trace_err",
        )
        assert bad.returncode != 0
        errors = "".join(p.read_text() for p in (tmp_path / "bad").glob("*_errors.log"))
        assert "SIP/2.0 403" in errors


def test_an_api_call_through_a_digest_trunk_connects_is_watched_hung_up_and_its_recording_outlives_a_restart(
    tmp_path: Path,
) -> None:
    sip_port, carrier_port = free_udp_and_tcp_port(), free_udp_and_tcp_port()
    workdir = tmp_path / "carrier"
    workdir.mkdir()
    carrier = start_sipp_server("uas_digest.xml", carrier_port, workdir)
    try:
        with serving(tmp_path / "var", "--demo", sip_port=sip_port) as (url, _):
            demo = json.loads((tmp_path / "var" / "demo.json").read_text())
            api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {demo['api_key']}"})
            api.patch(f"/v1/agents/{demo['agent_id']}", json={"recording": True}).raise_for_status()
            trunk = api.post(
                "/v1/trunks",
                json={
                    "name": "carrier",
                    "outbound_host": "127.0.0.1",
                    "outbound_port": carrier_port,
                    "outbound_username": "carrier",
                    "outbound_password": "pa55word",
                    "caller_ids": ["+15550100"],
                    "rtp_suppress_silence": True,
                },
            ).json()
            refused = api.post(
                "/v1/calls", json={"agent_id": demo["agent_id"], "to": "+15557654321", "from": "+15559999"}
            )
            assert refused.status_code == 403
            unknown = api.post("/v1/calls", json={"agent_id": "agt_nope", "to": "+15557654321"})
            assert unknown.status_code == 422
            created = api.post(
                "/v1/calls",
                json={
                    "agent_id": demo["agent_id"],
                    "to": "+15557654321",
                    "trunk_id": trunk["id"],
                    "metadata": {"k": "v"},
                },
            )
            assert created.status_code == 201, created.text
            call = created.json()
            assert (call["direction"], call["from_number"], call["metadata"]) == (
                "outbound",
                "+15550100",
                {"k": "v"},
            )
            assert call["to"] == f"sip:+15557654321@127.0.0.1:{carrier_port}"
            state = call["state"]
            for _ in range(100):
                state = api.get(f"/v1/calls/{call['id']}").json()["state"]
                if state == "up":
                    break
                time.sleep(0.1)
            assert state == "up"
            for _ in range(150):  # the greeting is said once all of its audio went out (about 4 s)
                conversation = api.get(f"/v1/calls/{call['id']}").json().get("conversation") or {}
                if any(line["speaker"] == "agent" for line in conversation.get("transcript") or []):
                    break
                time.sleep(0.1)
            time.sleep(0.5)  # then the agent is quiet: 25 ticks of silence, suppressed on this trunk
            hung = api.post(f"/v1/calls/{call['id']}/hangup")
            assert hung.status_code == 202
            ended = api.get(f"/v1/calls/{call['id']}").json()
            assert (ended["state"], ended["outcome"], ended["ended_by"]) == ("ended", "answered", "local")
            for _ in range(50):  # the media's counters are kept once its session has closed
                if "silence_suppressed" in ended["quality"]:
                    break
                time.sleep(0.1)
                ended = api.get(f"/v1/calls/{call['id']}").json()
            assert ended["quality"]["silence_suppressed"] > 0  # the trunk's setting, on a node without it
            other = api.get("/v1/calls/call_01AAAAAAAAAAAAAAAAAAAAAAAA")
            assert other.status_code == 404
            recording = api.get(f"/v1/calls/{call['id']}/recording")
            for _ in range(50):  # written off the event loop just after the hangup
                if recording.status_code == 200:
                    break
                time.sleep(0.1)
                recording = api.get(f"/v1/calls/{call['id']}/recording")
            assert recording.status_code == 200
            assert recording.headers["content-type"] == "audio/wav"
            assert recording.content[:4] == b"RIFF"
        assert carrier.wait(timeout=30) == 0, carrier.stdout.read() if carrier.stdout else ""
        # After a restart the call is no longer in memory: its stored record leads to the same WAV.
        with serving(tmp_path / "var", sip_port=sip_port) as (url, _):
            api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {demo['api_key']}"})
            again = api.get(f"/v1/calls/{call['id']}/recording")
            assert again.status_code == 200, again.text
            assert again.content == recording.content
            assert api.get(f"/v1/calls/{call['id']}").json()["recording"] is True
            missing = api.get("/v1/calls/call_01AAAAAAAAAAAAAAAAAAAAAAAA/recording")
            assert missing.status_code == 404
    finally:
        if carrier.poll() is None:
            carrier.kill()
            carrier.wait()


def test_a_trunk_that_registers_with_its_carrier_does_and_refreshes(tmp_path: Path) -> None:
    registrar_port = free_udp_and_tcp_port()
    workdir = tmp_path / "registrar"
    workdir.mkdir()
    registrar = start_sipp_server("registrar_digest.xml", registrar_port, workdir)
    env = env_without_voicegrid(VOICEGRID_REGISTRATION_SYNC_S="0.5")
    try:
        with serving(tmp_path / "var", "--demo", env=env) as (url, _):
            demo = json.loads((tmp_path / "var" / "demo.json").read_text())
            api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {demo['api_key']}"})
            created = api.post(
                "/v1/trunks",
                json={
                    "name": "registering carrier",
                    "outbound_host": "127.0.0.1",
                    "outbound_port": registrar_port,
                    "outbound_username": "trunkuser",
                    "outbound_password": "trunkpass",
                    "register_with_carrier": True,
                },
            )
            assert created.status_code == 201, created.text
            # The registrar ends once it has seen the REGISTER and its refresh, each challenged and checked.
            assert registrar.wait(timeout=30) == 0, registrar.stdout.read() if registrar.stdout else ""
    finally:
        if registrar.poll() is None:
            registrar.kill()
            registrar.wait()


def test_a_disabled_business_and_an_unknown_source_are_refused_with_403(tmp_path: Path) -> None:
    sip_port = free_udp_and_tcp_port()
    admin = "vg_admin_for_refusal_tests_0001"
    env = env_without_voicegrid(VOICEGRID_ADMIN_KEY=admin)
    with serving(tmp_path / "var", "--demo", sip_port=sip_port, env=env) as (url, _):
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"})
        demo = json.loads((tmp_path / "var" / "demo.json").read_text())
        trunks = api.get(f"/v1/businesses/{demo['business_id']}/trunks").json()["items"]
        loopback = next(t for t in trunks if "127.0.0.0/8" in t["inbound_cidrs"])
        base = f"/v1/businesses/{demo['business_id']}"
        api.patch(
            f"{base}/trunks/{loopback['id']}", json={"inbound_cidrs": ["198.51.100.0/24"]}
        ).raise_for_status()
        unknown = _sipp(
            sip_port, tmp_path / "source", "-sn", "uac", "-s", "+15550100", "-m", "1", "-trace_err"
        )
        assert "SIP/2.0 403 Source not allowed" in sipp_errors(tmp_path / "source")
        assert unknown.returncode != 0
        api.patch(
            f"{base}/trunks/{loopback['id']}", json={"inbound_cidrs": ["127.0.0.0/8"]}
        ).raise_for_status()
        api.patch(base, json={"enabled": False}).raise_for_status()
        disabled = _sipp(
            sip_port, tmp_path / "disabled", "-sn", "uac", "-s", "+15550100", "-m", "1", "-trace_err"
        )
        assert "SIP/2.0 403 Business disabled" in sipp_errors(tmp_path / "disabled")
        assert disabled.returncode != 0


@pytest.mark.parametrize(
    ("node", "trunk", "suppressed"),
    [("true", None, True), ("false", True, True), ("true", False, False)],
    ids=["set-on-the-node", "set-on-the-trunk", "the-trunk-keeps-comfort-silence-on-a-suppressing-node"],
)
def test_a_call_sends_no_rtp_while_its_agent_is_quiet_when_its_trunk_or_else_its_node_says_so(
    tmp_path: Path, node: str, trunk: bool | None, suppressed: bool
) -> None:
    sip_port = free_udp_and_tcp_port()
    env = env_without_voicegrid(VOICEGRID_RTP_SUPPRESS_SILENCE=node)
    with serving(tmp_path / "var", "--demo", sip_port=sip_port, env=env) as (url, _):
        demo = json.loads((tmp_path / "var" / "demo.json").read_text())
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {demo['api_key']}"})
        loopback = api.get("/v1/trunks").json()["items"][0]  # the demo's: the source of SIPp's call
        if trunk is not None:
            api.patch(f"/v1/trunks/{loopback['id']}", json={"rtp_suppress_silence": trunk}).raise_for_status()
        ok = _sipp(sip_port, tmp_path / "uac", "-sn", "uac", "-s", "+15550100", "-m", "1", "-d", "8000")
        assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-2000:]
        call: dict[str, Any] = {}
        for _ in range(100):  # the record is stored just after the hang-up
            calls = api.get("/v1/calls").json()["items"]
            call = calls[0] if calls else {}
            if "silence_suppressed" in call.get("quality", {}):
                break
            time.sleep(0.1)
    quality = call["quality"]
    assert call["trunk_id"] == loopback["id"]  # an inbound call names the trunk it came through
    assert 350 <= quality["packets_sent"] + quality["silence_suppressed"] <= 440  # 8 s of ticks
    if suppressed:  # the greeting's packets, then nothing but the first tick's and a keepalive a second
        assert quality["silence_suppressed"] > 50
        assert quality["silence_sent"] <= 1 + 8
    else:
        assert quality["silence_suppressed"] == 0
        assert quality["silence_sent"] > 50
