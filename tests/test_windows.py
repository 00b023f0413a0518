"""Windows as offsets into one flat array: the gather matches plain slicing, the time-ordered split
never lets a validation target into training, and scaling sees the training part only."""

from __future__ import annotations

import itertools
import json
import math

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from tsforecast.config import Config, ModelConfig, TrainConfig, WindowConfig
from tsforecast.errors import DataError
from tsforecast.models import init_params
from tsforecast.placement import replicate
from tsforecast.trainer import build_trainer
from tsforecast.windows import (
    default_val_size,
    gather,
    rows_needed,
    split_inputs_targets,
    split_windows,
    standardise,
)


def _offsets(*lengths: int) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def _reference(values: np.ndarray, starts, length: int) -> np.ndarray:
    return np.stack([values[s : s + length] for s in starts])


def test_gather_equals_plain_slicing():
    values = np.random.default_rng(0).normal(size=(300, 3)).astype(np.float32)
    starts = np.array([0, 1, 17, 150, 299 - 40 + 1, 5, 5], dtype=np.int32)  # first, last, repeated
    windows = np.asarray(gather(jnp.asarray(values), jnp.asarray(starts), 40))
    np.testing.assert_array_equal(windows, _reference(values, starts, 40))

    inputs, targets = split_inputs_targets(jnp.asarray(windows), 30)
    np.testing.assert_array_equal(np.asarray(inputs), _reference(values, starts, 30))
    np.testing.assert_array_equal(np.asarray(targets), _reference(values[:, 0], starts + 30, 10))


@pytest.mark.slow
def test_the_compiled_programs_see_the_sliced_windows():
    """The training step, the validation loss and the forecasts, on a tiny LSTM, against the same
    model applied to windows cut out with numpy."""
    lookback, horizon = 8, 3
    noise = np.random.default_rng(1).normal(0, 0.1, 120)
    series = (np.sin(np.arange(120) / 4.0) + noise).astype(np.float32)
    values = series[:, None]
    starts = np.array([3, 40, 41, 90, 109], dtype=np.int32)  # 109 + 11 = 120: the very end
    config = Config(
        window=WindowConfig(lookback=lookback, horizon=horizon),
        model=ModelConfig(hidden=4, normalize="series", residual="none"),
        # One batch of 6 holding the 5 windows and one zero-weight pad.
        train=TrainConfig(batch_size=6, lr=1e-3, loss="mse", ensemble=1),
    )
    trainer = build_trainer(config)
    model, mesh = trainer.network.model, trainer.mesh
    params = init_params(model, lookback, 1, seed=0)

    inputs = _reference(values, starts, lookback)
    targets = _reference(series, starts + lookback, horizon)
    expected = np.asarray(model.apply({"params": params}, jnp.asarray(inputs)))
    expected_loss = np.mean((expected - targets) ** 2)

    device_params, device_values, device_starts = replicate(
        mesh, params, jnp.asarray(values), jnp.asarray(starts)
    )
    preds = np.asarray(trainer.predict(device_params, device_values, device_starts))
    np.testing.assert_allclose(preds, expected, rtol=1e-5, atol=1e-6)
    loss = float(trainer.evaluate(device_params, device_values, device_starts))
    assert loss == pytest.approx(expected_loss, rel=1e-5)

    # One epoch of one batch: its loss is taken before the update, on the windows it gathered.
    opt_state = trainer.tx.init(device_params)
    rng = jnp.asarray(np.array([0, 7], dtype=np.uint32))
    copy = replicate(mesh, params)[0]
    _, _, _, train_loss = trainer.train_epoch(copy, opt_state, rng, device_values, device_starts)
    assert float(train_loss) == pytest.approx(expected_loss, rel=1e-5)


@pytest.mark.parametrize(
    "lengths, lookback, horizon, val_size",
    [
        ((600,), 48, 12, None),
        ((200, 137, 500), 24, 6, None),
        ((120, 90), 10, 7, 5),
        ((73,), 48, 12, 2),
    ],
)
def test_no_validation_target_inside_any_training_window(lengths, lookback, horizon, val_size):
    offsets = _offsets(*lengths)
    split = split_windows(offsets, lookback, horizon, val_size)
    window = lookback + horizon
    for i, (begin, end) in enumerate(itertools.pairwise(offsets)):
        train = split.train_starts[split.train_series == i]
        val = split.val_starts[split.val_series == i]
        assert len(train) >= 1 and len(val) == split.val_size
        # Every window lies inside its own series.
        assert train.min() >= begin and val.max() + window <= end
        # The validation windows are the last ones, stride 1, ending at the end of the series.
        np.testing.assert_array_equal(
            val, np.arange(end - window - split.val_size + 1, end - window + 1)
        )
        seen_in_training = set(np.concatenate([np.arange(s, s + window) for s in train]).tolist())
        val_targets = set(
            np.concatenate([np.arange(s + lookback, s + window) for s in val]).tolist()
        )
        assert not seen_in_training & val_targets
        # ...and training keeps every window that stops short of them (stride 1 from the start).
        np.testing.assert_array_equal(train, np.arange(begin, begin + len(train)))
        assert train.max() + window == min(val_targets)
        # Scaling statistics come from exactly the values the training windows cover.
        assert split.train_part[i] == len(seen_in_training) == min(val_targets) - begin


