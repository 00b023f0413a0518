"""Classical forecasts beside the network, from statsforecast (the optional `baselines` extra):
the statsforecast models behind `backtest --baselines`, and MSTL's forecasts of a model's
windows, which the serving check weighs against the network's (tsforecast.serving).
"""

from __future__ import annotations

import warnings

import numpy as np

from .data import Panel
from .errors import ConfigError

# Statsforecast model classes behind `backtest --baselines name`. MSTL decomposes every
# seasonal period (trend by AutoETS, its default); ETS and Theta the primary.
EXTRA_BASELINES = {"mstl": "MSTL", "ets": "AutoETS", "theta": "AutoTheta"}

# MSTL joins the serving check of panels with at most this many series. Each fit is a local
# model (about 0.4 ms per value read on one core), so a panel multiplies the cost by its series,
# and on a panel a global network is far ahead of any local method: M4 Hourly's 414 series,
# OWA 0.427 against MSTL's 0.604 (docs/accuracy.md).
MAX_SERIES = 10
# A fit reads at most this many of the longest season before its origin: on ETTh1/ETTh2's
# validation months 16 weeks forecast as well as the whole history (docs/defaults.md) in a
# quarter of the time.
HISTORY_SEASONS = 16


def statsforecast_module(needs: str):
    """The statsforecast package, or a ConfigError saying that `needs` (what asked for it)
    needs the extra."""
    try:
        import statsforecast
        import statsforecast.models  # noqa: F401  (a submodule the package does not load)
    except ImportError:
        raise ConfigError(
            f"{needs}: needs statsforecast: pip install 'tsforecast[baselines]'"
        ) from None
    return statsforecast


def available() -> bool:
    try:
        statsforecast_module("")
    except ConfigError:
        return False
    return True


def mstl_periods(seasons: tuple[int, ...], shortest: int) -> list[int]:
    """The seasonal periods MSTL decomposes: every one that the shortest history holds twice
    (its decomposition needs two cycles), else the primary one."""
    return [m for m in seasons if 2 * m <= shortest] or [seasons[0]]


def statsforecast_model(name: str, seasons: tuple[int, ...], shortest: int):
    """The statsforecast model behind `--baselines name`."""
    models = statsforecast_module(f"--baselines {name}").models
    kind = getattr(models, EXTRA_BASELINES[name])
    if name == "mstl":
        return kind(season_length=mstl_periods(seasons, shortest), alias=name)
    return kind(season_length=seasons[0], alias=name)


def fit_origins(origins: np.ndarray, horizon: int) -> np.ndarray:
    """<int>[n]: the origin of the MSTL fit that each of one series' window `origins` (any
    order) reads. In time order, the earliest origin not yet covered gets a fit, which covers
    every origin less than a horizon after it."""
    result = np.empty_like(origins)
    fit_at = None
    for j in np.argsort(origins, kind="stable"):
        if fit_at is None or origins[j] >= fit_at + horizon:
            fit_at = origins[j]
        result[j] = fit_at
    return result


def fitted_at_origin(
    series: np.ndarray, starts: np.ndarray, lookback: int, horizon: int
) -> np.ndarray:
    """<bool>[n]: the windows (as `mstl_windows` takes them) whose MSTL forecast comes from a
    fit at their own origin, not from an earlier window's."""
    origins = starts + lookback
    fresh = np.zeros(len(series), dtype=bool)
    for i in np.unique(series):
        mine = np.flatnonzero(series == i)
        fresh[mine] = fit_origins(origins[mine], horizon) == origins[mine]
    return fresh


def mstl_windows(
    panel: Panel,
    series: np.ndarray,
    starts: np.ndarray,
    lookback: int,
    horizon: int,
    seasons: tuple[int, ...],
) -> np.ndarray:
    """<float64>[n, horizon]: MSTL's forecasts of the windows whose first input row is row
    `starts[j]` of series `series[j]` of `panel`, from the values before each window's first
    target (at most HISTORY_SEASONS of the longest season).

    Validation windows start at every step and a fit costs about a second, so windows less
    than a horizon after the origin of a series' last fit read that fit's longer forecast
    (`fit_origins`) instead of a fit of their own: such a forecast is up to horizon - 1 steps
    older than its window's origin (never newer: nothing after the origin is read), and worse
    for it, which is why the serving check weighs only the windows fitted at their own origin
    (`fitted_at_origin`). Every forecast of `predict` and `backtest` has a fit of its own.
    A fit that fails leaves its windows NaN, for serving to fall back from."""
    mstl = statsforecast_module("a model that serves MSTL at some horizon steps").models.MSTL
    history = HISTORY_SEASONS * max(seasons)
    result = np.empty((len(series), horizon))
    for i in np.unique(series):
        values = panel.series(i).astype(np.float64)
        mine = np.flatnonzero(series == i)
        origins = starts[mine] + lookback
        fits = fit_origins(origins, horizon)
        for fit_at in np.unique(fits):
            members = np.flatnonzero(fits == fit_at)
            past = values[max(0, fit_at - history) : fit_at]
            # statsforecast's numerics warn on short or flat histories and still forecast; the
            # warning would reach the user's terminal.
            reach = int(origins[members].max() - fit_at)
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = mstl(season_length=mstl_periods(seasons, len(past)))
                try:
                    path = model.forecast(y=past, h=horizon + reach)["mean"]
                except Exception:  # noqa: BLE001  (a third party's numerics on odd data)
                    path = np.full(horizon + reach, np.nan)
            for k in members:
                shift = int(origins[k] - fit_at)
                result[mine[k]] = path[shift : shift + horizon]
    return result
