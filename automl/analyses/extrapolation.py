"""Would more data change the answer? Each family's learning curve fitted with a
saturating power law and extrapolated, with a bootstrap band, and the compared pair's
predicted crossing.

The curve is score = a - b n^(-c) (a + b n^(-c) for a metric to minimise; a score whose
points lie in [0, 1] rises to at most 1, a loss falls to at least 0), as in the
learning-curve literature (Mukherjee et al., 2003; Viering and Loog, 2022), fitted by
least squares to the mean score at each training size of the learning curves (their
points are test scores: this estimates, it chooses nothing). The band: the fit repeated
on curves resampled from the seeds' points at each size (`BOOTSTRAP` times), its 2.5th
and 97.5th percentiles at 2x, 5x and 10x the training rows.

The fit is checked before it is believed: fitted again on the sizes up to half the data,
its prediction at the full size is compared with the point measured there. Where the
error is larger than `reliable_error` (twice the seeds' spread at the full size, at least
1% of the score) the extrapolation is marked unreliable, and the report says so instead
of drawing it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from automl.analyses.api import Analysis, AnalysisContext
from automl.analyses.measures import families_to_compare
from automl.fitting.budget import NO_CUTOFF, StageCutoff

MULTIPLES = (2, 5, 10)
BOOTSTRAP = 200
MIN_SIZES = 3
"""The fewest training sizes a curve is fitted on (three parameters)."""
COLUMNS = ["family", "kind", "n_full", "measured_full", "a", "b", "c", "check_predicted",
           "check_error", "check_bound", "reliable",
           *[f"{part}_{m}x" for m in MULTIPLES for part in ("predicted", "low", "high")]]
CROSSING_COLUMNS = ["family_a", "family_b", "leader_now", "crosses", "crossing_rows",
                    "low_rows", "high_rows", "share_of_fits", "reliable",
                    "measured_crossing_rows", "early_crossing_rows"]


def power_law(n: np.ndarray, a: float, b: float, c: float, sign: float) -> np.ndarray:
    """a - sign b n^(-c): rises to a for sign 1 (a score), falls to a for -1 (a loss)."""
    return a - sign * b * np.power(n, -c)


def fit_curve(n: np.ndarray, score: np.ndarray, sign: float) -> tuple[float, float, float]:
    """(a, b, c) of the power law through the points, b >= 0 and 0 < c <= 2. A score
    whose points all lie in [0, 1] (accuracy, AUC, R2 near the top) rises to at most 1,
    and a loss falls to at least 0: an asymptote past them is no prediction."""
    from scipy.optimize import curve_fit
    n, score = np.asarray(n, np.float64), np.asarray(score, np.float64)
    low, high = -np.inf, np.inf
    if sign > 0 and score.min() >= 0 and score.max() <= 1:
        high = 1.0
    elif sign < 0 and score.min() >= 0:
        low = 0.0
    first = float(np.clip(score[np.argmax(n)], low + 1e-9, high - 1e-9))
    start = (first, abs(score.max() - score.min()) * n.min() ** 0.5 + 1e-9, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found, _ = curve_fit(lambda x, a, b, c: power_law(x, a, b, c, sign), n, score,
                             p0=start, bounds=([low, 0.0, 1e-3], [high, np.inf, 2.0]),
                             maxfev=5000)
    return tuple(float(v) for v in found)


def reliable_error(full_scores: np.ndarray) -> float:
    """How far the check's prediction may miss the measured full-size score."""
    return max(2 * float(np.std(full_scores)), 0.01 * abs(float(np.mean(full_scores))),
               1e-9)


