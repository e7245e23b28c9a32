"""The engine's modules import one another one way: no cycle among their module-level
imports (a deferred import inside a function, or one under TYPE_CHECKING, is not one),
and `import automl` (what a plugin does) loads neither the report's page nor the runs and
analyses."""

import ast
import subprocess
import sys
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "automl"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Each module of automl and the automl modules it imports at module level."""
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        imported = set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("automl"):
                imported.add(node.module)
                imported |= {f"{node.module}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
        # the modules named (a package's __init__ that re-exports its modules runs
        # before them, which Python allows; naming the package is importing it)
        graph[name] = {m for m in imported if m in modules and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while not group or group[-1] != node:
                group.append(stack.pop())
                on_stack.discard(group[-1])
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_of_automl_imports_itself_back():
    graph = import_graph()
    assert len(graph) > 40 and "automl.run" in graph
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_importing_automl_loads_neither_the_page_nor_the_analyses():
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, automl, automl.plugins; print(' '.join(sorted("
         "m for m in sys.modules if m.startswith('automl.'))))"],
        capture_output=True, text=True, cwd=REPO, timeout=300)
    assert loaded.returncode == 0, loaded.stderr
    modules = set(loaded.stdout.split())
    assert "automl.plugins" in modules
    assert not modules & {"automl.report.page", "automl.run", "automl.analysis"}
