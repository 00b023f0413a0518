"""The model registry through the real CLI: versions, promotion, rollback, warm start, locking,
json logs, and crash safety under SIGTERM, Ctrl-C and a full disk (SIGKILL: test_kills.py).

Every training run uses the session model's configuration and series length, so the module
compiles almost nothing itself: the session's persistent compilation cache (conftest), which
the subprocesses share, holds the programs, and each run only traces.
"""

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from tsforecast.cli import cli

# Trains networks of its own (through the CLI): left out of `make test-fast`.
pytestmark = pytest.mark.slow

# The model and series length of conftest's session model (only fewer epochs), so that this
# module reuses its compiled programs from the session's compilation cache.
TINY = [
    "--hidden",
    "16",
    "--horizon",
    "12",
    "--batch-size",
    "32",
    "--lr",
    "0.003",
    "--epochs",
    "2",
    "--seed",
    "0",
    "--ensemble",
    "1",
    "-q",
]
LOOKBACK = ["--lookback", "48"]


@pytest.fixture(scope="module")
def data(tmp_path_factory, make_series):
    root = tmp_path_factory.mktemp("data")
    real, shifted = root / "real.csv", root / "shifted.csv"
    make_series(600).to_csv(real, index=False)
    # Same length, a level far away: a model trained on it is useless on the real series, so a
    # model trained on the real one must beat it.
    make_series(600, seed=1, level=5000.0).to_csv(shifted, index=False)
    return {"real": real, "shifted": shifted}


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def train(data_path, registry, *extra, lookback=True):
    return invoke(
        "train", data_path, *TINY, *(LOOKBACK if lookback else []), "--registry", registry, *extra
    )


def current(registry: Path) -> str:
    return Path(os.readlink(registry / "current")).name


def versions(registry: Path) -> list[str]:
    return sorted(p.name for p in (registry / "versions").iterdir())


