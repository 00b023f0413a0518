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
