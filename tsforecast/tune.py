"""Hyper-parameter search: Optuna over the settings that change the compiled program, a
population (tsforecast.population) over those that do not, inside a wall-clock budget.

A round is one population: Optuna's TPE sampler picks the program-level settings (model family,
width, layers, dropout, lookback) for its first trial, the others are enqueued with those and
let TPE pick their optimiser settings (learning rate, weight decay, gradient clip), and the K
trials train as K rows of one compiled program. Every member is an Optuna trial of its own, so
the sampler learns from each, and the median pruner stops a member whose validation loss trails
the others' at the same epoch (masked, not recompiled).

Trials are scored as `train` scores a model: the served forecast's MASE on the validation
windows, split in the serving rule's two halves. The study minimises the earlier half; the best
trial is then confirmed on the later half against the defaults (trial 0 of every study), which
stay the choice when it does not beat them there. The study can live in an SQLite file: a run
that is killed, or that cron starts again, resumes it, under an flock like the registry's.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import atomic, training
from .config import MODEL_NAMES, Config
from .data import Panel
from .errors import ConfigError, StorageError
from .population import Member, fit_population
from .runtime import test_pause
from .trainer import EpochRecord

STUDY_NAME = "tsforecast"
# The options a search may set: the program-level ones per round, the optimiser ones per member.
ROUND_OPTIONS = ("model", "hidden", "layers", "dropout", "lookback")
MEMBER_OPTIONS = ("lr", "weight_decay", "clip_norm")
# Where each option lives in the Config.
FIELDS = {
    "model": ("model", "name"),
    "hidden": ("model", "hidden"),
    "layers": ("model", "layers"),
    "dropout": ("model", "dropout"),
    "lookback": ("window", "lookback"),
    "lr": ("train", "lr"),
    "weight_decay": ("train", "weight_decay"),
    "clip_norm": ("train", "clip_norm"),
}
# The search space (docs/tuning.md says why each range): categorical where the values are few
# and far apart, the learning rate on a log scale around the default 1e-3.
CHOICES = {
    "model": MODEL_NAMES,
    "hidden": (32, 64, 128),
    "layers": (1, 2),
    "dropout": (0.0, 0.1, 0.2),
    "weight_decay": (0.0, 1e-4, 1e-3, 1e-2),
    "clip_norm": (0.5, 1.0, 5.0),
}
LR_RANGE = (3e-4, 3e-3)
# The median pruner stops no trial before this epoch. From epoch 4 on, it stopped all nine
# new shapes of an M4 Hourly study by epoch 5, in runs whose best epoch is about 32
# (docs/tuning.md).
PRUNE_AFTER = 10
# Lookbacks searched, as multiples of the default one (training.default_lookback).
LOOKBACK_FACTORS = (1, 2)


def needs_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise ConfigError("tsforecast tune needs Optuna: pip install 'tsforecast[tune]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def with_options(config: Config, options: dict[str, Any]) -> Config:
    """`config` with the tuned `options` ({option name: value}) set."""
    sections: dict[str, dict[str, Any]] = {}
    for name, value in options.items():
        section, attribute = FIELDS[name]
        sections.setdefault(section, {})[attribute] = value
    return dataclasses.replace(
        config,
        **{
            section: dataclasses.replace(getattr(config, section), **values)
            for section, values in sections.items()
        },
    )


def options_of(config: Config) -> dict[str, Any]:
    """The tuned options' values in `config`."""
    return {name: getattr(getattr(config, s), a) for name, (s, a) in FIELDS.items()}


@dataclass(frozen=True)
class Trial:
    """One finished trial: its settings, how it ended, its scores and the seconds its round
    took (per member: the round's time over its members)."""

    number: int
    options: dict[str, Any]
    state: str
    earlier: float = math.nan
    later: float = math.nan
    mase: float = math.nan
    seconds: float = math.nan


@dataclass(frozen=True)
class TuneResult:
    trials: list[Trial]
    best: Trial
    defaults: Trial
    # Whether the best trial beats the defaults on the half it was not chosen on; if not, the
    # defaults are the choice.
    confirmed: bool
    stopped_by: str
    seconds: float
    # The options the run was given, which every trial shared.
    fixed: dict[str, Any]

    @property
    def chosen(self) -> Trial:
        return self.best if self.confirmed else self.defaults

    @property
    def options(self) -> dict[str, Any]:
        """The chosen configuration as options: `tsforecast.train(data, **result.options)`, and
        what `train --config` reads from tuned.json."""
        return {**self.fixed, **self.chosen.options}


