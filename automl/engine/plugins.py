"""Finding plugins, building the registry of what they provide, and calling their hooks.

Every plugin, built-in or third-party, is an entry point in the ``automl`` group. Each is
loaded on its own, and each hook implementation is called on its own, so a broken plugin
is reported by name and the others go on:

- a plugin that fails to import, implements a hook with arguments the hook does not pass,
  or implements a function named like a hook that does not exist is skipped;
- an invalid registration, or a name another plugin registered first, is left out;
- an observer or report-section hook that raises is reported and the run goes on.

Hooks are called in pluggy's order: ``wrapper=True`` implementations around the others
(the one registered last outermost), then ``tryfirst`` ones, the rest with the plugin
loaded last first, ``trylast`` ones last. Each implementation is registered with pluggy
behind a guard (`GuardedPlugin`) that reports what it raises under the plugin's name, so
one plugin's error does not stop the others. What the registration hooks register is
kept in plugin load order (built-in plugins first, then third-party ones by name), and
of two plugins registering one name the one loaded first keeps it, whatever order the
hooks ran in. pluggy's old-style ``hookwrapper=True`` is refused with a message.

With ``strict=True`` (``--strict`` on the command line) each of these is an error instead.
``allow`` and ``block`` choose plugins by entry-point name; the built-in plugins (those of
the ``automl`` distribution) are always allowed unless blocked. ``trace=True`` prints each
hook call to stderr, through pluggy's ``add_hookcall_monitoring``.
"""

from __future__ import annotations

import functools
import importlib.metadata
import inspect
import sys
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import pluggy

from automl.analyses.api import Analysis
from automl.api import hookspecs
from automl.api.errors import PluginError, did_you_mean
from automl.api.metrics import Metric
from automl.api.models import ModelFamily
from automl.data.datasets import DatasetLoader
from automl.report.section import ReportSection

ENTRY_POINT_GROUP = "automl"
BUILT_IN_DISTRIBUTION = "automl"
TRACE_VARIABLE = "AUTOML_TRACE_HOOKS"
HOOK_NAMES = tuple(name for name, value in vars(hookspecs).items()
                   if name.startswith("automl_") and inspect.isfunction(value))


@dataclass(frozen=True)
class PluginInfo:
    """A plugin the engine found: loaded, or skipped with the reason in `error`, or
    `blocked` by the task file or the environment."""

    name: str
    distribution: str | None
    version: str | None
    module: str
    error: str | None = None
    blocked: bool = False


@dataclass(frozen=True)
class Registered:
    item: Any
    plugin: str


@dataclass(frozen=True)
class PluginProblem:
    """Something a plugin got wrong, reported instead of stopping the run."""

    plugin: str
    problem: str

    def __str__(self) -> str:
        return f"plugin '{self.plugin}': {self.problem}"


# Registration hook and the type it registers, per category.
CATEGORIES: dict[str, tuple[str, type]] = {
    "models": ("automl_register_models", ModelFamily),
    "datasets": ("automl_register_datasets", DatasetLoader),
    "metrics": ("automl_register_metrics", Metric),
    "report_sections": ("automl_register_report_sections", ReportSection),
    "analyses": ("automl_register_analyses", Analysis),
}


REGISTRATION_HOOKS = {hook for hook, _ in CATEGORIES.values()}
SINGULAR = {"models": "model", "datasets": "dataset", "metrics": "metric",
            "report_sections": "report section", "analyses": "analysis"}


