"""--transform: the network models log(y) for positive data, everything it reports stays in the
original units."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import TRAIN_ARGS
from tsforecast.config import Config

# The session model's options (its 600 rows too), so that in the whole suite every training here
# reuses its compiled programs; three epochs.
SMALL = (*TRAIN_ARGS, "--epochs", "3", "-q")


def multiplicative_series(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """A daily cycle from about 12 to 250 with proportional AR(1) noise: log(y) is a plain sine
    plus noise, y itself has errors that grow with its level."""
    rng = np.random.default_rng(seed)
    noise = np.zeros(n)
    for i in range(1, n):
        noise[i] = 0.7 * noise[i - 1] + rng.normal(0.0, 0.1)
    t = np.arange(n)
    y = np.exp(4.0 + 1.5 * np.sin(2 * np.pi * t / 24) + noise)
    ds = pd.date_range("2024-01-01", periods=n, freq="h").strftime("%Y-%m-%d %H:%M:%S")
    return pd.DataFrame({"ds": ds, "y": np.round(y, 4)})


@pytest.fixture(scope="module")
def log_model(tmp_path_factory, run_cli) -> tuple:
    root = tmp_path_factory.mktemp("log-model")
    csv = root / "series.csv"
    multiplicative_series().to_csv(csv, index=False)
    result = run_cli("train", csv, *SMALL, "--out", root / "model")
    assert result.exit_code == 0, result.output
    return csv, root / "model"


def saved_config(model_dir) -> dict:
    return json.loads((model_dir / "config.json").read_text())["config"]


@pytest.mark.slow
def test_auto_picks_log_for_positive_data_and_none_when_a_value_is_not(
    log_model, run_cli, make_series, tmp_path
):
    _, model = log_model
    assert saved_config(model)["data"]["transform"] == "log"
    # Centred on 0: half the values are negative, so log cannot apply.
    crossing = tmp_path / "crossing.csv"
    make_series(600, level=0.0).to_csv(crossing, index=False)
    result = run_cli("train", crossing, *SMALL, "--out", tmp_path / "model")
    assert result.exit_code == 0, result.output
    assert saved_config(tmp_path / "model")["data"]["transform"] == "none"


@pytest.mark.slow
def test_log_forecasts_and_intervals_are_in_original_units(log_model, run_cli, forecast_of):
    csv, model = log_model
    result = run_cli("predict", csv, "--model", model, "--level", "80")
    assert result.exit_code == 0, result.output
    forecast = forecast_of(result.stdout)
    lo, point, hi = forecast["y_hat-lo-80"], forecast["y_hat"], forecast["y_hat-hi-80"]
    # The series runs from about 12 to 250: a forecast left in log units would be under 6.
    assert point.max() > 100 and point.min() > 5
    assert (lo > 0).all() and (lo < point).all() and (point < hi).all()
    # Conformal bounds are symmetric around log(y_hat), so multiplicative around y_hat:
    # lo * hi = y_hat^2 (additive bounds in original units would give y_hat^2 - radius^2).
    np.testing.assert_allclose(lo * hi, point**2, rtol=1e-3)


@pytest.mark.slow
def test_metrics_are_in_original_units_whatever_the_transform(log_model, run_cli, tmp_path):
    csv, model = log_model
    result = run_cli("train", csv, *SMALL, "--transform", "none", "--out", tmp_path / "plain")
    assert result.exit_code == 0, result.output
    logged = json.loads((model / "metrics.json").read_text())
    plain = json.loads((tmp_path / "plain" / "metrics.json").read_text())
    # The same validation windows scored in the same units: seasonal naive is identical.
    for key in ("mae", "rmse", "smape", "mase"):
        assert logged["seasonal_naive"][key] == pytest.approx(
            plain["seasonal_naive"][key], rel=1e-6
        )
    # And the model's errors are on the scale of the data (a log-unit error would be ~0.1).
    assert 1.0 < logged["model"]["mae"] < 3 * logged["seasonal_naive"]["mae"]
    assert saved_config(tmp_path / "plain")["data"]["transform"] == "none"


@pytest.mark.slow
def test_log_refuses_values_at_or_below_zero(log_model, run_cli, expect_bad_input, tmp_path):
    csv, model = log_model
    frame = pd.read_csv(csv)
    frame.loc[590, "y"] = 0.0
    zero = tmp_path / "zero.csv"
    frame.to_csv(zero, index=False)
    when = frame.loc[590, "ds"]
    expected = (
        "the model forecasts log(y) (--transform log) but 1 value(s) are <= 0, "
        f"the first 0 in series 'y' at {when}; train with --transform none"
    )
    result = run_cli("predict", zero, "--model", model)
    expect_bad_input(result, line=f"tsforecast: error: {expected}")
    result = run_cli("train", zero, *SMALL, "--transform", "log", "--out", tmp_path / "never")
    expect_bad_input(result, line=f"tsforecast: error: {expected}")
    assert not (tmp_path / "never").exists()


def test_models_saved_before_the_option_existed_read_as_untransformed():
    config = Config.from_dict({"data": {"path": "old.csv", "season_length": 24}})
    assert config.data.transform == "none"
    assert Config().data.transform == "auto"
