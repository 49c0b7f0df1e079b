"""Data flows one way: each layer imports only the layers before it, and there are no import
cycles between modules. Checked on module-level imports (imports inside functions are how the
CLI and runner load the layers above them lazily)."""

from __future__ import annotations

import ast
from pathlib import Path

from socmon.settings import PROJECT_ROOT

ORDER = ["socmon", "collectors", "rules", "alerting", "api"]
# Each layer's folder at the top of the checkout is the package socmon.<layer>.
FOLDERS = {"socmon": "socmon", **{layer: f"socmon.{layer}" for layer in ORDER[1:]}}
# Modules of the plumbing layer that sit on top and may import anything (lazily or not).
TOP = {"socmon.cli", "socmon.runner", "socmon.__main__"}


def modules() -> dict[str, Path]:
    out = {}
    for folder, package in FOLDERS.items():
        base = PROJECT_ROOT / folder
        for path in base.rglob("*.py"):
            rel = path.relative_to(base).with_suffix("")
            if folder == "socmon" and rel.parts[0] in FOLDERS:
                continue  # socmon/<layer> links to the layer's own folder
            parts = [package, *rel.parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def layer_of(name: str) -> int | None:
    """Index in ORDER of the layer a dotted module name belongs to (None: not ours)."""
    parts = name.split(".")
    if parts[0] != "socmon":
        return None
    if len(parts) > 1 and parts[1] in ORDER[1:]:
        return ORDER.index(parts[1])
    return 0


def top_level_imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found: set[str] = set()
    is_pkg = path.name == "__init__.py"
    for node in tree.body:
        stmts = [node]
        if isinstance(node, ast.If):  # e.g. `if TYPE_CHECKING:` imports do not run
            continue
        if isinstance(node, ast.Try):
            stmts = list(node.body)
        for st in stmts:
            if isinstance(st, ast.Import):
                found.update(a.name for a in st.names)
            elif isinstance(st, ast.ImportFrom):
                if st.level:
                    base = module.split(".")
                    base = base if is_pkg else base[:-1]
                    base = base[: len(base) - (st.level - 1)]
                    name = ".".join([*base, st.module] if st.module else base)
                else:
                    name = st.module or ""
                found.add(name)
                for a in st.names:
                    found.add(f"{name}.{a.name}")
    return found


def test_layers_import_only_layers_before_them() -> None:
    mods = modules()
    problems = []
    for mod, path in mods.items():
        if mod in TOP:
            continue
        layer = layer_of(mod)
        assert layer is not None
        for imp in top_level_imports(path, mod):
            imported = layer_of(imp)
            if imported is not None and imported > layer:
                problems.append(f"{mod} imports {imp} (a later layer)")
    assert not problems, "\n".join(sorted(problems))


def test_no_import_cycles() -> None:
    mods = modules()
    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        deps = set()
        for imp in top_level_imports(path, mod):
            # the longest known module the import refers to
            parts = imp.split(".")
            for i in range(len(parts), 0, -1):
                cand = ".".join(parts[:i])
                if cand in mods and cand != mod:
                    deps.add(cand)
                    break
        graph[mod] = deps
    # A package importing its own submodules (re-exports) is not a cycle of concern.
    for mod in graph:
        graph[mod] = {d for d in graph[mod] if not d.startswith(mod + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for d in graph.get(n, ()):
            if state.get(d) == 1:
                cycles.append([*stack[stack.index(d) :], d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)
