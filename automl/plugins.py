"""Finding plugins and building the registry of what they provide.

Every plugin, built-in or third-party, is an entry point in the ``automl`` group. Each is
loaded on its own: one that fails to import is reported by name and skipped. Then each
registration hook is called plugin by plugin with a ``register`` callback bound to that
plugin, so the `Registry` knows who registered what and can name both plugins when two
claim the same name.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from automl import hookspecs
from automl.datasets import DatasetLoader
from automl.errors import PluginError
from automl.metrics import Metric
from automl.models import ModelFamily

ENTRY_POINT_GROUP = "automl"


@dataclass(frozen=True)
class PluginInfo:
    """A loaded plugin, or one that failed to load (`error` set)."""

    name: str
    distribution: str | None
    version: str | None
    module: str
    error: str | None = None


@dataclass(frozen=True)
class Registered:
    item: Any
    plugin: str


# Registration hook, registered type, and how to check one entry.
_CATEGORIES: dict[str, tuple[str, type]] = {
    "models": ("automl_register_models", ModelFamily),
    "datasets": ("automl_register_datasets", DatasetLoader),
    "metrics": ("automl_register_metrics", Metric),
}


@dataclass
class Registry:
    """Everything the plugins registered, by category and name."""

    plugins: list[PluginInfo] = field(default_factory=list)
    models: dict[str, Registered] = field(default_factory=dict)
    datasets: dict[str, Registered] = field(default_factory=dict)
    metrics: dict[str, Registered] = field(default_factory=dict)

    def add(self, category: str, item: Any, plugin: str) -> None:
        """Check and record one registration; raise PluginError naming the plugin."""
        expected_type = _CATEGORIES[category][1]
        if not isinstance(item, expected_type):
            raise PluginError(f"plugin '{plugin}' registered something that is not a "
                              f"{expected_type.__name__}", found=type(item).__name__)
        problems = item.problems()
        if problems:
            raise PluginError(f"plugin '{plugin}' registered an invalid "
                              f"{expected_type.__name__} {getattr(item, 'name', '?')!r}: "
                              + "; ".join(problems))
        entries = getattr(self, category)
        if item.name in entries:
            other = entries[item.name].plugin
            raise PluginError(f"plugins '{other}' and '{plugin}' both register the "
                              f"{category[:-1]} name '{item.name}'",
                              hint=f"uninstall or block one of '{other}' and '{plugin}'")
        entries[item.name] = Registered(item, plugin)

    def by_plugin(self, plugin: str) -> dict[str, list[str]]:
        """Names each category holds from one plugin, for `python -m automl plugins`."""
        return {category: sorted(name for name, entry in getattr(self, category).items()
                                 if entry.plugin == plugin)
                for category in _CATEGORIES}


def build_registry(extra_plugins: dict[str, object] | None = None,
                   *, entry_points: bool = True) -> Registry:
    """Load the installed plugins (and `extra_plugins`, by name) and collect what they
    register. Plugins that fail to import are listed with their error and skipped."""
    manager = pluggy.PluginManager("automl")
    manager.add_hookspecs(hookspecs)
    registry = Registry()
    if entry_points:
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            registry.plugins.append(_load_entry_point(manager, entry_point))
    for name, plugin in (extra_plugins or {}).items():
        manager.register(plugin, name=name)
        registry.plugins.append(PluginInfo(name, None, None, getattr(plugin, "__name__", name)))
    for category, (hook_name, _) in _CATEGORIES.items():
        hook_caller = getattr(manager.hook, hook_name)
        # Call each implementation on its own so its register callback knows the caller.
        for impl in reversed(hook_caller.get_hookimpls()):
            register = _register_for(registry, category, impl.plugin_name)
            arguments = {"register": register}
            impl.function(**{name: arguments[name] for name in impl.argnames})
    return registry


def _register_for(registry: Registry, category: str, plugin: str) -> Callable[[Any], None]:
    def register(item: Any) -> None:
        registry.add(category, item, plugin)
    return register


def _load_entry_point(manager: pluggy.PluginManager,
                      entry_point: importlib.metadata.EntryPoint) -> PluginInfo:
    distribution = entry_point.dist.name if entry_point.dist else None
    version = entry_point.dist.version if entry_point.dist else None
    try:
        module = entry_point.load()
        manager.register(module, name=entry_point.name)
    except Exception as error:  # a broken plugin must not stop the others
        return PluginInfo(entry_point.name, distribution, version, entry_point.value,
                          error=f"{type(error).__name__}: {error}")
    return PluginInfo(entry_point.name, distribution, version, entry_point.value)
