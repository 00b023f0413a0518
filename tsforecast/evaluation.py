"""Score forecasts against actuals the M4 way: metrics per series and cutoff, then averaged.

`evaluate` is the one scoring function. `tsforecast evaluate` calls it on files and
`tsforecast backtest` on the forecasts it has just made, so both report the same numbers for
the same forecasts.

Frames are long: `unique_id, ds` (plus `cutoff` for backtests), one column per method's point
forecast, and interval columns named `<method>-lo-<level>` / `<method>-hi-<level>`.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import jsontext
from .baselines import naive2
from .config import DataConfig
from .data import (
    as_source,
    as_written,
    infer_freq,
    load_panel,
    numeric_column,
    parse_time,
    read_table,
    resolve_schema,
    season_length_for,
    to_long,
)
from .errors import DataError
from .metrics import (
    forecast_scores,
    mase_scale,
    owa,
)

log = logging.getLogger(__name__)

INTERVAL_COLUMN = re.compile(r"^(?P<method>.+)-(?P<side>lo|hi)-(?P<level>\d+(?:\.\d+)?)$")
SCORE_NAMES = {"mae": "MAE", "rmse": "RMSE", "smape": "sMAPE", "mase": "MASE"}
NOT_METHODS = ("unique_id", "ds", "cutoff", "y")
# tsforecast writes its model's forecast as y_hat.
METHOD_LABELS = {"y_hat": "model"}


@dataclass(frozen=True)
class Evaluation:
    """by_window: one row per (unique_id, cutoff, method) with that window's metrics.
    summary: one row per method (the index), metrics averaged over all windows, OWA from the
    averages as M4 defines it."""

    by_window: pd.DataFrame
    summary: pd.DataFrame


@dataclass(frozen=True)
class _History:
    """One series' observations, sorted by time, for MASE scales and Naive2."""

    ds: np.ndarray
    y: np.ndarray

    def until(self, cutoff: np.datetime64) -> np.ndarray:
        return self.y[: np.searchsorted(self.ds, cutoff, side="right")]


def methods_of(forecasts: pd.DataFrame) -> tuple[list[str], dict[str, list[tuple[str, str, str]]]]:
    """The point-forecast columns, and per method its intervals as (level, lo column, hi column)."""
    points, sides = [], {}
    for column in forecasts.columns:
        if column in NOT_METHODS:
            continue
        match = INTERVAL_COLUMN.match(str(column))
        if match:
            sides[(match["method"], match["level"], match["side"])] = column
        elif pd.api.types.is_numeric_dtype(forecasts[column]):
            points.append(str(column))
    intervals: dict[str, list[tuple[str, str, str]]] = {}
    for (method, level, side), column in sides.items():
        other = sides.get((method, level, "hi" if side == "lo" else "lo"))
        if other is None:
            raise DataError(
                f"interval column {column!r} has no matching "
                f"{'hi' if side == 'lo' else 'lo'} column"
            )
        if side == "lo":
            intervals.setdefault(method, []).append((level, column, other))
    return points, intervals


def _histories(history: pd.DataFrame | None) -> dict[str, _History]:
    if history is None:
        return {}
    frame = history.dropna(subset=["y"]).sort_values(["unique_id", "ds"], kind="stable")
    return {
        str(sid): _History(group["ds"].to_numpy("datetime64[ns]"), group["y"].to_numpy(np.float64))
        for sid, group in frame.groupby("unique_id", sort=False)
    }


def _join(forecasts: pd.DataFrame, actuals: pd.DataFrame) -> pd.DataFrame:
    """Forecast rows with their actual `y`; every forecast row must have one."""
    frame = forecasts.drop(columns=[c for c in ("y",) if c in forecasts.columns])
    keys = ["unique_id", "cutoff", "ds"] if "cutoff" in frame.columns else ["unique_id", "ds"]
    duplicated = frame.duplicated(keys)
    if duplicated.any():
        first = frame.loc[duplicated].iloc[0]
        raise DataError(
            f"{int(duplicated.sum())} duplicated forecast rows, first: "
            + ", ".join(f"{k} {first[k]}" for k in keys)
        )
    joined = frame.merge(
        actuals[["unique_id", "ds", "y"]],
        on=["unique_id", "ds"],
        how="left",
        validate="many_to_one",
    )
    missing = joined["y"].isna()
    if missing.any():
        first = joined.loc[missing].iloc[0]
        raise DataError(
            f"{int(missing.sum())} forecast rows have no actual value, first: "
            f"series {first['unique_id']!r} at {first['ds']}"
        )
    if "cutoff" not in joined.columns:
        # Without cutoffs each series' forecasts are one window, made after the step before its
        # first.
        first_step = joined.groupby("unique_id")["ds"].transform("min")
        joined["cutoff"] = first_step - pd.Timedelta(1, "ns")
    return joined.sort_values(["unique_id", "cutoff", "ds"], kind="stable").reset_index(drop=True)


