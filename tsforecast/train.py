"""Loss, the pure train step, one compiled `lax.scan` per epoch, early stopping, and `fit`.

The Python loop runs over epochs only. Inside an epoch everything is one XLA program: the
shuffle, the window gather from the device-resident series, every minibatch's gradient step.
The batch axis is split over all local devices with `shard_map` (parameters replicated,
gradients summed with `psum`), so the same code runs on one CPU, both cores of a CPU exposed
as two host devices, or several GPUs.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from .config import TrainConfig
from .errors import ConfigError
from .models import apply_model
from .strategies import multi_step, target_steps
from .windows import Framing, future_part, gather, split_inputs_targets

log = logging.getLogger(__name__)

Params = Any
LossFn = Callable[[jax.Array, jax.Array], jax.Array]
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


def scale_learning_rate(opt_state: Any, factor: float) -> None:
    """Multiply the learning rate held in a `make_optimizer` state (each member's, for an
    ensemble) by `factor`, in place, keeping the array where the compiled epoch expects it."""
    hyperparams = opt_state[1].hyperparams
    rate = hyperparams["learning_rate"]
    hyperparams["learning_rate"] = jax.device_put(rate * factor, rate.sharding)


def make_mesh(batch_size: int) -> Mesh:
    """A 1-D mesh over as many local devices as divide the batch evenly."""
    devices = jax.devices()
    n = max(d for d in range(1, len(devices) + 1) if batch_size % d == 0)
    return Mesh(np.asarray(devices[:n]), ("batch",))


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


@jax.jit
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


@dataclass(frozen=True)
class Programs:
    """The compiled pieces of training, built once per (model, data shape, config)."""

    train_epoch: Callable
    evaluate: Callable
    predict: Callable


def per_step(frame: jax.Array, pred: jax.Array) -> jax.Array:
    """A window's frame <float32>[n, H or 1] shaped to broadcast against its forecast: [n, H]
    from a point model, [n, H, Q] from a quantile model."""
    return frame.reshape(frame.shape + (1,) * (pred.ndim - 2))


def build_programs(
    model: nn.Module,
    tx: optax.GradientTransformation,
    loss_fn: LossFn,
    lookback: int,
    horizon: int,
    batch_size: int,
    mesh: Mesh,
    future: tuple[int, ...] = (),
    framing: Framing = Framing(),
    epoch_windows: int | None = None,
    ensemble: int = 1,
    strategy: str = "direct",
) -> Programs:
    """`future`: the feature columns the model sees over the horizon; `framing`: how each
    window's target is normalised before the network (the loss is taken in those units);
    `epoch_windows`: train each epoch on that many windows drawn afresh (default: all). With
    `ensemble` > 1 the parameters, optimiser state and key carry a leading member axis and every
    member trains in the same compiled epoch; predictions are the median over members.
    `strategy` (see tsforecast.strategies) sets how many steps training targets and how the
    evaluate and predict programs turn the model's outputs into `horizon` steps; a recursive
    model reads the target alone in plain per-series units (workflow checks that)."""
    window = lookback + horizon
    train_window = lookback + target_steps(strategy, horizon)
    forecaster = multi_step(model, strategy, horizon)

    # Forecasting reads the horizon rows after a window only for future-known features; without
    # them it reads the lookback alone, so a window may end at the last row of the panel.
    forward_length = window if future else lookback

    def framed(params, windows, **kwargs):
        """The network's output in framed units from gathered windows <float32>[n, >=L, features],
        and the frame (base, scale) that maps it back to standardised units."""
        x = windows[:, :lookback, :]
        loc, base, scale = framing.frame(x[:, :, 0], horizon)
        pred = apply_model(
            model,
            params,
            framing.inputs(x, loc, scale),
            future_part(windows, lookback, future),
            **kwargs,
        )
        return pred, base, scale

    def local_grads(params, values, starts, weights, rng):
        # Runs on one device's share of the batch; sums are combined across devices below.
        rng = jax.random.fold_in(rng, jax.lax.axis_index("batch"))

        def loss_sum(p):
            if strategy == "recursive":
                x, y = split_inputs_targets(gather(values, starts, train_window), lookback)
                pred = model.apply({"params": p}, x, train=True, rngs={"dropout": rng})
                return jnp.sum(jnp.mean(loss_fn(pred, y), axis=-1) * weights)
            windows = gather(values, starts, window)
            pred, base, scale = framed(p, windows, train=True, rngs={"dropout": rng})
            _, y = split_inputs_targets(windows, lookback)
            return jnp.sum(jnp.mean(loss_fn(pred, (y - base) / scale), axis=-1) * weights)

        total, grads = jax.value_and_grad(loss_sum)(params)
        return jax.lax.psum(total, "batch"), jax.lax.psum(grads, "batch")

    batch_grads = jax.shard_map(
        local_grads,
        mesh=mesh,
        in_specs=(P(), P(), P("batch"), P("batch"), P()),
        out_specs=(P(), P()),
        check_vma=False,  # flax's RNN starts its carry from unvarying zeros
    )

    def train_epoch(params, opt_state, rng, values, train_starts):
        """One pass over all training windows in shuffled minibatches; returns the mean loss."""
        total = train_starts.shape[0]
        n = min(epoch_windows or total, total)
        n_batches = math.ceil(n / batch_size)
        pad = n_batches * batch_size - n
        rng, shuffle_key = jax.random.split(rng)
        order = jnp.concatenate(
            [jax.random.permutation(shuffle_key, total)[:n], jnp.zeros(pad, jnp.int32)]
        )
        starts = train_starts[order].reshape(n_batches, batch_size)
        # The ragged last batch is padded to full size with zero-weight windows, so every
        # minibatch has one shape and the whole epoch is a single scan.
        weights = jnp.concatenate([jnp.ones(n), jnp.zeros(pad)]).reshape(n_batches, batch_size)

        def step(carry, batch):
            params, opt_state, rng = carry
            rng, key = jax.random.split(rng)
            batch_starts, batch_weights = batch
            total, grads = batch_grads(params, values, batch_starts, batch_weights, key)
            count = jnp.sum(batch_weights)
            grads = jax.tree_util.tree_map(lambda g: g / count, grads)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state, rng), total

        (params, opt_state, rng), totals = jax.lax.scan(
            step, (params, opt_state, rng), (starts, weights)
        )
        return params, opt_state, rng, jnp.sum(totals) / n

    def local_forward(params, values, starts):
        if strategy == "recursive":
            return forecaster(params, gather(values, starts, lookback))
        pred, base, scale = framed(params, gather(values, starts, forward_length), train=False)
        return pred * per_step(scale, pred) + per_step(base, pred)

    forward = jax.shard_map(
        local_forward,
        mesh=mesh,
        in_specs=(P(), P(), P("batch")),
        out_specs=P("batch"),
        check_vma=False,
    )
    n_devices = mesh.devices.size

    def predict(params, values, starts):
        """Forecasts <float32>[n, horizon] (or [n, horizon, Q] from a quantile model), standardised,
        from the `lookback` values at each start, in fixed-size chunks; the targets need not exist,
        so this also forecasts the future. With future-known features the `horizon` rows after
        each window must exist for them (append them, with any target value, to forecast the future)."""
        n = starts.shape[0]
        chunk = min(EVAL_CHUNK, n_devices * math.ceil(n / n_devices))
        n_chunks = math.ceil(n / chunk)
        padded = jnp.concatenate([starts, jnp.zeros(n_chunks * chunk - n, starts.dtype)])
        _, preds = jax.lax.scan(
            lambda carry, s: (carry, forward(params, values, s)),
            None,
            padded.reshape(n_chunks, chunk),
        )
        return preds.reshape((n_chunks * chunk,) + preds.shape[2:])[:n]

    if ensemble > 1:
        train_epoch, predict = vmap_members(train_epoch, predict)

    def evaluate(params, values, starts):
        """Mean validation loss over all windows at `starts` and all horizon steps, in the
        framed units the training loss uses."""
        windows = gather(values, starts, window)
        x, targets = split_inputs_targets(windows, lookback)
        _, base, scale = framing.frame(x[:, :, 0], horizon)
        pred = predict(params, values, starts)
        return jnp.mean(
            loss_fn((pred - per_step(base, pred)) / per_step(scale, pred), (targets - base) / scale)
        )

    # Replicated results can be read on every host of a multi-host run, not only where a shard lives.
    everywhere = NamedSharding(mesh, P())
    return Programs(
        train_epoch=jax.jit(train_epoch, donate_argnums=(0, 1)),
        evaluate=jax.jit(evaluate, out_shardings=everywhere),
        predict=jax.jit(predict, out_shardings=everywhere),
    )


def vmap_members(train_epoch: Callable, predict: Callable) -> tuple[Callable, Callable]:
    """One model's epoch and prediction turned into an ensemble's, with `jax.vmap` over the
    leading member axis of parameters, optimiser state and key; the series and window offsets
    are shared. Each member shuffles with its own key, so members differ in the order they see
    the windows as well as in their initialisation; that decorrelates their errors, which is
    what the median gains from, and costs no more than shared batches (the only extra work is
    gathering K batches instead of one, small next to the LSTM)."""
    members_epoch = jax.vmap(train_epoch, in_axes=(0, 0, 0, None, None))
    members_predict = jax.vmap(predict, in_axes=(0, None, None))

    def ensemble_epoch(params, opt_state, rngs, values, train_starts):
        params, opt_state, rngs, losses = members_epoch(
            params, opt_state, rngs, values, train_starts
        )
        return params, opt_state, rngs, jnp.mean(losses)

    def ensemble_predict(params, values, starts):
        """The median of the members' forecasts <float32>[n, horizon]."""
        return jnp.median(members_predict(params, values, starts), axis=0)

    return ensemble_epoch, ensemble_predict


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


