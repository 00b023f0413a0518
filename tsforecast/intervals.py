"""Prediction intervals: split-conformal calibration, quantile levels and the pinball loss, the
`y_hat-lo-<level>` / `y_hat-hi-<level>` columns, and interval scores for metrics.json.

Conformal (the default): the absolute errors of the trained model on the validation windows,
each divided by its window's spread (so several series and calm and busy stretches pool into one
set of scores), one column per horizon step. The interval at step h is `y_hat ± q_h · spread`
with `q_h` the ceil((n + 1) · level)-th smallest of the n scores of step h: the finite-sample
correction that makes the coverage at least `level` when future scaled errors are exchangeable
with the validation ones. The spread is the window's recent movement (`recent_spread`; a
normalised nonconformity score in the sense of Papadopoulos et al. 2008 and Lei et al. 2018), so
intervals widen when a series turns volatile and narrow when it calms down; `series` uses the
series' standard deviation instead, one width per series.

Quantile: the network outputs the quantiles 0.5 ± level/2 of every requested level, trained with
the pinball loss, so intervals can be asymmetric; only the trained levels exist afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from statistics import NormalDist

import jax
import jax.numpy as jnp
import numpy as np

from .config import IntervalConfig, check_level
from .errors import ArtifactError, ConfigError
from .metrics import coverage, interval_width, mean_defined, msis


def level_name(level: float) -> str:
    """80.0 -> "80", 97.5 -> "97.5": the level as it appears in column names and metrics.json."""
    return f"{level:g}"


def interval_columns(level: float) -> tuple[str, str]:
    """The Nixtla names of the bounds at `level`: (`y_hat-lo-80`, `y_hat-hi-80`)."""
    name = level_name(level)
    return f"y_hat-lo-{name}", f"y_hat-hi-{name}"


def quantile_levels(levels: Sequence[float]) -> tuple[float, ...]:
    """The quantiles a quantile model predicts for `levels` (percent, ascending): the lower
    bounds widest first, the median, the upper bounds narrowest first. Sorted, with the median in
    the middle, which is what the non-crossing head of `models.QuantileForecaster` relies on."""
    tails = [(1.0 - level / 100.0) / 2.0 for level in levels]
    return tuple([*reversed(tails), 0.5, *(1.0 - t for t in tails)])


def quantile_index(levels: Sequence[float], level: float) -> tuple[int, int]:
    """Positions of the lower and upper bound of `level` in `quantile_levels(levels)`."""
    i = list(levels).index(level)
    return len(levels) - 1 - i, len(levels) + 1 + i


def pinball_loss(quantiles: Sequence[float]) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """Elementwise pinball loss <float32>[batch, horizon], averaged over the quantiles, from
    predictions <float32>[batch, horizon, Q] and targets <float32>[batch, horizon].

    References: Koenker & Bassett (1978), "Regression quantiles", Econometrica 46(1)."""
    taus = jnp.asarray(quantiles, jnp.float32)

    def loss(pred: jax.Array, target: jax.Array) -> jax.Array:
        err = target[..., None] - pred
        return jnp.mean(jnp.maximum(taus * err, (taus - 1.0) * err), axis=-1)

    return loss


def min_calibration_windows(level: float) -> int:
    """Fewest scores n with ceil((n + 1) · level) <= n, i.e. a finite conformal quantile."""
    n = max(1, math.floor(level / (100.0 - level)))
    while math.ceil((n + 1) * level / 100.0 - 1e-9) > n:
        n += 1
    return n


def conformal_quantile(scores: np.ndarray, level: float) -> np.ndarray:
    """Per-step conformal radius <float>[H] from scores <float>[n, H]: the ceil((n + 1) · level)-th
    smallest score of each step. Call `min_calibration_windows` first: too few scores raise.

    References: Vovk, Gammerman & Shafer (2005), "Algorithmic Learning in a Random World";
    Angelopoulos & Bates (2021), "A Gentle Introduction to Conformal Prediction", sec. 1."""
    n = scores.shape[0]
    rank = math.ceil((n + 1) * level / 100.0 - 1e-9)
    if rank > n:
        raise ConfigError(
            f"level {level:g} needs {min_calibration_windows(level)} calibration scores, got {n}"
        )
    return np.partition(scores, rank - 1, axis=0)[rank - 1]


# A flat stretch (a constant window, zeros of an intermittent series) still gets an interval: the
# recent spread is at least this share of the series' standard deviation.
RECENT_SPREAD_FLOOR = 0.1


def recent_spread(
    history: np.ndarray, starts: np.ndarray, lookback: int, season: int, std: np.ndarray
) -> np.ndarray:
    """<float64>[n]: how much the series moved over each window's inputs, rows `starts[j]` ..
    `starts[j] + lookback - 1` of `history` (the target in the model's units, series after
    series): the mean absolute change over one `season` (one step when the lookback holds fewer
    than two seasons), at least RECENT_SPREAD_FLOOR × the window's series' `std` <float>[n].
    Linear in the rows, whatever the number of windows: one cumulative sum."""
    lag = season if 2 * season <= lookback else 1
    values = np.asarray(history, dtype=np.float64)
    total = np.concatenate([[0.0], np.cumsum(np.abs(values[lag:] - values[:-lag]))])
    # Change k compares rows k + lag and k; a window's are k = start .. start + lookback - lag - 1.
    moved = (total[starts + lookback - lag] - total[starts]) / (lookback - lag)
    return np.maximum(moved, RECENT_SPREAD_FLOOR * np.asarray(std, dtype=np.float64))


def _listing(levels: Sequence[float]) -> str:
    return ", ".join(level_name(level) for level in levels)


def resolve_levels(
    requested: Sequence[float], cfg: IntervalConfig, n_scores: int | None
) -> tuple[float, ...]:
    """Check the `--level` values asked of a model and return them sorted and unique.

    `n_scores` is how many conformal scores per step the model directory holds (None: none, as
    in directories written before intervals existed). Errors name the levels that are available."""
    levels = tuple(sorted({float(level) for level in requested}))
    if not levels:
        return levels
    if cfg.method == "quantile":
        available = (
            f"{_listing(cfg.levels)} (this quantile model's levels; retrain with --level to "
            "change them)"
        )
        for level in levels:
            check_level(level, available)
            if level not in cfg.levels:
                raise ConfigError(
                    f"--level {level:g} is not one this quantile model was trained for; "
                    f"available: {available}"
                )
        return levels
    for level in levels:
        check_level(level)
    if n_scores is None:
        raise ArtifactError(
            "this model directory has no conformal calibration scores "
            "(it predates prediction intervals); retrain it to predict with --level"
        )
    widest = 100.0 * n_scores / (n_scores + 1)
    for level in levels:
        if min_calibration_windows(level) > n_scores:
            raise ConfigError(
                f"--level {level:g} needs {min_calibration_windows(level)} calibration windows and "
                f"the model has {n_scores}; available: levels up to "
                f"{math.floor(widest * 10) / 10:g} (or retrain with a larger --val-size)"
            )
    return levels


def interval_scores(
    y: np.ndarray, lo: np.ndarray, hi: np.ndarray, scale: float, level: float
) -> dict[str, float]:
    """Coverage (0..1), mean width (original units) and MSIS of one series' intervals."""
    return {
        "coverage": coverage(y, lo, hi),
        "width": interval_width(lo, hi),
        # M4's MSIS is defined for levels in percent from 1 up; below that it would reject the
        # level.
        "msis": msis(y, lo, hi, scale, level) if level >= 1 else float("nan"),
    }


