"""Training through the real CLI: both model families beat seasonal naive on a noisy seasonal
series, early stopping stops and keeps the best epoch, and the same seed gives the same model;
validation and forecasts run in fixed-size chunks whose results match numpy and whose memory
does not grow with the number of windows."""

from __future__ import annotations

import json

import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from tsforecast import artifacts
from tsforecast.config import Config, DataConfig, ModelConfig, TrainConfig, WindowConfig
from tsforecast.data import load_panel
from tsforecast.models import build_model
from tsforecast.network import Network, make_forecast
from tsforecast.placement import make_mesh
from tsforecast.trainer import (
    build_trainer,
    early_stopping_init,
    early_stopping_update,
    make_evaluate,
    make_loss,
    make_optimizer,
    with_input_noise,
    with_learning_rate_scaled,
)
from tsforecast.windows import Framing, split_windows, standardise


def _metrics(directory) -> dict:
    return json.loads((directory / "metrics.json").read_text())


def test_lstm_beats_seasonal_naive(trained_model):
    # AR(1) noise with phi 0.8 makes the next hours predictable from the last ones, which seasonal
    # naive (the value a day earlier) cannot use: measured 0.58 vs 0.99.
    metrics = _metrics(trained_model.directory)
    assert metrics["model"]["mase"] < 0.85 * metrics["seasonal_naive"]["mase"]
    assert metrics["model"]["mae"] < metrics["seasonal_naive"]["mae"]


@pytest.mark.slow
def test_conv_lstm_beats_seasonal_naive(trained_model, run_cli, tmp_path):
    out = tmp_path / "conv"
    result = run_cli(
        "train",
        trained_model.csv,
        *trained_model.args,
        "--model",
        "conv-lstm",
        "--filters",
        "8",
        "-q",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "config.json").read_text())["config"]["model"]
    assert (saved["name"], saved["filters"]) == ("conv-lstm", 8)
    params = flax.serialization.msgpack_restore((out / "params.msgpack").read_bytes())
    assert params["base"]["conv"]["kernel"].shape == (3, 1, 8)  # the Conv1D front end was trained
    metrics = _metrics(out)
    # On the windows MSTL was fitted at, which the table scores: measured 0.95 vs 1.11.
    assert metrics["model"]["mase"] < 0.9 * metrics["seasonal_naive"]["mase"]


