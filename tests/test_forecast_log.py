"""tsforecast.forecast_log without training: a hand-made panel and forecast recorded and read
back, pruning by the issue time in the names (and by file time for a killed predict's temporary
files), files that cannot be read, and the version names and compatibility checks `monitor`
relies on. (tests/test_monitor.py runs the log through `predict` and `monitor`.)"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tsforecast import forecast_log
from tsforecast.config import Config, DataConfig, WindowConfig
from tsforecast.data import Panel
from tsforecast.errors import DataError

UTC = timezone.utc
HORIZON = 2
CONFIG = Config(
    data=DataConfig(path="sales.csv", season_length=(24, 168)),
    window=WindowConfig(lookback=4, horizon=HORIZON),
)
# Series a: 5 hours from midnight (last 04:00); b: 3 hours from 05:00 (last 07:00).
PANEL = Panel(
    ("a", "b"),
    np.arange(8, dtype=np.float32),
    np.array([0, 5, 8]),
    (pd.Timestamp("2024-01-01 00:00"), pd.Timestamp("2024-01-01 05:00")),
    "h",
)
METRICS = {
    "model": {"mae": 1.0, "rmse": 1.5, "smape": 2.0, "mase": 0.9},
    "served": {"mae": 0.8, "rmse": 1.2, "smape": 1.5, "mase": 0.7},
    "seasonal_naive": {"mae": 1.1, "rmse": 1.6, "smape": 2.2, "mase": 1.0},
    "intervals": {
        "method": "conformal",
        "served": {"80": {"coverage": 0.78, "msis": 5.0}, "95": None},
        "model": {"80": {"coverage": 0.7, "msis": 6.0}, "95": None},
    },
}


def forecast_frame(ids=("a", "b"), shift: float = 0.0) -> pd.DataFrame:
    """What predict prints for `ids`: HORIZON rows each, after each series' last hour."""
    last = {"a": pd.Timestamp("2024-01-01 04:00"), "b": pd.Timestamp("2024-01-01 07:00")}
    rows = []
    for k, series_id in enumerate(ids):
        for step in range(1, HORIZON + 1):
            y_hat = 10.0 * (k + 1) + step + shift
            rows.append(
                {
                    "unique_id": series_id,
                    "ds": last[series_id] + pd.Timedelta(hours=step),
                    "y_hat": y_hat,
                    "y_hat-lo-80": y_hat - 1,
                    "y_hat-hi-80": y_hat + 1,
                    "method": "model",
                }
            )
    return pd.DataFrame(rows)


def record(directory, now: datetime, version="v1", keep_days=30, forecast=None):
    return forecast_log.record_rows(
        directory,
        forecast_log.log_rows(forecast_frame() if forecast is None else forecast, PANEL),
        PANEL.freq,
        version,
        directory / "model",
        CONFIG,
        METRICS,
        keep_days,
        now=now,
    )


def test_record_then_read_gives_back_the_rows_steps_origins_and_header(tmp_path):
    now = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    path, removed = record(tmp_path, now)
    assert path == tmp_path / f"20240102T030405678901Z-{os.getpid()}.parquet"
    assert removed == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary left

    log = forecast_log.read(tmp_path)
    assert log.directory == tmp_path.absolute() and log.skipped == ()
    header = log.headers[path.name]
    assert header == forecast_log.Header(
        version="v1",
        issued_at=pd.Timestamp("2024-01-02 03:04:05.678901", tz="UTC"),
        model=str((tmp_path / "model").absolute()),
        horizon=HORIZON,
        freq="h",
        season_length=(24, 168),
        levels=("80",),
        validation={
            "source": "served",
            "mae": 0.8,
            "smape": 1.5,
            "mase": 0.7,
            "coverage": {"80": 0.78},
        },
        data=json.loads(json.dumps(CONFIG.to_dict()["data"])),
    )
    assert header.season == 24 and log.newest == header
    expected = forecast_frame().assign(
        step=[1, 2, 1, 2],
        origin=pd.to_datetime(["2024-01-01 04:00"] * 2 + ["2024-01-01 07:00"] * 2),
        history_start=pd.to_datetime(["2024-01-01 00:00"] * 2 + ["2024-01-01 05:00"] * 2),
        issue=path.name,
    )
    pd.testing.assert_frame_equal(
        log.rows[list(expected.columns)],
        expected,
        check_dtype=False,
        check_datetimelike_compat=True,
    )


