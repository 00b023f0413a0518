"""Forking sequences (`train --forking`): a window's loss is the mean of the ordinary forecast's
loss at each of its forks, the last fork is the ordinary forecast, the CLI trains, saves and
predicts with it, and refuses what cannot fork."""

from __future__ import annotations

import dataclasses
import functools
import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from tests.conftest import seasonal_ar_series, write_csv
from tsforecast.config import NOT_CAUSAL, Config, DataConfig, ModelConfig, TrainConfig, WindowConfig
from tsforecast.errors import ConfigError
from tsforecast.intervals import pinball_loss
from tsforecast.models import init_params
from tsforecast.network import network_for
from tsforecast.placement import make_mesh
from tsforecast.trainer import make_grad_fn, make_loss
from tsforecast.windows import Framing, gather

LOOKBACK, HORIZON = 10, 3


@dataclasses.dataclass(frozen=True)
class Case:
    model: ModelConfig
    future: tuple[int, ...] = ()
    quantiles: tuple[float, ...] = ()
    # Written out rather than read from Framing.first_fork, so a wrong one fails.
    first_fork: int = 0


CASES = {
    # Forks 0-4 would read the 6-step period before the window.
    "lstm, blend of two periods, a future covariate": Case(
        ModelConfig(hidden=6, residual="blend"), future=(1,), first_fork=5
    ),
    "gru, two layers, seasonal residual, quantiles": Case(
        ModelConfig(name="gru", hidden=5, layers=2, residual="seasonal"),
        quantiles=(0.1, 0.5, 0.9),
        first_fork=3,
    ),
    "lstm, no residual": Case(ModelConfig(hidden=4, residual="none")),
}


