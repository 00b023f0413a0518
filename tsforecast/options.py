"""The command-line options `train`, `backtest` and the other commands share, declared once as
decorators, one group per section of the Config (`data_options`, `window_options`,
`model_options`, `training_options`, `interval_options`), and the builder of each section
(`data_config`, ...) from the options its group declared."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from .config import (
    DEFAULT_FRAMING,
    DEFAULT_LEVELS,
    DUPLICATE_RULES,
    FILL_METHODS,
    INTERVAL_METHODS,
    INTERVAL_SPREADS,
    LOSSES,
    MERGES,
    MODEL_NAMES,
    NORMALIZATIONS,
    PROMOTE_METRICS,
    PROMOTE_RULES,
    RESIDUALS,
    STDIN,
    STRATEGIES,
    TRANSFORMS,
    Config,
    DataConfig,
    IntervalConfig,
    ModelConfig,
    RetrainOptions,
    TrainConfig,
    WindowConfig,
)
from .errors import ConfigError

# The click keyword arguments of a command, by parameter name.
Options = Mapping[str, Any]


def examples(*lines: str) -> str:
    """The epilog that ends every command's help: example command lines, printed as written."""
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)


def given(name: str, from_file: bool = False) -> bool:
    """Whether the user set option `name` on the command line or in the environment (or, with
    `from_file`, in the --config file)."""
    source = click.get_current_context().get_parameter_source(name)
    sources = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    return source in sources + ((ParameterSource.DEFAULT_MAP,) if from_file else ())


# --- option groups: the options `train` and `backtest` share, one group per Config section ------


def option_group(*decorators: Callable, title: str | None = None) -> Callable:
    """One decorator applying `decorators` (options, or other groups) in the order given, so the
    options appear in the help in that order; with `title`, `--help` lists them under it (an
    inner group's title wins)."""

    def decorate(command):
        before = len(getattr(command, "__click_params__", ()))
        for decorator in reversed(decorators):
            command = decorator(command)
        if title is not None:
            for param in command.__click_params__[before:]:
                if not hasattr(param, "help_section"):
                    param.help_section = title
        return command

    return decorate


