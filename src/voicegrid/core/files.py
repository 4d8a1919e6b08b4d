"""Files others read while we write them: whole whenever they exist."""

import json
import os
from pathlib import Path
from typing import Any


def write_private_json(path: Path, data: dict[str, Any]) -> None:
    """`data` as JSON at `path`, owner-only (it may hold keys): written beside it, then renamed onto
    it, so that whoever waits for the file never reads it half written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.chmod(tmp, 0o600)  # a tmp left by a run under another umask keeps its old mode otherwise
    tmp.replace(path)
