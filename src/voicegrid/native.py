"""The media path's compiled modules: which they are, which run compiled, and whether a build is stale.

`tools/build_native.py` compiles these modules with mypyc, each next to its source; Python then loads
the extension instead of the `.py`. A build older than its source would run old code, so `check()`
(called as `voicegrid` is imported) refuses it: `make native` rebuilds, `--clean` removes the builds.
"""

import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent
# Every packet of every call runs through these (receive, jitter buffer, decode, VAD, send).
MODULES = (
    "voicegrid.media.rtp",
    "voicegrid.media.jitter",
    "voicegrid.media.vad",
    "voicegrid.media.session",
    "voicegrid.media.codecs",
    "voicegrid.telephony.media_clock",
    "voicegrid.telephony.rtp_session",
)


class StaleBuild(ImportError):
    pass


def source(module: str) -> Path:
    return SRC.joinpath(*module.split(".")).with_suffix(".py")


def built(module: str) -> list[Path]:
    """The module's compiled builds beside its source (none when it runs interpreted)."""
    base = source(module)
    return [base.with_suffix(suffix) for suffix in EXTENSION_SUFFIXES if base.with_suffix(suffix).exists()]


def shared_libraries() -> list[Path]:
    """mypyc's runtime for a group of modules, built at the top of the source tree."""
    return sorted(SRC.glob("*__mypyc.*"))


def all_builds(everywhere: bool = False) -> list[Path]:
    """The compiled builds in the folders of the listed modules (a build left there by an earlier
    list is one too), or `everywhere` under the package (what a clean removes)."""
    folders = sorted({source(module).parent for module in MODULES})
    found = (
        (SRC / "voicegrid").rglob("*")
        if everywhere
        else (f / name for f in folders for name in os.listdir(f))
    )
    return sorted(path for path in found if path.name.endswith(tuple(EXTENSION_SUFFIXES)))


def _module(build: Path) -> str:
    relative = build.relative_to(SRC).parts
    return ".".join((*relative[:-1], relative[-1].split(".")[0]))


def stale() -> list[str]:
    """Modules with a build older than their source, or no longer meant to be compiled."""
    found = []
    for build in all_builds():
        module = _module(build)
        origin = source(module)
        if module not in MODULES or not origin.exists() or build.stat().st_mtime < origin.stat().st_mtime:
            found.append(module)
    return sorted(set(found))


def compiled() -> list[str]:
    """The modules of MODULES that this process loaded from a build."""
    return [
        module
        for module in MODULES
        if module in sys.modules and not str(getattr(sys.modules[module], "__file__", "")).endswith(".py")
    ]


def check() -> None:
    old = stale()
    if old:
        raise StaleBuild(
            f"compiled media modules older than their source: {', '.join(old)}; "
            "run `make native` (or `python tools/build_native.py --clean` to run them interpreted)"
        )
