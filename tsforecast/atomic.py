"""Directories and files that appear whole or not at all: the model directory, the backtest
output, the forecast log's files.

A directory is built in a hidden staging sibling, every file fsynced, then swapped into place
with one rename, so a run that dies at any moment leaves either the previous directory or the
new one, never a half-written one; on any failure the staging directory is removed. A file is
written the same way, to a hidden temporary name in its own directory.

Writers hold an flock on the parent directory from making the staging directory until the
swap is done, so whoever gets that lock knows every hidden sibling (`.NAME.tmp-*`,
`.NAME.old-*`) is a killed run's and may remove it; the kernel drops the lock of a dead process.
Where RENAME_EXCHANGE is missing, the swap is two renames with the previous directory parked at
`.NAME.old-*/dir` in between; readers (`read_files`) find it there, and the next run puts it
back if the writer died in between.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import LockBusy, TsforecastError
from .runtime import test_pause

# A writer replacing the directory or removing the old one between two looks of a reader: it
# reads again, as often as this, before giving up.
READ_ATTEMPTS = 20


@contextmanager
def held_lock(path: Path, timeout: float, what: str) -> Iterator[None]:
    """Hold an exclusive flock on the file `path` (created if missing), for `what` (the
    registry, a tuning study); the kernel drops it when the process dies, so a killed run never
    leaves it locked. Waits up to `timeout` seconds, then raises LockBusy naming the holder's
    pid; OSError from creating the file is the caller's to word."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                    raise LockBusy(
                        f"{what} is locked by another run (pid {holder}); gave up after "
                        f"{timeout:g}s (--lock-timeout)"
                    ) from None
                time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


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


@contextmanager
def _writers_lock(parent: Path, wait: bool) -> Iterator[bool]:
    """Hold an flock on the directory `parent`; yields False when another process holds it
    (and `wait` is false) or the filesystem has no locks (then nothing can tell a killed run's
    leftovers from a live one's)."""
    fd = os.open(parent, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            locked = True
        except OSError:
            locked = False
        yield locked
    finally:
        os.close(fd)


def _leftovers(target: Path, kind: str) -> list[Path]:
    """The hidden `kind` ("tmp" or "old") siblings of `target` that staged_dir makes (a
    mkdtemp suffix), newest first."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.{kind}-[A-Za-z0-9_]+")
    found = []
    for path in target.parent.iterdir():
        if pattern.fullmatch(path.name):
            try:
                found.append((path.lstat().st_mtime_ns, path))
            except FileNotFoundError:
                continue  # removed meanwhile
    return [path for _, path in sorted(found, reverse=True)]


def _sweep_locked(target: Path) -> None:
    # Holding the writers' lock: no live run has a staging or parked directory here.
    staged, parked = _leftovers(target, "tmp"), _leftovers(target, "old")
    if not staged + parked:
        return
    if not target.exists():
        # A run died between the two renames of a swap without RENAME_EXCHANGE: the previous
        # directory goes back in place.
        previous = next((p / "dir" for p in parked if (p / "dir").is_dir()), None)
        if previous is not None:
            os.replace(previous, target)
    for leftover in staged + parked:
        test_pause("sweep")
        if (leftover / "dir").is_dir():
            os.replace(leftover / "dir", leftover / "removed")  # see read_files
        shutil.rmtree(leftover, ignore_errors=True)
    fsync_dir(target.parent)


def sweep(target: Path) -> None:
    """Remove what killed runs writing `target` left beside it (staging directories, the
    previous directory of an unfinished swap, put back first if `target` is missing). Leaves
    everything while another run is writing beside `target`: a later run sweeps it."""
    if not target.parent.is_dir():
        return
    with _writers_lock(target.parent, wait=False) as locked:
        if locked:
            _sweep_locked(target)


def replace_dir(new: Path, target: Path) -> None:
    """Move the complete directory `new` to `target`, replacing any previous one in one step.
    Call holding the writers' lock on the parent."""
    parent = target.parent
    if not target.exists():
        os.replace(new, target)
        fsync_dir(parent)
        test_pause("swapped")
    elif _exchange(new, target):
        fsync_dir(parent)
        test_pause("swapped")
        shutil.rmtree(new, ignore_errors=True)  # `new` now holds the previous directory
    else:
        # Without an atomic exchange there is a moment with no `target`: the previous directory
        # is parked complete at `aside/dir` then, where readers look (read_files), and where the
        # next run takes it back from (sweep) if this one dies before the second rename.
        aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=parent))
        os.replace(target, aside / "dir")
        try:
            test_pause("swap")
            os.replace(new, target)
        except BaseException:
            if not target.exists():
                os.replace(aside / "dir", target)
                aside.rmdir()
            raise
        fsync_dir(parent)
        test_pause("swapped")
        # Renamed before it is deleted, so that a reader that found it parked notices it went.
        os.replace(aside / "dir", aside / "removed")
        shutil.rmtree(aside, ignore_errors=True)


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
    Ctrl-C and SIGTERM included, the staging directory is removed and `target` is untouched.
    Another run writing beside `target` is waited for; killed runs' leftovers are removed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with _writers_lock(target.parent, wait=True) as locked:
        if locked:
            _sweep_locked(target)
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
            test_pause("fsync")
            replace_dir(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def _located(target: Path) -> Path | None:
    """`target`, or where an unfinished swap without RENAME_EXCHANGE parked it; None: neither.
    The parked copy is removed only after `target` is back, so one more look settles it."""
    for _ in range(2):
        if target.is_dir():
            return target
        for parked in _leftovers(target, "old") if target.parent.is_dir() else ():
            if (parked / "dir").is_dir():
                return parked / "dir"
    return None


def _read_at(directory: int, name: str) -> bytes | None:
    """The file `name` in the open directory; None when it is a directory, not a file."""
    fd = os.open(name, os.O_RDONLY, dir_fd=directory)
    try:
        handle = os.fdopen(fd, "rb")
    except IsADirectoryError:
        os.close(fd)
        return None
    with handle:
        return handle.read()


def read_files(target: Path, names: Collection[str]) -> dict[str, bytes] | None:
    """The files `names` that the directory at `target` holds (those it lacks are left out),
    all read from one directory: while a writer swaps a new directory in or removes the old
    one, the reader never mixes the two, never sees half of a directory being deleted, and
    never finds no directory. None when there is no directory at `target`."""
    for _ in range(READ_ATTEMPTS):
        where = _located(target)
        if where is None:
            return None
        try:
            fd = os.open(where, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            continue
        try:
            present = set(os.listdir(fd))
            read = {name: _read_at(fd, name) for name in names if name in present}
            files = {name: data for name, data in read.items() if data is not None}
            # Every writer renames a directory away before deleting anything in it, so one
            # still found where it was read was read whole.
            opened, now = os.fstat(fd), os.stat(where)
            if (now.st_dev, now.st_ino) == (opened.st_dev, opened.st_ino):
                return files
        except FileNotFoundError:
            pass
        finally:
            os.close(fd)
        time.sleep(0.001)
    raise TsforecastError(
        f"{target} changed {READ_ATTEMPTS} times while it was being read; try again"
    )
