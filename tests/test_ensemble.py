"""--ensemble K: K seeds trained in one compiled program, saved on a leading member axis,
forecasting the median of the members."""

import dataclasses
import json

import jax
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from tsforecast import artifacts
from tsforecast.cli import cli
from tsforecast.config import Config, DataConfig, ModelConfig, TrainConfig, WindowConfig
from tsforecast.data import load_panel
from tsforecast.forecast import Forecaster, forecast
from tsforecast.trainer import build_trainer
from tsforecast.windows import split_windows, standardise

MEMBERS = 3


def series_csv(path):
    t = np.arange(400)
    y = 30 + 5 * np.sin(2 * np.pi * t / 24) + np.random.default_rng(1).normal(0, 0.5, t.size)
    pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=t.size, freq="h"), "y": y}).to_csv(
        path, index=False
    )


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("ensemble")
    series_csv(root / "data.csv")
    result = CliRunner().invoke(
        cli,
        [
            "train",
            str(root / "data.csv"),
            "--lookback",
            "24",
            "--horizon",
            "12",
            "--hidden",
            "8",
            "--epochs",
            "2",
            "--batch-size",
            "32",
            "--ensemble",
            str(MEMBERS),
            "--no-fallback",  # the network's forecast at every step: the members' median
            "--out",
            str(root / "model"),
            "-q",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return root


def members_of(params):
    return [jax.tree_util.tree_map(lambda leaf, k=k: leaf[k], params) for k in range(MEMBERS)]


def head_kernel(params) -> np.ndarray:
    """The output layer's kernel, however deep the wrappers (blend, chunks) nest it."""
    paths = jax.tree_util.tree_leaves_with_path(params)
    keys = [(jax.tree_util.keystr(path), leaf) for path, leaf in paths]
    (kernel,) = [leaf for key, leaf in keys if "['head']['kernel']" in key]
    return np.asarray(kernel)


@pytest.mark.slow
def test_members_are_saved_on_a_leading_axis_and_differ(model_dir):
    artifact = artifacts.load(model_dir / "model")
    assert artifact.config.train.ensemble == MEMBERS
    assert (
        json.loads((model_dir / "model" / "config.json").read_text())["config"]["train"]["ensemble"]
        == MEMBERS
    )
    assert all(leaf.shape[0] == MEMBERS for leaf in jax.tree_util.tree_leaves(artifact.params))
    heads = [head_kernel(m) for m in members_of(artifact.params)]
    assert not np.allclose(heads[0], heads[1]) and not np.allclose(heads[1], heads[2])


@pytest.mark.slow
def test_forecast_is_the_median_of_the_members(model_dir):
    artifact = artifacts.load(model_dir / "model")
    panel, _ = load_panel(artifact.config.data)
    single = dataclasses.replace(
        artifact.config, train=dataclasses.replace(artifact.config.train, ensemble=1)
    )
    member_forecasts = np.stack(
        [
            forecast(
                Forecaster.of(dataclasses.replace(artifact, config=single, params=params)), panel
            )["y_hat"].to_numpy()
            for params in members_of(artifact.params)
        ]
    )
    ensemble = forecast(Forecaster.of(artifact), panel)["y_hat"].to_numpy()
    np.testing.assert_allclose(ensemble, np.median(member_forecasts, axis=0), rtol=1e-5)
    # The median is a member's forecast at each step, not the mean of the members.
    assert not np.allclose(ensemble, member_forecasts.mean(axis=0), rtol=1e-6)

    result = CliRunner().invoke(
        cli, ["predict", "--model", str(model_dir / "model")], catch_exceptions=False
    )
    printed = pd.read_csv(pd.io.common.StringIO(result.output))
    np.testing.assert_allclose(printed["y_hat"], ensemble, rtol=1e-6)


@pytest.mark.slow
def test_all_members_train_in_one_compiled_epoch(model_dir):
    # The fixture's data and settings, so the programs are the ones its run compiled (and cached).
    panel, data = load_panel(DataConfig(path=str(model_dir / "data.csv")))
    config = Config(
        data=data,
        window=WindowConfig(lookback=24, horizon=12),
        model=ModelConfig(hidden=8),
        train=TrainConfig(epochs=3, batch_size=32, ensemble=MEMBERS, patience=10),
    )
    split = split_windows(panel.offsets, 24, 12, None)
    scaled, _, _ = standardise(panel.values, panel.offsets, split.train_part)
    trainer = build_trainer(config)
    start = trainer.initial_params()
    params, values, train_starts, val_starts = trainer.place(
        start, scaled[:, None], split.train_starts, split.val_starts
    )
    result = trainer.fit(params, values, train_starts, val_starts)
    assert len(result.history) == 3
    # Every epoch of all members ran through one compiled executable.
    assert trainer.train_epoch._cache_size() == 1
    moved = [
        not np.allclose(
            np.asarray(after["base"]["head"]["kernel"]),
            np.asarray(before["base"]["head"]["kernel"]),
        )
        for before, after in zip(members_of(start), members_of(result.params), strict=True)
    ]
    assert all(moved)


def test_model_directories_without_ensemble_load_as_one_model():
    raw = Config().to_dict()
    del raw["train"]["ensemble"]
    assert Config.from_dict(raw).train.ensemble == 1
