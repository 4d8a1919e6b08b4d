"""`voicegrid sip check` over the RFC 4475 files, as a user would run it."""

import subprocess
import sys
from pathlib import Path

from tests.sip.conformance import RFC4475, verdicts

CHECK = [sys.executable, "-m", "voicegrid", "sip", "check"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CHECK, *args], capture_output=True, text=True, timeout=120)


def test_every_vector_gets_its_verdict_in_one_run_and_nothing_crashes() -> None:
    table = verdicts()
    result = _run(*(str(RFC4475 / name) for name in sorted(table)))
    assert result.returncode == 1  # some are invalid
    assert "Traceback" not in result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert len(lines) == 49
    for name, verdict in table.items():
        said = lines[str(RFC4475 / name)]
        if verdict == "accept":
            assert said.startswith("ok "), (name, said)
        elif verdict == "reject":
            assert said.startswith("invalid: "), (name, said)
            assert len(said) > len("invalid: ") + 5


def test_valid_files_exit_0_and_name_the_method_or_status() -> None:
    result = _run(str(RFC4475 / "wsinv.dat"), str(RFC4475 / "unreason.dat"))
    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        f"{RFC4475 / 'wsinv.dat'}: ok INVITE",
        f"{RFC4475 / 'unreason.dat'}: ok 200",
    ]


def test_an_invalid_file_exits_1_with_its_reason() -> None:
    result = _run(str(RFC4475 / "badvers.dat"))
    assert result.returncode == 1
    assert (
        result.stdout
        == f"{RFC4475 / 'badvers.dat'}: invalid: SIP version SIP/7.0 not supported (answer 505)\n"
    )


def test_a_missing_file_or_no_file_is_a_usage_error(tmp_path: Path) -> None:
    assert _run(str(tmp_path / "nope.sip")).returncode == 2
    assert _run().returncode == 2


def test_binary_junk_is_invalid_not_a_crash(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 10)
    result = _run(str(junk))
    assert result.returncode == 1
    assert "invalid:" in result.stdout
    assert "Traceback" not in result.stderr
