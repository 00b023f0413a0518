"""The model family on Flax's recurrent cells, and a registry to build one by name.

Every model maps inputs <float32>[batch, lookback, features] to <float32>[batch, outputs] in
standardised units: outputs is the horizon for the direct strategy (one dense head for all
steps) and 1 for the recursive one (see tsforecast.strategies). A causal model (lstm, gru) also
takes `all_steps=True` and returns <float32>[batch, lookback, outputs]: at each step t the
forecast it would make from the inputs 0..t alone (what forking sequences train, see
tsforecast.trainer.Network.forked).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from . import activations
from .config import MODEL_NAMES, NOT_CAUSAL, STRATEGIES, ModelConfig
from .errors import ConfigError
from .windows import fork_lengths, seasonal_naive_source


class GateWeights(nn.Module):
    """The parameters of one `nn.Dense` (a `kernel`, and a `bias` when `bias_init` is given)
    under the same names and drawn the same way, returned instead of applied."""

    in_features: int
    features: int
    kernel_init: Callable
    bias_init: Callable | None = None

    @nn.compact
    def __call__(self) -> tuple[jax.Array, jax.Array | None]:
        kernel = self.param("kernel", self.kernel_init, (self.in_features, self.features))
        bias = (
            None if self.bias_init is None else self.param("bias", self.bias_init, (self.features,))
        )
        return kernel, bias


class LSTMCell(nn.LSTMCell):
    """Flax's `nn.LSTMCell` computing its four gates with one matrix product for the input and
    one for the recurrent state, where Flax's does four of each.

    The parameters are Flax's (`ii`, `if`, `ig`, `io` input kernels; `hi`, `hf`, `hg`, `ho`
    recurrent kernels with the biases), with the same names, shapes and initial values, so
    saved models load either way; the class keeps Flax's name because the saved parameter paths
    contain it. With the rational tanh and sigmoid of tsforecast.activations (as CELLS builds it)
    it measured 1.08x `nn.LSTMCell` per epoch on the peers' workload and 1.13x at the default
    settings on the 2-core CPU (`benchmarks/cell_ab.py`); with XLA's tanh and logistic, 1.05x."""

    @nn.compact
    def __call__(self, carry: tuple[jax.Array, jax.Array], inputs: jax.Array):
        c, h = carry
        gates = "ifgo"
        input_kernels = [
            GateWeights(inputs.shape[-1], self.features, self.kernel_init, name=f"i{g}")()[0]
            for g in gates
        ]
        recurrent = [
            GateWeights(
                self.features,
                self.features,
                self.recurrent_kernel_init,
                self.bias_init,
                name=f"h{g}",
            )()
            for g in gates
        ]
        z = (
            inputs @ jnp.concatenate(input_kernels, axis=1)
            + h @ jnp.concatenate([kernel for kernel, _ in recurrent], axis=1)
            + jnp.concatenate([bias for _, bias in recurrent])
        )
        i, f, g, o = jnp.split(z, 4, axis=-1)
        new_c = self.gate_fn(f) * c + self.gate_fn(i) * self.activation_fn(g)
        new_h = self.gate_fn(o) * self.activation_fn(new_c)
        return (new_c, new_h), new_h


# Keras' initialisation (Glorot-uniform input kernels; unit forget bias, set in init_params):
# on the peers' workload it reached a validation MSE of 0.119 after three epochs where Flax's
# defaults (LeCun-normal, zero biases) reached 0.143.
CELLS = {
    "lstm": partial(
        LSTMCell,
        kernel_init=nn.initializers.glorot_uniform(),
        gate_fn=activations.sigmoid,
        activation_fn=activations.tanh,
    ),
    "gru": partial(nn.GRUCell, kernel_init=nn.initializers.glorot_uniform()),
}
MERGE_FNS = {"concat": lambda a, b: jnp.concatenate([a, b], axis=-1), "sum": jnp.add}
# Where `tsforecast models` counts parameters: the CLI's default window.
DEFAULT_LOOKBACK, DEFAULT_HORIZON = 96, 24


