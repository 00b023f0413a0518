"""The model family and the multi-step strategies: cell equations against NumPy, shapes,
training reaching every weight, the backward direction of bilstm, and every model (direct, and
the lstm recursive) trained, saved, loaded and forecast through the CLI."""

from __future__ import annotations

import dataclasses
import json
import shutil
from io import StringIO

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from tsforecast import artifacts
from tsforecast.cli import cli
from tsforecast.config import MODEL_NAMES, STRATEGIES, Config, IntervalConfig, ModelConfig
from tsforecast.data import load_panel
from tsforecast.errors import ConfigError
from tsforecast.forecast import Forecaster, forecast
from tsforecast.models import CELLS, BiLSTMEncoder, RNNStack, build_model, count_params, init_params
from tsforecast.network import network_for
from tsforecast.strategies import multi_step

LOOKBACK, HORIZON, HIDDEN = 24, 6, 8
CASES = [(name, strategy) for name in MODEL_NAMES for strategy in STRATEGIES]


def small_config(name: str, strategy: str = "direct", **options) -> ModelConfig:
    return ModelConfig(name=name, hidden=HIDDEN, filters=8, strategy=strategy, **options)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def randomised(params, seed: int):
    """The same tree with every leaf redrawn from N(0, 0.5): biases included, so the check does
    not lean on Flax's zero-bias initialisation."""
    leaves, tree = jax.tree_util.tree_flatten(params)
    rng = np.random.default_rng(seed)
    return jax.tree_util.tree_unflatten(
        tree, [jnp.asarray(0.5 * rng.normal(size=leaf.shape), jnp.float32) for leaf in leaves]
    )


def run_stack(cell: str, layers: int, x: np.ndarray, seed: int):
    stack = RNNStack(cell, HIDDEN, layers, 0.0)
    shapes = jax.eval_shape(
        lambda: stack.init(jax.random.PRNGKey(0), jnp.asarray(x), False)["params"]
    )
    params = randomised(shapes, seed)
    out = jax.jit(lambda p: stack.apply({"params": p}, jnp.asarray(x), False))(params)
    return np.asarray(out), jax.tree_util.tree_map(np.asarray, params)


def test_lstm_cell_matches_numpy_gate_equations():
    x = np.random.default_rng(1).normal(size=(3, 10, 2)).astype(np.float32)
    out, params = run_stack("lstm", 2, x, seed=2)

    def dense(p, v):
        return v @ p["kernel"] + p.get("bias", 0.0)

    seq = x.astype(np.float64)
    for layer in range(2):
        p = params[f"LSTMCell_{layer}"]
        h = c = np.zeros((3, HIDDEN))
        outputs = []
        for t in range(seq.shape[1]):
            xt = seq[:, t]
            i = sigmoid(dense(p["ii"], xt) + dense(p["hi"], h))
            f = sigmoid(dense(p["if"], xt) + dense(p["hf"], h))
            g = np.tanh(dense(p["ig"], xt) + dense(p["hg"], h))
            o = sigmoid(dense(p["io"], xt) + dense(p["ho"], h))
            c = f * c + i * g
            h = o * np.tanh(c)
            outputs.append(h)
        seq = np.stack(outputs, axis=1)
    np.testing.assert_allclose(out, seq, atol=1e-5, rtol=0)


def test_lstm_cell_matches_flax_cell_on_the_same_weights():
    """Our fused cell against Flax's own `nn.LSTMCell`: the same parameter tree drawn to the same
    values from one seed, and outputs and gradients within 1e-5 on randomised weights."""
    x = jnp.asarray(np.random.default_rng(6).normal(size=(4, 30, 3)), jnp.float32)
    ours = nn.RNN(CELLS["lstm"](HIDDEN))
    flax_cell = nn.RNN(nn.LSTMCell(HIDDEN, kernel_init=nn.initializers.glorot_uniform()))
    initial = ours.init(jax.random.PRNGKey(0), x)
    jax.tree_util.tree_map(
        np.testing.assert_array_equal, initial, flax_cell.init(jax.random.PRNGKey(0), x)
    )

    params = randomised(initial, seed=7)
    np.testing.assert_allclose(ours.apply(params, x), flax_cell.apply(params, x), atol=1e-5, rtol=0)

    def grads(rnn):
        return jax.grad(lambda p: jnp.sum(jnp.sin(rnn.apply(p, x))))(params)

    jax.tree_util.tree_map(
        lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5, rtol=0),
        grads(ours),
        grads(flax_cell),
    )


