"""Loss, the pure train step, one compiled `lax.scan` per epoch, early stopping, and `fit`.

The Python loop runs over epochs only. Inside an epoch everything is one XLA program: the
shuffle, the window gather from the device-resident series, and `train_step` scanned over every
minibatch. The batch axis is split over all local devices with `shard_map` (parameters
replicated, gradients summed with `psum`), so the same code runs on one CPU, both cores of a
CPU exposed as two host devices, or several GPUs.

`build_trainer(config, ...)` wires the model, optimiser, loss, mesh and programs from a config;
`build_predict` builds the forecasting program alone (no optimiser, no loss).
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from . import models
from .config import Config, TrainConfig
from .errors import ConfigError
from .intervals import pinball_loss
from .models import apply_model, build_model
from .placement import make_mesh, put, replicate
from .runtime import test_pause
from .strategies import multi_step, target_steps
from .windows import Framing, fork_rows, future_part, gather, split_inputs_targets

log = logging.getLogger(__name__)

Params = Any
LossFn = Callable[[jax.Array, jax.Array], jax.Array]
# (params, values, starts, weights, rng) -> (summed loss, summed gradients) over a batch.
GradFn = Callable[[Params, jax.Array, jax.Array, jax.Array, jax.Array], tuple[jax.Array, Params]]
EVAL_CHUNK = 1024


def make_loss(name: str) -> LossFn:
    """Elementwise loss <float32>[batch, horizon] from predictions and targets of that shape."""
    if name == "mse":
        return lambda pred, target: jnp.square(pred - target)
    if name == "mae":
        return lambda pred, target: jnp.abs(pred - target)
    if name == "huber":
        return lambda pred, target: optax.huber_loss(pred, target, delta=1.0)
    raise ConfigError(f"unknown loss {name!r}")


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    # The learning rate lives in the optimiser state rather than in the program, so `fit` can
    # lower it between epochs without compiling the epoch again.
    adam = optax.inject_hyperparams(optax.adam)(learning_rate=cfg.lr)
    return optax.chain(optax.clip_by_global_norm(cfg.clip_norm), adam)


def with_learning_rate_scaled(opt_state: Any, factor: float) -> Any:
    """A `make_optimizer` state whose learning rate (each member's, for an ensemble) is
    `factor` times the given one's, placed where the compiled epoch expects it."""
    rate = optax.tree_utils.tree_get(opt_state, "learning_rate")
    return optax.tree_utils.tree_set(opt_state, learning_rate=put(rate * factor, rate.sharding))


class EarlyStopping(NamedTuple):
    """Best validation loss so far, its parameters and epoch, and epochs since it improved."""

    best_loss: jax.Array
    best_params: Params
    best_epoch: jax.Array
    wait: jax.Array


def early_stopping_init(params: Params) -> EarlyStopping:
    return EarlyStopping(
        jnp.asarray(jnp.inf, jnp.float32),
        params,
        jnp.asarray(-1, jnp.int32),
        jnp.asarray(0, jnp.int32),
    )


def early_stopping_update(
    state: EarlyStopping, params: Params, val_loss: jax.Array, epoch: int, min_delta: float = 0.0
) -> EarlyStopping:
    improved = val_loss < state.best_loss * (1.0 - min_delta)
    return EarlyStopping(
        best_loss=jnp.where(improved, val_loss, state.best_loss),
        best_params=jax.tree_util.tree_map(
            lambda new, old: jnp.where(improved, new, old), params, state.best_params
        ),
        best_epoch=jnp.where(improved, epoch, state.best_epoch),
        wait=jnp.where(improved, 0, state.wait + 1),
    )


class TrainCarry(NamedTuple):
    """What one minibatch step changes: the weights, the optimiser state, the dropout key."""

    params: Params
    opt_state: Any
    rng: jax.Array


class Batch(NamedTuple):
    """One minibatch: window starts <int32>[batch] and their weights <float32>[batch] (0 for
    the padding that fills the ragged last batch of an epoch)."""

    starts: jax.Array
    weights: jax.Array


def train_step(
    carry: TrainCarry,
    batch: Batch,
    *,
    values: jax.Array,
    grad_fn: GradFn,
    tx: optax.GradientTransformation,
) -> tuple[TrainCarry, jax.Array]:
    """One gradient step on the windows of `batch`, gathered from the device-resident series
    `values` <float32>[total, features]: (carry, batch) -> (carry, summed loss), the shape
    `lax.scan` wants. The gradient is the mean over the batch's real (weight 1) windows."""
    rng, key = jax.random.split(carry.rng)
    total, grads = grad_fn(carry.params, values, batch.starts, batch.weights, key)
    count = jnp.sum(batch.weights)
    grads = jax.tree_util.tree_map(lambda g: g / count, grads)
    updates, opt_state = tx.update(grads, carry.opt_state, carry.params)
    return TrainCarry(optax.apply_updates(carry.params, updates), opt_state, rng), total


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


def make_grad_fn(network: Network, loss_fn: LossFn, mesh: Mesh, forking: bool = False) -> GradFn:
    """The summed loss and gradients of a batch, the batch split over the mesh's devices. With
    `forking` a window's loss is the mean over its forks and horizon steps (`Network.forked`)."""
    lookback, strategy = network.lookback, network.strategy
    window = lookback + network.horizon
    train_window = lookback + target_steps(strategy, network.horizon)

    def local_grads(params, values, starts, weights, rng):
        # Runs on one device's share of the batch; sums are combined across devices below.
        rng = jax.random.fold_in(rng, jax.lax.axis_index("batch"))

        def loss_sum(p):
            if strategy == "recursive":
                x, y = split_inputs_targets(gather(values, starts, train_window), lookback)
                pred = network.model.apply({"params": p}, x, train=True, rngs={"dropout": rng})
                return jnp.sum(jnp.mean(loss_fn(pred, y), axis=-1) * weights)
            windows = gather(values, starts, window)
            if forking:
                pred, y = network.forked(p, windows, train=True, rngs={"dropout": rng})
                return jnp.sum(jnp.mean(loss_fn(pred, y), axis=(-2, -1)) * weights)
            pred, base, scale = network.framed(p, windows, train=True, rngs={"dropout": rng})
            _, y = split_inputs_targets(windows, lookback)
            return jnp.sum(jnp.mean(loss_fn(pred, (y - base) / scale), axis=-1) * weights)

        total, grads = jax.value_and_grad(loss_sum)(params)
        return jax.lax.psum(total, "batch"), jax.lax.psum(grads, "batch")

    return jax.shard_map(
        local_grads,
        mesh=mesh,
        in_specs=(P(), P(), P("batch"), P("batch"), P()),
        out_specs=(P(), P()),
        check_vma=False,  # flax's RNN starts its carry from unvarying zeros
    )


def make_epoch(
    grad_fn: GradFn,
    tx: optax.GradientTransformation,
    batch_size: int,
    epoch_windows: int | None = None,
) -> Callable:
    """(params, opt_state, rng, values, train_starts) -> (params, opt_state, rng, mean loss):
    one pass over `epoch_windows` training windows drawn afresh (default: all) in shuffled
    minibatches, `train_step` scanned over them."""

    def train_epoch(params, opt_state, rng, values, train_starts):
        total = train_starts.shape[0]
        n = min(epoch_windows or total, total)
        n_batches = math.ceil(n / batch_size)
        pad = n_batches * batch_size - n
        rng, shuffle_key = jax.random.split(rng)
        order = jnp.concatenate(
            [jax.random.permutation(shuffle_key, total)[:n], jnp.zeros(pad, jnp.int32)]
        )
        # The ragged last batch is padded to full size with zero-weight windows, so every
        # minibatch has one shape and the whole epoch is a single scan.
        batches = Batch(
            train_starts[order].reshape(n_batches, batch_size),
            jnp.concatenate([jnp.ones(n), jnp.zeros(pad)]).reshape(n_batches, batch_size),
        )
        step = functools.partial(train_step, values=values, grad_fn=grad_fn, tx=tx)
        carry, totals = jax.lax.scan(step, TrainCarry(params, opt_state, rng), batches)
        return carry.params, carry.opt_state, carry.rng, jnp.sum(totals) / n

    return train_epoch


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


def vmap_members(train_epoch: Callable, predict: Callable) -> tuple[Callable, Callable]:
    """One model's epoch and prediction turned into an ensemble's, with `jax.vmap` over the
    leading member axis of parameters, optimiser state and key; the series and window offsets
    are shared. Each member shuffles with its own key, so members differ in the order they see
    the windows as well as in their initialisation; that decorrelates their errors, which is
    what the median gains from, and costs no more than shared batches (the only extra work is
    gathering K batches instead of one, small next to the LSTM)."""
    members_epoch = jax.vmap(train_epoch, in_axes=(0, 0, 0, None, None))

    def ensemble_epoch(params, opt_state, rngs, values, train_starts):
        params, opt_state, rngs, losses = members_epoch(
            params, opt_state, rngs, values, train_starts
        )
        return params, opt_state, rngs, jnp.mean(losses)

    return ensemble_epoch, median_of_members(predict)


def median_of_members(predict: Callable) -> Callable:
    """An ensemble's forecast: the median over the leading member axis of the parameters."""
    members_predict = jax.vmap(predict, in_axes=(0, None, None))
    return lambda params, values, starts: jnp.median(members_predict(params, values, starts), 0)


def make_evaluate(
    network: Network, predict: Callable, loss_fn: LossFn, mesh: Mesh, chunk: int = EVAL_CHUNK
) -> Callable:
    """(params, values, starts) -> the mean validation loss over all windows at `starts` and all
    horizon steps, in the framed units the training loss uses. Scanned over `chunk` windows at a
    time like `make_forecast`: only a chunk's windows are ever gathered, and only the running
    sum of their losses is kept."""
    lookback, horizon = network.lookback, network.horizon
    n_devices = mesh.devices.size

    def chunk_loss(params, values, starts, weights):
        target = gather(values, starts, lookback + horizon)[:, :, 0]
        history, targets = target[:, :lookback], target[:, lookback:]
        _, base, scale = network.framing.frame(history, horizon)
        pred = predict(params, values, starts)
        loss = loss_fn(
            (pred - per_step(base, pred)) / per_step(scale, pred), (targets - base) / scale
        )
        # Every window has as many loss terms, so the mean of the window means is the mean.
        return jnp.sum(jnp.mean(loss.reshape(loss.shape[0], -1), axis=1) * weights)

    def evaluate(params, values, starts):
        chunked, weights = in_chunks(starts, chunk_size(starts.shape[0], n_devices, chunk))
        total, _ = jax.lax.scan(
            lambda total, batch: (total + chunk_loss(params, values, *batch), None),
            jnp.zeros((), jnp.float32),
            (chunked, weights),
        )
        return total / starts.shape[0]

    return evaluate


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


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    train_loss: float
    val_loss: float
    seconds: float
    lr: float


@dataclass(frozen=True)
class FitResult:
    params: Params
    history: list[EpochRecord]
    best_epoch: int
    stopped_early: bool


@dataclass(frozen=True)
class Trainer:
    """Everything training needs, built once per (config, feature layout) by `build_trainer`:
    the network, optimiser, mesh and the compiled programs. With `config.train.ensemble` > 1
    the parameters, optimiser state and key carry a leading member axis and every member trains
    in the same compiled epoch; predictions are the median over members."""

    config: Config
    network: Network
    tx: optax.GradientTransformation
    mesh: Mesh
    train_epoch: Callable
    evaluate: Callable
    predict: Callable

    def initial_params(self, width: int = 1) -> Params:
        """Fresh parameters for `width` input features from `train.seed`; for an ensemble, one
        set per member from seeds seed, seed + 1, ... stacked on a leading member axis."""
        cfg = self.config.train
        network = self.network
        members = [
            models.init_params(
                network.model,
                network.lookback,
                width,
                cfg.seed + k,
                len(network.future),
                network.horizon,
            )
            for k in range(cfg.ensemble)
        ]
        if cfg.ensemble == 1:
            return members[0]
        return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *members)

    def place(self, *trees: Any) -> tuple[Any, ...]:
        return replicate(self.mesh, *trees)

    def start_state(self, params: Params) -> tuple[Any, jax.Array]:
        """The optimiser state and shuffling key(s) that `train_epoch` starts from, placed where
        it leaves them (with the parameters): anything it returns that goes back in placed
        otherwise makes the second epoch compile the whole program again."""
        members = self.config.train.ensemble
        opt_state = self.tx.init(params) if members == 1 else jax.vmap(self.tx.init)(params)
        rng = jax.random.PRNGKey(self.config.train.seed + 1)
        if members > 1:
            rng = jax.random.split(rng, members)
        return put((opt_state, rng), jax.tree_util.tree_leaves(params)[0].sharding)

    def fit(
        self,
        params: Params,
        values: jax.Array,
        train_starts: jax.Array,
        val_starts: jax.Array,
        on_epoch: Callable[[EpochRecord], None] | None = None,
    ) -> FitResult:
        """Train for up to `epochs` epochs; halve the learning rate after every `lr_patience`
        epochs without a better validation loss (lower by more than `min_delta` of the best),
        stop after `patience` such epochs and return the best parameters. An ensemble stops on
        the validation loss of its median forecast. Arguments placed with `place`."""
        cfg = self.config.train
        # The epoch program donates its parameter buffers, so the caller's and the best-so-far
        # copies must not share them.
        params = jax.tree_util.tree_map(jnp.copy, params)
        opt_state, rng = self.start_state(params)
        placement = jax.tree_util.tree_leaves(params)[0].sharding
        stopping = put(early_stopping_init(jax.tree_util.tree_map(jnp.copy, params)), placement)
        # One small program per epoch rather than a dispatch per parameter array.
        update_stopping = jax.jit(early_stopping_update)
        history: list[EpochRecord] = []
        stopped_early = False
        rate = cfg.lr
        for epoch in range(1, cfg.epochs + 1):
            began = time.perf_counter()
            params, opt_state, rng, train_loss = self.train_epoch(
                params, opt_state, rng, values, train_starts
            )
            val_loss = self.evaluate(params, values, val_starts)
            stopping = update_stopping(stopping, params, val_loss, epoch, cfg.min_delta)
            record = EpochRecord(
                epoch, float(train_loss), float(val_loss), time.perf_counter() - began, rate
            )
            if not np.isfinite(record.train_loss):
                raise ConfigError(
                    f"training diverged (loss {record.train_loss} at epoch {epoch}); lower --lr"
                )
            history.append(record)
            wait = int(stopping.wait)
            if cfg.lr_patience and wait and wait % cfg.lr_patience == 0:
                opt_state = with_learning_rate_scaled(opt_state, 0.5)
                rate *= 0.5
            log.debug(
                "epoch %d: train %.5f val %.5f (%.2fs)",
                epoch,
                record.train_loss,
                record.val_loss,
                record.seconds,
            )
            if on_epoch is not None:
                on_epoch(record)
            test_pause(f"epoch:{epoch}")
            if wait >= cfg.patience:
                stopped_early = epoch < cfg.epochs
                break
        return FitResult(stopping.best_params, history, int(stopping.best_epoch), stopped_early)


