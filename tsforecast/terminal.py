"""What a run shows on the terminal: the epoch progress, the training summary, metric tables,
the registry listing and the forecast plot. `tsforecast.cli` decides what to show; this module
decides how it looks.

stdout carries results (forecasts, metric tables); stderr carries progress and summaries, as
text for people or, with `--log-format json`, as one JSON object per line.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections import Counter
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .logs import emit
from .serving import MSTL, NETWORK

stderr = Console(stderr=True, highlight=False)
# The group callback sets the format; failures before it (bad group options) use the environment's.
settings = {"log_format": os.environ.get("TSFORECAST_LOG_FORMAT", "text")}


class LiveBar:
    """A rich bar on stderr while a run goes on, when stderr is a terminal and the log format is
    text; the subclass prints plain lines (or JSON events) otherwise."""

    def __init__(self, enabled: bool, *columns) -> None:
        self.enabled = enabled
        self.json = settings["log_format"] == "json"
        self.live = enabled and stderr.is_terminal and not self.json
        self.progress = Progress(*columns, console=stderr, transient=True)

    def __enter__(self):
        if self.live:
            self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.live:
            self.progress.stop()


class EpochProgress(LiveBar):
    """A live bar on a terminal; one plain line per epoch otherwise (cron logs)."""

    def __init__(self, epochs: int, enabled: bool) -> None:
        super().__init__(
            enabled,
            TextColumn("epoch {task.completed}/{task.total}"),
            BarColumn(),
            TextColumn("{task.fields[losses]}"),
            TimeElapsedColumn(),
        )
        self.task = (
            self.progress.add_task("train", total=epochs, losses="compiling...")
            if self.live
            else None
        )

    def update(self, record, prefix: str = "", completed: int | None = None) -> None:
        if not self.enabled:
            return
        line = (
            f"{prefix}epoch {record.epoch}: train {record.train_loss:.4f}  "
            f"val {record.val_loss:.4f}  lr {record.lr:.2g}  {record.seconds:.1f}s"
        )
        if self.json:
            emit(
                "epoch",
                line,
                epoch=record.epoch,
                train_loss=record.train_loss,
                val_loss=record.val_loss,
                lr=record.lr,
                duration=record.seconds,
            )
        elif self.live:
            self.progress.update(
                self.task,
                completed=completed or record.epoch,
                losses=f"train {record.train_loss:.4f} val {record.val_loss:.4f}",
            )
            self.progress.console.print(line)
        else:
            click.echo(line, err=True)


def serving_line(steps: list[str]) -> str:
    """`what serves: the network at 40 of 48 steps, seasonal_naive_168 at 8`."""
    counts = Counter(steps)
    if set(counts) == {NETWORK}:
        return f"served: the network at all {len(steps)} steps"
    parts = [f"{name} at {count}" for name, count in counts.most_common()]
    return f"served ({len(steps)} steps): " + ", ".join(parts).replace("model at", "the network at")


def serving_lines(serving: dict) -> list[str]:
    """What is served and why, and why MSTL was left out, if it was and the user did not ask
    for it (`--no-fallback`)."""
    lines = [serving_line(serving["steps"])]
    if "why" in serving:
        lines[0] += f" ({serving['why']})"
    left_out = serving.get("without_mstl")
    if left_out and left_out != "--no-fallback":
        lines.append(f"mstl is not a candidate: {left_out}")
    return lines


# Validation coverage this far (percentage points) below its level is flagged: the intervals
# will not hold what they say.
COVERAGE_SHORTFALL = 5.0


def interval_lines(
    intervals: dict, levels: tuple[float, ...], calibration: int | None
) -> list[str]:
    """Each level's validation coverage, flagged where it falls far short, and which levels
    `predict` can serve (`calibration`: the conformal scores per step; None for a quantile
    model, which serves the levels it was trained for)."""
    lines = []
    for level, scores in intervals.get("served", {}).items():
        naive_scores = intervals["seasonal_naive"].get(level)
        if scores is None:
            lines.append(f"{level}% intervals: too few validation windows to score them")
            continue
        covered = 100 * scores["coverage"]
        line = (
            f"{level}% intervals ({intervals['method']}): "
            f"coverage {covered:.1f}%, MSIS {scores['msis']:.3g}"
        )
        if naive_scores is not None:
            line += (
                f" (seasonal naive, conformal: {100 * naive_scores['coverage']:.1f}%, "
                f"MSIS {naive_scores['msis']:.3g})"
            )
        if covered < float(level) - COVERAGE_SHORTFALL:
            line = f"warning: {line}: below its level, the intervals are too narrow for this data"
        lines.append(line)
    if calibration is None:
        named = ", ".join(f"{level:g}%" for level in levels)
        lines.append(f"predict can serve the {named} intervals this quantile model learned")
    else:
        widest = math.floor(1000 * calibration / (calibration + 1)) / 10
        lines.append(
            f"predict can serve intervals up to {widest:g}% ({calibration} calibration windows; "
            "a larger --val-size allows wider)"
        )
    return lines


def scored_windows(metrics: dict) -> str:
    """`193 windows`, or where MSTL took part `9 of 193 windows, those MSTL was fitted at`."""
    total = metrics["validation_windows"]
    scored = metrics.get("scored_windows", total)
    if scored == total:
        return f"{total} windows"
    return f"{scored} of {total} windows, those MSTL was fitted at"


def print_summary(outcome, path: Path) -> None:
    """The validation table of a trained model (the network, each seasonal naive, MSTL where it
    joined the serving check, and what is served), whether what it serves beats seasonal naive,
    its intervals' scores and where it was written, on stderr."""
    metrics = outcome.artifact.metrics
    methods = [
        name for name in metrics if name in ("model", MSTL) or name.startswith("seasonal_naive")
    ]
    steps = metrics["serving"]["steps"]
    if set(steps) != {"model"}:
        methods.append("served")
    table = Table(
        title=f"validation ({scored_windows(metrics)}, best epoch {outcome.best_epoch})",
        title_justify="left",
    )
    table.add_column("method")
    for key in ("mae", "rmse", "smape", "mase"):
        table.add_column(key.upper(), justify="right")
    for name in methods:
        row = metrics[name]
        label = "model (network)" if name == "model" else name.replace("_", " ")
        table.add_row(label, *(f"{row[k]:.4g}" for k in ("mae", "rmse", "smape", "mase")))
    stderr.print(table)
    # soft_wrap: off a terminal rich folds lines at 80 columns, which would split the path.
    for line in serving_lines(metrics["serving"]):
        stderr.print(line, soft_wrap=True)
    served = metrics["served"]
    naive = min(
        (name for name in methods if name.startswith("seasonal_naive")),
        key=lambda name: metrics[name]["mase"],
    )
    mase = f"MASE {served['mase']:.3f} vs {metrics[naive]['mase']:.3f}"
    label = naive.replace("_", " ")
    if served["mase"] < metrics[naive]["mase"]:
        verdict = f"the forecast beats {label}, the best seasonal naive: {mase}"
    else:
        verdict = f"the forecast does NOT beat {label}: {mase}"
    stderr.print(verdict, soft_wrap=True)
    artifact = outcome.artifact
    scores = artifact.conformal_scores
    for line in interval_lines(
        metrics["intervals"],
        artifact.config.intervals.levels,
        None if scores is None else scores.shape[0],
    ):
        stderr.print(line, soft_wrap=True)
    stderr.print(f"model written to {path}", soft_wrap=True)