def evaluate(
    forecasts: pd.DataFrame,
    actuals: pd.DataFrame,
    season_length: int,
    history: pd.DataFrame | None = None,
) -> Evaluation:
    """Metrics of every method in `forecasts` against `actuals`.

    Args:
        forecasts: `unique_id, ds`, optional `cutoff` (the last observation each forecast could
            use), one numeric column per method, optional interval columns.
        actuals: `unique_id, ds, y` covering every forecast row (extra rows are ignored).
        season_length: m for the MASE scale and Naive2.
        history: `unique_id, ds, y`, the observations the forecasts were made from (it may run
            past the cutoffs: only values up to each window's cutoff are used). Each window's
            MASE scale is the in-sample seasonal-naive error of the history up to its cutoff, and
            when `forecasts` has no `naive2` column, Naive2 is computed from the same history
            so that OWA can be reported. Without history, MASE and OWA are left out.

    Returns:
        the per-window metrics and the per-method summary.

    References: Makridakis, Spiliotis & Assimakopoulos (2020), "The M4 Competition", IJF 36(1).
    """
    points, intervals = methods_of(forecasts)
    if not points:
        raise DataError(
            f"no forecast columns: expected numeric columns besides {', '.join(NOT_METHODS)}; "
            f"the columns are: {', '.join(map(str, forecasts.columns))}"
        )
    joined = _join(forecasts, actuals)
    series_history = _histories(history)
    add_naive2 = "naive2" not in points and bool(series_history)

    rows, scales = [], []
    for (sid, cutoff), window in joined.groupby(["unique_id", "cutoff"], sort=False):
        y = window["y"].to_numpy(np.float64)
        past = (
            # In UTC: numpy warns about a zoned Timestamp (a zoned backtest's cutoffs).
            series_history[sid].until(np.datetime64(pd.Timestamp(cutoff).value, "ns"))
            if sid in series_history
            else np.empty(0)
        )
        scale = mase_scale(past, season_length) if past.size >= 2 else None
        scales.append(scale)
        predictions = {method: window[method].to_numpy(np.float64) for method in points}
        if add_naive2 and past.size:
            predictions["naive2"] = naive2(past, len(y), season_length)
        for method, y_hat in predictions.items():
            row = {"unique_id": sid, "cutoff": cutoff, "method": METHOD_LABELS.get(method, method)}
            bounds = {
                level: (window[lo].to_numpy(np.float64), window[hi].to_numpy(np.float64))
                for level, lo, hi in intervals.get(method, [])
            }
            for key, value in forecast_scores(y, y_hat, scale, bounds).items():
                row[SCORE_NAMES.get(key) or key.replace("msis-", "MSIS-")] = value
            rows.append(row)
    by_window = pd.DataFrame(rows)
    known = [scale for scale in scales if scale is not None]
    if by_window["MASE"].isna().all() and known and not any(known):
        log.warning(
            "MASE and OWA are undefined: every series is constant before its forecasts (the "
            "seasonal naive error that scales them is 0)"
        )
    elif by_window["MASE"].isna().all():
        log.warning(
            "no history before the forecasts: MASE and OWA need the training data (--train)"
        )
    return Evaluation(by_window, summarise(by_window))


def summarise(by_window: pd.DataFrame) -> pd.DataFrame:
    """Average each method's metrics over all windows (series x cutoffs), then OWA against
    Naive2 from those averages, as M4 does."""
    metric_columns = [c for c in by_window.columns if c not in ("unique_id", "cutoff", "method")]
    order = list(dict.fromkeys(by_window["method"]))
    summary = by_window.groupby("method", sort=False)[metric_columns].mean().reindex(order)
    summary = summary.dropna(axis=1, how="all")
    if "naive2" in summary.index and "MASE" in summary.columns:
        reference = summary.loc["naive2"]
        owa_values = [
            owa(row["sMAPE"], row["MASE"], reference["sMAPE"], reference["MASE"])
            if reference["sMAPE"] > 0 and reference["MASE"] > 0
            else np.nan
            for _, row in summary.iterrows()
        ]
        summary.insert(summary.columns.get_loc("MASE") + 1, "OWA", owa_values)
    summary.index.name = "method"
    return summary


