"""`tsforecast evaluate` on tiny files whose scores are computed by hand."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from tsforecast.cli import cli

# Period-2 pattern 1, 3 for 20 steps, except that the last value is 6: season m = 2.
HISTORY = [1.0, 3.0] * 9 + [1.0, 6.0]
ACTUAL = [2.0, 6.0]
MODEL = [2.5, 5.0]


def hand_naive2() -> list[float]:
    # Classical decomposition (2x2 centred MA): every ratio is 0.5 or 1.5 except at t = 18,
    # whose trend is 0.25 * 3 + 0.5 * 1 + 0.25 * 6 = 2.75; t = 19 has no trend.
    s0 = (8 * 0.5 + 1 / 2.75) / 9
    s1 = 1.5
    # The last value sits at season position 1: level = 6 / s1; step 20 is position 0, 21
    # position 1.
    # (Normalising the indices to mean 1 cancels in level * s.)
    return [6 / s1 * s0, 6 / s1 * s1]


def write(tmp_path, with_ids=False):
    stamps = pd.date_range("2024-01-01", periods=22, freq="h")
    pd.DataFrame({"ds": stamps[:20], "y": HISTORY}).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame({"ds": stamps[20:], "y": ACTUAL}).to_csv(tmp_path / "test.csv", index=False)
    pd.DataFrame({"ds": stamps, "y": HISTORY + ACTUAL}).to_csv(tmp_path / "all.csv", index=False)
    forecast = pd.DataFrame(
        {"ds": stamps[20:], "y_hat": MODEL, "y_hat-lo-80": [2.4, 4.0], "y_hat-hi-80": [3.0, 7.0]}
    )
    if with_ids:
        forecast.insert(0, "unique_id", "y")
    forecast.to_csv(tmp_path / "fc.csv", index=False)


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)), catch_exceptions=False)


def test_evaluate_matches_hand_computed_mase_naive2_and_owa(tmp_path):
    write(tmp_path)
    result = run(
        "evaluate",
        tmp_path / "fc.csv",
        tmp_path / "test.csv",
        "--train",
        tmp_path / "train.csv",
        "--season-length",
        2,
        "--out",
        tmp_path / "m.json",
    )
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "m.json").read_text())
    scale = 3 / 18  # in-sample |y_t - y_{t-2}|: all 0 but the last, |6 - 3|
    naive2 = hand_naive2()
    assert naive2[0] == pytest.approx(1.9393939, abs=1e-6)
    n2_mae = np.mean(np.abs(np.subtract(ACTUAL, naive2)))
    n2_smape = np.mean(
        200 * np.abs(np.subtract(ACTUAL, naive2)) / (np.abs(ACTUAL) + np.abs(naive2))
    )
    model_smape = 100 * (0.5 / 4.5 + 1 / 11)
    assert scores["naive2"]["MAE"] == pytest.approx(n2_mae)
    assert scores["naive2"]["MASE"] == pytest.approx(n2_mae / scale)
    assert scores["model"]["MAE"] == pytest.approx(0.75)
    assert scores["model"]["RMSE"] == pytest.approx(np.sqrt((0.25 + 1) / 2))
    assert scores["model"]["MASE"] == pytest.approx(0.75 / scale)
    assert scores["model"]["sMAPE"] == pytest.approx(model_smape)
    assert scores["model"]["OWA"] == pytest.approx(0.5 * (model_smape / n2_smape + 0.75 / n2_mae))
    # The same in exact fractions: Naive2 is [64/33, 6] against [2, 6], so its only error is
    # 2/33, sMAPE 200 * (2/33) / (130/33) / 2 = 20/13 and MASE (1/33) / (1/6) = 2/11. (Naive2's
    # own OWA is 1 by definition, so it would check nothing.)
    assert naive2 == pytest.approx([64 / 33, 6.0])
    assert scores["naive2"]["sMAPE"] == pytest.approx(20 / 13)
    assert scores["naive2"]["MASE"] == pytest.approx(2 / 11)
    assert scores["model"]["MASE"] == pytest.approx(4.5)
    assert scores["model"]["OWA"] == pytest.approx(0.5 * (model_smape * 13 / 20 + 4.5 * 11 / 2))
    # The 80% interval holds 6 but not 2 (2 < 2.4): coverage 1/2, width 1.8, MSIS with alpha 0.2.
    assert scores["model"]["coverage-80"] == pytest.approx(0.5)
    assert scores["model"]["width-80"] == pytest.approx((0.6 + 3.0) / 2)
    assert scores["model"]["MSIS-80"] == pytest.approx(((0.6 + 3.0) + 2 / 0.2 * 0.4) / 2 / scale)


def test_actuals_file_with_history_gives_the_same_scores(tmp_path):
    write(tmp_path, with_ids=True)
    separate = run(
        "evaluate",
        tmp_path / "fc.csv",
        tmp_path / "test.csv",
        "--train",
        tmp_path / "train.csv",
        "--season-length",
        2,
        "--out",
        tmp_path / "a.csv",
    )
    combined = run(
        "evaluate",
        tmp_path / "fc.csv",
        tmp_path / "all.csv",
        "--season-length",
        2,
        "--out",
        tmp_path / "b.csv",
    )
    assert separate.exit_code == combined.exit_code == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv"))


def test_forecast_without_actual_is_an_error(tmp_path):
    write(tmp_path)
    stamps = pd.date_range("2024-01-01 20:00", periods=3, freq="h")
    pd.DataFrame({"ds": stamps, "y_hat": [1.0, 2.0, 3.0]}).to_csv(
        tmp_path / "long.csv", index=False
    )
    result = CliRunner().invoke(
        cli,
        [
            "evaluate",
            str(tmp_path / "long.csv"),
            str(tmp_path / "test.csv"),
            "--season-length",
            "2",
        ],
    )
    assert result.exit_code == 2
    assert (
        "1 forecast rows have no actual value, first: series 'y' at 2024-01-01 22:00:00"
        in result.output
    )
