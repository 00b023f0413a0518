"""The options of `train` and `backtest` default to the Config classes' own defaults."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tsforecast import cli
from tsforecast.config import Config, DataConfig, RetrainOptions, TrainConfig
from tsforecast.errors import ConfigError
from tsforecast.options import build_config, retrain_options

DATA = str(Path(__file__).resolve().parents[1] / "sample_data" / "hourly.csv")


def parsed(command, *args: str) -> dict:
    return command.make_context(command.name, [DATA, *args]).params


def test_train_with_no_options_builds_the_default_config():
    params = parsed(cli.train)
    assert build_config(params) == Config(data=DataConfig(path=DATA))
    assert retrain_options(params) == RetrainOptions()


def test_backtest_with_no_options_builds_the_default_config():
    assert build_config(parsed(cli.backtest)) == Config(data=DataConfig(path=DATA))


def test_an_option_given_reaches_its_field_and_nothing_else():
    config = build_config(parsed(cli.train, "--hidden", "16", "--epochs", "3"))
    default = Config(data=DataConfig(path=DATA))
    assert config.model == dataclasses.replace(default.model, hidden=16)
    assert config.train == dataclasses.replace(default.train, epochs=3)
    assert (config.data, config.window, config.intervals) == (
        default.data,
        default.window,
        default.intervals,
    )


def test_weight_decay_and_input_noise_reach_the_training_config():
    config = build_config(parsed(cli.train, "--weight-decay", "0.01", "--input-noise", "0.05"))
    assert (config.train.weight_decay, config.train.input_noise) == (0.01, 0.05)


def test_input_noise_and_forking_are_refused_together():
    with pytest.raises(ConfigError, match="--input-noise and --forking do not go together"):
        TrainConfig(input_noise=0.05, forking=True)
