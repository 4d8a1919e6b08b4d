"""Fetch the dashboard's component library from the npm registry, check it, and put it where the
server serves it from (our own origin; never a CDN at run time).

Each package in `src/voicegrid/api/static/vendor.json` is pinned by version and by the registry's
sha512 integrity of its tarball; a tarball that does not match is refused. Only the named files are
taken out of it, and a bare `from"preact"` import is pointed at the served file (the browser has no
import map: an inline one would need 'unsafe-inline' in the Content-Security-Policy).
Idempotent: files already in place with the recorded digest are not fetched again.

Run by `make setup`: python tools/vendor_ui.py
"""

import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "src" / "voicegrid" / "api" / "static" / "vendor.json"
OUT = ROOT / "src" / "voicegrid" / "api" / "static" / "dashboard" / "vendor"
MAX_TARBALL = 5 * 1024 * 1024
REGISTRY = "https://registry.npmjs.org/"


def _integrity_ok(data: bytes, integrity: str) -> bool:
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        return False
    return base64.b64encode(hashlib.sha512(data).digest()).decode() == expected


def _fetch(url: str) -> bytes:
    if not url.startswith(REGISTRY):
        raise SystemExit(f"refusing a tarball outside the npm registry: {url}")
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (the registry's https URL)
        data: bytes = response.read(MAX_TARBALL + 1)
    if len(data) > MAX_TARBALL:
        raise SystemExit(f"{url}: larger than {MAX_TARBALL} bytes")
    return data


def _digest_file() -> Path:
    return OUT / "digests.json"


def main() -> int:
    manifest = json.loads(MANIFEST.read_text())
    wanted = json.dumps(manifest, sort_keys=True)
    stamp = _digest_file()
    if stamp.exists() and json.loads(stamp.read_text()).get("manifest") == wanted:
        files = json.loads(stamp.read_text())["files"]
        if all(
            (OUT / n).exists() and hashlib.sha256((OUT / n).read_bytes()).hexdigest() == d
            for n, d in files.items()
        ):
            return 0
    OUT.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    for package in manifest["packages"]:
        data = _fetch(package["tarball"])
        if not _integrity_ok(data, package["integrity"]):
            raise SystemExit(
                f"{package['name']} {package['version']}: the tarball does not match its integrity"
            )
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for inside, served in package["files"].items():
                member = tar.extractfile(f"package/{inside}")
                if member is None:
                    raise SystemExit(f"{package['name']}: no {inside} in the tarball")
                text = member.read().decode("utf-8")
                for bare, target in manifest.get("imports", {}).items():
                    text = text.replace(f'from"{bare}"', f'from"./{target}"')
                (OUT / served).write_text(text, encoding="utf-8")
                written[served] = hashlib.sha256((OUT / served).read_bytes()).hexdigest()
    stamp.write_text(json.dumps({"manifest": wanted, "files": written}, indent=1))
    print(f"dashboard vendor files: {', '.join(sorted(written))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
