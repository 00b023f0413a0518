"""The command line: a thin click shell over the library. It parses options (the shared groups
are tsforecast.options'), reads the data file once per command, hands the panel to the library,
and turns typed library errors into one line on stderr and an exit code (EXIT_CODES); how
results look on the terminal is tsforecast.terminal's business."""

from __future__ import annotations

import dataclasses
import functools
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

import click

from .config import FILL_METHODS, REFITS, STDIN, DataConfig
from .errors import Terminated, TsforecastError
from .logs import FORMATS, configure, emit, json_line
from .options import (
    REGISTRY_ONLY,
    SectionedCommand,
    build_config,
    column_options,
    config_options,
    data_argument,
    examples,
    given,
    lock_timeout_option,
    reading_options,
    registry_options,
    retrain_options,
)
from .terminal import (
    EpochProgress,
    draw_forecast,
    print_metrics,
    print_monitor,
    print_registry,
    report_monitoring,
    report_training,
    settings,
    stderr,
    train_into_registry,
)
from .tune_command import tune

EXIT_CODES = """\b
Exit codes:
   0  ok (also: --skip-unchanged found the data unchanged)
   1  internal error, or the registry cannot be written (disk full, read-only)
   2  bad input or options
   3  trained but not promoted (--promote if-better); kept as a candidate
   4  degraded (monitor): the served forecasts' realised accuracy is off
  75  registry locked by another run (--lock-timeout passed)
 130  interrupted (Ctrl-C); 143 terminated (SIGTERM): the partial version removed
Every option can also be set as TSFORECAST_<COMMAND>_<OPTION>, e.g. TSFORECAST_TRAIN_EPOCHS=20."""

TEXT_PREFIX = {"error": "error: ", "internal_error": "internal error: "}
# `tsforecast monitor`: the served forecasts' realised accuracy is out of tolerance.
DEGRADED = 4


def report_failure(message: str, code: int, kind: str = "error") -> None:
    """The one line a failed run leaves on stderr: text for people, a json object for collectors."""
    if settings["log_format"] == "json":
        click.echo(json_line(kind, message, "error", exit_code=code), err=True)
    else:
        click.echo(f"tsforecast: {TEXT_PREFIX.get(kind, '')}{message}", err=True)


def _terminate(signum, frame) -> None:
    raise Terminated()


class Group(click.Group):
    """Reports every failure as one line on stderr, never a traceback (set TSFORECAST_DEBUG=1
    to see one for internal errors). SIGTERM raises Terminated, so a run killed by cron or a
    service manager unwinds through the same cleanup as Ctrl-C."""

    command_class = SectionedCommand

    def main(self, *args, **kwargs):
        kwargs["standalone_mode"] = False
        in_main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
        try:
            code = self._run(*args, **kwargs)
        finally:
            if in_main_thread:
                signal.signal(signal.SIGTERM, previous)
        sys.exit(code)

    def _run(self, *args, **kwargs) -> int:
        try:
            code = super().main(*args, **kwargs)
        except (click.exceptions.Abort, KeyboardInterrupt):
            report_failure("interrupted", 130, "interrupted")
            return 130
        except Terminated:
            report_failure("terminated by SIGTERM", Terminated.exit_code, "terminated")
            return Terminated.exit_code
        except click.ClickException as exc:
            report_failure(exc.format_message(), exc.exit_code)
            return exc.exit_code
        except TsforecastError as exc:
            report_failure(str(exc), exc.exit_code)
            return exc.exit_code
        except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, exit 1
            if os.environ.get("TSFORECAST_DEBUG"):
                traceback.print_exc()
            report_failure(f"{type(exc).__name__}: {exc}", 1, "internal_error")
            return 1
        return code if isinstance(code, int) else 0


# --- the group ----------------------------------------------------------------------------------


@click.group(
    cls=Group,
    context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "TSFORECAST"},
    epilog=examples(
        "tsforecast train sales.csv --horizon 24 --out models/sales",
        "tsforecast predict --model models/sales --level 80 --level 95",
    )
    + "\n\n"
    + EXIT_CODES,
)
@click.version_option(package_name="tsforecast")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    envvar="TSFORECAST_CACHE_DIR",
    help="Where compiled programs are kept between runs. Default: ~/.cache/tsforecast/xla.",
)
@click.option(
    "--log-format",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    envvar="TSFORECAST_LOG_FORMAT",
    help="stderr as text lines, or one JSON object per line (event, timestamp, version, "
    "metrics, duration) for log collectors.",
)
def cli(cache_dir, log_format) -> None:
    """Forecast time series with recurrent neural networks (LSTM, GRU, BiLSTM, Conv1D-LSTM) on
    JAX."""
    from .runtime import enable_compilation_cache, start_distributed

    settings["log_format"] = log_format
    configure(log_format)
    enable_compilation_cache(cache_dir)
    start_distributed()


