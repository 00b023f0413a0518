"""Process-wide JAX set-up: the persistent compilation cache, multi-host start, and the steps
that process 0 of a multi-host run takes alone."""

from __future__ import annotations

import logging
import os
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .errors import PrimaryFailed, Terminated, TsforecastError

log = logging.getLogger(__name__)

T = TypeVar("T")


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tsforecast" / "xla"


def enable_compilation_cache(directory: str | Path | None) -> Path | None:
    """Keep compiled XLA programs on disk so a fresh process (a cron run, a predict) skips
    compiling what an earlier run already compiled. Failing to create the cache only costs speed."""
    import jax

    path = Path(directory) if directory else default_cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("compilation cache disabled: cannot create %s (%s)", path, exc)
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


def test_pause(point: str) -> None:
    """Test hook for the crash-safety tests: TSFORECAST_TEST_PAUSE_AT=fsync,switch makes a run
    log `test pause at <point>` and sleep there (TSFORECAST_TEST_PAUSE_SECONDS, default 60) at
    the first of those points it reaches, so a test can SIGKILL it in exactly that state. The
    points, in the order a run passes them:

    sweep        a leftover of a killed run is about to be removed (`--out`: before reading;
                 `--registry`: after reading, once the lock is held); only when there is one
    read         the data is read and validated; nothing trained, nothing written
    epoch:N      epoch N (1, 2, ...) has finished
    write:FILE   FILE of the model directory is written into the staging directory, not yet
                 fsynced (config.json, params.msgpack, scaler.csv, history.csv, metrics.json,
                 conformal_scores.npy, metrics_by_series.csv, history.png)
    fsync        every staged file and the staging directory are fsynced; nothing moved yet
    swap         only without RENAME_EXCHANGE: the previous directory is moved aside, the new
                 one is not yet in its place
    swapped      the new directory is in place, the previous one (if any) not yet removed
    switch       registry: the new `current` link is made, not yet renamed over the old one
    record       registry: `current` is switched, promotions.jsonl not yet appended
    prune        registry --keep: an old version is renamed to a hidden name, not yet deleted
    tune:N       `tune`: round N (1, 2, ...) of this run has asked its trials from the study
                 (left running in it), not yet trained them

    Unset, it costs one dictionary lookup."""
    wanted = os.environ.get("TSFORECAST_TEST_PAUSE_AT")
    if wanted and point in wanted.split(","):
        import time

        log.warning("test pause at %s", point)
        time.sleep(float(os.environ.get("TSFORECAST_TEST_PAUSE_SECONDS", "60")))


def start_distributed() -> bool:
    """Join a multi-host run when the environment describes one, before any device is touched.

    JAX_COORDINATOR_ADDRESS (host:port of process 0) with JAX_NUM_PROCESSES and JAX_PROCESS_ID
    names the run explicitly; TSFORECAST_DISTRIBUTED=auto lets JAX read it from the cluster
    (SLURM, Open MPI, Kubernetes, Cloud TPU). Afterwards jax.devices() lists every host's
    devices and the trainer's mesh spans them all. Returns whether it started one.
    """
    import jax

    env = os.environ
    if env.get("JAX_COORDINATOR_ADDRESS"):
        count, rank = env.get("JAX_NUM_PROCESSES"), env.get("JAX_PROCESS_ID")
        jax.distributed.initialize(
            coordinator_address=env["JAX_COORDINATOR_ADDRESS"],
            num_processes=int(count) if count else None,
            process_id=int(rank) if rank else None,
        )
    elif env.get("TSFORECAST_DISTRIBUTED", "").lower() == "auto":
        jax.distributed.initialize()
    else:
        return False
    log.info(
        "process %d of %d, %d devices in all",
        jax.process_index(),
        jax.process_count(),
        jax.device_count(),
    )
    return True


def multi_host() -> bool:
    """Whether this process is one of a multi-host run (`start_distributed` joined one). A
    command that never imported JAX cannot be: joining imports it."""
    jax = sys.modules.get("jax")
    return jax is not None and jax.distributed.is_initialized()


def is_primary() -> bool:
    """Whether this process writes files: the only one, or process 0 of a multi-host run."""
    if not multi_host():
        return True
    import jax

    return jax.process_index() == 0


def on_primary(action: Callable[[], T]) -> T:
    """`action()` run by process 0 alone, its result returned on every process of a multi-host
    run: the others wait for process 0 and get its (picklable) result, or, when it fails, raise
    PrimaryFailed with its message and exit code, so that every process ends alike. Every
    process must call it at the same point of a command. With one process: `action()`."""
    if not multi_host():
        return action()
    if not is_primary():
        outcome = _from_primary(None)
        if outcome[0] == "failed":
            raise PrimaryFailed(f"process 0 failed: {outcome[1]}", outcome[2])
        return outcome[1]
    try:
        value = action()
    except BaseException as exc:
        _from_primary(("failed", *_failure(exc)))
        raise
    _from_primary(("done", value))
    return value


def _failure(exc: BaseException) -> tuple[str, int]:
    """The message and exit code the CLI reports for `exc` (see cli.Group)."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", 130
    if isinstance(exc, Terminated):
        return "terminated by SIGTERM", Terminated.exit_code
    if isinstance(exc, TsforecastError):
        return str(exc), exc.exit_code
    return f"{type(exc).__name__}: {exc}".rstrip(": "), getattr(exc, "exit_code", 1)


def _from_primary(value: Any) -> Any:
    """Process 0's `value` on every process, pickled through two broadcasts (its size, then its
    bytes): collectives need the same shapes everywhere."""
    import numpy as np
    from jax.experimental import multihost_utils

    data = np.frombuffer(pickle.dumps(value), np.uint8) if is_primary() else np.zeros(0, np.uint8)
    size = int(multihost_utils.broadcast_one_to_all(np.int32(data.size)))
    buffer = np.zeros(size, np.uint8)
    buffer[: data.size] = data
    return pickle.loads(np.asarray(multihost_utils.broadcast_one_to_all(buffer)).tobytes())
