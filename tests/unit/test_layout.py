"""The package's shape: imports run one way, no module needs one that needs it back."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "netprobe"


def _module_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The package's modules ``path`` imports, type-checking imports included: a cycle
    hidden behind ``TYPE_CHECKING`` is still two modules that need each other."""
    here = _module_of(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            # The longest module the name is or lies in: "a.b.c" for a.b.c.Thing.
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != here:
                found.add(name)
    return found


def _graph() -> dict[str, set[str]]:
    paths = {_module_of(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    return {name: _imports(path, modules) for name, path in paths.items()}


def test_no_import_cycle() -> None:
    graph = _graph()
    # A package's face may import its own children; a child importing its package's face
    # back is a cycle like any other.
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for child in sorted(graph[name]):
            if state.get(child) == "open":
                cycles.append([*trail[trail.index(child) :], child])
            elif child not in state:
                visit(child, [*trail, child])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


# The flow, top down: the command line drives measurement, analysis and history, which
# write through output; everything shares the model. Imports only run down this list.
LAYERS = {
    "netprobe.__main__": 5,
    "netprobe.cli": 4,
    "netprobe.measure": 3,
    "netprobe.history": 2,
    "netprobe.analysis": 2,
    "netprobe.output": 1,
    "netprobe.model": 0,
    "netprobe.errors": 0,
    "netprobe._defaults": 0,
    "netprobe": 0,
}


def _layer(module: str) -> str:
    while module not in LAYERS:
        module = module.rpartition(".")[0]
    return module


def test_imports_run_down_the_layers() -> None:
    """cli → measure → analysis / history → output → model: nothing imports upward, and
    analysis and history (same floor) do not import each other."""
    upward = sorted(
        f"{name} imports {child}"
        for name, children in _graph().items()
        for child in children
        if LAYERS[_layer(child)] > LAYERS[_layer(name)]
        or (_layer(child) != _layer(name) and LAYERS[_layer(child)] == LAYERS[_layer(name)] > 0)
    )
    assert upward == []


def test_every_module_lives_in_a_layer() -> None:
    """New code goes where the flow puts it: no module beside the layers' packages."""
    loose = sorted(
        path.name
        for path in PACKAGE.glob("*.py")
        if path.stem not in ("__init__", "__main__", "errors", "_defaults")
    )
    assert loose == []


def test_the_library_faces_resolve() -> None:
    """What the README's library example imports is there."""
    import netprobe.measure as measure

    for name in measure.__all__:
        assert getattr(measure, name) is not None
