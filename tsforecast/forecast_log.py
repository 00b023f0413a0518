"""The forecast log: what `tsforecast predict` served, kept for `tsforecast monitor`.

One Parquet file per predict call (an *issue*), in REGISTRY/forecasts/ for `predict --registry`
or in any folder for `predict --log-to DIR`, named `<UTC issue time>-<pid>.parquet`. A file
holds the forecast rows as predict printed them (`unique_id, ds, y_hat, y_hat-lo-<level>,
y_hat-hi-<level>, method`) and, per row, its horizon `step` (1..horizon), the forecast's
`origin` (the last timestamp of the history it was made from) and `history_start` (that
history's first). Its metadata (key `tsforecast.forecast_log`, JSON) says which version made
it and when, the model's horizon, frequency, seasonal periods and data schema, and the
version's validation scores (metrics.json's `served`; `model` for versions from before
serving), so a log stays readable after its version is removed.

Files are written by `atomic.write_file` (a hidden temporary name in the same folder, fsync,
rename) and `read` skips dot-names, so a reader never sees a half-written file, whatever runs
beside it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .atomic import write_file
from .config import Config, DataConfig
from .data import Panel
from .errors import ArtifactError, DataError

log = logging.getLogger(__name__)

LOG_DIR = "forecasts"  # inside a registry
FORMAT = 1
METADATA_KEY = b"tsforecast.forecast_log"
SUFFIX = ".parquet"
STAMP = "%Y%m%dT%H%M%S%fZ"
KEYS = ("unique_id", "ds", "step", "origin", "history_start")


@dataclass(frozen=True)
class Header:
    """What a log file says about itself. `levels`: the interval levels it has bounds for, as
    in their column names ("80", "97.5"); `validation`: the version's validation `mae`,
    `smape`, `mase` and `coverage` per level, and which metrics.json key they are from."""

    version: str
    issued_at: pd.Timestamp
    model: str
    horizon: int
    freq: str
    season_length: tuple[int, ...]
    levels: tuple[str, ...]
    validation: dict[str, Any]
    data: dict[str, Any]

    @property
    def season(self) -> int:
        """The model's primary seasonal period: MASE's scale and the seasonal naive compared."""
        return self.season_length[0]

    def to_json(self) -> str:
        fields = dataclasses.asdict(self)
        fields["issued_at"] = self.issued_at.isoformat()
        return json.dumps({"format": FORMAT, **fields}, default=str)

    @classmethod
    def from_json(cls, text: bytes) -> Header:
        raw = json.loads(text)
        if raw.get("format") != FORMAT:
            raise ValueError(f"log format {raw.get('format')!r}, this tsforecast reads {FORMAT}")
        return cls(
            version=str(raw["version"]),
            issued_at=pd.Timestamp(raw["issued_at"]),
            model=str(raw["model"]),
            horizon=int(raw["horizon"]),
            freq=str(raw["freq"]),
            season_length=tuple(int(s) for s in raw["season_length"]),
            levels=tuple(str(level) for level in raw["levels"]),
            validation=dict(raw["validation"]),
            data=dict(raw["data"]),
        )


def validation_scores(metrics: dict[str, Any]) -> dict[str, Any]:
    """A version's validation scores from its metrics.json: what it serves (`served`), or the
    network's (`model`) for versions trained before serving existed."""
    source = "served" if "served" in metrics else "model"
    point = metrics.get(source, {})
    intervals = metrics.get("intervals", {}).get(source) or {}
    return {
        "source": source,
        **{key: point.get(key) for key in ("mae", "smape", "mase")},
        "coverage": {
            level: scores["coverage"] for level, scores in intervals.items() if scores is not None
        },
    }


def plain_model_version(model_dir: str | Path) -> str:
    """The version name of a model directory outside a registry: its folder name and when it
    was trained (`my-model@20261201T020000Z`), so a model retrained in place is a new one."""
    path = Path(model_dir).absolute()
    try:
        created = json.loads((path / "config.json").read_text()).get("created_at", "")
        when = datetime.fromisoformat(created).astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    except (OSError, ValueError, TypeError):
        return path.name
    return f"{path.name}@{when}"