def metrics_table(summary, title: str) -> Table:
    """One row per method, one column per metric; '-' where a metric does not apply."""
    table = Table(title=title, title_justify="left")
    table.add_column("method")
    for column in summary.columns:
        table.add_column(str(column), justify="right")
    for method, row in summary.iterrows():
        # NaN: the metric does not apply (a baseline has no intervals, no history for MASE).
        table.add_row(str(method), *("-" if value != value else f"{value:.4g}" for value in row))
    return table


def fitted(table: Table, width: int, keys: int) -> list[Table]:
    """`table` as tables of at most `width` characters that cut no cell: each has the first
    `keys` columns (what a row is) and as many of the others, in order, as fit beside them. One
    table when it all fits."""
    columns = table.columns

    def needed(column) -> int:  # the widest cell, its padding and its border
        return 3 + max(len(str(column.header)), *(len(str(cell)) for cell in column.cells))

    base = 1 + sum(needed(column) for column in columns[:keys])
    groups: list[list] = [[]]
    used = base
    for column in columns[keys:]:
        if groups[-1] and used + needed(column) > width:
            groups.append([])
            used = base
        groups[-1].append(column)
        used += needed(column)
    tables = []
    for k, group in enumerate(groups):
        part = Table(title=table.title if k == 0 else None, title_justify="left")
        chosen = [*columns[:keys], *group]
        for column in chosen:
            part.add_column(column.header, justify=column.justify, no_wrap=True, overflow="fold")
        for cells in zip(*(list(column.cells) for column in chosen), strict=True):
            part.add_row(*cells)
        tables.append(part)
    return tables


