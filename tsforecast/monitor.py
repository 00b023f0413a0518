"""Served forecasts scored against the actuals that have arrived since: `tsforecast monitor`.

Every logged forecast (one issue's forecast of one series, see tsforecast.forecast_log) is
matched with the values DATA now holds at its timestamps. Once every target has arrived it is
scored with tsforecast.metrics: MAE, sMAPE, MASE (scaled by the seasonal naive error of the
history DATA holds up to the forecast's origin, at the model's primary period), interval
coverage and MSIS per level, next to seasonal naive issued at the same origin from that same
history. Scores are averaged over forecasts per issue, per version and over the served
version's last `window` scored issues, and `decide` compares that last average with the
version's validation scores once the window holds enough issues to say. Pure functions on the
log and panels; only `write_report` and `realised` (for the registry's file) are about files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import jsontext
from .baselines import seasonal_naive
from .data import Panel
from .forecast_log import ForecastLog
from .metrics import forecast_scores, mase_scale

NAIVE = "seasonal_naive"
# What monitor reports of each issue (RMSE and interval width are evaluate's).
POINT = ("mae", "smape", "mase")
INTERVALS = ("coverage", "msis")
# The coverage every degraded check wants of a 90% interval: below it, the intervals lie.
COVERAGE_FLOOR = {"90": 0.8}
# The steps of one forecast share its origin, its level error and the day's weather, so an
# issue is one observation, not `horizon` of them: one or two are one bad day as often as a
# stale model (a stable series' first issue covered 79.2% of 48 half-hours). A verdict waits
# for this many scored issues in the window...
MIN_ISSUES = 3
# ...unless each of them misses by this factor (MASE above GROSS x the limit, coverage below
# the floor / GROSS): that far off, the model is broken, not unlucky, and waiting for the third
# issue serves two more such forecasts.
GROSS = 2.0


def score_forecast(
    y: np.ndarray,
    y_hat: np.ndarray,
    bounds: dict[str, tuple[np.ndarray, np.ndarray]],
    history: np.ndarray,
    season: int,
) -> dict[str, float]:
    """The scores of one forecast whose targets have all arrived.

    Args:
        y: the actuals at its `horizon` targets, `<float64>[horizon]`, NaN where DATA has no
            value (a gap that --fill repairs): those targets are left out.
        y_hat: the forecast, `<float64>[horizon]`.
        bounds: (lo, hi) `<float64>[horizon]` per level; NaN bounds (a short series' seasonal
            naive has none) are left out.
        history: the series up to the forecast's origin, `<float64>[n]`.
        season: the model's primary seasonal period.

    Returns:
        `targets` (scored), `mae, smape, mase`, seasonal naive's as `seasonal_naive_<metric>`,
        and `coverage-<level>`, `msis-<level>`; NaN where nothing could be scored.
    """
    arrived = np.isfinite(y)
    result: dict[str, float] = {"targets": int(arrived.sum())}
    if not arrived.any():
        return result
    scale = mase_scale(history, season) if history.size >= 2 else math.nan
    y = y[arrived]
    levels = {level: (lo[arrived], hi[arrived]) for level, (lo, hi) in bounds.items()}
    scores = forecast_scores(y, y_hat[arrived], scale, levels)
    result.update({key: scores[key] for key in POINT})
    if history.size:
        naive = forecast_scores(y, seasonal_naive(history, len(arrived), season)[arrived], scale)
        result.update({f"{NAIVE}_{key}": naive[key] for key in POINT})
    result.update({key: value for key, value in scores.items() if key.split("-")[0] in INTERVALS})
    return result


@dataclass(frozen=True)
class Matched:
    """The logged forecasts matched with DATA, in the log's order. `records`: one dict per
    forecast, `issue, version, issued_at, origin, unique_id, pending_targets, history_changed,
    status` (see `score`); `series` <int>[forecasts]: its series' position in DATA, -1 when
    gone; `history` <int>[forecasts]: how many of that series' rows DATA holds up to the
    forecast's origin; `y` <float64>[forecasts, horizon]: the actual of each target, NaN where
    DATA has none (not arrived yet, a gap, a series gone)."""

    records: list[dict[str, Any]]
    series: np.ndarray
    history: np.ndarray
    y: np.ndarray


def match(forecast_log: ForecastLog, observed: Panel) -> Matched:
    """Each logged forecast's targets looked up in `observed` (DATA with its gaps as NaN, as
    `load_panel(..., fill=False)` reads it): what `score` scores and what
    tsforecast.recalibration counts."""
    rows = forecast_log.rows
    horizon = forecast_log.newest.horizon
    ds = pd.DatetimeIndex(rows["ds"])
    keys = rows.iloc[::horizon][["issue", "unique_id", "origin", "history_start"]]
    position = {series_id: i for i, series_id in enumerate(observed.ids)}
    # Per series of DATA: its timestamps and actuals in float64, made once.
    grids: dict[int, tuple[pd.DatetimeIndex, np.ndarray]] = {}
    records = []
    at = np.full(len(keys), -1)
    history = np.zeros(len(keys), dtype=np.int64)
    y = np.full((len(keys), horizon), np.nan)
    for j, (issue, series_id, origin, start) in enumerate(keys.itertuples(index=False)):
        header = forecast_log.headers[issue]
        record: dict[str, Any] = {
            "issue": issue,
            "version": header.version,
            "issued_at": header.issued_at,
            "origin": origin,
            "unique_id": series_id,
            "pending_targets": 0,
            "history_changed": False,
        }
        records.append(record)
        i = position.get(series_id)
        if i is None:
            record["status"] = "disappeared"
            continue
        if i not in grids:
            grids[i] = (observed.timestamps(i), observed.series(i).astype(np.float64))
        grid, values = grids[i]
        targets = ds[j * horizon : (j + 1) * horizon]
        record["history_changed"] = bool(grid[0] != start)
        record["pending_targets"] = int((targets > grid[-1]).sum())
        record["status"] = "pending" if record["pending_targets"] else "scored"
        found = grid.get_indexer(targets)
        y[j] = np.where(found >= 0, values[np.maximum(found, 0)], np.nan)
        at[j] = i
        history[j] = grid.searchsorted(origin, side="right")
    return Matched(records, at, history, y)


def score(forecast_log: ForecastLog, observed: Panel, filled: Panel) -> pd.DataFrame:
    """One row per logged forecast, in the log's order: `issue, version, issued_at, origin,
    unique_id`, its `status` (`scored`: every target is in DATA; `pending`: some are after
    the end of its series in DATA; `disappeared`: DATA no longer has the series),
    `pending_targets`, `history_changed` (DATA's series starts elsewhere than the history it
    was made from), and for scored ones the scores of `score_forecast`.

    `observed`: DATA with its gaps as NaN (`load_panel(..., fill=False)`), the actuals;
    `filled`: the same repaired as the model's --fill does, the history."""
    rows = forecast_log.rows
    horizon = forecast_log.newest.horizon
    y_hat = rows["y_hat"].to_numpy(np.float64).reshape(-1, horizon)
    levels = sorted(
        {level for header in forecast_log.headers.values() for level in header.levels}, key=float
    )
    bounds = {
        level: tuple(
            rows[f"y_hat-{side}-{level}"].to_numpy(np.float64).reshape(-1, horizon)
            for side in ("lo", "hi")
        )
        for level in levels
    }
    matched = match(forecast_log, observed)
    pasts: dict[int, np.ndarray] = {}
    for j, record in enumerate(matched.records):
        if record["status"] != "scored":
            continue
        i = int(matched.series[j])
        if i not in pasts:
            pasts[i] = filled.series(i).astype(np.float64)
        record.update(
            score_forecast(
                matched.y[j],
                y_hat[j],
                {level: (lo[j], hi[j]) for level, (lo, hi) in bounds.items()},
                pasts[i][: matched.history[j]],
                forecast_log.headers[record["issue"]].season,
            )
        )
    return pd.DataFrame.from_records(matched.records)


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """The score columns of a `score` frame, in report order."""
    names = [*POINT, *(f"{NAIVE}_{key}" for key in POINT)]
    levels = sorted(
        {c.split("-", 1)[1] for c in frame.columns if c.startswith("coverage-")}, key=float
    )
    for level in levels:
        names += [f"coverage-{level}", f"msis-{level}"]
    return [name for name in names if name in frame.columns]


def averages(scored: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per group of `by`: the number of forecasts and targets scored and the mean of every
    score over its forecasts (NaN scores left out), in first-seen order."""
    grouped = scored.groupby(by, sort=False)
    table = grouped[metric_columns(scored)].mean()
    table.insert(0, "targets", grouped["targets"].sum())
    table.insert(0, "forecasts", grouped.size())
    return table.reset_index()


@dataclass(frozen=True)
class Report:
    """What `monitor` found. `forecasts`: `score`'s frame; `issues`: one row per scored issue
    (issue order) with its version, issue time and latest origin; `versions`: one row per
    version over all its scored issues; `window`: the served version's last `window_size`
    scored issues together (None when it has none yet), `window_issues` their file names;
    `validation`: each version's validation scores (forecast_log.validation_scores);
    `recalibration`: the served version's interval recalibration
    (tsforecast.recalibration.State.to_dict; None when not computed, as for a --log log)."""

    served: str
    window_size: int
    forecasts: pd.DataFrame
    issues: pd.DataFrame
    versions: pd.DataFrame
    window: dict[str, Any] | None
    window_issues: tuple[str, ...]
    validation: dict[str, dict[str, Any]]
    skipped: tuple[tuple[str, str], ...]
    recalibration: dict[str, Any] | None = None

    @property
    def pending(self) -> pd.DataFrame:
        return self.forecasts[self.forecasts["status"] == "pending"]

    @property
    def disappeared(self) -> list[str]:
        gone = self.forecasts["status"] == "disappeared"
        return list(dict.fromkeys(self.forecasts.loc[gone, "unique_id"]))

    @property
    def history_changed(self) -> list[str]:
        changed = self.forecasts["history_changed"].astype(bool)
        return list(dict.fromkeys(self.forecasts.loc[changed, "unique_id"]))


def monitor(
    forecast_log: ForecastLog, observed: Panel, filled: Panel, served: str, window: int
) -> Report:
    """Score the log against DATA (see `score`) and average it per issue, per version and over
    the last `window` scored issues of version `served`."""
    forecasts = score(forecast_log, observed, filled)
    scored = forecasts[forecasts["status"] == "scored"]
    validation = {h.version: h.validation for h in forecast_log.headers.values()}
    empty = pd.DataFrame(columns=["issue", "version", "forecasts", "targets"])
    if scored.empty:
        return Report(
            served, window, forecasts, empty, empty, None, (), validation, forecast_log.skipped
        )
    issues = averages(scored, ["issue"])
    first = scored.groupby("issue", sort=False)
    issues.insert(1, "version", first["version"].first().to_numpy())
    issues.insert(2, "issued_at", first["issued_at"].first().to_numpy())
    issues.insert(3, "origin", first["origin"].max().to_numpy())
    versions = averages(scored, ["version"])
    counts = issues.groupby("version", sort=False).size()
    versions.insert(1, "issues", counts[versions["version"]].to_numpy())
    mine = issues.loc[issues["version"] == served, "issue"].tail(window)
    in_window = scored[scored["issue"].isin(mine)]
    together = None
    if not in_window.empty:
        scores = averages(in_window.assign(scope="window"), ["scope"]).drop(columns="scope")
        together = {"issues": len(mine)}
        for key, value in scores.iloc[0].items():
            together[key] = int(value) if key in ("forecasts", "targets") else float(value)
    return Report(
        served,
        window,
        forecasts,
        issues,
        versions,
        together,
        tuple(mine),
        validation,
        forecast_log.skipped,
    )


@dataclass(frozen=True)
class Decision:
    """Whether the served version is degraded, whether the window held enough evidence to say
    (`conclusive`), the checks it fails (one reason each; failed but not conclusive is not
    degraded) and the one line that says so."""

    degraded: bool
    conclusive: bool
    reasons: tuple[str, ...]
    message: str


def decide(report: Report, tolerance: float) -> Decision:
    """Degraded when, over the served version's last `window` scored issues, its MASE is above
    its validation MASE times 1 + `tolerance`, or above seasonal naive's at the same origins,
    or its 90% intervals (when logged) cover under 80% of the targets; and the window holds
    MIN_ISSUES scored issues (`window` of them when it is smaller), or every issue in it is
    GROSS times beyond the validation limit or the coverage floor. Checks failed on fewer
    issues are reported as not yet conclusive."""
    window, served = report.window, report.served
    if window is None:
        return Decision(
            False,
            False,
            (),
            f"nothing to judge yet: no forecast of version {served} has all its targets in DATA",
        )
    issues = int(window["issues"])
    needed = min(MIN_ISSUES, report.window_size)
    each = report.issues[report.issues["issue"].isin(report.window_issues)]
    over = f"over its last {issues} scored issue{'s' if issues != 1 else ''}"
    realised = float(window["mase"])
    naive = float(window.get(f"{NAIVE}_mase", math.nan))
    validation = report.validation.get(served, {}).get("mase")
    reasons, facts, gross = [], [f"MASE {realised:.4g}"], []
    if validation is not None and math.isfinite(validation):
        limit = validation * (1 + tolerance)
        facts.append(f"validation {validation:.4g}, limit {limit:.4g}")
        if realised > limit:
            reasons.append(
                f"realised MASE {realised:.4g} is above validation MASE {validation:.4g} "
                f"x {1 + tolerance:g} = {limit:.4g}"
            )
            gross.append(bool((each["mase"] > GROSS * limit).all()))
    if math.isfinite(naive):
        facts.append(f"seasonal naive {naive:.4g}")
        # Never gross alone: both sides are a day or two of noisy scores, and a very regular day
        # makes seasonal naive's tiny.
        if realised > naive:
            reasons.append(f"it loses to seasonal naive (MASE {realised:.4g} vs {naive:.4g})")
    for level, floor in COVERAGE_FLOOR.items():
        covered = window.get(f"coverage-{level}")
        if covered is None or not math.isfinite(covered):
            continue
        facts.append(f"{level}% coverage {100 * covered:.1f}%")
        if covered < floor:
            reasons.append(
                f"{level}% interval coverage {100 * covered:.1f}% is below {100 * floor:g}%"
            )
            gross.append(bool((each[f"coverage-{level}"] < floor / GROSS).all()))
    conclusive = issues >= needed or any(gross)
    if reasons and conclusive:
        few = (
            ""
            if issues >= needed
            else f" (fewer than {needed}, but each off by a factor {GROSS:g})"
        )
        message = f"degraded: version {served} {over}{few}: " + "; ".join(reasons)
        return Decision(True, True, tuple(reasons), message)
    if reasons:
        message = (
            f"not yet conclusive: version {served} {over}: " + "; ".join(reasons) + f"; a "
            f"verdict needs {needed} scored issues (or each one off by a factor {GROSS:g})"
        )
        return Decision(False, False, tuple(reasons), message)
    message = f"version {served} is within tolerance {over}: " + ", ".join(facts)
    return Decision(False, conclusive, (), message)


def rows(report: Report) -> pd.DataFrame:
    """The report as one table: a row per scored issue (`scope` issue), per version (`version`)
    and for the window (`window`), with each version's validation MASE and sMAPE beside."""
    parts = []
    if not report.issues.empty:
        parts.append(report.issues.assign(scope="issue"))
        parts.append(report.versions.assign(scope="version"))
    if report.window is not None:
        parts.append(pd.DataFrame([{"scope": "window", "version": report.served, **report.window}]))
    if not parts:
        return pd.DataFrame(columns=["scope", "version"])
    table = pd.concat(parts, ignore_index=True)
    for key in ("mase", "smape"):
        scores = [report.validation.get(version, {}).get(key) for version in table["version"]]
        table[f"validation_{key}"] = [math.nan if v is None else float(v) for v in scores]
    first = ["scope", "version", "issue", "issued_at", "origin", "issues", "forecasts", "targets"]
    ordered = [c for c in first if c in table.columns]
    return table[ordered + [c for c in table.columns if c not in ordered]]


def _plain(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(value) else float(value)
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {key: _plain(value) for key, value in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def summary(report: Report, decision: Decision, exit_code: int) -> dict[str, Any]:
    """The whole report as JSON-ready values (NaN as None)."""
    pending = report.pending
    return {
        "served_version": report.served,
        "window": report.window_size,
        "decision": {
            "degraded": decision.degraded,
            "conclusive": decision.conclusive,
            "reasons": list(decision.reasons),
            "message": decision.message,
            "exit_code": exit_code,
        },
        "window_scores": None
        if report.window is None
        else {key: _plain(value) for key, value in report.window.items()},
        "window_issues": list(report.window_issues),
        "validation": report.validation,
        "versions": _records(report.versions),
        "issues": _records(report.issues),
        "pending": {
            "forecasts": len(pending),
            "targets": int(pending["pending_targets"].sum()) if len(pending) else 0,
        },
        "disappeared_series": report.disappeared,
        "history_changed_series": report.history_changed,
        "skipped_files": [{"file": name, "reason": why} for name, why in report.skipped],
        "recalibration": report.recalibration,
    }


def write_report(report: Report, decision: Decision, exit_code: int, path: Path) -> None:
    """The report as JSON (`summary`) for a .json path, else as CSV (`rows`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".json":
        path.write_text(jsontext.dumps(summary(report, decision, exit_code), indent=2) + "\n")
    else:
        rows(report).to_csv(path, index=False)


def realised(report: Report) -> dict[str, dict[str, Any]]:
    """Per version, what `registry list` shows: scored issues and forecasts, realised MASE and
    sMAPE and seasonal naive's MASE over all its scored issues."""
    keys = ("issues", "forecasts", "mase", "smape", f"{NAIVE}_mase")
    return {
        row["version"]: {key: _plain(row.get(key)) for key in keys}
        for row in report.versions.to_dict(orient="records")
    }
