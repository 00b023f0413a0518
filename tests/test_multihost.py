"""Multi-host runs as the README tells users to start them: the same command in two processes
joined by `jax.distributed` on a loopback coordinator, each process in its own working folder
(so a file written or removed by process 1 would show there). Plain `train` is checked against
one process with as many devices; `train --registry` and `backtest` for process 0 alone
locking, writing and promoting while process 1 takes part in training and ends with process
0's exit code. Five launches: keep it at that.

The processes run one CPU device each and the one-process reference two, so that the batch is
split alike and the arithmetic is the same to the last bit (measured). All runs share the
model's shapes and the session's compilation cache.

The crash-safety phases (`runtime.test_pause`, here with no pause) are logged where they run:
process 0 passes every one, process 1 only reading and the epochs; a killed run's leftover
planted beside each process's output is swept on process 0 alone.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# Trains networks of its own (through the CLI): left out of `make test-fast`.
pytestmark = pytest.mark.slow

ROWS, HORIZON = 300, 6
TINY = (
    f"--hidden 8 --lookback 24 --horizon {HORIZON} --batch-size 16 --epoch-windows 16 "
    "--epochs 2 --ensemble 1 --seed 0 -q"
).split()
REPO = Path(__file__).resolve().parents[1]
# The phases logged, in the order a registry run passes them (its sweep comes once the lock is
# held, after reading; a plain run's before reading, and it has no switch or record).
TRAINING = ["read", "epoch:1", "epoch:2"]
WRITING = ["write:params.msgpack", "fsync", "swapped"]
PHASES = ["read", "sweep", "epoch:1", "epoch:2", *WRITING, "switch", "record"]


@dataclass(frozen=True)
class Ended:
    code: int
    stdout: str
    stderr: str

    def phases(self) -> list[str]:
        return re.findall(r"test pause at (\S+)", self.stderr)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch(root: Path, *args: object, processes: int = 2) -> list[Ended]:
    """`tsforecast ARGS` in `processes` processes (one device each) joined on a loopback
    coordinator, process i in root/p<i>; one process gets two devices and no coordinator.
    Every crash-safety phase is logged as it is passed."""
    env = dict(
        os.environ,
        JAX_PLATFORMS="cpu",
        PYTHONPATH=str(REPO),
        TSFORECAST_TEST_PAUSE_AT=",".join(PHASES),
        TSFORECAST_TEST_PAUSE_SECONDS="0",
    )
    # The test process's own device count (tsforecast sets it on import) must not carry over.
    env["XLA_FLAGS"] = re.sub(
        r"--xla_force_host_platform_device_count=\d+", "", env.get("XLA_FLAGS", "")
    )
    if processes == 1:
        env["TSFORECAST_HOST_DEVICES"] = "2"
    else:
        env.update(
            TSFORECAST_HOST_DEVICES="1",
            JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{free_port()}",
            JAX_NUM_PROCESSES=str(processes),
        )
    running = []
    for rank in range(processes):
        cwd = root / f"p{rank}"
        cwd.mkdir(parents=True, exist_ok=True)
        running.append(
            subprocess.Popen(
                [sys.executable, "-m", "tsforecast", *map(str, args)],
                cwd=cwd,
                env={**env, "JAX_PROCESS_ID": str(rank)} if processes > 1 else env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    ended = []
    try:
        for process in running:
            out, err = process.communicate(timeout=180)
            ended.append(Ended(process.returncode, out, err))
    finally:
        for process in running:
            process.kill()
    return ended


def plant_leftover(directory: Path) -> Path:
    """A staging directory as a run killed while writing `directory` leaves it beside it."""
    leftover = directory.parent / f".{directory.name}.tmp-killed"
    leftover.mkdir(parents=True)
    (leftover / "config.json").write_text("{}")
    return leftover


def files_under(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


def losses(directory: Path) -> pd.DataFrame:
    return pd.read_csv(directory / "history.csv")[["epoch", "train_loss", "val_loss"]]


@pytest.fixture(scope="module")
def data(tmp_path_factory, make_series) -> dict[str, Path]:
    """The series, and the same series a horizon longer (its first ROWS rows are the same), whose
    one-cutoff backtest trains on exactly the first."""
    root = tmp_path_factory.mktemp("multihost-data")
    paths = {"short": root / "short.csv", "long": root / "long.csv"}
    make_series(ROWS).to_csv(paths["short"], index=False)
    make_series(ROWS + HORIZON).to_csv(paths["long"], index=False)
    return paths


@pytest.fixture(scope="module")
def alone(tmp_path_factory, data) -> Path:
    """The model `train` writes in one process with two devices."""
    root = tmp_path_factory.mktemp("alone")
    (ended,) = launch(root, "train", data["short"], *TINY, "--out", "model", processes=1)
    assert ended.code == 0, ended.stderr
    return root / "p0" / "model"


def test_two_processes_train_the_model_of_one_and_only_process_0_writes(tmp_path, data, alone):
    swept = plant_leftover(tmp_path / "p0" / "model")
    kept = plant_leftover(tmp_path / "p1" / "model")
    before = files_under(tmp_path / "p1")
    first, second = launch(tmp_path, "train", data["short"], *TINY, "--out", "model")
    assert (first.code, second.code) == (0, 0), (first.stderr, second.stderr)
    assert first.phases() == ["sweep", "read", "epoch:1", "epoch:2", *WRITING]
    assert second.phases() == TRAINING  # process 1 reads and trains, nothing else
    assert not swept.exists() and kept.is_dir()
    assert files_under(tmp_path / "p1") == before
    model = tmp_path / "p0" / "model"
    pd.testing.assert_frame_equal(losses(model), losses(alone), check_exact=True)
    for name in ("params.msgpack", "metrics.json"):
        assert (model / name).read_bytes() == (alone / name).read_bytes(), name
    assert len(losses(model)) == 2  # both epochs


def test_registry_runs_lock_write_and_promote_on_process_0_alone(tmp_path, data, alone):
    registry = tmp_path / "p0" / "reg"
    swept = plant_leftover(registry / "versions" / "20260101T000000Z-killed")
    plant_leftover(tmp_path / "p1" / "reg" / "versions" / "20260101T000000Z-killed")
    before = files_under(tmp_path / "p1")
    promoted = launch(tmp_path, "train", data["short"], *TINY, "--registry", "reg")
    assert [e.code for e in promoted] == [0, 0], [e.stderr for e in promoted]
    assert promoted[0].phases() == PHASES
    assert promoted[1].phases() == TRAINING
    assert not swept.exists()
    (version,) = os.listdir(registry / "versions")
    assert os.readlink(registry / "current") == f"versions/{version}"
    lines = (registry / "promotions.jsonl").read_text().splitlines()
    assert [json.loads(line)["version"] for line in lines] == [version]
    # Both processes trained it together: it is the one-process model.
    saved = registry / "versions" / version / "params.msgpack"
    assert saved.read_bytes() == (alone / "params.msgpack").read_bytes()
    assert files_under(tmp_path / "p1") == before

    # A lock held elsewhere: process 0 gives up, and process 1 with it.
    with open(registry / ".lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        busy = launch(
            tmp_path, "train", data["short"], *TINY, "--registry", "reg", "--lock-timeout", "0.5"
        )
    assert [e.code for e in busy] == [75, 75], [e.stderr for e in busy]
    assert f"registry {registry} is locked by another run" in busy[0].stderr
    assert f"process 0 failed: registry {registry} is locked by another run" in busy[1].stderr
    assert [e.phases() for e in busy] == [["read"], ["read"]]  # neither trained
    assert os.listdir(registry / "versions") == [version]
    assert files_under(tmp_path / "p1") == before


def test_backtest_forecasts_on_both_processes_and_process_0_writes(
    tmp_path, data, alone, run_cli, forecast_of
):
    ended = launch(tmp_path, "backtest", data["long"], *TINY, "--windows", "1", "--out", "bt")
    assert [e.code for e in ended] == [0, 0], [e.stderr for e in ended]
    assert not any((tmp_path / "p1").iterdir())
    assert "backtest: 1 cutoff(s)" in ended[0].stdout and "cutoff" not in ended[1].stdout
    backtest = pd.read_csv(tmp_path / "p0" / "bt" / "backtest_forecasts.csv")
    # The cutoff keeps the first ROWS rows: trained as the one-process model was, it forecasts
    # what that model predicts after them.
    predicted = run_cli("predict", data["short"], "--model", alone)
    assert predicted.exit_code == 0, predicted.output
    expected = forecast_of(predicted.stdout)
    np.testing.assert_allclose(backtest["y_hat"], expected["y_hat"], rtol=1e-6)
    assert (backtest["ds"] == expected["ds"].astype(str)).all()