def print_fitted(table: Table, keys: int) -> None:
    """`table` on stdout, `fitted` to the terminal's width (200 columns into a file or pipe)."""
    # Made per call: test runners swap sys.stdout per command.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    for part in fitted(table, console.width, keys):
        console.print(part)


def print_metrics(summary, title: str) -> None:
    """`metrics_table` on stdout, fitted to the terminal."""
    print_fitted(metrics_table(summary, title), keys=1)


REGISTRY_COLUMNS = ("", "version", "created", "data hash", "data until")
# What each version serves; versions trained before serving existed have the network's only.
REGISTRY_METRICS = {
    "MASE": (("served", "model"), "mase"),
    "sMAPE": (("served", "model"), "smape"),
    "naive MASE": (("seasonal_naive",), "mase"),
}


# What `tsforecast monitor --registry` last found for each version, over its scored issues.
REALISED_COLUMNS = {
    "realised MASE": "mase",
    "realised naive MASE": "seasonal_naive_mase",
    "issues": "issues",
}


def first_metric(metrics: dict, methods: tuple[str, ...], key: str) -> float:
    """The score of the first of `methods` that metrics.json holds; NaN where it holds none or
    an undefined one (null: MASE of a constant series)."""
    for method in methods:
        if method in metrics:
            value = metrics[method].get(key)
            return float("nan") if value is None else value
    return float("nan")


def recalibrated_widths(recalibration: dict) -> str:
    """`90%: 1.13, 80%: 1.02`: per level, the mean of the width multipliers over the horizon
    steps that `predict --registry` applied; '-' for none."""
    levels = recalibration.get("levels", {})
    if not levels:
        return "-"
    means = {name: sum(s["multipliers"]) / len(s["multipliers"]) for name, s in levels.items()}
    return ", ".join(f"{name}%: {mean:.3g}" for name, mean in means.items())


def registry_table(registry_dir, rows) -> Table:
    """The versions of a registry (`Registry.describe()` rows), oldest first, * on the current."""
    table = Table(title=f"registry {Path(registry_dir).absolute()}", title_justify="left")
    for column in REGISTRY_COLUMNS:
        table.add_column(column, justify="left")
    for column in (*REGISTRY_METRICS, "interval width x", *REALISED_COLUMNS):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            "*" if row.current else "",
            row.name,
            row.created_at,
            row.data_hash[:12],
            row.last_timestamp,
            *(
                _cell(first_metric(row.metrics, methods, key))
                for methods, key in REGISTRY_METRICS.values()
            ),
            recalibrated_widths(row.recalibration),
            *(_cell(row.realised.get(key)) for key in REALISED_COLUMNS.values()),
        )
    return table


