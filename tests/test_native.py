"""The compiled media modules: a build older than its source is refused, and which ones run compiled."""

import os
from pathlib import Path

import pytest

from voicegrid import native


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(native, "SRC", tmp_path)
    monkeypatch.setattr(native, "MODULES", ("voicegrid.media.jitter",))
    (tmp_path / "voicegrid" / "media").mkdir(parents=True)
    (tmp_path / "voicegrid" / "media" / "jitter.py").write_text("# source\n")
    return tmp_path


def _build(tree: Path, age_s: float) -> Path:
    so = tree / "voicegrid" / "media" / "jitter.cpython-311-x86_64-linux-gnu.so"
    so.write_bytes(b"\x7fELF")
    source_mtime = (tree / "voicegrid" / "media" / "jitter.py").stat().st_mtime
    os.utime(so, (source_mtime + age_s, source_mtime + age_s))
    return so


def test_a_module_with_no_build_runs_interpreted_and_is_not_stale(tree: Path) -> None:
    assert native.built("voicegrid.media.jitter") == []
    assert native.all_builds() == []
    assert native.stale() == []
    native.check()


def test_a_build_newer_than_its_source_is_used_and_one_older_is_refused(tree: Path) -> None:
    so = _build(tree, +10)
    assert native.built("voicegrid.media.jitter") == [so]
    native.check()
    os.utime(so, (so.stat().st_mtime - 20, so.stat().st_mtime - 20))  # the source was edited since
    assert native.stale() == ["voicegrid.media.jitter"]
    with pytest.raises(native.StaleBuild, match="make native"):
        native.check()


def test_the_process_reports_which_media_modules_it_loaded_compiled() -> None:
    import voicegrid.media.jitter

    loaded = native.compiled()
    assert ("voicegrid.media.jitter" in loaded) == bool(native.built("voicegrid.media.jitter"))
    assert str(voicegrid.media.jitter.__file__).endswith(".py") != ("voicegrid.media.jitter" in loaded)


def test_a_build_of_a_module_no_longer_listed_is_refused(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _build(tree, +10)
    monkeypatch.setattr(native, "MODULES", ("voicegrid.media.rtp",))  # jitter was taken off the list
    assert native.stale() == ["voicegrid.media.jitter"]
    with pytest.raises(native.StaleBuild):
        native.check()


def test_the_records_made_for_every_packet_are_built_by_compiled_code_when_their_module_is_compiled() -> None:
    """A dataclass's generated __init__ is Python even in a compiled class (a frozen one's too), and
    costs about 0.5 us a record: the records made for each packet write their __init__ out."""
    import types

    from voicegrid.media.jitter import Frame
    from voicegrid.media.rtp import RtpPacket
    from voicegrid.media.session import AudioFrame

    loaded = native.compiled()
    for record in (RtpPacket, Frame, AudioFrame):
        interpreted = isinstance(record.__dict__["__init__"], types.FunctionType)
        assert interpreted == (record.__module__ not in loaded), record
    assert RtpPacket(0, 1, 160, 7, b"x") == RtpPacket(0, 1, 160, 7, b"x")  # still compared field by field
    assert Frame(3, None).lost
    assert Frame(3, None) == Frame(3, None, None)
