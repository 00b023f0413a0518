"""Shared fixtures: deterministic synthetic series written as real CSV files, the CLI runner, and
one small model trained once per session.

Compilation dominates the suite's time (seconds per distinct model and data shape), so tests that
only read a trained model share `trained_model` and must not modify its directory (copy it first).
"""

from __future__ import annotations

import io
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from tsforecast.cli import cli

# The session model: small enough to compile in seconds on 2 CPU cores, big enough to beat
# seasonal naive clearly on `seasonal_ar_series`.
ROWS = 600
GROWN = 36
LOOKBACK = 48
HORIZON = 12
TRAIN_ARGS = tuple(
    shlex.split(
        f"--hidden 16 --lookback {LOOKBACK} --horizon {HORIZON} --batch-size 32"
        " --epochs 40 --lr 0.003 --seed 0 --ensemble 1"
    )
)


def seasonal_ar_series(
    n: int,
    seed: int = 0,
    level: float = 1000.0,
    amplitude: float = 10.0,
    phi: float = 0.8,
    sigma: float = 2.0,
    start: str = "2024-01-01",
    freq: str = "h",
) -> pd.DataFrame:
    """`ds, y`: level + a daily sine (24 steps) + AR(1) noise. Deterministic by seed, and a longer
    series with the same seed starts with the shorter one (numpy draws the shocks in order)."""
    rng = np.random.default_rng(seed)
    shocks = rng.normal(0.0, sigma, n)
    noise = np.zeros(n)
    for i in range(1, n):
        noise[i] = phi * noise[i - 1] + shocks[i]
    t = np.arange(n)
    y = level + amplitude * np.sin(2 * np.pi * t / 24) + noise
    ds = pd.date_range(start, periods=n, freq=freq)
    return pd.DataFrame({"ds": ds.strftime("%Y-%m-%d %H:%M:%S"), "y": np.round(y, 4)})


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def read_forecast(text: str) -> pd.DataFrame:
    """A forecast CSV (from stdout or a file) with `ds` parsed."""
    return pd.read_csv(io.StringIO(text), parse_dates=["ds"])


def invoke(*args: object) -> Result:
    """Run `tsforecast ARGS` in-process; stdout and stderr are kept apart (click >= 8.2)."""
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_bad_input(
    result: Result, line: str | None = None, startswith: str | None = None
) -> None:
    """Exit 2, exactly one line on stderr (the given one), nothing on stdout, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""
    if line is not None:
        assert lines[0] == line
    if startswith is not None:
        assert lines[0].startswith(startswith), lines[0]


@pytest.fixture(scope="session", autouse=True)
def compilation_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One persistent compilation cache for the whole session, in a temporary folder (never the
    user's): in-process runs and subprocesses of the same shapes compile once between them, and
    so do the workers of `pytest -n` (`make test`), whose temporary folders share a parent."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    cache = root / "xla-cache"
    cache.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TSFORECAST_CACHE_DIR", str(cache))
        yield cache


@pytest.fixture(scope="session")
def run_cli() -> Callable[..., Result]:
    """run_cli("train", path, "--epochs", 3) -> click's Result."""
    return invoke


@pytest.fixture(scope="session")
def expect_bad_input() -> Callable[..., None]:
    """expect_bad_input(result, line=None, startswith=None): exit 2 with that one stderr line."""
    return assert_bad_input


@pytest.fixture(scope="session")
def forecast_of() -> Callable[[str], pd.DataFrame]:
    """forecast_of(csv_text) -> the forecast frame, `ds` parsed."""
    return read_forecast


@pytest.fixture(scope="session")
def make_series() -> Callable[..., pd.DataFrame]:
    """make_series(n, seed=0, level=1000.0, ...) -> a `ds, y` frame (see seasonal_ar_series)."""
    return seasonal_ar_series


@pytest.fixture
def write_series(tmp_path: Path) -> Callable[..., Path]:
    """write_series(name="series.csv", n=600, seed=0, **kwargs) -> the path of a new CSV in
    tmp_path."""

    def write(name: str = "series.csv", n: int = ROWS, seed: int = 0, **kwargs) -> Path:
        return write_csv(seasonal_ar_series(n, seed, **kwargs), tmp_path / name)

    return write


@dataclass(frozen=True)
class TrainedModel:
    directory: Path  # the model directory written by `tsforecast train`
    csv: Path  # the training file: the first ROWS rows of `frame`
    grown_csv: Path  # the same series, GROWN rows longer
    frame: pd.DataFrame  # all ROWS + GROWN rows
    stderr: str  # what `train` printed
    args: tuple[str, ...]  # the training options
    lookback: int = LOOKBACK
    horizon: int = HORIZON


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    """An LSTM trained through the CLI on a 600-row hourly series with mean ~1000. Read only."""
    # A path longer than a line, so that output folded at 80 columns would show.
    root = tmp_path_factory.mktemp("trained-" + "-".join(["a-path-longer-than-one-line"] * 3))
    frame = seasonal_ar_series(ROWS + GROWN, seed=0)
    csv = write_csv(frame.iloc[:ROWS], root / "train.csv")
    grown = write_csv(frame, root / "grown.csv")
    result = invoke("train", csv, *TRAIN_ARGS, "--out", root / "model")
    assert result.exit_code == 0, result.output
    return TrainedModel(root / "model", csv, grown, frame, result.stderr, TRAIN_ARGS)


# The slowest files first, as measured (`--durations=0`, summed per file): `make test`'s two
# workers take whole files in this order, so the long ones do not start last and leave one core
# idle at the end, or the two that run several processes at once (test_kills.py, test_multihost.py)
# end up sharing the last minutes of the run.
SLOWEST_FIRST = (
    "test_kills.py",
    "test_models.py",
    "test_tune.py",
    "test_multihost.py",
    "test_registry.py",
    "test_cli.py",
    "test_pipes.py",
    "test_backtest.py",
    "test_serving.py",
    "test_panel.py",
    "test_ensemble.py",
    "test_fuzz.py",
    "test_forking.py",
    "test_api.py",
    "test_trainer.py",
    "test_intervals.py",
    "test_reads.py",
    "test_monitor.py",
    "test_files.py",
    "test_holidays.py",
    "test_data.py",
    "test_cli_help.py",
    "test_forecast.py",
    "test_training.py",
    "test_transforms.py",
    "test_windows.py",
    "test_recalibration.py",
    "test_atomic.py",
    "test_device.py",
)


def pytest_configure(config: pytest.Config) -> None:
    # pytest-xdist >= 3.7 hands out the files of `--dist loadfile` by their number of tests,
    # most first, unless told to keep the collection order: that put test_kills.py (4 tests)
    # and test_multihost.py (3) last, side by side, and the order below went unused.
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: position for position, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
