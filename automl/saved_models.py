"""The refitted best model of each family, saved in formats that load without running
code: never pickle.

- Estimators that serialise themselves (`to_bytes()` and a class method `from_bytes`, as
  the Flax estimators do with msgpack) are saved as ``models/<family>.msgpack``.
- Others (scikit-learn pipelines) are saved with skops as ``models/<family>.skops``;
  loading allows only types of scikit-learn and of the plugin that registered the family,
  and refuses a file holding any other type, naming it.

``load_model(run_folder, family)`` gives back a fitted estimator, e.g. to predict on new
data: ``load_model("reports/digits", "cnn").predict(X)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna

from automl.decisions import undecided, with_decisions
from automl.errors import AutomlError
from automl.outputs import read_summary
from automl.plugins import Registry

MODELS = "models"
ENSEMBLE = "ensemble"  # automl.ensemble.NAME: the blend has no file of its own


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
    ``ensemble.csv`` (`automl.ensemble.Blend`)."""
    from automl.plugins import build_registry
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
    if path.suffix == ".skops":
        model = _load_skops(path, _plugin_package(registry, family))
    else:  # the class comes from the installed family itself, never from the file
        unfitted = undecided(_unfitted(Path(run_folder), family, registry))
        model = type(unfitted).from_bytes(path.read_bytes())
    # decided as the run decided (`automl.decisions`): its summary says how
    return with_decisions(model, read_summary(Path(run_folder)).dataset.info())


def load_blend(run_folder: Path, registry: Registry) -> Any:
    """The run's ensemble: each member with a positive weight in ``ensemble.csv`` loaded
    by `load_model`, blended with those weights."""
    import pandas as pd

    from automl.ensemble import Blend
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


def _load_skops(path: Path, plugin_package: str) -> Any:
    import skops.io
    trusted = _trusted(skops.io.get_untrusted_types(file=path), plugin_package, path)
    return skops.io.load(path, trusted=trusted)


def load_skops_bytes(data: bytes, plugin_package: str = "automl") -> Any:
    """An object skops stored as bytes (a table encoder inside a network's msgpack
    file), with the same types allowed as for a saved model."""
    import skops.io
    trusted = _trusted(skops.io.get_untrusted_types(data=data), plugin_package,
                       "the saved network's table encoder")
    return skops.io.loads(data, trusted=trusted)


def _trusted(untrusted: list[str], plugin_package: str, where) -> list[str]:
    """Types to allow: scikit-learn's, the engine's (its table encoder), the family's
    plugin's and numpy's dtype; any other refuses the file."""
    trusted = [name for name in untrusted
               if name.split(".")[0] in ("sklearn", "automl", plugin_package)
               or name == "numpy.dtype"]
    refused = sorted(set(untrusted) - set(trusted))
    if refused:
        raise AutomlError("the saved model holds types that are not scikit-learn's, the "
                          "engine's or its plugin's, so it is not loaded", where=where,
                          found=", ".join(refused))
    return trusted


def _plugin_package(registry: Registry, family: str) -> str:
    plugin = registry.models[family].plugin
    module = next((p.module for p in registry.plugins if p.name == plugin), plugin)
    return module.split(":")[0].split(".")[0]


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