# --- train --------------------------------------------------------------------------------------


@cli.command(
    epilog=examples(
        "tsforecast train sales.csv --horizon 24 --epochs 30 --out models/sales",
        "tsforecast train sales.csv --registry models/sales --warm-start --epochs 5 "
        "--promote if-better --skip-unchanged --keep 10",
    )
)
@data_argument
@config_options
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="tsforecast-model",
    show_default=True,
    help="Model directory to write (replaced only when the new one is complete).",
)
@registry_options
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="No progress or summary on stderr (registry outcomes are still logged).",
)
def train(out, quiet, **options):
    """Train a forecasting model on DATA (CSV or Parquet) and write a model directory.

    The last windows of each series are held out for validation; metrics.json compares the
    model with seasonal naive on them. With --registry each run adds a version and decides
    whether it becomes current (safe to run from cron: see the README).
    """
    began = time.monotonic()
    registry_dir = options["registry_dir"]
    if registry_dir and given("out"):
        raise click.UsageError(
            "--out and --registry are mutually exclusive: a registry names its versions itself"
        )
    if not registry_dir and any(given(name) for name in REGISTRY_ONLY):
        name = next(name for name in REGISTRY_ONLY if given(name))
        raise click.UsageError(f"--{name.replace('_', '-')} needs --registry")

    config = build_config(options)
    from . import api, artifacts
    from .atomic import sweep
    from .runtime import is_primary, on_primary

    if registry_dir:
        panel, data_cfg = api.read(config.data)
        config = dataclasses.replace(config, data=data_cfg)
        train_into_registry(registry_dir, panel, config, retrain_options(options), quiet, began)
        return
    # Before training, not after it; and what killed runs left. Only process 0 writes there.
    on_primary(lambda: sweep(artifacts.check_out(out)))
    with EpochProgress(config.train.epochs, enabled=not quiet) as progress:
        model = api.train_with(config, on_epoch=progress.update)
    # Every host trained the same model; process 0 writes it, the others end as it does.
    path = on_primary(lambda: model.save(out))
    if is_primary():
        report_training(model.training, path, quiet, began)


# --- predict ------------------------------------------------------------------------------------


