"""`voicegrid serve --demo` takes SIP: SIPp's built-in uac calls the demo number; routing refuses the rest."""

import json
import socket
import subprocess
from pathlib import Path

from tests.support.ports import free_udp_and_tcp_port
from tests.support.serve import serving
from tests.support.sipp import sipp_binary
from voicegrid.sip import Response, parse_message


def _sipp(sip_port: int, workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [
            sipp_binary(),
            f"127.0.0.1:{sip_port}",
            "-i",
            "127.0.0.1",
            "-p",
            str(free_udp_and_tcp_port()),
            "-nostdin",
            "-timeout",
            "30s",
            *args,
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
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
