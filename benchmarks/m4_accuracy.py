"""Accuracy on M4 Hourly scored as the competition scored it: sMAPE, MASE and OWA against Naive2.

Trains one global model on the 414 training series (h = 48, m = 24) through the same workflow as
`tsforecast train`, forecasts the 48 test hours, and scores with `tsforecast.evaluation.evaluate`
(the function behind `tsforecast evaluate` and `backtest`), which also computes Naive2 from the
training data. Our Naive2 must reproduce the published figures (sMAPE 18.383, MASE 2.395).

    python benchmarks/m4_accuracy.py                         # default settings, and --ensemble 5
    python benchmarks/m4_accuracy.py --models lstm,gru,bilstm,conv-lstm --ensembles 1
    python benchmarks/m4_accuracy.py --ensembles 1 --epochs 3 --hidden 16

Prints a markdown table and writes benchmarks/results/m4_accuracy.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import markdown_table, write_result
from m4 import DEFAULT_DATA, H, M, long_frame, read_wide

from tsforecast import baselines, training
from tsforecast.config import Config, DataConfig, ModelConfig, TrainConfig, WindowConfig
from tsforecast.data import load_panel
from tsforecast.evaluation import evaluate
from tsforecast.forecast import Forecaster, forecast

REPO = Path(__file__).resolve().parents[1]
PUBLISHED_NAIVE2 = {"sMAPE": 18.383, "MASE": 2.395}
DEFAULT_OUT = REPO / "benchmarks" / "results" / "m4_accuracy.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--models", default="lstm", help="models to run, comma-separated")
    parser.add_argument("--ensembles", default="1,5", help="ensemble sizes to run, comma-separated")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--hidden", type=int, default=ModelConfig.hidden)
    args = parser.parse_args()

    train = read_wide(args.data / "Hourly-train.csv")
    test = read_wide(args.data / "Hourly-test.csv")
    history = long_frame(train)
    actuals = long_frame(test, test=True)
    forecasts = actuals[["unique_id", "ds"]].copy()
    forecasts["seasonal_naive"] = np.concatenate(
        [baselines.seasonal_naive(train[sid], H, M) for sid in test]
    )
    forecasts["naive2"] = np.concatenate([baselines.naive2(train[sid], H, M) for sid in test])

    # Settings are chosen on the validation windows (the end of each training series), never
    # on the test hours; the validation MASE is reported so that choice can be checked.
    seconds, validation = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m4_hourly_train.csv"
        history.to_csv(path, index=False)
        for model_name in args.models.split(","):
            for members in [int(k) for k in args.ensembles.split(",")]:
                name = f"tsforecast {model_name}" + (
                    f" --ensemble {members}" if members > 1 else ""
                )
                config = Config(
                    data=DataConfig(path=str(path), season_length=M),
                    window=WindowConfig(horizon=H),
                    model=ModelConfig(name=model_name, hidden=args.hidden),
                    train=TrainConfig(epochs=args.epochs, ensemble=members),
                )
                began = time.perf_counter()
                panel, data_cfg = load_panel(config.data)
                outcome = training.train(panel, dataclasses.replace(config, data=data_cfg))
                artifact = outcome.artifact
                # As `tsforecast predict` does: read the file again with the model's schema.
                panel, _ = load_panel(artifact.config.data)
                predicted = forecast(Forecaster.of(artifact), panel)
                seconds[name] = time.perf_counter() - began
                forecasts[name] = forecasts.merge(predicted, on=["unique_id", "ds"], how="left")[
                    "y_hat"
                ].to_numpy()
                validation[name] = artifact.metrics["model"]["mase"]
                print(
                    f"{name}: {seconds[name]:.0f}s, {len(artifact.history)} epochs, "
                    f"best {artifact.metrics['best_epoch']}, "
                    f"validation MASE {validation[name]:.4f}",
                    file=sys.stderr,
                    flush=True,
                )

    summary = evaluate(forecasts, actuals, M, history).summary
    for key, published in PUBLISHED_NAIVE2.items():
        ours = summary.loc["naive2", key]
        assert abs(ours - published) < 5e-4, (
            f"our Naive2 {key} {ours:.4f} differs from the published {published}"
        )
    cells = [
        [
            method,
            f"{row['sMAPE']:.3f}",
            f"{row['MASE']:.3f}",
            f"{row['OWA']:.3f}",
            f"{seconds[method]:.0f}" if method in seconds else "",
        ]
        for method, row in summary.iterrows()
    ]
    print(markdown_table(["method", "sMAPE", "MASE", "OWA", "wall s"], "lllll", cells))
    write_result(
        args.out,
        {
            "settings": {
                "models": args.models,
                "ensembles": args.ensembles,
                "epochs": args.epochs,
                "hidden": args.hidden,
                "horizon": H,
                "season": M,
            },
            "results": {
                m: {
                    **{k: float(v) for k, v in row.items()},
                    "seconds": seconds.get(m),
                    "validation_mase": validation.get(m),
                }
                for m, row in summary.iterrows()
            },
        },
    )


if __name__ == "__main__":
    main()