def _cell(value) -> str:
    """A number as the tables show it; '-' for none (not monitored, nothing to scale by)."""
    return "-" if value is None or value != value else f"{value:.4g}"


def print_registry(registry_dir, rows, monitored: dict) -> None:
    """`registry_table` on stdout, fitted to the terminal, then the legend: where the realised
    columns come from (`monitored`: what the last monitor run recorded, {} if none)."""
    print_fitted(registry_table(registry_dir, rows), keys=2)
    click.echo("* current")
    if monitored:
        click.echo(
            f"realised: as `tsforecast monitor` scored the logged forecasts at "
            f"{monitored.get('monitored_at')} (data until {monitored.get('data_until')}); "
            "- where none of a version's forecasts was scored"
        )
    else:
        click.echo("realised: no `tsforecast monitor --registry` run recorded yet")
    for row in rows:
        if row.compared:
            c = row.compared["comparison"]
            outcome = "promoted" if row.compared["action"] == "promote" else "kept as candidate"
            click.echo(
                f"{row.name}: {outcome} on {c['metric']} {c['new']:.4g} against "
                f"{row.compared['previous']}'s {c['current']:.4g} on the same {c['windows']} "
                "validation windows (the table scores each version on its own)"
            )
    for row in rows:
        recalibration = row.recalibration
        if not recalibration.get("levels"):
            continue
        fitted = "; ".join(
            f"{name}%: {s['origins']} origins, {s['targets']} targets, served coverage "
            + ("-" if s.get("coverage") is None else f"{100 * s['coverage']:.1f}%")
            for name, s in recalibration["levels"].items()
        )
        click.echo(
            "interval width x: the mean over the horizon steps of the multipliers the last "
            f"`predict --registry` applied to the intervals, at {recalibration.get('computed_at')}"
            f" (data until {recalibration.get('data_until')}), fitted on {fitted}"
        )


def monitor_table(table, report, title: str) -> Table:
    """`monitor.rows` of the last `--window` issues, then per version and the window: the
    realised scores, seasonal naive's at the same origins, the validation MASE."""
    shown = table[(table["scope"] != "issue") | table["issue"].isin(report.window_issues)]
    levels = [c.removeprefix("coverage-") for c in table.columns if c.startswith("coverage-")]
    columns = {
        "forecasts": "forecasts",
        "MAE": "mae",
        "sMAPE": "smape",
        "MASE": "mase",
        "naive MAE": "seasonal_naive_mae",
        "naive sMAPE": "seasonal_naive_smape",
        "naive MASE": "seasonal_naive_mase",
        "valid. MASE": "validation_mase",
    }
    for level in levels:
        columns[f"cover {level}"] = f"coverage-{level}"
        columns[f"MSIS {level}"] = f"msis-{level}"
    result = Table(title=title, title_justify="left")
    for column in ("scope", "version", "origin"):
        result.add_column(column)
    for column in columns:
        result.add_column(column, justify="right")
    for row in shown.to_dict(orient="records"):
        origin = row.get("origin")
        result.add_row(
            row["scope"],
            row["version"],
            "" if origin is None or origin != origin else str(origin),
            *(
                f"{100 * row[key]:.1f}%"
                if key.startswith("coverage-") and row.get(key) == row.get(key)
                else _cell(row.get(key))
                for key in columns.values()
            ),
        )
    return result


def print_monitor(table, report, title: str) -> None:
    """`monitor_table` on stdout, fitted to the terminal."""
    print_fitted(monitor_table(table, report, title), keys=3)


