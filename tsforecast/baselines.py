"""Benchmark forecasts from a single 1-D history: Naive, seasonal naive, drift and M4's Naive2.

Every forecaster returns `<float>[h]`, the steps after the last observation. Naive2 and its
helpers follow the M4 organisers' R benchmark script (`Benchmarks and Evaluation.R`: their
`SeasonalityTest`, then `decompose(type="multiplicative")`), which is what the published
Naive2 scores were computed with.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "drift",
    "naive",
    "naive2",
    "seasonal_indices",
    "seasonal_naive",
    "seasonality_test",
]

# One-sided 95% normal quantile: M4 calls this the 90% test (two-sided on |acf|).
_TCRIT = 1.645


def _history(history: ArrayLike) -> np.ndarray:
    x = np.asarray(history, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"history must be 1-D, got shape {x.shape}")
    if x.size == 0:
        raise ValueError("history must not be empty, got 0 points")
    return x


def _check_h(h: int) -> None:
    if h < 1:
        raise ValueError(f"h must be >= 1, got {h}")


def _check_m(season_length: int) -> None:
    if season_length < 1:
        raise ValueError(f"season_length must be >= 1, got {season_length}")


def naive(history: ArrayLike, h: int) -> np.ndarray:
    """Repeat the last observation.

    Args:
        history: `<float>[n]`.
        h: horizon.

    Returns:
        `<float>[h]`, all equal to history[-1].
    """
    x = _history(history)
    _check_h(h)
    return np.full(h, x[-1])


def seasonal_naive(history: ArrayLike, h: int, season_length: int) -> np.ndarray:
    """Repeat the last full season: y_hat[t] = history[n - m + (t % m)].

    Args:
        history: `<float>[n]`.
        h: horizon.
        season_length: seasonal period m; with n < m there is no full season, so this is naive.

    Returns:
        `<float>[h]`.
    """
    x = _history(history)
    _check_h(h)
    _check_m(season_length)
    if x.size < season_length:
        return naive(x, h)
    last_season = x[-season_length:]
    return last_season[np.arange(h) % season_length].copy()


def drift(history: ArrayLike, h: int) -> np.ndarray:
    """Extend the straight line through the first and last observations.

    Args:
        history: `<float>[n]`.
        h: horizon.

    Returns:
        `<float>[h]`, y_hat[t] = history[-1] + (t + 1) * (history[-1] - history[0]) / (n - 1);
        naive when n == 1.
    """
    x = _history(history)
    _check_h(h)
    if x.size == 1:
        return naive(x, h)
    slope = (x[-1] - x[0]) / (x.size - 1)
    return x[-1] + slope * np.arange(1, h + 1)


def _acf(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Biased sample autocorrelations (R's `acf`), `<float>[max_lag + 1]` with acf[0] = 1."""
    d = x - x.mean()
    c0 = float(np.dot(d, d))
    n = d.size
    return np.array([np.dot(d[k:], d[: n - k]) / c0 for k in range(max_lag + 1)])


def seasonality_test(history: ArrayLike, season_length: int) -> bool:
    """M4's 90% autocorrelation test for seasonality at lag m.

    Seasonal iff |acf[m]| > 1.645 * sqrt((1 + 2 * sum(acf[1..m-1] ** 2)) / n), given m > 1 and
    n >= 3m. This is the organisers' R `SeasonalityTest`, including two of its edge cases:
    R's `acf` only reaches lag floor(10 * log10(n)), and when m lies beyond that the
    test says "not seasonal" (for m = 24 this means any n < 252); a constant series (undefined
    ACF) is not seasonal either.

    Args:
        history: `<float>[n]`.
        season_length: seasonal period m.

    Returns:
        whether the series is treated as seasonal.
    """
    x = _history(history)
    _check_m(season_length)
    m = season_length
    n = x.size
    if m == 1 or n < 3 * m:
        return False
    # Reproduces R's default lag.max, without which the published Naive2 scores differ.
    if m > min(math.floor(10 * math.log10(n)), n - 1):
        return False
    if np.all(x == x[0]):
        return False
    acf = _acf(x, m)
    limit = _TCRIT * math.sqrt((1.0 + 2.0 * float(np.sum(acf[1:m] ** 2))) / n)
    return bool(abs(acf[m]) > limit)


def _centred_moving_average(x: np.ndarray, m: int) -> np.ndarray:
    """Trend of R's `decompose`: centred MA of order m (2xm for even m), NaN where undefined."""
    if m % 2 == 0:
        weights = np.r_[0.5, np.ones(m - 1), 0.5] / m
    else:
        weights = np.ones(m) / m
    half = (weights.size - 1) // 2
    trend = np.full(x.size, np.nan)
    trend[half : x.size - half] = np.convolve(x, weights, mode="valid")
    return trend


def seasonal_indices(history: ArrayLike, season_length: int) -> np.ndarray:
    """Multiplicative seasonal indices by classical decomposition (R `decompose`).

    Trend = centred moving average; ratios history / trend are averaged per position in the
    season and normalised to mean 1. Index j belongs to the time steps t with t % m == j, where
    t = 0 is the first observation, so step n + k after the end has index (n + k) % m.

    Args:
        history: `<float>[n]`, positive values, n >= 2m.
        season_length: seasonal period m.

    Returns:
        `<float>[m]`, mean 1.
    """
    x = _history(history)
    _check_m(season_length)
    m = season_length
    if x.size < 2 * m:
        raise ValueError(f"history needs at least 2 seasons ({2 * m} points), got {x.size}")
    ratios = x / _centred_moving_average(x, m)
    n_rows = -(-x.size // m)
    padded = np.full(n_rows * m, np.nan)
    padded[: x.size] = ratios
    figure = np.nanmean(padded.reshape(n_rows, m), axis=0)
    return figure / figure.mean()


def naive2(history: ArrayLike, h: int, season_length: int) -> np.ndarray:
    """M4's Naive2: naive on the seasonally adjusted series, then re-seasonalised.

    Seasonal adjustment is applied only when `seasonality_test` passes; otherwise this is naive.

    Args:
        history: `<float>[n]`.
        h: horizon.
        season_length: seasonal period m.

    Returns:
        `<float>[h]`, y_hat[k] = history[-1] / s[(n - 1) % m] * s[(n + k) % m] with
        s = seasonal_indices(history, m).
    """
    x = _history(history)
    _check_h(h)
    _check_m(season_length)
    if not seasonality_test(x, season_length):
        return naive(x, h)
    s = seasonal_indices(x, season_length)
    n = x.size
    level = x[-1] / s[(n - 1) % season_length]
    return level * s[(n + np.arange(h)) % season_length]
