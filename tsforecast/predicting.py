"""`predict`'s work at the file edge: DATA read with a model's saved schema, the forecast as
CSV text, what was served recorded in the forecast log, and the recalibration of the intervals
replayed from that log. A log or registry that cannot be written is a warning: the forecast
was served."""

from __future__ import annotations

import dataclasses
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
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


def record_forecast(artifact, prediction, model_dir, registry_dir, log_dir, keep_days):
    """Record what was served (`prediction`) in the forecast log (after it was written: the log
    holds what a user got). A log that cannot be written is a warning, not a lost forecast: the
    path of the new file, or None."""
    from . import forecast_log

    if registry_dir:
        directory = Path(registry_dir) / forecast_log.LOG_DIR
        version = Path(model_dir).name
    else:
        directory, version = Path(log_dir), forecast_log.plain_model_version(model_dir)
    try:
        path, removed = forecast_log.record_rows(
            directory,
            prediction.log_rows(),
            prediction.freq,
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
    from .data import load_panel

    in_memory = isinstance(data, pd.DataFrame) or panel is not None
    cfg = reading_config(artifact, data, reading or {}, in_memory)
    if panel is None:
        with model_reading(artifact, cfg, in_memory):
            panel, _ = load_panel(cfg, frame=data if in_memory else None)
    return panel, future_for_model(cfg, future)


def future_for_model(cfg, future):
    """The future table of `future` (a frame, a file's path, or None) read with the model's
    schema `cfg`; None when the model takes no future covariates."""
    from .data import future_table, read_future

    if future is None or not cfg.future_covariates:
        return None
    if isinstance(future, pd.DataFrame):
        return future_table(future.copy(), cfg)
    return read_future(future, cfg)


@contextmanager
def model_reading(artifact, cfg, in_memory=False):
    """Reading the data with the model's schema `cfg`: a missing column or a gap is reported
    as what the model needs."""
    from .data import shown_path

    table = "the data frame" if in_memory else "the file"
    try:
        yield
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


def predict(
    artifact, data, levels, future, ids, multipliers, reading, rows_per_chunk, plot_max, logged
):
    """`tsforecast predict`'s forecast of DATA (a file's path, "-", or None: the training
    file): a `Prediction` of the whole panel, or, for a long-layout file of more than
    `rows_per_chunk` rows, a `StreamedPrediction` made chunk by chunk of whole series in the
    panel's order (see tsforecast.chunks). Either is a context manager, and keeps what --plot
    draws (`plot_max` series; 0: none) and, with `logged`, what the forecast log records."""
    from . import chunks

    levels = tuple(float(x) for x in levels)
    check_levels(artifact, levels)
    cfg = reading_config(artifact, data, reading)
    plan = chunks.plan(cfg, rows_per_chunk, ids)
    if plan is not None:
        streamed = StreamedPrediction(artifact, plot_max, logged)
        try:
            if streamed.forecast(plan, cfg, levels, future, multipliers, bool(ids)):
                return streamed
        finally:
            if not streamed.complete:
                streamed.close()
    panel, table = read_for_model(artifact, data, future, reading)
    panel, frame = forecast_panel(artifact, panel, levels, tuple(ids), table, multipliers)
    return Prediction(artifact, panel, frame)


@dataclasses.dataclass(frozen=True)
class Prediction:
    """A forecast made from the whole panel in memory: `frame` of `panel`'s series."""

    artifact: object
    panel: object
    frame: pd.DataFrame

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    @property
    def freq(self) -> str:
        return self.panel.freq

    def log_rows(self) -> pd.DataFrame:
        from .forecast_log import log_rows

        return log_rows(self.frame, self.panel)

    def plotted(self):
        return [(self.panel, self.frame)]

    def write(self, out: str) -> None:
        write_forecast(self.artifact, self.frame, out)

    def text(self):
        yield csv_text(self.artifact, self.frame)


class StreamedPrediction:
    """A forecast made chunk by chunk: each chunk's forecast frame is appended to an Arrow
    stream file in a temporary folder (removed by `close`), and --out is written from it once
    every chunk is forecast, so a chunk that fails leaves no output at all. What --plot draws
    and the forecast log records are kept as the chunks pass."""

    def __init__(self, artifact, plot_max: int, logged: bool):
        import tempfile

        self.artifact = artifact
        self.plot_max = plot_max
        self.logged = logged
        self.scratch = tempfile.TemporaryDirectory(prefix="tsforecast-chunks-")
        self.directory = Path(self.scratch.name)
        self.spill = self.directory / "forecast.arrow"
        self.parts: list = []
        self.logs: list[pd.DataFrame] = []
        self.freq = ""
        # The forecast timestamp that decides how pandas writes the whole `ds` column.
        self.witness: tuple[int, pd.Timestamp] | None = None
        self.complete = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self.scratch.cleanup()

    def forecast(self, plan, cfg, levels, future, multipliers, selected: bool) -> bool:
        """Forecast every chunk of `plan`; False when the file cannot be streamed after all
        (it is then read whole). `selected`: the chunks hold the --id series, in their order."""
        import pyarrow as pa

        from . import chunks
        from .data import frame_panel
        from .forecast import Forecaster, forecast

        spills = chunks.spill(plan, cfg, self.directory)
        if spills is None:
            return False
        forecaster = Forecaster.of(self.artifact).padded_like(
            sum(map(len, plan.groups)), plan.rows_per_chunk
        )
        table = None
        writer = schema = None
        try:
            for k, (group, frame) in enumerate(
                zip(plan.groups, chunks.frames(spills), strict=True)
            ):
                with model_reading(self.artifact, cfg):
                    panel, _ = frame_panel(frame, cfg)
                del frame
                if selected:
                    panel = panel.select(list(group))
                if k == 0:
                    table = future_for_model(cfg, future)
                result = forecast(forecaster, panel, levels, table, multipliers)
                rows = pa.Table.from_pandas(result, preserve_index=False)
                if writer is None:
                    schema = rows.schema
                    writer = pa.ipc.new_stream(str(self.spill), schema)
                writer.write_table(rows.cast(schema))
                self._keep(panel, result)
        finally:
            if writer is not None:
                writer.close()
        self.complete = True
        return True

    def _keep(self, panel, frame: pd.DataFrame) -> None:
        self.freq = panel.freq
        if self.logged:
            from .forecast_log import log_rows

            self.logs.append(log_rows(frame, panel))
        shown = sum(len(p.ids) for p, _ in self.parts)
        if shown < self.plot_max:
            kept = panel.take(np.arange(min(len(panel.ids), self.plot_max - shown)))
            self.parts.append((kept, frame[frame["unique_id"].isin(kept.ids)]))
        stamps = pd.DatetimeIndex(frame["ds"])
        ns = stamps.asi8
        # How finely pandas writes a timestamp column is decided by its finest value: a
        # time of day at all (else dates only), then milli-, micro-, nanoseconds.
        score = np.select(
            [ns % 1000 != 0, ns % 10**6 != 0, ns % 10**9 != 0, ns % (86400 * 10**9) != 0],
            [4, 3, 2, 1],
            0,
        )
        if stamps.tz is not None:
            score = np.maximum(score, 1)
        best = int(np.argmax(score))
        if self.witness is None or score[best] > self.witness[0]:
            self.witness = (int(score[best]), stamps[best])

    def log_rows(self) -> pd.DataFrame:
        return pd.concat(self.logs, ignore_index=True)

    def plotted(self):
        return self.parts

    def _slices(self):
        """The forecast, one chunk's frame at a time, as `forecast_columns` gives it."""
        import pyarrow as pa

        with pa.OSFile(str(self.spill), "rb") as handle:
            for batch in pa.ipc.open_stream(handle):
                yield forecast_columns(self.artifact, batch.to_pandas())

    def _csv_slices(self):
        """The forecast as CSV text, chunk by chunk, as `csv_text` writes the whole of it."""
        witness = pd.Series([self.witness[1]])
        for k, frame in enumerate(self._slices()):
            # Formatted beside the witness, each chunk's timestamps read as the whole column's.
            stamps = pd.concat([frame["ds"], witness], ignore_index=True).astype(str)
            frame["ds"] = stamps.iloc[:-1].to_numpy()
            yield frame.to_csv(index=False, header=k == 0, float_format="%.7g")

    def text(self):
        yield from self._csv_slices()

    def write(self, out: str) -> None:
        """`write_forecast` of the whole forecast, slice by slice, atomically: the file appears
        whole or not at all."""
        from .atomic import write_file

        path = Path(out)
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            write_file(path, self._write_parquet)
        elif suffix == ".json":
            write_file(path, self._write_json)
        else:
            write_file(path, self._write_csv)

    def _write_csv(self, path: Path) -> None:
        with open(path, "w", encoding="utf-8") as handle:
            for text in self._csv_slices():
                handle.write(text)

    def _write_json(self, path: Path) -> None:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("[")
            for k, frame in enumerate(self._slices()):
                records = frame.to_json(orient="records", date_format="iso", double_precision=15)
                handle.write(("," if k else "") + records[1:-1])
            handle.write("]")

    def _write_parquet(self, path: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        writer = None
        try:
            for frame in self._slices():
                table = pa.Table.from_pandas(frame, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(path, table.schema)
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
