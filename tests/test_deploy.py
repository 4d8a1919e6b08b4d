"""The deployment files say what the code reads: every setting of the example environment file is one
the node knows, with a valid value; the systemd unit starts the node the way the README says."""

import json
from pathlib import Path

from voicegrid.config import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def test_the_example_node_environment_holds_only_settings_a_node_reads_with_valid_values() -> None:
    lines = (DEPLOY / "systemd" / "voicegrid.env.example").read_text().splitlines()
    values = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert all(name.startswith("VOICEGRID_") for name in values)
    fields = {
        name.removeprefix("VOICEGRID_").lower(): json.loads(value) if value.startswith("[") else value
        for name, value in values.items()
    }
    assert set(fields) <= set(Settings.model_fields)
    settings = Settings.model_validate(fields)
    assert settings.node_name == "node1"
    assert settings.sip_edge_addresses == ["10.0.0.10"]
    assert settings.effective_public_url == "http://10.0.0.11:8080"


def test_the_unit_starts_voicegrid_serve_with_the_environment_file_and_waits_for_the_drain() -> None:
    unit = (DEPLOY / "systemd" / "voicegrid.service").read_text()
    assert "ExecStart=/opt/voicegrid/.venv/bin/voicegrid serve" in unit
    assert "EnvironmentFile=/etc/voicegrid/voicegrid.env" in unit
    assert "KillSignal=SIGTERM" in unit
    timeout = int(unit.split("TimeoutStopSec=", 1)[1].split()[0])
    assert timeout > Settings().drain_seconds
    assert (DEPLOY / "kamailio" / "kamailio.cfg").resolve().is_file()
