"""The Forecaster: window forecasts against the network applied by hand, seasonal naive for short
series, and a model directory written before the refactor forecasting what that version printed."""

from __future__ import annotations

import dataclasses
import io
import shutil
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from tsforecast import artifacts, training
from tsforecast.config import Config, DataConfig, ModelConfig, TrainConfig, WindowConfig
from tsforecast.data import Panel, load_panel, read_future
from tsforecast.forecast import Forecaster, forecast
from tsforecast.network import network_for

FIXTURE = Path(__file__).parent / "fixtures" / "format2-covariates"
LOOKBACK, HORIZON = 24, 6


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny LSTM on log values without window framing, so a forecast is the network applied
    to the standardised log of the lookback, unscaled and exponentiated."""
    rng = np.random.default_rng(3)
    t = np.arange(300)
    frames = [
        pd.DataFrame(
            {
                "unique_id": sid,
                "ds": pd.date_range("2024-01-01", periods=t.size, freq="h"),
                "y": level + 3 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.3, t.size),
            }
        )
        for sid, level in (("a", 20.0), ("b", 40.0))
    ]
    path = tmp_path_factory.mktemp("forecaster") / "data.csv"
    pd.concat(frames).to_csv(path, index=False)
    panel, data = load_panel(DataConfig(path=str(path)))
    config = Config(
        data=data,
        window=WindowConfig(lookback=LOOKBACK, horizon=HORIZON),
        model=ModelConfig(hidden=4, normalize="series", residual="none"),
        # The network alone: these tests check its forecasts (test_serving.py the fallback).
        train=TrainConfig(epochs=2, batch_size=32, fallback=False, ensemble=1),
    )
    return panel, training.train(panel, config).artifact


def by_hand(artifact, series: np.ndarray, mean: float, std: float) -> np.ndarray:
    """The forecast of the window `series` (the last LOOKBACK values, original units)."""
    network = network_for(artifact.config, (), 0)
    x = (np.log(series.astype(np.float64)) - mean) / std
    out = network.model.apply(
        {"params": artifact.params}, jnp.asarray(x[None, :, None], jnp.float32)
    )
    return np.exp(np.asarray(out, np.float64)[0] * std + mean)


@pytest.mark.slow
def test_window_forecasts_are_the_network_applied_by_hand(trained):
    panel, artifact = trained
    assert artifact.config.data.transform == "log"
    forecaster = Forecaster.of(artifact)
    series, starts = np.array([0, 1, 1]), np.array([5, 100, 276])
    got = forecaster.forecast(panel, series, starts).original()
    for row, (i, start) in enumerate(zip(series, starts, strict=True)):
        window = panel.series(i)[start : start + LOOKBACK]
        mean, std = artifact.scaler.mean[i], artifact.scaler.std[i]
        np.testing.assert_allclose(got[row], by_hand(artifact, window, mean, std), rtol=2e-5)


@pytest.mark.slow
def test_a_series_not_seen_in_training_is_scaled_by_its_own_history(trained):
    panel, artifact = trained
    values = panel.series(1)[:100] * 1.5
    new = Panel(("new",), values, np.array([0, 100]), (panel.starts[1],), panel.freq)
    got = Forecaster.of(artifact).forecast(new, np.array([0]), np.array([100 - LOOKBACK]))
    logs = np.log(values.astype(np.float64))
    expected = by_hand(artifact, values[-LOOKBACK:], logs.mean(), logs.std())
    np.testing.assert_allclose(got.original()[0], expected, rtol=2e-5)


@pytest.mark.slow
def test_short_series_get_seasonal_naive_and_the_rest_the_model(trained):
    panel, artifact = trained
    short = Panel(
        ("a", "tiny"),
        np.concatenate([panel.series(0), np.arange(1.0, 11.0, dtype=np.float32)]),
        np.array([0, 300, 310]),
        (panel.starts[0], panel.starts[0]),
        panel.freq,
    )
    frame = forecast(Forecaster.of(artifact), short)
    tiny = frame[frame["unique_id"] == "tiny"]
    assert (tiny["method"] == "seasonal_naive").all()
    # Season 24 is longer than the 10 values: seasonal naive falls back to the last value.
    np.testing.assert_array_equal(tiny["y_hat"], np.full(HORIZON, 10.0))
    model = frame[frame["unique_id"] == "a"]
    assert (model["method"] == "model").all()
    mean, std = artifact.scaler.mean[0], artifact.scaler.std[0]
    expected = by_hand(artifact, panel.series(0)[-LOOKBACK:], mean, std)
    np.testing.assert_allclose(model["y_hat"], expected, rtol=2e-5)
    assert list(model["ds"]) == list(
        pd.date_range(panel.future_timestamps(0, 1)[0], periods=6, freq="h")
    )


@pytest.mark.slow
def test_the_interval_columns_are_there_however_few_series_the_network_forecasts(trained):
    # With every series shorter than the lookback the forecast had no bound columns at all, and
    # with a short series first they came after `method` (found by fuzzing predict).
    panel, artifact = trained
    tiny = np.arange(1.0, 11.0, dtype=np.float32)
    columns = ["unique_id", "ds", "y_hat", "y_hat-lo-80", "y_hat-hi-80", "method"]
    alone = Panel(("tiny",), tiny, np.array([0, 10]), (panel.starts[0],), panel.freq)
    frame = forecast(Forecaster.of(artifact), alone, (80,))
    assert list(frame.columns) == columns
    np.testing.assert_array_equal(frame["y_hat"], np.full(HORIZON, 10.0))
    # Seasonal naive's own interval: no two seasons of 24 in 10 values, so one-step changes
    # (all 1: sigma 1) and a random walk's spread, z(0.9) x sqrt(steps ahead).
    radius = 1.2815515655446004 * np.sqrt(np.arange(1, HORIZON + 1))
    np.testing.assert_allclose(frame["y_hat-lo-80"], 10.0 - radius, rtol=1e-12)
    np.testing.assert_allclose(frame["y_hat-hi-80"], 10.0 + radius, rtol=1e-12)
    first = Panel(
        ("tiny", "a"),
        np.concatenate([tiny, panel.series(0)]),
        np.array([0, 10, 310]),
        (panel.starts[0], panel.starts[0]),
        panel.freq,
    )
    frame = forecast(Forecaster.of(artifact), first, (80,))
    assert list(frame.columns) == columns
    model = frame[frame["unique_id"] == "a"]
    assert (model["y_hat-lo-80"] < model["y_hat"]).all() and (
        model["y_hat"] < model["y_hat-hi-80"]
    ).all()


def test_a_model_written_before_the_refactor_forecasts_as_it_did(tmp_path, run_cli):
    model = tmp_path / "model"
    shutil.copytree(FIXTURE / "model", model)
    expected = pd.read_csv(FIXTURE / "expected_forecast.csv")
    artifact = artifacts.load(model)
    assert artifact.features.future == (2, 3, 4, 5, 6, 7, 8, 9, 10)
    assert artifact.features.static_levels == {"region": ["north", "south"]}
    panel, _ = load_panel(
        dataclasses.replace(artifact.config.data, path=str(FIXTURE / "panel.csv"))
    )
    future = read_future(str(FIXTURE / "future.csv"), artifact.config.data)
    frame = forecast(Forecaster.of(artifact), panel, (90,), future)
    assert list(frame["method"]) == list(expected["method"])
    np.testing.assert_allclose(frame["y_hat"], expected["y_hat"], rtol=1e-5)
    # The fixture's short series had no interval then; it has seasonal naive's own now.
    network = expected["method"] == "model"
    assert expected.loc[~network, "y_hat-lo-90"].isna().all()
    for column in ("y_hat-lo-90", "y_hat-hi-90"):
        np.testing.assert_allclose(frame[column][network], expected[column][network], rtol=1e-5)
    short = frame[~network]
    assert (short["y_hat-lo-90"] < short["y_hat"]).all()
    assert (short["y_hat"] < short["y_hat-hi-90"]).all()

    result = run_cli(
        "predict",
        FIXTURE / "panel.csv",
        "--model",
        model,
        "--future",
        FIXTURE / "future.csv",
        "--level",
        "90",
    )
    assert result.exit_code == 0, result.output
    printed = pd.read_csv(io.StringIO(result.stdout))
    assert list(printed.columns) == list(expected.columns)
    np.testing.assert_allclose(printed["y_hat"], expected["y_hat"], rtol=1e-5)