def test_gru_cell_matches_numpy_gate_equations():
    x = np.random.default_rng(3).normal(size=(3, 10, 2)).astype(np.float32)
    out, params = run_stack("gru", 2, x, seed=4)

    def dense(p, v):
        return v @ p["kernel"] + p.get("bias", 0.0)

    seq = x.astype(np.float64)
    for layer in range(2):
        p = params[f"GRUCell_{layer}"]
        h = np.zeros((3, HIDDEN))
        outputs = []
        for t in range(seq.shape[1]):
            xt = seq[:, t]
            r = sigmoid(dense(p["ir"], xt) + dense(p["hr"], h))
            z = sigmoid(dense(p["iz"], xt) + dense(p["hz"], h))
            n = np.tanh(dense(p["in"], xt) + r * dense(p["hn"], h))
            h = (1.0 - z) * n + z * h
            outputs.append(h)
        seq = np.stack(outputs, axis=1)
    np.testing.assert_allclose(out, seq, atol=1e-5, rtol=0)


def test_bilstm_backward_direction_reads_the_window_back_to_front():
    """With the recurrent weights zeroed and the forget gate shut (a bias of -1e4 makes it
    exactly 0), a direction's final state depends only on the last value it reads: the forward
    one on the window's last step, the backward one on its first.
    So changing only the first step must move the backward half of the summary and leave the
    forward half exactly as it was, and the other way round for the last step. A backward LSTM
    that read front to back would end on the last step, like the forward one, and fail both."""
    cfg = small_config("bilstm", merge="concat")
    encoder = BiLSTMEncoder(cfg)
    x = np.random.default_rng(5).normal(size=(2, LOOKBACK, 1)).astype(np.float32)
    params = randomised(
        jax.eval_shape(
            lambda: encoder.init(jax.random.PRNGKey(0), jnp.asarray(x), False)["params"]
        ),
        seed=6,
    )
    assert sorted(params) == ["backward_0", "forward_0"]
    for cell in params.values():
        for gate in ("hi", "hf", "hg", "ho"):
            cell[gate]["kernel"] = jnp.zeros_like(cell[gate]["kernel"])
        cell["hf"]["bias"] = jnp.full_like(cell["hf"]["bias"], -1e4)
    apply = jax.jit(lambda inputs: encoder.apply({"params": params}, inputs, False))

    def halves(inputs):
        summary = np.asarray(apply(jnp.asarray(inputs)))
        return summary[:, :HIDDEN], summary[:, HIDDEN:]

    forward, backward = halves(x)
    first_changed, last_changed = x.copy(), x.copy()
    first_changed[:, 0] += 1.0
    last_changed[:, -1] += 1.0
    forward_1, backward_1 = halves(first_changed)
    forward_2, backward_2 = halves(last_changed)
    np.testing.assert_array_equal(forward_1, forward)
    assert np.abs(backward_1 - backward).min() > 1e-4
    np.testing.assert_array_equal(backward_2, backward)
    assert np.abs(forward_2 - forward).min() > 1e-4


def test_bilstm_sum_merge_and_dense_between_shapes():
    x = jnp.zeros((2, LOOKBACK, 1))
    for merge, width in (("concat", 2 * HIDDEN), ("sum", HIDDEN)):
        encoder = BiLSTMEncoder(small_config("bilstm", merge=merge, layers=2, dense_between=True))
        variables = jax.eval_shape(
            lambda encoder=encoder: encoder.init(jax.random.PRNGKey(0), x, False)
        )
        assert jax.eval_shape(
            lambda v, encoder=encoder: encoder.apply(v, x, False), variables
        ).shape == (2, width)
        assert variables["params"]["between_0"]["kernel"].shape == (width, HIDDEN)