class SectionedCommand(click.Command):
    """A command whose `--help` lists its options under the titles of their option groups, in
    the order they first appear, and the options outside a titled group last, under
    "Options"."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx) if isinstance(param, click.Option) else None
            if record is not None:
                sections.setdefault(getattr(param, "help_section", "Options"), []).append(record)
        sections["Options"] = sections.pop("Options", [])  # last
        for title, rows in sections.items():
            with formatter.section(title):
                formatter.write_dl(rows)


class Periods(click.ParamType):
    """Comma-separated whole numbers of at least 1, e.g. `48,336`."""

    name = "PERIODS"

    def convert(self, value, param, ctx):
        if isinstance(value, list | tuple):  # from the API, or a --config file's list
            value = ",".join(str(part) for part in value)
        try:
            periods = tuple(int(part) for part in str(value).split(","))
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of whole numbers", param, ctx)
        if min(periods) < 1:
            self.fail(f"{value!r}: every period must be at least 1", param, ctx)
        return periods


SEASONS = Periods()


class Duration(click.ParamType):
    """A wall-clock time: seconds, or a number with s, m or h (`90s`, `30m`, `1.5h`)."""

    name = "DURATION"
    UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}

    def convert(self, value, param, ctx):
        if isinstance(value, int | float):
            return float(value)
        text = str(value).strip().lower()
        unit = self.UNITS.get(text[-1:], None)
        try:
            seconds = float(text[:-1] if unit else text) * (unit or 1.0)
        except ValueError:
            self.fail(f"{value!r} is not a duration like 90s, 30m or 2h", param, ctx)
        if not seconds > 0:
            self.fail(f"{value!r}: the duration must be positive", param, ctx)
        return seconds


def columns(ctx, param, value) -> tuple[str, ...]:
    """A comma-separated list of column names (a list: from a --config file)."""
    if isinstance(value, list | tuple):
        value = ",".join(value)
    return tuple(name.strip() for name in (value or "").split(",") if name.strip())


# The argument `data_config` reads the data path from.
data_argument = click.argument(
    "data", type=click.Path(exists=True, dir_okay=False, allow_dash=True)
)


def reading_section(files: str) -> str:
    """The `--help` section of the options that read `files` (a note in brackets left out)."""
    return f"Reading {files.partition(' (')[0]}"


def reading_options(files: str, saved_by: str | None = None) -> Callable:
    """--date-format and --encoding for reading `files`; `saved_by`: the model whose reading
    options are the default (None: ISO 8601 or the one format that fits, and UTF-8)."""
    if saved_by:
        formats = f"Default: {saved_by}'s (as given to train), else inferred."
        encodings = {"help": f"Text encoding of {files}, e.g. latin-1. Default: {saved_by}'s."}
    else:
        formats = "Default: ISO 8601, else the one format (day-first or month-first) that fits."
        encodings = {
            "default": DataConfig.encoding,
            "show_default": True,
            "help": f"Text encoding of {files}, e.g. latin-1 or cp1252 (UTF-8 may start with a "
            "byte order mark).",
        }
    return option_group(
        click.option(
            "--date-format",
            help=f"strftime format of the time column of {files}, e.g. %d/%m/%Y. {formats}",
        ),
        click.option("--encoding", **encodings),
        title=reading_section(files),
    )


def column_options(files: str) -> Callable:
    """--time-col, --target and --id-col: the columns of `files` that hold the time, the values
    and the series ids."""
    return option_group(
        click.option(
            "--time-col",
            help=f"Time column of {files}. Default: ds, date, time, timestamp or datetime, else "
            "the first date column.",
        ),
        click.option(
            "--target",
            help=f"Column of {files} to forecast. Default: y, else the only numeric column.",
        ),
        click.option(
            "--id-col",
            help=f"Series id column of {files} (several series in long layout). Default: "
            "unique_id, id, series or item_id if present.",
        ),
        title=reading_section(files),
    )


# DataConfig: how to read the data file and which of its columns the model sees.
data_options = option_group(
    column_options("DATA"),
    reading_options("DATA"),
    click.option("--freq", help="Pandas frequency (h, 15min, D, W, MS...). Default: inferred."),
    click.option(
        "--fill",
        type=click.Choice(FILL_METHODS),
        default=DataConfig.fill,
        show_default=True,
        help="Repair gaps and missing values (per series) instead of refusing them.",
    ),
    click.option(
        "--duplicates",
        type=click.Choice(DUPLICATE_RULES),
        default=DataConfig.duplicates,
        show_default=True,
        help="Rows of a series at one timestamp (the autumn hour that a local-time export "
        "repeats): refuse them, or keep their mean, sum, first or last value.",
    ),
    click.option(
        "--wide/--long",
        default=None,
        help="Layout: one column per series (wide) or id, time, value rows (long). Default: "
        "wide when there are several numeric columns, no id column and no --target.",
    ),
    click.option(
        "--covariates",
        callback=columns,
        help="Comma-separated past-observed numeric columns fed alongside the target over the "
        "lookback.",
    ),
    click.option(
        "--future-covariates",
        callback=columns,
        help="Comma-separated columns known in advance (prices, holidays); the model sees their "
        "horizon values; predict needs --future FILE.",
    ),
    click.option(
        "--static",
        callback=columns,
        help="Comma-separated per-series constant columns (region, store type), one-hot encoded.",
    ),
    click.option(
        "--calendar",
        is_flag=True,
        help="Add hour-of-day, day-of-week, day-of-month and month-of-year features (as the "
        "frequency allows), for the horizon too.",
    ),
    click.option(
        "--holidays",
        metavar="COUNTRY[-SUBDIV]",
        help="Add public-holiday inputs (the day is one; days to the nearest) for the horizon "
        "too, from the holidays package: e.g. US, GB, DE-BY, AU-VIC. Daily or finer data.",
    ),
    click.option(
        "--strict",
        is_flag=True,
        help="Refuse series too short to train on instead of skipping them (and, at predict, "
        "instead of seasonal naive).",
    ),
    click.option(
        "--season-length",
        type=SEASONS,
        help="Seasonal periods, comma-separated, the primary first (MASE's scale): e.g. 48,336 "
        "for half-hourly data with a daily and a weekly cycle. The seasonal blend and the "
        "fallback use every one. Default: from the frequency: sub-daily a day and a week "
        "(24,168 hourly; 48,336 half-hourly; 96,672 15-minute), daily 7 (and 365 with two "
        "years of data), weekly 52, monthly 12, quarterly 4; the longer period only when the "
        "series hold two cycles of it.",
    ),
    click.option(
        "--transform",
        type=click.Choice(TRANSFORMS),
        default=DataConfig.transform,
        show_default=True,
        help="What the network models: log(y) (relative errors, multiplicative seasonality; "
        "needs values > 0) or y itself. auto: log when every training value is positive.",
    ),
    title="Data and features",
)

# WindowConfig: how the series are cut into windows.
window_options = option_group(
    click.option(
        "--lookback",
        type=click.IntRange(min=1),
        help="Input steps per window. Default: 7 seasons if at most 336 steps (a week of hourly "
        "data), else 2 seasons if at most 336; never under 96; fewer whole seasons on short "
        "data.",
    ),
    click.option(
        "--horizon",
        type=click.IntRange(min=1),
        default=WindowConfig.horizon,
        show_default=True,
        help="Steps to forecast.",
    ),
    click.option(
        "--val-size",
        type=click.IntRange(min=1),
        help="Validation windows per series (the last ones). Default: targets covering "
        "max(horizon, 10%) of the series.",
    ),
    title="Windows",
)

# ModelConfig: the network and how it frames a window.
model_options = option_group(
    click.option(
        "--model",
        "model_name",
        type=click.Choice(MODEL_NAMES),
        default=ModelConfig.name,
        show_default=True,
        help="Model family (see `tsforecast models`).",
    ),
    click.option(
        "--strategy",
        type=click.Choice(STRATEGIES),
        default=ModelConfig.strategy,
        show_default=True,
        help="Multi-step forecasting: all steps from one head (direct), or one step fed back "
        "`horizon` times (recursive; target-only input, no window framing). recursive compounds "
        "its own errors and lost to direct on ETTh1 and M4 Hourly (docs/accuracy.md): use it "
        "only where a backtest shows it winning.",
    ),
    click.option(
        "--hidden",
        type=click.IntRange(min=1),
        default=ModelConfig.hidden,
        show_default=True,
        help="Recurrent units per layer (per direction for bilstm).",
    ),
    click.option(
        "--layers",
        type=click.IntRange(min=1),
        default=ModelConfig.layers,
        show_default=True,
        help="Stacked recurrent layers.",
    ),
    click.option(
        "--dropout",
        type=click.FloatRange(0, 1, max_open=True),
        default=ModelConfig.dropout,
        show_default=True,
        help="Dropout between layers and before the head.",
    ),
    click.option(
        "--chunk",
        type=click.IntRange(min=1),
        default=ModelConfig.chunk,
        help="Values per recurrent step: the window enters the recurrence in chunks of N values "
        "(24: a day per step for hourly data), each encoded by a dense layer, so a long lookback "
        "takes N times fewer sequential steps. Not with --forking. [default: a day per step for "
        "sub-daily data with --strategy direct, else 1]",
    ),
    click.option(
        "--merge",
        type=click.Choice(MERGES),
        default=ModelConfig.merge,
        show_default=True,
        help="bilstm: how forward and backward outputs are combined.",
    ),
    click.option(
        "--dense-between",
        is_flag=True,
        help="bilstm: a Dense layer between stacked bidirectional layers (as in CRNN).",
    ),
    click.option(
        "--filters",
        type=click.IntRange(min=1),
        default=ModelConfig.filters,
        show_default=True,
        help="conv-lstm: Conv1D filters.",
    ),
    click.option(
        "--conv-layers",
        type=click.IntRange(min=1),
        default=ModelConfig.conv_layers,
        show_default=True,
        help="conv-lstm: Conv1D layers, each followed by pooling.",
    ),
    click.option(
        "--kernel-size",
        type=click.IntRange(min=1),
        default=ModelConfig.kernel_size,
        show_default=True,
        help="conv-lstm: Conv1D kernel width.",
    ),
    click.option(
        "--pool-size",
        type=click.IntRange(min=1),
        default=ModelConfig.pool_size,
        show_default=True,
        help="conv-lstm: max-pooling width (1 = none).",
    ),
    click.option(
        "--normalize",
        type=click.Choice(NORMALIZATIONS),
        help="series: per-series z-scores; window: also centre and scale each input window by "
        "its own mean and std.  "
        f"[default: {DEFAULT_FRAMING['direct'][0]}; "
        f"{DEFAULT_FRAMING['recursive'][0]} for --strategy recursive or --forking]",
    ),
    click.option(
        "--residual",
        type=click.Choice(RESIDUALS),
        help="blend: add a learned share of each window's seasonal-naive forecast; seasonal: "
        "learn only the correction of that forecast.  "
        f"[default: {DEFAULT_FRAMING['direct'][1]}; "
        f"{DEFAULT_FRAMING['recursive'][1]} for --strategy recursive]",
    ),
    title="Model",
)

# TrainConfig: the optimisation.
training_options = option_group(
    click.option(
        "--epochs",
        type=click.IntRange(min=1),
        default=TrainConfig.epochs,
        show_default=True,
        help="Most epochs to train.",
    ),
    click.option(
        "--batch-size",
        type=click.IntRange(min=1),
        default=TrainConfig.batch_size,
        show_default=True,
        help="Windows per minibatch.",
    ),
    click.option(
        "--epoch-windows",
        type=click.IntRange(min=1),
        default=TrainConfig.epoch_windows,
        show_default=True,
        help="Train each epoch on this many training windows drawn at random (fresh each "
        "epoch); all of them when there are fewer.",
    ),
    click.option(
        "--lr",
        type=click.FloatRange(min=0, min_open=True),
        default=TrainConfig.lr,
        show_default=True,
        help="Adam learning rate.",
    ),
    click.option(
        "--clip-norm",
        type=click.FloatRange(min=0, min_open=True),
        default=TrainConfig.clip_norm,
        show_default=True,
        help="Clip gradients to this global norm.",
    ),
    click.option(
        "--weight-decay",
        type=click.FloatRange(min=0),
        default=TrainConfig.weight_decay,
        show_default=True,
        help="Decoupled weight decay (AdamW), e.g. 0.01; 0 trains with plain Adam.",
    ),
    click.option(
        "--input-noise",
        type=click.FloatRange(min=0),
        default=TrainConfig.input_noise,
        show_default=True,
        help="Gaussian noise (in standard deviations of the series) added to the target values "
        "each training window reads, e.g. 0.05.",
    ),
    click.option(
        "--loss",
        type=click.Choice(LOSSES),
        default=TrainConfig.loss,
        show_default=True,
        help="Training loss on standardised values.",
    ),
    click.option(
        "--patience",
        type=click.IntRange(min=1),
        default=TrainConfig.patience,
        show_default=True,
        help="Stop after this many epochs without a better validation loss (the best epoch is "
        "kept).",
    ),
    click.option(
        "--lr-patience",
        type=click.IntRange(min=0),
        default=TrainConfig.lr_patience,
        show_default=True,
        help="Halve the learning rate after this many epochs without a better validation loss "
        "(0: never).",
    ),
    click.option(
        "--min-delta",
        type=click.FloatRange(0, 1, max_open=True),
        default=TrainConfig.min_delta,
        show_default=True,
        help="A validation loss is better only when it is this fraction below the best so far "
        "(0.001: 0.1%); for --patience, --lr-patience and the epoch kept.",
    ),
    click.option(
        "--seed",
        type=int,
        default=TrainConfig.seed,
        show_default=True,
        help="Seed for initialisation and shuffling: same data and seed, same model.",
    ),
    click.option(
        "--ensemble",
        type=click.IntRange(min=1),
        default=TrainConfig.ensemble,
        show_default=True,
        help="Train this many copies (seeds seed, seed+1, ...) in one compiled program; forecast "
        "their median.",
    ),
    click.option(
        "--fallback/--no-fallback",
        default=TrainConfig.fallback,
        show_default=True,
        help="Serve the mean of the network and MSTL (with statsforecast installed and at most "
        "10 series; else the network) at each horizon step unless another of them or seasonal "
        "naive at a period beat it on both halves of the validation windows; predict's method "
        "column says what served each row. --no-fallback serves the network alone.",
    ),
    click.option(
        "--forking",
        is_flag=True,
        help="Forking sequences (MQ-RNN): train the forecast after every step of each window, "
        "not only after its last; forecasts are made as without it. lstm and gru only (bilstm "
        "and conv-lstm read later steps), --strategy direct, --normalize series (its default "
        "here); with --residual blend or seasonal, only the forks that have read its longest "
        "period. Off by default.",
    ),
    title="Training",
)

# IntervalConfig: prediction intervals.
interval_options = option_group(
    click.option(
        "--interval-method",
        type=click.Choice(INTERVAL_METHODS),
        default=IntervalConfig.method,
        show_default=True,
        help="conformal: calibrate on the validation errors, any --level at predict time. "
        "quantile: train quantile heads (pinball loss, replaces --loss) for the --level values "
        "given here.",
    ),
    click.option(
        "--interval-spread",
        type=click.Choice(INTERVAL_SPREADS),
        default=IntervalConfig.spread,
        show_default=True,
        help="What a conformal interval's half-width is a multiple of: recent, how much the "
        "series moved over the lookback the forecast reads (mean absolute change over one "
        "season), so intervals widen when a series turns volatile; series, its standard "
        "deviation over the training part, one width per series.",
    ),
    click.option(
        "--level",
        "levels",
        type=float,
        multiple=True,
        help="Interval level in percent, repeatable: the levels scored in metrics.json, and the "
        "only ones a quantile model can predict. Default: "
        f"{', '.join(f'{v:g}' for v in DEFAULT_LEVELS)}.",
    ),
    title="Prediction intervals",
)


def flag_names(command: click.Command) -> dict[str, str]:
    """{option name as the API and option files spell it (`season_length`): parameter name}."""
    return {
        flag[2:].replace("-", "_"): param.name
        for param in command.params
        for flag in param.opts
        if flag.startswith("--")
    }


def options_file(path: str) -> dict[str, Any]:
    """The "options" object of a JSON file `tsforecast tune --out` writes: {option name with _
    for -: value}. A ConfigError names what is wrong with it."""
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"--config {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"--config {path} is not JSON ({exc})") from None
    options = payload.get("options") if isinstance(payload, dict) else None
    if not isinstance(options, dict):
        raise ConfigError(
            f'--config {path} has no "options" object; it reads what `tsforecast tune --out` '
            'writes, {"options": {"hidden": 32, ...}}'
        )
    return options


def _apply_options_file(ctx: click.Context, param: click.Parameter, value: str | None):
    """--config: the file's options become the command's defaults, so options given on the
    command line (or in the environment) win over them."""
    if not value:
        return value
    options = options_file(value)
    names = flag_names(ctx.command)
    unknown = sorted(set(options) - set(names) - {"config"})
    if unknown:
        raise ConfigError(
            f"--config {value} sets {', '.join(unknown)}, which `tsforecast {ctx.info_name}` has "
            "no option for"
        )
    ctx.default_map = {**(ctx.default_map or {}), **{names[k]: v for k, v in options.items()}}
    return value


config_file_option = click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    is_eager=True,
    expose_value=False,
    callback=_apply_options_file,
    help="JSON file of option values (what `tsforecast tune --out` writes); options given on "
    "the command line override it.",
)

# Everything a Config is built from (but DATA): `train` and `backtest` take all of it.
config_options = option_group(
    config_file_option,
    data_options,
    window_options,
    model_options,
    training_options,
    interval_options,
)

# Run behaviour around the registry lock: `train --registry`, `registry promote` and `rollback`.
lock_timeout_option = click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=RetrainOptions.lock_timeout,
    show_default=True,
    help="Seconds to wait while another run holds the registry, then exit 75.",
)

# RetrainOptions: `train --registry`, and what only makes sense with it.
registry_options = option_group(
    click.option(
        "--registry",
        "registry_dir",
        type=click.Path(file_okay=False),
        help="Write a new version into this model registry instead of --out (see `tsforecast "
        "registry -h`).",
    ),
    click.option(
        "--keep",
        type=click.IntRange(min=1),
        help="--registry: keep at most N versions; the oldest that are not current are removed.",
    ),
    click.option(
        "--warm-start",
        is_flag=True,
        help="--registry: start from the current version's weights (the architecture options "
        "must match).",
    ),
    click.option(
        "--promote",
        type=click.Choice(PROMOTE_RULES),
        default=RetrainOptions.promote,
        show_default=True,
        help="--registry: make the new version current always, or only if it is better than the "
        "current one on the same validation windows (else exit 3, kept as candidate).",
    ),
    click.option(
        "--promote-metric",
        type=click.Choice(PROMOTE_METRICS),
        default=RetrainOptions.promote_metric,
        show_default=True,
        help="--registry: the validation metric --promote if-better compares (lower is better).",
    ),
    click.option(
        "--skip-unchanged",
        is_flag=True,
        help="--registry: do nothing (exit 0) if the data is the same as the current version's.",
    ),
    lock_timeout_option,
    title="Registry (cron)",
)
# The options of registry_options that need --registry: RetrainOptions' fields, named alike.
REGISTRY_ONLY = tuple(field.name for field in dataclasses.fields(RetrainOptions))


# --- the Config, section by section from the option groups --------------------------------------


def data_config(options: Options) -> DataConfig:
    """DATA and data_options."""
    data = options["data"]
    return DataConfig(
        # Absolute, so that `predict` finds the file from another directory; "-" is a pipe,
        # None a data frame given to the Python API.
        path="" if data is None else data if data == STDIN else str(Path(data).absolute()),
        time_col=options["time_col"],
        target=options["target"],
        id_col=options["id_col"],
        freq=options["freq"],
        fill=options["fill"],
        duplicates=options["duplicates"],
        season_length=options["season_length"],
        wide=options["wide"],
        covariates=options["covariates"],
        future_covariates=options["future_covariates"],
        static=options["static"],
        calendar=options["calendar"],
        holidays=options["holidays"],
        strict=options["strict"],
        transform=options["transform"],
        encoding=options["encoding"],
        date_format=options["date_format"],
    )


def window_config(options: Options) -> WindowConfig:
    """window_options."""
    return WindowConfig(
        lookback=options["lookback"], horizon=options["horizon"], val_size=options["val_size"]
    )


def model_config(options: Options) -> ModelConfig:
    """model_options."""
    return ModelConfig(
        name=options["model_name"],
        hidden=options["hidden"],
        layers=options["layers"],
        dropout=options["dropout"],
        filters=options["filters"],
        kernel_size=options["kernel_size"],
        pool_size=options["pool_size"],
        chunk=options["chunk"],
        conv_layers=options["conv_layers"],
        merge=options["merge"],
        dense_between=options["dense_between"],
        strategy=options["strategy"],
        # Forking frames every fork of a window alike, which RevIN cannot (config._check_forking).
        normalize=options["normalize"] or ("series" if options["forking"] else None),
        residual=options["residual"],
    )


def train_config(options: Options) -> TrainConfig:
    """training_options."""
    return TrainConfig(
        epochs=options["epochs"],
        batch_size=options["batch_size"],
        epoch_windows=options["epoch_windows"],
        lr=options["lr"],
        clip_norm=options["clip_norm"],
        weight_decay=options["weight_decay"],
        input_noise=options["input_noise"],
        loss=options["loss"],
        patience=options["patience"],
        lr_patience=options["lr_patience"],
        min_delta=options["min_delta"],
        seed=options["seed"],
        ensemble=options["ensemble"],
        fallback=options["fallback"],
        forking=options["forking"],
    )


def interval_config(options: Options) -> IntervalConfig:
    """interval_options; no --level: DEFAULT_LEVELS."""
    return IntervalConfig(
        method=options["interval_method"],
        levels=options["levels"] or DEFAULT_LEVELS,
        spread=options["interval_spread"],
    )


def build_config(options: Options) -> Config:
    """The configuration from DATA and config_options, the options `train` and `backtest`
    share."""
    return Config(
        data=data_config(options),
        window=window_config(options),
        model=model_config(options),
        train=train_config(options),
        intervals=interval_config(options),
    )


def retrain_options(options: Options) -> RetrainOptions:
    """registry_options but --registry itself."""
    return RetrainOptions(**{name: options[name] for name in REGISTRY_ONLY})
