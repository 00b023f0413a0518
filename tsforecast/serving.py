"""What a model serves, in one place: the candidates (the network, seasonal naive at each period
and, for a few series with a seasonal period, MSTL and the mean of the network and MSTL), the
validation windows they are weighed on (built once per training run), the rule that picks one
candidate per horizon step, and serving with a fallback wherever the pick gives no finite value.

Training calls `on_validation`; every later forecast (`Forecaster.forecast`: predict, backtest,
the registry's champion scoring) calls `candidates` and `serve` with the steps training saved.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import classical, transforms
from .config import Config
from .data import Panel
from .metrics import mase_scale, mean_defined
from .windows import WindowSplit, seasonal_naive_windows

# The name of the network's own forecast among the candidates.
NETWORK = "model"
MSTL = "mstl"
NETWORK_AND_MSTL = "model+mstl"  # the mean of the network's forecast and MSTL's
SERVED_WITH_MSTL = (MSTL, NETWORK_AND_MSTL)


def naive_name(season: int, primary: int) -> str:
    """`seasonal_naive` at the primary period (as metrics.json always named it), else
    `seasonal_naive_<season>`."""
    return "seasonal_naive" if season == primary else f"seasonal_naive_{season}"


@dataclass(frozen=True)
class WindowForecasts:
    """Forecasts of n windows in the model's units (transformed, not standardised; see
    tsforecast.transforms): `point` <float64>[n, horizon], the median of `quantiles`
    <float64>[n, horizon, Q] for a quantile model; `spread` <float64>[n] is what each window's
    conformal radii are multiples of (its recent movement or its series' standardisation, as
    the config's `intervals.spread` says). `methods` <str>[n, horizon] names the candidate that
    made each value (see `serve`); None when the network made every one."""

    point: np.ndarray
    quantiles: np.ndarray | None
    spread: np.ndarray
    transform: str
    methods: np.ndarray | None = None

    def method(self, row: int, step: int) -> str:
        return NETWORK if self.methods is None else str(self.methods[row, step])

    def original(self, values: np.ndarray | None = None) -> np.ndarray:
        """`values` (default: the point forecasts) in the original units of the data."""
        return transforms.inverse(self.transform, self.point if values is None else values)


@dataclass(frozen=True)
class ValidationWindows:
    """The validation windows of a training run, as every judge of them reads them: window j
    forecasts series `series[j]` from its rows `starts[j]` .. `starts[j] + lookback - 1`
    (counted from the series' start); `targets` <float64>[n, horizon] in the original units;
    `scales` <float64>[n] each window's MASE scale (the in-sample seasonal naive error of its
    series' training part); `earlier` <bool>[n] the earlier half of each series' windows, where
    choices are made to be checked on the later half."""

    split: WindowSplit
    lookback: int
    horizon: int
    series: np.ndarray
    starts: np.ndarray
    targets: np.ndarray
    scales: np.ndarray
    earlier: np.ndarray

    @classmethod
    def of(
        cls, panel: Panel, split: WindowSplit, lookback: int, horizon: int, season: int
    ) -> ValidationWindows:
        series = split.val_series
        scales = {
            i: mase_scale(panel.series(i)[: split.train_part[i]], season) for i in np.unique(series)
        }
        return cls(
            split,
            lookback,
            horizon,
            series,
            split.val_starts - panel.offsets[series],
            targets_of(panel, split.val_starts, lookback, horizon),
            np.asarray([scales[i] for i in series], dtype=np.float64),
            np.arange(len(series)) % split.val_count < split.val_count // 2,
        )


def take(windows: ValidationWindows, rows: np.ndarray) -> ValidationWindows:
    """The validation windows `rows` (a mask or indices) of `windows`."""
    return dataclasses.replace(
        windows,
        series=windows.series[rows],
        starts=windows.starts[rows],
        targets=windows.targets[rows],
        scales=windows.scales[rows],
        earlier=windows.earlier[rows],
    )


def targets_of(panel: Panel, starts: np.ndarray, lookback: int, horizon: int) -> np.ndarray:
    """<float64>[n, horizon]: the values of `panel` (in its units) that the windows starting at
    its rows `starts` forecast."""
    rows = starts[:, None] + lookback + np.arange(horizon)[None, :]
    return panel.values[rows].astype(np.float64)


def mstl_left_out(n_series: int, lookback: int, seasons: tuple[int, ...]) -> str | None:
    """Why MSTL stays out of a model's candidates, or None when it joins: the data has a
    seasonal period of at most `classical.LONGEST_PERIOD` steps, statsforecast is installed, the
    panel has at most `classical.MAX_SERIES` series with validation windows, and every window's
    history (at least the lookback) holds two cycles of the primary season."""
    if seasons[0] < 2:
        return "the data has no seasonal period (period 1) for MSTL to decompose"
    if seasons[0] > classical.LONGEST_PERIOD:
        return (
            f"its fits on a period of {seasons[0]} steps would take tens of seconds each "
            f"(MSTL joins for periods of at most {classical.LONGEST_PERIOD})"
        )
    if n_series > classical.MAX_SERIES:
        return f"{n_series} series (MSTL joins for at most {classical.MAX_SERIES})"
    if lookback < 2 * seasons[0]:
        return f"the lookback {lookback} holds less than two seasons of {seasons[0]}"
    if not classical.available():  # last: importing statsforecast takes seconds
        return "statsforecast is not installed (pip install 'tsforecast[baselines]')"
    return None


def naive_forecasts(
    panel: Panel,
    series: np.ndarray,
    starts: np.ndarray,
    lookback: int,
    horizon: int,
    seasons: tuple[int, ...],
) -> dict[str, np.ndarray]:
    """Seasonal naive at each period, {naive_name: <float64>[n, horizon]}, of the windows that
    `Forecaster.forecast` takes (series `series[j]`, first input row `starts[j]`), in the
    panel's units."""
    result = {}
    for season in seasons:
        forecasts = np.empty((len(series), horizon))
        for i in np.unique(series):
            mine = series == i
            forecasts[mine] = seasonal_naive_windows(
                panel.series(i).astype(np.float64), starts[mine], lookback, horizon, season
            )
        result[naive_name(season, seasons[0])] = forecasts
    return result


def candidates(
    panel: Panel,
    series: np.ndarray,
    starts: np.ndarray,
    config: Config,
    network: np.ndarray,
    with_mstl: bool,
) -> dict[str, np.ndarray]:
    """Every candidate's forecasts of the windows `Forecaster.forecast` takes, in the panel's
    (original) units: the network's (`network`, <float64>[n, horizon]), seasonal naive at every
    period and, `with_mstl`, MSTL and the mean of the network and MSTL (a combination often
    beats both: the network reads a short window, MSTL the long history). The mean is taken in
    the original units, where MSTL's additive forecast is defined; NaN where MSTL's fit
    failed."""
    lookback, horizon = config.window.lookback, config.window.horizon
    seasons = config.data.season_length
    result = {NETWORK: network}
    result.update(naive_forecasts(panel, series, starts, lookback, horizon, seasons))
    if with_mstl:
        mstl = classical.mstl_windows(panel, series, starts, lookback, horizon, seasons)
        result[MSTL] = mstl
        result[NETWORK_AND_MSTL] = (network + mstl) / 2
    return result


def in_model_units(transform: str, forecasts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`forecasts` in the model's units; NaN (not a warning) where a value has none there, as a
    forecast <= 0 has no log."""
    with np.errstate(invalid="ignore", divide="ignore"):
        modelled = {name: transforms.forward(transform, f) for name, f in forecasts.items()}
    return {name: np.where(np.isfinite(f), f, np.nan) for name, f in modelled.items()}


def serve(
    network: WindowForecasts,
    steps: tuple[str, ...],
    modelled: dict[str, np.ndarray],
    fallback: tuple[str, ...] = (NETWORK,),
) -> WindowForecasts:
    """The forecasts a model serves: at each horizon step the candidate `steps` names (from
    `modelled`, `candidates` in the model's units, `in_model_units`), as training chose it on
    validation windows; where that value is not finite (MSTL's fit failed, or the mean with an
    additive MSTL is <= 0 under a log transform) the first of `fallback` that is, and `methods`
    says which. A quantile model's quantiles move with its median."""
    if all(name == NETWORK for name in steps):
        return network
    modelled = {**modelled, NETWORK: network.point}
    point = np.full_like(network.point, np.nan)
    methods = np.full(point.shape, NETWORK, dtype=object)
    for step, chosen in enumerate(steps):
        for name in (chosen, *fallback):
            value = modelled[name][:, step]
            fill = np.isnan(point[:, step]) & np.isfinite(value)
            point[fill, step] = value[fill]
            methods[fill, step] = name
    # The network is among the fallbacks, and its forecast is finite.
    quantiles = network.quantiles
    if quantiles is not None:
        quantiles = quantiles + (point - network.point)[..., None]
    return dataclasses.replace(network, point=point, quantiles=quantiles, methods=methods)


def scaled_errors(
    forecasts: dict[str, np.ndarray], targets: np.ndarray, scales: np.ndarray
) -> dict[str, np.ndarray]:
    """Each method's absolute errors <float64>[n_val, H] on the validation windows over their
    MASE scales. A window whose series is constant in its training part has no scale: its
    errors are undefined (NaN) for every method, not infinite for the one that missed the
    constant by a rounding error, which made seasonal naive serve every step of a panel holding
    one constant series."""
    defined = np.where(scales > 0, scales, np.nan)[:, None]
    return {name: np.abs(f - targets) / defined for name, f in forecasts.items()}


def table_mase(errors: np.ndarray, series: np.ndarray) -> float:
    """MASE as the validation table gives it: the mean over series of each series' mean scaled
    error (`errors` <float>[n, H], `series` <int>[n] each window's series)."""
    return float(mean_defined([mean_defined(errors[series == i]) for i in np.unique(series)]))


def halves_scores(
    values: np.ndarray, earlier: np.ndarray, stat: Callable[..., np.ndarray] = mean_defined
) -> np.ndarray:
    """<float>[3, H]: `stat` of each step's errors <float>[n, H] over the earlier windows, the
    later ones and all of them."""
    return np.stack(
        [stat(values[part], axis=0) for part in (earlier, ~earlier)] + [stat(values, axis=0)]
    )


# A choice per step needs this many scored windows in each half: on a handful, a candidate that
# is no better wins both halves at some of the steps by chance (daily data, whose MSTL is fitted
# at every horizon-th window, scores a dozen windows where hourly data scores a hundred).
MIN_HALF_WINDOWS = 10


def halves_choice(
    errors: dict[str, np.ndarray],
    earlier: np.ndarray,
    incumbent: str,
    stat: Callable[..., np.ndarray] = mean_defined,
) -> list[str]:
    """Per horizon step: the candidate whose per-window statistic `stat` of its errors is
    below the `incumbent`'s on both the `earlier` windows and the later ones (of those, the one
    lowest over all windows), else the incumbent."""
    scores = {name: halves_scores(e, earlier, stat) for name, e in errors.items()}
    steps = []
    for h in range(errors[incumbent].shape[1]):
        passing = [
            name
            for name, score in scores.items()
            if name != incumbent and (score[:2, h] < scores[incumbent][:2, h]).all()
        ]
        steps.append(min(passing, key=lambda name: scores[name][2, h]) if passing else incumbent)
    return steps


def choose(
    errors: dict[str, np.ndarray],
    earlier: np.ndarray,
    incumbent: str = NETWORK,
    series: np.ndarray | None = None,
) -> tuple[tuple[str, ...], dict]:
    """What a model serves at each horizon step, from each candidate's scaled absolute errors
    <float>[n_val, H] on the validation windows that decide (`scaled_errors`; `NETWORK` among
    them), of series `series` <int>[n_val] (default: one series).

    The `incumbent` (the network, or where MSTL joins the mean of the network and MSTL) serves
    a step unless another candidate's mean error is below its own on both the `earlier` windows
    and the later ones: a candidate that wins one half by chance seldom wins the other too
    (docs/defaults.md, "Serving against MSTL"). Of those that pass, the one with the lowest mean
    error over all the windows serves. The choice is then held against every candidate alone,
    scored as the validation table scores them (`table_mase`): if one scores lower, it serves
    every step, so what is served never scores worse on validation than any single candidate.
    Fewer than MIN_HALF_WINDOWS windows in either half leave the choice to that comparison
    alone.

    Returns (candidate per step, how it was decided: metrics.json's "serving")."""
    n, horizon = errors[NETWORK].shape
    series = np.zeros(n, dtype=np.int64) if series is None else series
    if np.isnan(errors[NETWORK]).all():
        return (NETWORK,) * horizon, {
            "decided_on": "nothing: MASE is undefined on every validation window (every series "
            "is constant in its training part)",
            "why": "MASE is undefined on every validation window",
        }
    overall = {name: table_mase(values, series) for name, values in errors.items()}
    best = min(overall, key=lambda name: (np.isnan(overall[name]), overall[name]))
    if min(earlier.sum(), (~earlier).sum()) < MIN_HALF_WINDOWS:
        return (best,) * horizon, {
            "decided_on": f"all {n} validation windows (too few to check a choice on halves)",
            "why": (
                f"{best} scores best over the {n} scored validation windows ({overall[best]:.3g})"
            ),
            "overall_mase": overall,
        }

    steps = halves_choice(errors, earlier, incumbent)
    decided_on = (
        f"the earlier {int(earlier.sum())} and the later {int((~earlier).sum())} "
        f"validation windows, against {incumbent}"
    )
    chosen = table_mase(np.stack([errors[s][:, h] for h, s in enumerate(steps)], axis=1), series)
    if chosen > overall[best]:
        why = (
            f"{best} alone ({overall[best]:.3g}) beats the choice per step ({chosen:.3g}) over "
            f"the {n} scored validation windows"
        )
        steps = [best] * horizon
    else:
        why = (
            f"the choice per step scores {chosen:.3g} over the {n} scored validation windows, "
            f"the best single candidate ({best}) {overall[best]:.3g}"
        )
    served = halves_scores(
        np.stack([errors[name][:, h] for h, name in enumerate(steps)], axis=1), earlier
    )
    halves = {
        name: {"earlier": float(mean_defined(score[0])), "later": float(mean_defined(score[1]))}
        for name, score in (
            ("served", served),
            (NETWORK, halves_scores(errors[NETWORK], earlier)),
            (incumbent, halves_scores(errors[incumbent], earlier)),
        )
    }
    report = {"decided_on": decided_on, "why": why, "half_mase": halves, "overall_mase": overall}
    return tuple(steps), report


def on_validation(
    panel: Panel, windows: ValidationWindows, network: WindowForecasts, config: Config
) -> tuple[WindowForecasts, dict[str, np.ndarray], dict, np.ndarray]:
    """What the model serves on the validation `windows` (see `choose`; the network alone with
    --no-fallback), the candidates besides the network in the original units (seasonal naive
    at every period, MSTL where it joins), how the serving was decided (metrics.json's
    "serving": the method per step, the candidates, and the reasons), and the windows that
    decided it <bool>[n], which the validation table scores: every window, or where MSTL takes
    part those it was fitted at, since between its fits MSTL forecasts from up to a horizon
    before the origin, worse than it forecasts at predict time, when every forecast has a fit
    of its own."""
    series, starts, horizon = windows.series, windows.starts, windows.horizon
    without_mstl = (
        mstl_left_out(len(np.unique(series)), windows.lookback, config.data.season_length)
        if config.train.fallback
        else "--no-fallback"
    )
    forecasts = candidates(
        panel, series, starts, config, network.original(), with_mstl=without_mstl is None
    )
    if without_mstl is None and not np.isfinite(forecasts[MSTL]).all():
        bad = int((~np.isfinite(forecasts[MSTL]).all(axis=1)).sum())
        without_mstl = f"its fit failed on {bad} of {len(series)} validation windows"
        del forecasts[MSTL], forecasts[NETWORK_AND_MSTL]
    modelled = in_model_units(network.transform, forecasts)
    weighed = np.ones(len(series), dtype=bool)
    if without_mstl is None:
        weighed = classical.fitted_at_origin(
            panel, series, starts, windows.lookback, horizon, config.data.season_length
        )
    if config.train.fallback:
        incumbent = NETWORK if without_mstl else NETWORK_AND_MSTL
        # A candidate with no value in the model's units at a window (the mean with an
        # additive MSTL <= 0 under log) is served the fallback's there: judge it by that.
        served_as = {
            name: np.where(np.isnan(modelled[name]), forecasts[NETWORK], forecasts[name])
            for name in forecasts
        }
        errors = scaled_errors(served_as, windows.targets, windows.scales)
        del served_as  # the validation windows' arrays are the largest a training run holds
        if not weighed.all():
            errors = {name: e[weighed] for name, e in errors.items()}
        steps, decision = choose(errors, windows.earlier[weighed], incumbent, series[weighed])
        decision["candidates"] = list(errors)
        del errors
        if without_mstl is None:
            decision["decided_on"] += " that MSTL was fitted at"
    else:
        steps = (NETWORK,) * horizon
        decision = {"decided_on": "--no-fallback", "why": "--no-fallback"}
    if without_mstl is not None:
        decision["without_mstl"] = without_mstl
    baselines = {
        name: f for name, f in forecasts.items() if name not in (NETWORK, NETWORK_AND_MSTL)
    }
    served = serve(network, steps, modelled)
    return served, baselines, {"steps": list(steps), **decision}, weighed
