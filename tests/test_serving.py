"""Serving the better of the network and its alternatives per horizon step: the choice against
hand-made errors; the real CLI on a series whose last week predicts the next one almost
exactly, where an untrained network must give way to weekly seasonal naive; and on a smooth
daily and weekly cycle around a wandering level, where MSTL (alone or averaged with the
network) serves, checked against statsforecast's own MSTL."""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pandas as pd
import pytest

from tsforecast import serving
from tsforecast.config import Config, DataConfig, WindowConfig
from tsforecast.data import Panel
from tsforecast.serving import WindowForecasts, choose, serve

needs_statsforecast = pytest.mark.skipif(
    importlib.util.find_spec("statsforecast") is None, reason="needs tsforecast[baselines]"
)

HORIZON = 24


def enough(*rows: np.ndarray) -> list[np.ndarray]:
    """Each hand-made window repeated so that each half holds MIN_HALF_WINDOWS of them; the
    means, and so the choice, are those of the windows as written."""
    times = serving.MIN_HALF_WINDOWS // 2
    return [np.repeat(np.asarray(r), times, axis=0) for r in rows]


def test_an_alternative_serves_a_step_only_where_it_beats_the_network_on_both_halves():
    earlier = np.array([True, True, False, False])
    network = np.array([[1.0, 1.0, 0.1, 1.0]] * 4)
    daily = np.array([[0.5, 2.0, 0.9, 0.2]] * 2 + [[0.5, 2.0, 0.9, 3.0]] * 2)
    weekly = np.array([[0.7, 0.4, 0.9, 1.1]] * 4)
    earlier, network, daily, weekly = enough(earlier, network, daily, weekly)
    steps, report = choose(
        {"model": network, "seasonal_naive": daily, "seasonal_naive_168": weekly}, earlier
    )
    # Step 0: both beat the network on both halves, daily has the lower mean; step 1: weekly
    # alone; step 2: neither; step 3: daily wins the earlier half, loses the later.
    assert steps == ("seasonal_naive", "seasonal_naive_168", "model", "model")
    assert report["half_mase"]["served"] == {
        "earlier": pytest.approx((0.5 + 0.4 + 0.1 + 1.0) / 4),
        "later": pytest.approx((0.5 + 0.4 + 0.1 + 1.0) / 4),
    }
    assert report["half_mase"]["model"] == {
        "earlier": pytest.approx(3.1 / 4),
        "later": pytest.approx(3.1 / 4),
    }


def test_a_method_that_wins_the_earlier_half_overall_but_not_the_later_stays_out():
    earlier = np.array([True, True, False, False])
    network = np.array([[1.0, 1.0]] * 2 + [[0.2, 0.2]] * 2)
    naive = np.array([[0.1, 0.1]] * 2 + [[3.0, 3.0]] * 2)  # 1.55 on all, the network 0.6
    mean = np.array([[0.5, 0.5]] * 2 + [[0.1, 0.9]] * 2)
    earlier, network, naive, mean = enough(earlier, network, naive, mean)
    steps, _ = choose({"model": network, "seasonal_naive": naive, "model+mstl": mean}, earlier)
    assert steps == ("model+mstl", "model")


def test_where_mstl_joins_the_mean_of_network_and_mstl_serves_unless_beaten_on_both_halves():
    earlier = np.array([True, True, False, False])
    network = np.array([[0.5, 0.5, 2.0]] * 2 + [[1.5, 0.5, 2.0]] * 2)  # wins step 0's earlier half
    mean = np.array([[1.0, 1.0, 1.0]] * 4)
    mstl = np.array([[3.0, 0.9, 0.8]] * 4)
    earlier, network, mean, mstl = enough(earlier, network, mean, mstl)
    steps, report = choose(
        {"model": network, "mstl": mstl, "model+mstl": mean}, earlier, incumbent="model+mstl"
    )
    assert steps == ("model+mstl", "model", "mstl")
    assert report["half_mase"]["model+mstl"] == {"earlier": 1.0, "later": 1.0}
    assert report["half_mase"]["served"] == {
        "earlier": pytest.approx((1.0 + 0.5 + 0.8) / 3),
        "later": pytest.approx((1.0 + 0.5 + 0.8) / 3),
    }
    assert report["decided_on"].endswith("against model+mstl")