def log_rows(forecast: pd.DataFrame, panel: Panel) -> pd.DataFrame:
    """The rows a log file holds of `forecast` (predict's frame of `panel`'s series): the
    forecast with each row's `step`, `origin` and `history_start`."""
    rows = forecast.reset_index(drop=True).copy()
    rows["unique_id"] = rows["unique_id"].astype(str)
    position = {series_id: i for i, series_id in enumerate(panel.ids)}
    picks = rows["unique_id"].map(position).to_numpy()
    rows.insert(2, "step", rows.groupby("unique_id", sort=False).cumcount().to_numpy() + 1)
    rows["origin"] = pd.DatetimeIndex([panel.last_timestamp(i) for i in range(len(panel.ids))])[
        picks
    ]
    rows["history_start"] = pd.DatetimeIndex(panel.starts)[picks]
    return rows


def record_rows(
    directory: str | Path,
    rows: pd.DataFrame,
    freq: str,
    version: str,
    model_dir: str | Path,
    config: Config,
    metrics: dict[str, Any],
    keep_days: int,
    now: datetime | None = None,
) -> tuple[Path, list[Path]]:
    """Write `rows` (`log_rows` of predict's forecast at frequency `freq`, made by `version`,
    the model at `model_dir` with `config` and validation `metrics`; a panel read in chunks
    has them chunk by chunk) as a new log file in `directory`, then remove the files issued
    more than `keep_days` days before `now`. Returns the new file and the removed ones.
    OSError when the folder cannot be written."""
    issued_at = now or datetime.now(timezone.utc)
    levels = tuple(c.removeprefix("y_hat-lo-") for c in rows.columns if c.startswith("y_hat-lo-"))
    header = Header(
        version=version,
        issued_at=pd.Timestamp(issued_at),
        model=str(Path(model_dir).absolute()),
        horizon=config.window.horizon,
        freq=freq,
        season_length=tuple(config.data.season_length or (config.data.season,)),
        levels=levels,
        validation=validation_scores(metrics),
        data=dataclasses.asdict(config.data),
    )
    table = pa.Table.from_pandas(rows, preserve_index=False)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), METADATA_KEY: header.to_json().encode()}
    )
    root = Path(directory)
    target = root / f"{issued_at.strftime(STAMP)}-{os.getpid()}{SUFFIX}"
    write_file(target, lambda path: pq.write_table(table, path))
    return target, prune(root, keep_days, issued_at)


def issued_at_of(name: str) -> datetime | None:
    """The issue time a log file's name starts with; None for a name tsforecast did not make."""
    try:
        return datetime.strptime(name.split("-", 1)[0], STAMP).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def prune(directory: Path, keep_days: int, now: datetime) -> list[Path]:
    """Remove the log files issued more than `keep_days` days before `now` (by their names;
    other files are left alone), and the temporary files that predicts killed while writing
    left behind, once they are as old (a running predict's is seconds old)."""
    cutoff = now - timedelta(days=keep_days)
    removed = []
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") and f"{SUFFIX}.tmp-" in path.name:
            try:
                stale = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc) < cutoff
            except FileNotFoundError:
                continue  # renamed into place meanwhile
            if stale:
                path.unlink(missing_ok=True)
            continue
        issued = issued_at_of(path.name)
        if path.suffix != SUFFIX or path.name.startswith(".") or issued is None:
            continue
        if issued < cutoff:
            path.unlink(missing_ok=True)  # a concurrent predict may have removed it first
            removed.append(path)
    return removed


@dataclass(frozen=True)
class ForecastLog:
    """The readable files of a log folder. `headers`: by file name, in issue order; `rows`:
    every forecast row with its file's name in `issue`, sorted by issue, series and step, so
    each forecast is `horizon` consecutive rows; `skipped`: (file name, why) for each file that
    could not be read."""

    directory: Path
    headers: dict[str, Header]
    rows: pd.DataFrame
    skipped: tuple[tuple[str, str], ...]

    @property
    def newest(self) -> Header:
        return list(self.headers.values())[-1]

    def of_version(self, version: str) -> ForecastLog | None:
        """The files `version` wrote, in issue order; None when it wrote none."""
        headers = {name: h for name, h in self.headers.items() if h.version == version}
        if not headers:
            return None
        rows = self.rows[self.rows["issue"].isin(list(headers))].reset_index(drop=True)
        return dataclasses.replace(self, headers=headers, rows=rows)