@contextmanager
def opened_study(
    path: str | None, signature: dict[str, Any], lock_timeout: float, seed: int
) -> Iterator[Any]:
    """The study at `path` (an SQLite file, created if missing; None: in memory), held under an
    flock on `<path>.lock` while in use. Trials a killed run left running are marked failed;
    a study made for other data or settings (`signature`) is refused."""
    optuna = needs_optuna()
    TrialState = optuna.trial.TrialState
    sampler = optuna.samplers.TPESampler(seed=seed)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=PRUNE_AFTER)
    if path is None:
        yield optuna.create_study(sampler=sampler, pruner=pruner)
        return
    target = Path(path)
    lock_path = target.with_name(target.name + ".lock")
    try:
        os.close(os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666))
    except OSError as exc:
        raise StorageError(f"cannot open --study {path}: {exc.strerror or exc}") from None
    with atomic.held_lock(lock_path, lock_timeout, f"study {path}"):
        study = optuna.create_study(
            storage=f"sqlite:///{target.resolve()}",
            study_name=STUDY_NAME,
            sampler=sampler,
            pruner=pruner,
            load_if_exists=True,
        )
        saved = study.user_attrs.get("signature")
        if saved is None:
            study.set_user_attr("signature", signature)
        elif saved != signature:
            name = min(
                k for k in signature.keys() | saved.keys() if saved.get(k) != signature.get(k)
            )
            raise ConfigError(
                f"--study {path} was tuned with {name} {saved.get(name)!r} and this run has "
                f"{signature.get(name)!r}; use another --study file for other data or settings"
            )
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            # Left running by a killed run: the lock says no other run is using the study.
            study.tell(trial.number, state=TrialState.FAIL)
        yield study


def signature_of(config: Config, panel: Panel, fixed: dict[str, Any]) -> dict[str, Any]:
    """What a study's trials depend on besides the searched options: the data's schema and
    size, the horizon, the fixed settings. A study is resumed only with the same. As JSON
    keeps it (lists for tuples), so that a resumed run compares like with like."""
    signature = {
        "horizon": config.window.horizon,
        "columns": [config.data.time_col, config.data.target, config.data.id_col],
        "freq": panel.freq,
        "season_length": list(config.data.season_length or ()),
        "series": len(panel.ids),
        **{f"--{name.replace('_', '-')}": value for name, value in fixed.items()},
    }
    return json.loads(json.dumps(signature))


def _suggest(trial, fixed: dict[str, Any], lookbacks: tuple[int, ...]) -> dict[str, Any]:
    options = {}
    for name in (*ROUND_OPTIONS, *MEMBER_OPTIONS):
        if name in fixed:
            options[name] = fixed[name]
        elif name == "lr":
            options[name] = trial.suggest_float("lr", *LR_RANGE, log=True)
        elif name == "lookback":
            options[name] = trial.suggest_categorical("lookback", lookbacks)
        else:
            options[name] = trial.suggest_categorical(name, CHOICES[name])
    return options


def search(
    panel: Panel,
    config: Config,
    fixed: dict[str, Any],
    *,
    trials: int,
    population: int,
    time_budget: float | None,
    study_path: str | None = None,
    lock_timeout: float = 60.0,
    on_round: Callable[[list[Trial], float], None] | None = None,
) -> TuneResult:
    """Search the options `fixed` does not set, from `config` (read from `panel`), until
    `trials` trials have finished or the next round would pass `time_budget` seconds; each
    round trains `population` trials in one program. `on_round(trials so far, seconds)` after
    each round. Trials that failed count as finished (a setting the data cannot take fails
    every time), those a killed run left do not."""
    began = time.monotonic()
    resolved, _ = training.resolve(panel, config)
    default_lookback = resolved.window.lookback
    lookbacks = (
        (default_lookback,)
        if config.window.lookback
        else tuple(default_lookback * f for f in LOOKBACK_FACTORS)
    )
    optuna = needs_optuna()
    State = optuna.trial.TrialState
    defaults = {name: value for name, value in options_of(resolved).items() if name not in fixed}
    signature = signature_of(resolved, panel, fixed)
    longest_round, rounds = 0.0, 0
    stopped_by = "trials"
    with opened_study(study_path, signature, lock_timeout, config.train.seed) as study:
        if not any(t.state == State.COMPLETE for t in study.trials):
            study.enqueue_trial(defaults)
        while True:
            finished = collect(study)
            left = trials - len(finished)
            if left <= 0:
                break
            elapsed = time.monotonic() - began
            if time_budget is not None and finished and elapsed + longest_round > time_budget:
                stopped_by = "time budget"
                break
            round_began = time.monotonic()
            members = [study.ask()]
            round_options = [_suggest(members[0], fixed, lookbacks)]
            shape = {k: round_options[0][k] for k in ROUND_OPTIONS if k not in fixed}
            for _ in range(min(population, left) - 1):
                study.enqueue_trial(shape)
                members.append(study.ask())
                round_options.append(_suggest(members[-1], fixed, lookbacks))
            rounds += 1
            test_pause(f"tune:{rounds}")
            _run_round(panel, config, study, members, round_options)
            longest_round = max(longest_round, time.monotonic() - round_began)
            if on_round is not None:
                on_round(collect(study), time.monotonic() - began)
    return summarise(finished, defaults, fixed, stopped_by, time.monotonic() - began)


