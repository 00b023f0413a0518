"""Accuracy of every tsforecast model and strategy on ETTh1 (target OT, univariate), next to
seasonal naive, on the split the literature uses, with tsforecast's default settings (framing,
loss, learning-rate schedule, model size) for each strategy.

Informer's borders (12/4/4 months of 30 days, see ../shared/data/etth1/README.md): the train
part is rows [0, 8640), validation [8640, 11520), test [11520, 14400); validation and test input
windows reach back `lookback` rows into the part before, windows slide by 1. Values are z-scored
with the mean and std (ddof 0) of the train rows, and test MSE and MAE are reported on that
scale, as the published tables are. (Informer's test loader drops the last partial batch of 32;
here every test window counts.) Validation picks the best epoch (early stopping); it uses every
--val-stride-th window to keep the recursive strategy's epochs cheap.

The data's licence (CC BY-ND 4.0) forbids sharing derived copies: the split is built in memory
and the script drives the library on it directly; nothing derived from the data is written.

    python benchmarks/etth1.py                          # a few minutes on 2 CPU cores
    python benchmarks/etth1.py --epochs 30 --hidden 64 --horizons 24,48,168,336

Prints a markdown table and writes benchmarks/results/etth1.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tsforecast  # noqa: E402,F401  (first: it sets the host device count before jax starts)

# isort: split

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from tsforecast.config import (  # noqa: E402
    MODEL_NAMES,
    STRATEGIES,
    Config,
    DataConfig,
    ModelConfig,
    TrainConfig,
    WindowConfig,
)
from tsforecast.models import count_params  # noqa: E402
from tsforecast.train import build_trainer  # noqa: E402
from tsforecast.windows import seasonal_naive_windows  # noqa: E402

TRAIN_END, VAL_END, TEST_END = 12 * 30 * 24, 16 * 30 * 24, 20 * 30 * 24
SEASON = 24


def window_starts(
    first_target: int, end: int, lookback: int, horizon: int, stride: int = 1
) -> np.ndarray:
    """Starts of the windows whose targets lie in [first_target, end)."""
    return np.arange(
        max(first_target - lookback, 0), end - lookback - horizon + 1, stride, dtype=np.int32
    )


def targets(series: np.ndarray, starts: np.ndarray, lookback: int, horizon: int) -> np.ndarray:
    return series[starts[:, None] + lookback + np.arange(horizon)[None, :]]


def scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    return {"mse": float(np.mean((pred - truth) ** 2)), "mae": float(np.mean(np.abs(pred - truth)))}


def run(
    series: np.ndarray, name: str, strategy: str, horizon: int, args: argparse.Namespace
) -> dict:
    lookback = args.lookback
    # tsforecast's default framing and loss for the strategy; the series itself is z-scored with
    # the train part's statistics, so the forecasts and scores are on the literature's scale.
    # Every training window in every epoch (no --epoch-windows sampling).
    config = Config(
        data=DataConfig(season_length=SEASON),
        window=WindowConfig(lookback=lookback, horizon=horizon),
        model=ModelConfig(name=name, hidden=args.hidden, strategy=strategy),
        train=TrainConfig(
            epochs=args.epochs,
            batch_size=args.batch,
            lr=args.lr,
            patience=args.patience,
            seed=args.seed,
            epoch_windows=None,
        ),
    )
    trainer = build_trainer(config)
    train_starts = window_starts(0, TRAIN_END, lookback, horizon)
    val_starts = window_starts(TRAIN_END, VAL_END, lookback, horizon, args.val_stride)
    test_starts = window_starts(VAL_END, TEST_END, lookback, horizon, args.test_stride)
    params, values, train_dev, val_dev, test_dev = trainer.place(
        trainer.initial_params(1), series[:, None], train_starts, val_starts, test_starts
    )
    began = time.perf_counter()
    result = trainer.fit(params, values, train_dev, val_dev)
    seconds = time.perf_counter() - began
    pred = np.asarray(trainer.predict(result.params, values, test_dev), dtype=np.float64)
    return {
        "horizon": horizon,
        "model": name,
        "strategy": strategy,
        **{
            f"test_{k}": v
            for k, v in scores(pred, targets(series, test_starts, lookback, horizon)).items()
        },
        "val_loss": min(r.val_loss for r in result.history),
        "best_epoch": result.best_epoch,
        "epochs": len(result.history),
        "train_s": round(seconds, 1),
        "params": count_params(result.params),
        "test_windows": int(len(test_starts)),
    }


def seasonal_naive(series: np.ndarray, horizon: int, args: argparse.Namespace) -> dict:
    starts = window_starts(VAL_END, TEST_END, args.lookback, horizon, args.test_stride)
    pred = seasonal_naive_windows(series.astype(np.float64), starts, args.lookback, horizon, SEASON)
    return {
        "horizon": horizon,
        "model": "seasonal naive",
        "strategy": "",
        **{
            f"test_{k}": v
            for k, v in scores(pred, targets(series, starts, args.lookback, horizon)).items()
        },
        "test_windows": int(len(starts)),
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| horizon | model | strategy | test MSE | test MAE | best epoch | train s | params |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['horizon']} | {row['model']} | {row['strategy']} | {row['test_mse']:.4f} | "
            f"{row['test_mae']:.4f} | {row.get('best_epoch', '')} | {row.get('train_s', '')} | "
            f"{row.get('params', '') and format(row['params'], ',')} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=ROOT.parent / "shared" / "data" / "etth1" / "ETTh1.csv"
    )
    parser.add_argument("--horizons", default="24,168")
    parser.add_argument("--models", default=",".join(MODEL_NAMES))
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--lookback", type=int, default=96)
    parser.add_argument("--hidden", type=int, default=ModelConfig.hidden)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--val-stride",
        type=int,
        default=8,
        help="use every n-th validation window for early stopping",
    )
    parser.add_argument(
        "--test-stride",
        type=int,
        default=1,
        help="score every n-th test window (1: all, as published)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "etth1.json")
    args = parser.parse_args()

    frame = pd.read_csv(args.data, usecols=["date", "OT"])
    raw = frame["OT"].to_numpy(np.float64)
    fit_part = raw[:TRAIN_END]
    series = ((raw[:TEST_END] - fit_part.mean()) / fit_part.std()).astype(np.float32)

    rows: list[dict] = []
    began = time.perf_counter()
    settings = {k: str(v) for k, v in vars(args).items()} | {
        "device": jax.devices()[0].platform,
        "devices": jax.device_count(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def record(row: dict, complete: bool = False) -> None:
        # Written after every row: a long run that is stopped keeps what it measured.
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
        result = {
            "settings": settings,
            "complete": complete,
            "total_s": round(time.perf_counter() - began, 1),
            "rows": rows,
        }
        args.out.write_text(json.dumps(result, indent=2))

    runs = [
        (h, n, s)
        for h in map(int, args.horizons.split(","))
        for n in args.models.split(",")
        for s in args.strategies.split(",")
    ]
    for index, (horizon, name, strategy) in enumerate(runs):
        if index == 0 or runs[index - 1][0] != horizon:
            record(seasonal_naive(series, horizon, args))
        record(run(series, name, strategy, horizon, args), complete=index == len(runs) - 1)
    print(table(rows))


if __name__ == "__main__":
    main()