class RNNStack(nn.Module):
    """`layers` recurrent layers over time (lax.scan inside nn.RNN), dropout between layers.

    <float32>[batch, time, features] -> <float32>[batch, time, hidden]
    """

    cell: str
    hidden: int
    layers: int
    dropout: float

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        for layer in range(self.layers):
            x = nn.RNN(CELLS[self.cell](self.hidden))(x)
            if layer < self.layers - 1 and self.dropout > 0:
                x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return x


def dense_head(outputs: int, dropout: float, h: jax.Array, train: bool) -> jax.Array:
    """Dropout, then Dense(outputs) named "head" in the calling model (where saved models keep
    it)."""
    h = nn.Dropout(dropout, deterministic=not train)(h)
    return nn.Dense(outputs, name="head")(h)


class RecurrentForecaster(nn.Module):
    """A stack of LSTM or GRU layers -> last hidden state -> Dense(outputs); with all_steps,
    every step's hidden state through the same head."""

    cfg: ModelConfig
    outputs: int
    cell: str = "lstm"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False, all_steps: bool = False) -> jax.Array:
        # Models saved before GRU existed keep their LSTM weights under "LSTMStack_0".
        stack = RNNStack(
            self.cell,
            self.cfg.hidden,
            self.cfg.layers,
            self.cfg.dropout,
            name=f"{self.cell.upper()}Stack_0",
        )
        hidden = stack(x, train)
        return dense_head(
            self.outputs, self.cfg.dropout, hidden if all_steps else hidden[:, -1], train
        )


class BiLSTMEncoder(nn.Module):
    """Stacked bidirectional LSTMs over the window -> one summary vector.

    Each layer runs a forward LSTM and a backward one (nn.Bidirectional reverses the window for
    it and restores the order of its outputs) and merges their outputs per step. The summary
    merges the forward LSTM's state after the last step with the backward LSTM's state after the
    first step: both have then read the whole window. (The backward output at the last position
    would have read one value only.) With dense_between, a Dense layer projects each merged
    sequence back to `hidden` before the next layer, as in CRNN.

    <float32>[batch, time, features] -> <float32>[batch, 2 * hidden (concat) or hidden (sum)]
    """

    cfg: ModelConfig

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        merge = MERGE_FNS[self.cfg.merge]
        for layer in range(self.cfg.layers):
            forward = nn.RNN(CELLS["lstm"](self.cfg.hidden, name=f"forward_{layer}"))
            backward = nn.RNN(CELLS["lstm"](self.cfg.hidden, name=f"backward_{layer}"))
            (forward_carry, backward_carry), x = nn.Bidirectional(
                forward, backward, merge_fn=merge, return_carry=True
            )(x)
            if layer < self.cfg.layers - 1:
                if self.cfg.dropout > 0:
                    x = nn.Dropout(self.cfg.dropout, deterministic=not train)(x)
                if self.cfg.dense_between:
                    x = nn.Dense(self.cfg.hidden, name=f"between_{layer}")(x)
        # An LSTM carry is (c, h).
        return merge(forward_carry[1], backward_carry[1])


def run_base(base: nn.Module, x: jax.Array, train: bool, all_steps: bool) -> jax.Array:
    """A wrapper's base model, asked for every step's forecast only with `all_steps`: a base
    that forecasts at the window's end alone need not know the argument."""
    return base(x, train, all_steps=True) if all_steps else base(x, train)


def refuse_all_steps(name: str, all_steps: bool) -> None:
    """A model whose step t reads inputs after t has no forecast from the inputs 0..t alone."""
    if all_steps:
        raise ConfigError(NOT_CAUSAL[name])


class BiLSTMForecaster(nn.Module):
    """Bidirectional LSTM summary of the window -> Dense(outputs)."""

    cfg: ModelConfig
    outputs: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False, all_steps: bool = False) -> jax.Array:
        refuse_all_steps("bilstm", all_steps)
        return dense_head(self.outputs, self.cfg.dropout, BiLSTMEncoder(self.cfg)(x, train), train)


