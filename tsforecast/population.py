"""A population: configurations that differ only in their optimiser settings (learning rate,
weight decay, gradient clip) and seed, trained together as one compiled program.

Those settings live in the optimiser state and the initial weights, not in the program
(`trainer.make_optimizer`), so K members are K rows of one `jax.vmap` of the epoch, compiled
once, as an ensemble's seeds are; a member that is itself an ensemble of E seeds takes E rows.
Each member keeps its own early stopping, learning-rate halving and best weights, exactly as
`Trainer.fit` keeps them for one model; a member that stops (patience, divergence or a pruner)
is masked out of that bookkeeping while the program goes on unchanged, never recompiled. A
member's result equals its configuration trained alone, to float tolerance.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .config import Config
from .forecast import quantiles_of
from .network import median_of_members
from .placement import replicate
from .trainer import EpochRecord, FitResult, make_evaluate, programs, replicated
from .training import Prepared

# The TrainConfig fields a population's members may differ in.
MEMBER_FIELDS = ("lr", "weight_decay", "clip_norm", "seed")


@dataclass(frozen=True)
class Member:
    """One member's optimiser settings and seed."""

    lr: float
    weight_decay: float
    clip_norm: float
    seed: int

    @classmethod
    def of(cls, config: Config) -> Member:
        return cls(**{name: getattr(config.train, name) for name in MEMBER_FIELDS})

    def applied(self, config: Config) -> Config:
        """`config` with this member's settings."""
        return dataclasses.replace(
            config, train=dataclasses.replace(config.train, **dataclasses.asdict(self))
        )


# Called after every epoch with the epoch, each member's record (None once it stopped) and
# returns the members to stop now (a pruner's verdict).
OnPopulationEpoch = Callable[[int, list[EpochRecord | None]], Sequence[int]]


def _rows(mask: jax.Array, per_member: int, like: jax.Array) -> jax.Array:
    """A per-member mask <bool>[K] repeated over each member's rows and shaped to broadcast
    against a leaf <...>[K * per_member, ...]."""
    rows = jnp.repeat(mask, per_member)
    return rows.reshape(rows.shape + (1,) * (like.ndim - 1))


def _update_stopping(stopping, params, val_loss, epoch, active, min_delta, per_member):
    """`trainer.early_stopping_update` per member, for the members still `active` only."""
    best_loss, best_params, best_epoch, wait = stopping
    improved = active & (val_loss < best_loss * (1.0 - min_delta))
    return (
        jnp.where(improved, val_loss, best_loss),
        jax.tree_util.tree_map(
            lambda new, old: jnp.where(_rows(improved, per_member, new), new, old),
            params,
            best_params,
        ),
        jnp.where(improved, epoch, best_epoch),
        jnp.where(improved, 0, jnp.where(active, wait + 1, wait)),
    )