@functools.cache
def _network(case: Case):
    model = dataclasses.replace(case.model, normalize="series")
    config = Config(
        data=DataConfig(season_length=(4, 6)),
        window=WindowConfig(lookback=LOOKBACK, horizon=HORIZON),
        model=model,
        train=TrainConfig(forking=True),
    )
    network = network_for(config, case.future, len(case.quantiles))
    width = 1 + len(case.future)
    shapes = jax.eval_shape(
        lambda: init_params(network.model, LOOKBACK, width, 3, len(case.future), HORIZON)
    )
    # Random weights everywhere (the blend's shares and the future head start at 1 and 0), drawn
    # by numpy: only the initialisation's shapes are needed, not its compiled program.
    rng = np.random.default_rng(7)
    params = jax.tree_util.tree_map(
        lambda leaf: jnp.asarray(rng.normal(0.0, 0.5, leaf.shape), jnp.float32), shapes
    )
    values = jnp.asarray(np.random.default_rng(1).normal(size=(50, width)), jnp.float32)
    loss = pinball_loss(case.quantiles) if case.quantiles else make_loss("mae")
    return network, params, values, loss


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_the_forking_loss_is_the_mean_of_the_ordinary_loss_at_every_fork(case):
    network, params, values, loss = _network(case)
    starts = jnp.asarray([0, 7, 21, 30, 37], jnp.int32)
    weights = jnp.asarray([1.0, 1.0, 0.0, 1.0, 1.0])  # the third pads a ragged batch
    grad_fn = make_grad_fn(network, loss, make_mesh(1), forking=True)
    # Compiled, as training runs it; only the loss is returned, so XLA may drop the gradients.
    total = jax.jit(lambda *args: grad_fn(*args)[0])(
        params, values, starts, weights, jax.random.PRNGKey(0)
    )

    def expected_loss(params, windows):
        per_fork = []
        for t in range(case.first_fork, LOOKBACK):
            # The ordinary forward pass of a model whose window ends at t.
            truncated = dataclasses.replace(network, lookback=t + 1)
            pred, base, scale = truncated.framed(params, windows[:, : t + 1 + HORIZON], train=False)
            target = (windows[:, t + 1 : t + 1 + HORIZON, 0] - base) / scale
            per_fork.append(jnp.mean(loss(pred, target), axis=-1))
        return jnp.sum(jnp.mean(jnp.stack(per_fork), axis=0) * weights)

    # Every fork's forward pass in one program: one compilation instead of one per fork.
    expected = jax.jit(expected_loss)(params, gather(values, starts, LOOKBACK + HORIZON))
    np.testing.assert_allclose(total, expected, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_the_last_fork_is_the_ordinary_forecast(case):
    network, params, values, _ = _network(case)
    windows = gather(values, jnp.asarray([2, 19, 33], jnp.int32), LOOKBACK + HORIZON)
    # Compiled: run op by op, each takes longer than its compilation.
    forks, targets = jax.jit(functools.partial(network.forked, train=False))(params, windows)
    pred, base, scale = jax.jit(functools.partial(network.framed, train=False))(params, windows)
    assert forks.shape[:2] == (3, LOOKBACK - case.first_fork)
    np.testing.assert_allclose(forks[:, -1], pred, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        targets[:, -1], (windows[:, LOOKBACK:, 0] - base) / scale, rtol=1e-6, atol=1e-6
    )


def test_a_model_that_reads_later_steps_has_no_forecast_per_step():
    config = Config(window=WindowConfig(lookback=LOOKBACK, horizon=HORIZON))
    for name in NOT_CAUSAL:
        model = ModelConfig(name=name, hidden=4, filters=4, pool_size=1)
        network = network_for(dataclasses.replace(config, model=model), (), 0)
        # Refused before any weight is read.
        with pytest.raises(ConfigError, match=re.escape(NOT_CAUSAL[name])):
            network.forked({}, jnp.zeros((2, LOOKBACK + HORIZON, 1)))
    with pytest.raises(ConfigError, match="--normalize series"):
        Framing("window").fork_bases(jnp.zeros((2, LOOKBACK)), HORIZON)


TRAIN = ("--hidden", "8", "--lookback", "36", "--horizon", "6", "--batch-size", "32", "-q")


def _first_train_loss(directory) -> float:
    return float(pd.read_csv(directory / "history.csv")["train_loss"].iloc[0])


@pytest.mark.slow
def test_train_forking_saves_it_and_the_model_predicts(run_cli, forecast_of, tmp_path):
    csv = write_csv(seasonal_ar_series(300, seed=4), tmp_path / "series.csv")
    forking = tmp_path / "forking"
    result = run_cli("train", csv, *TRAIN, "--epochs", "2", "--forking", "--out", forking)
    assert result.exit_code == 0, result.output
    assert "--forking trains one fork" not in result.stderr  # 13 forks after the daily period
    saved = json.loads((forking / "config.json").read_text())["config"]
    assert saved["train"]["forking"] is True
    # The framing forking resolves when --normalize is not given.
    assert (saved["model"]["normalize"], saved["model"]["residual"]) == ("series", "blend")

    plain = tmp_path / "plain"
    result = run_cli("train", csv, *TRAIN, "--epochs", "1", "--normalize", "series", "--out", plain)
    assert result.exit_code == 0, result.output
    # Same seed, framing and batches: only the loss over the forks tells the runs apart.
    assert _first_train_loss(forking) != pytest.approx(_first_train_loss(plain), rel=1e-3)

    predicted = run_cli("predict", csv, "--model", forking)
    assert predicted.exit_code == 0, predicted.output
    forecast = forecast_of(predicted.stdout)
    assert len(forecast) == 6
    assert forecast["ds"].iloc[0] == pd.Timestamp("2024-01-13 12:00:00")  # after the 300th hour
    assert np.isfinite(forecast["y_hat"]).all()
    assert abs(forecast["y_hat"].mean() - 1000.0) < 50.0


@pytest.mark.slow
def test_a_residual_period_as_long_as_the_lookback_leaves_one_fork(run_cli, tmp_path):
    csv = write_csv(seasonal_ar_series(200), tmp_path / "series.csv")
    args = (*TRAIN, "--lookback", "24", "--season-length", "24", "--epochs", "1", "--forking")
    result = run_cli("train", csv, *args, "--out", tmp_path / "model")
    assert result.exit_code == 0, result.output
    assert "--forking trains one fork per window" in result.stderr


ERROR = "tsforecast: error: "
REFUSALS = {
    "bilstm": (("--model", "bilstm"), NOT_CAUSAL["bilstm"]),
    "conv-lstm": (("--model", "conv-lstm"), NOT_CAUSAL["conv-lstm"]),
    "recursive": (
        ("--strategy", "recursive"),
        "--forking trains the direct head at every step; drop it with --strategy recursive",
    ),
    "normalize window": (
        ("--normalize", "window"),
        "--forking needs --normalize series: --normalize window scales each window by "
        "statistics that change with every fork",
    ),
}


@pytest.mark.parametrize("args, line", REFUSALS.values(), ids=REFUSALS.keys())
def test_train_refuses_what_cannot_fork(args, line, run_cli, expect_bad_input, tmp_path):
    csv = write_csv(seasonal_ar_series(200), tmp_path / "series.csv")
    result = run_cli("train", csv, *TRAIN, "--forking", *args, "--out", tmp_path / "model")
    expect_bad_input(result, ERROR + line)
    assert not (tmp_path / "model").exists()