def start_state(
    tx: optax.GradientTransformation, params: Params, seed: int, members: int = 1
) -> tuple[Any, jax.Array]:
    """The optimiser state and shuffling key(s) that `train_epoch` starts from, placed where it
    leaves them (with the parameters): anything it returns that goes back in placed otherwise
    makes the second epoch compile the whole program again."""
    opt_state = tx.init(params) if members == 1 else jax.vmap(tx.init)(params)
    rng = jax.random.PRNGKey(seed + 1)
    if members > 1:
        rng = jax.random.split(rng, members)
    return jax.device_put((opt_state, rng), jax.tree_util.tree_leaves(params)[0].sharding)


def fit(
    programs: Programs,
    params: Params,
    tx: optax.GradientTransformation,
    values: jax.Array,
    train_starts: jax.Array,
    val_starts: jax.Array,
    cfg: TrainConfig,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> FitResult:
    """Train for up to `cfg.epochs` epochs; halve the learning rate after every `cfg.lr_patience`
    epochs without a better validation loss (lower by more than `cfg.min_delta` of the best),
    stop after `cfg.patience` such epochs and return the best parameters. An ensemble
    (cfg.ensemble > 1, `params` with a leading member axis) stops on the validation loss of its
    median forecast."""
    # The epoch program donates its parameter buffers, so the caller's and the best-so-far
    # copies must not share them.
    params = jax.tree_util.tree_map(jnp.copy, params)
    opt_state, rng = start_state(tx, params, cfg.seed, cfg.ensemble)
    placement = jax.tree_util.tree_leaves(params)[0].sharding
    stopping = jax.device_put(
        early_stopping_init(jax.tree_util.tree_map(jnp.copy, params)), placement
    )
    history: list[EpochRecord] = []
    stopped_early = False
    rate = cfg.lr
    for epoch in range(1, cfg.epochs + 1):
        began = time.perf_counter()
        params, opt_state, rng, train_loss = programs.train_epoch(
            params, opt_state, rng, values, train_starts
        )
        val_loss = programs.evaluate(params, values, val_starts)
        stopping = early_stopping_update(stopping, params, val_loss, epoch, cfg.min_delta)
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
            scale_learning_rate(opt_state, 0.5)
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
        if wait >= cfg.patience:
            stopped_early = epoch < cfg.epochs
            break
    return FitResult(stopping.best_params, history, int(stopping.best_epoch), stopped_early)


def replicate(mesh: Mesh, *trees: Any) -> tuple[Any, ...]:
    """Put arrays (or pytrees of them) on every device of the mesh. The series and window
    offsets are small next to the activations and every device gathers from them; parameters
    must start where the compiled epoch leaves them, or the second epoch compiles again."""
    sharding = NamedSharding(mesh, P())
    return tuple(jax.device_put(tree, sharding) for tree in trees)