class ConvLSTMForecaster(nn.Module):
    """`conv_layers` Conv1D layers along time (each with ReLU and max-pooling) as a feature
    extractor feeding an LSTM: the CNN-LSTM."""

    cfg: ModelConfig
    outputs: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False, all_steps: bool = False) -> jax.Array:
        refuse_all_steps("conv-lstm", all_steps)
        cfg = self.cfg
        steps = x.shape[1]
        for layer in range(cfg.conv_layers):
            # The first layer keeps the name it had when there was only one.
            x = nn.relu(
                nn.Conv(
                    cfg.filters,
                    kernel_size=(cfg.kernel_size,),
                    padding="SAME",
                    name="conv" if layer == 0 else f"conv_{layer}",
                )(x)
            )
            if cfg.pool_size > 1:
                x = nn.max_pool(x, window_shape=(cfg.pool_size,), strides=(cfg.pool_size,))
        if x.shape[1] < 1:
            raise ConfigError(
                f"conv-lstm: {cfg.conv_layers} conv layer(s) pooling by {cfg.pool_size} leave no "
                f"time step of a lookback of {steps}; use a longer --lookback, "
                "fewer --conv-layers or a smaller --pool-size"
            )
        h = RNNStack("lstm", cfg.hidden, cfg.layers, cfg.dropout, name="LSTMStack_0")(x, train)[
            :, -1
        ]
        return dense_head(self.outputs, cfg.dropout, h, train)


class QuantileForecaster(nn.Module):
    """Wraps any forecaster built for horizon * Q outputs into Q quantiles per step,
    <float32>[batch, horizon, Q], that cannot cross: the middle output is the median and every
    other quantile is a sum of positive (softplus) steps away from it. Q is odd, the quantiles
    ascending and symmetric about the median (`intervals.quantile_levels`)."""

    base: nn.Module
    horizon: int
    n_quantiles: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False, all_steps: bool = False) -> jax.Array:
        raw = run_base(self.base, x, train, all_steps)
        raw = raw.reshape(raw.shape[:-1] + (self.horizon, self.n_quantiles))
        mid = self.n_quantiles // 2
        median = raw[..., mid : mid + 1]
        above = median + jnp.cumsum(nn.softplus(raw[..., mid + 1 :]), axis=-1)
        below = median - jnp.flip(
            jnp.cumsum(nn.softplus(jnp.flip(raw[..., :mid], -1)), axis=-1), -1
        )
        return jnp.concatenate([below, median, above], axis=-1)


class WithFutureCovariates(nn.Module):
    """Any model of the registry plus the future-known covariates of the horizon
    <float32>[batch, horizon, k]: a small MLP reads the model's forecast with the flattened
    covariates and adds a correction per step, zero at initialisation, so the wrapped model
    trains as it would alone until the covariates help. A quantile forecast [batch, horizon, Q]
    shifts all its quantiles by the step's correction, so they still cannot cross.

    With `per_step`, a second small MLP, shared by every step, adds what each step's own values
    say (a holiday, that step's hour): the flattened path must learn that step h's inputs act at
    step h from the windows that show it, which a dozen holidays a year do not teach it."""

    base: nn.Module
    horizon: int
    hidden: int
    per_step: bool = True

    @nn.compact
    def __call__(
        self, x: jax.Array, future: jax.Array, train: bool = False, all_steps: bool = False
    ) -> jax.Array:
        forecast = run_base(self.base, x, train, all_steps)
        # One forecast per window, or per step with all_steps (future then [batch, L, H, k]).
        lead = future.shape[:-2]
        joint = jnp.concatenate(
            [forecast.reshape(lead + (-1,)), future.reshape(lead + (-1,))], axis=-1
        )
        hidden = nn.relu(nn.Dense(self.hidden, name="future_hidden")(joint))
        correction = nn.Dense(self.horizon, kernel_init=nn.initializers.zeros, name="future_head")(
            hidden
        )
        if self.per_step:
            own = nn.relu(nn.Dense(self.hidden, name="step_hidden")(future))
            own = nn.Dense(1, kernel_init=nn.initializers.zeros, name="step_head")(own)
            correction = correction + own[..., 0]
        return forecast + correction.reshape(
            correction.shape + (1,) * (forecast.ndim - correction.ndim)
        )


