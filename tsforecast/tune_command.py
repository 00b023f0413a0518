"""`tsforecast tune`: the command; tsforecast.tune is the search."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import click

from .options import (
    REGISTRY_ONLY,
    Duration,
    SectionedCommand,
    build_config,
    config_options,
    data_argument,
    examples,
    flag_names,
    given,
    registry_options,
    retrain_options,
)
from .terminal import (
    EpochProgress,
    TuneProgress,
    print_trials,
    report_training,
    train_into_registry,
)

DURATION_HELP = "e.g. 90s, 30m or 2h"


@click.command(
    cls=SectionedCommand,
    epilog=examples(
        "tsforecast tune load.csv --horizon 24 --time-budget 30m --study tune.db",
        "tsforecast tune load.csv --horizon 24 --trials 32 --population 8 --model-out models/load",
    ),
)
@data_argument
@config_options
@click.option(
    "--time-budget",
    type=Duration(),
    help="Start no trial that would end past this wall-clock time from the start "
    f"({DURATION_HELP}). Default: none; --trials decides.",
)
@click.option(
    "--trials",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="Finished trials to stop at (counting a resumed study's earlier ones).",
)
@click.option(
    "--population",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Trials trained together in one compiled program (they share the model family, "
    "width, layers, dropout and lookback, and differ in learning rate, weight decay and clip).",
)
@click.option(
    "--study",
    type=click.Path(dir_okay=False),
    help="SQLite file to keep the study in; a killed or repeated run resumes it. Default: in "
    "memory.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default="tuned.json",
    show_default=True,
    help="Where to write the chosen options (`tsforecast train DATA --config FILE` reads them).",
)
@click.option(
    "--model-out",
    type=click.Path(file_okay=False),
    help="Also train the chosen configuration and write its model directory here.",
)
@click.option("--plot", type=click.Path(dir_okay=False), help="Draw the search to this PNG.")
@registry_options
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
def tune(time_budget, trials, population, study, out, model_out, plot, quiet, **options):
    """Search the model's settings on DATA's validation windows, inside a time budget.

    Options you give (on the command line, in the environment or in --config) stay fixed; the
    model family, hidden width, layers, dropout, lookback, learning rate, weight decay and
    gradient clip that you do not give are searched. Trials are scored on the validation
    windows `train` uses; the best on their earlier half is kept only if it also beats the
    defaults on the later half.
    """
    began = time.monotonic()
    registry_dir = options["registry_dir"]
    if registry_dir and model_out:
        raise click.UsageError("--model-out and --registry are mutually exclusive")
    needs_registry = [name for name in REGISTRY_ONLY if name != "lock_timeout" and given(name)]
    if not registry_dir and needs_registry:
        raise click.UsageError(f"--{needs_registry[0].replace('_', '-')} needs --registry")
    config = build_config(options)
    from . import api
    from .plots import plot_search
    from .tune import search, with_options, write_tuned

    fixed = {
        name: options[param]
        for name, param in flag_names(api.config_command).items()
        if name != "config" and given(param, from_file=True)
    }
    panel, data_cfg = api.read(config.data)
    config = dataclasses.replace(config, data=data_cfg)
    with TuneProgress(trials, time_budget, enabled=not quiet) as progress:
        result = search(
            panel,
            config,
            fixed,
            trials=trials,
            population=population,
            time_budget=time_budget,
            study_path=study,
            lock_timeout=options["lock_timeout"],
            on_round=progress.update,
        )
    print_trials(result)
    path = write_tuned(out, result)
    if not quiet:
        click.echo(f"options written to {path}: tsforecast train DATA --config {path}", err=True)
    if plot:
        plot_search(result.trials, Path(plot))
    if not (model_out or registry_dir):
        return
    chosen = with_options(config, result.chosen.options)
    if registry_dir:
        train_into_registry(registry_dir, panel, chosen, retrain_options(options), quiet, began)
        return
    with EpochProgress(chosen.train.epochs, enabled=not quiet) as epochs:
        model = api.Model.trained(panel, chosen, on_epoch=epochs.update)
    report_training(model.training, model.save(model_out), quiet, began)
