"""Data flows one way: each layer imports only the layers before it, and there are no import
cycles between modules. Checked on module-level imports (imports inside functions are how the
CLI and runner load the layers above them lazily)."""

from __future__ import annotations

import ast
from pathlib import Path

from socmon.settings import PROJECT_ROOT

ORDER = ["socmon", "collectors", "rules", "alerting", "api"]
# Modules of the plumbing layer that sit on top and may import anything (lazily or not).
TOP = {"socmon.cli", "socmon.runner", "socmon.__main__"}


def modules() -> dict[str, Path]:
    out = {}
    for pkg in ORDER:
        for path in (PROJECT_ROOT / pkg).rglob("*.py"):
            rel = path.relative_to(PROJECT_ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


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
        layer = ORDER.index(mod.split(".")[0])
        for imp in top_level_imports(path, mod):
            head = imp.split(".")[0]
            if head in ORDER and ORDER.index(head) > layer:
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
