"""Files as users have them: text that is not UTF-8, a byte order mark, gzip and CRLF, a column
name written twice, and dates written day-first or month-first.

Each file is written byte for byte; what it must read as is written out by hand. Reading is
checked at `load_panel` (and the other readers); each refusal runs the real CLI, which fails
while reading, before anything compiles. One test trains a tiny model, to see that predict reads
with the encoding and date format the model was trained with.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from tsforecast.config import DataConfig
from tsforecast.data import load_panel, read_future, read_table
from tsforecast.errors import DataError

ERROR = "tsforecast: error: "
TINY = ("--hidden", "4", "--lookback", "24", "--horizon", "6", "--epochs", "1", "-q")


def _write(path, lines: list[str], encoding: str = "utf-8", newline: str = "\n"):
    path.write_bytes(newline.join([*lines, ""]).encode(encoding))
    return path


def _daily(fmt: str, days: int = 59) -> list[str]:
    """`ds,y` from 1 January 2015, `y` the day's number from 0, in a shuffled row order: only
    the dates put the rows back in order."""
    stamps = pd.date_range("2015-01-01", periods=days, freq="D").strftime(fmt)
    order = np.random.default_rng(0).permutation(days)
    return ["ds,y", *(f"{stamps[k]},{k}" for k in order)]


def _monthly(series: tuple[str, ...] = ("y",), months: int = 80) -> list[str]:
    """`unique_id,ds,y`, the first of every month from January 2015 written day-first: every
    value also reads month-first (`01/02/2015`: 2 January), so the column is ambiguous."""
    rows = ["unique_id,ds,y"]
    for n, name in enumerate(series):
        for k in range(months):
            year, month = 2015 + k // 12, k % 12 + 1
            value = 100 * (n + 1) + 10 * np.sin(2 * np.pi * k / 12) + k
            rows.append(f"{name},01/{month:02d}/{year},{value:.3f}")
    return rows


def _train(run_cli, path, *options):
    return run_cli("train", path, *TINY, *options, "--out", path.parent / "model")


# --- encodings ----------------------------------------------------------------------------------

LATIN = ["unique_id,ds,y", "bar,2015-01-01,1.5", "caf\xe9,2015-01-01,2.5", "bar,2015-01-02,3.5"]


def test_a_latin_1_byte_is_refused_with_its_line_and_the_option(
    run_cli, expect_bad_input, tmp_path
):
    path = _write(tmp_path / "data.csv", LATIN, "latin-1")
    expect_bad_input(
        _train(run_cli, path),
        ERROR + f"cannot read {path} as a table: it is not utf-8 text (line 3 has the byte 0xe9 "
        "that utf-8 does not allow); give its encoding with --encoding NAME (e.g. latin-1, cp1252)",
    )


def test_the_encoding_named_reads_the_file_and_its_accents(tmp_path):
    path = _write(tmp_path / "data.csv", LATIN, "latin-1")
    frame = read_table(str(path), "latin-1")
    assert list(frame["unique_id"]) == ["bar", "café", "bar"]


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv"])
def test_an_undecodable_byte_is_found_in_a_compressed_file_too(tmp_path, suffix):
    # 0x81 is one of the five bytes cp1252 leaves undefined.
    text = b"ds,y\r\n2015-01-01,1\r\n2015-01-02,2\r\n2015-01-03,\x81\r\n"
    path = tmp_path / f"data{suffix}"
    path.write_bytes(gzip.compress(text) if suffix == ".csv.gz" else text)
    with pytest.raises(DataError) as raised:
        read_table(str(path), "cp1252")
    assert str(raised.value) == (
        f"cannot read {path} as a table: it is not cp1252 text (line 4 has the byte 0x81 that "
        "cp1252 does not allow); give its encoding with --encoding NAME (e.g. latin-1, cp1252)"
    )


@pytest.mark.parametrize("compressed", [False, True], ids=["csv", "gzip"])
def test_utf_8_with_a_byte_order_mark_and_crlf_reads_as_utf_8(tmp_path, compressed):
    text = "\ufeff" + "\r\n".join(["ds,unique_id,y", *_rows_of_two_series()]) + "\r\n"
    path = tmp_path / ("data.csv.gz" if compressed else "data.csv")
    raw = text.encode("utf-8")
    path.write_bytes(gzip.compress(raw) if compressed else raw)
    panel, cfg = load_panel(DataConfig(path=str(path)))
    # The mark is not part of the first column's name, so `ds` is found by name.
    assert (cfg.time_col, cfg.id_col, cfg.target) == ("ds", "unique_id", "y")
    assert panel.ids == ("bar", "crème")
    np.testing.assert_array_equal(panel.series(1), [10.0, 11.0, 12.0])
    assert panel.starts == (pd.Timestamp("2015-01-01"), pd.Timestamp("2015-01-01"))


def _rows_of_two_series() -> list[str]:
    return [
        "2015-01-01,bar,0",
        "2015-01-02,bar,1",
        "2015-01-03,bar,2",
        "2015-01-01,crème,10",
        "2015-01-02,crème,11",
        "2015-01-03,crème,12",
    ]


# --- column names -------------------------------------------------------------------------------


def test_a_column_name_written_twice_is_refused(run_cli, expect_bad_input, tmp_path):
    path = _write(tmp_path / "data.csv", ["ds,y,price,y", "2015-01-01,1,2,3", "2015-01-02,4,5,6"])
    expect_bad_input(
        _train(run_cli, path),
        ERROR + f"{path} has more than one column named 'y'; give each column its own name",
    )


def test_the_header_tells_a_repeated_name_from_a_column_named_like_pandas_renames(tmp_path):
    # A short row makes the pyarrow engine give up and the C engine, which renames a repeated
    # `y` to `y.1`, read the file instead.
    lines = ["ds,y,{}", "2015-01-01,1", "2015-01-02,2,3"]
    repeated = _write(tmp_path / "repeated.csv", [lines[0].format("y"), *lines[1:]])
    with pytest.raises(DataError) as raised:
        read_table(str(repeated))
    assert str(raised.value).startswith(f"{repeated} has more than one column named 'y';")
    named = _write(tmp_path / "named.csv", [lines[0].format("y.1"), *lines[1:]])
    assert list(read_table(str(named)).columns) == ["ds", "y", "y.1"]


# --- dates --------------------------------------------------------------------------------------

# The days of _daily at positions 0, 11, 12, 30, 31 and 58.
DAYS = ["2015-01-01", "2015-01-12", "2015-01-13", "2015-01-31", "2015-02-01", "2015-02-28"]


def _days_of(panel) -> list[str]:
    stamps = panel.timestamps(0)
    return [str(stamps[k].date()) for k in (0, 11, 12, 30, 31, 58)]


@pytest.mark.parametrize(
    "fmt, first_line",
    [("%d/%m/%Y", "31/01/2015,30"), ("%m/%d/%Y", "01/31/2015,30"), ("%d.%m.%y", "31.01.15,30")],
    ids=["day-first", "month-first", "day-first, two-digit year"],
)
def test_a_daily_column_is_read_with_the_one_format_that_fits_every_value(
    tmp_path, fmt, first_line
):
    lines = _daily(fmt)
    assert first_line in lines  # the file holds what the test says
    panel, cfg = load_panel(DataConfig(path=str(_write(tmp_path / "data.csv", lines))))
    assert (panel.freq, len(panel.values)) == ("D", 59)
    assert _days_of(panel) == DAYS
    # Every row's value is its day's number: a row read with the other format lands elsewhere.
    np.testing.assert_array_equal(panel.values, np.arange(59.0))
    assert cfg.date_format is None  # inferred each time, not frozen into the model


@pytest.mark.parametrize(
    "fmt, hour",
    [("%Y-%m-%d %H:%M", 0), ("%Y/%m/%d", 0), ("%Y-%m-%d %I:%M %p", 9), ("%Y-%m-%d %I:%M %p", 0)],
    ids=["ISO 8601", "ISO 8601 with slashes", "12-hour clock", "12-hour clock at midnight"],
)
def test_year_first_dates_are_never_read_day_first(tmp_path, fmt, hour):
    # Twelve days, so that year-day-month would fit every value as well. The 12-hour clock is
    # not ISO 8601: pandas guesses its format (and a year-day-month one, left out), except at
    # 12 AM, where it guesses none and dateutil reads each value.
    stamps = [pd.Timestamp(2015, 1, day, hour) for day in range(1, 13)]
    lines = ["ds,y", *(f"{t.strftime(fmt)},{day}" for day, t in enumerate(stamps, 1))]
    panel, _ = load_panel(DataConfig(path=str(_write(tmp_path / "data.csv", lines))))
    assert panel.freq == "D"
    assert panel.starts == (pd.Timestamp(2015, 1, 1, hour),)
    np.testing.assert_array_equal(panel.values, np.arange(1.0, 13.0))


def test_day_first_datetimes_with_utc_offsets_are_read_in_utc(tmp_path):
    lines = [
        "ds,y",
        "31/01/2015 23:00 +01:00",
        "01/02/2015 00:00 +01:00",
        "01/02/2015 01:00 +01:00",
    ]
    lines = [lines[0], *(f"{stamp},{k}" for k, stamp in enumerate(lines[1:]))]
    panel, _ = load_panel(DataConfig(path=str(_write(tmp_path / "data.csv", lines))))
    assert panel.freq == "h"
    assert panel.starts == (pd.Timestamp("2015-01-31 22:00", tz="UTC"),)


def test_an_ambiguous_column_is_refused_with_an_example(run_cli, expect_bad_input, tmp_path):
    path = _write(tmp_path / "data.csv", _monthly())
    expect_bad_input(
        _train(run_cli, path),
        ERROR + "time column 'ds' reads as %m/%d/%Y or as %d/%m/%Y, with different dates: "
        "'01/02/2015' is 2015-01-02 or 2015-02-01; say which with --date-format, e.g. "
        "--date-format '%m/%d/%Y' or '%d/%m/%Y'",
    )


def test_date_format_reads_an_ambiguous_column(tmp_path):
    path = _write(tmp_path / "data.csv", _monthly())
    panel, cfg = load_panel(DataConfig(path=str(path), date_format="%d/%m/%Y"))
    assert (panel.freq, cfg.date_format) == ("MS", "%d/%m/%Y")
    stamps = panel.timestamps(0)
    assert [str(stamps[k].date()) for k in (0, 1, 11, 12, 79)] == [
        "2015-01-01",
        "2015-02-01",
        "2015-12-01",
        "2016-01-01",
        "2021-08-01",
    ]


def test_a_column_of_two_formats_is_refused(run_cli, expect_bad_input, tmp_path):
    lines = ["ds,y", "30/01/2015,1", "31/01/2015,2", "02/01/2015,3", "02/13/2015,4"]
    expect_bad_input(
        _train(run_cli, _write(tmp_path / "data.csv", lines)),
        ERROR + "time column 'ds' mixes date formats: 1 values do not read as %d/%m/%Y like "
        "'30/01/2015' does, first '02/13/2015' at row 4; make the column consistent or give its "
        "format with --date-format",
    )


def test_a_value_that_does_not_match_date_format_is_named(run_cli, expect_bad_input, tmp_path):
    lines = ["ds,y", "30/01/2015,1", "31/01/2015,2", "2015-02-01,3", "2015-02-02,4"]
    expect_bad_input(
        _train(run_cli, _write(tmp_path / "data.csv", lines), "--date-format", "%d/%m/%Y"),
        ERROR + "time column 'ds' has 2 values that do not match --date-format '%d/%m/%Y', "
        "first '2015-02-01' at row 3",
    )


def test_a_wide_file_names_the_row_of_the_file(tmp_path):
    # Series a starts on row 3 and the file ends in empty rows, as spreadsheets export them:
    # those rows are dropped (their time cells too), and the refused row is the file's.
    lines = ["ds,a,b", "01/01/2015,,1", "02/01/2015,,2", "03/01/2015,7,3", "2015-01-04,8,4", ",,"]
    path = _write(tmp_path / "data.csv", lines)
    with pytest.raises(DataError) as raised:
        load_panel(DataConfig(path=str(path), date_format="%d/%m/%Y"))
    assert str(raised.value) == (
        "time column 'ds' has 1 values that do not match --date-format '%d/%m/%Y', first "
        "'2015-01-04' at row 4"
    )
    lines[4] = "04/01/2015,8,4"
    panel, _ = load_panel(DataConfig(path=str(_write(path, lines)), date_format="%d/%m/%Y"))
    assert panel.ids == ("a", "b")
    assert panel.starts == (pd.Timestamp("2015-01-03"), pd.Timestamp("2015-01-01"))
    np.testing.assert_array_equal(panel.series(0), [7.0, 8.0])


def test_the_future_file_is_read_like_the_data_file(tmp_path):
    lines = ["unique_id,ds,price", "caf\xe9,01/02/2015,0.5", "caf\xe9,01/03/2015,0.75"]
    path = _write(tmp_path / "future.csv", lines, "latin-1")
    cfg = DataConfig(
        time_col="ds",
        id_col="unique_id",
        future_covariates=("price",),
        encoding="latin-1",
        date_format="%d/%m/%Y",
    )
    future = read_future(str(path), cfg)
    assert list(future.keys["id"]) == ["café", "café"]
    expected = pd.DatetimeIndex(["2015-02-01", "2015-03-01"]).as_unit("ns").asi8
    np.testing.assert_array_equal(future.keys["ds"], expected)


# --- the options through the commands -----------------------------------------------------------


@pytest.mark.slow
def test_predict_reads_with_the_encoding_and_date_format_of_training(
    run_cli, expect_bad_input, forecast_of, tmp_path
):
    path = _write(tmp_path / "data.csv", _monthly(("bar", "caf\xe9")), "latin-1")
    reading = ("--encoding", "latin-1", "--date-format", "%d/%m/%Y")
    trained = _train(run_cli, path, *reading)
    assert trained.exit_code == 0, trained.output
    saved = json.loads((tmp_path / "model" / "config.json").read_text())["config"]["data"]
    assert (saved["encoding"], saved["date_format"]) == ("latin-1", "%d/%m/%Y")

    result = run_cli("predict", "--model", tmp_path / "model")
    assert result.exit_code == 0, result.output
    forecast = forecast_of(result.stdout)
    assert list(dict.fromkeys(forecast["unique_id"])) == ["bar", "café"]
    months = ["2021-09-01", "2021-10-01", "2021-11-01", "2021-12-01", "2022-01-01", "2022-02-01"]
    assert list(forecast["ds"].dt.strftime("%Y-%m-%d")) == months * 2

    # The options given to predict replace the model's: the file's é is on line 82.
    expect_bad_input(
        run_cli("predict", "--model", tmp_path / "model", "--encoding", "utf-8"),
        startswith=ERROR + f"cannot read {path} as a table: it is not utf-8 text (line 82 ",
    )


def test_evaluate_reads_actuals_with_encoding_and_date_format(run_cli, expect_bad_input, tmp_path):
    forecasts = _write(
        tmp_path / "forecast.csv",
        ["unique_id,ds,y_hat", "café,2024-02-01,2.5", "café,2024-02-02,5.0"],
    )
    actuals = _write(
        tmp_path / "actuals.csv",
        ["unique_id,ds,y", "caf\xe9,01/02/2024,2.0", "caf\xe9,02/02/2024,6.0"],
        "latin-1",
    )
    out = tmp_path / "scores.json"
    args = ("evaluate", forecasts, actuals, "--season-length", "1", "--out", out)
    result = run_cli(*args, "--encoding", "latin-1", "--date-format", "%d/%m/%Y")
    assert result.exit_code == 0, result.output
    scores = json.loads(out.read_text())["model"]
    # Errors 0.5 and 1.0.
    assert scores["MAE"] == pytest.approx(0.75)
    assert scores["RMSE"] == pytest.approx(np.sqrt((0.25 + 1.0) / 2))
    expect_bad_input(
        run_cli(*args, "--encoding", "latin-1"),
        ERROR + f"{actuals}: time column 'ds' reads as %m/%d/%Y or as %d/%m/%Y, with different "
        "dates: '01/02/2024' is 2024-01-02 or 2024-02-01; say which with --date-format, e.g. "
        "--date-format '%m/%d/%Y' or '%d/%m/%Y'",
    )