def test_one_validation_window_per_series_serves_the_best_candidate_over_all_of_them():
    # The wine case: the network 1.151, seasonal naive 1.143, MSTL 0.894 on validation; the
    # network was served because one window per series could not be split in halves.
    errors = {
        "model": np.array([[1.1, 1.2], [1.2, 1.104]]),
        "seasonal_naive": np.array([[1.0, 1.3], [1.2, 1.072]]),
        "mstl": np.array([[0.9, 0.8], [1.0, 0.876]]),
    }
    steps, report = choose(errors, np.zeros(2, bool))
    assert steps == ("mstl", "mstl")
    assert report["decided_on"] == "all 2 validation windows (too few to check a choice on halves)"
    assert report["why"] == "mstl scores best over the 2 scored validation windows (0.894)"


def test_fewer_than_ten_windows_a_half_serve_the_best_candidate_alone():
    # Nine windows in each half: the naive wins step 0 on both halves, but that is too few
    # windows to trust a choice per step; over all windows the network scores 0.75, the
    # naive (0.5 + 2.0) / 2 = 1.25.
    earlier = np.repeat([True, False], 9)
    network = np.array([[1.0, 0.5]] * 18)
    naive = np.array([[0.5, 2.0]] * 18)
    steps, report = choose({"model": network, "seasonal_naive": naive}, earlier)
    assert steps == ("model", "model")
    assert report["decided_on"] == "all 18 validation windows (too few to check a choice on halves)"
    # Ten a half do decide per step.
    steps, _ = choose(
        {"model": np.array([[1.0, 0.5]] * 20), "seasonal_naive": np.array([[0.5, 2.0]] * 20)},
        np.repeat([True, False], 10),
    )
    assert steps == ("seasonal_naive", "model")


def test_a_choice_per_step_worse_than_one_candidate_alone_gives_way_to_it():
    # The weekly naive loses the earlier half at every step by a little and wins the later by
    # a lot: the incumbent keeps every step (0.6 over all) though the naive alone scores 0.35.
    earlier = np.array([True, True, False, False])
    network = np.array([[0.5, 0.5]] * 2 + [[0.7, 0.7]] * 2)
    weekly = np.array([[0.6, 0.6]] * 2 + [[0.1, 0.1]] * 2)
    earlier, network, weekly = enough(earlier, network, weekly)
    steps, report = choose({"model": network, "seasonal_naive_168": weekly}, earlier)
    assert steps == ("seasonal_naive_168", "seasonal_naive_168")
    assert report["why"] == (
        "seasonal_naive_168 alone (0.35) beats the choice per step (0.6) over the 20 scored "
        "validation windows"
    )
    assert report["half_mase"]["served"] == {
        "earlier": pytest.approx(0.6),
        "later": pytest.approx(0.1),
    }


def test_each_candidate_alone_is_scored_as_the_table_scores_it_the_mean_over_series():
    # Series 0 has three windows, series 1 one: pooled, the naive's 0.1s outweigh its 2.0.
    series = np.array([0, 0, 0, 1])
    naive = np.array([[0.1, 0.1]] * 3 + [[2.0, 2.0]])
    assert serving.table_mase(naive, series) == pytest.approx((0.1 + 2.0) / 2)
    network = np.array([[0.5, 0.5]] * 4)
    errors = {"model": network, "seasonal_naive": naive}
    # Pooled as one series the naive would score 0.575 alone, against the network's 0.5.
    assert serving.table_mase(naive, np.zeros(4, int)) == pytest.approx(0.575)
    _, report = choose(errors, np.array([True, False, True, False]), "model", series)
    assert report["overall_mase"] == {"model": 0.5, "seasonal_naive": pytest.approx(1.05)}


def test_a_step_whose_pick_has_no_value_in_log_units_falls_back_to_the_network():
    # The taxi case: at night MSTL's additive forecast dips below zero, and so does its mean
    # with the network; under log(y) neither has a value there.
    network = WindowForecasts(np.log([[5.0, 2.0], [6.0, 3.0]]), None, np.ones(2), "log")
    forecasts = {
        "mstl": np.array([[4.0, -3.0], [np.nan, 1.0]]),  # NaN: its fit failed on window 1
        "model+mstl": np.array([[4.5, -0.5], [np.nan, 2.0]]),
    }
    modelled = serving.in_model_units("log", forecasts)
    served = serve(network, ("model+mstl", "model+mstl"), modelled)
    np.testing.assert_allclose(served.original(), [[4.5, 2.0], [6.0, 2.0]])
    assert [[served.method(r, h) for h in range(2)] for r in range(2)] == [
        ["model+mstl", "model"],
        ["model", "model+mstl"],
    ]


