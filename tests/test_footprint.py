"""What a node holds in memory: libraries it never uses stay out of its process."""

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

UNUSED = ("rich", "pygments", "botocore", "boto3", "httpx", "httpcore")


def loaded(setup: str, names: tuple[str, ...]) -> str:
    """Which of `names` a fresh interpreter holds after `setup` (so that nothing of the suite's own
    imports counts), as the sorted list it prints; its stderr when it fails."""
    script = f"import sys\n{setup}\nprint(sorted(m for m in {names!r} if m in sys.modules))\n"
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    return found.stdout.strip() or found.stderr


def test_a_node_without_a_bucket_loads_neither_a_second_http_stack_nor_the_s3_library() -> None:
    """httpx (and its command-line client's rich and pygments) and botocore are megabytes of a node's
    RSS (bench/idle.py); the node's requests go over `core.http_client`. The modules are those the
    node's start imports, `voicegrid` first as `voicegrid serve` does (`server.build_api` among them)."""
    setup = (
        "import voicegrid.cli, voicegrid.server, voicegrid.api.app, voicegrid.telephony.recording_store\n"
        "import voicegrid.api.media_socket, voicegrid.caller"
    )
    assert loaded(setup, UNUSED) == "[]"


@pytest.mark.parametrize("step", ["upgrade", "current_revision"])
def test_a_node_that_migrates_its_database_does_not_load_the_syntax_highlighter_of_alembics_templates(
    tmp_path: Path, step: str
) -> None:
    """mako, which alembic imports, loads pygments at import for its own error pages (about 4 MB);
    each way into alembic (a migration, or the revision asked) imports it without."""
    setup = (
        "import asyncio\n"
        "import voicegrid\n"
        f"from voicegrid.store.migrate import {step} as step\n"
        "from voicegrid.store import make_engine\n"
        f"engine = make_engine('sqlite+aiosqlite:///{tmp_path / 'node.db'}')\n"
        "asyncio.run(step(engine))"
    )
    assert loaded(setup, ("alembic", "mako", "pygments")) == "['alembic', 'mako']"  # migrated, no pygments


NODE_ONLY = ("sqlalchemy", "fastapi", "starlette", "uvicorn", "numpy", "cryptography", "prometheus_client")


def test_the_analysis_worker_holds_its_engine_but_neither_the_command_line_nor_the_nodes_storage_or_api() -> (
    None
):
    """A spawned worker imports its parent's main module (the `voicegrid` script, or `python -m
    voicegrid`) before its own work. That entry imports the command line only when run, and each
    command imports what it runs, so the worker holds only the embedded engine (bench/idle.py's
    process tree)."""
    (script,) = entry_points(group="console_scripts", name="voicegrid")
    for main in (script.module, "voicegrid.__main__"):
        setup = f"import {main}\nfrom voicegrid.analysis import worker\nworker.warm_up()"
        assert loaded(setup, ("typer", "click", *NODE_ONLY)) == "[]", main
