"""`predict`'s work at the file edge: DATA read with a model's saved schema, the forecast as
CSV text, what was served recorded in the forecast log, and the recalibration of the intervals
replayed from that log. A log or registry that cannot be written is a warning: the forecast
was served."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pandas as pd

from .config import STDIN
from .errors import ColumnError, DataError, GapError
from .logs import emit


def recalibration_state(registry, version, artifact, data, reading):
    """The recalibration of `version`'s intervals, replayed from the registry's forecast log
    and the actuals in DATA (read with the model's schema, gaps left NaN); its calibrated
    widths while the log holds nothing of it, or cannot be read (said on stderr)."""
    from . import forecast_log, recalibration
    from .data import load_panel
    from .errors import DataError

    lookback = artifact.config.window.lookback
    try:
        log = forecast_log.read(registry.root / forecast_log.LOG_DIR).of_version(version)
    except DataError:
        log = None  # no forecast logged yet
    except OSError as exc:
        emit(
            "not_recalibrated",
            f"intervals not recalibrated: cannot read the forecast log: {exc.strerror or exc}",
        )
        log = None
    if log is None:
        return recalibration.fit(None, None, version, lookback)
    observed, _ = load_panel(reading_config(artifact, data, reading), fill=False)
    return recalibration.fit(log, observed, version, lookback)


def record_recalibration(registry, state, logged) -> None:
    """Keep what this predict applied in REGISTRY/recalibration.json, for `registry list`; a
    registry that cannot be written is a warning (the forecast was served)."""
    recorded = {
        "computed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "forecast_log": None if logged is None else Path(logged).name,
        **state.to_dict(),
    }
    try:
        registry.record_recalibration(recorded)
    except OSError as exc:
        emit(
            "not_recorded",
            f"the recalibration was not recorded in {registry.root}: {exc.strerror or exc}",
        )


def record_forecast(artifact, panel, frame, model_dir, registry_dir, log_dir, keep_days):
    """Record what was served in the forecast log (after it was written: the log holds what a
    user got). A log that cannot be written is a warning, not a lost forecast: the path of
    the new file, or None."""
    from . import forecast_log

    if registry_dir:
        directory = Path(registry_dir) / forecast_log.LOG_DIR
        version = Path(model_dir).name
    else:
        directory, version = Path(log_dir), forecast_log.plain_model_version(model_dir)
    try:
        path, removed = forecast_log.record(
            directory,
            frame,
            panel,
            version,
            model_dir,
            artifact.config,
            artifact.metrics,
            keep_days,
        )
    except OSError as exc:
        emit(
            "not_logged",
            f"the forecast was not recorded in {directory.absolute()}: {exc.strerror or exc}",
        )
        return None
    if removed:
        emit(
            "log_pruned",
            f"removed {len(removed)} forecast log file(s) older than {keep_days} days",
            files=[p.name for p in removed],
        )
    return str(path)


def reading_config(artifact, data, reading, in_memory=False):
    """How DATA (default: the file `artifact` was trained on; with `in_memory`, a frame) is
    read: the training schema, with the --encoding and --date-format given (`reading`) in
    place of the model's."""
    given = {name: value for name, value in reading.items() if value is not None}
    saved = dataclasses.replace(artifact.config.data, **given)
    if in_memory:
        return dataclasses.replace(saved, path="")
    if data is None and saved.path in (STDIN, ""):
        source = "standard input, which is gone" if saved.path else "a data frame in Python"
        raise DataError(
            f"the model was trained on {source}: give the data to forecast from (DATA, a file "
            "or - to pipe it in; data= in Python)"
        )
    return dataclasses.replace(saved, path=data or saved.path)


def read_for_model(artifact, data, future=None, reading=None, panel=None):
    """(panel, future table) of `data` and `future` read with the model's training schema: each
    a frame (the Python API), the path of a file, or None (`data`: the file the model was
    trained on; `future`: none). `reading`: the --encoding and --date-format given, which
    replace the model's; `panel`: the data already read (the Python API's training data),
    which `data` is then not read for."""
    from .data import future_table, load_panel, read_future, shown_path

    in_memory = isinstance(data, pd.DataFrame) or panel is not None
    cfg = reading_config(artifact, data, reading or {}, in_memory)
    table = "the data frame" if in_memory else "the file"
    try:
        if panel is None:
            panel, _ = load_panel(cfg, frame=data if in_memory else None)
    except ColumnError as missing:
        saved = artifact.config.data
        keys = (saved.time_col,) if saved.wide else (saved.id_col, saved.time_col, saved.target)
        others = (*saved.covariates, *saved.future_covariates, *saved.static)
        trained = [c for c in (*keys, *others) if c]
        source = f" from {saved.path}" if saved.path not in ("", STDIN) else ""
        raise DataError(
            f"{shown_path(cfg.path) if cfg.path else 'the data frame'} has no column "
            f"{missing.column!r}, which the model was trained with ({', '.join(trained)}"
            f"{source}); its columns are: {', '.join(missing.columns)}. Give {table} the "
            "model's columns, or train a model on this one"
        ) from None
    except GapError as gap:
        # predict takes no --fill: it fills as the model was trained to.
        raise DataError(
            f"{gap.found}; the model was trained without --fill: repair {table}, or retrain "
            "with --fill interpolate or --fill ffill, which predict then applies too"
        ) from None
    if future is None or not cfg.future_covariates:
        return panel, None
    if isinstance(future, pd.DataFrame):
        return panel, future_table(future.copy(), cfg)
    return panel, read_future(future, cfg)


def check_levels(artifact, levels) -> None:
    """A ConfigError for a --level the model cannot serve (see intervals.resolve_levels)."""
    from .intervals import resolve_levels

    scores = artifact.conformal_scores
    resolve_levels(levels, artifact.config.intervals, None if scores is None else scores.shape[0])


def forecast_panel(artifact, panel, levels, ids=(), future=None, multipliers=None):
    """(panel, forecast frame) of the series `ids` of `panel` (all when empty): what `predict`
    and the Python API forecast once the data is read."""
    from .forecast import Forecaster, forecast

    if ids:
        panel = panel.select(list(dict.fromkeys(map(str, ids))))
    return panel, forecast(Forecaster.of(artifact), panel, levels, future, multipliers)


def forecast_columns(artifact, frame):
    """The forecast as predict writes it: keys, the point and interval columns, `method`."""
    keys = ["unique_id", "ds"] if artifact.config.data.id_col else ["ds"]
    columns = keys + [c for c in frame.columns if c.startswith("y_hat")] + ["method"]
    return frame[columns].reset_index(drop=True)


def csv_text(artifact, frame) -> str:
    """The forecast as CSV text, 7 significant digits (stdout and `--out *.csv`)."""
    return forecast_columns(artifact, frame).to_csv(index=False, float_format="%.7g")


def write_forecast(artifact, frame, out: str) -> None:
    """`predict --out`: Parquet (every digit, timestamps typed) for `.parquet`, JSON records for
    `.json`, else CSV; missing folders are created, as `train --out` does."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        forecast_columns(artifact, frame).to_parquet(path, index=False)
    elif suffix == ".json":
        forecast_columns(artifact, frame).to_json(
            path, orient="records", date_format="iso", double_precision=15
        )
    else:
        path.write_text(csv_text(artifact, frame), encoding="utf-8")
