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

from .errors import ConfigError, DataError
from .panel import segment_ranges


@dataclass(frozen=True)
class WindowSplit:
    """Window starts (offsets into the flat panel) and the series each window belongs to
    (`train_counts`: how many training windows each usable series has, in order).

    train_part[i] is how many leading values of series i the training windows cover: the
    scaling statistics come from there, and the first validation target is the value after.
    Series too short for one training and `val_size` validation windows have no windows;
    `usable` marks the others, and their train_part is the whole series. The validation windows
    of a series are every `val_stride`-th of its last `val_size`, the last among them: `val_count`
    of them (every one, unless the panel is so large that they would exceed
    MAX_VALIDATION_VALUES).
    """

    train_starts: np.ndarray
    train_counts: np.ndarray
    val_starts: np.ndarray
    val_series: np.ndarray
    train_part: np.ndarray
    val_size: int
    usable: np.ndarray
    val_stride: int = 1

    @property
    def train_series(self) -> np.ndarray:
        """Each training window's series (made when asked: four bytes a window)."""
        return np.repeat(np.flatnonzero(self.usable), self.train_counts).astype(np.int32)

    @property
    def val_count(self) -> int:
        """Validation windows per series."""
        return -(-self.val_size // self.val_stride)


# Validation targets (windows x horizon) beyond which the windows are thinned to every k-th:
# every judge of them (the validation loss, the serving choice, the interval scores) holds
# arrays of this many values, which would otherwise grow with the panel (a tenth of every
# series). Above every panel the defaults were chosen on (M4 Hourly's are 0.97 million, the
# seven PJM series' 2.9 million at a week's horizon), and a few million scaled errors decide a
# choice per step as well as tens of millions would.
MAX_VALIDATION_VALUES = 4_000_000


def default_val_size(length: int, horizon: int) -> int:
    """Enough validation windows that their targets cover max(horizon, 10% of the series)."""
    return max(1, math.ceil(0.1 * length) - horizon + 1)


def rows_needed(lookback: int, horizon: int, val_size: int) -> int:
    """Shortest series with one training window and `val_size` validation windows that don't
    overlap."""
    return lookback + 2 * horizon + val_size - 1


def typical_length(offsets: np.ndarray) -> int:
    """The median series length: defaults (validation size, lookback) follow the bulk of a
    panel, not its shortest member."""
    return int(np.median(np.diff(offsets)))


def _what_fits(rows: int, lookback: int, horizon: int, val_size: int | None, typical: int) -> str:
    """What a series of `rows` can train with: the largest horizon below `horizon` at this
    lookback, else the longest lookback for this horizon, else a horizon and an equal lookback
    that fit."""

    def fits(lookback: int, horizon: int) -> bool:
        return rows >= rows_needed(
            lookback, horizon, val_size or default_val_size(typical, horizon)
        )

    shorter = next((h for h in range(horizon - 1, 0, -1) if fits(lookback, h)), None)
    if shorter is not None:
        return f"the largest --horizon it allows with lookback {lookback} is {shorter}"
    longest = next((k for k in range(lookback - 1, 0, -1) if fits(k, horizon)), None)
    if longest is not None:
        return f"--horizon {horizon} fits with a --lookback of at most {longest}"
    equal = next((h for h in range(horizon - 1, 0, -1) if fits(h, h)), None)
    if equal is not None:
        return f"it fits, e.g., --horizon {equal} --lookback {equal}"
    return "it is too short to train on"


def split_windows(
    offsets: np.ndarray,
    lookback: int,
    horizon: int,
    val_size: int | None,
    ids: tuple[str, ...] | None = None,
    strict: bool = False,
) -> WindowSplit:
    """The last `val_size` windows of each series validate; training windows end before the first
    validation target, so no validation target is ever inside a training window.

    Series shorter than `rows_needed` are left out (an error with `strict`, or when none is
    long enough)."""
    lengths = np.diff(offsets).astype(np.int64)
    val = val_size or default_val_size(typical_length(offsets), horizon)
    need = rows_needed(lookback, horizon, val)
    usable = lengths >= need
    short = np.flatnonzero(~usable)
    needs = (
        f"lookback {lookback} + 2 x horizon {horizon} + {val} validation windows - 1 needs {need} "
        "rows per series"
    )
    if not usable.any():
        longest = int(lengths.max())
        raise DataError(
            f"too few rows: {needs}, the longest has {longest}; "
            + _what_fits(longest, lookback, horizon, val_size, typical_length(offsets))
        )
    if strict and len(short):
        name = ids[short[0]] if ids else str(short[0])
        raise DataError(
            f"series {name!r} is too short: {needs}, it has {int(lengths[short[0]])} "
            f"({len(short)} series short; drop --strict to skip them)"
        )
    series = np.flatnonzero(usable)
    n_windows = lengths[series] - lookback - horizon + 1
    first_val = n_windows - val
    n_train = first_val - horizon + 1
    train_part = lengths.copy()
    train_part[series] = first_val + lookback
    stride = max(1, -(-len(series) * val * horizon // MAX_VALIDATION_VALUES))
    count = -(-val // stride)
    # Each series' last window is kept: the most recent judge the best.
    within = val - 1 - stride * np.arange(count - 1, -1, -1)
    val_starts = (offsets[series] + first_val)[:, None] + within[None, :]
    return WindowSplit(
        train_starts=segment_ranges(offsets[series], n_train).astype(np.int32),
        train_counts=n_train,
        val_starts=val_starts.reshape(-1).astype(np.int32),
        val_series=np.repeat(series, count).astype(np.int32),
        train_part=train_part,
        val_size=val,
        usable=usable,
        val_stride=stride,
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


def future_part(windows: jax.Array, lookback: int, columns: tuple[int, ...]) -> jax.Array:
    """The future-known feature columns over the horizon: <float32>[n, H, len(columns)]."""
    return windows[:, lookback:, list(columns)] if columns else windows[:, lookback:, :0]


def seasonal_naive_source(lookback: int | np.ndarray, horizon: int, season: int) -> np.ndarray:
    """<int>[horizon]: for each target step, the position inside its input window (0 = the
    window's first step) of the value seasonal naive repeats: the same phase of the latest
    season that lies inside the lookback. An array of lookbacks [k, 1] gives [k, horizon], one
    row per window length (negative where the season does not fit)."""
    steps = np.arange(horizon)
    return lookback + steps - season * (steps // season + 1)


def fork_lengths(lookback: int) -> np.ndarray:
    """<int>[lookback, 1]: how many inputs the forecast made after each step t of a window has
    read (t + 1), shaped for `seasonal_naive_source`."""
    return np.arange(1, lookback + 1)[:, None]


def fork_rows(lookback: int, horizon: int) -> np.ndarray:
    """<int>[lookback, horizon]: for the forecast made after each step t of a window, the
    positions in the window (lookback + horizon rows) of the values it forecasts, t + 1 to
    t + horizon."""
    return fork_lengths(lookback) + np.arange(horizon)


def seasonal_naive_windows(
    series: np.ndarray, starts: np.ndarray, lookback: int, horizon: int, season: int
) -> np.ndarray:
    """Seasonal-naive forecasts <float>[n, horizon] for the windows of one series starting at
    (local) `starts`: each step repeats the value of the latest season before the window's
    end, read from the whole series, so a season longer than the lookback works too."""
    source = starts[:, None] + seasonal_naive_source(lookback, horizon, season)[None, :]
    return series[np.clip(source, 0, None)]


@dataclass(frozen=True)
class Framing:
    """How a window's target is put in front of the network.

    normalize "series": the per-series z-scores as they are; "window": each input window is
    further centred and scaled by its own mean and std (RevIN without the affine part), so the
    network sees shapes, not levels. residual "seasonal": the network learns the correction of
    the window's seasonal-naive forecast instead of the values themselves; "blend": the model
    adds a learned share of that forecast itself (models.SeasonalBlend), so the frame is the
    window's level, as with "none". `seasons`: the periods the blend reads (all inside the
    lookback), the primary first, which alone "seasonal" subtracts.
    """

    normalize: str = "series"
    residual: str = "none"
    seasons: tuple[int, ...] = (1,)

    @property
    def active(self) -> bool:
        """Whether windows are framed at all (the defaults pass the z-scores through)."""
        return self.normalize != "series" or self.residual != "none"

    def frame(self, history: jax.Array, horizon: int) -> tuple[jax.Array, jax.Array, jax.Array]:
        """history <float32>[n, L] -> (loc [n, 1], base [n, H], scale [n, 1]): the network's
        input is (history - loc) / scale, its target (y - base) / scale."""
        n, lookback = history.shape
        if self.normalize == "window":
            loc = jnp.mean(history, axis=1, keepdims=True)
            # The floor keeps a flat window (std 0) from blowing up its targets.
            scale = jnp.sqrt(jnp.var(history, axis=1, keepdims=True) + 1e-3)
        else:
            loc, scale = jnp.zeros((n, 1), history.dtype), jnp.ones((n, 1), history.dtype)
        if self.residual == "seasonal":
            base = history[:, seasonal_naive_source(lookback, horizon, self.seasons[0])]
        else:
            base = jnp.broadcast_to(loc, (n, horizon))
        return loc, base, scale

    def inputs(self, x: jax.Array, loc: jax.Array, scale: jax.Array) -> jax.Array:
        """x <float32>[n, L, features] with the target feature (0) framed."""
        return x.at[:, :, 0].set((x[:, :, 0] - loc) / scale)

    @property
    def first_fork(self) -> int:
        """The first step of a window after which a forecast can be trained with forking: the
        longest period the residual reads must lie inside the inputs read so far."""
        periods = {"none": (1,), "seasonal": self.seasons[:1], "blend": self.seasons}
        return max(periods[self.residual]) - 1

    def fork_bases(self, history: jax.Array, horizon: int) -> jax.Array:
        """history <float32>[n, L] -> base <float32>[n, L, H]: the frame of the forecast made
        after each step t of the window from its inputs 0..t, whose target is y - base. The
        inputs are the same for every fork, which only per-series scaling allows (the scale is
        1); a window's own mean and std would differ from fork to fork."""
        if self.normalize != "series":
            raise ConfigError(f"forking needs --normalize series, not {self.normalize}")
        n, lookback = history.shape
        if self.residual != "seasonal":
            return jnp.zeros((n, lookback, horizon), history.dtype)
        source = seasonal_naive_source(fork_lengths(lookback), horizon, self.seasons[0])
        # Forks before `first_fork` read position 0 here and are not trained on.
        return history[:, np.maximum(source, 0)]


def segment_stats(
    values: np.ndarray, offsets: np.ndarray, counts: np.ndarray, from_end: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the first (or last) `counts[i]` rows of every series, per column, with
    segment sums (`np.add.reduceat`, two passes): no loop over series, and no cancellation
    between series as with running sums. values: <float>[total, k] -> <float64>[n_series, k]
    twice; a constant column gets std 1 so it scales to zeros, not NaNs."""
    x = values.astype(np.float64).reshape(len(values), -1)
    counts = np.asarray(counts, dtype=np.int64)
    lo = offsets[1:] - counts if from_end else offsets[:-1].astype(np.int64)
    # reduceat sums [edges[j], edges[j + 1]); the odd segments (between series) are dropped, and
    # a zero row lets the last segment end at the end of the array.
    edges = np.stack([lo, lo + counts], axis=1).reshape(-1)
    padded = np.concatenate([x, np.zeros((1, x.shape[1]))])
    n = counts[:, None].astype(np.float64)
    mean = np.add.reduceat(padded, edges, axis=0)[::2] / n
    lengths = np.diff(offsets)
    centred = padded - np.concatenate([np.repeat(mean, lengths, axis=0), np.zeros((1, x.shape[1]))])
    std = np.sqrt(np.add.reduceat(centred * centred, edges, axis=0)[::2] / n)
    return mean, np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0)


def scale_rows(
    values: np.ndarray, offsets: np.ndarray, mean: np.ndarray, std: np.ndarray
) -> np.ndarray:
    """(values - mean of its series) / std of its series. values: <float>[total, k]."""
    lengths = np.diff(offsets)
    x = values.astype(np.float64).reshape(len(values), -1)
    return ((x - np.repeat(mean, lengths, axis=0)) / np.repeat(std, lengths, axis=0)).astype(
        np.float32
    )


def standardise(
    values: np.ndarray, offsets: np.ndarray, train_part: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-series z-scores with mean and std of the training part only.

    values: <float>[total] or [total, k]. Returns (scaled <float32>, the values' shape;
    mean <float64>[n_series(, k)], std likewise).
    """
    mean, std = segment_stats(values, offsets, train_part)
    scaled = scale_rows(values, offsets, mean, std)
    if values.ndim == 1:
        return scaled[:, 0], mean[:, 0], std[:, 0]
    return scaled, mean, std