@pytest.mark.parametrize("length, horizon", [(600, 12), (2000, 24), (200, 24), (100, 6), (1000, 1)])
def test_default_validation_covers_max_of_horizon_and_a_tenth(length, horizon):
    val = default_val_size(length, horizon)
    covered = val + horizon - 1  # target steps of `val` stride-1 windows
    wanted = max(horizon, math.ceil(0.1 * length))
    assert covered >= wanted
    assert val == 1 or covered - 1 < wanted  # one window fewer would not do


def test_default_validation_size_in_the_split():
    split = split_windows(_offsets(600), 48, 12, None)
    assert split.val_size == 49 and len(split.val_starts) == 49  # targets cover the last 60 rows


def test_a_panel_too_large_to_judge_on_every_window_keeps_every_kth_ending_at_the_last(
    monkeypatch,
):
    # Two series of 100 rows, lookback 10, horizon 5: windows start at rows 0..85 of each; the
    # last 20 validate (66..85), 2 x 20 x 5 = 200 target values. A cap of 70 values needs a
    # stride of ceil(200 / 70) = 3: rows 85, 82, ..., 67 (7 windows) of each series.
    monkeypatch.setattr("tsforecast.windows.MAX_VALIDATION_VALUES", 70)
    split = split_windows(_offsets(100, 100), 10, 5, 20)
    assert (split.val_size, split.val_stride, split.val_count) == (20, 3, 7)
    expected = np.arange(67, 86, 3)
    np.testing.assert_array_equal(split.val_starts, np.concatenate([expected, 100 + expected]))
    np.testing.assert_array_equal(split.val_series, np.repeat([0, 1], 7))
    # Training is as without the cap: it ends before the first of the last 20 windows' targets.
    assert split.train_starts[split.train_series == 0].max() + 15 == 66 + 10


def test_too_few_rows_says_how_many_are_needed():
    need = rows_needed(48, 12, 3)
    assert need == 48 + 2 * 12 + 3 - 1
    split = split_windows(_offsets(need), 48, 12, 3)  # exactly enough: one training window
    assert len(split.train_starts) == 1
    with pytest.raises(DataError) as info:
        split_windows(_offsets(need - 1, need - 2), 48, 12, 3)
    assert str(info.value) == (
        f"too few rows: lookback 48 + 2 x horizon 12 + 3 validation windows - 1 needs {need} rows "
        "per series, "
        f"the longest has {need - 1}; the largest --horizon it allows with lookback 48 is 11"
    )
    # 48 + 2 x 11 + 3 - 1 = 72 rows fit horizon 11 in the longest's 73. With no horizon at
    # this lookback, the longest lookback for the horizon; then a horizon and equal lookback.
    with pytest.raises(DataError, match="--horizon 12 fits with a --lookback of at most 20$"):
        split_windows(_offsets(46), 48, 12, 3)
    with pytest.raises(DataError, match="it fits, e.g., --horizon 4 --lookback 4$"):
        split_windows(_offsets(14), 48, 12, 3)
    with pytest.raises(DataError, match="it is too short to train on$"):
        split_windows(_offsets(4), 48, 12, 3)
    # In a panel the short series is left out (or refused with strict).
    split = split_windows(_offsets(300, need - 1), 48, 12, 3)
    assert split.usable.tolist() == [True, False] and set(split.train_series.tolist()) == {0}
    with pytest.raises(DataError, match="series '1' is too short"):
        split_windows(_offsets(300, need - 1), 48, 12, 3, strict=True)


def test_standardise_uses_the_training_part_only():
    rng = np.random.default_rng(2)
    first = rng.normal(5.0, 2.0, 100)
    second = rng.normal(-3.0, 0.5, 80)
    # The tail of each series jumps far away: statistics that saw it would be way off.
    values = np.concatenate(
        [first[:70], first[70:] + 1000.0, second[:50], second[50:] - 500.0]
    ).astype(np.float32)
    offsets = _offsets(100, 80)
    scaled, mean, std = standardise(values, offsets, np.array([70, 50]))
    head = [values[:70].astype(np.float64), values[100:150].astype(np.float64)]
    np.testing.assert_allclose(mean, [head[0].mean(), head[1].mean()], rtol=1e-12)
    np.testing.assert_allclose(std, [head[0].std(), head[1].std()], rtol=1e-12)
    np.testing.assert_allclose(scaled[:100], (values[:100] - mean[0]) / std[0], rtol=1e-5)
    np.testing.assert_allclose(scaled[100:], (values[100:] - mean[1]) / std[1], rtol=1e-5)
    assert abs(scaled[:70].mean()) < 1e-5 and scaled[:70].std() == pytest.approx(1.0, rel=1e-5)


def test_the_saved_scaler_comes_from_the_training_part(trained_model):
    config = json.loads((trained_model.directory / "config.json").read_text())["config"]
    window = config["window"]
    n = 600
    train_part = n - window["horizon"] + 1 - window["val_size"]  # up to the first validation target
    y = pd.read_csv(trained_model.csv)["y"].to_numpy(np.float32)
    # The statistics are of what the network models (log(y): the series is positive).
    assert config["data"]["transform"] == "log"
    y = np.log(y.astype(np.float64)).astype(np.float32).astype(np.float64)
    scaler = pd.read_csv(trained_model.directory / "scaler.csv")
    assert scaler["mean"][0] == pytest.approx(y[:train_part].mean(), rel=1e-12)
    assert scaler["std"][0] == pytest.approx(y[:train_part].std(), rel=1e-12)
    assert abs(scaler["mean"][0] - y.mean()) > 1e-6
