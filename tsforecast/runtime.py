"""Process-wide JAX set-up: the persistent compilation cache."""

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
    """Test hook for the crash-safety tests: TSFORECAST_TEST_PAUSE_AT=save,promote makes a run
    log `test pause at <point>` and sleep there, so a test can kill it inside that window
    deterministically. Points: `save` (the new model directory is complete in its staging
    directory, not yet renamed into place) and `promote` (the new `current` link is made, not
    yet renamed over the old one). Unset, it costs one dictionary lookup."""
    wanted = os.environ.get("TSFORECAST_TEST_PAUSE_AT")
    if wanted and point in wanted.split(","):
        import time

        log.warning("test pause at %s", point)
        time.sleep(float(os.environ.get("TSFORECAST_TEST_PAUSE_SECONDS", "60")))
