"""`--holidays`: the real CLI trains on a daily series whose US public holidays fall far below
its ordinary days, saves the choice with the model, and `predict` forecasts the holiday in its
horizon low without being told anything but DATA."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from tsforecast.cli import cli

# Trains a network of its own: left out of `make test-fast`.
pytestmark = pytest.mark.slow

# US federal holidays from July 2021 to June 2024, written out rather than asked of the
# holidays package the code under test uses (observed days, when a holiday falls on a weekend,
# included: the package lists them too).
US_HOLIDAYS = pd.DatetimeIndex(
    [
        "2021-07-04",
        "2021-07-05",
        "2021-09-06",
        "2021-10-11",
        "2021-11-11",
        "2021-11-25",
        "2021-12-24",
        "2021-12-25",
        "2021-12-31",
        "2022-01-01",
        "2022-01-17",
        "2022-02-21",
        "2022-05-30",
        "2022-06-19",
        "2022-06-20",
        "2022-07-04",
        "2022-09-05",
        "2022-10-10",
        "2022-11-11",
        "2022-11-24",
        "2022-12-25",
        "2022-12-26",
        "2023-01-01",
        "2023-01-02",
        "2023-01-16",
        "2023-02-20",
        "2023-05-29",
        "2023-06-19",
        "2023-07-04",
        "2023-09-04",
        "2023-10-09",
        "2023-11-10",
        "2023-11-11",
        "2023-11-23",
        "2023-12-25",
        "2024-01-01",
        "2024-01-15",
        "2024-02-19",
        "2024-05-27",
        "2024-06-19",
    ]  # fmt: skip
)


@pytest.fixture(scope="module")
def holiday_series(tmp_path_factory):
    """Daily from 1 July 2021 to Thursday 27 June 2024: 100 on ordinary days, a little lower at
    weekends, 30 on holidays, small noise."""
    root = tmp_path_factory.mktemp("holidays")
    days = pd.date_range("2021-07-01", "2024-06-27", freq="D")
    rng = np.random.default_rng(0)
    y = 100.0 - 10.0 * (days.day_of_week >= 5) + rng.normal(0, 1.0, len(days))
    y[days.isin(US_HOLIDAYS)] = 30.0
    data = root / "daily.csv"
    pd.DataFrame({"ds": days, "y": y}).to_csv(data, index=False)
    return root, data


def test_holidays_are_known_in_advance(holiday_series):
    root, data = holiday_series
    model, out = root / "model", root / "forecast.csv"
    runner = CliRunner()
    common = ("--horizon", "14", "--hidden", "16", "--ensemble", "1", "--epochs", "30", "-q")
    trained = runner.invoke(
        cli, ["train", str(data), "--holidays", "US", *common, "--out", str(model)]
    )
    assert trained.exit_code == 0, trained.output
    saved = json.loads((model / "config.json").read_text())
    assert saved["config"]["data"]["holidays"] == "US"
    assert saved["features"][-2:] == ["holiday", "holiday_distance"]

    predicted = runner.invoke(cli, ["predict", str(data), "--model", str(model), "--out", str(out)])
    assert predicted.exit_code == 0, predicted.output
    forecast = pd.read_csv(out, parse_dates=["ds"]).set_index("ds")["y_hat"]
    # The horizon, 28 June to 11 July, holds Independence Day (a Thursday) and two weekends.
    ordinary = forecast[(forecast.index.day_of_week < 5) & (forecast.index != "2024-07-04")]
    # Without the holiday inputs the network forecasts it like any Thursday, about 100.
    assert forecast["2024-07-04"] < 75, forecast.to_string()
    assert ordinary.min() > 85, forecast.to_string()