def test_blend_starts_as_seasonal_naive_and_learns_its_share():
    """--residual blend: with the network's head at zero the forecast is the seasonal-naive one
    read off the window (step h repeats the value one or more seasons before it), times the
    per-step share, which starts at 1."""
    season, lookback, horizon = 4, 8, 6
    model = build_model(small_config("lstm", residual="blend"), horizon, seasons=(season,))
    params = init_params(model, lookback, 1, 0)
    assert params["seasonal_share"].tolist() == [1.0] * horizon
    params = jax.tree_util.tree_map(jnp.zeros_like, params)
    params["seasonal_share"] = jnp.arange(1.0, horizon + 1)
    x = jax.random.normal(jax.random.PRNGKey(1), (3, lookback, 1))
    naive = np.asarray(x)[:, [4, 5, 6, 7, 4, 5], 0]
    np.testing.assert_allclose(
        np.asarray(model.apply({"params": params}, x)), naive * np.arange(1, horizon + 1), rtol=1e-6
    )


def test_blend_reads_every_period_with_its_own_share():
    """Two periods (3 and 6, lookback 8): the primary's share starts at 1, the longer one's at
    0; with the network's head at zero the forecast is the sum of each seasonal-naive forecast
    (positions worked out by hand) times its share."""
    lookback, horizon = 8, 7
    model = build_model(small_config("lstm", residual="blend"), horizon, seasons=(3, 6))
    params = init_params(model, lookback, 1, 0)
    assert params["seasonal_share"].tolist() == [1.0] * horizon
    assert params["seasonal_share_6"].tolist() == [0.0] * horizon
    params = jax.tree_util.tree_map(jnp.zeros_like, params)
    params["seasonal_share"] = jnp.full(horizon, 0.25)
    params["seasonal_share_6"] = jnp.full(horizon, 2.0)
    x = jax.random.normal(jax.random.PRNGKey(2), (2, lookback, 1))
    window = np.asarray(x)[:, :, 0]
    # Period 3: the last three values (5, 6, 7) repeated; period 6: values 2..7, then 2 again.
    daily = window[:, [5, 6, 7, 5, 6, 7, 5]]
    weekly = window[:, [2, 3, 4, 5, 6, 7, 2]]
    np.testing.assert_allclose(
        np.asarray(model.apply({"params": params}, x)), 0.25 * daily + 2.0 * weekly, rtol=1e-5
    )


@pytest.mark.parametrize("name", ["lstm", "bilstm", "conv-lstm"])
def test_lstm_forget_gates_start_open(name):
    params = init_params(build_model(small_config(name, layers=2), HORIZON), LOOKBACK, 1, 0)
    biases = {
        jax.tree_util.keystr(path): np.asarray(leaf)
        for path, leaf in jax.tree_util.tree_leaves_with_path(params)
        if "'h" in jax.tree_util.keystr(path[-2:-1])
        and jax.tree_util.keystr(path[-1:]) == "['bias']"
    }
    forget = {path: value for path, value in biases.items() if "['hf']" in path}
    assert len(forget) == (4 if name == "bilstm" else 2)
    assert all((value == 1).all() for value in forget.values())
    assert all((value == 0).all() for path, value in biases.items() if path not in forget)


@pytest.mark.parametrize("name,strategy", CASES)
def test_output_shapes(name, strategy):
    model = build_model(small_config(name, strategy, layers=2), HORIZON)
    params = jax.eval_shape(lambda: init_params(model, LOOKBACK, 1, 0))
    x = jax.ShapeDtypeStruct((5, LOOKBACK, 1), jnp.float32)
    assert jax.eval_shape(lambda p, x: model.apply({"params": p}, x), params, x).shape == (
        5,
        HORIZON if strategy == "direct" else 1,
    )
    assert jax.eval_shape(multi_step(model, strategy, HORIZON), params, x).shape == (5, HORIZON)