def _read_file(path: Path) -> tuple[Header, pd.DataFrame]:
    """One log file, checked to be whole: its header, and `horizon` rows per series with steps
    1..horizon. ValueError (or an Arrow or OS error) otherwise."""
    table = pq.read_table(path)
    metadata = table.schema.metadata or {}
    if METADATA_KEY not in metadata:
        raise ValueError("no tsforecast forecast log metadata")
    header = Header.from_json(metadata[METADATA_KEY])
    rows = table.to_pandas()
    missing = [c for c in (*KEYS, "y_hat", "method") if c not in rows.columns]
    if missing:
        raise ValueError(f"no column {', '.join(missing)}")
    rows["unique_id"] = rows["unique_id"].astype(str)
    rows = rows.sort_values(["unique_id", "step"], kind="stable").reset_index(drop=True)
    forecasts = rows["unique_id"].nunique()
    steps = np.tile(np.arange(1, header.horizon + 1), forecasts)
    if len(rows) != len(steps) or not np.array_equal(rows["step"].to_numpy(), steps):
        raise ValueError(f"its forecasts do not each have the {header.horizon} steps it names")
    return header, rows


def read(directory: str | Path) -> ForecastLog:
    """Every log file in `directory`, in issue order. Hidden (dot) names are temporary files
    still being written and are never read. A file that cannot be read whole is skipped with a
    warning naming it (it holds nothing that could be scored); DataError when the folder is
    missing or no file in it can be read."""
    root = Path(directory).absolute()
    if not root.is_dir():
        raise DataError(
            f"no forecast log at {root}; `tsforecast predict --registry REGISTRY` records one in "
            f"REGISTRY/{LOG_DIR}, `predict --log-to DIR` in DIR"
        )
    headers: dict[str, Header] = {}
    frames, skipped = [], []
    for path in sorted(root.iterdir()):
        if path.name.startswith(".") or path.suffix != SUFFIX:
            continue
        try:
            header, rows = _read_file(path)
        except FileNotFoundError:
            continue  # pruned by a predict running beside us
        except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.warning("skipped forecast log file %s: cannot be read (%s)", path, reason)
            skipped.append((path.name, reason))
            continue
        headers[path.name] = header
        frames.append(rows.assign(issue=path.name))
    if not headers:
        found = f" ({len(skipped)} unreadable)" if skipped else ""
        raise DataError(
            f"no readable forecast log file in {root}{found}; predict with --registry or "
            "--log-to records them"
        )
    order = sorted(headers, key=lambda name: (headers[name].issued_at, name))
    rows = pd.concat(frames, ignore_index=True)
    rank = rows["issue"].map({name: k for k, name in enumerate(order)})
    rows = rows.iloc[np.lexsort((rows["step"], rows["unique_id"], rank))].reset_index(drop=True)
    return ForecastLog(root, {name: headers[name] for name in order}, rows, tuple(skipped))


@dataclass(frozen=True)
class Reference:
    """What a log is monitored against: the served version, its horizon and frequency, and the
    schema DATA is read with. `described` names it in messages; `lookback`: the model's, when
    its config was read (a series with fewer rows gets seasonal naive, not recalibrated)."""

    version: str
    horizon: int
    freq: str
    data: DataConfig
    described: str
    lookback: int | None = None

    @classmethod
    def of_model(cls, model_dir: Path, version: str, described: str) -> Reference:
        """The model directory's (its config.json; no weights are loaded)."""
        try:
            config = Config.from_dict(json.loads((model_dir / "config.json").read_text())["config"])
        except (OSError, ValueError, KeyError) as exc:
            raise ArtifactError(
                f"cannot read the model's configuration in {model_dir}: {exc}"
            ) from None
        return cls(
            version,
            config.window.horizon,
            config.data.freq,
            config.data,
            described,
            config.window.lookback,
        )

    @classmethod
    def of_log(cls, forecast_log: ForecastLog) -> Reference:
        """The newest log file's version: the one a --log-to log serves now."""
        header = forecast_log.newest
        data = Config.from_dict({"data": header.data}).data
        return cls(
            header.version,
            header.horizon,
            header.freq,
            data,
            f"the newest log file's version {header.version}",
        )


def _offset(freq: str):
    return pd.tseries.frequencies.to_offset(freq)


def check_compatible(forecast_log: ForecastLog, reference: Reference) -> None:
    """DataError naming the first log file made by a model of another horizon or frequency than
    `reference`: its forecasts cannot be compared with the served model's."""
    for name, header in forecast_log.headers.items():
        if header.horizon != reference.horizon or _offset(header.freq) != _offset(reference.freq):
            raise DataError(
                f"forecast log file {forecast_log.directory / name} was written by version "
                f"{header.version} (horizon {header.horizon}, frequency {header.freq}); "
                f"{reference.described} has horizon {reference.horizon}, frequency "
                f"{reference.freq}: move the older files out of {forecast_log.directory} to "
                "monitor it"
            )
