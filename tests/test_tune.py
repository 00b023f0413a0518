"""`tsforecast tune`: a population member equals its configuration trained alone; a killed
search resumes from its study; the time budget, bad options and a study of other settings;
`train --config tuned.json` reproduces the tuned validation score."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import jax
import numpy as np
import pandas as pd
import pytest

from tsforecast import artifacts, training
from tsforecast.config import Config, ModelConfig, TrainConfig, WindowConfig
from tsforecast.data import load_panel
from tsforecast.population import Member, fit_population

pytestmark = pytest.mark.slow

# The searched options a test run keeps small; dropout and the optimiser settings are searched.
SMALL = "--horizon 12 --lookback 48 --model lstm --hidden 8 --layers 1 --epochs 2".split()


def hourly(n: int = 500) -> pd.DataFrame:
    t = np.arange(n)
    rng = np.random.default_rng(1)
    y = 30 + 5 * np.sin(2 * np.pi * t / 24) + 2 * np.sin(2 * np.pi * t / 168)
    return pd.DataFrame(
        {"ds": pd.date_range("2024-01-01", periods=n, freq="h"), "y": y + rng.normal(0, 0.5, n)}
    )


def test_a_population_member_equals_its_configuration_trained_alone():
    config = Config(
        window=WindowConfig(lookback=24, horizon=12),
        model=ModelConfig(hidden=8),
        train=TrainConfig(epochs=4, batch_size=32, ensemble=2, patience=2, lr_patience=1),
    )
    panel, data_cfg = load_panel(config.data, True, hourly(400))
    config = dataclasses.replace(config, data=data_cfg)
    members = [Member(1e-3, 0.0, 1.0, 0), Member(1e-2, 1e-3, 0.5, 3)]
    run = training.prepare(panel, config)
    together = fit_population(run, members)
    for member, result in zip(members, together, strict=True):
        alone = training.train(panel, member.applied(config))
        for a, b in zip(
            jax.tree_util.tree_leaves(alone.artifact.params),
            jax.tree_util.tree_leaves(result.params),
            strict=True,
        ):
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-4, atol=1e-5)
        assert result.best_epoch == alone.best_epoch
        assert [r.lr for r in result.history] == list(alone.artifact.history["lr"])
        scored = training.finish(run, member.applied(run.config), result)
        assert scored.artifact.metrics["served"]["mase"] == pytest.approx(
            alone.artifact.metrics["served"]["mase"], rel=1e-4
        )
    # The two differ: the second's learning rate is ten times the first's.
    first, second = (jax.tree_util.tree_leaves(r.params)[0] for r in together)
    assert not np.allclose(first, second)


def tsforecast(*args, env=None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tsforecast", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        **kwargs,
    )


def states(study) -> list[str]:
    with sqlite3.connect(study) as db:
        return [row[0] for row in db.execute("SELECT state FROM trials ORDER BY number")]


def test_a_killed_search_resumes_and_the_tuned_options_train_the_same_model(tmp_path):
    data = tmp_path / "load.csv"
    hourly().to_csv(data, index=False)
    study, tuned, model = tmp_path / "tune.db", tmp_path / "tuned.json", tmp_path / "model"
    args = ["tune", data, *SMALL, "--trials", 4, "--population", 2, "--study", study]
    args += ["--out", tuned, "-q"]
    # Killed once round 2 has asked its trials: round 1's two are complete, two left running.
    killed = subprocess.Popen(
        [sys.executable, "-m", "tsforecast", *map(str, args)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TSFORECAST_TEST_PAUSE_AT": "tune:2"},
    )
    deadline = time.monotonic() + 300
    while "test pause at tune:2" not in killed.stderr.readline():
        assert time.monotonic() < deadline and killed.poll() is None
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert states(study) == ["COMPLETE", "COMPLETE", "RUNNING", "RUNNING"]

    resumed = tsforecast(*args, "--model-out", model)
    assert resumed.returncode == 0, resumed.stderr
    # The killed round's trials failed; two more finished the four.
    assert states(study) == ["COMPLETE", "COMPLETE", "FAIL", "FAIL", "COMPLETE", "COMPLETE"]
    written = json.loads(tuned.read_text())
    assert written["tune"]["trials"] == 4
    options = written["options"]
    assert {options[k] for k in ("hidden", "lookback", "epochs", "horizon")} == {8, 48, 2, 12}
    assert set(options) >= {"dropout", "lr", "weight_decay", "clip_norm"}
    config = artifacts.load(model).config
    assert (config.train.lr, config.model.dropout) == (options["lr"], options["dropout"])

    again = tsforecast("train", data, "--config", tuned, "--out", tmp_path / "again", "-q")
    assert again.returncode == 0, again.stderr
    served = artifacts.load(tmp_path / "again").metrics["served"]["mase"]
    assert served == pytest.approx(written["tune"]["validation_mase"], rel=1e-4)
    # Options on the command line win over the file's.
    narrower = tsforecast("train", data, "--config", tuned, "--hidden", 4, "--out", tmp_path / "n")
    assert narrower.returncode == 0, narrower.stderr
    assert artifacts.load(tmp_path / "n").config.model.hidden == 4

    # The same study with another horizon is refused in one line.
    other = tsforecast("tune", data, *SMALL[2:], "--horizon", 6, "--study", study)
    assert other.returncode == 2
    assert other.stderr.strip().splitlines() == [
        f"tsforecast: error: --study {study} was tuned with --horizon 12 and this run has 6; use "
        "another --study file for other data or settings"
    ]


def test_the_time_budget_stops_after_the_round_that_passes_it(tmp_path):
    data = tmp_path / "load.csv"
    hourly().to_csv(data, index=False)
    out = tmp_path / "tuned.json"
    began = time.monotonic()
    registry = tmp_path / "registry"
    result = tsforecast(
        "tune", data, *SMALL, "--trials", 40, "--population", 2, "--time-budget", "1s",
        "--out", out, "--plot", tmp_path / "search.png", "--registry", registry,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # The choice trained into the registry as `train --registry` would, and made current.
    assert "is now current" in result.stderr
    current = artifacts.load(registry / "current").config
    assert current.train.lr == json.loads(out.read_text())["options"]["lr"]
    assert time.monotonic() - began < 240
    assert json.loads(out.read_text())["tune"]["trials"] == 2
    assert "2 trials in" in result.stderr and "(stopped by time budget)" in result.stderr
    assert (tmp_path / "search.png").stat().st_size > 0
    trials = [line for line in result.stdout.splitlines() if "complete" in line]
    assert len(trials) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--time-budget", "5x"],
            "Invalid value for '--time-budget': '5x' is not a duration like 90s, 30m or 2h",
        ),
        (["--population", "0"], "Invalid value for '--population': 0 is not in the range x>=1."),
        (["--keep", "3"], "--keep needs --registry"),
    ],
)
def test_bad_tune_options_exit_2_in_one_line(tmp_path, args, message):
    data = tmp_path / "load.csv"
    hourly(50).to_csv(data, index=False)
    result = tsforecast("tune", data, *args)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"tsforecast: error: {message}"]


def test_a_config_file_with_an_unknown_option_exits_2(tmp_path):
    data = tmp_path / "load.csv"
    hourly(50).to_csv(data, index=False)
    (tmp_path / "tuned.json").write_text(json.dumps({"options": {"hiden": 32}}))
    result = tsforecast("train", data, "--config", tmp_path / "tuned.json")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"tsforecast: error: --config {tmp_path / 'tuned.json'} sets hiden, which `tsforecast "
        "train` has no option for"
    ]


def test_the_python_api_tunes_a_frame_and_its_options_train_the_chosen_model():
    import tsforecast

    frame = hourly()
    small = {"horizon": 12, "lookback": 48, "model": "lstm", "hidden": 8, "layers": 1}
    result = tsforecast.tune(frame, trials=2, population=2, epochs=2, **small)
    assert [t.number for t in result.trials] == [0, 1]
    # Trial 0 is the defaults of what was searched.
    assert {k: result.trials[0].options[k] for k in ("lr", "weight_decay", "dropout")} == {
        "lr": 1e-3,
        "weight_decay": 0.0,
        "dropout": 0.0,
    }
    assert result.options["hidden"] == 8 and result.options["epochs"] == 2
    model = tsforecast.train(frame, **result.options)
    assert model.metrics["served"]["mase"] == pytest.approx(result.chosen.mase, rel=1e-4)
