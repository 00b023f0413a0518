"""The network in front of standardised windows (`Network`: framing, model, multi-step
strategy) and its compiled forecasting program, `chunk` windows at a time; what training and
forecasting share. `build_predict` builds the program of a saved model's config."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from .config import Config
from .errors import ConfigError
from .models import apply_model, build_model
from .placement import make_mesh
from .strategies import multi_step
from .windows import Framing, fork_rows, future_part, gather

Params = Any
EVAL_CHUNK = 1024


def per_step(frame: jax.Array, pred: jax.Array) -> jax.Array:
    """A window's frame <float32>[n, H or 1] shaped to broadcast against its forecast: [n, H]
    from a point model, [n, H, Q] from a quantile model."""
    return frame.reshape(frame.shape + (1,) * (pred.ndim - 2))


@dataclass(frozen=True)
class Network:
    """A model in front of standardised windows: how a window is framed (`framing`), which
    feature columns it sees over the horizon (`future`), and the multi-step `strategy` (see
    tsforecast.strategies); a recursive model reads the target alone in plain per-series units."""

    model: nn.Module
    lookback: int
    horizon: int
    framing: Framing = Framing()
    future: tuple[int, ...] = ()
    strategy: str = "direct"

    def framed(self, params, windows, **kwargs):
        """The network's output in framed units from gathered windows <float32>[n, >=L, features],
        and the frame (base, scale) that maps it back to standardised units."""
        x = windows[:, : self.lookback, :]
        loc, base, scale = self.framing.frame(x[:, :, 0], self.horizon)
        pred = apply_model(
            self.model,
            params,
            self.framing.inputs(x, loc, scale),
            future_part(windows, self.lookback, self.future),
            **kwargs,
        )
        return pred, base, scale

    def forward(self, params, values, starts):
        """Standardised forecasts <float32>[n, H(, Q)] from the windows at `starts`. Forecasting
        reads the horizon rows after a window only for future-known features; without them it
        reads the lookback alone, so a window may end at the last row of the panel."""
        if self.strategy == "recursive":
            forecaster = multi_step(self.model, self.strategy, self.horizon)
            return forecaster(params, gather(values, starts, self.lookback))
        length = self.lookback + self.horizon if self.future else self.lookback
        pred, base, scale = self.framed(params, gather(values, starts, length), train=False)
        return pred * per_step(scale, pred) + per_step(base, pred)

    def forked(self, params, windows, **kwargs):
        """Forking sequences (MQ-RNN): from gathered windows <float32>[n, L + H, features], the
        forecasts <float32>[n, F, H(, Q)] made after each fork t = first_fork .. L - 1 from the
        inputs 0..t alone, and their targets [n, F, H] (the H values after t), framed. The last
        fork's is `framed`'s forecast."""
        lookback, horizon = self.lookback, self.horizon
        ahead = windows[:, fork_rows(lookback, horizon)]  # [n, L, H, features]
        future = ahead[..., list(self.future)] if self.future else ahead[..., :0]
        pred = apply_model(
            self.model, params, windows[:, :lookback], future, all_steps=True, **kwargs
        )
        target = ahead[..., 0] - self.framing.fork_bases(windows[:, :lookback, 0], horizon)
        first = self.framing.first_fork
        return pred[:, first:], target[:, first:]


def chunk_size(n: int, n_devices: int, largest: int = EVAL_CHUNK) -> int:
    """How many windows one step of a chunked program reads: `largest`, or all `n` when fewer,
    rounded up to whole devices so that every chunk splits evenly over the mesh."""
    return n_devices * math.ceil(min(largest, n) / n_devices)


def in_chunks(starts: jax.Array, chunk: int) -> tuple[jax.Array, jax.Array]:
    """Window starts <int32>[n] padded with start 0 to whole chunks: <int32>[n_chunks, chunk],
    and the weights <float32>[n_chunks, chunk] (0 for the padding)."""
    n = starts.shape[0]
    n_chunks = math.ceil(n / chunk)
    pad = n_chunks * chunk - n
    padded = jnp.concatenate([starts, jnp.zeros(pad, starts.dtype)])
    weights = jnp.concatenate([jnp.ones(n, jnp.float32), jnp.zeros(pad, jnp.float32)])
    return padded.reshape(n_chunks, chunk), weights.reshape(n_chunks, chunk)


def make_forecast(network: Network, mesh: Mesh, chunk: int = EVAL_CHUNK) -> Callable:
    """(params, values, starts) -> forecasts <float32>[n, horizon] (or [n, horizon, Q] from a
    quantile model), standardised, from the `lookback` values at each start, `chunk` windows at
    a time (one `lax.scan`, so memory does not grow with the number of windows beyond the
    forecasts themselves); the targets need not exist, so this also forecasts the future. With
    future-known features the `horizon` rows after each window must exist for them (append
    them, with any target value, to forecast the future)."""
    forward = jax.shard_map(
        network.forward,
        mesh=mesh,
        in_specs=(P(), P(), P("batch")),
        out_specs=P("batch"),
        check_vma=False,
    )
    n_devices = mesh.devices.size

    def predict(params, values, starts):
        n = starts.shape[0]
        chunked, _ = in_chunks(starts, chunk_size(n, n_devices, chunk))
        _, preds = jax.lax.scan(lambda carry, s: (carry, forward(params, values, s)), None, chunked)
        return preds.reshape((-1,) + preds.shape[2:])[:n]

    return predict


def median_of_members(predict: Callable) -> Callable:
    """An ensemble's forecast: the median over the leading member axis of the parameters."""
    members_predict = jax.vmap(predict, in_axes=(0, None, None))
    return lambda params, values, starts: jnp.median(members_predict(params, values, starts), 0)


def framing_for(config: Config) -> Framing:
    """How the windows of a model with this (resolved) config are framed: the blend reads every
    seasonal period that fits in the lookback."""
    lookback = config.window.lookback
    seasons = config.data.season_length or (1,)
    if config.model.residual == "seasonal" and seasons[0] > lookback:
        raise ConfigError(
            f"--residual seasonal needs --lookback of at least the season length {seasons[0]}, "
            f"got {lookback}; use a longer --lookback or --residual none"
        )
    # A window shorter than every season still blends in its last value (naive).
    fitting = tuple(m for m in seasons if m <= lookback) or (1,)
    return Framing(config.model.normalize, config.model.residual, fitting)


def network_for(config: Config, future: tuple[int, ...], n_quantiles: int) -> Network:
    """The model of a resolved config (lookback and season known) seeing `future` columns."""
    framing = framing_for(config)
    horizon = config.window.horizon
    model = build_model(config.model, horizon, n_quantiles, len(future), framing.seasons)
    return Network(
        model, config.window.lookback, horizon, framing, tuple(future), config.model.strategy
    )


def build_predict(
    config: Config, future: tuple[int, ...] = (), n_quantiles: int = 0, mesh: Mesh | None = None
) -> Callable:
    """The compiled forecasting program of a model with this config (see `make_forecast`;
    an ensemble's is the median of its members), on `mesh` (default: one device)."""
    mesh = mesh or make_mesh(1)
    predict = make_forecast(network_for(config, future, n_quantiles), mesh)
    if config.train.ensemble > 1:
        predict = median_of_members(predict)
    return jax.jit(predict, out_shardings=NamedSharding(mesh, P()))
