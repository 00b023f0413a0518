"""Process-wide JAX set-up: the persistent compilation cache, multi-host start."""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


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


def is_primary() -> bool:
    """Whether this process writes files: the only one, or process 0 of a multi-host run."""
    import jax

    return jax.process_index() == 0