def test_serving_moves_a_quantile_forecast_with_its_median():
    point = np.array([[1.0, 2.0, 3.0]])
    quantiles = np.stack([point - 1, point, point + 2], axis=-1)
    network = WindowForecasts(point, quantiles, np.ones(1), "none")
    naive = {"seasonal_naive_7": np.array([[10.0, 20.0, 30.0]])}
    served = serve(network, ("model", "seasonal_naive_7", "model"), naive)
    np.testing.assert_array_equal(served.point, [[1.0, 20.0, 3.0]])
    np.testing.assert_array_equal(served.quantiles[0, 1], [19.0, 20.0, 22.0])
    np.testing.assert_array_equal(served.quantiles[0, 0], quantiles[0, 0])
    assert [served.method(0, h) for h in range(3)] == ["model", "seasonal_naive_7", "model"]


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


@pytest.mark.slow
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


@pytest.mark.slow
def test_no_fallback_serves_the_network(weekly_file, train_and_predict):
    path, y = weekly_file
    _, metrics, forecast = train_and_predict(path, "--no-fallback")
    assert metrics["serving"]["steps"] == ["model"] * HORIZON
    assert metrics["served"] == metrics["model"]
    assert (forecast["method"] == "model").all()
    assert np.abs(forecast["y_hat"].to_numpy() - y[-168 : -168 + HORIZON]).max() > 0.5


def test_mstl_stays_out_of_big_panels_short_lookbacks_and_data_without_a_season():
    assert serving.mstl_left_out(1, 30, (1,)) == (
        "the data has no seasonal period (period 1) for MSTL to decompose"
    )
    assert serving.mstl_left_out(11, 168, (24, 168)) == "11 series (MSTL joins for at most 10)"
    assert serving.mstl_left_out(1, 10080, (1440, 10080)) == (  # minute data
        "its fits on a period of 1440 steps would take tens of seconds each (MSTL joins for "
        "periods of at most 1000)"
    )
    assert serving.mstl_left_out(1, 36, (24, 168)) == (
        "the lookback 36 holds less than two seasons of 24"
    )


def test_no_statsforecast_keeps_mstl_out(monkeypatch):
    monkeypatch.setitem(sys.modules, "statsforecast", None)  # import statsforecast now fails
    assert serving.mstl_left_out(1, 168, (24, 168)) == (
        "statsforecast is not installed (pip install 'tsforecast[baselines]')"
    )


def mstl_direct(history: np.ndarray, h: int, seasons: list[int]) -> np.ndarray:
    from statsforecast.models import MSTL

    return MSTL(season_length=seasons).forecast(y=history, h=h)["mean"]


@pytest.fixture(scope="module")
def cycles_file(tmp_path_factory):
    """Six weeks of hourly data: a smooth daily and weekly cycle on a wandering level, which
    MSTL decomposes and neither seasonal naive repeats."""
    rng = np.random.default_rng(11)
    n = 6 * 168
    t = np.arange(n)
    y = (
        50
        + 8 * np.sin(2 * np.pi * t / 24)
        + 4 * np.sin(2 * np.pi * t / 168)
        + np.cumsum(rng.normal(0.0, 0.05, n))
        + rng.normal(0.0, 1.0, n)
    )
    frame = pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=n, freq="h"), "y": y})
    path = tmp_path_factory.mktemp("cycles") / "cycles.csv"
    frame.to_csv(path, index=False)
    return path, frame["y"].to_numpy()


@pytest.mark.slow
@needs_statsforecast
def test_mstl_serves_where_it_beats_an_untrained_network(cycles_file, train_and_predict):
    path, y = cycles_file
    stderr, metrics, forecast = train_and_predict(path)
    assert metrics["serving"]["candidates"] == [
        "model",
        "seasonal_naive",
        "seasonal_naive_168",
        "mstl",
        "model+mstl",
    ]
    steps = metrics["serving"]["steps"]
    # Four windows a horizon apart decide (those MSTL was fitted at), so a few steps may go
    # elsewhere by chance; most go to MSTL or the mean.
    assert sum(method in ("mstl", "model+mstl") for method in steps) > HORIZON * 3 // 4, steps
    assert (
        metrics["mstl"]["mase"] < metrics["seasonal_naive_168"]["mase"] < metrics["model"]["mase"]
    )
    assert metrics["served"]["mase"] < metrics["model"]["mase"]
    assert "served (24 steps): " in stderr and " mstl at " in stderr
    assert forecast["method"].tolist() == steps
    # Each step against its own oracle: statsforecast's MSTL on the last 16 weeks (here the
    # whole history, as read: float32), the same network trained with --no-fallback, last week.
    history = y.astype(np.float32).astype(np.float64)
    mstl = mstl_direct(history, HORIZON, [24, 168])
    _, _, network = train_and_predict(path, "--no-fallback")
    network = network["y_hat"].to_numpy()
    oracles = {
        "mstl": mstl,
        "model+mstl": (mstl + network) / 2,
        "model": network,
        "seasonal_naive_168": history[-168 : -168 + HORIZON],
        "seasonal_naive": history[-24:],
    }
    expected = [oracles[method][h] for h, method in enumerate(steps)]
    np.testing.assert_allclose(forecast["y_hat"], expected, rtol=1e-5)


