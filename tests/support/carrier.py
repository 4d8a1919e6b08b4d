"""SIPp as the carrier of campaign tests (`uas_campaign_carrier.xml`): the last digit of the number
dialled says how the call goes (people, busy lines, phones that ring out, voicemail with a beep)."""

import subprocess
from pathlib import Path

from tests.support.sipp import SCENARIOS, sipp_argv
from voicegrid.testing.ports import free_port_block, free_udp_and_tcp_port


def quiet_answers(workdir: Path) -> None:
    """What the carrier's people and voicemail boxes play, when a test needs no words: quiet."""
    (workdir / "person.ulaw").write_bytes(b"\xff" * 8000 * 6)
    (workdir / "voicemail.ulaw").write_bytes(b"\xff" * 8000)


def start_carrier(workdir: Path, port: int) -> "subprocess.Popen[bytes]":
    """The carrier on `port`, answering from `workdir` (its person.ulaw and voicemail.ulaw), every
    message it sees traced there (`*_messages.log`); the test stops it by pid."""
    command = sipp_argv(
        "-sf", str(SCENARIOS / "uas_campaign_carrier.xml"), "-i", "127.0.0.1", "-p", str(port),
        "-m", "1000", "-nostdin", "-trace_msg", "-trace_err", "-max_socket", "500",
        "-mp", str(free_port_block(4)),
    )  # fmt: skip
    return subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_quiet_carrier(tmp_path: Path) -> "tuple[Path, int, subprocess.Popen[bytes]]":
    """A carrier whose people and voicemail boxes play quiet, in `tmp_path/carrier`, on a free port:
    its directory (the message trace), its port and its process (the test stops it by pid)."""
    workdir = tmp_path / "carrier"
    workdir.mkdir()
    quiet_answers(workdir)
    port = free_udp_and_tcp_port()
    return workdir, port, start_carrier(workdir, port)
