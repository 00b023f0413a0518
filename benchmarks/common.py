"""What the benchmark scripts share: running the tsforecast CLI in a child process and measuring
it, writing a result file that says where it came from, and printing a markdown table.

The scripts are run as `python benchmarks/NAME.py` from the repository root, which puts
benchmarks/ on the path, so they import this module as `from common import ...`. It imports
only the standard library: speed.py must import tsforecast before jax starts.
"""

from __future__ import annotations

import codecs
import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TextIO

REPO = Path(__file__).resolve().parents[1]
STDERR_TAIL_CHARS = 4000


@dataclass(frozen=True)
class CliRun:
    """One finished `tsforecast` run. `cpu_s` is user + system time of the child and of the
    children it waited for, on all cores (on a shared machine the wall time says as much about
    the neighbours); `peak_mb` its peak resident memory (the kernel's ru_maxrss);
    `rss_samples` (Unix time, MB) only when `run_cli` was asked to sample."""

    args: tuple[str, ...]
    exit_code: int
    wall_s: float
    cpu_s: float
    peak_mb: float
    stderr_tail: str
    rss_samples: tuple[tuple[float, float], ...] = ()


class CliFailed(RuntimeError):
    """A run that had to succeed exited with another code."""


def run_cli(
    *args: str,
    check: bool = True,
    source: Path | None = None,
    cwd: Path | None = None,
    discard_stdout: bool = False,
    stdout_to: IO | None = None,
    stderr_to: TextIO | None = None,
    sample_rss_every: float | None = None,
) -> CliRun:
    """`python -m tsforecast ARGS` in a child process, measured.

    Its stdout goes to `stdout_to` (an open file; default: this process's stdout). Its stderr
    still reaches `stderr_to` (default: this process's stderr) as it is written; the
    end of it is kept for the error raised when `check` and the exit code is not 0. `source`: a
    tree whose tsforecast package runs instead of the installed one (a `git archive` of another
    commit). `sample_rss_every` seconds the child's resident memory is sampled; that polling
    adds up to one interval to the wall time, so it is off unless asked for.
    """
    env = None if source is None else {**os.environ, "PYTHONPATH": str(source)}
    began = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "tsforecast", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL if discard_stdout else stdout_to,
        stderr=subprocess.PIPE,
    )
    tail = _StderrTee(child.stderr, stderr_to or sys.stderr)
    samples = []
    if sample_rss_every is None:
        _, status, usage = os.wait4(child.pid, 0)
    else:
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            samples.append((time.time(), rss_mb(child.pid)))
            time.sleep(sample_rss_every)
    wall_s = time.perf_counter() - began
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, not by Popen
    run = CliRun(
        args=args,
        exit_code=child.returncode,
        wall_s=wall_s,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_mb=usage.ru_maxrss / 1024,  # KiB on Linux
        stderr_tail=tail.finish(),
        rss_samples=tuple(samples),
    )
    if check and run.exit_code != 0:
        raise CliFailed(
            f"tsforecast {' '.join(args)} exited {run.exit_code}; its stderr ended:\n"
            f"{run.stderr_tail}"
        )
    return run


class _StderrTee:
    """Copies a child's stderr pipe to `sink` as it arrives (progress stays visible) in a
    thread of its own, so that a full pipe never blocks the child, keeping its last
    characters."""

    def __init__(self, pipe: IO[bytes], sink: TextIO):
        self._pipe, self._sink, self._tail = pipe, sink, ""
        self._thread = threading.Thread(target=self._copy, daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while chunk := os.read(self._pipe.fileno(), 65536):
            text = decoder.decode(chunk)
            self._sink.write(text)
            self._sink.flush()
            self._tail = (self._tail + text)[-STDERR_TAIL_CHARS:]

    def finish(self) -> str:
        """The end of the stderr, once the pipe has closed."""
        self._thread.join()
        self._pipe.close()
        return self._tail


def write_panel(path: Path, series: int, steps: int, id_prefix: str = "store_") -> None:
    """A long CSV of `series` hourly series of `steps` values (ids like `store_00042`): a daily
    sine plus a random walk, around 100. Large: write it `in_own_process`."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv

    rng = np.random.default_rng(0)
    ids = np.repeat(np.asarray([f"{id_prefix}{k:05d}" for k in range(series)]), steps)
    start = np.datetime64("2020-01-01T00:00:00", "s")
    ds = start + np.tile(np.arange(steps, dtype="timedelta64[h]"), series)
    daily = 10 * np.sin(2 * np.pi * np.arange(steps) / 24)
    walk = 0.3 * np.cumsum(rng.normal(size=(series, steps)), axis=1)
    y = (100 + daily[None, :] + walk).reshape(-1).round(3)
    pyarrow.csv.write_csv(pa.table({"unique_id": ids, "ds": ds, "y": y}), path)


def in_own_process(function, *args) -> None:
    """`function(*args)` in a fresh interpreter (a module-level function of the running script):
    what it allocates leaves with it. A benchmark that measures its children's peak memory
    must make big inputs this way: Linux starts a child's ru_maxrss from the pages it shared
    with its parent before exec, so a parent holding a gigabyte gives every child a peak of at
    least a gigabyte."""
    import multiprocessing

    process = multiprocessing.get_context("spawn").Process(target=function, args=args)
    process.start()
    process.join()
    if process.exitcode:
        raise RuntimeError(f"{function.__name__}{args} exited with {process.exitcode}")


def rss_mb(pid: int) -> float:
    """The resident memory of process `pid` now, 0 once it has gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO, capture_output=True, text=True, check=False
    ).stdout.strip()


def cpu_model() -> str:
    """The processor's name as Linux gives it, else as Python does, else '?'."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def stamp() -> dict[str, object]:
    """Where a result comes from: the commit (and whether tracked files had changes), the
    command, the machine and the date (UTC)."""
    return {
        "commit": _git("rev-parse", "HEAD"),
        "uncommitted_changes": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "command": " ".join(["python", *sys.argv]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {cpu_model()}",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def write_result(
    path: Path, payload: dict[str, object], stamp_at_start: dict[str, object] | None = None
) -> None:
    """`payload` as JSON at `path`, after the stamp: `stamp_at_start` where a script rewrites
    its file as runs finish (the code as it was when they began), else one taken now. The file
    is replaced whole, so a run cut off mid-write leaves the previous one."""
    stamped = stamp() if stamp_at_start is None else stamp_at_start
    clash = stamped.keys() & payload.keys()
    if clash:
        raise ValueError(f"the payload's keys {sorted(clash)} would overwrite the stamp's")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps({**stamped, **payload}, indent=2, default=str) + "\n")
    os.replace(partial, path)


ALIGNMENTS = {"l": "---", "r": "---:", "c": ":---:"}


def markdown_table(headers: Sequence[str], align: str, rows: Iterable[Sequence[object]]) -> str:
    """A markdown table of `rows` (cells already formatted); `align` has a letter per column:
    l(eft), r(ight) or c(entre)."""
    if len(align) != len(headers) or set(align) - ALIGNMENTS.keys():
        raise ValueError(f"align {align!r}: expected one of l, r, c for each of {len(headers)}")
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join(ALIGNMENTS[a] for a in align) + "|",
    ]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"a row of {len(row)} cells under {len(headers)} headers: {row}")
        lines.append("| " + " | ".join(map(str, row)) + " |")
    return "\n".join(lines)


def export_revision(rev: str, into: Path, *paths: str) -> Path:
    """The files of git revision `rev` (all, or only `paths`) extracted into the new folder
    `into`."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, *paths], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into