@cli.command(
    epilog=examples(
        "tsforecast predict                      # the training file, ./tsforecast-model",
        "tsforecast predict new.csv --model models/sales --out forecast.csv --plot forecast.png",
        "tsforecast predict --level 80 --level 95       # with prediction intervals",
    )
)
@click.argument(
    "data", type=click.Path(exists=True, dir_okay=False, allow_dash=True), required=False
)
@click.option(
    "--model",
    "model_dir",
    type=click.Path(file_okay=False),
    default="tsforecast-model",
    show_default=True,
    help="Model directory written by `tsforecast train`.",
)
@click.option(
    "--registry",
    "registry_dir",
    type=click.Path(file_okay=False),
    help="Use the current version of this registry instead of --model.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write the forecast here instead of stdout (- is stdout): Parquet for .parquet, JSON "
    "records for .json, else CSV.",
)
@click.option(
    "--level",
    "levels",
    type=float,
    multiple=True,
    help="Add a prediction interval at this level in percent (repeatable): columns "
    "y_hat-lo-<level>, y_hat-hi-<level>.",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False),
    help="Also draw recent history and the forecast (with shaded intervals) to this PNG.",
)
@click.option(
    "--plot-max",
    type=click.IntRange(min=1),
    default=12,
    show_default=True,
    help="Series drawn by --plot (the first ones), one panel each.",
)
@click.option(
    "--id",
    "ids",
    multiple=True,
    help="Forecast only this series (repeatable). Default: every series in DATA.",
)
@click.option(
    "--future",
    "future_path",
    type=click.Path(exists=True, dir_okay=False),
    help="CSV or Parquet with the future covariates for the horizon steps of each series (id, "
    "time and covariate columns as in training).",
)
@reading_options("DATA and --future", saved_by="the model")
@click.option(
    "--log-to",
    "log_dir",
    type=click.Path(file_okay=False),
    help="Record the forecast in this forecast log folder, for `tsforecast monitor --log DIR` "
    "(--registry records in REGISTRY/forecasts without it).",
)
@click.option(
    "--keep-forecasts",
    type=click.IntRange(min=1),
    default=90,
    show_default=True,
    help="--registry or --log-to: days of recorded forecasts to keep; older log files are removed.",
)
@click.option(
    "--recalibrate/--no-recalibrate",
    default=True,
    show_default=True,
    help="--registry: widen or narrow each --level's interval at each step by how often the "
    "current version's logged intervals missed the actuals now in DATA (online quantile "
    "tracking; docs/intervals.md). --no-recalibrate serves the calibrated widths.",
)
@click.option(
    "--chunk-rows",
    type=click.IntRange(min=0),
    default=2_000_000,
    show_default=True,
    help="Read a long-layout DATA file of more rows a chunk of whole series at a time, to "
    "forecast panels larger than memory (the same output; docs/scale.md). 0: read it whole.",
)
def predict(
    data,
    model_dir,
    registry_dir,
    out,
    levels,
    plot,
    plot_max,
    ids,
    future_path,
    log_dir,
    keep_forecasts,
    recalibrate,
    chunk_rows,
    **reading,
):
    """Forecast the steps after the end of DATA (default: the file the model was trained on).

    Writes CSV `ds,y_hat,...,method` with real future timestamps, in the original units; with
    --level also the interval bounds; with several series `unique_id` first. method says what
    made each row: `model` (the network), `model+mstl` (the mean of the network and MSTL),
    `mstl`, or seasonal naive (`seasonal_naive`, or `seasonal_naive_<period>` for a longer
    period), as training chose per horizon step on validation (see `train --no-fallback`);
    seasonal naive also for a series shorter than the lookback.

    With --registry the forecast is also recorded in REGISTRY/forecasts/ (one Parquet file per
    call, for `tsforecast monitor`); with --model, --log-to DIR records it in DIR. With
    --registry the intervals are recalibrated from that log: per level and step, wider after
    the current version's intervals missed the actuals DATA now holds, narrower after they held
    them (as calibrated until it has logged forecasts whose actuals arrived); the multipliers
    are kept in REGISTRY/recalibration.json.
    """
    from . import predicting

    began = time.monotonic()
    if registry_dir:
        if given("model_dir"):
            raise click.UsageError("--model and --registry are mutually exclusive")
        if log_dir:
            raise click.UsageError(
                "--log-to and --registry are mutually exclusive: --registry records the "
                "forecast in REGISTRY/forecasts"
            )
        from .registry import Registry

        registry = Registry(registry_dir)
        version, artifact = registry.load_current()
        model_dir = registry.versions / version
    else:
        if given("keep_forecasts") and not log_dir:
            raise click.UsageError("--keep-forecasts needs --registry or --log-to")
        if given("recalibrate"):
            raise click.UsageError(
                "--recalibrate and --no-recalibrate need --registry: the recalibration is "
                "replayed from the registry's forecast log"
            )
        from . import artifacts

        artifact = artifacts.load(model_dir)
    state = None
    if registry_dir and recalibrate and levels:
        state = predicting.recalibration_state(registry, version, artifact, data, reading)
    multipliers = state.multipliers(levels) if state is not None else None
    from .runtime import is_primary

    logged = None
    with predicting.predict(
        artifact,
        data,
        levels,
        future_path,
        ids,
        multipliers,
        reading,
        chunk_rows,
        plot_max if plot else 0,
        bool(registry_dir or log_dir),
    ) as prediction:
        if not is_primary():
            return  # every process of a multi-host run forecast by itself; process 0 writes
        # Missing folders are created, as `train --out` does, rather than failing after the
        # forecast.
        if plot:
            Path(plot).parent.mkdir(parents=True, exist_ok=True)
            draw_forecast(artifact, prediction.plotted(), plot, plot_max)
        if out and out != STDIN:
            prediction.write(out)
        else:
            for text in prediction.text():
                click.echo(text, nl=False)
        if registry_dir or log_dir:
            logged = predicting.record_forecast(
                artifact, prediction, model_dir, registry_dir, log_dir, keep_forecasts
            )
    if state is not None:
        predicting.record_recalibration(registry, state, logged)
    if registry_dir:
        emit(
            "predicted",
            f"forecast by version {Path(model_dir).name}",
            version=Path(model_dir).name,
            forecast_log=logged,
            recalibration=None if state is None else state.to_dict(),
            duration=time.monotonic() - began,
        )


