"""The retrain policy of a registry run (`train --registry`): under the registry's lock, skip
unchanged data, warm-start from the current version, train, score the new version against the
current one on the same validation windows, save it, and promote it or keep it as a candidate.
The on-disk registry it works on is tsforecast.registry's."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import shutil
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import artifacts, training
from .artifacts import ModelArtifact
from .config import Config, RetrainOptions
from .data import Panel
from .errors import ConfigError
from .models import MODELS
from .registry import VERSIONS, Registry, storage_error
from .runtime import on_primary

log = logging.getLogger(__name__)


def data_hash(panel: Panel) -> str:
    """SHA-256 of what training reads: every field of the validated panel (series ids, start
    times, frequency, values). Row order, unrelated columns and formatting do not change it."""
    digest = hashlib.sha256()
    for field in dataclasses.fields(panel):
        value = getattr(panel, field.name)
        digest.update(field.name.encode())
        if isinstance(value, np.ndarray):
            digest.update(str(value.dtype).encode())
            digest.update(np.ascontiguousarray(value).tobytes())
        else:
            digest.update(repr(value).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class RetrainResult:
    """What a registry run did. status: `skipped` (data unchanged), `promoted`, or
    `candidate` (trained and kept, but not better than the current version)."""

    status: str
    version: str | None
    previous: str | None
    data_hash: str
    reason: str = ""
    outcome: training.TrainOutcome | None = None
    champion_metrics: dict[str, Any] | None = None
    removed: tuple[str, ...] = ()
    # --promote if-better: the metric, the validation windows both versions were scored on, and
    # both scores ("new", "current").
    comparison: dict[str, Any] | None = None


def _warm_start_config(config: Config, current: ModelArtifact, name: str) -> Config:
    """The run's config with the current version's lookback and chunk where none was given (a
    model trained before a default changed keeps its shape), or a ConfigError naming every
    option that changes the architecture."""
    saved = current.config
    window, model = config.window, config.model
    if window.lookback is None:
        window = dataclasses.replace(window, lookback=saved.window.lookback)
    if model.chunk is None:
        model = dataclasses.replace(model, chunk=saved.model.chunk)
    config = dataclasses.replace(config, model=model)
    changed = []
    if config.model.name != saved.model.name:
        changed.append(f"--model {saved.model.name} -> {config.model.name}")
    else:
        # Dropout has no weights, so it may change between runs.
        for option in (o for o in MODELS[saved.model.name].options if o != "dropout"):
            old, new = getattr(saved.model, option), getattr(config.model, option)
            if old != new:
                changed.append(f"--{option.replace('_', '-')} {old} -> {new}")
    for option in ("lookback", "horizon"):
        old, new = getattr(saved.window, option), getattr(window, option)
        if old != new:
            changed.append(f"--{option} {old} -> {new}")
    if changed:
        raise ConfigError(
            f"--warm-start: these options change the architecture of current version {name}: "
            f"{'; '.join(changed)}; use the current values or drop --warm-start"
        )
    return dataclasses.replace(config, window=window)


def _better(new: float, old: float) -> bool:
    return math.isfinite(new) and (not math.isfinite(old) or new < old)


@dataclass(frozen=True)
class _Start:
    """What a registry run decided under the lock before training: the config (with a warm
    start's lookback), the weights to start from, and the current version and data hash it
    found."""

    config: Config
    initial: Any
    previous: str | None
    current: ModelArtifact | None
    digest: str


def retrain(
    root: str | Path,
    panel: Panel,
    config: Config,
    options: RetrainOptions,
    on_epoch: Callable[[Any], None] | None = None,
) -> RetrainResult:
    """Train a new version on `panel` (with `config.data` as `data.load_panel` resolved it)
    into the registry at `root` and decide whether it becomes current.

    Holds the registry lock for the whole run. Whatever stops the run early (an error,
    SIGTERM, Ctrl-C) removes the new version unless it has already been promoted; `current`
    only ever moves by one atomic rename. In a multi-host run process 0 alone takes the lock,
    sweeps, reads and writes the registry and decides; every process trains (the training
    programs span them all), and the others follow its decisions and end with its outcome
    (`runtime.on_primary`)."""
    registry = Registry(root)
    with ExitStack() as lock:
        start = on_primary(lambda: _start(registry, panel, config, options, lock))
        if isinstance(start, RetrainResult):
            return start
        outcome = training.train(panel, start.config, on_epoch, start.initial)
        result = on_primary(lambda: _finish(registry, panel, start, outcome.artifact, options))
        return dataclasses.replace(result, outcome=outcome)


def _start(
    registry: Registry,
    panel: Panel,
    config: Config,
    options: RetrainOptions,
    lock: ExitStack,
) -> _Start | RetrainResult:
    """Take the lock (into `lock`, which holds it for the rest of the run), sweep leftovers,
    then decide: skip (a `skipped` result), or what to train from."""
    if registry.root.exists() and not registry.root.is_dir():
        raise ConfigError(f"--registry {registry.root} is a file, not a directory")
    if registry.root.is_dir() and any(registry.root.iterdir()) and not registry.versions.is_dir():
        raise ConfigError(
            f"--registry {registry.root} exists and is not a tsforecast registry "
            f"(no {VERSIONS}/ inside)"
        )
    lock.enter_context(registry.locked(options.lock_timeout))
    registry.sweep()
    previous = registry.current()
    digest = data_hash(panel)
    if (
        options.skip_unchanged
        and previous is not None
        and registry.data_hash_of(previous) == digest
    ):
        return RetrainResult(
            "skipped",
            previous,
            previous,
            digest,
            reason=f"data unchanged since current version {previous}",
        )
    current = artifacts.load(registry.versions / previous) if previous else None
    initial = None
    if options.warm_start and current is not None:
        config = _warm_start_config(config, current, previous)
        initial = current.params
    elif options.warm_start:
        log.warning(
            "--warm-start: registry %s has no current version yet; training from scratch",
            registry.root,
        )
    if options.promote == "if-better" and current is not None:
        if current.config.window.horizon != config.window.horizon:
            raise ConfigError(
                f"--promote if-better: current version {previous} forecasts "
                f"{current.config.window.horizon} steps, this run {config.window.horizon}; "
                "they cannot be compared (use --promote always)"
            )
        current.scaler.require_known(panel.ids)
    return _Start(config, initial, previous, current, digest)


def _finish(
    registry: Registry,
    panel: Panel,
    start: _Start,
    new: ModelArtifact,
    options: RetrainOptions,
) -> RetrainResult:
    """Score the trained model `new` against the current version (--promote if-better), save it
    as a new version, promote it or keep it as a candidate, prune. Called with the lock held.
    The result leaves out the training outcome, which every process of the run has."""
    previous = start.previous
    champion = challenger = None
    if options.promote == "if-better" and previous is not None:
        # Both through the same code on the same device, so that identical models tie
        # exactly (the training run's own scores come from a differently sharded program).
        # As _start read it: the lock kept it as it was.
        champion = training.score_on_validation(start.current, new, panel)
        challenger = training.score_on_validation(new, new, panel)
    metric = options.promote_metric
    promote = champion is None or _better(challenger["served"][metric], champion["served"][metric])
    comparison = None
    if champion is not None:
        comparison = {
            "metric": metric,
            "windows": new.metrics["validation_windows"],
            "new": challenger["served"][metric],
            "current": champion["served"][metric],
        }
    details = {} if comparison is None else {"comparison": comparison}
    # Saved with the version, so that a run killed before `current` points at it leaves a
    # version the next run knows to remove (Registry.unfinished), not a candidate.
    record = {
        "data_hash": start.digest,
        "warm_start_from": previous if start.initial is not None else None,
        "decision": "promote" if promote else "candidate",
    }
    if champion is not None:
        record["champion"] = {
            "version": previous,
            "metrics": champion,
            "challenger_metrics": challenger,
        }
    new = dataclasses.replace(new, registry=record)

    name = registry.new_name(start.digest)
    path = registry.versions / name
    try:
        try:
            artifacts.save(new, path)
        except OSError as exc:
            raise storage_error(f"write version {name}", exc) from None
        if promote:
            registry.switch(name)
            registry.record("promote", name, previous, **details)
            status, reason = "promoted", ""
        else:
            registry.record("candidate", name, previous, **details)
            reason = (
                f"not promoted: {metric} {comparison['new']:.4g} is not better than current "
                f"version {previous}'s {comparison['current']:.4g} on the same "
                f"{comparison['windows']} validation windows; kept as candidate {name}"
            )
            status = "candidate"
    except BaseException:
        if registry.current() != name:
            shutil.rmtree(path, ignore_errors=True)
        raise
    removed = tuple(registry.prune(options.keep)) if options.keep is not None else ()
    return RetrainResult(
        status, name, previous, start.digest, reason, None, champion, removed, comparison
    )