def _run_round(panel, config, study, trials, round_options) -> None:
    optuna = needs_optuna()
    State = optuna.trial.TrialState
    began = time.monotonic()
    base = with_options(config, round_options[0])
    try:
        run = training.prepare(panel, base)
    except ConfigError as exc:
        # A setting this data cannot take (a lookback longer than the series): the round fails.
        for trial, options in zip(trials, round_options, strict=True):
            trial.set_user_attr("options", options)
            trial.set_user_attr("error", str(exc))
            study.tell(trial, state=State.FAIL)
        return
    members = [Member.of(with_options(run.config, options)) for options in round_options]
    pruned: set[int] = set()

    def report(epoch: int, records: list[EpochRecord | None]) -> list[int]:
        stop = []
        for i, record in enumerate(records):
            if record is None:
                continue
            trials[i].report(record.val_loss, epoch)
            if trials[i].should_prune():
                pruned.add(i)
                stop.append(i)
        return stop

    results = fit_population(run, members, report)
    seconds = (time.monotonic() - began) / len(trials)
    for i, (trial, result) in enumerate(zip(trials, results, strict=True)):
        trial.set_user_attr("options", round_options[i])
        trial.set_user_attr("seconds", seconds)
        if result is None:
            trial.set_user_attr("error", "training diverged")
            study.tell(trial, state=State.FAIL)
            continue
        if i in pruned:
            study.tell(trial, state=State.PRUNED)
            continue
        outcome = training.finish(run, members[i].applied(run.config), result)
        earlier, later = outcome.served_halves
        trial.set_user_attr("later", later)
        trial.set_user_attr("mase", outcome.artifact.metrics["served"]["mase"])
        study.tell(
            trial, earlier if np.isfinite(earlier) else outcome.artifact.metrics["served"]["mase"]
        )


def collect(study) -> list[Trial]:
    """The study's finished trials, in order; a killed run's are left out (they never recorded
    their options)."""
    rows = []
    for t in study.trials:
        if t.state.name not in ("COMPLETE", "PRUNED", "FAIL") or "options" not in t.user_attrs:
            continue
        attrs = t.user_attrs
        rows.append(
            Trial(
                t.number,
                attrs["options"],
                t.state.name.lower(),
                t.value if t.state.name == "COMPLETE" else math.nan,
                attrs.get("later", math.nan),
                attrs.get("mase", math.nan),
                attrs.get("seconds", math.nan),
            )
        )
    return rows


def summarise(
    trials: list[Trial],
    defaults: dict[str, Any],
    fixed: dict[str, Any],
    stopped_by: str,
    seconds: float,
) -> TuneResult:
    """The best complete trial on the earlier half, held against the trial of the `defaults`
    on the later half."""
    complete = [t for t in trials if t.state == "complete"]
    if not complete:
        raise ConfigError("no trial finished: give a longer --time-budget or more --trials")
    best = min(complete, key=lambda t: t.earlier)
    baseline = next(
        (t for t in complete if all(t.options[k] == v for k, v in defaults.items())), best
    )
    confirmed = best.number == baseline.number or best.later < baseline.later
    return TuneResult(trials, best, baseline, confirmed, stopped_by, seconds, fixed)


def write_tuned(path: str, result: TuneResult) -> Path:
    """The chosen options, with the ones the run fixed, as `train --config` reads them."""
    chosen = result.chosen
    payload = {
        "options": result.options,
        "tune": {
            "trial": chosen.number,
            "validation_mase": chosen.mase,
            "earlier_half": chosen.earlier,
            "later_half": chosen.later,
            "confirmed_on_later_half": result.confirmed,
            "trials": len(result.trials),
        },
    }
    target = Path(path)
    atomic.write_file(target, lambda tmp: tmp.write_text(json.dumps(payload, indent=2) + "\n"))
    return target
