"""The model family on Flax's recurrent cells, and a registry to build one by name.

Every model maps inputs <float32>[batch, lookback, features] to <float32>[batch, horizon]
(a direct multi-output head) in standardised units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from .config import MODEL_NAMES, ModelConfig


class LSTMStack(nn.Module):
    """`layers` LSTMs over time (lax.scan inside nn.RNN), dropout between layers."""

    hidden: int
    layers: int
    dropout: float

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        for layer in range(self.layers):
            x = nn.RNN(nn.LSTMCell(self.hidden), name=f"lstm_{layer}")(x)
            if layer < self.layers - 1 and self.dropout > 0:
                x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return x


class LSTMForecaster(nn.Module):
    """LSTM (stacked with layers > 1) -> last hidden state -> Dense(horizon)."""

    cfg: ModelConfig
    horizon: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        h = LSTMStack(self.cfg.hidden, self.cfg.layers, self.cfg.dropout)(x, train)[:, -1]
        h = nn.Dropout(self.cfg.dropout, deterministic=not train)(h)
        return nn.Dense(self.horizon, name="head")(h)


class ConvLSTMForecaster(nn.Module):
    """Conv1D along time (ReLU, max-pooling) as a feature extractor feeding an LSTM: the CNN-LSTM."""

    cfg: ModelConfig
    horizon: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = nn.relu(nn.Conv(self.cfg.filters, kernel_size=(self.cfg.kernel_size,), padding="SAME", name="conv")(x))
        if self.cfg.pool_size > 1:
            x = nn.max_pool(x, window_shape=(self.cfg.pool_size,), strides=(self.cfg.pool_size,))
        h = LSTMStack(self.cfg.hidden, self.cfg.layers, self.cfg.dropout)(x, train)[:, -1]
        h = nn.Dropout(self.cfg.dropout, deterministic=not train)(h)
        return nn.Dense(self.horizon, name="head")(h)


class QuantileForecaster(nn.Module):
    """Wraps any forecaster built for horizon * Q outputs into Q quantiles per step,
    <float32>[batch, horizon, Q], that cannot cross: the middle output is the median and every
    other quantile is a sum of positive (softplus) steps away from it. Q is odd, the quantiles
    ascending and symmetric about the median (`intervals.quantile_levels`)."""

    base: nn.Module
    horizon: int
    n_quantiles: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        raw = self.base(x, train).reshape(x.shape[0], self.horizon, self.n_quantiles)
        mid = self.n_quantiles // 2
        median = raw[..., mid : mid + 1]
        above = median + jnp.cumsum(nn.softplus(raw[..., mid + 1 :]), axis=-1)
        below = median - jnp.flip(jnp.cumsum(nn.softplus(jnp.flip(raw[..., :mid], -1)), axis=-1), -1)
        return jnp.concatenate([below, median, above], axis=-1)


@dataclass(frozen=True)
class ModelSpec:
    build: Callable[[ModelConfig, int], nn.Module]
    description: str
    options: tuple[str, ...]


MODELS: dict[str, ModelSpec] = {
    "lstm": ModelSpec(
        LSTMForecaster,
        "LSTM over the lookback window; --layers N stacks N LSTMs (the stacked LSTM)",
        ("hidden", "layers", "dropout"),
    ),
    "conv-lstm": ModelSpec(
        ConvLSTMForecaster,
        "Conv1D feature extractor (ReLU, max-pooling) along time feeding an LSTM (the CNN-LSTM)",
        ("filters", "kernel_size", "pool_size", "hidden", "layers", "dropout"),
    ),
}


assert tuple(MODELS) == MODEL_NAMES, "config.MODEL_NAMES must list the registry"


def build_model(cfg: ModelConfig, horizon: int, n_quantiles: int = 0) -> nn.Module:
    """The forecaster for `cfg`; with `n_quantiles` it predicts that many quantiles per step."""
    if n_quantiles:
        return QuantileForecaster(MODELS[cfg.name].build(cfg, horizon * n_quantiles), horizon, n_quantiles)
    return MODELS[cfg.name].build(cfg, horizon)


def init_params(model: nn.Module, lookback: int, features: int, seed: int) -> dict:
    dummy = jnp.zeros((1, lookback, features), jnp.float32)
    return model.init(jax.random.PRNGKey(seed), dummy, train=False)["params"]


def count_params(params: dict) -> int:
    return int(sum(leaf.size for leaf in jax.tree_util.tree_leaves(params)))
