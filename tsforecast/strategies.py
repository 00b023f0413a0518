"""Multi-step forecasting strategies: how a model's outputs become `horizon` future steps.

direct: the head outputs all steps at once; the model is trained on all of them.
recursive: the head outputs the next step; the model is trained on that one step, and forecasts
by sliding its window forward over its own predictions `horizon` times, in one lax.scan.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from .errors import ConfigError

Forecaster = Callable[[Any, jax.Array], jax.Array]


def require_supported(strategy: str, features: int, framed: bool = False) -> None:
    """A recursive forecast feeds each prediction back as the next input, which is only
    possible when the target is the model's only input, in the units it was predicted in."""
    if strategy != "recursive":
        return
    if features != 1:
        raise ConfigError(
            "--strategy recursive needs the target as the only input feature, "
            f"the data has {features}; use --strategy direct"
        )
    if framed:
        raise ConfigError(
            "--strategy recursive works on per-series values: "
            "drop --normalize window and --residual seasonal, "
            "or use --strategy direct"
        )


def target_steps(strategy: str, horizon: int) -> int:
    """How many steps after each input window the model is trained to predict."""
    return horizon if strategy == "direct" else 1


def multi_step(model: nn.Module, strategy: str, horizon: int) -> Forecaster:
    """(params, inputs <float32>[n, lookback, features]) -> forecasts <float32>[n, horizon],
    in inference mode (no dropout)."""

    def apply(params: Any, x: jax.Array) -> jax.Array:
        return model.apply({"params": params}, x, train=False)

    if strategy == "direct":
        return apply

    def recursive(params: Any, x: jax.Array) -> jax.Array:
        require_supported(strategy, x.shape[-1])

        def step(window: jax.Array, _: None) -> tuple[jax.Array, jax.Array]:
            next_value = apply(params, window)  # <float32>[n, 1]
            return jnp.concatenate([window[:, 1:], next_value[:, :, None]], axis=1), next_value[
                :, 0
            ]

        _, steps = jax.lax.scan(step, x, None, length=horizon)
        return steps.T

    return recursive