def test_a_forecast_of_some_series_takes_their_own_origins(tmp_path):
    path, _ = record(tmp_path, datetime(2024, 1, 2, tzinfo=UTC), forecast=forecast_frame(("b",)))
    rows = pq.read_table(path).to_pandas()
    assert rows["unique_id"].tolist() == ["b", "b"]
    assert rows["step"].tolist() == [1, 2]
    assert (rows["origin"] == pd.Timestamp("2024-01-01 07:00")).all()
    assert (rows["history_start"] == pd.Timestamp("2024-01-01 05:00")).all()


def test_read_orders_issues_by_time_and_splits_them_by_version(tmp_path):
    later, _ = record(
        tmp_path, datetime(2024, 1, 3, tzinfo=UTC), "v2", forecast=forecast_frame(shift=100)
    )
    earlier, _ = record(tmp_path, datetime(2024, 1, 2, tzinfo=UTC), "v1")
    log = forecast_log.read(tmp_path)
    assert list(log.headers) == [earlier.name, later.name]
    assert log.newest.version == "v2"
    assert log.rows["issue"].tolist() == [earlier.name] * 4 + [later.name] * 4
    assert log.rows["y_hat"].tolist() == [11, 12, 21, 22, 111, 112, 121, 122]

    v2 = log.of_version("v2")
    assert list(v2.headers) == [later.name]
    assert v2.rows["y_hat"].tolist() == [111, 112, 121, 122]
    assert v2.rows.index.tolist() == [0, 1, 2, 3]
    assert log.of_version("v3") is None


def _touch(path, when: datetime) -> None:
    path.write_bytes(b"x")
    os.utime(path, (when.timestamp(), when.timestamp()))


def test_prune_removes_files_issued_before_keep_days_and_stale_temporaries(tmp_path):
    now = datetime(2024, 1, 10, tzinfo=UTC)  # keep 7 days: the cutoff is 2024-01-03 00:00
    old = tmp_path / "20240102T235959999999Z-1.parquet"
    at_cutoff = tmp_path / "20240103T000000000000Z-1.parquet"
    new = tmp_path / "20240109T120000000000Z-2.parquet"
    foreign = [tmp_path / "notes.parquet", tmp_path / "20200101T000000000000Z-1.csv"]
    stale = tmp_path / f".{old.name}.tmp-abc123"  # a predict killed while writing, long ago
    running = tmp_path / f".{new.name}.tmp-def456"  # a predict writing now
    for path in (old, at_cutoff, new, *foreign):
        _touch(path, now)  # names decide for log files, not file times
    _touch(stale, datetime(2024, 1, 2, tzinfo=UTC))
    _touch(running, datetime(2024, 1, 9, 23, 59, tzinfo=UTC))

    assert forecast_log.prune(tmp_path, 7, now) == [old]
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {p.name for p in (at_cutoff, new, *foreign, running)}


def test_record_prunes_what_keep_days_has_outlived(tmp_path):
    first, _ = record(tmp_path, datetime(2024, 1, 1, tzinfo=UTC))
    second, removed = record(tmp_path, datetime(2024, 1, 5, tzinfo=UTC), keep_days=3)
    assert removed == [first]
    assert [p.name for p in tmp_path.iterdir()] == [second.name]


def test_issued_at_of_reads_the_name():
    assert forecast_log.issued_at_of("20240102T030405678901Z-123.parquet") == datetime(
        2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC
    )
    assert forecast_log.issued_at_of("notes.parquet") is None
    assert forecast_log.issued_at_of("2024-01-02.parquet") is None


