"""Forecast accuracy metrics on numpy arrays, with the M4 competition's definitions.

Point metrics take actuals `y` and forecasts `y_hat` of the same shape `<float>[..., h]` and
return one float: the mean over all elements. To score a panel the M4 way, compute the metrics
per series and average the per-series values (`forecast_scores` does the per-series part: every
score of one forecast or one series' windows, the one function `evaluate`, `backtest`,
`monitor` and training's validation table score with).
Inputs must be finite; NaN handling is the caller's job.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "coverage",
    "forecast_scores",
    "interval_width",
    "mae",
    "mase",
    "mase_scale",
    "msis",
    "owa",
    "rmse",
    "smape",
]


def _pair(a: ArrayLike, b: ArrayLike, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape, got {a.shape} and {b.shape}"
        )
    if a.size == 0:
        raise ValueError(f"{names[0]} must not be empty, got shape {a.shape}")
    return a, b


def _check_scale(scale: float) -> float:
    scale = float(scale)
    if not scale >= 0:
        raise ValueError(f"scale must be >= 0, got {scale}")
    return scale


def mae(y: ArrayLike, y_hat: ArrayLike) -> float:
    """Mean absolute error.

    Args:
        y: actuals, `<float>[..., h]`.
        y_hat: forecasts, `<float>[..., h]`.

    Returns:
        mean of |y - y_hat| over all elements.

    References: Hyndman & Koehler (2006), "Another look at measures of forecast accuracy", IJF.
    """
    y, y_hat = _pair(y, y_hat, ("y", "y_hat"))
    return float(np.mean(np.abs(y - y_hat)))


def rmse(y: ArrayLike, y_hat: ArrayLike) -> float:
    """Root mean squared error.

    Args:
        y: actuals, `<float>[..., h]`.
        y_hat: forecasts, `<float>[..., h]`.

    Returns:
        sqrt of the mean of (y - y_hat)**2 over all elements.

    References: Hyndman & Koehler (2006), "Another look at measures of forecast accuracy", IJF.
    """
    y, y_hat = _pair(y, y_hat, ("y", "y_hat"))
    return float(np.sqrt(np.mean((y - y_hat) ** 2)))


def smape(y: ArrayLike, y_hat: ArrayLike) -> float:
    """Symmetric mean absolute percentage error, in percent (0..200), as scored in M4.

    Args:
        y: actuals, `<float>[..., h]`.
        y_hat: forecasts, `<float>[..., h]`.

    Returns:
        mean of 200 * |y - y_hat| / (|y| + |y_hat|); a pair with y == y_hat == 0 counts as 0.

    References: Makridakis, Spiliotis & Assimakopoulos (2020), "The M4 Competition", IJF 36(1).
    """
    y, y_hat = _pair(y, y_hat, ("y", "y_hat"))
    num = 200.0 * np.abs(y - y_hat)
    den = np.abs(y) + np.abs(y_hat)
    # den == 0 only when both are 0, which is a perfect forecast, so 0 error rather than NaN.
    ratio = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return float(np.mean(ratio))


def mase_scale(insample: ArrayLike, season_length: int) -> float:
    """In-sample MAE of the seasonal naive forecast: the MASE denominator.

    Args:
        insample: the training part of one series, `<float>[n]`.
        season_length: seasonal period m (1 for non-seasonal data).

    Returns:
        mean |y_t - y_{t-m}| over t = m..n-1. With n <= m no lag-m pair exists, so the lag-1
        scale is used instead. A constant series gives 0; `mase` then returns NaN.

    References: Makridakis, Spiliotis & Assimakopoulos (2020), "The M4 Competition", IJF 36(1).
    """
    x = np.asarray(insample, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"insample must be 1-D, got shape {x.shape}")
    if season_length < 1:
        raise ValueError(f"season_length must be >= 1, got {season_length}")
    if x.size < 2:
        raise ValueError(f"insample must have at least 2 points, got {x.size}")
    m = season_length if x.size > season_length else 1
    return float(np.mean(np.abs(x[m:] - x[:-m])))


def mase(y: ArrayLike, y_hat: ArrayLike, scale: float) -> float:
    """Mean absolute scaled error.

    Args:
        y: actuals, `<float>[..., h]`.
        y_hat: forecasts, `<float>[..., h]`.
        scale: the series' `mase_scale`.

    Returns:
        mae(y, y_hat) / scale, or NaN when scale == 0 (constant in-sample: MASE is undefined).

    References: Hyndman & Koehler (2006), "Another look at measures of forecast accuracy", IJF.
    """
    scale = _check_scale(scale)
    err = mae(y, y_hat)
    if scale == 0:
        return float("nan")
    return err / scale


def owa(smape_model: float, mase_model: float, smape_naive2: float, mase_naive2: float) -> float:
    """Overall weighted average of sMAPE and MASE relative to Naive2 (1.0 = as good as Naive2).

    Pass set-wide averages, not per-series values: M4 computes OWA from the averages.

    Returns:
        0.5 * (smape_model / smape_naive2 + mase_model / mase_naive2).

    References: Makridakis, Spiliotis & Assimakopoulos (2020), "The M4 Competition", IJF 36(1).
    """
    if smape_naive2 <= 0 or mase_naive2 <= 0:
        raise ValueError(f"Naive2 scores must be > 0, got smape={smape_naive2}, mase={mase_naive2}")
    return 0.5 * (smape_model / smape_naive2 + mase_model / mase_naive2)


def coverage(y: ArrayLike, lo: ArrayLike, hi: ArrayLike) -> float:
    """Empirical coverage of a prediction interval.

    Args:
        y: actuals, `<float>[..., h]`.
        lo: lower bounds, `<float>[..., h]`.
        hi: upper bounds, `<float>[..., h]`.

    Returns:
        fraction (0..1) of elements with lo <= y <= hi.

    References: Gneiting & Raftery (2007), "Strictly proper scoring rules...", JASA 102(477).
    """
    y, lo = _pair(y, lo, ("y", "lo"))
    _, hi = _pair(y, hi, ("y", "hi"))
    return float(np.mean((y >= lo) & (y <= hi)))


def interval_width(lo: ArrayLike, hi: ArrayLike) -> float:
    """Mean width of a prediction interval.

    Args:
        lo: lower bounds, `<float>[..., h]`.
        hi: upper bounds, `<float>[..., h]`.

    Returns:
        mean of hi - lo over all elements.

    References: Gneiting & Raftery (2007), "Strictly proper scoring rules...", JASA 102(477).
    """
    lo, hi = _pair(lo, hi, ("lo", "hi"))
    return float(np.mean(hi - lo))


def msis(y: ArrayLike, lo: ArrayLike, hi: ArrayLike, scale: float, level: float) -> float:
    """Mean scaled interval score of a central prediction interval, as scored in M4.

    Args:
        y: actuals, `<float>[..., h]`.
        lo: lower bounds, `<float>[..., h]`.
        hi: upper bounds, `<float>[..., h]`.
        scale: the series' `mase_scale`.
        level: nominal coverage in percent, e.g. 95 (so alpha = 0.05). Values below 1 are
            rejected, as they are almost surely fractions (0.95) meant as percent.

    Returns:
        mean((hi - lo) + 2/alpha * (lo - y) * [y < lo] + 2/alpha * (y - hi) * [y > hi]) / scale,
        or NaN when scale == 0.

    References: Makridakis, Spiliotis & Assimakopoulos (2020), "The M4 Competition", IJF 36(1).
    """
    if not 1 <= level < 100:
        raise ValueError(f"level is in percent (e.g. 95) and must be in [1, 100), got {level}")
    scale = _check_scale(scale)
    y, lo = _pair(y, lo, ("y", "lo"))
    _, hi = _pair(y, hi, ("y", "hi"))
    alpha = 1.0 - level / 100.0
    penalty_lo = (2.0 / alpha) * (lo - y) * (y < lo)
    penalty_hi = (2.0 / alpha) * (y - hi) * (y > hi)
    score = float(np.mean((hi - lo) + penalty_lo + penalty_hi))
    if scale == 0:
        return float("nan")
    return score / scale


def mean_defined(values: ArrayLike, axis: int | None = None) -> np.ndarray:
    """The mean of the values that are not NaN, NaN where none is (the MASE of a series that is
    constant in-sample is undefined), without numpy's "Mean of empty slice" warning, which
    would reach a user's terminal."""
    x = np.asarray(values, dtype=np.float64)
    defined = ~np.isnan(x)
    with np.errstate(invalid="ignore"):
        return np.where(defined, x, 0.0).sum(axis=axis) / defined.sum(axis=axis)


