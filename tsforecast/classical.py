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
# statsforecast's MSTL costs about a microsecond per value read times the sum of its periods
# (2-core CPU: 0.6 s for 16 weeks of hourly data with 24 and 168; 2.7 s for 14,000 five-minute
# values with 288 alone, 34 s with 288 and 2016). Periods longer than this (a week of 10-minute
# or finer data) are not decomposed, so that a fit takes seconds, not a minute.
LONGEST_PERIOD = 1000
# The validation windows' fits of a panel share this many value-periods (about 100 s): each
# series gets as many fits as fit in its share (at least MIN_FITS), spread evenly over its
# windows. A single hourly series with three years of history stays under it (about 110 fits).
VALIDATION_WORK = 100_000_000
MIN_FITS = 2


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
    """The seasonal periods MSTL decomposes: every one of at most LONGEST_PERIOD steps that the
    shortest history holds twice (its decomposition needs two cycles), else the primary one."""
    fits = [m for m in seasons if 2 * m <= shortest and m <= LONGEST_PERIOD]
    return fits or [seasons[0]]


def statsforecast_model(name: str, seasons: tuple[int, ...], shortest: int):
    """The statsforecast model behind `--baselines name`."""
    models = statsforecast_module(f"--baselines {name}").models
    kind = getattr(models, EXTRA_BASELINES[name])
    if name == "mstl":
        return kind(season_length=mstl_periods(seasons, shortest), alias=name)
    return kind(season_length=seasons[0], alias=name)


def fit_origins(origins: np.ndarray, horizon: int, most: int | None = None) -> np.ndarray:
    """<int>[n]: the origin of the MSTL fit that each of one series' window `origins` (any
    order) reads. In time order, the earliest origin not yet covered gets a fit, which covers
    every origin less than a horizon after it; with more fits than `most`, `most` of them
    spread evenly from the first to the last are kept and each origin reads the latest kept fit
    at or before it."""
    fits: list[int] = []
    for origin in np.sort(origins):
        if not fits or origin >= fits[-1] + horizon:
            fits.append(int(origin))
    if most is not None and len(fits) > most:
        fits = [fits[k] for k in np.round(np.linspace(0, len(fits) - 1, most)).astype(int)]
    kept = np.asarray(fits, dtype=origins.dtype)
    return kept[np.searchsorted(kept, origins, side="right") - 1] if len(kept) else kept


def fits_per_series(panel: Panel, series: np.ndarray, seasons: tuple[int, ...]) -> int:
    """How many MSTL fits each series of windows `series` gets: its share of VALIDATION_WORK
    at the cost of one fit on the longest of their histories, at least MIN_FITS."""
    ids = np.unique(series)
    if not len(ids):
        return MIN_FITS
    history = min(HISTORY_SEASONS * max(seasons), int(panel.lengths[ids].max()))
    work = len(ids) * history * sum(mstl_periods(seasons, history))
    return max(MIN_FITS, VALIDATION_WORK // work)


def fitted_at_origin(
    panel: Panel,
    series: np.ndarray,
    starts: np.ndarray,
    lookback: int,
    horizon: int,
    seasons: tuple[int, ...],
) -> np.ndarray:
    """<bool>[n]: the windows (as `mstl_windows` takes them) whose MSTL forecast comes from a
    fit at their own origin, not from an earlier window's."""
    origins = starts + lookback
    most = fits_per_series(panel, series, seasons)
    fresh = np.zeros(len(series), dtype=bool)
    for i in np.unique(series):
        mine = np.flatnonzero(series == i)
        fresh[mine] = fit_origins(origins[mine], horizon, most) == origins[mine]
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

    Validation windows start at every step and a fit costs a second or more, so windows less
    than a horizon after the origin of a series' last fit read that fit's longer forecast
    (`fit_origins`) instead of a fit of their own, as do all windows between the fits of a
    series with more of them than `fits_per_series`: such a forecast is older than its window's
    origin (never newer: nothing after the origin is read), and worse for it, which is why the
    serving check weighs only the windows fitted at their own origin (`fitted_at_origin`).
    Every forecast of `predict` and `backtest` has a fit of its own. A fit that fails leaves
    its windows NaN, for serving to fall back from."""
    mstl = statsforecast_module("a model that serves MSTL at some horizon steps").models.MSTL
    history = HISTORY_SEASONS * max(seasons)
    most = fits_per_series(panel, series, seasons)
    result = np.empty((len(series), horizon))
    for i in np.unique(series):
        values = panel.series(i).astype(np.float64)
        mine = np.flatnonzero(series == i)
        origins = starts[mine] + lookback
        fits = fit_origins(origins, horizon, most)
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