def draw_forecast(artifact, parts, path: str, max_series: int) -> None:
    """The forecast with its intervals after the last four seasons (or horizons) of history, one
    panel per series for the first `max_series` series, as a PNG. `parts`: (panel, its
    forecast frame) pairs, series in drawing order (one pair, or a chunked read's first)."""
    from itertools import islice

    import pandas as pd

    from .plots import plot_forecast

    keep = 4 * max(artifact.config.data.season, artifact.config.window.horizon)
    drawn = islice(((panel, i) for panel, _ in parts for i in range(len(panel.ids))), max_series)
    histories = {
        panel.ids[i]: pd.Series(panel.series(i)[-keep:], index=panel.timestamps(i)[-keep:])
        for panel, i in drawn
    }
    frame = pd.concat([frame for _, frame in parts], ignore_index=True)
    plot_forecast(histories, frame, Path(path), max_series)


def train_into_registry(root, panel, config, options, quiet: bool, began: float) -> None:
    """`retraining.retrain` with a progress bar, reported by process 0 (`report_retrain`); a
    version kept as a candidate exits 3."""
    from .retraining import retrain
    from .runtime import is_primary

    with EpochProgress(config.train.epochs, enabled=not quiet) as progress:
        result = retrain(root, panel, config, options, on_epoch=progress.update)
    if is_primary():
        report_retrain(root, result, quiet, began)
    if result.status == "candidate":
        click.get_current_context().exit(3)


def report_retrain(root, result, quiet: bool, began: float) -> None:
    """What a registry run did, as events (and the training summary unless --quiet)."""
    fields = {"version": result.version, "data_hash": result.data_hash[:12]}
    if result.status == "skipped":
        emit(
            "skipped",
            f"nothing to do: {result.reason}",
            **fields,
            duration=time.monotonic() - began,
        )
        return
    path = Path(root).absolute() / "versions" / result.version
    report_training(result.outcome, path, quiet, began, version=result.version)
    metrics = result.outcome.artifact.metrics
    champion = result.champion_metrics
    if result.status == "promoted":
        was = f" (was {result.previous})" if result.previous else ""
        compared = result.comparison
        if compared is not None:
            was += (
                f": {compared['metric']} {compared['new']:.4g} against {compared['current']:.4g} "
                f"on the same {compared['windows']} validation windows"
            )
        emit(
            "promoted",
            f"version {result.version} is now current{was}",
            **fields,
            previous=result.previous,
            metrics=metrics,
            current_metrics=champion,
            duration=time.monotonic() - began,
        )
    else:
        emit(
            "not_promoted",
            result.reason,
            **fields,
            previous=result.previous,
            metrics=metrics,
            current_metrics=champion,
            duration=time.monotonic() - began,
        )
    if result.removed:
        emit(
            "removed",
            f"removed old versions: {', '.join(result.removed)}",
            versions=list(result.removed),
        )


def report_training(
    outcome, path: Path, quiet: bool, began: float, version: str | None = None
) -> None:
    """A `trained` event for log collectors, else the summary for people (unless --quiet)."""
    metrics = outcome.artifact.metrics
    if settings["log_format"] == "json":
        served, naive = metrics["served"], metrics["seasonal_naive"]
        emit(
            "trained",
            f"model written to {path}: MASE {served['mase']:.3f}, "
            f"seasonal naive {naive['mase']:.3f}",
            version=version,
            path=str(path),
            metrics=metrics,
            best_epoch=outcome.best_epoch,
            duration=time.monotonic() - began,
        )
    elif not quiet:
        print_summary(outcome, path)


