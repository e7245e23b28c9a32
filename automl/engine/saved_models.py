"""The refitted best model of each family, saved in formats that load without running
code: never pickle.

- Estimators that serialise themselves (`to_bytes()` and a class method `from_bytes`, as
  the Flax estimators do with msgpack) are saved as ``models/<family>.msgpack``.
- Others (scikit-learn pipelines) are saved with skops as ``models/<family>.skops``.
  Loading allows a name the file declares only where it is one of scikit-learn's classes,
  one of the engine's encoder parts (`ENGINE_TYPES`) or one the family declares
  (`automl.api.models.ModelFamily.saved_types`), and only where importing it gives an object
  whose own module and qualified name are exactly that name: a function that a
  scikit-learn module merely imports (``sklearn.utils._testing.check_output`` is
  ``subprocess.check_output``) is refused. A file holding any other name is refused,
  naming it, before anything in it is built.

``load_model(run_folder, family)`` gives back a fitted estimator, e.g. to predict on new
data: ``load_model("reports/digits", "cnn").predict(X)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna

from automl.api.decisions import undecided, with_decisions
from automl.api.errors import AutomlError
from automl.engine.outputs import read_summary
from automl.engine.plugins import Registry

MODELS = "models"
ENSEMBLE = "ensemble"  # automl.analyses.ensemble.NAME: the blend has no file of its own


def save_model(estimator: Any, family: str, run_folder: Path) -> Path:
    """Write one fitted estimator under `run_folder`/models and return its path."""
    folder = run_folder / MODELS
    folder.mkdir(exist_ok=True)
    estimator = undecided(estimator)  # the run's summary says how it decides
    if hasattr(estimator, "to_bytes") and hasattr(type(estimator), "from_bytes"):
        path = folder / f"{family}.msgpack"
        path.write_bytes(estimator.to_bytes())
    else:
        import skops.io
        path = folder / f"{family}.skops"
        skops.io.dump(estimator, path)
    return path


def load_model(run_folder: str | Path, family: str, registry: Registry | None = None) -> Any:
    """The fitted model a run saved for `family` (see the module docstring); for
    ``"ensemble"``, its members' saved models blended with the weights of the run's
    ``ensemble.csv`` (`automl.analyses.ensemble.Blend`)."""
    from automl.engine.plugins import build_registry
    registry = registry or build_registry(on_problem=lambda problem: None)
    if family == ENSEMBLE:
        return load_blend(Path(run_folder), registry)
    folder = Path(run_folder) / MODELS
    if family not in registry.models:
        raise AutomlError(f"no installed plugin registers the family '{family}'",
                          where=folder, hint="install the plugin the run used")
    for path in (folder / f"{family}.msgpack", folder / f"{family}.skops"):
        if path.exists():
            break
    else:
        raise AutomlError(f"no saved model of '{family}'", where=folder,
                          expected=f"{family}.msgpack or {family}.skops")
    try:
        if path.suffix == ".skops":
            model = _load_skops(path, registry.models[family].item.saved_types)
        else:  # the class comes from the installed family itself, never from the file
            unfitted = undecided(_unfitted(Path(run_folder), family, registry))
            model = type(unfitted).from_bytes(path.read_bytes())
    except AutomlError:
        raise
    except Exception as error:  # a damaged or tampered file: said, not a traceback
        raise AutomlError(f"the saved model of '{family}' could not be read", where=path,
                          found=f"{type(error).__name__}: {error}") from error
    # decided as the run decided (`automl.api.decisions`): its summary says how
    return with_decisions(model, read_summary(Path(run_folder)).dataset.info())


def load_blend(run_folder: Path, registry: Registry) -> Any:
    """The run's ensemble: each member with a positive weight in ``ensemble.csv`` loaded
    by `load_model`, blended with those weights."""
    import pandas as pd

    from automl.analyses.ensemble import Blend
    table = run_folder / "ensemble.csv"
    if not table.is_file():
        raise AutomlError("this run has no ensemble", where=table,
                          hint="run the task with [report] ensemble = true")
    rows = pd.read_csv(table)
    members = rows[(rows["family"] != ENSEMBLE) & (rows["weight"] > 0)]
    weights = {str(name): float(weight) for name, weight in
               zip(members["family"], members["weight"], strict=True)}
    return Blend({name: load_model(run_folder, name, registry) for name in weights},
                 weights, read_summary(run_folder).dataset.info())


ENGINE_TYPES = frozenset({
    "automl.data.tables.TableEncoder", "automl.data.tables.EncodedModel",
    "automl.data.tables.datetime_parts", "automl.data.tables.datetime_part_names",
    "automl.data.tables.category_text", "automl.data.tables.text_values", "numpy.dtype"})
"""The engine's own classes and functions a saved model may hold (its table encoder)."""
IMPORTABLE = ("sklearn", "automl", "numpy")
"""Packages whose modules are imported to check a name (with the family's plugin's)."""


def _load_skops(path: Path, declared: frozenset[str]) -> Any:
    import skops.io
    trusted = _trusted(skops.io.get_untrusted_types(file=path), declared, path)
    return skops.io.load(path, trusted=trusted)


def load_skops_bytes(data: bytes, declared: frozenset[str] = frozenset()) -> Any:
    """An object skops stored as bytes (a table encoder inside a network's msgpack
    file), with the same names allowed as for a saved model."""
    import skops.io
    trusted = _trusted(skops.io.get_untrusted_types(data=data), declared,
                       "the saved network's table encoder")
    return skops.io.loads(data, trusted=trusted)


def _trusted(untrusted: list[str], declared: frozenset[str], where) -> list[str]:
    """`untrusted` (the names skops would not load by itself), each checked by
    `allowed`; any that is not refuses the file."""
    refused = sorted(name for name in set(untrusted) if not allowed(name, declared))
    if refused:
        raise AutomlError("the saved model holds names that are neither scikit-learn's "
                          "classes, the engine's encoder parts nor ones its family declares, "
                          "so it is not loaded", where=where, found=", ".join(refused))
    return list(untrusted)


def allowed(name: str, declared: frozenset[str]) -> bool:
    """Whether a saved model may hold `name`: one of scikit-learn's classes, or a name in
    `ENGINE_TYPES` or `declared`, that resolves to an object defined under exactly that
    name (module docstring)."""
    if name not in ENGINE_TYPES and name not in declared and name.split(".")[0] != "sklearn":
        return False
    found = _resolve(name, {*IMPORTABLE, *(n.split(".")[0] for n in declared)})
    defined_as = f"{getattr(found, '__module__', '')}.{getattr(found, '__qualname__', '')}"
    if found is None or defined_as != name:
        return False
    return isinstance(found, type) or name in ENGINE_TYPES or name in declared


def _resolve(name: str, packages: set[str]) -> Any:
    """The object `name` names (a module, then attributes), importing only modules of
    `packages`; None where it names nothing."""
    import importlib
    parts = name.split(".")
    if parts[0] not in packages:
        return None
    for split in range(len(parts) - 1, 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            found = getattr(found, attribute, None)
        return found
    return None


def _unfitted(run_folder: Path, family_name: str, registry: Registry) -> Any:
    """The family's estimator for the run's best parameters, unfitted: its class is the
    one to load the saved weights into."""
    run = read_summary(run_folder)
    info = run.dataset.info()
    import pandas as pd
    board = pd.read_csv(run_folder / "leaderboard.csv").set_index("family")
    suggested = json.loads(board.loc[family_name, "best_params"])
    family = registry.models[family_name].item
    params = family.search_space(optuna.trial.FixedTrial(suggested), info)
    return family.make_estimator(params, info, run.seed, "cpu")
