"""Compile the per-packet media path with mypyc, in place: the same typed Python, as C extensions.

The modules in `voicegrid.native.MODULES` (RTP, the jitter buffer, the VAD, the media session, the
media clock and the RTP session) run for every packet of every call; compiled, the media path's own
work per packet is about half (bench/rtp_path.py, README). The sources stay the truth: each module
is built next to its `.py`, and `voicegrid` refuses to import while a build is older than its source
(`voicegrid.native.stale`), so an edit is never shadowed by old machine code.

Idempotent: nothing is built when every module's build is newer than its source. `--clean` removes
the builds (the platform then runs the same modules interpreted).

Run by `make native` (and so by `make run` and `make test`): python tools/build_native.py
"""

import argparse
import importlib.util
import os
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
# voicegrid.native by its path: importing the package would refuse the stale builds this replaces
_spec = importlib.util.spec_from_file_location("voicegrid_native", SRC / "voicegrid" / "native.py")
assert _spec is not None
assert _spec.loader is not None
native = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(native)
MODULES, built, shared_libraries, source, stale = (
    native.MODULES,
    native.built,
    native.shared_libraries,
    native.source,
    native.stale,
)  # fmt: skip


def clean() -> None:
    for path in [*native.all_builds(everywhere=True), *shared_libraries()]:
        path.unlink()


def build() -> None:
    if not Path(sysconfig.get_paths()["include"], "Python.h").exists():
        sys.exit("build_native: this Python has no C headers (Python.h): install its -dev package")
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        sys.exit("build_native: no C compiler: install gcc")
    from mypyc.build import mypycify  # mypy's own compiler (a dev dependency, in the lock)
    from setuptools import setup  # type: ignore[import-untyped]  # seeded into every Python 3.11 venv

    clean()
    paths = [str(source(module).relative_to(SRC)) for module in MODULES]
    cwd = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="vg-native-") as tmp:
        try:
            # From src/: setuptools finds no pyproject.toml there to read as this build's metadata.
            os.chdir(SRC)
            # The modules' untyped imports are C libraries (webrtcvad, G722, soxr).
            options = ["--ignore-missing-imports", "--python-version", "3.11"]
            extensions = mypycify([*options, *paths], opt_level="3", target_dir=str(Path(tmp) / "c"))
            argv = ["build_ext", "--inplace", "--build-temp", str(Path(tmp) / "temp")]
            argv += ["--build-lib", str(Path(tmp) / "lib")]
            setup(name="voicegrid-native", ext_modules=extensions, script_args=argv)
        finally:
            os.chdir(cwd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clean", action="store_true", help="remove the builds")
    args = parser.parse_args()
    if args.clean:
        clean()
        return
    outdated = stale() or [m for m in MODULES if not built(m)]
    if not outdated:
        return
    print(f"build_native: compiling the media path ({', '.join(outdated)} out of date)")
    build()
    missing = [m for m in MODULES if not built(m)] + stale()
    if missing:
        sys.exit(f"build_native: not built: {', '.join(missing)}")


if __name__ == "__main__":
    main()
