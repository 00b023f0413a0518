"""What a population costs next to as many separate training runs: `tsforecast tune`'s premise.

For K members (default 1, 2, 4, 8, 16) with K learning rates, on the peers' speed workload
(../shared/peers' series as `speed.py` writes it: lookback 96, horizon 24, one LSTM layer of
64, batch 256), each run with a fixed number of epochs (no early stop):
- population: the K members trained as one vmapped program (tsforecast.population);
- separate: K trainings one after the other, each building and compiling its own program, as
  K `tsforecast train` runs (or a tuner that runs each trial on its own) do, without the
  process start (the persistent compilation cache on, as in the CLI: from the second run on
  the program comes from it).
Then the compile time of one trial's program in a fresh process, with an empty persistent
compilation cache and with the cache the first process filled.

    python benchmarks/tune_cost.py
    python benchmarks/tune_cost.py --members 1,2,4 --epoch-windows 2048 --data other.csv

Prints a markdown table and writes benchmarks/results/tune_cost.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import markdown_table, write_result

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / ".bench"


def config_of(args: argparse.Namespace):
    from tsforecast.config import Config, DataConfig, ModelConfig, TrainConfig, WindowConfig

    return Config(
        data=DataConfig(path=str(args.data)),
        window=WindowConfig(lookback=args.lookback, horizon=args.horizon),
        model=ModelConfig(hidden=args.hidden),
        train=TrainConfig(
            epochs=args.epochs,
            batch_size=args.batch,
            patience=args.epochs + 1,
            lr_patience=0,
            ensemble=1,
            epoch_windows=args.epoch_windows,
            loss="mse",
        ),
    )


def rates(k: int) -> list[float]:
    return [1e-3 * 2 ** (i / 4 - 1) for i in range(k)]


def population(args: argparse.Namespace, k: int) -> dict:
    from tsforecast import training
    from tsforecast.data import load_panel
    from tsforecast.population import Member, fit_population

    config = config_of(args)
    panel, data_cfg = load_panel(config.data)
    config = dataclasses.replace(config, data=data_cfg)
    began = time.perf_counter()
    run = training.prepare(panel, config)
    members = [Member(lr, 0.0, 1.0, 0) for lr in rates(k)]
    epochs: list[float] = []
    fit_population(run, members, lambda epoch, records: epochs.append(time.perf_counter()) or [])
    return {"wall_s": time.perf_counter() - began, "first_epoch_s": epochs[0] - began}


def separate(args: argparse.Namespace, k: int) -> dict:
    from tsforecast import training
    from tsforecast.data import load_panel

    config = config_of(args)
    panel, data_cfg = load_panel(config.data)
    config = dataclasses.replace(config, data=data_cfg)
    began = time.perf_counter()
    for lr in rates(k):
        # Training alone, as the population's figure: neither scores on validation afterwards.
        run = training.prepare(
            panel, dataclasses.replace(config, train=dataclasses.replace(config.train, lr=lr))
        )
        run.trainer.fit(run.params, run.values, run.train_starts, run.val_starts)
    return {"wall_s": time.perf_counter() - began}


def in_fresh_process(args: argparse.Namespace, mode: str, k: int, cache: str | None) -> dict:
    """One measurement in a process of its own, so that nothing compiled earlier helps it."""
    command = [sys.executable, __file__, "--one", f"{mode}:{k}", *args.passed]
    env = dict(os.environ)
    if cache:
        env["TSFORECAST_BENCH_CACHE"] = cache
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=BENCH / "series.csv")
    parser.add_argument("--members", default="1,2,4,8,16")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--epoch-windows", type=int, default=4096)
    parser.add_argument("--lookback", type=int, default=96)
    parser.add_argument("--horizon", type=int, default=24)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/tune_cost.json")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.passed = [a for a in sys.argv[1:] if not a.startswith("--one")]
    if args.one:
        from tsforecast.runtime import enable_compilation_cache

        cache = os.environ.get("TSFORECAST_BENCH_CACHE")
        enable_compilation_cache(cache or tempfile.mkdtemp())
        mode, k = args.one.split(":")
        print(json.dumps((population if mode == "population" else separate)(args, int(k))))
        return
    if not args.data.exists():
        # The peers' series, as speed.py writes it.
        make_series = ROOT.parent / "shared/peers/make_series.py"
        args.data.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, str(make_series), "--out", str(args.data), "--n", "60000"], check=True
        )
    rows = []
    for k in (int(v) for v in args.members.split(",")):
        together = in_fresh_process(args, "population", k, None)
        apart = in_fresh_process(args, "separate", k, None)
        rows.append(
            {
                "members": k,
                "population_s": round(together["wall_s"], 2),
                "separate_s": round(apart["wall_s"], 2),
                "ratio": round(apart["wall_s"] / together["wall_s"], 2),
            }
        )
        print(rows[-1], flush=True)
    with tempfile.TemporaryDirectory() as cache:
        cold = in_fresh_process(args, "population", 4, cache)
        warm = in_fresh_process(args, "population", 4, cache)
    compile_rows = {
        "first_epoch_s_empty_cache": round(cold["first_epoch_s"], 2),
        "first_epoch_s_filled_cache": round(warm["first_epoch_s"], 2),
    }
    print(
        markdown_table(
            ["members", "one population, s", "separate runs, s", "separate / population"],
            "rrrr",
            [[r["members"], r["population_s"], r["separate_s"], r["ratio"]] for r in rows],
        )
    )
    print(f"population of 4, prepare + first epoch (compiling): {compile_rows} (fresh processes)")
    workload = {k: str(v) for k, v in vars(args).items() if k not in ("one", "passed")}
    write_result(args.out, {"workload": workload, "rows": rows, "compile": compile_rows})


if __name__ == "__main__":
    main()
