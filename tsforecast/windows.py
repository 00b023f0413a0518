"""Windows as start offsets into one flat array, a time-ordered split, and the on-device gather.

No (N, L) window array is ever built on the host: a window is the integer offset of its first
value in the concatenated panel, and the compiled step slices it out on the device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .errors import DataError


@dataclass(frozen=True)
class WindowSplit:
    """Window starts (offsets into the flat panel) and the series each window belongs to.

    train_part[i] is how many leading values of series i the training windows cover: the
    scaling statistics come from there, and the first validation target is the value after.
    """

    train_starts: np.ndarray
    train_series: np.ndarray
    val_starts: np.ndarray
    val_series: np.ndarray
    train_part: np.ndarray
    val_size: int


def default_val_size(length: int, horizon: int) -> int:
    """Enough validation windows that their targets cover max(horizon, 10% of the series)."""
    return max(1, math.ceil(0.1 * length) - horizon + 1)


def rows_needed(lookback: int, horizon: int, val_size: int) -> int:
    """Shortest series with one training window and `val_size` validation windows that don't overlap."""
    return lookback + 2 * horizon + val_size - 1


def split_windows(offsets: np.ndarray, lookback: int, horizon: int, val_size: int | None) -> WindowSplit:
    """The last `val_size` windows of each series validate; training windows end before the first
    validation target, so no validation target is ever inside a training window."""
    lengths = np.diff(offsets)
    shortest = int(lengths.min())
    val = val_size or default_val_size(shortest, horizon)
    need = rows_needed(lookback, horizon, val)
    if shortest < need:
        raise DataError(
            f"too few rows: lookback {lookback} + 2 x horizon {horizon} + {val} validation windows - 1 "
            f"needs {need} rows per series, the shortest has {shortest}"
        )
    train_starts, train_series, val_starts, val_series, train_part = [], [], [], [], []
    for i, (start, length) in enumerate(zip(offsets[:-1], lengths)):
        n_windows = int(length) - lookback - horizon + 1
        first_val = n_windows - val
        n_train = first_val - horizon + 1
        train_starts.append(start + np.arange(n_train))
        train_series.append(np.full(n_train, i))
        val_starts.append(start + np.arange(first_val, n_windows))
        val_series.append(np.full(val, i))
        train_part.append(first_val + lookback)
    return WindowSplit(
        train_starts=np.concatenate(train_starts).astype(np.int32),
        train_series=np.concatenate(train_series).astype(np.int32),
        val_starts=np.concatenate(val_starts).astype(np.int32),
        val_series=np.concatenate(val_series).astype(np.int32),
        train_part=np.asarray(train_part, dtype=np.int64),
        val_size=val,
    )


def gather(values: jax.Array, starts: jax.Array, length: int) -> jax.Array:
    """Slice `length` consecutive rows at each start, on the device.

    values: <float32>[total, features]; starts: <int32>[n] -> <float32>[n, length, features].
    """
    width = values.shape[1]
    return jax.vmap(lambda s: jax.lax.dynamic_slice(values, (s, 0), (length, width)))(starts)


def split_inputs_targets(windows: jax.Array, lookback: int) -> tuple[jax.Array, jax.Array]:
    """<float32>[n, L + H, features] -> inputs <float32>[n, L, features], targets <float32>[n, H]
    (the target is feature 0)."""
    return windows[:, :lookback, :], windows[:, lookback:, 0]


def standardise(values: np.ndarray, offsets: np.ndarray, train_part: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-series z-scores with mean and std of the training part only.

    Returns (scaled <float32>[total], mean <float64>[n_series], std <float64>[n_series]).
    """
    means, stds = [], []
    scaled = np.empty_like(values, dtype=np.float32)
    for start, stop, n_fit in zip(offsets[:-1], offsets[1:], train_part):
        fit = values[start : start + n_fit].astype(np.float64)
        mean, std = float(fit.mean()), float(fit.std())
        std = std if std > 1e-12 else 1.0
        scaled[start:stop] = (values[start:stop] - mean) / std
        means.append(mean)
        stds.append(std)
    return scaled, np.asarray(means), np.asarray(stds)