class SeasonalBlend(nn.Module):
    """Any forecaster plus a learned share, per horizon step and seasonal period, of the
    seasonal-naive forecasts read off its own (framed) input window: --residual blend. The
    primary period's share starts at 1 and the others' at 0, so the model starts as seasonal
    naive plus a correction; where the last season is mostly noise, training turns its share
    down instead of asking the network to memorise a whole season to cancel it (which a small
    recurrent state cannot), and where last week says more than yesterday it moves the weight
    to the weekly period. Quantiles all shift together. The primary's share keeps the name it
    had when there was one period, so older models load."""

    base: nn.Module
    horizon: int
    seasons: tuple[int, ...] = (1,)

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False, all_steps: bool = False) -> jax.Array:
        forecast = run_base(self.base, x, train, all_steps)
        lengths = fork_lengths(x.shape[1]) if all_steps else x.shape[1]
        blended = 0.0
        for k, season in enumerate(self.seasons):
            # With all_steps, the steps before a season fits read position 0; forking does not
            # train on them (Framing.first_fork).
            source = np.maximum(seasonal_naive_source(lengths, self.horizon, season), 0)
            naive = x[:, source, 0]
            name, init = (
                ("seasonal_share", nn.initializers.ones)
                if k == 0
                else (
                    f"seasonal_share_{season}",
                    nn.initializers.zeros,
                )
            )
            blended = blended + self.param(name, init, (self.horizon,)) * naive
        return forecast + blended.reshape(blended.shape + (1,) * (forecast.ndim - blended.ndim))


