"""Each command reads the data file once: the CLI and the registry read it at the edge and pass
the panel down; backtest cuts it in memory at every cutoff instead of writing and rereading cut
copies."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from tsforecast import data as data_module

# Trains networks of its own (through the CLI): left out of `make test-fast`.
pytestmark = pytest.mark.slow

TINY = ("--hidden", "4", "--lookback", "24", "--horizon", "6", "--epochs", "1", "-q")


@pytest.fixture
def reads(monkeypatch):
    """Every path read, counted through pandas itself (not the in-memory buffers of a model
    directory's files, which artifacts.load reads through one directory fd) and through the
    compact reader where it read the file (where it did not, pandas reads it)."""
    seen: list[Path] = []
    compact = data_module._read_compact

    def counting_compact(path, *args, **kwargs):
        frame = compact(path, *args, **kwargs)
        if frame is not None:
            seen.append(Path(path).absolute())
        return frame

    monkeypatch.setattr(data_module, "_read_compact", counting_compact)
    for name in ("read_csv", "read_parquet"):
        original = getattr(pd, name)

        def counting(path, *args, _original=original, **kwargs):
            if isinstance(path, str | os.PathLike):
                seen.append(Path(path).absolute())
            return _original(path, *args, **kwargs)

        monkeypatch.setattr(pd, name, counting)
    return seen


def test_every_command_reads_the_data_file_once(reads, write_series, run_cli, tmp_path):
    data = write_series("data.csv", n=200).absolute()

    def count(*args) -> int:
        reads.clear()
        result = run_cli(*args)
        assert result.exit_code in (0, 3), result.output
        return reads.count(data)

    assert count("train", data, *TINY, "--out", tmp_path / "model") == 1
    assert count("predict", "--model", tmp_path / "model") == 1
    registry = ("train", data, *TINY, "--registry", tmp_path / "registry")
    assert count(*registry) == 1
    # A current version to compare with and a data hash to skip on: the same single read.
    compared = (*registry, "--promote", "if-better", "--skip-unchanged", "--seed", "1")
    assert count(*compared) == 1
    # Grown by one horizon: not skipped, trained and compared.
    write_series("data.csv", n=206)
    assert count(*compared) == 1
    assert count("predict", "--registry", tmp_path / "registry") == 1
    # Trained at each cutoff; the later one keeps the 200 rows of the first training, whose
    # compiled programs it reuses.
    backtest = ("backtest", data, *TINY, "--windows", "2", "--refit", "each")
    assert count(*backtest, "--out", tmp_path / "bt") == 1
    assert reads == [data]  # no cut copies of it written and read back