def extrapolate(points: pd.DataFrame, sign: float, seed: int,
                cutoff: StageCutoff = NO_CUTOFF) -> dict | None:
    """One family's fit, check and extrapolation from its learning-curve `points`
    (n_train, seed, score); None with fewer than `MIN_SIZES` sizes. The band is drawn
    from the bootstrap fits made before `cutoff` (none: no band)."""
    points = points.dropna(subset=["score"])
    means = points.groupby("n_train")["score"].mean()
    if len(means) < MIN_SIZES:
        return None
    n_full = int(means.index.max())
    full = points.loc[points.n_train == n_full, "score"].to_numpy()
    try:
        a, b, c = fit_curve(means.index.to_numpy(), means.to_numpy(), sign)
    except (RuntimeError, ValueError):  # no least-squares solution within the bounds
        return None
    row = {"n_full": n_full, "measured_full": float(full.mean()), "a": a, "b": b, "c": c}
    early = means[means.index <= n_full / 2]
    row.update(check_predicted=np.nan, check_error=np.nan,
               check_bound=reliable_error(full), reliable=False)
    if len(early) >= MIN_SIZES:
        try:
            checked = fit_curve(early.index.to_numpy(), early.to_numpy(), sign)
            row["early_fit"] = checked  # for the crossing's check; not written
            predicted = float(power_law(n_full, *checked, sign))
            row.update(check_predicted=predicted, check_error=abs(predicted - full.mean()),
                       reliable=bool(abs(predicted - full.mean()) <= row["check_bound"]))
        except (RuntimeError, ValueError):
            pass
    fits = _bootstrap(points, sign, seed, cutoff)
    for multiple in MULTIPLES:
        n = n_full * multiple
        values = [power_law(n, *fit, sign) for fit in fits]
        row[f"predicted_{multiple}x"] = float(power_law(n, a, b, c, sign))
        row[f"low_{multiple}x"], row[f"high_{multiple}x"] = (
            (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5)))
            if values else (np.nan, np.nan))
    row["fits"] = fits  # for the crossing; not written
    row["means"] = means  # not written
    return row


def measured_crossing(a: dict, b: dict) -> float:
    """The training size from which the measured mean curves keep the order they have at
    the full size, where it differs from their order at the smallest size they share
    (NaN: the same order throughout)."""
    shared = a["means"].index.intersection(b["means"].index)
    ahead = np.sign((a["means"][shared] - b["means"][shared]).to_numpy())
    if len(ahead) < 2 or ahead[0] == ahead[-1] or ahead[-1] == 0:
        return np.nan
    changed = np.flatnonzero(ahead != ahead[-1])
    return float(shared[changed[-1] + 1])


def early_crossing(a: dict, b: dict, sign: float) -> float:
    """Where the curves fitted on the sizes up to half the data predict the pair's order
    to change, from the smallest size to 10x the full size (NaN: nowhere, or no such
    fits): the check of a crossing, beside `measured_crossing`."""
    if "early_fit" not in a or "early_fit" not in b:
        return np.nan
    start = max(a["means"].index.min(), b["means"].index.min())
    grid = np.geomspace(start, max(a["n_full"], b["n_full"]) * MULTIPLES[-1], 400)
    ahead = np.sign(sign * (power_law(grid, *a["early_fit"], sign)
                            - power_law(grid, *b["early_fit"], sign)))
    changed = np.flatnonzero(ahead != ahead[0])
    return float(grid[changed[0]]) if len(changed) else np.nan


def _bootstrap(points: pd.DataFrame, sign: float, seed: int,
               cutoff: StageCutoff = NO_CUTOFF) -> list[tuple]:
    """Fits to curves whose mean at each size is of the seeds' points drawn again, until
    `cutoff` is reached. A draw seen before reuses its fit: with one to three seeds a
    size, most of the `BOOTSTRAP` draws repeat one of a few curves."""
    rng = np.random.default_rng(seed)
    groups = [(n, group["score"].to_numpy()) for n, group in points.groupby("n_train")]
    n = np.array([size for size, _ in groups], np.float64)
    fitted: dict[tuple, tuple | None] = {}
    fits = []
    for _ in range(BOOTSTRAP):
        score = np.array([rng.choice(values, len(values)).mean() for _, values in groups])
        key = tuple(score)
        if key not in fitted:
            if cutoff.reached("the learning-curve extrapolation's band"):
                break
            try:
                fitted[key] = fit_curve(n, score, sign)
            except (RuntimeError, ValueError):
                fitted[key] = None
        if fitted[key] is not None:
            fits.append(fitted[key])
    return fits


