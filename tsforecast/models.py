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


class WithFutureCovariates(nn.Module):
    """Any model of the registry plus the future-known covariates of the horizon
    <float32>[batch, horizon, k]: a small MLP reads the model's forecast with the flattened
    covariates and adds a correction per step, zero at initialisation, so the wrapped model
    trains as it would alone until the covariates help. A quantile forecast [batch, horizon, Q]
    shifts all its quantiles by the step's correction, so they still cannot cross."""

    base: nn.Module
    horizon: int
    hidden: int

    @nn.compact
    def __call__(self, x: jax.Array, future: jax.Array, train: bool = False) -> jax.Array:
        forecast = self.base(x, train)
        joint = jnp.concatenate([forecast.reshape(x.shape[0], -1), future.reshape(future.shape[0], -1)], axis=-1)
        hidden = nn.relu(nn.Dense(self.hidden, name="future_hidden")(joint))
        correction = nn.Dense(self.horizon, kernel_init=nn.initializers.zeros, name="future_head")(hidden)
        return forecast + correction.reshape(correction.shape + (1,) * (forecast.ndim - 2))


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


def build_model(cfg: ModelConfig, horizon: int, n_quantiles: int = 0, n_future: int = 0) -> nn.Module:
    """The forecaster for `cfg`; with `n_quantiles` it predicts that many quantiles per step, and
    with `n_future` future-known features it is wrapped to see their horizon values."""
    if n_quantiles:
        model = QuantileForecaster(MODELS[cfg.name].build(cfg, horizon * n_quantiles), horizon, n_quantiles)
    else:
        model = MODELS[cfg.name].build(cfg, horizon)
    return WithFutureCovariates(model, horizon, cfg.hidden) if n_future else model


def apply_model(model: nn.Module, params: dict, x: jax.Array, future: jax.Array, **kwargs) -> jax.Array:
    """Forecasts <float32>[batch, horizon] from x <float32>[batch, lookback, features] and, for a
    wrapped model, future <float32>[batch, horizon, k]."""
    if isinstance(model, WithFutureCovariates):
        return model.apply({"params": params}, x, future, **kwargs)
    return model.apply({"params": params}, x, **kwargs)


def init_params(model: nn.Module, lookback: int, features: int, seed: int, n_future: int = 0, horizon: int = 1) -> dict:
    dummy = jnp.zeros((1, lookback, features), jnp.float32)
    key = jax.random.PRNGKey(seed)
    if isinstance(model, WithFutureCovariates):
        return model.init(key, dummy, jnp.zeros((1, horizon, n_future), jnp.float32), train=False)["params"]
    return model.init(key, dummy, train=False)["params"]


def count_params(params: dict) -> int:
    return int(sum(leaf.size for leaf in jax.tree_util.tree_leaves(params)))
