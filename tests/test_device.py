"""Device checks: training runs on the devices jax has, on its default backend, and the mesh
spans all local devices. Fast on CPU (one host device per core); `make bench-gpu` runs this file
on a GPU with JAX_PLATFORMS=cuda and TSFORECAST_EXPECT_BACKEND=gpu, so a silent fall back to the
CPU fails there."""

from __future__ import annotations

import os
import subprocess

import jax
import numpy as np
import pytest

from tsforecast.placement import make_mesh, replicate

# The session model's shapes (conftest.TRAIN_ARGS): in the whole suite its programs are compiled
# already, in the session's compilation cache.
LOOKBACK, HORIZON, BATCH = 48, 12, 32


def _devices(tree) -> set:
    return {d for leaf in jax.tree_util.tree_leaves(tree) for d in leaf.devices()}


def expected_backend() -> str:
    """TSFORECAST_EXPECT_BACKEND, else gpu where nvidia-smi lists one, else cpu."""
    if "TSFORECAST_EXPECT_BACKEND" in os.environ:
        return os.environ["TSFORECAST_EXPECT_BACKEND"]
    try:
        listed = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        listed = ""
    return "gpu" if "GPU" in listed else "cpu"


def test_jax_runs_on_the_expected_backend():
    assert jax.default_backend() == expected_backend(), jax.devices()


def test_the_mesh_spans_every_local_device():
    local = jax.local_devices()
    mesh = make_mesh(8 * len(local))
    assert mesh.axis_names == ("batch",)
    assert set(mesh.devices.flat) == set(local)
    (placed,) = replicate(mesh, np.arange(4, dtype=np.float32))
    assert _devices(placed) == set(local)
    assert {d.platform for d in local} == {jax.default_backend()}


@pytest.mark.slow
def test_training_runs_on_the_mesh_and_the_model_predicts(
    run_cli, write_series, forecast_of, tmp_path, monkeypatch
):
    # The devices of every array the trainer puts on a device, through whichever helper it uses
    # (read at once: the compiled epoch donates its inputs).
    devices = set()
    device_put = jax.device_put

    def spy(*args, **kwargs):
        out = device_put(*args, **kwargs)
        devices.update(_devices(out))
        return out

    monkeypatch.setattr(jax, "device_put", spy)
    csv = write_series()
    args = (
        f"--hidden 16 --lookback {LOOKBACK} --horizon {HORIZON} --batch-size {BATCH} --epochs 2"
        " --ensemble 1"
    )
    trained = run_cli("train", csv, *args.split(), "-q", "--out", tmp_path / "model")
    assert trained.exit_code == 0, trained.output
    assert devices, "training put nothing on a device"
    assert {d.platform for d in devices} == {jax.default_backend()}
    assert set(make_mesh(BATCH).devices.flat) <= devices

    monkeypatch.setattr(jax, "device_put", device_put)
    predicted = run_cli("predict", csv, "--model", tmp_path / "model")
    assert predicted.exit_code == 0, predicted.output
    forecast = forecast_of(predicted.stdout)
    assert len(forecast) == HORIZON
    assert np.isfinite(forecast["y_hat"].to_numpy()).all()
