"""Peak memory of `tsforecast train` and `predict` on big panels against the size of their values.

For each of `--steps` lengths, writes a long CSV of `--series` hourly series (random walks on a
daily cycle; 1,000 x 10,000 = 10 million rows at the largest default) into a temporary folder,
then runs `train` and `predict` on it through the CLI, each in a process of its own, and reads
that process's peak resident memory (ru_maxrss from wait4), and for `train` also the peak
sampled until its first epoch ends (reading, placing the data, the epoch and its validation
loss; the scores after it are computed on the host). Training is small (one epoch of 4,096
windows, hidden 16, one network); everything else is the default, so validation covers the
default tenth of every series, as many windows as there are rows / 10. XLA's scratch memory
for the validation-loss program at each size is read from the compiled program. The peaks are
fitted as peak = a x raw + b, raw being the values as float64 (rows x 8 bytes).

`--before REV` runs the same with the package as of git revision REV, for comparison;
`--repeats` runs each more than once (peaks vary by a few hundred MB from run to run with the
reader's and XLA's threads). Every run starts from an empty compilation cache, so each pays for
compiling, as a first run does.

    python benchmarks/memory.py [--series 1000] [--steps 1000,3000,10000] [--repeats 1]
        [--before REV] [--before-steps 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import numpy as np
from common import (
    export_revision,
    in_own_process,
    markdown_table,
    run_cli,
    write_panel,
    write_result,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "memory.json"
TRAIN = "--hidden 16 --epochs 1 --epoch-windows 4096 --batch-size 256 --ensemble 1".split()


def first_epoch_end(log: Path) -> float | None:
    """When the run logged in `log` (--log-format json) ended its first epoch (Unix time)."""
    for line in log.read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "epoch":
            return datetime.fromisoformat(event["timestamp"]).timestamp()
    return None


def measured(args: list[str], package: Path, log: Path) -> dict:
    """One CLI run with tsforecast from `package`: its peak RSS in MB (the kernel's ru_maxrss),
    the largest RSS sampled every 0.1 s until its first epoch ended (reading, placing the data,
    the epoch with its validation loss; None without an epoch), wall and CPU seconds."""
    with open(log, "w") as err:
        run = run_cli(
            "--log-format",
            "json",
            *args,
            source=package,
            cwd=log.parent,  # not the checkout: `-m` puts the working folder first on the path
            discard_stdout=True,
            stderr_to=err,
            sample_rss_every=0.1,
        )
    epoch = first_epoch_end(log)
    return {
        "peak_mb": run.peak_mb,
        "until_first_epoch_mb": None
        if epoch is None
        else max(rss for when, rss in run.rss_samples if when <= epoch),
        "wall_s": run.wall_s,
        "cpu_s": run.cpu_s,
    }


# XLA's scratch memory for the validation-loss program of a model like the benchmark's at a
# run's sizes, from the compiled program's memory analysis (compiled only, not run).
SCRATCH = """
import sys
import jax, jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec
from tsforecast.config import Config, DataConfig, ModelConfig, TrainConfig, WindowConfig
from tsforecast.trainer import build_trainer
lookback, horizon, rows, windows = map(int, sys.argv[1:])
config = Config(
    data=DataConfig(path="panel.csv", season_length=(24, 168), transform="none"),
    window=WindowConfig(lookback=lookback, horizon=horizon),
    model=ModelConfig(hidden=16),
    train=TrainConfig(batch_size=256, ensemble=1),
)
trainer = build_trainer(config)
(params,) = trainer.place(trainer.initial_params(1))
everywhere = NamedSharding(trainer.mesh, PartitionSpec())
values = jax.ShapeDtypeStruct((rows, 1), jnp.float32, sharding=everywhere)
starts = jax.ShapeDtypeStruct((windows,), jnp.int32, sharding=everywhere)
print(trainer.evaluate.lower(params, values, starts).compile().memory_analysis().temp_size_in_bytes)
"""


def validation_scratch_mb(package: Path, lookback: int, horizon: int, rows: int, windows: int):
    args = [str(n) for n in (lookback, horizon, rows, windows)]
    done = subprocess.run(
        [sys.executable, "-c", SCRATCH, *args],
        cwd=package,  # `-c` puts the working folder first on the path
        env=dict(os.environ, PYTHONPATH=str(package)),
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout.split()[-1]) / 1e6


def run_size(csv: Path, rows: int, work: Path, package: Path, label: str) -> dict:
    model = work / f"model-{label}"
    # An empty compilation cache for every run, so that each compiles (as a first run does) and
    # none is spared the compiler's memory by another's programs.
    common = ["--cache-dir", tempfile.mkdtemp(prefix="cache-", dir=work)]
    train = measured(
        [*common, "train", str(csv), *TRAIN, "--out", str(model)], package, work / "train.log"
    )
    predict = measured(
        [*common, "predict", str(csv), "--model", str(model), "--out", str(work / "f.csv")],
        package,
        work / "predict.log",
    )
    window = json.loads((model / "config.json").read_text())["config"]["window"]
    windows = json.loads((model / "metrics.json").read_text())["validation_windows"]
    return {
        "code": label,
        "lookback": window["lookback"],
        "horizon": window["horizon"],
        "validation_windows": windows,
        "validation_scratch_mb": validation_scratch_mb(
            package, window["lookback"], window["horizon"], rows, windows
        ),
        "train": train,
        "predict": predict,
    }


def fit(runs: list[dict], command: str) -> dict:
    """Least-squares peak_mb = a x raw_mb + b over the runs."""
    raw = np.asarray([r["raw_mb"] for r in runs])
    peak = np.asarray([r[command]["peak_mb"] for r in runs])
    a, b = np.polyfit(raw, peak, 1) if len(runs) > 1 else (peak[0] / raw[0], 0.0)
    return {
        "a": float(a),
        "b_mb": float(b),
        "worst_residual_mb": float(np.abs(a * raw + b - peak).max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--steps", default="1000,3000,10000", help="series lengths, one run each")
    parser.add_argument("--before", help="also run the package of this git revision")
    parser.add_argument(
        "--before-steps", help="the lengths to run --before at (default: the largest)"
    )
    parser.add_argument("--repeats", type=int, default=1, help="runs of each size and code")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    opts = parser.parse_args()
    lengths = [int(s) for s in opts.steps.split(",")]
    before_lengths = (
        [int(s) for s in opts.before_steps.split(",")] if opts.before_steps else lengths[-1:]
    )

    runs = []
    with tempfile.TemporaryDirectory(prefix="tsforecast-memory-") as tmp:
        work = Path(tmp)
        old = export_revision(opts.before, work / "before", "tsforecast") if opts.before else None
        for steps in lengths:
            csv = work / "panel.csv"
            in_own_process(write_panel, csv, opts.series, steps, "s")
            rows = opts.series * steps
            size = {
                "series": opts.series,
                "steps": steps,
                "rows": rows,
                "raw_mb": rows * 8 / 1e6,
                "csv_mb": csv.stat().st_size / 1e6,
            }
            variants = [("now", ROOT)]
            if old is not None and steps in before_lengths:
                variants.append((opts.before, old))
            for label, package in variants * opts.repeats:
                run = {**size, **run_size(csv, rows, work, package, label)}
                runs.append(run)
                print(
                    f"{rows:,} rows ({label}): train {run['train']['peak_mb']:.0f} MB, "
                    f"predict {run['predict']['peak_mb']:.0f} MB",
                    flush=True,
                )
            csv.unlink()

    now = [r for r in runs if r["code"] == "now"]
    fits = {command: fit(now, command) for command in ("train", "predict")}
    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    headers = [
        "rows",
        "raw values MB",
        "CSV MB",
        "validation windows",
        "code",
        "validation scratch MB",
        "train peak MB",
        "x raw",
        "until first epoch MB",
        "predict peak MB",
        "x raw",
        "train s",
        "predict s",
    ]
    cells = []
    for r in runs:
        train, predict = r["train"], r["predict"]
        cells.append(
            [
                f"{r['rows']:,}",
                f"{r['raw_mb']:.0f}",
                f"{r['csv_mb']:.0f}",
                f"{r['validation_windows']:,}",
                r["code"],
                f"{r['validation_scratch_mb']:.0f}",
                f"{train['peak_mb']:.0f}",
                f"{train['peak_mb'] / r['raw_mb']:.1f}",
                f"{train['until_first_epoch_mb']:.0f}",
                f"{predict['peak_mb']:.0f}",
                f"{predict['peak_mb'] / r['raw_mb']:.1f}",
                f"{train['wall_s']:.0f}",
                f"{predict['wall_s']:.0f}",
            ]
        )
    print(markdown_table(headers, "rrrrlrrrrrrrr", cells))
    for command, line in fits.items():
        print(
            f"{command}: peak = {line['a']:.2f} x raw values + {line['b_mb']:.0f} MB "
            f"(worst residual {line['worst_residual_mb']:.0f} MB)"
        )
    result = {
        "train_options": TRAIN,
        "before": opts.before,
        "runs": runs,
        "fit": fits,
        # Beside the stamp's machine: the system, and how busy the neighbours kept it.
        "platform": platform.platform(),
        "load_average": os.getloadavg(),
    }
    write_result(opts.out, result)
    print(f"written to {opts.out}")


if __name__ == "__main__":
    main()
