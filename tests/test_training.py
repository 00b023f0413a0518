"""training.train on an in-memory panel: the validation windows and their seasonal-naive scores
against a hand-written loop, the conformal scores (errors over each window's recent spread), the
lookback rule, refusing foreign weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsforecast import training
from tsforecast.config import Config, DataConfig, ModelConfig, TrainConfig, WindowConfig
from tsforecast.data import load_panel
from tsforecast.errors import ConfigError
from tsforecast.forecast import Forecaster

LOOKBACK, HORIZON, VAL = 24, 6, 5


def _panel_and_config(directory):
    rng = np.random.default_rng(11)
    frames = []
    for sid, n in (("a", 200), ("b", 170), ("c", 30)):  # c is too short to train on
        t = np.arange(n)
        frames.append(
            pd.DataFrame(
                {
                    "unique_id": sid,
                    "ds": pd.date_range("2024-03-01", periods=n, freq="h"),
                    "y": 10 + np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.2, n),
                }
            )
        )
    path = directory / "data.csv"
    pd.concat(frames).to_csv(path, index=False)
    panel, data = load_panel(DataConfig(path=str(path)))
    config = Config(
        data=data,
        window=WindowConfig(lookback=LOOKBACK, horizon=HORIZON, val_size=VAL),
        model=ModelConfig(hidden=4),
        train=TrainConfig(epochs=2, batch_size=16),
    )
    return panel, config


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    panel, config = _panel_and_config(tmp_path_factory.mktemp("training"))
    return panel, config, training.train(panel, config).artifact


def _naive_by_hand(panel, windows):
    """(MAE, MASE) of seasonal naive on validation windows `windows` (k of 0..VAL-1) of the two
    series long enough to train on."""
    maes, mases = [], []
    for i in (0, 1):
        y = panel.series(i).astype(np.float64)
        n = len(y)
        train_part = n - HORIZON - VAL + 1  # rows before the first validation target
        scale = np.mean(np.abs(y[24:train_part] - y[: train_part - 24]))
        errors = []
        for k in windows:
            origin = n - HORIZON - VAL + 1 + k  # first target of the k-th validation window
            naive = y[origin - 24 : origin - 24 + HORIZON]
            errors.append(np.abs(y[origin : origin + HORIZON] - naive))
        maes.append(np.mean(errors))
        mases.append(np.mean(errors) / scale)
    return np.mean(maes), np.mean(mases)


@pytest.mark.slow
def test_seasonal_naive_on_the_validation_windows_by_hand(run):
    panel, _, artifact = run
    mae, mase = _naive_by_hand(panel, range(VAL))
    naive = artifact.metrics["seasonal_naive"]
    assert naive["mae"] == pytest.approx(mae, rel=1e-6)
    assert naive["mase"] == pytest.approx(mase, rel=1e-6)
    assert artifact.metrics["validation_windows"] == 2 * VAL
    assert artifact.metrics["series"] == 2 and artifact.metrics["skipped_series"] == 1
    assert artifact.summary.data_summary["skipped_series"] == ["c"]


@pytest.mark.slow
def test_a_large_panel_is_judged_on_every_kth_validation_window(tmp_path, monkeypatch):
    # 2 series x 5 windows x 6 steps = 60 target values; a cap of 24 thins them to every
    # ceil(60 / 24) = 3rd window, the last kept: windows 4 and 1 of each series.
    monkeypatch.setattr("tsforecast.windows.MAX_VALIDATION_VALUES", 24)
    panel, config = _panel_and_config(tmp_path)
    artifact = training.train(panel, config).artifact
    mae, mase = _naive_by_hand(panel, (1, 4))
    naive = artifact.metrics["seasonal_naive"]
    assert naive["mae"] == pytest.approx(mae, rel=1e-6)
    assert naive["mase"] == pytest.approx(mase, rel=1e-6)
    assert artifact.metrics["validation_windows"] == 4
    assert artifact.conformal_scores.shape == (4, HORIZON)
    assert artifact.config.window.val_size == VAL  # the span, as given


@pytest.mark.slow
def test_conformal_scores_are_the_validation_errors_over_each_windows_recent_spread(run):
    panel, _, artifact = run
    assert artifact.conformal_scores.shape == (2 * VAL, HORIZON)
    # The forecasts of the validation windows, made by the saved model on one device.
    forecaster = Forecaster.of(artifact)
    rows = []
    for i in (0, 1):
        n = int(panel.lengths[i])
        starts = np.arange(n - LOOKBACK - HORIZON - VAL + 1, n - LOOKBACK - HORIZON + 1)
        val = forecaster.forecast(panel, np.full(VAL, i), starts)
        y = np.log(panel.series(i).astype(np.float64))  # transform auto: log, all values > 0
        targets = np.stack([y[s + LOOKBACK : s + LOOKBACK + HORIZON] for s in starts])
        # A lookback of one season: the mean absolute step of the inputs, at least a tenth of
        # the series' std.
        spread = [
            max(np.mean(np.abs(np.diff(y[s : s + LOOKBACK]))), 0.1 * artifact.scaler.std[i])
            for s in starts
        ]
        rows.append(np.abs(val.point - targets) / np.asarray(spread)[:, None])
    # Forecasts are float32 from two programs (training's mesh, the saved model's device): an
    # ulp of a log value near 2.3 (2.4e-7) over a spread near 0.1 is a few 1e-6.
    np.testing.assert_allclose(
        artifact.conformal_scores, np.concatenate(rows), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize(
    ("seasons", "length", "horizon", "lookback"),
    [
        ((24,), 5000, 24, 168),  # a week of hourly data
        ((24, 168), 5000, 24, 168),
        ((48, 336), 5000, 48, 336),  # a week of half-hours
        ((7,), 5000, 14, 96),  # daily: a week is under 96 days, the floor
        ((7, 365), 5000, 14, 365),  # the longest period, a year
        ((96, 672), 5000, 96, 672),  # a week of quarter-hours, over the usual 336
        # 774 rows: 55 validation windows (ceil(77.4) - 24 + 1), and 672 + 2 x 24 + 55 - 1 = 774
        ((96, 672), 774, 24, 672),
        ((96, 672), 773, 24, 192),  # one row short of a week: the usual two days
        ((12,), 400, 12, 96),
        ((24, 168), 200, 24, 144),  # too short for a week: six whole days
    ],
)
def test_default_lookback(seasons, length, horizon, lookback):
    assert training.default_lookback(seasons, length, horizon) == lookback


@pytest.mark.parametrize(
    ("freq", "seasons", "name", "strategy", "forking", "chunk"),
    [
        ("h", (24, 168), "lstm", "direct", False, 24),  # a day per step
        ("30min", (48, 336), "gru", "direct", False, 48),
        ("5min", (288, 2016), "bilstm", "direct", False, 288),
        ("h", (12,), "lstm", "direct", False, 12),  # the primary period the user gave
        ("D", (7, 365), "lstm", "direct", False, 1),  # daily data reads a value per step
        ("MS", (12,), "lstm", "direct", False, 1),  # calendar units are never sub-daily
        ("h", (24, 168), "lstm", "recursive", False, 1),  # feeds its forecasts back one by one
        ("h", (24, 168), "lstm", "direct", True, 1),  # forking forecasts after every value
        ("h", (1,), "lstm", "direct", False, 1),
        ("h", (24, 168), "conv-lstm", "direct", False, 1),  # its pooling shortens the sequence
    ],
)
def test_default_chunk(freq, seasons, name, strategy, forking, chunk):
    config = Config(
        model=ModelConfig(name=name, strategy=strategy, normalize="series"),
        train=TrainConfig(forking=forking),
    )
    assert training.default_chunk(freq, seasons, config) == chunk


@pytest.mark.slow
def test_weights_of_another_architecture_are_refused(run):
    panel, config, artifact = run
    wider = Config(
        data=config.data, window=config.window, model=ModelConfig(hidden=8), train=config.train
    )
    with pytest.raises(ConfigError, match="the starting weights do not fit this model"):
        training.train(panel, wider, init_params=artifact.params)
