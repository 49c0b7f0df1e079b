"""Data flows one way: each layer imports only the layers before it, and there are no import
cycles between modules. Checked on every import, module-level or inside a function (an import
in a function is still a dependency, only a later one); ``if TYPE_CHECKING:`` blocks do not
run and are left out. The CLI and the runner (``TOP``) are the only modules allowed to load the
layers above them lazily: their imports inside functions are not checked."""

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


def _resolve(st: ast.ImportFrom, module: str, is_pkg: bool) -> str:
    if not st.level:
        return st.module or ""
    base = module.split(".")
    base = base if is_pkg else base[:-1]
    base = base[: len(base) - (st.level - 1)]
    return ".".join([*base, st.module] if st.module else base)


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def imports(path: Path, module: str, lazy: bool = True) -> set[str]:
    """The modules (and ``module.name`` for ``from module import name``) ``path`` imports;
    ``lazy``: also the imports inside functions and classes."""
    tree = ast.parse(path.read_text("utf-8"))
    found: set[str] = set()
    is_pkg = path.name == "__init__.py"

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit_stmt(other)
                continue
            if not lazy and isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda
            ):
                continue
            visit_stmt(child)

    def visit_stmt(st: ast.AST) -> None:
        if isinstance(st, ast.Import):
            found.update(a.name for a in st.names)
        elif isinstance(st, ast.ImportFrom):
            name = _resolve(st, module, is_pkg)
            found.add(name)
            for a in st.names:
                found.add(f"{name}.{a.name}")
        else:
            visit(st)

    visit(tree)
    return found


def _imports_of(mod: str, path: Path) -> set[str]:
    return imports(path, mod, lazy=mod not in TOP)


def test_the_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text(
        "from typing import TYPE_CHECKING\n"
        "import a\n"
        "if TYPE_CHECKING:\n    import hidden\n"
        "try:\n    import b\nexcept ImportError:\n    import c\n"
        "def f():\n    from socmon.api import app\n"
        "class K:\n    def g(self):\n        import d.e\n"
    )
    got = imports(src, "socmon.m")
    assert {"a", "b", "c", "socmon.api", "socmon.api.app", "d.e"} <= got
    assert "hidden" not in got
    assert "socmon.api" not in imports(src, "socmon.m", lazy=False)


def test_layers_import_only_layers_before_them() -> None:
    mods = modules()
    problems = []
    for mod, path in mods.items():
        if mod in TOP:
            continue
        layer = layer_of(mod)
        assert layer is not None
        for imp in imports(path, mod):
            imported = layer_of(imp)
            if imported is not None and imported > layer:
                problems.append(f"{mod} imports {imp} (a later layer)")
    assert not problems, "\n".join(sorted(problems))


def test_no_import_cycles() -> None:
    mods = modules()
    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        deps = set()
        for imp in _imports_of(mod, path):
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
