"""`tsforecast predict` of a long CSV panel under a memory limit a third of what reading it
whole takes, in chunks (`--chunk-rows`), against the same forecast read whole.

Writes a long CSV of `--series` hourly series of `--steps` values (ids like `store_00042`),
trains a tiny model on its first 50 series, then runs `predict` on the whole file twice, each
in a process of its own: with `--chunk-rows 0` (read whole, no limit), then with
`--chunk-rows N` under a limit of `--limit-mb` of resident memory. The limit is on resident
memory, which is what chunking bounds (an address-space limit, RLIMIT_AS, also counts the
virtual memory that XLA and the threads' malloc arenas reserve without using): a watchdog
samples the child's RSS every 0.05 s and kills it above the limit. The run checks that the
whole read's peak is at least three times the limit, that the chunked run completed, and that
both wrote the same bytes. The panels are written by a process of their own, so that the
children's peaks (ru_maxrss) do not start from this process's pages.

    python benchmarks/stream_memory.py [--series 4000] [--steps 10000] [--chunk-rows 1000000]
        [--limit-mb 600]
"""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
import threading
from pathlib import Path

from common import in_own_process, rss_mb, run_cli, write_panel, write_result

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "stream_memory.json"
# Random walks this long cross zero, where a log transform has no value.
TRAIN = "--hidden 8 --epochs 1 --epoch-windows 512 --ensemble 1 --transform none".split()


def children() -> list[int]:
    """This process's child processes."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == os.getpid():
                found.append(int(entry.name))
    return found


def watchdog(limit_mb: float, stop: threading.Event, killed: list) -> None:
    """Kill any child whose resident memory exceeds `limit_mb`, until `stop` is set."""
    while not stop.wait(0.05):
        for pid in children():
            rss = rss_mb(pid)
            if rss > limit_mb:
                killed.append(rss)
                os.kill(pid, signal.SIGKILL)


def predict(work: Path, chunk_rows: int, out: Path, limit_mb: float | None = None) -> dict:
    stop, killed = threading.Event(), []
    guard = None
    if limit_mb is not None:
        guard = threading.Thread(target=watchdog, args=(limit_mb, stop, killed), daemon=True)
        guard.start()
    try:
        run = run_cli(
            "predict", "panel.csv", "--model", "model", "--chunk-rows", str(chunk_rows),
            "--out", str(out), cwd=work, check=False, sample_rss_every=0.1,
        )  # fmt: skip
    finally:
        stop.set()
        if guard is not None:
            guard.join()
    return {
        "chunk_rows": chunk_rows,
        "exit_code": run.exit_code,
        "peak_mb": round(run.peak_mb, 1),  # ru_maxrss: every page ever resident, spikes too
        "sampled_peak_mb": round(max((rss for _, rss in run.rss_samples), default=0.0), 1),
        "killed_at_mb": round(killed[0], 1) if killed else None,
        "wall_s": round(run.wall_s, 1),
        "cpu_s": round(run.cpu_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=4000)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--chunk-rows", type=int, default=1_000_000)
    parser.add_argument("--limit-mb", type=float, default=600)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    limit = args.limit_mb
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        in_own_process(write_panel, work / "panel.csv", args.series, args.steps)
        in_own_process(write_panel, work / "train.csv", 50, args.steps)
        run_cli("train", "train.csv", *TRAIN, "--out", "model", cwd=work, discard_stdout=True)
        whole = predict(work, 0, work / "whole.csv")
        chunked = predict(work, args.chunk_rows, work / "chunked.csv", limit)
        written = work / "chunked.csv"
        same = written.exists() and (work / "whole.csv").read_bytes() == written.read_bytes()
        size_mb = (work / "panel.csv").stat().st_size / 2**20
    result = {
        "rows": args.series * args.steps,
        "series": args.series,
        "csv_mb": round(size_mb, 1),
        "memory_limit": "resident memory sampled every 0.05 s, the child killed above it "
        "(not RLIMIT_AS)",
        "limit_mb": round(limit, 1),
        "whole_over_limit": round(whole["peak_mb"] / limit, 2),
        "whole": whole,
        "chunked": chunked,
        "same_bytes": same,
    }
    print(result)
    write_result(args.out, result)
    if not same or chunked["exit_code"] != 0 or whole["peak_mb"] < 3 * limit:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