def report_monitoring(report) -> None:
    """What was not scored, one line each: pending targets, series gone from DATA, series
    whose history changed."""
    pending = report.pending
    if len(pending):
        emit(
            "pending",
            f"{int(pending['pending_targets'].sum())} targets of {len(pending)} forecast(s) not "
            "in DATA yet: those forecasts are not scored",
            forecasts=len(pending),
            targets=int(pending["pending_targets"].sum()),
        )
    if report.disappeared:
        gone = report.disappeared
        emit(
            "disappeared",
            f"{len(gone)} series no longer in DATA, their forecasts not scored: "
            f"{', '.join(map(repr, gone[:5]))}{' ...' if len(gone) > 5 else ''}",
            series=gone,
        )
    if report.history_changed:
        changed = report.history_changed
        emit(
            "history_changed",
            f"the history of {len(changed)} series in DATA starts elsewhere than when "
            f"{'it was' if len(changed) == 1 else 'they were'} forecast (MASE is scaled by the "
            f"history DATA holds now): {', '.join(map(repr, changed[:5]))}"
            f"{' ...' if len(changed) > 5 else ''}",
            series=changed,
        )


class TuneProgress(LiveBar):
    """`tune`'s live bar on a terminal (trials done, the best validation MASE so far, the time
    left of the budget), one line per round otherwise."""

    def __init__(self, trials: int, budget: float | None, enabled: bool) -> None:
        super().__init__(
            enabled,
            TextColumn("trial {task.completed}/{task.total}"),
            BarColumn(),
            TextColumn("{task.fields[best]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[left]}"),
        )
        self.budget = budget
        self.task = self.progress.add_task("tune", total=trials, best="first round...", left="")

    def update(self, trials, seconds: float) -> None:
        if not self.enabled:
            return
        scores = [t.earlier for t in trials if t.state == "complete"]
        best = f"best MASE {min(scores):.4f}" if scores else "no trial finished yet"
        left = f"{max(0.0, self.budget - seconds):.0f}s of the budget left" if self.budget else ""
        line = f"{len(trials)} trials in {seconds:.0f}s: {best}" + (f", {left}" if left else "")
        if self.json:
            emit("tune_round", line, trials=len(trials), duration=seconds)
        elif self.live:
            self.progress.update(self.task, completed=len(trials), best=best, left=left)
        else:
            click.echo(line, err=True)


def _setting(value) -> str:
    return f"{value:.2g}" if isinstance(value, float) and value and value < 0.01 else str(value)


def print_trials(result) -> None:
    """`tune`'s table of trials on stdout, then what was chosen and why on stderr."""
    searched = list(result.trials[0].options)
    table = Table(title="Trials (validation MASE of the served forecast)", title_justify="left")
    for header in ["trial", *searched, "state", "earlier half", "later half", "all", "s"]:
        table.add_column(header, justify="right")
    for t in result.trials:
        scores = (f"{v:.4f}" if v == v else "-" for v in (t.earlier, t.later, t.mase))
        table.add_row(
            str(t.number),
            *(_setting(t.options[k]) for k in searched),
            t.state,
            *scores,
            f"{t.seconds:.0f}",
        )
    print_fitted(table, keys=1)
    complete = sorted(t.mase for t in result.trials if t.state == "complete")
    best, defaults = result.best, result.defaults
    lines = [
        f"{len(result.trials)} trials in {result.seconds:.0f}s (stopped by {result.stopped_by}); "
        f"validation MASE from {complete[0]:.4f} to {complete[-1]:.4f} across the trials",
    ]
    if best.number == defaults.number:
        lines.append(f"the defaults (trial {defaults.number}) scored best: nothing to change")
    elif result.confirmed:
        lines.append(
            f"chosen: trial {best.number}, best on the earlier half ({best.earlier:.4f} against "
            f"the defaults' {defaults.earlier:.4f}) and confirmed on the later half "
            f"({best.later:.4f} against {defaults.later:.4f})"
        )
    else:
        lines.append(
            f"kept the defaults: trial {best.number} was best on the earlier half "
            f"({best.earlier:.4f}) but not on the later half ({best.later:.4f} against the "
            f"defaults' {defaults.later:.4f})"
        )
    for line in lines:
        if settings["log_format"] == "json":
            emit("tuned", line)
        else:
            stderr.print(line, soft_wrap=True)
