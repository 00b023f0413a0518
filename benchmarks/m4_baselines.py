"""Reproduce the published M4 Hourly scores of Naive, seasonal naive and Naive2.

Checks `tsforecast.metrics` and `tsforecast.baselines` against the organisers' numbers:
414 series, h = 48, m = 24, sMAPE and MASE averaged per series and then over the set.

    python benchmarks/m4_baselines.py [--data DIR] [--out FILE]

Exits 1 if any score differs from the published one at 3 decimals.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

try:
    from tsforecast import baselines, metrics
except ModuleNotFoundError:  # a checkout without `pip install -e .`: use its own package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tsforecast import baselines, metrics

REPO = Path(__file__).resolve().parents[1]
from m4 import DEFAULT_DATA, H, M, read_wide  # noqa: E402  (benchmarks/ is on sys.path)

N_SERIES = 414
DEFAULT_OUT = REPO / "benchmarks" / "results" / "m4_baselines.json"

# Organisers' "Evaluation and Ranks.xlsx", Hourly: (sMAPE, MASE).
PUBLISHED = {
    "Naive": (43.003, 11.608),
    "sNaive": (13.912, 1.193),
    "Naive2": (18.383, 2.395),
}

METHODS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "Naive": lambda x: baselines.naive(x, H),
    "sNaive": lambda x: baselines.seasonal_naive(x, H, M),
    "Naive2": lambda x: baselines.naive2(x, H, M),
}


def evaluate(train: dict[str, np.ndarray], test: dict[str, np.ndarray]) -> dict[str, dict]:
    """Per-method set-wide means of per-series sMAPE and MASE."""
    if list(train) != list(test):
        raise ValueError("train and test files list different series ids or orders")
    per_series: dict[str, dict[str, list[float]]] = {
        name: {"smape": [], "mase": []} for name in METHODS
    }
    for sid, history in train.items():
        actual = test[sid]
        if actual.size != H:
            raise ValueError(f"series {sid} has {actual.size} test values, expected {H}")
        scale = metrics.mase_scale(history, M)
        for name, forecast in METHODS.items():
            scores = metrics.point_metrics(actual, forecast(history), scale)
            per_series[name]["smape"].append(scores["smape"])
            per_series[name]["mase"].append(scores["mase"])
    results = {
        name: {"smape": float(np.mean(v["smape"])), "mase": float(np.mean(v["mase"]))}
        for name, v in per_series.items()
    }
    ref = results["Naive2"]
    for r in results.values():
        r["owa"] = metrics.owa(r["smape"], r["mase"], ref["smape"], ref["mase"])
    return results


def table(results: dict[str, dict]) -> str:
    lines = [
        "| method | sMAPE | published | MASE | published | OWA | match |",
        "|---|---:|---:|---:|---:|---:|:---:|",
    ]
    for name, r in results.items():
        pub_s, pub_m = PUBLISHED[name]
        ok = round(r["smape"], 3) == pub_s and round(r["mase"], 3) == pub_m
        lines.append(
            f"| {name} | {r['smape']:.3f} | {pub_s:.3f} | {r['mase']:.3f} | {pub_m:.3f} "
            f"| {r['owa']:.3f} | {'yes' if ok else 'NO'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with Hourly-*.csv")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    args = parser.parse_args(argv)

    train = read_wide(args.data / "Hourly-train.csv")
    test = read_wide(args.data / "Hourly-test.csv")
    if len(train) != N_SERIES:
        print(f"warning: expected {N_SERIES} series, found {len(train)}", file=sys.stderr)
    results = evaluate(train, test)

    print(f"M4 Hourly, {len(train)} series, h={H}, m={M}\n")
    print(table(results))

    matches = {
        name: round(r["smape"], 3) == PUBLISHED[name][0]
        and round(r["mase"], 3) == PUBLISHED[name][1]
        for name, r in results.items()
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "dataset": "M4 Hourly",
        "n_series": len(train),
        "horizon": H,
        "season_length": M,
        "aggregation": "mean over series of per-series means over the horizon",
        "methods": {
            name: {
                **{k: round(v, 6) for k, v in r.items()},
                "published": {"smape": PUBLISHED[name][0], "mase": PUBLISHED[name][1]},
                "matches_published": matches[name],
            }
            for name, r in results.items()
        },
    }
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0 if all(matches.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
