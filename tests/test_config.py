from pathlib import Path

import pytest

from voicegrid.config import load_settings


def test_defaults_give_the_embedded_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VOICEGRID_DATA_DIR", "VOICEGRID_DATABASE_URL", "VOICEGRID_HTTP_PORT", "VOICEGRID_SIP_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.effective_database_url == "sqlite+aiosqlite:///var/voicegrid.db"
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8080)
    assert (settings.sip_host, settings.sip_port) == ("127.0.0.1", 5060)


def test_flags_beat_environment_which_beats_the_yaml_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "voicegrid.yaml"
    config.write_text("http_port: 7001\nsip_port: 7002\ndata_dir: /srv/vg\n")
    monkeypatch.setenv("VOICEGRID_SIP_PORT", "7102")
    monkeypatch.delenv("VOICEGRID_HTTP_PORT", raising=False)
    settings = load_settings(config, data_dir=Path("/data"), http_port=None)
    assert settings.http_port == 7001
    assert settings.sip_port == 7102
    assert settings.data_dir == Path("/data")
    assert settings.effective_database_url == "sqlite+aiosqlite:////data/voicegrid.db"


def test_an_unknown_key_in_the_yaml_file_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "voicegrid.yaml"
    config.write_text("htp_port: 1\n")
    with pytest.raises(ValueError, match="htp_port"):
        load_settings(config)


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.yaml"):
        load_settings(tmp_path / "nope.yaml")