# --- registry -----------------------------------------------------------------------------------


@cli.group(
    name="registry",
    epilog=examples(
        "tsforecast registry list models/sales",
        "tsforecast registry rollback models/sales",
        "tsforecast registry promote models/sales 20260101T020000Z-1a2b3c4d",
    ),
)
def registry_group():
    """Inspect a model registry (`train --registry DIR`) and switch its current version by hand.

    Versions live in DIR/versions/<UTC time>-<data hash>/; DIR/current links to the promoted
    one, and `predict --registry DIR` uses it.
    """


@registry_group.command(name="list", epilog=examples("tsforecast registry list models/sales"))
@click.argument("registry_dir", type=click.Path(file_okay=False))
def registry_list(registry_dir):
    """Show every version, oldest first: creation time, data hash, validation metrics, the
    realised scores the last `tsforecast monitor --registry` recorded, and which one is
    current.
    """
    from .registry import Registry

    registry = Registry(registry_dir)
    rows = registry.describe()
    print_registry(registry_dir, rows, registry.realised())


@registry_group.command(
    name="promote",
    epilog=examples("tsforecast registry promote models/sales 20260101T020000Z-1a2b3c4d"),
)
@click.argument("registry_dir", type=click.Path(file_okay=False))
@click.argument("version")
@lock_timeout_option
def registry_promote(registry_dir, version, lock_timeout):
    """Make VERSION (a name from `tsforecast registry list`) the current version."""
    from .registry import Registry
    from .runtime import is_primary, on_primary

    # Run on every host of a multi-host job, the registry still changes once.
    previous = on_primary(
        lambda: Registry(registry_dir).change(lock_timeout, lambda r: r.promote(version))
    )
    if is_primary():
        emit(
            "promoted",
            f"version {version} is now current (was {previous})",
            version=version,
            previous=previous,
        )


@registry_group.command(
    name="rollback", epilog=examples("tsforecast registry rollback models/sales")
)
@click.argument("registry_dir", type=click.Path(file_okay=False))
@lock_timeout_option
def registry_rollback(registry_dir, lock_timeout):
    """Make the version that was current before the current one current again."""
    from .registry import Registry
    from .runtime import is_primary, on_primary

    # Run on every host of a multi-host job, it still goes back one version, not one per host.
    before, after = on_primary(
        lambda: Registry(registry_dir).change(lock_timeout, Registry.rollback)
    )
    if is_primary():
        emit("rolled_back", f"rolled back from {before} to {after}", version=after, previous=before)


# --- monitor ------------------------------------------------------------------------------------