def test_recursive_forecast_feeds_each_prediction_back():
    model = build_model(small_config("gru", "recursive"), HORIZON)
    params = init_params(model, LOOKBACK, 1, 0)
    x = np.random.default_rng(7).normal(size=(4, LOOKBACK, 1)).astype(np.float32)
    one_step = jax.jit(lambda inputs: model.apply({"params": params}, inputs))
    window, reference = x.copy(), []
    for _ in range(HORIZON):
        step = np.asarray(one_step(jnp.asarray(window)))
        reference.append(step[:, 0])
        window = np.concatenate([window[:, 1:], step[:, :, None]], axis=1)
    rolled = np.asarray(jax.jit(multi_step(model, "recursive", HORIZON))(params, jnp.asarray(x)))
    np.testing.assert_allclose(rolled, np.stack(reference, axis=1), atol=1e-6)


def test_recursive_refuses_inputs_besides_the_target():
    model = build_model(small_config("lstm", "recursive"), HORIZON)
    params = jax.eval_shape(lambda: init_params(model, LOOKBACK, 2, 0))
    with pytest.raises(ConfigError, match="only input feature, the data has 2"):
        jax.eval_shape(
            multi_step(model, "recursive", HORIZON),
            params,
            jax.ShapeDtypeStruct((1, LOOKBACK, 2), jnp.float32),
        )


# End to end through the CLI on one small seasonal series: every model with the direct strategy,
# and the recursive one with the default cell. The recursive roll-out wraps whichever model it
# is given (strategies.multi_step, checked on every model and strategy by test_output_shapes
# and by hand in tests/test_strategies.py), and each case costs a compilation of its own.
TRAINED_CASES = [(name, "direct") for name in MODEL_NAMES] + [("lstm", "recursive")]
# The shapes of the session model (conftest.TRAIN_ARGS, also 600 hourly rows): in the whole suite
# the direct lstm shares its compiled programs, and the direct conv-lstm those of
# tests/test_trainer.py's.
E2E_HORIZON = 12
E2E_ARGS = [
    "--ensemble",
    "1",
    "--lookback",
    "48",
    "--horizon",
    str(E2E_HORIZON),
    "--hidden",
    "16",
    "--filters",
    "8",
    "--epochs",
    "25",
    "--batch-size",
    "32",
    "--lr",
    "0.01",
    "--patience",
    "25",
    "--quiet",
]


@pytest.fixture(scope="session")
def seasonal_csv(tmp_path_factory):
    """25 days of an hourly series: a daily cycle plus noise (seasonal naive repeats the noise
    of a day ago, a model that learns the cycle does not)."""
    rng = np.random.default_rng(0)
    t = np.arange(600)
    y = (
        10
        + 3 * np.sin(2 * np.pi * t / 24)
        + np.cos(2 * np.pi * t / 12)
        + rng.normal(0, 0.5, t.size)
    )
    path = tmp_path_factory.mktemp("models-data") / "seasonal.csv"
    pd.DataFrame(
        {"ds": pd.date_range("2024-01-01", periods=t.size, freq="h"), "y": y.round(5)}
    ).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session", params=TRAINED_CASES, ids=[f"{n}-{s}" for n, s in TRAINED_CASES])
def trained(request, seasonal_csv, tmp_path_factory):
    """(model dir, the artifact `tsforecast train` held in memory before saving it)."""
    name, strategy = request.param
    out = tmp_path_factory.mktemp(f"{name}-{strategy}") / "model"
    kept = {}
    real_save = artifacts.save

    def keeping_save(artifact, path):
        kept["artifact"] = artifact
        return real_save(artifact, path)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(artifacts, "save", keeping_save)
        result = CliRunner().invoke(
            cli,
            [
                "train",
                str(seasonal_csv),
                "--model",
                name,
                "--strategy",
                strategy,
                "--out",
                str(out),
                *E2E_ARGS,
            ],
        )
    assert result.exit_code == 0, result.output
    return out, kept["artifact"]


