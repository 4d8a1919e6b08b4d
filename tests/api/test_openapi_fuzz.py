"""Schemathesis drives the real server from its own OpenAPI document: no input may cause a 5xx."""

import subprocess
import sys
from pathlib import Path

from tests.support.serve import env_without_voicegrid, serving

ADMIN = "vg_fuzz_platform_owner_key_0001"


def test_no_generated_request_gets_a_server_error(tmp_path: Path) -> None:
    env = env_without_voicegrid(VOICEGRID_ADMIN_KEY=ADMIN)
    with serving(tmp_path / "var", "--demo", env=env) as (url, log):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                f"{url}/openapi.json",
                "-H",
                f"Authorization: Bearer {ADMIN}",
                "--checks",
                "not_a_server_error",
                # Placing calls dials real SIP to the trunk's host: never from a fuzzer, which could
                # name any address. The call routes are covered by the authorization matrix and e2e.
                "--exclude-tag",
                "calls",
                "--phases",
                "examples,coverage,fuzzing",
                "--max-examples",
                "5",
                "--seed",
                "20261124",
                "--workers",
                "1",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, (
            result.stdout[-6000:] + "\n--- server log ---\n" + log.read_text()[-4000:]
        )
        assert "Server error" not in result.stdout