@cli.command(
    epilog=examples(
        "tsforecast monitor sales.csv --registry models/sales",
        "tsforecast monitor sales.csv --registry models/sales --window 14 --out monitor.json "
        "--plot monitor.png",
        "tsforecast monitor sales.csv --log forecast-log --tolerance 0.1",
    )
)
@click.argument("data", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option(
    "--registry",
    "registry_dir",
    type=click.Path(file_okay=False),
    help="Score the forecasts `predict --registry` recorded in this registry; its current "
    "version is the served one.",
)
@click.option(
    "--log",
    "log_dir",
    type=click.Path(file_okay=False),
    help="Score the forecasts `predict --log-to` recorded in this folder instead; the newest "
    "file's version is the served one.",
)
@click.option(
    "--window",
    type=click.IntRange(min=1),
    default=7,
    show_default=True,
    help="The served version's last scored issues (predict calls) that the decision averages.",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0),
    default=0.25,
    show_default=True,
    help="Degraded when the realised MASE is above the validation MASE x (1 + tolerance).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="Also write the report here: every issue, version and the window (.json: with the "
    "decision, pending and disappeared series; else CSV).",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False),
    help="Draw the realised MASE per issue, seasonal naive's and the validation level to this PNG.",
)
@reading_options("DATA", saved_by="the served model")
def monitor(data, registry_dir, log_dir, window, tolerance, out, plot, **reading):
    """Score the recorded forecasts against the actuals now in DATA, and say whether the served
    model is degraded (exit 4).

    Each logged forecast whose targets are all in DATA is scored: MAE, sMAPE, MASE (scaled by
    the history in DATA up to its origin, at the model's primary seasonal period), coverage
    and MSIS per interval level, and seasonal naive issued at the same origin beside it. The
    table (stdout) shows the last --window issues, each version and the window; forecasts
    still waiting for targets are counted as pending. Exit 4 when, over the served version's
    last --window scored issues, its MASE is above its validation MASE x (1 + --tolerance),
    or above seasonal naive's, or its 90% intervals (if predicted with --level 90) cover under
    80%; the reason is one line on stderr. A forecast's steps count as one observation: on
    fewer than 3 scored issues (or --window, if smaller) a failed check is "not yet conclusive"
    (exit 0) unless each issue's MASE is above twice the limit or its coverage under 40%. A log
    file that cannot be read is skipped with a warning; one from a model of another horizon or
    frequency is refused (exit 2).
    """
    from . import monitor as monitoring
    from . import watching

    if bool(registry_dir) == bool(log_dir):
        raise click.UsageError("give one of --registry or --log")
    watched = watching.watch(data, registry_dir, log_dir, window, reading)
    report, recalibrated = watched.report, watched.recalibrated
    decision = monitoring.decide(report, tolerance)
    code = DEGRADED if decision.degraded else 0
    from .runtime import is_primary

    if not is_primary():
        # Every process of a multi-host run scored alike; process 0 writes and reports.
        click.get_current_context().exit(code)
    report_monitoring(report)
    table = monitoring.rows(report)
    if out:
        monitoring.write_report(report, decision, code, Path(out))
    if plot and not report.issues.empty:
        from .plots import plot_monitor

        Path(plot).parent.mkdir(parents=True, exist_ok=True)
        validation = {v: s.get("mase") for v, s in report.validation.items()}
        plot_monitor(report.issues, validation, tolerance, Path(plot))
    if registry_dir:
        watched.record_realised()
    if not report.issues.empty:
        print_monitor(table, report, f"monitor: {watched.log.directory} against {data}")
    if recalibrated is not None:
        click.echo(f"interval recalibration for the next predict: {recalibrated.describe()}")
    emit(
        "degraded" if decision.degraded else "monitored",
        decision.message,
        version=report.served,
        window=report.window,
        validation=report.validation.get(report.served),
        reasons=list(decision.reasons),
        exit_code=code,
    )
    if code:
        click.get_current_context().exit(code)


# --- backtest -----------------------------------------------------------------------------------


