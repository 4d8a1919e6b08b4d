"""The map (docs/architecture.md) holds: every import in src/voicegrid follows the layer table, no
module imports itself back through others, and no module grows past its size."""

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
MAP = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
MAX_LINES = 450
# Modules allowed past the limit, at most this long (to be split, never to grow). None today.
OVERSIZED: dict[str, int] = {}


def _modules() -> dict[str, Path]:
    found = {}
    for path in (SRC / "voicegrid").rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Modules of ours `path` imports when it is loaded (not those under `if TYPE_CHECKING`)."""
    out: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    name = f"{node.module}.{alias.name}"
                    out.add(name if name in modules else node.module)
            elif isinstance(node, ast.Import):
                out.update(alias.name for alias in node.names)
            elif isinstance(node, ast.If | ast.Try):
                visit(node.body)
                visit(node.orelse)
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    visit(ast.parse(path.read_text()).body)
    return {m for m in out if m in modules}


def _package(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def _layers() -> dict[str, int]:
    """Each package's layer, read from the map's table (so the map is what the test holds)."""
    layers: dict[str, int] = {}
    for line in MAP.read_text().splitlines():
        row = re.match(r"\|\s*(\d+)\s*\|([^|]+)\|", line)
        if row:
            for name in re.findall(r"`([a-z_]+)`", row.group(2)):
                layers[name] = int(row.group(1))
    return layers


def test_every_import_goes_down_the_layer_table_of_the_map() -> None:
    modules, layers = _modules(), _layers()
    packages = {_package(m) for m in modules if m != "voicegrid"}
    assert packages <= set(layers), f"packages missing from docs/architecture.md: {packages - set(layers)}"
    top = max(layers.values())  # the composition root's row: it may import anything
    upward = []
    for module, path in modules.items():
        here = _package(module)
        if here == "voicegrid":  # the package's own __init__: its one import is native's build check
            continue
        for target in _imports(path, modules):
            there = _package(target)
            if (
                there != here
                and there != "voicegrid"
                and layers[there] >= layers[here]
                and layers[here] != top
            ):
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_no_module_imports_itself_back_through_others() -> None:
    modules = _modules()
    graph = {m: _imports(p, modules) for m, p in modules.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def strongly_connected(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                strongly_connected(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in graph:
        if module not in index:
            strongly_connected(module)
    assert circles == []


def test_no_module_is_longer_than_the_limit_or_than_it_was() -> None:
    too_long = []
    for path in (SRC / "voicegrid").rglob("*.py"):
        name = str(path.relative_to(SRC))
        lines = len(path.read_text().splitlines())
        if lines > OVERSIZED.get(name, MAX_LINES):
            too_long.append(f"{name}: {lines}")
    assert too_long == []