def mean_scores(rows: list[dict[str, float]]) -> dict[str, float]:
    """Average per-series scores over series, as M4 does."""
    return {key: float(mean_defined([row[key] for row in rows])) for key in rows[0]}


def conformal_bounds(
    point: np.ndarray, scores: np.ndarray, spread: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds <float>[..., H] around point forecasts <float>[..., H], from scores <float>[n, H]
    (errors in units of their window's spread) and each forecast's spread <float>[...]."""
    radius = conformal_quantile(scores, level) * spread[..., None]
    return point - radius, point + radius


def seasonal_naive_bounds(
    history: np.ndarray, point: np.ndarray, season: int, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds <float64>[H] around seasonal naive's forecast `point` of a series too short for
    the network: normal with the spread of the series' own seasonal differences (one-step ones
    when it holds no two seasons), growing with the square root of the seasons ahead (steps
    ahead for one-step differences), the textbook seasonal naive interval (Hyndman &
    Athanasopoulos, "Forecasting: Principles and Practice", 3rd ed., 5.5). A series of one row
    has no differences; its interval is its value's magnitude on either side."""
    values = np.asarray(history, dtype=np.float64)
    lag = season if values.size > season else 1
    changes = values[lag:] - values[:-lag]
    sigma = math.sqrt(float(np.mean(changes**2))) if changes.size else abs(float(values[-1]))
    ahead = np.arange(len(point)) // lag + 1
    radius = NormalDist().inv_cdf(0.5 + level / 200.0) * sigma * np.sqrt(ahead)
    return point - radius, point + radius


def validation_interval_metrics(
    targets: np.ndarray,
    forecasts: dict[str, np.ndarray],
    spread: np.ndarray,
    scales: np.ndarray,
    levels: Sequence[float],
    quantile_bounds: dict[float, tuple[np.ndarray, np.ndarray]] | None = None,
    to_original: Callable[[np.ndarray], np.ndarray] = lambda x: x,
) -> dict:
    """Interval scores on the validation windows, out of sample: conformal radii come from the
    earlier half of every series' validation windows and are scored on the later half.

    targets and each point forecast: <float>[S, V, H] in the model's units (S series, V windows
    in time order), which `to_original` maps to the original units the scores are taken in;
    spread: <float>[S, V], each window's spread in the model's units (see `recent_spread`);
    scales: <float>[S], each series' MASE scale.
    `forecasts` maps a method ("served", "seasonal_naive") to its point forecasts, which get
    conformal intervals, except "served" when `quantile_bounds` ({level: (lo, hi)}, each
    <float>[S, V, H]) gives the quantile model's own. Per method and level: coverage, width and
    MSIS averaged over series, or None where the calibration half is too small for the level."""
    n_series, n_windows, _ = targets.shape
    n_cal = n_windows // 2
    result: dict = {
        "scored_on": f"the later {n_windows - n_cal} of {n_windows} validation windows per series",
        "calibrated_on": (
            f"the earlier {n_cal}, for conformal radii (a saved conformal model uses all "
            f"{n_windows})"
        ),
    }
    if n_cal == 0:
        result["scored_on"] = (
            "nothing: interval scores need at least 2 validation windows per series"
        )
        return result
    held = to_original(targets[:, n_cal:])
    for method, point in forecasts.items():
        scores = (np.abs(point[:, :n_cal] - targets[:, :n_cal]) / spread[:, :n_cal, None]).reshape(
            -1, targets.shape[2]
        )
        per_level: dict[str, dict[str, float] | None] = {}
        for level in levels:
            if method == "served" and quantile_bounds is not None:
                lo, hi = (bound[:, n_cal:] for bound in quantile_bounds[level])
            elif min_calibration_windows(level) > scores.shape[0]:
                per_level[level_name(level)] = None
                continue
            else:
                lo, hi = conformal_bounds(point[:, n_cal:], scores, spread[:, n_cal:], level)
            lo, hi = to_original(lo), to_original(hi)
            per_level[level_name(level)] = mean_scores(
                [interval_scores(held[i], lo[i], hi[i], scales[i], level) for i in range(n_series)]
            )
        result[method] = per_level
    return result