def forecast(*args) -> str:
    result = invoke("predict", *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_promote_if_better_candidate_skip_list_rollback_keep(tmp_path, data):
    reg = tmp_path / "reg"
    # Each version's own forecast of the real series, from its directory (computed once: a
    # version never changes), to tell which version `predict --registry` serves.
    own: dict[str, str] = {}

    def assert_serves(version: str, other: str) -> None:
        for v in (version, other):
            own.setdefault(v, forecast(data["real"], "--model", reg / "versions" / v))
        assert own[version] != own[other], "the versions must forecast apart to be told apart"
        served = forecast(data["real"], "--registry", reg)
        assert served == own[version] and served != own[other]

    result = train(data["shifted"], reg)
    assert result.exit_code == 0, result.output
    (v1,) = versions(reg)
    assert current(reg) == v1 and "is now current" in result.stderr

    loud = [a for a in TINY if a != "-q"]
    result = invoke(
        "--log-format",
        "json",
        "train",
        data["real"],
        *loud,
        *LOOKBACK,
        "--registry",
        reg,
        "--promote",
        "if-better",
    )
    assert result.exit_code == 0, result.output
    events = json_lines(result.stderr)
    assert all({"event", "timestamp", "message"} <= set(e) for e in events)
    names = [e["event"] for e in events]
    assert names.count("epoch") == 2 and names[-2:] == ["trained", "promoted"]
    promoted = events[-1]
    v2 = promoted["version"]
    assert current(reg) == v2 and promoted["previous"] == v1 and promoted["duration"] > 0
    assert promoted["metrics"]["served"]["mase"] < promoted["current_metrics"]["served"]["mase"]
    assert_serves(v2, v1)
    # Both scores on the same windows, in the message and in promotions.jsonl.
    log = json_lines((reg / "promotions.jsonl").read_text())
    compared = log[-1]["comparison"]
    assert log[-1]["action"] == "promote" and log[-1]["version"] == v2
    # The new version scored by the same program as the current one: the training run's own
    # score comes from a differently sharded program, equal to float32 rounding.
    assert compared["new"] == pytest.approx(promoted["metrics"]["served"]["mase"], rel=1e-5)
    assert compared["current"] == promoted["current_metrics"]["served"]["mase"]
    assert compared["metric"] == "mase" and compared["windows"] > 0
    assert promoted["message"] == (
        f"version {v2} is now current (was {v1}): mase {compared['new']:.4g} against "
        f"{compared['current']:.4g} on the same {compared['windows']} validation windows"
    )

    # The same run again trains the same model: not better, so kept as a candidate, exit 3.
    result = train(data["real"], reg, "--promote", "if-better")
    assert result.exit_code == 3, result.output
    v3 = (set(versions(reg)) - {v1, v2}).pop()
    assert current(reg) == v2
    assert_serves(v2, v1)
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("tsforecast: not promoted: mase ") and f"kept as candidate {v3}" in line
    kept = json_lines((reg / "promotions.jsonl").read_text())[-1]
    assert kept["action"] == "candidate" and kept["version"] == v3 and kept["previous"] == v2
    assert f"mase {kept['comparison']['new']:.4g} is not better than" in line
    # The current version scored on the new run's validation windows is exactly its own score.
    champion = json.loads((reg / "versions" / v3 / "config.json").read_text())["registry"][
        "champion"
    ]
    own = json.loads((reg / "versions" / v2 / "metrics.json").read_text())
    assert champion["version"] == v2
    assert champion["metrics"]["served"]["mase"] == pytest.approx(own["served"]["mase"], rel=1e-5)

    result = train(data["real"], reg, "--skip-unchanged")
    assert result.exit_code == 0 and "nothing to do: data unchanged" in result.stderr
    assert len(versions(reg)) == 3

    listing = invoke("registry", "list", reg)
    assert listing.exit_code == 0, listing.output
    lines = listing.stdout.splitlines()
    # Below the table, each head-to-head as promotions.jsonl recorded it.
    assert (
        f"{v2}: promoted on mase {compared['new']:.4g} against {v1}'s "
        f"{compared['current']:.4g} on the same {compared['windows']} validation windows (the "
        "table scores each version on its own)"
    ) in lines
    c = kept["comparison"]
    assert (
        f"{v3}: kept as candidate on mase {c['new']:.4g} against {v2}'s {c['current']:.4g} on "
        f"the same {c['windows']} validation windows (the table scores each version on its own)"
    ) in lines
    lines = [line for line in lines if " on mase " not in line]
    rows = {v: line for v in (v1, v2, v3) for line in lines if v in line}
    assert len(rows) == 3 and "*" in rows[v2] and "*" not in rows[v1] + rows[v3]
    # The listing shows what each version serves, and seasonal naive beside it.
    cells = rows[v2].split()
    assert f"{own['served']['mase']:.4g}" in cells and f"{own['served']['smape']:.4g}" in cells
    assert f"{own['seasonal_naive']['mase']:.4g}" in cells

    result = invoke("registry", "rollback", reg)
    assert result.exit_code == 0 and current(reg) == v1
    assert_serves(v1, v2)
    result = invoke("registry", "rollback", reg)
    assert result.exit_code == 2 and "nothing to roll back to" in result.stderr

    assert invoke("registry", "promote", reg, v3).exit_code == 0 and current(reg) == v3
    assert_serves(v3, v1)
    result = invoke("registry", "promote", reg, "nope")
    assert result.exit_code == 2 and "no version 'nope'" in result.stderr
    # A path, even to a model, is not a version name: `current` would leave the registry.
    for outside in (reg / "versions" / v1, f"../versions/{v1}", f"versions/{v1}", ".."):
        result = invoke("registry", "promote", reg, outside)
        assert result.exit_code == 2 and "is not a version name" in result.stderr, outside
        assert os.readlink(reg / "current") == f"versions/{v3}"

    result = train(data["shifted"], reg, "--keep", "2")
    assert result.exit_code == 0, result.output
    v4 = current(reg)
    assert versions(reg) == [v3, v4]
    assert_serves(v4, v3)
    assert invoke("registry", "rollback", reg).exit_code == 0 and current(reg) == v3
    assert_serves(v3, v4)


def test_warm_start_continues_from_current_and_refuses_other_architectures(tmp_path, data):
    reg = tmp_path / "reg"
    assert train(data["real"], reg).exit_code == 0
    (v1,) = versions(reg)

    result = train(data["real"], reg, "--warm-start", "--hidden", "32")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "tsforecast: error: --warm-start: "
        f"these options change the architecture of current version {v1}: "
        "--hidden 16 -> 32; use the current values or drop --warm-start"
    )
    assert versions(reg) == [v1]

    # No --lookback: a warm start takes the current version's (the default would be 96).
    result = train(data["real"], reg, "--warm-start", lookback=False)
    assert result.exit_code == 0, result.output
    v2 = current(reg)
    saved = json.loads((reg / "versions" / v2 / "config.json").read_text())
    assert (
        saved["registry"]["warm_start_from"] == v1 and saved["config"]["window"]["lookback"] == 48
    )
    # Starting from trained weights, the first epoch is already better than the first epoch
    # from a random initialisation (with the same seed a cold start would repeat v1 exactly).
    first = [
        pd.read_csv(reg / "versions" / v / "history.csv")["val_loss"].iloc[0] for v in (v1, v2)
    ]
    assert first[1] < first[0]


