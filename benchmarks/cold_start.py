"""Cold vs warm start of `tsforecast train` and `tsforecast predict` in fresh processes.

A cron run is a fresh process: without the persistent compilation cache every run compiles
its XLA programs again. This runs the real CLI as a subprocess with an empty cache (cold) and
again with the cache the first run filled (warm), and reports wall and CPU seconds of each
(CPU as well because wall time on a shared machine depends on the neighbours; the load
average is recorded too). The issue's goal: a warm `predict` on the sample data under 3 s wall.

    python benchmarks/cold_start.py [--data sample_data/hourly.csv] [--epochs 5] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(args: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system of the child) seconds of one CLI run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "tsforecast", *args], check=True, stdout=subprocess.DEVNULL
    )
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT / "sample_data" / "hourly.csv"))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument(
        "--repeats", type=int, default=3, help="warm runs per command (the median is reported)"
    )
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "cold_start.json"))
    opts = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="tsforecast-cold-start-") as tmp:
        cache, model = Path(tmp) / "cache", Path(tmp) / "model"
        train = [
            "--cache-dir",
            str(cache),
            "train",
            opts.data,
            "--epochs",
            str(opts.epochs),
            "--out",
            str(model),
            "-q",
        ]
        predict = ["--cache-dir", str(cache), "predict", "--model", str(model)]
        for command, args in (("train", train), ("predict", predict)):
            if command == "predict":
                # Predict's programs differ from train's: start it from an empty cache too.
                subprocess.run(["rm", "-rf", str(cache)], check=True)
            cold = timed(args)
            warm = [timed(args) for _ in range(opts.repeats)]
            rows.append({"command": command, "cache": "cold", "wall_s": cold[0], "cpu_s": cold[1]})
            rows.append(
                {
                    "command": command,
                    "cache": "warm",
                    "wall_s": statistics.median(w for w, _ in warm),
                    "cpu_s": statistics.median(c for _, c in warm),
                }
            )

    print(
        f"| command | cache | wall s | CPU s |  (data {Path(opts.data).name}, "
        f"{opts.epochs} epochs; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    print("|---|---|---:|---:|")
    for row in rows:
        print(f"| {row['command']} | {row['cache']} | {row['wall_s']:.2f} | {row['cpu_s']:.2f} |")
    result = {
        "data": opts.data,
        "epochs": opts.epochs,
        "repeats": opts.repeats,
        "rows": rows,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
        },
    }
    Path(opts.out).parent.mkdir(parents=True, exist_ok=True)
    Path(opts.out).write_text(json.dumps(result, indent=2))
    print(f"written to {opts.out}")


if __name__ == "__main__":
    main()