@pytest.mark.slow
def test_trains_and_beats_seasonal_naive(trained):
    out, _ = trained
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"]["mase"] < metrics["seasonal_naive"]["mase"], metrics


@pytest.mark.slow
def test_training_changes_every_parameter(trained):
    """Adam leaves a weight whose gradient is always zero exactly where it started, so a weight
    the loss does not reach shows up as one equal to its initial value."""
    _, artifact = trained
    # The network training built (its blend reads the trained season): the same initialisation
    # program as training's, so it comes from the compilation cache.
    model = network_for(artifact.config, (), 0).model
    initial = init_params(model, artifact.config.window.lookback, 1, artifact.config.train.seed)
    unchanged = [
        jax.tree_util.keystr(path)
        for (path, old), new in zip(
            jax.tree_util.tree_leaves_with_path(initial),
            jax.tree_util.tree_leaves(artifact.params),
            strict=True,
        )
        if np.any(np.asarray(old) == np.asarray(new))
    ]
    assert not unchanged, f"weights training never changed: {unchanged}"


@pytest.mark.slow
def test_config_records_strategy_and_parameter_count(trained):
    out, artifact = trained
    saved = json.loads((out / "config.json").read_text())
    model_cfg = artifact.config.model
    assert saved["config"]["model"]["strategy"] == model_cfg.strategy
    assert saved["n_params"] == count_params(artifacts.load(out).params)
    expected = jax.eval_shape(lambda: init_params(build_model(model_cfg, E2E_HORIZON), 48, 1, 0))
    assert saved["n_params"] == count_params(expected)


def forecast_of(artifact, path):
    """The forecast of `artifact` from the data file at `path`, read with its training schema."""
    panel, _ = load_panel(dataclasses.replace(artifact.config.data, path=str(path)))
    return forecast(Forecaster.of(artifact), panel)


@pytest.mark.slow
def test_saved_model_forecasts_exactly_like_the_one_in_memory(trained, seasonal_csv):
    out, artifact = trained
    in_memory = forecast_of(artifact, seasonal_csv)
    loaded = forecast_of(artifacts.load(out), seasonal_csv)
    assert len(loaded) == E2E_HORIZON
    np.testing.assert_array_equal(loaded["y_hat"].to_numpy(), in_memory["y_hat"].to_numpy())
    # The command prints the same forecast, rounded to 7 significant digits.
    result = CliRunner().invoke(cli, ["predict", str(seasonal_csv), "--model", str(out)])
    assert result.exit_code == 0, result.output
    printed = pd.read_csv(StringIO(result.output), parse_dates=["ds"])
    assert list(printed["ds"]) == list(in_memory["ds"])
    np.testing.assert_allclose(printed["y_hat"], in_memory["y_hat"], rtol=1e-6)


# The old format had the direct lstm and conv-lstm only. The same values as in TRAINED_CASES, so
# that these cases reuse the session's trained models instead of training their own.
OLD_FORMAT_CASES = [
    case for case in TRAINED_CASES if case in (("lstm", "direct"), ("conv-lstm", "direct"))
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "trained", OLD_FORMAT_CASES, indirect=True, ids=[f"{n}-{s}" for n, s in OLD_FORMAT_CASES]
)
def test_model_saved_before_the_new_options_still_loads(trained, seasonal_csv, tmp_path):
    """A format-1 directory from before gru/bilstm/strategies has none of the new model keys:
    it loads as the direct strategy, one conv layer, and forecasts as it did."""
    saved, artifact = trained
    out = tmp_path / "old-model"
    shutil.copytree(saved, out)
    raw = json.loads((out / "config.json").read_text())
    for key in ("strategy", "merge", "dense_between", "conv_layers"):
        del raw["config"]["model"][key]
    (out / "config.json").write_text(json.dumps(raw))
    old = artifacts.load(out)
    assert old.config.model == artifact.config.model
    np.testing.assert_array_equal(
        forecast_of(old, seasonal_csv)["y_hat"], forecast_of(artifact, seasonal_csv)["y_hat"]
    )