def test_warm_start_keeps_the_chunk_of_a_version_trained_before_the_default(tmp_path, data):
    reg = tmp_path / "reg"
    assert train(data["real"], reg, "--chunk", "1").exit_code == 0
    # Without --chunk the default would read a day per step (24 for this hourly series), a
    # different architecture; the warm start keeps the current version's one value per step.
    result = train(data["real"], reg, "--warm-start")
    assert result.exit_code == 0, result.output
    saved = json.loads((reg / "versions" / current(reg) / "config.json").read_text())
    assert saved["config"]["model"]["chunk"] == 1 and saved["registry"]["warm_start_from"]
    # A cold start takes the default.
    assert train(data["real"], reg).exit_code == 0
    saved = json.loads((reg / "versions" / current(reg) / "config.json").read_text())
    assert saved["config"]["model"]["chunk"] == 24


def test_a_registry_given_as_a_model_and_a_model_as_a_registry_are_named(tmp_path, data):
    reg = tmp_path / "reg"
    assert train(data["real"], reg).exit_code == 0
    result = invoke("predict", "--model", reg)
    assert result.exit_code == 2 and result.stderr.strip() == (
        f"tsforecast: error: {reg} is a registry, not a model directory: use --registry {reg} "
        f"(or --model {reg / 'current'})"
    )
    model = reg / "versions" / current(reg)
    result = invoke("predict", "--registry", model)
    assert result.exit_code == 2 and result.stderr.strip() == (
        f"tsforecast: error: {model} is a model directory, not a registry: use --model {model}"
    )


def test_registry_options_need_registry_and_exclude_out_and_model(tmp_path, data):
    reg = tmp_path / "reg"
    cases = [
        (("train", data["real"], "--keep", "3"), "tsforecast: error: --keep needs --registry"),
        (
            ("train", data["real"], "--registry", reg, "--out", tmp_path / "m"),
            "tsforecast: error: --out and --registry are mutually exclusive: "
            "a registry names its versions itself",
        ),
        (
            ("predict", "--registry", reg, "--model", tmp_path / "m"),
            "tsforecast: error: --model and --registry are mutually exclusive",
        ),
        (
            ("predict", "--registry", reg),
            f"tsforecast: error: no registry at {reg}; create one with: "
            f"tsforecast train DATA --registry {reg}",
        ),
    ]
    for args, line in cases:
        result = invoke(*args)
        assert (result.exit_code, result.stderr.strip()) == (2, line)
    assert not reg.exists()