@dataclass
class Registry:
    """Everything the plugins registered, by category and name, and the way to call the
    plugins' other hooks (`notify`)."""

    plugins: list[PluginInfo] = field(default_factory=list)
    models: dict[str, Registered] = field(default_factory=dict)
    datasets: dict[str, Registered] = field(default_factory=dict)
    metrics: dict[str, Registered] = field(default_factory=dict)
    report_sections: dict[str, Registered] = field(default_factory=dict)
    analyses: dict[str, Registered] = field(default_factory=dict)
    problems: list[PluginProblem] = field(default_factory=list)
    strict: bool = False
    trace: bool = False
    manager: pluggy.PluginManager | None = None
    on_problem: Callable[[PluginProblem], None] = lambda problem: print(
        f"warning: {problem}", file=sys.stderr)

    def add(self, category: str, item: Any, plugin: str) -> None:
        """Check and record one registration; a bad one is a problem of `plugin`."""
        expected_type = CATEGORIES[category][1]
        if not isinstance(item, expected_type):
            self.fail(plugin, f"registered something that is not a {expected_type.__name__}"
                      f" ({type(item).__name__}); left out")
            return
        problems = item.problems()
        if problems:
            self.fail(plugin, f"registered an invalid {expected_type.__name__} "
                      f"{getattr(item, 'name', '?')!r} ({'; '.join(problems)}); left out")
            return
        entries = getattr(self, category)
        if category == "analyses" and not self.keeps_apart(item, plugin):
            return
        if item.name in entries:
            kept, dropped = entries[item.name].plugin, plugin
            if self.load_rank(plugin) < self.load_rank(kept):  # loaded first: it keeps it
                kept, dropped = plugin, kept
                entries[item.name] = Registered(item, plugin)
            self.fail(dropped, f"registers the {SINGULAR[category]} name "
                      f"'{item.name}' that plugin '{kept}' registered first; theirs is "
                      f"kept (block one of '{kept}' and '{dropped}' to choose)")
            return
        entries[item.name] = Registered(item, plugin)

    def keeps_apart(self, analysis: Analysis, plugin: str) -> bool:
        """Whether `analysis` declares no ``[report]`` key or table another registered
        analysis (of another name) declares. Of two that clash the one whose plugin
        loaded first is kept, whatever order they registered in; False when it is not
        `analysis`."""
        for name, entry in list(self.analyses.items()):
            clashes = analysis.clashes_with(entry.item) if name != analysis.name else []
            if not clashes:
                continue
            kept, dropped = (entry, Registered(analysis, plugin))
            if self.load_rank(plugin) < self.load_rank(entry.plugin):
                kept, dropped = dropped, kept
                del self.analyses[name]
            self.fail(dropped.plugin, f"registers the analysis '{dropped.item.name}' "
                      f"declaring {', '.join(clashes)} as the analysis '{kept.item.name}' "
                      f"of plugin '{kept.plugin}' does; theirs is kept")
            if dropped.item is analysis:
                return False
        return True

    def load_rank(self, plugin: str) -> int:
        """Where `plugin` came in the load order (built-in plugins first)."""
        names = [info.name for info in self.plugins]
        return names.index(plugin) if plugin in names else len(names)

    def is_built_in(self, plugin: str) -> bool:
        """Whether `plugin` is one of the engine's own (of the ``automl`` distribution)."""
        return any(info.name == plugin and info.distribution == BUILT_IN_DISTRIBUTION
                   for info in self.plugins)

    def in_load_order(self) -> None:
        """Order every category's entries by their plugin's load order (each plugin's in
        the order it registered them), whatever order pluggy called the hooks in."""
        for category in CATEGORIES:
            entries = getattr(self, category)
            ordered = sorted(entries.items(), key=lambda item: self.load_rank(item[1].plugin))
            setattr(self, category, dict(ordered))

    def fail(self, plugin: str, problem: str) -> None:
        """Report what a plugin got wrong: an error when strict, else a warning."""
        found = PluginProblem(plugin, problem)
        if self.strict:
            raise PluginError(str(found), hint="without --strict the run goes on without it")
        self.problems.append(found)
        self.on_problem(found)

    def notify(self, hook: str, **arguments: Any) -> list[Any]:
        """Call `hook` on every plugin implementing it, in pluggy's order, each guarded:
        a plugin that raises is reported (see `fail`) and the others are still called.
        Returns what the implementations returned (None left out), as pluggy does. A
        name that is not one of `automl.api.hookspecs`' raises: a misspelt hook is a bug."""
        if hook not in HOOK_NAMES:
            raise ValueError(f"{hook!r} is not a hook of automl.api.hookspecs")
        if self.manager is None:
            return []
        return getattr(self.manager.hook, hook)(**arguments)

    def trial_finished(self, *, task: str, family: str, trial) -> None:
        """Tell the observers a trial finished (`automl_trial_finished`)."""
        self.notify("automl_trial_finished", task=task, family=family, trial=trial)

    def run_finished(self, *, record) -> None:
        """Tell the observers a run's record is written (`automl_run_finished`)."""
        self.notify("automl_run_finished", record=record)

    def guarded(self, plugin: str, what: str, function: Callable, /,
                *args: Any) -> tuple[bool, Any]:
        """Call a plugin's `function`: (True, its result), or (False, the error) after
        reporting that `what` raised."""
        try:
            return True, function(*args)
        except PluginError:
            raise
        except Exception as error:  # a broken plugin must not stop the run
            text = f"{type(error).__name__}: {error}"
            self.fail(plugin, f"{what} raised {text}")
            return False, text

    def by_plugin(self, plugin: str) -> dict[str, list[str]]:
        """Names each category holds from one plugin, for `python -m automl plugins`."""
        return {category: sorted(name for name, entry in getattr(self, category).items()
                                 if entry.plugin == plugin)
                for category in CATEGORIES}