def forecast_scores(
    y: np.ndarray,
    y_hat: np.ndarray,
    scale: float | None,
    bounds: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> dict[str, float]:
    """Every score of one forecast (or of one series' windows, each metric the mean over all of
    them), as `evaluate`, `backtest`, `monitor` and the validation table report it.

    Args:
        y, y_hat: the actuals and the forecast, `<float64>[h]` (or `[n_windows, h]`).
        scale: the series' `mase_scale` up to the forecast's origin; None or NaN where there is
            no history to scale by (MASE and MSIS are then NaN).
        bounds: (lo, hi) `<float64>[h]` per interval level (the level as its column names
            write it, e.g. "90"); steps whose bounds are not finite are left out of that
            level's scores, and a level with none is left out.

    Returns:
        `mae, rmse, smape, mase` and per level `coverage-<level>, width-<level>,
        msis-<level>`.
    """
    usable = scale is not None and math.isfinite(scale)
    scores = {
        "mae": mae(y, y_hat),
        "rmse": rmse(y, y_hat),
        "smape": smape(y, y_hat),
        "mase": mase(y, y_hat, scale) if usable else math.nan,
    }
    for level, (lo, hi) in (bounds or {}).items():
        inside = np.isfinite(lo) & np.isfinite(hi)
        if not inside.any():
            continue
        y_in, lo_in, hi_in = y[inside], lo[inside], hi[inside]
        scores[f"coverage-{level}"] = coverage(y_in, lo_in, hi_in)
        scores[f"width-{level}"] = interval_width(lo_in, hi_in)
        scores[f"msis-{level}"] = (
            msis(y_in, lo_in, hi_in, scale, float(level)) if usable else math.nan
        )
    return scores