@pytest.mark.slow
def test_early_stopping_stops_and_restores_the_best_epoch(trained_model, run_cli, tmp_path):
    # A learning rate far too high: validation loss jumps about after a few epochs.
    out = tmp_path / "model"
    result = run_cli(
        "train",
        trained_model.csv,
        "--hidden",
        "16",
        "--lookback",
        "48",
        "--horizon",
        "12",
        "--batch-size",
        "32",
        "--epochs",
        "30",
        "--patience",
        "3",
        "--lr-patience",
        "0",  # a fixed, too-high rate keeps the last epochs clearly worse than the best
        "--min-delta",
        "0",  # any lower loss is better: the best epoch is the argmin
        "--lr",
        "1.0",
        # Plain z-scores of y itself and MSE, so the check below can recompute the loss by hand.
        "--transform",
        "none",
        "--normalize",
        "series",
        "--residual",
        "none",
        "--loss",
        "mse",
        "--ensemble",
        "1",
        # The network alone is served, so metrics.json scores every validation window.
        "--no-fallback",
        "-q",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    history = pd.read_csv(out / "history.csv")
    val_loss = history["val_loss"].to_numpy()
    best = _metrics(out)["best_epoch"]
    assert best == int(np.argmin(val_loss)) + 1
    assert len(history) == best + 3 < 30  # stopped `patience` epochs after the best one
    # The last parameters are worse by far more than the tolerance of the check below, which
    # therefore tells the best epoch's parameters from the last.
    assert val_loss[-1] > 1.005 * val_loss[best - 1]

    # The saved parameters are the best epoch's: on the validation windows they give that epoch's
    # loss, and metrics.json was computed from them.
    artifact = artifacts.load(out)
    cfg = artifact.config
    lookback, horizon = cfg.window.lookback, cfg.window.horizon
    panel, _ = load_panel(cfg.data)
    split = split_windows(panel.offsets, lookback, horizon, cfg.window.val_size)
    scaled, mean, std = standardise(panel.values, panel.offsets, split.train_part)
    np.testing.assert_allclose(
        [mean[0], std[0]], [artifact.scaler.mean[0], artifact.scaler.std[0]], rtol=1e-12
    )
    starts = split.val_starts
    inputs = scaled[starts[:, None] + np.arange(lookback)][..., None]
    targets = scaled[starts[:, None] + lookback + np.arange(horizon)]
    preds = np.asarray(
        build_model(cfg.model, horizon).apply({"params": artifact.params}, jnp.asarray(inputs))
    )
    assert np.mean((preds - targets) ** 2) == pytest.approx(val_loss[best - 1], rel=1e-4)
    actual = panel.values.astype(np.float64)[starts[:, None] + lookback + np.arange(horizon)]
    mae = np.mean(np.abs(preds * std[0] + mean[0] - actual))
    assert mae == pytest.approx(artifact.metrics["model"]["mae"], rel=1e-4)


@pytest.mark.slow
def test_learning_rate_halves_after_epochs_without_improvement(trained_model, run_cli, tmp_path):
    out = tmp_path / "model"
    result = run_cli(
        "train",
        trained_model.csv,
        *trained_model.args,
        "--epochs",
        "10",
        "--patience",
        "10",
        "--lr",
        "0.05",
        "--lr-patience",
        "1",
        "-q",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    history = pd.read_csv(out / "history.csv")
    # Recompute the rule from the validation losses: every epoch that is not a new best halves
    # the rate the next epoch trains with.
    expected, rate, best = [], 0.05, np.inf
    for val_loss in history["val_loss"]:
        expected.append(rate)
        if val_loss < best:
            best = val_loss
        else:
            rate /= 2
    assert history["lr"].tolist() == pytest.approx(expected)
    assert history["lr"].iloc[-1] < 0.05  # a rate of 0.05 does not improve every epoch


def test_a_halved_learning_rate_halves_adams_step():
    params = {"w": jnp.ones(3)}
    grads = {"w": jnp.array([0.1, -0.2, 0.3])}
    tx = make_optimizer(TrainConfig(lr=0.01, clip_norm=100.0))
    full, _ = tx.update(grads, tx.init(params), params)
    state = tx.init(params)
    halved = with_learning_rate_scaled(state, 0.5)
    half, _ = tx.update(grads, halved, params)
    np.testing.assert_allclose(half["w"], 0.5 * full["w"], rtol=1e-6)
    # A new state: the one it came from still trains at the full rate.
    again, _ = tx.update(grads, state, params)
    np.testing.assert_allclose(again["w"], full["w"], rtol=1e-6)
    assert float(halved[1].hyperparams["learning_rate"]) == pytest.approx(0.005)


def test_weight_decay_shrinks_the_weights_by_lr_times_decay_where_the_gradient_is_zero():
    params = {"w": jnp.array([2.0, -4.0, 0.5])}
    grads = {"w": jnp.zeros(3)}
    tx = make_optimizer(TrainConfig(lr=0.01, weight_decay=0.1))
    update, _ = tx.update(grads, tx.init(params), params)
    # AdamW: Adam's step is 0 for a zero gradient; the decay moves w by -lr * decay * w.
    np.testing.assert_allclose(update["w"], [-0.002, 0.004, -0.0005], rtol=1e-6)
    plain = make_optimizer(TrainConfig(lr=0.01))
    unchanged, _ = plain.update(grads, plain.init(params), params)
    np.testing.assert_array_equal(unchanged["w"], np.zeros(3))


def test_input_noise_touches_only_the_target_of_the_lookback():
    windows = jnp.arange(4000 * 10 * 2, dtype=jnp.float32).reshape(4000, 10, 2)
    noisy = with_input_noise(windows, 6, 0.05, jax.random.PRNGKey(3))
    added = np.asarray(noisy - windows)
    # The targets after the lookback and the covariate column stay exactly as they were.
    assert not added[:, 6:, :].any() and not added[:, :, 1].any()
    noise = added[:, :6, 0]
    assert abs(noise.std() - 0.05) < 0.05 * 0.05  # 24,000 draws: the std to within 5%
    assert abs(noise.mean()) < 0.002
    np.testing.assert_array_equal(with_input_noise(windows, 6, 0.0, jax.random.PRNGKey(3)), windows)


@pytest.mark.slow
def test_the_same_seed_gives_identical_metrics_and_weights(trained_model, run_cli, tmp_path):
    out = tmp_path / "again"
    result = run_cli("train", trained_model.csv, *trained_model.args, "-q", "--out", out)
    assert result.exit_code == 0, result.output
    for name in ("metrics.json", "params.msgpack", "scaler.csv"):
        assert (out / name).read_bytes() == (trained_model.directory / name).read_bytes(), name
    losses = ["epoch", "train_loss", "val_loss"]  # `seconds` is wall-clock time
    again, first = (
        pd.read_csv(out / "history.csv"),
        pd.read_csv(trained_model.directory / "history.csv"),
    )
    pd.testing.assert_frame_equal(again[losses], first[losses])


@pytest.mark.parametrize(("min_delta", "best", "wait"), [(0.0, 3, 0), (0.001, 2, 1)])
def test_only_a_loss_lower_by_min_delta_is_better(min_delta, best, wait):
    # Epoch 3 is 0.05% below epoch 2: better only when min_delta allows it.
    state = early_stopping_init({"w": jnp.zeros(2)})
    for epoch, loss in enumerate([1.0, 0.9, 0.89955], start=1):
        state = early_stopping_update(
            state, {"w": jnp.full(2, float(epoch))}, jnp.float32(loss), epoch, min_delta
        )
    assert int(state.best_epoch) == best and int(state.wait) == wait
    np.testing.assert_array_equal(state.best_params["w"], [best, best])


class Flat(nn.Module):
    """A linear forecaster over the flattened window: small to compile, easy to apply in numpy."""

    horizon: int

    @nn.compact
    def __call__(self, x, train=False):
        return nn.Dense(self.horizon)(x.reshape(x.shape[0], -1))


def test_chunked_validation_loss_and_forecasts_match_numpy():
    # 10 windows in chunks of 4: the last chunk is half padding, which must not count.
    lookback, horizon, chunk = 6, 3, 4
    rng = np.random.default_rng(5)
    values = rng.normal(size=(60, 2)).astype(np.float32)
    starts = np.array([0, 3, 7, 11, 19, 23, 30, 38, 44, 51], np.int32)
    network = Network(Flat(horizon), lookback, horizon, Framing("window", "seasonal", (2,)))
    params = network.model.init(jax.random.PRNGKey(0), jnp.zeros((1, lookback, 2)))["params"]
    mesh = make_mesh(chunk)
    predict = make_forecast(network, mesh, chunk)
    evaluate = make_evaluate(network, predict, make_loss("mse"), mesh, chunk)

    kernel, bias = (np.asarray(params["Dense_0"][k], np.float64) for k in ("kernel", "bias"))
    forecasts, losses = [], []
    for start in starts:
        window = values[start : start + lookback + horizon].astype(np.float64)
        history, target = window[:lookback, 0], window[lookback:, 0]
        loc, scale = history.mean(), np.sqrt(history.var() + 1e-3)
        base = history[[4, 5, 4]]  # the last season of period 2 before each target step
        inputs = window[:lookback].copy()
        inputs[:, 0] = (inputs[:, 0] - loc) / scale
        framed = inputs.reshape(-1) @ kernel + bias
        forecasts.append(framed * scale + base)
        losses.append(np.mean((framed - (target - base) / scale) ** 2))

    got = jax.jit(predict)(params, jnp.asarray(values), jnp.asarray(starts))
    np.testing.assert_allclose(np.asarray(got), np.stack(forecasts), rtol=1e-5, atol=1e-5)
    loss = jax.jit(evaluate)(params, jnp.asarray(values), jnp.asarray(starts))
    np.testing.assert_allclose(float(loss), np.mean(losses), rtol=1e-5)


def test_validation_memory_does_not_grow_with_the_windows():
    # Compiled for 2,000 and 20,000 windows of 51 rows x 2 features: gathering them all at once
    # would need 0.8 and 8.2 MB of scratch memory; in chunks both need the same.
    lookback, horizon, width = 48, 3, 2
    network = Network(Flat(horizon), lookback, horizon, Framing("window", "seasonal", (2,)))
    params = network.model.init(jax.random.PRNGKey(0), jnp.zeros((1, lookback, width)))["params"]
    mesh = make_mesh(2)
    evaluate = jax.jit(make_evaluate(network, make_forecast(network, mesh), make_loss("mse"), mesh))
    values = jnp.zeros((30_000, width), jnp.float32)

    def scratch(n: int) -> int:
        compiled = evaluate.lower(params, values, jnp.zeros(n, jnp.int32)).compile()
        return compiled.memory_analysis().temp_size_in_bytes

    few, many = scratch(2_000), scratch(20_000)
    assert many < 1.2 * few, (few, many)
    assert many < 20_000 * (lookback + horizon) * width * 4, many


# What jax records each time it lowers a jitted function to a program to compile (compiled or
# read from the persistent cache): one per entry the jit cache misses.
LOWERED = "/jax/core/compile/jaxpr_to_mlir_module_duration"


def test_one_model_trains_every_epoch_in_the_program_compiled_for_the_first(write_series):
    # The session model's shapes (conftest.TRAIN_ARGS), on its data. min_delta 0.99: no later
    # epoch counts as better, so lr_patience 1 halves the learning rate after epochs 2 and 3,
    # and epoch 3 runs with an optimiser state rebuilt between epochs.
    panel, data = load_panel(DataConfig(path=str(write_series())))
    config = Config(
        data=data,
        window=WindowConfig(lookback=48, horizon=12),
        model=ModelConfig(hidden=16),
        train=TrainConfig(
            epochs=3,
            batch_size=32,
            lr=0.003,
            ensemble=1,
            patience=10,
            lr_patience=1,
            min_delta=0.99,
        ),
    )
    split = split_windows(panel.offsets, 48, 12, None)
    scaled, _, _ = standardise(panel.values, panel.offsets, split.train_part)
    trainer = build_trainer(config)
    params, values, train_starts, val_starts = trainer.place(
        trainer.initial_params(), scaled[:, None], split.train_starts, split.val_starts
    )
    lowered, per_epoch = [], []

    def listen(event: str, duration: float, **fields) -> None:
        if event == LOWERED:
            lowered.append(fields.get("fun_name"))

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        result = trainer.fit(
            params,
            values,
            train_starts,
            val_starts,
            on_epoch=lambda record: per_epoch.append(lowered.copy()) or lowered.clear(),
        )
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    assert [record.lr for record in result.history] == pytest.approx([0.003, 0.003, 0.0015])
    # The epoch and the validation loss are lowered once, in epoch 1 (which shows the listener
    # hears them), and never again.
    programs = ("jit(train_epoch)", "jit(evaluate)")
    assert [[name for name in names if name in programs] for names in per_epoch] == [
        list(programs),
        [],
        [],
    ], per_epoch
    assert trainer.train_epoch._cache_size() == 1
    assert trainer.evaluate._cache_size() == 1


def test_an_epoch_draws_distinct_windows_unless_there_are_millions(monkeypatch):
    from tsforecast import trainer

    key = jax.random.PRNGKey(7)
    few = np.asarray(trainer.draw_windows(key, 1000, 600))
    # Up to SHUFFLED_WHOLE windows: a prefix of a permutation of them all, no window twice.
    assert len(set(few.tolist())) == 600 and few.min() >= 0 and few.max() < 1000
    np.testing.assert_array_equal(few, np.asarray(jax.random.permutation(key, 1000))[:600])
    # Beyond it: drawn independently, in memory of the draws alone, so some repeat.
    monkeypatch.setattr(trainer, "SHUFFLED_WHOLE", 999)
    many = np.asarray(trainer.draw_windows(key, 1000, 600))
    assert len(set(many.tolist())) < 600 and many.min() >= 0 and many.max() < 1000
    # An epoch of every window is always a permutation.
    whole = np.asarray(trainer.draw_windows(key, 1000, 1000))
    np.testing.assert_array_equal(np.sort(whole), np.arange(1000))
