"""The model directory: saved atomically (a failure leaves the previous one byte for byte), a
format version that is checked, and a directory written by format 1 that must keep working."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tsforecast
from tsforecast import artifacts, atomic
from tsforecast.errors import ArtifactError

FIXTURES = Path(__file__).parent / "fixtures"


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.fixture
def previous(trained_model, tmp_path) -> Path:
    """A copy of the session model, standing in for the directory a new save would replace."""
    return Path(shutil.copytree(trained_model.directory, tmp_path / "model"))


def _fail_on_third_write(monkeypatch):
    real, calls = artifacts._write, []

    def write(path, data):
        calls.append(path.name)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(artifacts, "_write", write)
    return OSError


def _fail_drawing_history(monkeypatch):
    import tsforecast.plots

    def draw(history, path):
        raise RuntimeError("matplotlib broke")

    monkeypatch.setattr(tsforecast.plots, "plot_history", draw)
    return RuntimeError


def _interrupt_drawing_history(monkeypatch):
    import tsforecast.plots

    def draw(history, path):
        raise KeyboardInterrupt

    monkeypatch.setattr(tsforecast.plots, "plot_history", draw)
    return KeyboardInterrupt


@pytest.mark.parametrize(
    "inject", [_fail_on_third_write, _fail_drawing_history, _interrupt_drawing_history]
)
def test_a_failed_save_leaves_the_previous_directory_intact(
    inject, trained_model, previous, monkeypatch
):
    artifact = artifacts.load(trained_model.directory)
    before = _snapshot(previous)
    error = inject(monkeypatch)
    with pytest.raises(error):
        artifacts.save(artifact, previous)
    assert _snapshot(previous) == before
    assert sorted(p.name for p in previous.parent.iterdir()) == ["model"]  # no temporary sibling


def test_a_failed_first_save_leaves_nothing(trained_model, tmp_path, monkeypatch):
    artifact = artifacts.load(trained_model.directory)
    _fail_drawing_history(monkeypatch)
    with pytest.raises(RuntimeError):
        artifacts.save(artifact, tmp_path / "model")
    assert list(tmp_path.iterdir()) == []


def test_a_directory_that_is_not_a_model_is_never_replaced(trained_model, tmp_path):
    (tmp_path / "sales.csv").write_text("ds,y\n")
    with pytest.raises(
        ArtifactError, match="is a directory with other files in it, not a tsforecast model"
    ):
        artifacts.save(artifacts.load(trained_model.directory), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sales.csv"]
    temporary = [p for p in tmp_path.parent.iterdir() if p.name.startswith(f".{tmp_path.name}.")]
    assert temporary == []


def _kernel_exchanges(directory: Path) -> bool:
    """Whether renameat2(RENAME_EXCHANGE) swaps two directories in `directory`, asked of libc
    here rather than through tsforecast.atomic."""
    libc_name = ctypes.util.find_library("c")
    renameat2 = getattr(ctypes.CDLL(libc_name), "renameat2", None) if libc_name else None
    if renameat2 is None:
        return False
    a, b = directory / "probe-a", directory / "probe-b"
    a.mkdir()
    b.mkdir()
    (a / "in-a").touch()
    at_fdcwd, rename_exchange = -100, 2
    swapped = renameat2(at_fdcwd, bytes(a), at_fdcwd, bytes(b), rename_exchange) == 0
    assert swapped == (b / "in-a").exists()
    shutil.rmtree(a)
    shutil.rmtree(b)
    return swapped


@pytest.mark.parametrize("atomic_exchange", [True, False])
def test_a_save_replaces_the_previous_directory_whole(
    atomic_exchange, trained_model, previous, monkeypatch, tmp_path_factory
):
    if atomic_exchange:
        if not _kernel_exchanges(tmp_path_factory.mktemp("probe")):
            pytest.skip("this kernel or filesystem has no renameat2(RENAME_EXCHANGE)")
    else:
        # Where renameat2(RENAME_EXCHANGE) is missing (macOS, old kernels) the fallback is used.
        monkeypatch.setattr(atomic, "_exchange", lambda new, target: False)
    # The points the swap passes (tsforecast.runtime.test_pause): only the two renames of the
    # fallback pass "swap", with the previous directory parked and nothing at the target.
    points = []
    monkeypatch.setattr(atomic, "test_pause", points.append)
    (previous / "stale.txt").write_text("left over from an older run")
    artifact = artifacts.load(trained_model.directory)
    assert artifacts.save(artifact, previous) == previous
    assert points == (["fsync", "swapped"] if atomic_exchange else ["fsync", "swap", "swapped"])
    assert {p.name for p in previous.iterdir()} == {
        "config.json",
        "params.msgpack",
        "scaler.csv",
        "history.csv",
        "metrics.json",
        "history.png",
        "conformal_scores.npy",
    }
    assert sorted(p.name for p in previous.parent.iterdir()) == ["model"]
    for name in ("params.msgpack", "scaler.csv", "metrics.json", "conformal_scores.npy"):
        assert (previous / name).read_bytes() == (trained_model.directory / name).read_bytes(), name


def _set_format_version(directory: Path, version) -> None:
    config = json.loads((directory / "config.json").read_text())
    if version is None:
        del config["format_version"]
    else:
        config["format_version"] = version
    (directory / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("version", [3, 0, "1", None])
def test_an_unknown_format_version_is_refused(
    version, trained_model, previous, run_cli, expect_bad_input, tmp_path
):
    _set_format_version(previous, version)
    out = tmp_path / "forecast.csv"
    expect_bad_input(
        run_cli("predict", trained_model.csv, "--model", previous, "--out", out),
        f"tsforecast: error: {previous} has model format_version {version!r}; "
        f"tsforecast {tsforecast.__version__} reads formats 1, 2",
    )
    assert not out.exists()


def test_a_damaged_directory_is_refused(trained_model, previous, run_cli, expect_bad_input):
    (previous / "scaler.csv").unlink()
    expect_bad_input(
        run_cli("predict", trained_model.csv, "--model", previous),
        startswith=f"tsforecast: error: {previous} is incomplete or damaged: ",
    )


def test_a_format_1_directory_still_predicts_its_forecast(run_cli, forecast_of, tmp_path):
    model = FIXTURES / "model_v1"
    assert json.loads((model / "config.json").read_text())["format_version"] == 1
    out = tmp_path / "forecast.csv"
    result = run_cli("predict", FIXTURES / "tiny_hourly.csv", "--model", model, "--out", out)
    assert result.exit_code == 0, result.output
    forecast = forecast_of(out.read_text())
    stored = forecast_of((FIXTURES / "model_v1_forecast.csv").read_text())
    assert list(forecast.columns) == ["ds", "y_hat", "method"]
    assert (forecast["method"] == "model").all()
    pd.testing.assert_series_equal(forecast["ds"], stored["ds"])
    np.testing.assert_allclose(forecast["y_hat"], stored["y_hat"], rtol=0, atol=1e-5)
