"""The engine's modules import one another one way: no cycle among their module-level
imports (a deferred import inside a function, or one under TYPE_CHECKING, is not one), no
import at all (deferred ones included) from a lower layer up to a higher one (`LAYERS`,
drawn in docs/architecture.md), and `import automl` (what a plugin does) loads neither
the report's page nor the runs and analyses."""

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


LAYERS = (
    ("values", {"automl.api.errors", "automl.api.schema", "automl.api.hookspecs",
                "automl.api.caches", "automl.data.features", "automl.data.tables",
                "automl.data.table_files", "automl.data.input_bounds",
                "automl.fitting.memory", "automl.fitting.budget", "automl.fitting.row_plans",
                "automl.fitting.devices"}),
    ("data and the plugin API", {
        "automl", "automl.api", "automl.api.metrics", "automl.api.decisions",
        "automl.api.models", "automl.api.results", "automl.data", "automl.data.input_kinds",
        "automl.data.datasets", "automl.data.folds", "automl.engine.progress",
        "automl.report", "automl.report.section", "automl.report.context",
        "automl.report.charts", "automl.analyses", "automl.analyses.api"}),
    ("fits that can be stopped and sized", {
        "automl.fitting", "automl.fitting.stoppable", "automl.fitting.fold_server",
        "automl.fitting.evaluate", "automl.fitting.sizing"}),
    ("search", {"automl.search", "automl.search.loop", "automl.search.populations",
                "automl.search.samplers", "automl.search.settings", "automl.search.storage",
                "automl.search.studies", "automl.search.internals"}),
    ("analyses", {"automl.analyses.leaderboard", "automl.analyses.ties",
                  "automl.analyses.measures", "automl.analyses.depth",
                  "automl.analyses.ensemble", "automl.analyses.explain",
                  "automl.analyses.splits", "automl.analyses.stage", "automl.analyses.export",
                  "automl.engine.outputs"}),
    ("registry and task", {"automl.engine", "automl.engine.plugins", "automl.engine.task",
                           "automl.engine.saved_models"}),
    ("built-in analyses", {"automl.analyses.builtin", "automl.analyses.serving",
                           "automl.analyses.extrapolation", "automl.analyses.subgroups",
                           "automl.analyses.search_budget"}),
    ("report", {"automl.report.summary", "automl.report.builtin", "automl.report.subgroups",
                "automl.report.distinctions", "automl.report.page"}),
    ("run", {"automl.engine.run"}),
    ("commands", {"automl.cli", "automl.__main__", "automl.engine.predict", "automl.docs",
                  "automl.engine.onnx_files", "automl.testing"}),
)
"""The engine's layers, lowest first: a module imports from its own layer and those
below it, never from one above."""


def every_import(path: Path, modules) -> set[str]:
    """The automl modules `path` imports anywhere (deferred ones too), but for those
    under ``if TYPE_CHECKING:``, which are names for annotations only."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and getattr(block.test, "id", None) == "TYPE_CHECKING"
                   for node in ast.walk(block)}
    imported = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("automl"):
            imported |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
    return {name for name in imported if name in modules}


def test_every_import_points_down_the_layers():
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    layer_of = {name: index for index, (_, names) in enumerate(LAYERS) for name in names}
    assert set(layer_of) == set(modules), (
        f"place each module in a layer: missing {sorted(set(modules) - set(layer_of))}, "
        f"gone {sorted(set(layer_of) - set(modules))}")
    upward = [f"{name} ({LAYERS[layer_of[name]][0]}) imports {other} "
              f"({LAYERS[layer_of[other]][0]})"
              for name, path in sorted(modules.items())
              for other in sorted(every_import(path, modules))
              if layer_of[other] > layer_of[name]]
    assert upward == []


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
    assert len(graph) > 40 and "automl.engine.run" in graph
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_importing_automl_loads_neither_the_page_nor_the_analyses():
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, automl, automl.engine.plugins; print(' '.join(sorted("
         "m for m in sys.modules if m.startswith('automl.'))))"],
        capture_output=True, text=True, cwd=REPO, timeout=300)
    assert loaded.returncode == 0, loaded.stderr
    modules = set(loaded.stdout.split())
    assert "automl.engine.plugins" in modules
    assert not modules & {"automl.report.page", "automl.engine.run", "automl.analyses.measures"}


def test_the_deep_plugin_imports_nothing_of_the_text_plugin():
    """The text families train on the deep plugin's trainer; the deep plugin reads texts
    through automl_plugins.text_columns, below both, never through the text plugin."""
    plugins = REPO / "plugins"
    modules = {"automl_plugins." + ".".join(path.relative_to(plugins).with_suffix("").parts)
               .removesuffix(".__init__") for path in plugins.rglob("*.py")}
    deep = list((plugins / "deep").glob("*.py"))
    found = {path.name: sorted(m for m in every_import(path, modules)
                               if m.startswith("automl_plugins.text.")
                               or m == "automl_plugins.text")
             for path in deep}
    assert len(deep) >= 4 and not any(found.values()), found
    text_side = every_import(plugins / "text" / "scratch.py", modules)
    assert "automl_plugins.deep.estimator" in text_side  # the test can see imports


def test_every_room_of_automl_is_a_package_that_installs():
    """Each folder of automl is listed in pyproject.toml's packages: one left out imports
    from a checkout but is missing from a wheel."""
    import tomllib
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    rooms = {module_name(path.parent / "__init__.py") for path in PACKAGE.rglob("*.py")}
    assert {"automl.api", "automl.data", "automl.fitting", "automl.engine"} <= rooms
    assert rooms <= listed, sorted(rooms - listed)
