"""Directories and files that appear whole or not at all: the model directory, the backtest
output, the forecast log's files.

A directory is built in a hidden staging sibling, every file fsynced, then swapped into place
with one rename, so a run that dies at any moment leaves either the previous directory or the
new one, never a half-written one; on any failure the staging directory is removed. A file is
written the same way, to a hidden temporary name in its own directory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import TsforecastError
from .runtime import test_pause


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file inside `path` durable (a crash cannot undo it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(target: Path, write: Callable[[Path], None]) -> None:
    """Make `target` appear whole or not at all: `write(path)` fills a hidden temporary file
    beside it (`.<name>.tmp-*`, a dot-name that readers of the folder skip), which is fsynced
    and renamed over `target` in one step. On any failure, Ctrl-C and SIGTERM included, the
    temporary file is removed and `target` is untouched."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.tmp-", dir=target.parent)
    os.close(fd)
    temporary = Path(name)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes it private; an output is not
        write(temporary)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, target)
        fsync_dir(target.parent)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _exchange(new: Path, target: Path) -> bool:
    """Atomically swap two paths with Linux renameat2(RENAME_EXCHANGE); False where unsupported."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(new), at_fdcwd, os.fsencode(target), rename_exchange)
    return result == 0


def replace_dir(new: Path, target: Path) -> None:
    """Move the complete directory `new` to `target`, replacing any previous one in one step."""
    if not target.exists():
        os.replace(new, target)
    elif _exchange(new, target):
        shutil.rmtree(new)  # `new` now holds the previous directory
    else:
        # Without an atomic exchange there is a moment with no `target`; the previous directory
        # is still complete at `old` then.
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, old / "dir")
        os.replace(new, target)
        shutil.rmtree(old)
    fsync_dir(target.parent)


def replaceable(
    out: str | Path,
    is_ours: Callable[[Path], bool],
    described: str,
    kind: str,
    error: type[TsforecastError],
) -> Path:
    """The absolute path for `out`, refused with `error` when it is a directory holding files
    and `is_ours(path)` says it is not `described` ("a tsforecast model"): replacing it would
    delete them (`--out .` would take the data with it). `kind` names what to choose instead."""
    target = Path(out).absolute()
    if target.is_dir() and any(target.iterdir()) and not is_ours(target):
        raise error(
            f"--out {target} is a directory with other files in it, not {described}; "
            f"replacing it would delete them, so choose a new or {kind} directory"
        )
    return target


@contextmanager
def staged_dir(target: Path) -> Iterator[Path]:
    """Yield an empty staging directory beside `target`; when the block completes, fsync every
    file in it and swap it into place at `target` (replacing what was there). On any failure,
    Ctrl-C and SIGTERM included, the staging directory is removed and `target` is untouched."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it private; an output is not
        yield staging
        for path in staging.iterdir():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        fsync_dir(staging)
        test_pause("save")
        replace_dir(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