def test_second_run_waits_for_the_lock_then_exits_75(tmp_path, data):
    reg = tmp_path / "reg"
    (reg / "versions").mkdir(parents=True)
    with open(reg / ".lock", "w") as holder:
        holder.write("4242\n")
        holder.flush()
        fcntl.flock(holder, fcntl.LOCK_EX)
        began = time.monotonic()
        result = train(data["real"], reg, "--lock-timeout", "0.3")
        waited = time.monotonic() - began
        assert result.exit_code == 75
        assert result.stderr.strip() == (
            f"tsforecast: error: registry {reg} is locked by another run (pid 4242); "
            "gave up after 0.3s (--lock-timeout)"
        )
        assert waited >= 0.3
        result = invoke("--log-format", "json", "registry", "rollback", reg, "--lock-timeout", "0")
        (line,) = json_lines(result.stderr)
        assert result.exit_code == 75 and line["event"] == "error" and line["exit_code"] == 75
    assert versions(reg) == []


# Crash safety: real signals, a real full disk.


def assert_clean(reg: Path, expected_current: str, expected_versions: list[str]) -> None:
    """`current` unchanged, nothing half-written left, and the lock free."""
    assert current(reg) == expected_current
    assert versions(reg) == expected_versions
    assert not list(reg.glob(".current.tmp-*"))
    with open(reg / ".lock") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)


def signal_when(found, sig, run_ended: threading.Event) -> threading.Thread:
    """Send `sig` to this process (handled in the main thread, as from a terminal or a service
    manager) once `found()` is true; it gives up when the run has ended without it."""

    def watch():
        while not run_ended.is_set():
            if found():
                os.kill(os.getpid(), sig)
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher


@pytest.fixture
def default_sigint():
    """Ctrl-C as a fresh process gets it (KeyboardInterrupt), whatever handler an earlier test
    in this process left: alone the test below passed, after the whole suite its run once
    ignored SIGINT."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_sigterm_and_ctrl_c_stop_cleanly(tmp_path, data, monkeypatch, default_sigint):
    reg = tmp_path / "reg"
    assert train(data["real"], reg).exit_code == 0
    (v1,) = versions(reg)
    staged = lambda: any((reg / "versions").glob(".*.tmp-*/history.png"))  # noqa: E731 - the new version is complete in staging
    linked = lambda: any(reg.glob(".current.tmp-*"))  # noqa: E731 - the new link is made, not yet renamed
    # Each run pauses only where its signal is due: a pause at fsync before the switch would
    # spend a minute of the watcher's two and, on a loaded machine, let the run finish first.
    for pause, found, sig, code, line in (
        ("fsync", staged, signal.SIGTERM, 143, "tsforecast: terminated by SIGTERM"),
        ("switch", linked, signal.SIGINT, 130, "tsforecast: interrupted"),
    ):
        monkeypatch.setenv("TSFORECAST_TEST_PAUSE_AT", pause)
        run_ended = threading.Event()
        watcher = signal_when(found, sig, run_ended)
        result = train(data["real"], reg, "--seed", "1")
        run_ended.set()
        watcher.join()
        assert result.exit_code == code
        assert result.stderr.strip().splitlines()[-1] == line
        assert_clean(reg, v1, [v1])


def test_full_disk_is_a_clear_error_and_current_stays(tmp_path, data):
    reg = tmp_path / "reg"
    assert train(data["real"], reg).exit_code == 0
    (v1,) = versions(reg)

    # Files may grow to 1 KB: the new version's config.json cannot be written (EFBIG, as ENOSPC
    # would be on a full disk). SIGXFSZ would kill the process instead. Set in the child itself:
    # a preexec_fn forks this multithreaded (JAX) process, which Python warns against.
    small_disk = (
        "import resource, runpy, signal, sys; "
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024)); "
        "sys.argv[0] = 'tsforecast'; "
        "runpy.run_module('tsforecast', run_name='__main__')"
    )
    args = ["train", data["real"], *TINY, *LOOKBACK, "--registry", reg, "--seed", "1"]
    process = subprocess.Popen(
        [sys.executable, "-c", small_disk, *map(str, args)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("tsforecast: error: cannot write version ") and "File too large" in last
    assert last.endswith("current is unchanged")
    assert_clean(reg, v1, [v1])