def crossing(a: dict, b: dict, sign: float, grid: np.ndarray) -> dict:
    """Whether family b's predicted curve passes family a's beyond the data, and at about
    how many training rows (the first point of `grid` where it does), from the fit and
    from each bootstrap pair of fits."""
    def first_pass(fit_a, fit_b) -> float:
        """Where b's curve first passes a's beyond the data (NaN where it never does,
        or where the fits already put b ahead at the data's size, against what was
        measured)."""
        ahead = sign * (power_law(grid, *fit_b, sign) - power_law(grid, *fit_a, sign)) > 0
        if ahead[0] or not ahead.any():
            return np.nan
        return float(grid[np.argmax(ahead)])
    leader = a if sign * (a["measured_full"] - b["measured_full"]) >= 0 else b
    behind = b if leader is a else a
    found = first_pass((leader["a"], leader["b"], leader["c"]),
                       (behind["a"], behind["b"], behind["c"]))
    samples = [first_pass(fa, fb) for fa, fb in zip(leader["fits"], behind["fits"],
                                                    strict=False)]
    crossed = np.array([s for s in samples if s == s])
    return {"leader_now": leader["family"], "crosses": found == found,
            "crossing_rows": found,
            "low_rows": float(np.percentile(crossed, 2.5)) if len(crossed) else np.nan,
            "high_rows": float(np.percentile(crossed, 97.5)) if len(crossed) else np.nan,
            "share_of_fits": len(crossed) / len(samples) if samples else np.nan,
            "reliable": bool(leader["reliable"] and behind["reliable"])}


def extrapolation(context: AnalysisContext) -> dict[str, pd.DataFrame]:
    """The `extrapolation` table (a row per family with a curve) and the `crossing`
    table (the compared pairs)."""
    curves = context.tables.get("learning_curves", pd.DataFrame())
    sign = 1.0 if context.metric.direction == "maximize" else -1.0
    rows = {}
    for family, points in curves.groupby("family", sort=False):
        if context.cutoff.reached("the learning-curve extrapolation"):
            break
        found = extrapolate(points, sign, context.seed, context.cutoff)
        if found is not None:
            rows[family] = {"family": family, "kind": points["kind"].iloc[0], **found}
    table = pd.DataFrame([{k: v for k, v in row.items() if k in COLUMNS}
                          for row in rows.values()], columns=COLUMNS)
    crossings = []
    # The compared pairs; without seeds to compare them over, the best classical and
    # deep families by validation all the same.
    for a, b in context.pairs or families_to_compare(context.results, context.metric):
        if a in rows and b in rows:
            n_full = max(rows[a]["n_full"], rows[b]["n_full"])
            grid = np.geomspace(n_full, n_full * MULTIPLES[-1], 200)
            crossings.append({"family_a": a, "family_b": b,
                              **crossing(rows[a], rows[b], sign, grid),
                              "measured_crossing_rows": measured_crossing(rows[a], rows[b]),
                              "early_crossing_rows": early_crossing(rows[a], rows[b], sign)})
    return {"extrapolation": table,
            "crossing": pd.DataFrame(crossings, columns=CROSSING_COLUMNS)}


EXTRAPOLATION = Analysis(
    name="extrapolation", title="learning curves extrapolated", run=extrapolation,
    order=350, cost=0.3,
    tables={"extrapolation": COLUMNS, "crossing": CROSSING_COLUMNS},
    applies=lambda context: not context.tables.get(
        "learning_curves", pd.DataFrame()).empty)