Source = pd.DataFrame | str
"""A table given to `evaluate`: a frame in memory (the Python API) or the path of a file."""


def _table(source: Source, name: str, encoding: str = "utf-8") -> tuple[pd.DataFrame, str]:
    """The table `source` holds (a copy of a frame, or the file read), and how messages name it:
    the path, or `name` for a frame."""
    in_memory = isinstance(source, pd.DataFrame)
    frame = source.copy() if in_memory else read_table(source, encoding)
    frame.columns = [str(c) for c in frame.columns]
    return frame, name if in_memory else source


def read_forecasts(source: Source) -> pd.DataFrame:
    """Forecasts in tsforecast's output format: `[unique_id,] [cutoff,] ds, y_hat, ...` (a file
    in UTF-8, as tsforecast writes it; its timestamps are inferred like a data file's)."""
    frame, name = _table(source, "the forecasts")
    if frame.empty:
        raise DataError(f"{name} has no forecast rows")
    if "ds" not in frame.columns:
        raise DataError(f"{name} has no 'ds' column; the columns are: {', '.join(frame.columns)}")
    for column in ("ds", "cutoff"):
        if column in frame.columns:
            frame[column] = _timestamps(frame, column, name, None)
    if "unique_id" not in frame.columns:
        frame["unique_id"] = None
    elif isinstance(source, str):
        frame["unique_id"] = as_written(source, frame, "unique_id").astype(str)
    else:
        frame["unique_id"] = frame["unique_id"].astype(str)
    return frame


def read_observations(
    source: Source,
    name: str,
    time_col: str | None,
    target: str | None,
    id_col: str | None,
    encoding: str = "utf-8",
    date_format: str | None = None,
) -> pd.DataFrame:
    """Actuals or history (`name` in messages when `source` is a frame) as `unique_id, ds, y`,
    the table read and its columns found as `tsforecast train` reads and finds them."""
    raw, name = _table(source, name, encoding)
    asked = DataConfig(name, time_col, target, id_col, encoding=encoding, date_format=date_format)
    if raw.empty:
        raise DataError(f"{name} has no rows")
    cfg = resolve_schema(raw, asked)
    if cfg.id_col is not None and not cfg.wide and isinstance(source, str):
        raw[cfg.id_col] = as_written(source, raw, cfg.id_col, encoding)
    # A wide table (one column per series) becomes unique_id, y rows, as `train` reads it.
    raw = to_long(raw, cfg)
    stamps = _timestamps(raw, cfg.time_col, name, date_format)
    ids = raw[cfg.id_col].astype(str).to_numpy() if cfg.id_col else None
    try:  # the checks `train` makes of a target: numbers, finite in float32
        values = numeric_column(raw, cfg.target, "target", pd.DatetimeIndex(stamps), ids)
    except DataError as exc:
        raise DataError(f"{name}: {exc}") from None
    observations = pd.DataFrame(
        {
            # A file of one series names it after its target column, as `tsforecast train` does.
            "unique_id": ids if ids is not None else cfg.target,
            "ds": stamps,
            "y": values,
        }
    )
    repeated = observations.duplicated(["unique_id", "ds"])
    if repeated.any():
        first = observations.loc[repeated].iloc[0]
        at = pd.Timestamp(first["ds"])
        where = f"{at} (series {first['unique_id']!r})" if cfg.id_col else f"{at}"
        raise DataError(
            f"{name} has {int(repeated.sum())} duplicated timestamps, first at {where}; aggregate "
            "them first"
        )
    return observations


def _timestamps(frame: pd.DataFrame, column: str, path: str, date_format: str | None) -> np.ndarray:
    """The column read as `tsforecast train` reads a time column; zoned files in UTC without
    the zone, so that forecasts and actuals compare whichever of them wrote offsets."""
    try:
        parsed = parse_time(frame, column, date_format)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    return (parsed if parsed.tz is None else parsed.tz_localize(None)).to_numpy()


def align_ids(forecasts: pd.DataFrame, *observed: pd.DataFrame | None) -> None:
    """Files without an id column hold one series: give it the id of the other side (in place)."""
    frames = [f for f in (forecasts, *observed) if f is not None]
    named = {sid for f in frames if f["unique_id"].notna().any() for sid in f["unique_id"].unique()}
    for frame in frames:
        if frame["unique_id"].isna().all():
            if len(named) > 1:
                raise DataError(
                    f"one file has no id column but the others hold {len(named)} series; "
                    "add a unique_id column"
                )
            frame["unique_id"] = next(iter(named), "series")


