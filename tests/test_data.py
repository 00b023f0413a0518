"""Reading a file into a panel: which columns, which frequency, what `--fill` repairs, and what is
refused, with the count and the first offending timestamp.

The refusals run the real `tsforecast train`: they fail while reading, before anything compiles.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsforecast.config import DataConfig
from tsforecast.data import load_panel


def _frame(n: int, freq: str = "h", start: str = "2024-01-01", **columns) -> pd.DataFrame:
    ds = pd.date_range(start, periods=n, freq=freq).strftime("%Y-%m-%d %H:%M:%S")
    return pd.DataFrame({"ds": ds, "y": np.arange(n, dtype=float), **columns})


def _load(tmp_path, frame: pd.DataFrame, **options):
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return load_panel(DataConfig(path=str(path), **options))


def _train(run_cli, tmp_path, frame: pd.DataFrame, *options):
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return run_cli(
        "train",
        path,
        "--lookback",
        "24",
        "--horizon",
        "6",
        "--epochs",
        "1",
        *options,
        "--out",
        tmp_path / "model",
    )


# --- columns ------------------------------------------------------------------------------------


def test_time_column_by_name_in_any_case_and_the_only_numeric_column_as_target(tmp_path):
    frame = _frame(50).rename(columns={"ds": "Date", "y": "Sales"}).assign(store="downtown")
    frame = frame[["store", "Date", "Sales"]]
    panel, cfg = _load(tmp_path, frame)
    assert (cfg.time_col, cfg.target, cfg.id_col) == ("Date", "Sales", None)
    np.testing.assert_array_equal(panel.values, np.arange(50.0))
    assert panel.starts == (pd.Timestamp("2024-01-01"),)


def test_an_unnamed_time_column_is_the_first_that_parses_as_dates(tmp_path):
    frame = _frame(50).rename(columns={"ds": "recorded", "y": "load"}).assign(note="ok")
    frame = frame[["load", "note", "recorded"]]
    _, cfg = _load(tmp_path, frame)
    assert (cfg.time_col, cfg.target) == ("recorded", "load")


def test_y_is_the_target_among_several_numeric_columns(tmp_path):
    panel, cfg = _load(tmp_path, _frame(50, temperature=np.full(50, 20.0)))
    assert cfg.target == "y"
    np.testing.assert_array_equal(panel.values, np.arange(50.0))


def test_several_numeric_columns_without_y_need_target(run_cli, expect_bad_input, tmp_path):
    frame = _frame(200).rename(columns={"y": "load"}).assign(temperature=20.0)
    expect_bad_input(
        _train(run_cli, tmp_path, frame, "--long"),
        "tsforecast: error: several numeric columns (load, temperature); "
        "choose the target with --target, or use --wide",
    )


def test_a_true_false_column_beside_the_series_is_a_flag_not_a_second_series(tmp_path):
    # pandas types True/False as numeric; read as a wide table the holiday flag would be
    # forecast as a series of its own.
    holiday = np.arange(50) % 7 == 0
    frame = _frame(50, holiday=holiday).rename(columns={"y": "demand"})
    panel, cfg = _load(tmp_path, frame)
    assert (cfg.wide, cfg.target, panel.ids) == (False, "demand", ("demand",))
    np.testing.assert_array_equal(panel.values, np.arange(50.0))
    panel, _ = _load(tmp_path, frame, covariates=("holiday",))
    np.testing.assert_array_equal(panel.covariates[:, 0], holiday.astype(float))


def test_a_true_false_target_is_read_only_when_named(run_cli, expect_bad_input, tmp_path):
    frame = _frame(200).assign(y=np.arange(200) % 2 == 0).rename(columns={"y": "open"})
    expect_bad_input(
        _train(run_cli, tmp_path, frame),
        "tsforecast: error: no numeric target column found among: open; name one with --target "
        "(a true/false column is read as one only when named)",
    )
    panel, _ = _load(tmp_path, frame, target="open")
    np.testing.assert_array_equal(panel.values, (np.arange(200) % 2 == 0).astype(float))


def test_rows_are_sorted_by_time(tmp_path):
    panel, _ = _load(tmp_path, _frame(50).sample(frac=1.0, random_state=1))
    np.testing.assert_array_equal(panel.values, np.arange(50.0))
    assert panel.starts == (pd.Timestamp("2024-01-01"),)


def test_an_id_column_makes_one_series_each(tmp_path):
    a = _frame(30).assign(unique_id="a")
    b = _frame(20, start="2024-01-02").assign(unique_id="b", y=lambda f: f["y"] + 100)
    panel, cfg = _load(tmp_path, pd.concat([b, a])[["unique_id", "ds", "y"]])
    assert cfg.id_col == "unique_id"
    assert panel.ids == ("a", "b")
    assert list(panel.lengths) == [30, 20]
    assert panel.starts == (pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02"))
    np.testing.assert_array_equal(panel.series(1), np.arange(20.0) + 100)


def test_parquet_reads_like_csv(tmp_path):
    frame = _frame(50)
    frame.to_parquet(tmp_path / "data.parquet")
    panel, cfg = load_panel(DataConfig(path=str(tmp_path / "data.parquet")))
    assert (cfg.time_col, cfg.target, cfg.freq) == ("ds", "y", "h")
    np.testing.assert_array_equal(panel.values, np.arange(50.0))


# --- frequency ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "freq, alias, season",
    [
        ("15min", "15min", 96),
        ("h", "h", 24),
        ("D", "D", 7),
        ("W-SUN", "W-SUN", 52),
        ("MS", "MS", 12),
    ],
)
def test_frequency_and_season_length_are_inferred(tmp_path, freq, alias, season):
    panel, cfg = _load(tmp_path, _frame(60, freq=freq))
    assert (panel.freq, cfg.freq, cfg.season_length) == (alias, alias, (season,))
    # The future continues on the same calendar.
    expected = pd.date_range("2024-01-01", periods=63, freq=freq)[60:]
    assert list(panel.future_timestamps(0, 3)) == list(expected)


def test_season_length_option_wins(tmp_path):
    _, cfg = _load(tmp_path, _frame(60), season_length=(168,))
    assert cfg.season_length == (168,)


@pytest.mark.parametrize(
    "freq, rows, seasons",
    [
        ("h", 336, (24, 168)),  # two weeks: the weekly period joins the daily one
        ("h", 335, (24,)),
        ("30min", 672, (48, 336)),
        ("15min", 1344, (96, 672)),
        ("5min", 4032, (288, 2016)),
        ("D", 730, (7, 365)),  # two years
        ("D", 729, (7,)),
        ("W-SUN", 520, (52,)),
        ("MS", 240, (12,)),
    ],
)
def test_several_seasonal_periods_come_from_the_frequency_and_the_length(
    tmp_path, freq, rows, seasons
):
    _, cfg = _load(tmp_path, _frame(rows, freq=freq))
    assert cfg.season_length == seasons


@pytest.mark.parametrize(
    "freq, alias, season", [("h", "h", 24), ("D", "D", 7), ("W-WED", "W-WED", 52)]
)
def test_frequency_is_inferred_despite_gaps(tmp_path, freq, alias, season):
    # The gaps defeat pd.infer_freq; the common step still names the calendar unit.
    frame = _frame(60, freq=freq, start="2024-01-03").drop(index=[10, 11, 30])
    panel, cfg = _load(tmp_path, frame, fill="interpolate")
    assert (panel.freq, cfg.season_length) == (alias, (season,))
    assert len(panel.values) == 60


# --- refusals: what and where -------------------------------------------------------------------


def test_gaps_are_refused_with_count_and_first_missing_timestamp(
    run_cli, expect_bad_input, tmp_path
):
    expect_bad_input(
        _train(run_cli, tmp_path, _frame(200).drop(index=[10, 11, 30])),
        "tsforecast: error: 3 missing timestamps in the h grid, first at 2024-01-01 10:00:00; "
        "repair with --fill interpolate or --fill ffill",
    )


def test_a_gap_in_one_series_of_several_names_the_series(run_cli, expect_bad_input, tmp_path):
    a = _frame(200).assign(unique_id="a")
    b = _frame(200).assign(unique_id="b").drop(index=[50])
    expect_bad_input(
        _train(run_cli, tmp_path, pd.concat([a, b])[["unique_id", "ds", "y"]]),
        "tsforecast: error: 1 missing timestamps in the h grid, first at 2024-01-03 02:00:00 "
        "(series 'b'); repair with --fill interpolate or --fill ffill",
    )


def test_duplicated_timestamps_are_refused(run_cli, expect_bad_input, tmp_path):
    frame = _frame(200)
    frame = pd.concat([frame, frame.iloc[[40, 5]]])
    expect_bad_input(
        _train(run_cli, tmp_path, frame),
        "tsforecast: error: 2 duplicated timestamps, first at 2024-01-01 05:00:00; "
        "combine them with --duplicates mean (or sum, first, last)",
    )


def _autumn_export(tmp_path) -> str:
    """Local wall-clock hours as utilities publish them, unsorted: 01:00 of 2024-11-03 occurs
    twice (US daylight saving ends), once per series, with a covariate."""
    rows = ["unique_id,ds,y,temp"]
    for sid, base in (("east", 100.0), ("west", 10.0)):
        for h in range(48):
            rows.append(f"{sid},2024-11-02 {h % 24:02d}:00:00,{base + h},{h}" if h < 24 else
                        f"{sid},2024-11-03 {h - 24:02d}:00:00,{base + h},{h}")  # fmt: skip
        rows.append(f"{sid},2024-11-03 01:00:00,{base + 1000},99")  # the repeated hour
    path = tmp_path / "local.csv"
    path.write_text("\n".join(rows[:1] + rows[1:][::-1]) + "\n")
    return str(path)


@pytest.mark.parametrize(
    "rule, east, west, temp",
    [
        # 01:00 of 2024-11-03 is row 25 of each series: first written 125 / 35, then 1100 / 1010.
        ("mean", (125 + 1100) / 2, (35 + 1010) / 2, (25 + 99) / 2),
        ("sum", 125 + 1100, 35 + 1010, 25 + 99),
        # The file is written in reverse, so the repeated row comes first in it.
        ("first", 1100, 1010, 99),
        ("last", 125, 35, 25),
    ],
)
def test_duplicates_combines_the_repeated_autumn_hour(tmp_path, rule, east, west, temp):
    panel, cfg = load_panel(
        DataConfig(path=_autumn_export(tmp_path), covariates=("temp",), duplicates=rule)
    )
    assert panel.ids == ("east", "west") and list(panel.lengths) == [48, 48]
    at = 25  # hours after 2024-11-02 00:00
    assert panel.series(0)[at] == pytest.approx(east)
    assert panel.series(1)[at] == pytest.approx(west)
    assert panel.covariates[at, 0] == pytest.approx(temp)
    # Every other hour keeps its own value, in time order.
    hours = np.delete(np.arange(48), at)
    np.testing.assert_array_equal(panel.series(0)[hours], 100.0 + hours)
    assert cfg.duplicates == rule


def test_duplicates_option_reaches_training(run_cli, tmp_path):
    frame = _frame(200)
    frame = pd.concat([frame, frame.iloc[[40]].assign(y=1000.0)])
    result = _train(run_cli, tmp_path, frame, "--duplicates", "mean", "--ensemble", "1")
    assert result.exit_code == 0, result.output


def test_missing_target_values_are_refused(run_cli, expect_bad_input, tmp_path):
    frame = _frame(200)
    frame.loc[[17, 3], "y"] = np.nan
    expect_bad_input(
        _train(run_cli, tmp_path, frame),
        "tsforecast: error: 2 missing target values, first at 2024-01-01 03:00:00; "
        "repair with --fill interpolate or --fill ffill",
    )


def test_non_numeric_targets_are_refused_with_the_series(run_cli, expect_bad_input, tmp_path):
    a = _frame(200).assign(unique_id="a")
    b = _frame(200).assign(unique_id="b").astype({"y": object})
    b.loc[[9, 120], "y"] = ["twelve", "--"]
    expect_bad_input(
        _train(run_cli, tmp_path, pd.concat([a, b])[["unique_id", "ds", "y"]]),
        "tsforecast: error: target column 'y' has 2 non-numeric values, "
        "first 'twelve' at 2024-01-01 09:00:00 (series 'b')",
    )


def test_unparseable_timestamps_are_refused(run_cli, expect_bad_input, tmp_path):
    frame = _frame(200)
    frame.loc[[70, 71], "ds"] = ["yesterday", "soon"]
    expect_bad_input(
        _train(run_cli, tmp_path, frame),
        "tsforecast: error: time column 'ds' has 2 values that are not timestamps, "
        "first: 'yesterday'",
    )


def test_irregular_timestamps_need_freq(run_cli, expect_bad_input, tmp_path):
    minutes = np.cumsum(np.random.default_rng(0).integers(1, 100, 200))
    ds = (pd.Timestamp("2024-01-01") + pd.to_timedelta(minutes, unit="min")).strftime(
        "%Y-%m-%d %H:%M:%S"
    )
    expect_bad_input(
        _train(run_cli, tmp_path, pd.DataFrame({"ds": ds, "y": np.arange(200.0)})),
        "tsforecast: error: cannot infer the frequency of the time column; "
        "pass it with --freq (e.g. h, D, W, MS)",
    )


def test_timestamps_off_the_given_freq_are_refused(run_cli, expect_bad_input, tmp_path):
    expect_bad_input(
        _train(run_cli, tmp_path, _frame(200), "--freq", "2h"),
        "tsforecast: error: 100 timestamps are off the 2h grid, first at 2024-01-01 01:00:00; "
        "check --freq",
    )


# --- --fill ---------------------------------------------------------------------------------------


def _holes() -> pd.DataFrame:
    """A straight line 0..47 with rows 10 and 11 gone and the values at 0 and 20 missing."""
    frame = _frame(48).drop(index=[10, 11])
    frame.loc[[0, 20], "y"] = np.nan
    return frame


def test_fill_interpolate_repairs_gaps_and_missing_values(tmp_path):
    panel, _ = _load(tmp_path, _holes(), fill="interpolate")
    expected = np.arange(48.0)
    expected[0] = 1.0  # nothing before the first value: it is carried back
    np.testing.assert_array_equal(panel.values, expected)
    assert panel.starts == (pd.Timestamp("2024-01-01"),) and panel.freq == "h"


def test_fill_ffill_repeats_the_last_value(tmp_path):
    panel, _ = _load(tmp_path, _holes(), fill="ffill")
    expected = np.arange(48.0)
    expected[[0, 10, 11, 20]] = [1.0, 9.0, 9.0, 19.0]
    np.testing.assert_array_equal(panel.values, expected)


def _many_blocks_file(path, suffix, ids):
    """A long table the compact reader takes in several blocks: series `ids` (`007` must stay
    text), times as day-first text, a numeric covariate with empty cells, the rows of the
    others' rows shuffled after the first series'."""
    rng = np.random.default_rng(3)
    rows = []
    for sid in ids:
        for t in range(400):
            day = pd.Timestamp("2021-01-01") + pd.Timedelta(hours=t)
            rows.append((sid, day.strftime("%d/%m/%Y %H:%M"), rng.normal(), rng.normal()))
    frame = pd.DataFrame(rows, columns=["store", "when", "sales", "price"])
    frame.loc[frame.index % 97 == 5, "price"] = np.nan
    frame = pd.concat([frame.iloc[:400], frame.iloc[400:].sample(frac=1, random_state=0)])
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


@pytest.mark.parametrize(
    ("suffix", "ids"),
    [
        (".csv", ("abc", "007", "12", "")),  # text, read as categories, and an empty id
        (".csv", ("0042", "007", "12", "5")),  # numbers to arrow: the ids are reread as text
        (".parquet", ("abc", "007", "", "12")),
    ],
)
def test_the_compact_reader_builds_the_panel_pandas_reading_builds(
    tmp_path, monkeypatch, suffix, ids
):
    from tsforecast import data

    path = tmp_path / f"data{suffix}"
    _many_blocks_file(path, suffix, ids)
    cfg = DataConfig(
        path=str(path),
        id_col="store",
        time_col="when",
        target="sales",
        covariates=("price",),
        date_format="%d/%m/%Y %H:%M",
        fill="interpolate",
    )
    monkeypatch.setattr(data, "BLOCK_BYTES", 4096)  # dozens of CSV blocks
    assert data._read_compact(str(path), "utf-8") is not None
    got, got_cfg = load_panel(cfg)
    # The same file through pandas' own readers.
    monkeypatch.setattr(data, "_read_compact", lambda *args, **kwargs: None)
    want, want_cfg = load_panel(cfg)
    assert got.ids == want.ids == tuple(sorted(ids))
    np.testing.assert_array_equal(got.values, want.values)
    np.testing.assert_array_equal(got.covariates, want.covariates)
    np.testing.assert_array_equal(got.offsets, want.offsets)
    assert got.starts == want.starts and got_cfg == want_cfg


def test_the_csv_reader_is_never_far_ahead_of_the_blocks_taken(tmp_path, monkeypatch):
    from tsforecast import data

    path = tmp_path / "data.csv"
    pd.DataFrame({"ds": pd.date_range("2020", periods=20000, freq="h"), "y": 1.5}).to_csv(
        path, index=False
    )
    monkeypatch.setattr(data, "BLOCK_BYTES", 8192)
    ahead = []
    allow = data._Paced.allow

    def watched(self, more):
        ahead.append(self.read_so_far - self.allowed)
        allow(self, more)

    monkeypatch.setattr(data._Paced, "allow", watched)
    frame = data._read_compact(str(path), "utf-8")
    assert len(frame) == 20000 and len(ahead) > 40  # the file is 25 x 2 allowances and more
    # Read at most the two blocks allowed beyond those taken, and one read of arrow's past them.
    assert max(ahead) <= 8192 and path.stat().st_size > 50 * 8192


def test_a_column_without_values_reads_as_pandas_reads_it(tmp_path):
    from tsforecast import data

    path = tmp_path / "empty.csv"
    path.write_text("ds,y\n" + "".join(f"2024-01-01 {h:02d}:00:00,\n" for h in range(24)))
    compact = data._read_compact(str(path), "utf-8")
    assert compact["y"].dtype == np.float64 and compact["y"].isna().all()
    assert pd.read_csv(path, engine="pyarrow")["y"].dtype == np.float64