def build_registry(extra_plugins: dict[str, object] | None = None, *,
                   entry_points: bool = True, allow: Collection[str] | None = None,
                   block: Collection[str] = (), strict: bool = False,
                   trace: bool = False,
                   on_problem: Callable[[PluginProblem], None] | None = None) -> Registry:
    """Load the installed plugins (and `extra_plugins`, by name) and collect what they
    register.

    `allow`: if given, the only third-party plugins loaded (built-in ones always are);
    `block`: plugins not loaded. Problems are passed to `on_problem` (default: a warning
    on stderr), or raised as `PluginError` when `strict`.
    """
    manager = pluggy.PluginManager("automl")
    manager.add_hookspecs(hookspecs)
    registry = Registry(strict=strict, trace=trace, manager=manager)
    if on_problem is not None:
        registry.on_problem = on_problem
    if trace:
        manager.add_hookcall_monitoring(_trace_before, _trace_after)
    candidates = []
    if entry_points:
        candidates += sorted(
            importlib.metadata.entry_points(group=ENTRY_POINT_GROUP),
            key=lambda e: (_distribution(e) != BUILT_IN_DISTRIBUTION, e.name))
    candidates += list((extra_plugins or {}).items())
    for candidate in candidates:
        info, plugin = _load(candidate)
        built_in = info.distribution == BUILT_IN_DISTRIBUTION
        if info.name in block or (allow is not None and not built_in
                                  and info.name not in allow):
            registry.plugins.append(PluginInfo(info.name, info.distribution, info.version,
                                               info.module, blocked=True))
            continue
        if info.error is None:
            info = _register(manager, plugin, info, registry)
        registry.plugins.append(info)
        if info.error is not None:
            registry.fail(info.name, f"skipped: {info.error}")
    for category, (hook, _) in CATEGORIES.items():
        # each plugin's guard hands it a register callback that knows who is calling
        registry.notify(hook, register=category)
    registry.in_load_order()
    return registry


class GuardedPlugin:
    """What the engine registers with pluggy for a plugin: its hook implementations, each
    behind a guard that reports what it raises as the plugin's problem (see
    `Registry.guarded`) and returns None, so the other plugins are still called. The
    guards keep each implementation's signature and pluggy markers (``tryfirst``,
    ``trylast``, ``wrapper``), so pluggy orders and calls them as it would the plugin's
    own functions. Registration hooks are called with ``register=<category>``; the guard
    hands the implementation a callback that records the plugin's registrations."""

    def __init__(self, plugin: object, name: str, registry: Registry):
        for hook in HOOK_NAMES:
            function = getattr(plugin, hook, None)
            if function is not None:
                guard = (_guard_wrapper if function.automl_impl.get("wrapper")
                         else _guard)(function, hook, name, registry)
                guard.automl_impl = dict(function.automl_impl)
                setattr(self, hook, guard)


def _with_register(function: Callable, hook: str, plugin: str,
                   registry: Registry) -> Callable[[tuple], list[Any]]:
    """What turns the arguments pluggy passes `function` into those it gets: for a
    registration hook, its category replaced by the plugin's register callback."""
    names = list(inspect.signature(function).parameters)
    if hook not in REGISTRATION_HOOKS or "register" not in names:
        return list
    position = names.index("register")

    def arguments(args: tuple) -> list[Any]:
        args = list(args)
        args[position] = _register_for(registry, args[position], plugin)
        return args
    return arguments


def _guard(function: Callable, hook: str, plugin: str, registry: Registry) -> Callable:
    arguments = _with_register(function, hook, plugin, registry)

    @functools.wraps(function)
    def guarded(*args):
        ok, result = registry.guarded(plugin, hook, function, *arguments(args))
        return result if ok else None
    return guarded


def _guard_wrapper(function: Callable, hook: str, plugin: str,
                   registry: Registry) -> Callable:
    """A ``wrapper=True`` implementation, guarded: if it raises before or after its
    ``yield``, the problem is reported and the inner implementations' result passes
    through unchanged."""
    arguments = _with_register(function, hook, plugin, registry)

    @functools.wraps(function)
    def guarded(*args):
        generator = function(*arguments(args))
        started, _ = registry.guarded(plugin, hook, next, generator)
        result = yield
        if not started:
            return result
        try:
            generator.send(result)
        except StopIteration as stop:
            return stop.value
        except PluginError:
            raise
        except Exception as error:
            registry.fail(plugin, f"{hook} raised {type(error).__name__}: {error}")
            return result
        registry.fail(plugin, f"{hook} (a wrapper) yielded twice; it must yield once")
        return result
    return guarded