def test_unreadable_files_are_skipped_and_named(tmp_path, caplog):
    good, _ = record(tmp_path, datetime(2024, 1, 2, tzinfo=UTC))
    (tmp_path / "20240103T000000000000Z-1.parquet").write_bytes(b"not parquet")
    pq.write_table(
        pa.table({"unique_id": ["a"], "y_hat": [1.0]}),
        tmp_path / "20240104T000000000000Z-1.parquet",
    )
    # One step of a horizon-2 forecast: a torn file, header intact.
    short = pq.read_table(good).slice(0, 3)
    pq.write_table(short, tmp_path / "20240105T000000000000Z-1.parquet")
    (tmp_path / ".20240106T000000000000Z-1.parquet.tmp-x").write_bytes(b"half")  # never read
    (tmp_path / "readme.txt").write_text("not a log")

    log = forecast_log.read(tmp_path)
    assert list(log.headers) == [good.name]
    skipped = dict(log.skipped)
    assert sorted(skipped) == [
        "20240103T000000000000Z-1.parquet",
        "20240104T000000000000Z-1.parquet",
        "20240105T000000000000Z-1.parquet",
    ]
    assert skipped["20240104T000000000000Z-1.parquet"] == "no tsforecast forecast log metadata"
    assert skipped["20240105T000000000000Z-1.parquet"] == (
        "its forecasts do not each have the 2 steps it names"
    )
    warned = [r.getMessage() for r in caplog.records if r.name == "tsforecast.forecast_log"]
    assert len(warned) == 3 and all(m.startswith("skipped forecast log file ") for m in warned)


def test_a_folder_without_a_readable_file_is_refused(tmp_path):
    with pytest.raises(DataError) as raised:
        forecast_log.read(tmp_path / "missing")
    assert str(raised.value) == (
        f"no forecast log at {tmp_path / 'missing'}; `tsforecast predict --registry REGISTRY` "
        "records one in REGISTRY/forecasts, `predict --log-to DIR` in DIR"
    )
    (tmp_path / "20240103T000000000000Z-1.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError) as raised:
        forecast_log.read(tmp_path)
    assert str(raised.value) == (
        f"no readable forecast log file in {tmp_path} (1 unreadable); predict with --registry "
        "or --log-to records them"
    )


def test_validation_scores_of_a_version_from_before_serving_are_the_networks():
    old = {key: METRICS[key] for key in ("model", "seasonal_naive", "intervals")}
    assert forecast_log.validation_scores(old) == {
        "source": "model",
        "mae": 1.0,
        "smape": 2.0,
        "mase": 0.9,
        "coverage": {"80": 0.7},
    }
    assert forecast_log.validation_scores({"model": {"mae": 1.0}})["coverage"] == {}


def test_plain_model_version_is_the_folder_and_its_training_time_in_utc(tmp_path):
    model = tmp_path / "my-model"
    model.mkdir()
    assert forecast_log.plain_model_version(model) == "my-model"  # no config.json
    (model / "config.json").write_text(json.dumps({"created_at": "2026-12-01T03:00:00+01:00"}))
    assert forecast_log.plain_model_version(model) == "my-model@20261201T020000Z"


def test_a_log_of_another_horizon_or_frequency_is_incompatible(tmp_path):
    record(tmp_path, datetime(2024, 1, 2, tzinfo=UTC))
    log = forecast_log.read(tmp_path)
    reference = forecast_log.Reference.of_log(log)
    assert (reference.version, reference.horizon, reference.freq) == ("v1", HORIZON, "h")
    assert reference.data == CONFIG.data
    forecast_log.check_compatible(log, reference)
    # The same frequency written another way is the same.
    forecast_log.check_compatible(
        log, forecast_log.Reference("v9", HORIZON, "60min", CONFIG.data, "x")
    )
    (name,) = log.headers
    for horizon, freq in ((3, "h"), (HORIZON, "D")):
        other = forecast_log.Reference("v9", horizon, freq, CONFIG.data, "the served version v9")
        with pytest.raises(DataError) as raised:
            forecast_log.check_compatible(log, other)
        assert str(raised.value) == (
            f"forecast log file {tmp_path / name} was written by version v1 (horizon 2, "
            f"frequency h); the served version v9 has horizon {horizon}, frequency {freq}: "
            f"move the older files out of {tmp_path} to monitor it"
        )