def fit_population(
    run: Prepared, members: Sequence[Member], on_epoch: OnPopulationEpoch | None = None
) -> list[FitResult | None]:
    """Train `members` (each `run.config` with its settings) on `run`'s windows in one program;
    each member's FitResult as `Trainer.fit` would give it alone, None for one that diverged."""
    config = run.config
    cfg = config.train
    per_member, k = cfg.ensemble, len(members)
    parts = programs(config, run.features.future, quantiles_of(config), population=True)
    epoch_program = jax.jit(
        jax.vmap(parts.train_epoch, in_axes=(0, 0, 0, None, None)), donate_argnums=(0, 1)
    )
    member_predict = median_of_members(parts.predict) if per_member > 1 else parts.predict
    evaluate = jax.jit(
        jax.vmap(
            make_evaluate(parts.network, member_predict, parts.loss, parts.mesh),
            in_axes=(0, None, None),
        ),
        out_shardings=replicated(parts.mesh),
    )

    def by_member(tree):
        if per_member == 1:
            return tree
        return jax.tree_util.tree_map(lambda x: x.reshape((k, per_member) + x.shape[1:]), tree)

    def initial(member: Member):
        trainer = dataclasses.replace(run.trainer, config=member.applied(config))
        params = trainer.initial_params(run.features.width)
        key = jax.random.PRNGKey(member.seed + 1)
        if per_member == 1:
            return jax.tree_util.tree_map(lambda x: x[None], params), key[None]
        return params, jax.random.split(key, per_member)

    starts = [initial(member) for member in members]
    params = jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs), *[p for p, _ in starts])
    rngs = jnp.concatenate([key for _, key in starts])
    opt_state = jax.vmap(parts.tx.init)(params)
    each_row = {
        "learning_rate": [m.lr for m in members],
        "weight_decay": [m.weight_decay for m in members],
        "max_norm": [m.clip_norm for m in members],
    }
    opt_state = optax.tree_utils.tree_set(
        opt_state,
        **{
            name: jnp.repeat(jnp.asarray(values, jnp.float32), per_member)
            for name, values in each_row.items()
        },
    )
    params, opt_state, rngs, values, train_starts, val_starts = replicate(
        parts.mesh, params, opt_state, rngs, run.values, run.train_starts, run.val_starts
    )
    stopping = replicate(
        parts.mesh,
        (
            jnp.full(k, jnp.inf, jnp.float32),
            jax.tree_util.tree_map(jnp.copy, params),
            jnp.full(k, -1, jnp.int32),
            jnp.zeros(k, jnp.int32),
        ),
    )[0]
    update_stopping = jax.jit(_update_stopping, static_argnums=(6,))

    active = np.ones(k, bool)
    diverged = np.zeros(k, bool)
    stopped_at = np.full(k, cfg.epochs)
    rates = np.asarray(each_row["learning_rate"], np.float64)
    histories: list[list[EpochRecord]] = [[] for _ in members]
    for epoch in range(1, cfg.epochs + 1):
        began = time.perf_counter()
        params, opt_state, rngs, row_losses = epoch_program(
            params, opt_state, rngs, values, train_starts
        )
        val_loss = evaluate(by_member(params), values, val_starts)
        train_loss = np.asarray(row_losses).reshape(k, per_member).mean(axis=1)
        seconds = time.perf_counter() - began
        diverged |= active & ~np.isfinite(train_loss)
        active &= ~diverged
        stopping = update_stopping(
            stopping, params, val_loss, epoch, jnp.asarray(active), cfg.min_delta, per_member
        )
        wait = np.asarray(stopping[3])
        val = np.asarray(val_loss)
        records: list[EpochRecord | None] = [None] * k
        for i in np.flatnonzero(active):
            records[i] = EpochRecord(
                epoch, float(train_loss[i]), float(val[i]), seconds, float(rates[i])
            )
            histories[i].append(records[i])
        halve = active & (wait > 0) & (cfg.lr_patience > 0)
        halve &= wait % max(cfg.lr_patience, 1) == 0
        if halve.any():
            factor = np.repeat(np.where(halve, 0.5, 1.0), per_member).astype(np.float32)
            rate = optax.tree_utils.tree_get(opt_state, "learning_rate")
            opt_state = optax.tree_utils.tree_set(
                opt_state, learning_rate=jax.device_put(rate * factor, rate.sharding)
            )
            rates = np.where(halve, rates * 0.5, rates)
        stop = active & (wait >= cfg.patience)
        if on_epoch is not None:
            for i in on_epoch(epoch, records):
                stop[i] = stop[i] or active[i]
        stopped_at = np.where(stop, epoch, stopped_at)
        active &= ~stop
        if not active.any():
            break

    best_params, best_epoch = stopping[1], np.asarray(stopping[2])
    results: list[FitResult | None] = []
    for i in range(k):
        if diverged[i] or best_epoch[i] < 1:
            results.append(None)
            continue
        rows = slice(i * per_member, (i + 1) * per_member) if per_member > 1 else i
        own = jax.tree_util.tree_map(lambda x, rows=rows: x[rows], best_params)
        results.append(
            FitResult(
                replicate(parts.mesh, own)[0],
                histories[i],
                int(best_epoch[i]),
                bool(stopped_at[i] < cfg.epochs),
            )
        )
    return results