def _trace_before(hook: str, impls: list[pluggy.HookImpl], kwargs: dict) -> None:
    """Print, before a hook call, each implementation in the order pluggy calls them."""
    for impl in reversed(impls):
        marks = [mark for mark in ("wrapper", "tryfirst", "trylast") if getattr(impl, mark)]
        print(f"trace: {hook}({', '.join(impl.argnames)}) -> plugin '{impl.plugin_name}'"
              + (f" [{', '.join(marks)}]" if marks else ""), file=sys.stderr)
    _TRACE_STARTED[hook] = time.perf_counter()


def _trace_after(outcome, hook: str, impls: list[pluggy.HookImpl], kwargs: dict) -> None:
    if impls:
        seconds = time.perf_counter() - _TRACE_STARTED.pop(hook, time.perf_counter())
        print(f"trace: {hook} took {1000 * seconds:.1f} ms ({len(impls)} implementation"
              f"{'s' if len(impls) > 1 else ''})", file=sys.stderr)


_TRACE_STARTED: dict[str, float] = {}


def _register_for(registry: Registry, category: str, plugin: str) -> Callable[[Any], None]:
    def register(item: Any) -> None:
        registry.add(category, item, plugin)
    return register


def _distribution(entry_point: importlib.metadata.EntryPoint) -> str | None:
    return entry_point.dist.name if entry_point.dist else None


def _load(candidate) -> tuple[PluginInfo, object | None]:
    """Import an entry point (or take an extra plugin object as it is)."""
    if not isinstance(candidate, importlib.metadata.EntryPoint):
        name, plugin = candidate
        return PluginInfo(name, None, None, getattr(plugin, "__name__", name)), plugin
    entry_point = candidate
    distribution = _distribution(entry_point)
    version = entry_point.dist.version if entry_point.dist else None
    info = PluginInfo(entry_point.name, distribution, version, entry_point.value)
    try:
        return info, entry_point.load()
    except Exception as error:  # a broken plugin must not stop the others
        return _with_error(info, f"failed to import: {type(error).__name__}: {error}"), None


def _register(manager: pluggy.PluginManager, plugin: object, info: PluginInfo,
              registry: Registry) -> PluginInfo:
    """Register a plugin's hook implementations after checking their names and
    arguments; a plugin with a wrong one is left out whole."""
    for name in dir(plugin):
        marked = getattr(getattr(plugin, name, None), "automl_impl", None) is not None
        if marked and name not in HOOK_NAMES:
            hint = did_you_mean(name, HOOK_NAMES)
            return _with_error(info, f"'{name}' is marked @automl.hookimpl but is not a hook"
                               + (f" ({hint})" if hint else ""))
        if name in HOOK_NAMES and not marked:
            return _with_error(info, f"{name} is not marked @automl.hookimpl, so it would "
                               "never be called")
    for name in HOOK_NAMES:
        function = getattr(plugin, name, None)
        if function is None:
            continue
        expected = list(inspect.signature(getattr(hookspecs, name)).parameters)
        try:
            taken = list(inspect.signature(function).parameters)
        except (TypeError, ValueError):
            return _with_error(info, f"{name} is not a function")
        unknown = [argument for argument in taken if argument not in expected]
        if unknown:
            return _with_error(info, f"{name}({', '.join(taken)}) takes "
                               f"{', '.join(repr(a) for a in unknown)}, which the hook does"
                               f" not pass; it passes {', '.join(expected)}")
        marks = getattr(function, "automl_impl", None) or {}
        if marks.get("hookwrapper"):
            return _with_error(info, f"{name} uses hookwrapper=True, pluggy's old-style "
                               "wrapper, which automl does not call; use wrapper=True (a "
                               "generator that yields once and returns the result)")
        if marks.get("specname"):
            return _with_error(info, f"{name} sets specname; name the function after the "
                               "hook instead")
        if marks.get("wrapper") and not inspect.isgeneratorfunction(function):
            return _with_error(info, f"{name} is marked wrapper=True but is not a generator "
                               "function; a wrapper yields once, where the other plugins' "
                               "implementations run")
    try:
        manager.register(GuardedPlugin(plugin, info.name, registry), name=info.name)
    except Exception as error:
        return _with_error(info, f"{type(error).__name__}: {error}")
    return info


def _with_error(info: PluginInfo, error: str) -> PluginInfo:
    return PluginInfo(info.name, info.distribution, info.version, info.module, error=error)