def build_trainer(config: Config, future: tuple[int, ...] = (), quantiles: tuple = ()) -> Trainer:
    """The trainer of a resolved config (lookback and season length known) for a device matrix
    whose columns `future` are known over the horizon; `quantiles` replaces the point loss with
    the pinball loss of those quantile levels."""
    cfg = config.train
    network = network_for(config, future, len(quantiles))
    loss = pinball_loss(quantiles) if quantiles else make_loss(cfg.loss)
    tx = make_optimizer(cfg)
    mesh = make_mesh(cfg.batch_size)
    train_epoch = make_epoch(
        make_grad_fn(network, loss, mesh, cfg.forking), tx, cfg.batch_size, cfg.epoch_windows
    )
    predict = make_forecast(network, mesh)
    if cfg.ensemble > 1:
        train_epoch, predict = vmap_members(train_epoch, predict)
    # Replicated results can be read on every host of a multi-host run, not only where a
    # shard lives.
    everywhere = NamedSharding(mesh, P())
    return Trainer(
        config=config,
        network=network,
        tx=tx,
        mesh=mesh,
        train_epoch=jax.jit(train_epoch, donate_argnums=(0, 1)),
        evaluate=jax.jit(make_evaluate(network, predict, loss, mesh), out_shardings=everywhere),
        predict=jax.jit(predict, out_shardings=everywhere),
    )