def test_conv_lstm_refuses_a_lookback_pooled_away(seasonal_csv, tmp_path):
    out = tmp_path / "model"
    result = CliRunner().invoke(
        cli,
        [
            "train",
            str(seasonal_csv),
            "--model",
            "conv-lstm",
            "--lookback",
            "4",
            "--conv-layers",
            "3",
            "--horizon",
            "2",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "tsforecast: error: conv-lstm: "
        "3 conv layer(s) pooling by 2 leave no time step of a lookback of 4; "
        "use a longer --lookback, fewer --conv-layers or a smaller --pool-size"
    ]
    assert not out.exists()


def test_models_command_lists_every_model_with_its_size():
    result = CliRunner().invoke(cli, ["models"])
    assert result.exit_code == 0, result.output
    for name in MODEL_NAMES:
        assert f"\n{name} " in "\n" + result.output
    lstm = jax.eval_shape(lambda: init_params(build_model(ModelConfig(), 24), 96, 1, 0))
    assert f"parameters: {count_params(lstm):,} direct" in result.output
    assert (
        "--conv-layers" in result.output
        and "--merge" in result.output
        and "--strategy" in result.output
    )


def test_quantile_intervals_need_the_direct_strategy():
    with pytest.raises(ConfigError, match="^--interval-method quantile needs --strategy direct"):
        Config(model=ModelConfig(strategy="recursive"), intervals=IntervalConfig(method="quantile"))


def test_chunked_model_reads_the_window_a_chunk_per_step():
    cfg = small_config("lstm", residual="none", chunk=4)
    model = build_model(cfg, HORIZON)
    lookback = 10  # two zeros in front make three chunks of four
    params = randomised(init_params(model, lookback, 2, seed=0), seed=1)
    assert params["chunk_encoder"]["kernel"].shape == (4 * 2, HIDDEN)
    x = np.random.default_rng(2).normal(size=(3, lookback, 2)).astype(np.float32)
    got = np.asarray(model.apply({"params": params}, jnp.asarray(x)))

    # By hand: pad, cut into chunks of 4 steps x 2 features, encode, run the LSTM over 3 steps.
    padded = np.concatenate([np.zeros((3, 2, 2), np.float32), x], axis=1)
    chunks = padded.reshape(3, 3, 8)
    encoder = params["chunk_encoder"]
    encoded = np.tanh(chunks @ np.asarray(encoder["kernel"]) + np.asarray(encoder["bias"]))
    plain = build_model(dataclasses.replace(cfg, chunk=1), HORIZON)
    expected = plain.apply({"params": params["base"]}, jnp.asarray(encoded))
    np.testing.assert_allclose(got, np.asarray(expected), rtol=1e-5, atol=1e-6)
    assert got.shape == (3, HORIZON)


def test_chunk_refuses_forking():
    with pytest.raises(ConfigError, match="--forking forecasts after every value"):
        Config(
            model=small_config("lstm", chunk=24),
            train=dataclasses.replace(Config().train, forking=True),
        )


@pytest.mark.slow
def test_a_chunked_model_trains_and_forecasts_from_the_cli(seasonal_csv, tmp_path):
    out = tmp_path / "model"
    args = ["train", seasonal_csv, "--lookback", "48", "--horizon", "12", "--chunk", "24"]
    args += ["--hidden", "8", "--epochs", "2", "--ensemble", "1", "-q", "--out", out]
    result = CliRunner().invoke(cli, list(map(str, args)))
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "config.json").read_text())["config"]["model"]
    assert saved["chunk"] == 24
    predicted = CliRunner().invoke(cli, ["predict", "--model", str(out)])
    assert predicted.exit_code == 0, predicted.output
    frame = pd.read_csv(StringIO(predicted.stdout))
    assert len(frame) == 12 and np.isfinite(frame["y_hat"]).all()
