"""Where the RFC 4475 vectors live: ../shared/conformance/rfc4475 beside the repository."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RFC4475 = Path(os.environ.get("VOICEGRID_RFC4475_DIR", REPO.parent / "shared" / "conformance" / "rfc4475"))


def verdicts() -> dict[str, str]:
    table = {}
    for line in (RFC4475 / "verdicts.tsv").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, verdict = line.split("\t")
            table[name] = verdict
    return table
