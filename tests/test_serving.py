"""Serving the better of the network and seasonal naive per horizon step: the choice against
hand-made errors, and the real CLI on a series whose last week predicts the next one almost
exactly, where an untrained network must give way to weekly seasonal naive."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tsforecast.forecast import WindowForecasts, serve
from tsforecast.training import choose_served

HORIZON = 24


def test_each_step_goes_to_the_method_best_on_the_earlier_windows():
    earlier = np.array([True, True, False, False])
    network = np.array([[1.0, 1.0, 0.1]] * 4)
    daily = np.array([[0.5, 2.0, 0.9]] * 4)
    weekly = np.array([[0.7, 0.4, 0.9]] * 4)
    steps, report = choose_served(
        {"model": network, "seasonal_naive": daily, "seasonal_naive_168": weekly}, earlier
    )
    assert steps == ("seasonal_naive", "seasonal_naive_168", "model")
    # The later windows: served (0.5 + 0.4 + 0.1) / 3 against the network's (1 + 1 + 0.1) / 3.
    assert report["later_half_mase"]["served"] == pytest.approx(1.0 / 3)
    assert report["later_half_mase"]["model"] == pytest.approx(2.1 / 3)


def test_a_choice_the_later_windows_contradict_serves_the_network():
    earlier = np.array([True, True, False, False])
    network = np.array([[1.0, 1.0]] * 2 + [[0.2, 0.2]] * 2)
    naive = np.array([[0.1, 0.1]] * 2 + [[3.0, 3.0]] * 2)
    steps, report = choose_served({"model": network, "seasonal_naive": naive}, earlier)
    assert steps == ("model", "model")
    assert report["later_half_mase"] == {"served": pytest.approx(3.0), "model": pytest.approx(0.2)}


def test_one_validation_window_per_series_decides_nothing():
    errors = {"model": np.ones((3, 2)), "seasonal_naive": np.zeros((3, 2))}
    steps, report = choose_served(errors, np.zeros(3, bool))
    assert steps == ("model", "model") and report["decided_on"].startswith("nothing")


def test_serving_moves_a_quantile_forecast_with_its_median():
    point = np.array([[1.0, 2.0, 3.0]])
    quantiles = np.stack([point - 1, point, point + 2], axis=-1)
    network = WindowForecasts(point, quantiles, np.ones(1), "none")
    naive = {"seasonal_naive_7": np.array([[10.0, 20.0, 30.0]])}
    served = serve(network, ("model", "seasonal_naive_7", "model"), naive)
    np.testing.assert_array_equal(served.point, [[1.0, 20.0, 3.0]])
    np.testing.assert_array_equal(served.quantiles[0, 1], [19.0, 20.0, 22.0])
    np.testing.assert_array_equal(served.quantiles[0, 0], quantiles[0, 0])
    assert [served.method(h) for h in range(3)] == ["model", "seasonal_naive_7", "model"]


@pytest.fixture(scope="module")
def weekly_file(tmp_path_factory):
    """Six weeks of hourly data repeating one random week, plus a little noise: last week's
    value is right to within the noise, yesterday's is not."""
    rng = np.random.default_rng(5)
    week = rng.uniform(10.0, 20.0, 168)
    n = 6 * 168
    y = np.tile(week, 6) + rng.normal(0.0, 0.01, n)
    frame = pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=n, freq="h"), "y": y})
    path = tmp_path_factory.mktemp("weekly") / "weekly.csv"
    frame.to_csv(path, index=False)
    return path, y


@pytest.fixture
def train_and_predict(run_cli, forecast_of, tmp_path):
    """train (one epoch of a tiny network) then predict with a 90% interval: (train's stderr,
    metrics.json, the forecast)."""

    def run(path, *extra):
        model = tmp_path / "model"
        options = ("--horizon", HORIZON, "--epochs", 1, "--hidden", 4, "--out", model, *extra)
        result = run_cli("train", path, *options)
        assert result.exit_code == 0, result.output
        predicted = run_cli("predict", "--model", model, "--level", 90)
        assert predicted.exit_code == 0, predicted.output
        metrics = json.loads((model / "metrics.json").read_text())
        return result.stderr, metrics, forecast_of(predicted.stdout)

    return run


def test_an_untrained_network_gives_way_to_weekly_seasonal_naive(weekly_file, train_and_predict):
    path, y = weekly_file
    stderr, metrics, forecast = train_and_predict(path)
    assert metrics["serving"]["steps"] == ["seasonal_naive_168"] * HORIZON
    assert metrics["served"]["mase"] < metrics["model"]["mase"]
    assert f"served ({HORIZON} steps): seasonal_naive_168 at {HORIZON}" in stderr
    # The next day is the same hours of the last week.
    np.testing.assert_allclose(forecast["y_hat"], y[-168 : -168 + HORIZON], rtol=1e-6)
    assert (forecast["method"] == "seasonal_naive_168").all()
    # The intervals come from the served forecast's validation errors: noise-sized, not the
    # network's.
    width = forecast["y_hat-hi-90"] - forecast["y_hat-lo-90"]
    assert (width > 0).all() and (width < 0.2).all()


def test_no_fallback_serves_the_network(weekly_file, train_and_predict):
    path, y = weekly_file
    _, metrics, forecast = train_and_predict(path, "--no-fallback")
    assert metrics["serving"]["steps"] == ["model"] * HORIZON
    assert metrics["served"] == metrics["model"]
    assert (forecast["method"] == "model").all()
    assert np.abs(forecast["y_hat"].to_numpy() - y[-168 : -168 + HORIZON]).max() > 0.5