@needs_statsforecast
def test_the_combination_is_the_mean_of_network_and_mstl(cycles_file):
    _, y = cycles_file
    values = y.astype(np.float32)
    panel = Panel(("a",), values, np.array([0, len(y)]), (pd.Timestamp(0),), "h")
    config = Config(
        data=DataConfig(path="x.csv", season_length=(24, 168)),
        window=WindowConfig(lookback=336, horizon=4),
    )
    starts = np.array([100, 600])
    network = np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])
    got = serving.candidates(panel, np.zeros(2, int), starts, config, network, with_mstl=True)
    history = values.astype(np.float64)
    for j, start in enumerate(starts):
        mstl = mstl_direct(history[: start + 336], 4, [24, 168])
        np.testing.assert_allclose(got["mstl"][j], mstl, rtol=1e-9)
        np.testing.assert_allclose(got["model+mstl"][j], (network[j] + mstl) / 2, rtol=1e-9)
    np.testing.assert_allclose(got["seasonal_naive_168"][1], history[768:772])


@pytest.mark.slow
@needs_statsforecast
def test_a_model_serving_mstl_without_statsforecast_says_how_to_install(
    cycles_file, train_and_predict, run_cli, expect_bad_input, monkeypatch, tmp_path
):
    train_and_predict(cycles_file[0])
    monkeypatch.setitem(sys.modules, "statsforecast", None)
    expect_bad_input(
        run_cli("predict", "--model", tmp_path / "model"),
        "tsforecast: error: a model that serves MSTL at some horizon steps: needs statsforecast: "
        "pip install 'tsforecast[baselines]'",
    )


@pytest.mark.slow
@needs_statsforecast
def test_a_mean_with_mstl_below_zero_under_log_serves_the_network_there_never_a_blank(
    run_cli, forecast_of, tmp_path
):
    """The taxi case: a positive series with deep night-time lows on a falling level, modelled
    in log(y); MSTL's additive forecast dips below zero at night, and with it the mean of the
    network and MSTL. The model is made to serve that mean at every step (as training chose on
    the taxi data) and must write the network's value where the mean has no log."""
    n = 6 * 168
    t = np.arange(n)
    rng = np.random.default_rng(0)
    y = np.linspace(60, 15, n) * (0.02 + 1.98 * np.sin(np.pi * (t % 24) / 24) ** 4)
    y *= np.exp(rng.normal(0, 0.05, n))
    path = tmp_path / "dips.csv"
    pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=n, freq="h"), "y": y}).to_csv(
        path, index=False
    )
    model = tmp_path / "model"
    options = ("--horizon", HORIZON, "--epochs", 1, "--hidden", 4, "--no-fallback")
    assert run_cli("train", path, *options, "--out", model).exit_code == 0
    network = forecast_of(run_cli("predict", "--model", model).stdout)["y_hat"].to_numpy()
    config_file = model / "config.json"
    config = json.loads(config_file.read_text())
    assert config["config"]["data"]["transform"] == "log"
    config_file.write_text(json.dumps({**config, "served": ["model+mstl"] * HORIZON}))
    result = run_cli("predict", "--model", model, "--level", 90)
    assert result.exit_code == 0, result.output
    assert "RuntimeWarning" not in result.stderr
    forecast = forecast_of(result.stdout)
    history = y.astype(np.float32).astype(np.float64)
    mean = (network + mstl_direct(history, HORIZON, [24, 168])) / 2
    assert (mean <= 0).sum() >= 4, mean  # the case is real: several night steps dip
    expected_method = np.where(mean > 0, "model+mstl", "model")
    assert forecast["method"].tolist() == expected_method.tolist()
    np.testing.assert_allclose(forecast["y_hat"], np.where(mean > 0, mean, network), rtol=1e-5)
    values = forecast[["y_hat", "y_hat-lo-90", "y_hat-hi-90"]].to_numpy()
    assert np.isfinite(values).all() and (values > 0).all()


