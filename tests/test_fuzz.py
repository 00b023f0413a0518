"""Cases that fuzzing (the property tests of this file, see `make fuzz`) found, each as a
plain test of the exact case: what it did before is in its first comment."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
import pytest
from conftest import invoke

from tsforecast.config import DataConfig
from tsforecast.data import load_panel, read_future
from tsforecast.evaluation import evaluate

CHEAP = ("--epochs", "1", "--hidden", "4", "--ensemble", "1", "--batch-size", "16")


# --- what fuzzing found, each case as a plain test -----------------------------------------------

ERROR = "tsforecast: error: "


def write_lines(path: Path, *lines: str) -> Path:
    path.write_text("\n".join([*lines, ""]))
    return path


def test_evaluate_reads_wide_actuals(tmp_path):
    # A wide ACTUALS file (one column per series) failed with "internal error: KeyError: 'y'".
    actuals = write_lines(
        tmp_path / "actuals.csv",
        "ds,a,b",
        "2024-01-01 00:00,10,20",
        "2024-01-01 01:00,12,21",
        "2024-01-01 02:00,14,23",
        "2024-01-01 03:00,13,22",
    )
    forecasts = write_lines(
        tmp_path / "fc.csv",
        "unique_id,ds,y_hat",
        "a,2024-01-01 02:00,13",
        "a,2024-01-01 03:00,13",
        "b,2024-01-01 02:00,22",
        "b,2024-01-01 03:00,24",
    )
    out = tmp_path / "scores.json"
    result = invoke("evaluate", forecasts, actuals, "--season-length", 1, "--out", out)
    assert result.exit_code == 0, result.output
    model = json.loads(out.read_text())["model"]
    # MAE: a (1 + 0) / 2, b (1 + 2) / 2. MASE scales from the values before each window: a
    # |12 - 10| = 2, b |21 - 20| = 1.
    assert model["MAE"] == pytest.approx((0.5 + 1.5) / 2)
    assert model["MASE"] == pytest.approx((0.5 / 2 + 1.5 / 1) / 2)


def test_evaluate_refuses_duplicated_actuals(tmp_path):
    # An internal error: "MergeError: Merge keys are not unique in right dataset".
    actuals = write_lines(
        tmp_path / "actuals.csv", "ds,y", "2024-01-01,1", "2024-01-02,2", "2024-01-02,3"
    )
    forecasts = write_lines(tmp_path / "fc.csv", "ds,y_hat", "2024-01-02,2")
    result = invoke("evaluate", forecasts, actuals, "--season-length", 1)
    assert result.exit_code == 2
    assert result.stderr == (
        f"{ERROR}{actuals} has 1 duplicated timestamps, first at 2024-01-02 00:00:00; aggregate "
        "them first\n"
    )


def test_evaluate_refuses_infinite_actuals(tmp_path):
    # They were scored, to NaN (and numpy warned on stderr).
    actuals = write_lines(tmp_path / "actuals.csv", "ds,y", "2024-01-01,1", "2024-01-02,inf")
    forecasts = write_lines(tmp_path / "fc.csv", "ds,y_hat", "2024-01-02,2")
    result = invoke("evaluate", forecasts, actuals, "--season-length", 1)
    assert result.exit_code == 2
    assert result.stderr == (
        f"{ERROR}{actuals}: target column 'y' has 1 infinite values, first at row 2; no score "
        "can be computed with them\n"
    )


@pytest.mark.parametrize("empty", ["forecasts", "actuals"])
def test_evaluate_refuses_a_file_without_rows(tmp_path, empty):
    # Internal errors: "KeyError: 'MASE'" (no forecasts), "IndexError: single positional
    # indexer is out-of-bounds" (no actuals).
    files = {
        "forecasts": write_lines(tmp_path / "fc.csv", "ds,y_hat", "2024-01-02,2"),
        "actuals": write_lines(tmp_path / "actuals.csv", "ds,y", "2024-01-01,1", "2024-01-02,2"),
    }
    write_lines(files[empty], "ds,y_hat" if empty == "forecasts" else "ds,y")
    result = invoke("evaluate", files["forecasts"], files["actuals"])
    assert result.exit_code == 2
    what = "forecast rows" if empty == "forecasts" else "rows"
    assert result.stderr == f"{ERROR}{files[empty]} has no {what}\n"


def test_zoned_cutoffs_are_scored_without_a_warning(tmp_path):
    # numpy warned "no explicit representation of timezones available for np.datetime64" on
    # stderr at every backtest of zoned data.
    stamps = pd.date_range("2024-01-01", periods=4, freq="h", tz="UTC")
    actuals = pd.DataFrame({"unique_id": "a", "ds": stamps, "y": [1.0, 2.0, 4.0, 8.0]})
    forecasts = actuals.iloc[2:].drop(columns="y").assign(y_hat=[3.0, 6.0], cutoff=stamps[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = evaluate(forecasts, actuals, 1, actuals).summary
    # The MASE scale is |2 - 1| (the history up to the cutoff); the errors 1 and 2.
    assert scores.loc["model", "MASE"] == pytest.approx(1.5)


def test_evaluate_writes_into_missing_folders(tmp_path):
    # An internal error: "OSError: Cannot save file into a non-existent directory".
    actuals = write_lines(tmp_path / "actuals.csv", "ds,y", "2024-01-01,1", "2024-01-02,2")
    forecasts = write_lines(tmp_path / "fc.csv", "ds,y_hat", "2024-01-02,3")
    out, windows = tmp_path / "new" / "scores.csv", tmp_path / "other" / "windows.csv"
    result = invoke(
        "evaluate", forecasts, actuals, "--season-length", 1, "--out", out, "--by-window", windows
    )
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out, index_col=0).loc["model", "MAE"] == pytest.approx(1.0)
    by_window = pd.read_csv(windows).set_index("method")
    # Naive2 from one value is that value: 1 against 2.
    assert by_window["MAE"].to_dict() == pytest.approx({"model": 1.0, "naive2": 1.0})


def test_ids_are_read_as_the_file_writes_them(tmp_path):
    # `007` and `7` were both read as the number 7: one series with duplicated timestamps.
    # `2` beside an empty id was the float 2.0, so predict wrote `2.0` and `--id 2` was unknown.
    rows = [f"{sid},2024-01-0{day},{day}" for sid in ("007", "7", "", "2") for day in (1, 2, 3)]
    path = write_lines(tmp_path / "data.csv", "unique_id,ds,y", *rows)
    panel, _ = load_panel(DataConfig(path=str(path)))
    assert panel.ids == ("", "007", "2", "7")
    assert list(panel.series(1)) == [1.0, 2.0, 3.0]
    future = write_lines(tmp_path / "future.csv", "unique_id,ds,price", "007,2024-01-04,5")
    keys = read_future(
        str(future), DataConfig(future_covariates=("price",), id_col="unique_id", time_col="ds")
    ).keys
    assert list(keys["id"]) == ["007"]


def test_evaluate_keeps_ids_as_written(tmp_path):
    actuals = write_lines(
        tmp_path / "actuals.csv",
        "unique_id,ds,y",
        "01,2024-01-01,1",
        "01,2024-01-02,2",
        "01,2024-01-03,4",
    )
    forecasts = write_lines(tmp_path / "fc.csv", "unique_id,ds,y_hat", "01,2024-01-03,3")
    result = invoke("evaluate", forecasts, actuals, "--by-window", tmp_path / "w.csv")
    assert result.exit_code == 0, result.output
    windows = pd.read_csv(tmp_path / "w.csv", dtype={"unique_id": str})
    assert set(windows["unique_id"]) == {"01"}


@pytest.mark.parametrize(("value", "shown"), [("inf", "inf"), ("-inf", "-inf"), ("1e39", "1e+39")])
def test_a_target_beyond_float32_is_refused_not_trained_into_nan(tmp_path, value, shown):
    # It trained to NaN and was refused as "training diverged (loss nan at epoch 1); lower --lr".
    lines = [f"2024-01-01 {h:02d}:00:00,{value if h == 5 else 100 + h}" for h in range(24)]
    path = write_lines(tmp_path / "data.csv", "ds,y", *lines)
    result = invoke("train", path, *CHEAP, "--lookback", 4, "--horizon", 2, "--out", tmp_path / "m")
    assert result.exit_code == 2
    assert result.stderr == (
        f"{ERROR}target column 'y' has 1 values that are infinite or beyond float32 (about "
        f"3.4e38), first {shown!r} at 2024-01-01 05:00:00; remove or rescale them\n"
    )
    assert not (tmp_path / "m").exists()


def test_a_date_format_pandas_cannot_read_is_refused(tmp_path):
    # An internal error: "ValueError: 'Q' is a bad directive in format '%Q'".
    path = write_lines(tmp_path / "data.csv", "ds,y", "2024-01-01,1", "2024-01-02,2")
    result = invoke("train", path, "--date-format", "%Y-%Q", "--out", tmp_path / "m")
    assert result.exit_code == 2
    assert result.stderr == (
        f"{ERROR}--date-format '%Y-%Q' cannot be read: 'Q' is a bad directive in format '%Y-%Q'; "
        "write it as strftime, e.g. %d/%m/%Y or %m/%d/%Y %H:%M\n"
    )