class Chunked(nn.Module):
    """A model that reads the window `chunk` values per step: the window, padded at its start
    with zeros (the per-series mean, in standardised units) to whole chunks, is cut into chunks
    of `chunk` consecutive steps, each flattened and encoded by one dense layer (tanh) of the
    base's width, and the base runs over the chunks: a lookback of L takes L / chunk recurrent
    steps (ES-adRNN's step per day, the seed's TimeDistributed encoder)."""

    base: nn.Module
    chunk: int
    width: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False, all_steps: bool = False) -> jax.Array:
        if all_steps:
            raise ConfigError(f"--chunk {self.chunk} has no forecast after every value; drop it")
        batch, steps, features = x.shape
        pad = -steps % self.chunk
        x = jnp.pad(x, ((0, 0), (pad, 0), (0, 0)))
        chunks = x.reshape(batch, (steps + pad) // self.chunk, self.chunk * features)
        return self.base(jnp.tanh(nn.Dense(self.width, name="chunk_encoder")(chunks)), train)


@dataclass(frozen=True)
class ModelSpec:
    build: Callable[[ModelConfig, int], nn.Module]
    description: str
    options: tuple[str, ...]


COMMON_OPTIONS = ("hidden", "layers", "dropout", "strategy", "normalize", "residual", "chunk")

MODELS: dict[str, ModelSpec] = {
    "lstm": ModelSpec(
        lambda cfg, outputs: RecurrentForecaster(cfg, outputs, "lstm"),
        "LSTM over the lookback window; --layers N stacks N LSTMs (the stacked LSTM)",
        COMMON_OPTIONS,
    ),
    "gru": ModelSpec(
        lambda cfg, outputs: RecurrentForecaster(cfg, outputs, "gru"),
        "GRU (update and reset gates, no cell state): fewer weights than an LSTM of the same width",
        COMMON_OPTIONS,
    ),
    "bilstm": ModelSpec(
        BiLSTMForecaster,
        "bidirectional LSTM: a forward and a backward LSTM over the window, merged; stackable",
        COMMON_OPTIONS + ("merge", "dense_between"),
    ),
    "conv-lstm": ModelSpec(
        ConvLSTMForecaster,
        "Conv1D feature extractor (ReLU, max-pooling) along time feeding an LSTM (the CNN-LSTM)",
        COMMON_OPTIONS + ("filters", "kernel_size", "conv_layers", "pool_size"),
    ),
}


assert tuple(MODELS) == MODEL_NAMES, "config.MODEL_NAMES must list the registry"


def build_model(
    cfg: ModelConfig,
    horizon: int,
    n_quantiles: int = 0,
    n_future: int = 0,
    seasons: tuple[int, ...] = (1,),
) -> nn.Module:
    """The forecaster for `cfg`, its head sized for the strategy (all `horizon` steps or the
    next one); with `n_quantiles` (direct only) it predicts that many quantiles per step, with
    --residual blend it adds its shares of the seasonal-naive forecasts, and with `n_future`
    future-known features it is wrapped to see their horizon values. `seasons` (inside the
    lookback) are the periods --residual blend reads."""
    outputs = horizon * n_quantiles if n_quantiles else cfg.outputs(horizon)
    model = MODELS[cfg.name].build(cfg, outputs)
    if cfg.chunk is not None and cfg.chunk > 1:
        model = Chunked(model, cfg.chunk, cfg.hidden)
    if n_quantiles:
        model = QuantileForecaster(model, horizon, n_quantiles)
    if cfg.residual == "blend":
        model = SeasonalBlend(model, horizon, tuple(seasons))
    if not n_future:
        return model
    return WithFutureCovariates(model, horizon, cfg.hidden, cfg.future_per_step)


def apply_model(
    model: nn.Module, params: dict, x: jax.Array, future: jax.Array, **kwargs
) -> jax.Array:
    """Forecasts <float32>[batch, horizon] from x <float32>[batch, lookback, features] and, for a
    wrapped model, future <float32>[batch, horizon, k]."""
    if isinstance(model, WithFutureCovariates):
        return model.apply({"params": params}, x, future, **kwargs)
    return model.apply({"params": params}, x, **kwargs)


def init_params(
    model: nn.Module, lookback: int, features: int, seed: int, n_future: int = 0, horizon: int = 1
) -> dict:
    """Initial weights, drawn in one compiled program: run op by op, the initialisers (truncated
    normal, orthogonal) compile dozens of small programs, seconds on a small CPU."""
    dummy = jnp.zeros((1, lookback, features), jnp.float32)
    inputs = (
        (dummy, jnp.zeros((1, horizon, n_future), jnp.float32))
        if isinstance(model, WithFutureCovariates)
        else (dummy,)
    )
    return jax.jit(lambda key: unit_forget_bias(model.init(key, *inputs, train=False)["params"]))(
        jax.random.PRNGKey(seed)
    )


def unit_forget_bias(params: dict) -> dict:
    """LSTM forget-gate biases (Flax's `hf` layers) set to 1, as Jozefowicz et al. (2015) and
    Keras do: the cell starts out remembering, and gradients reach further back in the window."""

    def init(path: tuple, leaf: jax.Array) -> jax.Array:
        keys = [getattr(entry, "key", None) for entry in path]
        return jnp.ones_like(leaf) if keys[-2:] == ["hf", "bias"] else leaf

    return jax.tree_util.tree_map_with_path(init, params)


def count_params(params: dict) -> int:
    return int(sum(leaf.size for leaf in jax.tree_util.tree_leaves(params)))


def default_param_counts(
    name: str, lookback: int = DEFAULT_LOOKBACK, horizon: int = DEFAULT_HORIZON
) -> dict[str, int]:
    """Parameter count of model `name` with default options, per strategy (shapes only, no
    compute)."""
    counts = {}
    for strategy in STRATEGIES:
        model = build_model(ModelConfig(name=name, strategy=strategy), horizon)
        shapes = jax.eval_shape(lambda model=model: init_params(model, lookback, 1, 0))
        counts[strategy] = count_params(shapes)
    return counts
