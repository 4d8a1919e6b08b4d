"""The `voicegrid` command as a real process: serve --demo, the admin key, a database that is down."""

import json
import subprocess
from pathlib import Path

import httpx

from tests.support.serve import VOICEGRID, env_without_voicegrid, serving
from voicegrid.testing.ports import free_port


def test_serve_demo_seeds_bella_pizza_and_its_key_lists_the_agent(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    with serving(data_dir, "--demo") as (url, _):
        demo_path = data_dir / "demo.json"
        assert demo_path.stat().st_mode & 0o777 == 0o600
        demo = json.loads(demo_path.read_text())
        assert set(demo) >= {"business_id", "agent_id", "api_key", "number", "sip_uri", "http_url"}
        assert demo["http_url"] == url
        assert demo["sip_uri"].startswith("sip:+15550100@127.0.0.1:")
        headers = {"Authorization": f"Bearer {demo['api_key']}"}
        agents = httpx.get(f"{url}/v1/agents", headers=headers).json()["items"]
        assert [a["id"] for a in agents if a["kind"] == "voice"] == [demo["agent_id"]]
        assert [a["name"] for a in agents if a["kind"] == "echo"] == ["Echo test"]
        receptionist = next(a for a in agents if a["id"] == demo["agent_id"])
        assert "11:00 to 22:00" in receptionist["knowledge_base"]["text"]
        assert any(t["kind"] == "transfer_call" for t in receptionist["tools"])
        numbers = httpx.get(f"{url}/v1/numbers", headers=headers).json()["items"]
        assert ("+15550100", demo["agent_id"]) in [(n["number"], n["agent_id"]) for n in numbers]
        assert demo["echo_number"] in [n["number"] for n in numbers]
        trunks = httpx.get(f"{url}/v1/trunks", headers=headers).json()["items"]
        assert "127.0.0.0/8" in trunks[0]["inbound_cidrs"]
        branding = httpx.get(f"{url}/v1/branding", headers=headers).json()
        assert branding["product_name"] == "Acme Voice"
    assert data_dir.stat().st_mode & 0o777 == 0o700
    with serving(data_dir, "--demo") as (url, _):
        again = json.loads((data_dir / "demo.json").read_text())
        assert again == demo
        listed = httpx.get(f"{url}/v1/agents", headers={"Authorization": f"Bearer {demo['api_key']}"}).json()
        assert len(listed["items"]) == 2  # not seeded twice


def test_the_generated_admin_key_is_printed_once_and_works(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    with serving(data_dir) as (url, log):
        lines = log.read_text().splitlines()
        key_line = lines[
            lines.index("  Platform admin key (shown this once; it is stored only as a hash):") + 1
        ]
        key = key_line.strip()
        response = httpx.post(
            f"{url}/v1/resellers", json={"name": "R"}, headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status_code == 201
    with serving(data_dir) as (url, log):
        assert "Platform admin key" not in log.read_text()
        response = httpx.get(f"{url}/v1/resellers", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200


def test_a_chosen_admin_key_replaces_the_one_chosen_before(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    with serving(data_dir, env=env_without_voicegrid(VOICEGRID_ADMIN_KEY="vg_first_choice_0001")) as (
        url,
        log,
    ):
        assert "Platform admin key" not in log.read_text()
        headers = {"Authorization": "Bearer vg_first_choice_0001"}
        assert httpx.get(f"{url}/v1/resellers", headers=headers).status_code == 200
    with serving(data_dir, env=env_without_voicegrid(VOICEGRID_ADMIN_KEY="vg_second_choice_0002")) as (
        url,
        _,
    ):
        assert httpx.get(f"{url}/v1/resellers", headers=headers).status_code == 401
        headers = {"Authorization": "Bearer vg_second_choice_0002"}
        assert httpx.get(f"{url}/v1/resellers", headers=headers).status_code == 200


def test_a_database_that_is_down_at_start_exits_2_naming_the_url_without_its_password(tmp_path: Path) -> None:
    port = free_port()  # nothing listens here
    url = f"postgresql+asyncpg://voicegrid:hunter2-secret@127.0.0.1:{port}/voicegrid"
    result = subprocess.run(
        [*VOICEGRID, "serve", "--data-dir", str(tmp_path / "var"), "--http-port", str(free_port())],
        env=env_without_voicegrid(VOICEGRID_DATABASE_URL=url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"postgresql+asyncpg://voicegrid:***@127.0.0.1:{port}/voicegrid" in result.stderr
    assert "hunter2-secret" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_db_upgrade_and_downgrade_run_from_the_command_line(tmp_path: Path) -> None:
    env = env_without_voicegrid(VOICEGRID_DATA_DIR=str(tmp_path / "var"))
    up = subprocess.run([*VOICEGRID, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=60)
    assert up.returncode == 0, up.stderr
    down = subprocess.run(
        [*VOICEGRID, "db", "downgrade", "base"], env=env, capture_output=True, text=True, timeout=60
    )
    assert down.returncode == 0, down.stderr
    assert "database at revision base" in down.stdout


def test_plan_prints_the_sizing_as_json_and_reproduces_the_tts_rule_of_thumb() -> None:
    done = subprocess.run(
        [
            *VOICEGRID,
            "plan",
            "--calls-per-hour",
            "600",
            "--mean-call-s",
            "180",
            "--tts-slots",
            "1,3",
            "--call-limit",
            "35",
            "--json",
        ],
        env=env_without_voicegrid(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["plan"]["offered_erlangs"] == 30.0
    assert out["plan"]["blocking"] <= 0.01
    assert [(a["slots"], a["naive_low"], a["naive_high"]) for a in out["tts_advice"]] == [
        (1, 40, 80),
        (3, 120, 240),
    ]
    assert out["deepgram_plan"] == "pay-as-you-go"
    calls, stt, tts = out["under_limits"]  # the call limit set, and the default Deepgram plan's
    assert (calls["limit"], calls["value"], calls["meaning"]) == ("max_concurrent_calls", 35, "refused")
    assert 0.05 < calls["probability"] < 0.06
    assert (stt["value"], tts["value"]) == (150, 45)