@cli.command(
    epilog=examples(
        "tsforecast backtest sales.csv --horizon 24 --windows 4 --step 24",
        "tsforecast backtest sales.csv --windows 3 --refit each --baselines mstl,ets --out bt",
    )
)
@click.option(
    "--windows",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Number of cutoffs (forecast origins).",
)
@click.option(
    "--step", type=click.IntRange(min=1), help="Steps between cutoffs. Default: the horizon."
)
@click.option(
    "--refit",
    type=click.Choice(REFITS),
    default=REFITS[0],
    show_default=True,
    help="Train once before the first cutoff, or again at each cutoff (warm-started from the "
    "previous fit).",
)
@click.option(
    "--baselines",
    "extra_baselines",
    default="",
    help="Also run statsforecast models (comma-separated; pip install 'tsforecast[baselines]'): "
    "mstl (MSTL over every seasonal period, AutoETS trend), ets (AutoETS), theta (AutoTheta), "
    "the last two at the primary period.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="tsforecast-backtest",
    show_default=True,
    help="Directory for backtest_forecasts.csv and the metrics tables.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@data_argument
@config_options
def backtest(windows, step, refit, extra_baselines, out, quiet, **options):
    """Rolling-origin evaluation of a model on DATA against naive, seasonal naive (at each
    seasonal period) and Naive2, and with --baselines statsforecast's MSTL, ETS and Theta.

    At each of --windows cutoffs (--step steps apart, the last one a horizon before the end of
    each series) the model is trained as `tsforecast train` would on the data before the cutoff
    and forecasts the next horizon. Writes backtest_forecasts.csv
    (unique_id,cutoff,ds,y,y_hat,<baselines>) and backtest_metrics.csv/.json into --out, and
    prints MAE, RMSE, sMAPE, MASE and OWA per method, averaged over series and windows. With
    --level, the model's intervals are scored too (coverage, width, MSIS).
    """
    from .api import backtest_with
    from .atomic import sweep
    from .backtesting import BacktestConfig, check_out, write_results
    from .runtime import is_primary, on_primary

    config = build_config(options)
    # Before training, not after it; and what killed runs left there. Only process 0 writes.
    on_primary(lambda: sweep(check_out(out)))
    names = tuple(name.strip() for name in extra_baselines.split(",") if name.strip())
    plan = BacktestConfig(
        windows=windows, step=step, refit=refit, extra_baselines=names, levels=options["levels"]
    )
    trainings = windows if refit == "each" else 1
    with EpochProgress(config.train.epochs * trainings, enabled=not quiet) as progress:
        done = {"epochs": 0}

        def report(cutoff, record):
            done["epochs"] += 1
            progress.update(record, prefix=f"cutoff {cutoff + 1}: ", completed=done["epochs"])

        result = backtest_with(config, plan, on_epoch=report)
    # Every host trained and forecast alike; process 0 writes, the others end as it does.
    path = on_primary(lambda: write_results(result, out))
    if not is_primary():
        return
    print_metrics(
        result.evaluation.summary,
        f"backtest: {result.cutoffs} cutoff(s), averaged over series and windows",
    )
    if not quiet:
        stderr.print(f"forecasts and metrics written to {path}")


# --- evaluate -----------------------------------------------------------------------------------


@cli.command(
    epilog=examples(
        "tsforecast evaluate forecast.csv test.csv --train train.csv",
        "tsforecast evaluate tsforecast-backtest/backtest_forecasts.csv data.csv --out scores.csv",
    )
)
@click.argument("forecasts", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.argument("actuals", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option(
    "--train",
    "train_path",
    type=click.Path(exists=True, dir_okay=False),
    help="History the forecasts were made from (for MASE, Naive2 and OWA). Default: the values "
    "of ACTUALS before each forecast.",
)
@click.option(
    "--season-length",
    type=click.IntRange(min=1),
    help="Seasonal period for MASE and Naive2. Default: from the frequency of the data.",
)
@column_options("ACTUALS and --train")
@reading_options("ACTUALS and --train (FORECASTS is read as tsforecast writes it)")
@click.option(
    "--fill",
    type=click.Choice(FILL_METHODS),
    default=DataConfig.fill,
    show_default=True,
    help="Read ACTUALS and --train as train does, on each series' grid with the gaps filled "
    "this way: give the --fill the forecasts were made with, and a backtest's forecasts score "
    "as the backtest scored them. none: the values as they are, missing ones left out.",
)
@click.option(
    "--out", type=click.Path(dir_okay=False), help="Also write the table here (.csv or .json)."
)
@click.option(
    "--by-window",
    type=click.Path(dir_okay=False),
    help="Also write the metrics of every series and cutoff to this CSV.",
)
def evaluate(forecasts, actuals, train_path, season_length, out, by_window, **columns):
    """Score FORECASTS against ACTUALS: MAE, RMSE, sMAPE, MASE and OWA per method.

    FORECASTS is in tsforecast's output format (`[unique_id,] [cutoff,] ds, y_hat`); every other
    numeric column is another method, and `<method>-lo-<level>` / `-hi-<level>` columns are
    scored as prediction intervals (coverage, width, MSIS). Metrics are computed per series and
    cutoff, then averaged; OWA is relative to Naive2 as in the M4 competition.
    """
    from .api import evaluate as evaluate_tables
    from .evaluation import write_summary

    result = evaluate_tables(forecasts, actuals, season_length, train_path, **columns)
    from .runtime import is_primary

    if not is_primary():
        return  # every process of a multi-host run scored the same; process 0 writes
    if out:
        write_summary(result.summary, Path(out))
    if by_window:
        Path(by_window).parent.mkdir(parents=True, exist_ok=True)
        result.by_window.to_csv(by_window, index=False)
    print_metrics(result.summary, "forecast accuracy")


# --- models -------------------------------------------------------------------------------------


@cli.command(name="models", epilog=examples("tsforecast models"))
def list_models():
    """List the model families, their options and their size with default options."""
    from .models import DEFAULT_HORIZON, DEFAULT_LOOKBACK, MODELS, default_param_counts

    for name, spec in MODELS.items():
        options = ", ".join("--" + o.replace("_", "-") for o in spec.options)
        counts = ", ".join(
            f"{n:,} {strategy}" for strategy, n in default_param_counts(name).items()
        )
        click.echo(
            f"{name:10s} {spec.description}\n"
            f"{'':10s} options: {options}\n"
            f"{'':10s} parameters: {counts}"
        )
    click.echo(
        f"\nParameters counted with default options, lookback {DEFAULT_LOOKBACK}, "
        f"horizon {DEFAULT_HORIZON}, one input feature."
    )


# In a module of its own, the search being a job of its own.
cli.add_command(tune)

main = functools.partial(cli.main, prog_name="tsforecast")
