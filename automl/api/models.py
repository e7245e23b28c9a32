"""What a model plugin registers: a `ModelFamily`.

A family is a kind of model (random forest, RBF SVM, CNN, ...) with a search space. The
engine runs one Optuna study per family: each trial asks `search_space` for parameters,
builds fresh estimators with `build` and scores them by cross-validation.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna

from automl.api.decisions import with_decisions
from automl.api.errors import DataError
from automl.api.schema import name_problems
from automl.data.datasets import TASK_TYPES, DatasetInfo
from automl.data.input_kinds import FAMILY_INPUT_KINDS, kind_of

KINDS = ("classical", "deep")
EVALUATIONS = ("cv", "holdout")
"""What a family may accept: the data's input kinds, and ``"text"``, tables with at least
one free-text column (a family of that kind takes the table and reads its text)."""

SearchSpace = Callable[[optuna.Trial, DatasetInfo], dict[str, Any]]
Builder = Callable[[Mapping[str, Any], DatasetInfo, int, str], Any]
Grid = Callable[[DatasetInfo], Mapping[str, Sequence[Any]]]


@dataclass(frozen=True)
class Cost:
    """How a family's fit and prediction time grow with the training rows n, as a family
    declares it (`ModelFamily.cost`); the engine sizes its search and refit by it (see
    `automl.fitting.sizing`).

    Attributes:
        fit_rows: the exponent of n in the fit's time: 1 for linear models, trees and
            networks trained in epochs, 2 for kernel machines (an RBF SVM's fit is
            quadratic to cubic in n).
        predict_rows: the exponent of n in the time to predict one row: 0 for most
            models, 1 for nearest neighbours (every training row is compared) and kernel
            machines (support vectors grow with n).
        max_search_rows: the most training rows a search uses; above it, a stratified
            subsample of this many. None: no cap (a time limit may still set one).
        max_fit_rows: the most rows the refit and the analyses' fits use. None: no cap.
    """

    fit_rows: float = 1.0
    predict_rows: float = 0.0
    max_search_rows: int | None = None
    max_fit_rows: int | None = None


def qualified_name(thing) -> str:
    """``module.QualifiedName`` of a class or function: what `ModelFamily.saved_types`
    lists."""
    return f"{thing.__module__}.{thing.__qualname__}"


@dataclass(frozen=True)
class ModelFamily:
    """A model family, as registered by a plugin through `automl_register_models`.

    Attributes:
        name: unique id, lowercase letters, digits and underscores (``random_forest``).
        kind: ``"classical"`` or ``"deep"``; the report compares the two.
        task_types: a ``frozenset`` of the task types it handles (``"classification"``,
            ``"regression"``).
        input_kinds: a ``frozenset`` of the input kinds it accepts (``"tabular"``,
            ``"image"``, ``"sequence"``, ``"text"``: tables with a free-text column, see
            `automl.data.datasets.DatasetInfo.text_columns`).
        search_space: ``search_space(trial, info) -> params``; suggests values with
            ``trial.suggest_*`` and returns the parameters `build` takes.
        build: ``build(params, info, seed, device) -> estimator``; an unfitted estimator
            with scikit-learn's ``fit(X, y)`` / ``predict(X)`` (and ``predict_proba(X)``
            for classifiers that give probabilities). X arrives with shape
            ``(n, *info.input_shape)``; classification labels are integers
            ``0..n_classes-1``. `device` is the JAX platform the task chose (``"cpu"``,
            ``"gpu"``, ``"tpu"``); models that do not use JAX ignore it. The same seed
            must give the same model.
        grid: optional ``grid(info) -> {param: values}`` for the grid sampler; it must
            name exactly the parameters `search_space` suggests.
        description: one line for ``python -m automl plugins``.
        evaluation: how the family is fitted inside the one protocol every family of a
            task is scored by (the task's folds of the training split, one pruning step
            per fold; `automl.fitting.evaluate.task_folds`). ``"cv"``: a plain ``fit(X, y)`` per
            fold, which the engine may run in a worker process that it ends at the
            trial's time limit. ``"holdout"`` (models trained in epochs): ``fit(X, y,
            epoch_callback=f)`` per fold, the estimator setting its own early-stopping
            share aside from the fold's fitting rows (never the rows that score the
            fold); the engine checks the trial's time limit in ``f(epoch, estimator)``,
            which raises to end the fit. A refit under a time limit passes an ``f`` that
            returns True once the limit has passed: the fit should then end, keeping its
            best epoch so far (an estimator that ignores it runs to its end).
        stops_in_rounds: for a ``"cv"`` family (``"holdout"`` ones always do), whether
            its estimator's fit takes ``fit(X, y, epoch_callback=f)`` and calls
            ``f(round, estimator)`` after each round it adds (a boosting round), ending
            once ``f`` returns True with what it has learnt so far (the best round on its
            own early-stopping share). A refit under a time limit is then ended at its
            limit rather than stopped without a model, and is sized to more rows and
            fewer rounds than its trials had (`automl.fitting.sizing.plan_fit_rows`).
        starting_points: optional ``starting_points(info) -> [params, ...]``: parameter
            sets to try first in a new study (configurations known to work well for this
            kind of data), before the sampler takes over.
        population_params: names of suggested parameters that trials of one population
            may vary (``learning_rate``, ``dropout``, ...). The engine then asks for trials
            in populations (`[search] population` of them): the sampler draws every
            parameter for the first, and only these for the others, which share the rest
            (the architecture: one compiled program instead of one each). Empty: trials
            are not grouped.
        fit_population: optional, for ``"holdout"`` families with population_params:
            ``fit_population(estimators, X, y, validation_data, epoch_callbacks) ->
            [exception or None, ...] or None`` fits estimators that share every parameter
            but the population parameters, on the same data and together (the deep
            families vmap them), each as its ``fit`` would (the engine passes
            ``validation_data=None``: each fold's fitting rows, the stopping share set
            aside from them); the exception that stopped an
            estimator (its callback's) is returned in its place. The engine calls it when
            the task's device is an accelerator, asking a population's trials at once;
            their time limit counts from the population's start. Returning None declines
            (the members are then fitted one by one). On a CPU, and without this hook,
            a population's trials are asked and fitted one at a time.
        takes_tables: whether `build`'s estimators take tables as they come: a pandas
            DataFrame of typed columns (numbers with blanks, categories, dates, text; see
            `automl.data.tables`), for models with their own handling of categories and
            missing values. False (the default): the engine puts its `TableEncoder` in
            front of them, fitted on the same training rows, so they get one numeric
            matrix without missing values.
        cost: how its fit and prediction time grow with the training rows (`Cost`): the
            engine searches a family on a stratified subsample where its declared caps or
            a trial's time limit call for one, and refits it on as many rows as fit the
            limit (see `automl.fitting.sizing`). The default is linear, without caps.
        report_params: suggested parameters the report shows for this family: each gets
            a leaderboard column (the best trial's value) and a plot of every completed
            trial's validation score against it. The deep families declare
            ``("depth",)``, so the report answers "does depth help?".
        depth_param: the suggested parameter that sets the network's depth (hidden
            layers or blocks), if any: the depth sweep (``[report] depth_sweep``) refits
            the best configuration at every value of its searched range. None (the
            default): no sweep. The engine infers nothing from a parameter's name or from
            `kind`.
        runs_on_device: whether its estimators compute with JAX on the task's device (the
            `device` that `build` is given): the engine asks JAX for a device only where
            such a family runs, so a run without one never imports JAX.
        saved_types: the exact names (``module.QualifiedName``) of the classes and
            functions, other than scikit-learn's classes and the engine's table encoder,
            that the family's fitted estimators hold when saved with skops (its own
            estimator class, a function given to a ``FunctionTransformer``). A saved
            model holding any other name is refused (`automl.engine.saved_models`).
    """

    name: str
    kind: str
    task_types: frozenset[str]
    input_kinds: frozenset[str]
    search_space: SearchSpace
    build: Builder
    grid: Grid | None = None
    description: str = ""
    evaluation: str = "cv"
    stops_in_rounds: bool = False
    starting_points: Callable[[DatasetInfo], Sequence[Mapping[str, Any]]] | None = None
    population_params: frozenset[str] = frozenset()
    fit_population: Callable[..., Sequence[Exception | None]] | None = None
    takes_tables: bool = False
    report_params: tuple[str, ...] = ()
    cost: Cost = Cost()
    depth_param: str | None = None
    runs_on_device: bool = False
    saved_types: frozenset[str] = frozenset()

    def make_estimator(self, params: Mapping[str, Any], info: DatasetInfo, seed: int,
                       device: str, *, encoding: str = "auto"):
        """`build`'s estimator, behind the engine's table encoder where the data is a
        table and the family does not take tables itself (`takes_tables`). `encoding`
        is the encoder's treatment of categories (`automl.data.tables.TableEncoder`). A
        classifier of a task that asks for balanced decisions is wrapped in
        `automl.api.decisions.PriorCorrected`."""
        estimator = self.build(params, info, seed, device)
        if not kind_of(info).is_table or self.takes_tables:
            return with_decisions(estimator, info)
        from automl.data.tables import EncodedModel, TableEncoder
        return with_decisions(EncodedModel(estimator, TableEncoder(encoding, seed)), info)

    @property
    def fit_stops_itself(self) -> bool:
        """Whether a fit given ``epoch_callback`` ends itself when the callback says so,
        keeping what it has learnt: families trained in epochs and those that
        declare `stops_in_rounds`."""
        return self.evaluation == "holdout" or self.stops_in_rounds

    def shared_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters that trials of one population share: all but
        `population_params`."""
        return shared_params(params, self.population_params)

    def population_groups(self, population: Sequence[Mapping[str, Any]]) -> list[list[int]]:
        """Indices of a population's parameter sets, grouped by what they must share to be
        fitted together (see `population_groups`)."""
        return population_groups(population, self.population_params)

    def accepts(self, info: DatasetInfo) -> bool:
        """Whether this family can model the dataset described by `info`: a table with a
        free-text column is both ``"tabular"`` and ``"text"``."""
        kinds = {info.input_kind, *(["text"] if info.text_columns else [])}
        return info.task_type in self.task_types and bool(kinds & self.input_kinds)

    def check_accepts(self, info: DatasetInfo) -> None:
        """Raise a DataError naming this family and what it accepts unless it can model
        the dataset `info` describes."""
        if not self.accepts(info):
            raise DataError(
                f"model family '{self.name}' cannot model {info.input_kind} "
                f"{info.task_type} data", expected=f"{' or '.join(sorted(self.input_kinds))}"
                f" input for {' or '.join(sorted(self.task_types))}",
                found=f"{info.input_kind} input of shape {info.input_shape} for "
                      f"{info.task_type}")

    def problems(self) -> list[str]:
        """What is wrong with this registration (empty when it is valid)."""
        found = name_problems(self.name)
        if self.kind not in KINDS:
            found.append(f"kind {self.kind!r} must be one of {', '.join(KINDS)}")
        if not self.task_types or not set(self.task_types) <= set(TASK_TYPES):
            found.append(f"task_types {sorted(self.task_types)} must be a non-empty subset "
                         f"of {', '.join(TASK_TYPES)}")
        if not self.input_kinds or not set(self.input_kinds) <= set(FAMILY_INPUT_KINDS):
            found.append(f"input_kinds {sorted(self.input_kinds)} must be a non-empty subset "
                         f"of {', '.join(FAMILY_INPUT_KINDS)}")
        if "text" in self.input_kinds and not self.takes_tables:
            found.append("a family of input kind 'text' takes the table (takes_tables)")
        for attribute in ("search_space", "build"):
            if not callable(getattr(self, attribute)):
                found.append(f"{attribute} must be callable")
        if self.fit_population is not None and not (self.population_params
                                                    and self.evaluation == "holdout"):
            found.append("fit_population needs population_params and evaluation "
                         "'holdout'")
        for attribute in ("grid", "starting_points", "fit_population"):
            if getattr(self, attribute) is not None and not callable(getattr(self, attribute)):
                found.append(f"{attribute} must be callable or None")
        if not isinstance(self.cost, Cost):
            found.append("cost must be an automl.Cost")
        if not all(isinstance(name, str) for name in self.report_params):
            found.append("report_params must be a tuple of parameter names")
        if self.evaluation not in EVALUATIONS:
            found.append(f"evaluation {self.evaluation!r} must be one of "
                         f"{', '.join(EVALUATIONS)}")
        return found


def shared_params(params: Mapping[str, Any], population_params: Collection[str]
                  ) -> dict[str, Any]:
    """What parameter sets of one population must share: every parameter but
    `population_params`."""
    return {name: value for name, value in params.items() if name not in population_params}


def population_groups(population: Sequence[Mapping[str, Any]],
                      population_params: Collection[str]) -> list[list[int]]:
    """Indices of the parameter sets in `population`, grouped by their `shared_params`, in
    order of first appearance: the one rule for which trials (or estimators) can be fitted
    together, used by the engine and by a family's own ``fit_population``."""
    groups: dict[str, list[int]] = {}
    for index, params in enumerate(population):
        shared = sorted(shared_params(params, population_params).items())
        groups.setdefault(repr(shared), []).append(index)
    return list(groups.values())
