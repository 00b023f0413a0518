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
import os
import platform
import shutil
import statistics
import tempfile
from pathlib import Path

from common import markdown_table, run_cli, write_result

ROOT = Path(__file__).resolve().parent.parent


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
                if cache.exists():
                    shutil.rmtree(cache)
            cold = run_cli(*args, discard_stdout=True)
            warm = [run_cli(*args, discard_stdout=True) for _ in range(opts.repeats)]
            rows.append(
                {"command": command, "cache": "cold", "wall_s": cold.wall_s, "cpu_s": cold.cpu_s}
            )
            rows.append(
                {
                    "command": command,
                    "cache": "warm",
                    "wall_s": statistics.median(run.wall_s for run in warm),
                    "cpu_s": statistics.median(run.cpu_s for run in warm),
                }
            )

    print(
        f"data {Path(opts.data).name}, {opts.epochs} epochs; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n"
    )
    print(
        markdown_table(
            ["command", "cache", "wall s", "CPU s"],
            "llrr",
            [
                [row["command"], row["cache"], f"{row['wall_s']:.2f}", f"{row['cpu_s']:.2f}"]
                for row in rows
            ],
        )
    )
    result = {
        "data": opts.data,
        "epochs": opts.epochs,
        "repeats": opts.repeats,
        "rows": rows,
        # Beside the stamp's machine: the system, and how busy the neighbours kept it.
        "platform": platform.platform(),
        "load_average": os.getloadavg(),
    }
    write_result(Path(opts.out), result)
    print(f"written to {opts.out}")


if __name__ == "__main__":
    main()