@pytest.mark.slow
@needs_statsforecast
def test_a_yearly_series_trains_and_predicts_without_mstl(run_cli, forecast_of, tmp_path):
    """The sunspots case: yearly values have no seasonal period (1), which MSTL cannot take;
    it stays out of the candidates with a note, and the run ends with a model and a forecast."""
    rng = np.random.default_rng(2)
    t = np.arange(309)
    y = 80 + 60 * np.sin(2 * np.pi * t / 11) + rng.normal(0, 10, len(t))
    path = tmp_path / "yearly.csv"
    years = [f"{1700 + k}.0" for k in t]
    pd.DataFrame({"YEAR": years, "SUNACTIVITY": np.abs(y)}).to_csv(path, index=False)
    model = tmp_path / "model"
    reading = ("--time-col", "YEAR", "--date-format", "%Y.0")
    result = run_cli(
        "train", path, *reading, "--horizon", 11, "--epochs", 1, "--hidden", 4, "--out", model
    )
    assert result.exit_code == 0, result.output
    assert "mstl is not a candidate: the data has no seasonal period (period 1)" in result.stderr
    assert "supersmoother" not in result.output
    metrics = json.loads((model / "metrics.json").read_text())
    assert "mstl" not in metrics["serving"]["candidates"]
    predicted = run_cli("predict", "--model", model, "--level", 80)
    assert predicted.exit_code == 0, predicted.output
    forecast = forecast_of(predicted.stdout)
    assert len(forecast) == 11 and forecast["ds"].iloc[0] == pd.Timestamp("2009-01-01")
    assert np.isfinite(forecast[["y_hat", "y_hat-lo-80", "y_hat-hi-80"]].to_numpy()).all()


@pytest.mark.slow
@needs_statsforecast
def test_an_mstl_fit_that_raises_leaves_mstl_out_and_predict_serves_the_network_there(
    cycles_file, run_cli, forecast_of, monkeypatch, tmp_path
):
    import statsforecast.models

    def fails(self, y, h, **kwargs):
        raise ValueError("a third party's numerics")

    path, _ = cycles_file
    model = tmp_path / "model"
    options = ("--horizon", HORIZON, "--epochs", 1, "--hidden", 4, "--out", model)
    with monkeypatch.context() as patched:
        patched.setattr(statsforecast.models.MSTL, "forecast", fails)
        result = run_cli("train", path, *options)
    assert result.exit_code == 0, result.output
    assert "mstl is not a candidate: its fit failed on " in result.stderr
    assert "mstl" not in json.loads((model / "metrics.json").read_text())["serving"]["candidates"]
    # A model that serves MSTL whose fit fails at predict time serves the network there.
    config_file = model / "config.json"
    config = {**json.loads(config_file.read_text()), "served": []}
    config_file.write_text(json.dumps(config))
    network = forecast_of(run_cli("predict", "--model", model).stdout)
    config_file.write_text(json.dumps({**config, "served": ["mstl"] * HORIZON}))
    monkeypatch.setattr(statsforecast.models.MSTL, "forecast", fails)
    result = run_cli("predict", "--model", model, "--level", 90)
    assert result.exit_code == 0, result.output
    forecast = forecast_of(result.stdout)
    assert (forecast["method"] == "model").all()
    np.testing.assert_allclose(forecast["y_hat"], network["y_hat"], rtol=1e-6)


@pytest.mark.slow
def test_a_series_never_negative_gets_no_negative_forecast_or_bound(run_cli, forecast_of, tmp_path):
    """Intermittent counts (zeros most hours, so no log transform): symmetric conformal bounds
    around a small forecast reach below zero, and are floored there."""
    rng = np.random.default_rng(4)
    n = 6 * 168
    y = np.where(rng.random(n) < 0.2, rng.poisson(20, n), 0).astype(float)
    path = tmp_path / "counts.csv"
    hours = pd.date_range("2024-01-01", periods=n, freq="h")
    pd.DataFrame({"ds": hours, "y": y}).to_csv(path, index=False)
    model = tmp_path / "model"
    options = ("--horizon", HORIZON, "--epochs", 1, "--hidden", 4, "--out", model)
    assert run_cli("train", path, *options).exit_code == 0
    result = run_cli("predict", "--model", model, "--level", 95)
    assert result.exit_code == 0, result.output
    forecast = forecast_of(result.stdout)
    lo = forecast["y_hat-lo-95"].to_numpy()
    assert (forecast["y_hat"] >= 0).all() and (lo >= 0).all()
    # The floor is what holds them there: the interval is wider than the forecast is high.
    assert (lo == 0).sum() >= HORIZON // 2, forecast