def infer_season_length(observed: pd.DataFrame) -> int:
    first = observed.loc[observed["unique_id"] == observed["unique_id"].iloc[0], "ds"].sort_values()
    freq = infer_freq(pd.DatetimeIndex(first))
    if freq is None:
        raise DataError(
            "cannot infer the frequency of the actuals to pick a season length; "
            "pass --season-length"
        )
    return season_length_for(freq)


def evaluate_sources(
    forecasts: Source | os.PathLike,
    actuals: Source | os.PathLike,
    season_length: int | None = None,
    train: Source | os.PathLike | None = None,
    time_col: str | None = None,
    target: str | None = None,
    id_col: str | None = None,
    encoding: str = "utf-8",
    date_format: str | None = None,
    fill: str = "none",
) -> Evaluation:
    """`tsforecast evaluate`: the scores of every method of `forecasts` (the columns `predict`
    or `backtest` give: `[unique_id,] [cutoff,] ds, y_hat, ...`) against `actuals`, with MASE
    and MSIS scaled by `train` (default: the actuals, which may then be the whole data the
    forecasts were cut from); each a frame or a file. `.summary` has one row per method,
    `.by_window` the scores of every series and cutoff. The actuals and the history are read
    as `train` reads its data, with the columns, encoding and date format given (default:
    found as `train` finds them), gaps left missing, unless `fill` fills them as `--fill` does
    so that the forecasts of a backtest made with that --fill score as the backtest scored
    them; `season_length` defaults to the frequency's."""
    forecasts, actuals = as_source(forecasts), as_source(actuals)
    train = None if train is None else as_source(train)
    columns = (time_col, target, id_col, encoding, date_format)
    read = read_observations if fill == "none" else functools.partial(read_filled, fill=fill)
    scored = read_forecasts(forecasts)
    observed = read(actuals, "the actuals", *columns)
    history = None if train is None else read(train, "the training data", *columns)
    missing = int((observed if history is None else history)["y"].isna().sum())
    result = evaluate_frames(scored, observed, history, season_length)
    # After scoring: a refusal is its one error line, without this warning before it.
    if missing:
        scaling = actuals if train is None else train
        log.warning(
            "%d values of %s are missing: MASE and MSIS are scaled by the history without them; "
            "give --fill (as the forecasts were made with) to score as train and backtest do",
            missing,
            scaling if isinstance(scaling, str) else "the history",
        )
    return result


def evaluate_frames(
    forecasts: pd.DataFrame,
    actuals: pd.DataFrame,
    history: pd.DataFrame | None,
    season_length: int | None,
) -> Evaluation:
    """`evaluate` of forecasts, actuals and history as `read_forecasts` and the readers give
    them: a file without ids takes the other side's, the actuals are the history when none is
    given, and the season length defaults to the history's frequency's."""
    align_ids(forecasts, actuals, history)
    observed = actuals if history is None else history
    season = season_length or infer_season_length(observed)
    return evaluate(forecasts, actuals, season, observed)


def read_filled(
    source: Source,
    name: str,
    time_col: str | None,
    target: str | None,
    id_col: str | None,
    encoding: str,
    date_format: str | None,
    fill: str,
) -> pd.DataFrame:
    """Observations as `unique_id, ds, y`, read through `data.load_panel` as `train` reads
    them, with the gaps `fill` repairs filled; timestamps in UTC without a zone, as
    `read_forecasts` gives them."""
    in_memory = isinstance(source, pd.DataFrame)
    asked = DataConfig(
        "" if in_memory else source,
        time_col,
        target,
        id_col,
        fill=fill,
        encoding=encoding,
        date_format=date_format,
    )
    try:
        panel, _ = load_panel(asked, frame=source if in_memory else None)
    except DataError as exc:
        if not in_memory:
            raise  # a file's messages name the file
        raise DataError(f"{name}: {exc}") from None
    frame = panel.to_frame()
    stamps = pd.DatetimeIndex(frame["ds"])
    frame["ds"] = (stamps if stamps.tz is None else stamps.tz_convert(None)).to_numpy()
    return frame


def write_summary(summary: pd.DataFrame, path: Path) -> None:
    """The per-method table as CSV, or as JSON `{method: {metric: value}}` (NaN as null) for a
    .json path; full precision either way. Missing folders are created, as `predict --out`
    does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".json":
        rows = {
            str(method): {key: float(value) for key, value in row.items()}
            for method, row in summary.iterrows()
        }
        path.write_text(jsontext.dumps(rows, indent=2))
    else:
        summary.to_csv(path)
