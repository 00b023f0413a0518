"""Loss, the pure train step, one compiled `lax.scan` per epoch, early stopping, and `fit`.

The Python loop runs over epochs only. Inside an epoch everything is one XLA program: the
shuffle, the window gather from the device-resident series, and `train_step` scanned over every
minibatch. The batch axis is split over all local devices with `shard_map` (parameters
replicated, gradients summed with `psum`), so the same code runs on one CPU, both cores of a
CPU exposed as two host devices, or several GPUs.

`build_trainer(config, ...)` wires the model, optimiser, loss, mesh and programs from a config;
the network and its forecasting program are tsforecast.network's.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from . import models
from .config import Config, TrainConfig
from .errors import ConfigError, StateError
from .intervals import pinball_loss
from .network import (
    EVAL_CHUNK,
    Network,
    Params,
    chunk_size,
    in_chunks,
    make_forecast,
    median_of_members,
    network_for,
    per_step,
)
from .placement import make_mesh, put, replicate
from .runtime import test_pause
from .strategies import target_steps
from .windows import gather, split_inputs_targets

log = logging.getLogger(__name__)

LossFn = Callable[[jax.Array, jax.Array], jax.Array]
# (params, values, starts, weights, rng) -> (summed loss, summed gradients) over a batch.
GradFn = Callable[[Params, jax.Array, jax.Array, jax.Array, jax.Array], tuple[jax.Array, Params]]


def make_loss(name: str) -> LossFn:
    """Elementwise loss <float32>[batch, horizon] from predictions and targets of that shape."""
    if name == "mse":
        return lambda pred, target: jnp.square(pred - target)
    if name == "mae":
        return lambda pred, target: jnp.abs(pred - target)
    if name == "huber":
        return lambda pred, target: optax.huber_loss(pred, target, delta=1.0)
    raise ConfigError(f"unknown loss {name!r}")


def make_optimizer(cfg: TrainConfig, population: bool = False) -> optax.GradientTransformation:
    """Clipping, then Adam (AdamW with weight decay). The learning rate lives in the optimiser
    state rather than in the program, so `fit` can lower it between epochs without compiling the
    epoch again. For a `population` (tsforecast.population) the clip and the weight decay live
    there too, so that each member has its own in one program; a single model keeps them
    constants of the program, whose arithmetic XLA simplifies (its results then differ from a
    population member's in the last bits only)."""
    if population:
        return optax.chain(
            optax.inject_hyperparams(optax.clip_by_global_norm)(max_norm=cfg.clip_norm),
            optax.inject_hyperparams(optax.adamw)(
                learning_rate=cfg.lr, weight_decay=cfg.weight_decay
            ),
        )
    if cfg.weight_decay > 0:
        adam = optax.inject_hyperparams(optax.adamw)(
            learning_rate=cfg.lr, weight_decay=cfg.weight_decay
        )
    else:
        adam = optax.inject_hyperparams(optax.adam)(learning_rate=cfg.lr)
    return optax.chain(optax.clip_by_global_norm(cfg.clip_norm), adam)


def with_input_noise(windows: jax.Array, lookback: int, sigma: float, key: jax.Array) -> jax.Array:
    """`windows` <float32>[batch, window, features] with Gaussian noise of standard deviation
    `sigma` added to the target (feature 0) of their first `lookback` steps, the inputs; the
    targets after them, and covariates, which are known, are left as they are."""
    if sigma == 0:
        return windows
    noise = sigma * jax.random.normal(key, windows.shape[:1] + (lookback,), windows.dtype)
    return windows.at[:, :lookback, 0].add(noise)


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


def make_grad_fn(
    network: Network,
    loss_fn: LossFn,
    mesh: Mesh,
    forking: bool = False,
    input_noise: float = 0.0,
) -> GradFn:
    """The summed loss and gradients of a batch, the batch split over the mesh's devices. With
    `forking` a window's loss is the mean over its forks and horizon steps (`Network.forked`);
    `input_noise`: see `with_input_noise`."""
    lookback, strategy = network.lookback, network.strategy
    window = lookback + network.horizon
    train_window = lookback + target_steps(strategy, network.horizon)

    def local_grads(params, values, starts, weights, rng):
        # Runs on one device's share of the batch; sums are combined across devices below.
        rng = jax.random.fold_in(rng, jax.lax.axis_index("batch"))
        # A key of its own, so that the dropout masks are those of a run without noise.
        noise_key = jax.random.fold_in(rng, 1)

        def inputs(length):
            windows = gather(values, starts, length)
            return with_input_noise(windows, lookback, input_noise, noise_key)

        def loss_sum(p):
            if strategy == "recursive":
                x, y = split_inputs_targets(inputs(train_window), lookback)
                pred = network.model.apply({"params": p}, x, train=True, rngs={"dropout": rng})
                return jnp.sum(jnp.mean(loss_fn(pred, y), axis=-1) * weights)
            windows = inputs(window)
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


# Training windows up to which an epoch draws its windows from a permutation of all of them
# (without repeats); beyond, with repeats, in memory of the windows drawn. Above every panel
# the defaults were chosen on (M4 Hourly has 0.33 million).
SHUFFLED_WHOLE = 4_000_000


def draw_windows(key: jax.Array, total: int, n: int) -> jax.Array:
    """The positions of the `n` of `total` training windows an epoch trains on, in order."""
    if n < total and total > SHUFFLED_WHOLE:
        # A permutation of every window is sorted, at about 50 bytes a window; n windows drawn
        # from many more repeat few (n² / 2 x total of them: 300 of 50,000 in 4 million).
        return jax.random.randint(key, (n,), 0, total)
    return jax.random.permutation(key, total)[:n]


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
        order = jnp.concatenate([draw_windows(shuffle_key, total, n), jnp.zeros(pad, jnp.int32)])
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
                raise StateError(
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


@dataclass(frozen=True)
class Programs:
    """The uncompiled pieces of a config's trainer, for one model: what `build_trainer` and a
    population (tsforecast.population) compile."""

    network: Network
    loss: LossFn
    tx: optax.GradientTransformation
    mesh: Mesh
    train_epoch: Callable
    predict: Callable


def programs(
    config: Config, future: tuple[int, ...] = (), quantiles: tuple = (), population: bool = False
) -> Programs:
    """One model's epoch and forecast of a resolved config (lookback and season length known)
    for a device matrix whose columns `future` are known over the horizon; `quantiles` replaces
    the point loss with the pinball loss of those quantile levels; `population`: see
    `make_optimizer`."""
    cfg = config.train
    network = network_for(config, future, len(quantiles))
    loss = pinball_loss(quantiles) if quantiles else make_loss(cfg.loss)
    tx = make_optimizer(cfg, population)
    mesh = make_mesh(cfg.batch_size)
    train_epoch = make_epoch(
        make_grad_fn(network, loss, mesh, cfg.forking, cfg.input_noise),
        tx,
        cfg.batch_size,
        cfg.epoch_windows,
    )
    return Programs(network, loss, tx, mesh, train_epoch, make_forecast(network, mesh))


# Replicated results can be read on every host of a multi-host run, not only where a shard lives.
def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def build_trainer(config: Config, future: tuple[int, ...] = (), quantiles: tuple = ()) -> Trainer:
    """The trainer of a resolved config: `programs`, compiled; an ensemble's as one program
    over its members."""
    parts = programs(config, future, quantiles)
    train_epoch, predict = parts.train_epoch, parts.predict
    if config.train.ensemble > 1:
        train_epoch, predict = vmap_members(train_epoch, predict)
    return Trainer(
        config=config,
        network=parts.network,
        tx=parts.tx,
        mesh=parts.mesh,
        train_epoch=jax.jit(train_epoch, donate_argnums=(0, 1)),
        evaluate=jax.jit(
            make_evaluate(parts.network, predict, parts.loss, parts.mesh),
            out_shardings=replicated(parts.mesh),
        ),
        predict=jax.jit(predict, out_shardings=replicated(parts.mesh)),
    )
