"""Reproduce the published M4 Hourly scores of Naive, seasonal naive and Naive2.

Checks `tsforecast.baselines` and the scoring of `tsforecast evaluate`
(`tsforecast.evaluation.evaluate`) against the organisers' numbers: 414 series, h = 48,
m = 24, sMAPE and MASE averaged per series and then over the set.

    python benchmarks/m4_baselines.py [--data DIR] [--out FILE]

Exits 1 if any score differs from the published one at 3 decimals.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from common import markdown_table, write_result
from m4 import DEFAULT_DATA, H, M, long_frame, read_wide

from tsforecast import baselines
from tsforecast.evaluation import evaluate

REPO = Path(__file__).resolve().parents[1]
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


def baseline_scores(train: dict[str, np.ndarray], test: dict[str, np.ndarray]) -> dict[str, dict]:
    """Per-method set-wide means of per-series sMAPE and MASE, and OWA, as `tsforecast evaluate`
    scores them."""
    if list(train) != list(test):
        raise ValueError("train and test files list different series ids or orders")
    for sid, actual in test.items():
        if actual.size != H:
            raise ValueError(f"series {sid} has {actual.size} test values, expected {H}")
    actuals = long_frame(test, test=True)
    forecasts = actuals[["unique_id", "ds"]].copy()
    for name, method in METHODS.items():
        forecasts[name] = np.concatenate([method(history) for history in train.values()])
    # OWA is taken against the naive2 that evaluate computes from the same training series.
    summary = evaluate(forecasts, actuals, M, long_frame(train)).summary
    return {
        name: {
            "smape": float(summary.loc[name, "sMAPE"]),
            "mase": float(summary.loc[name, "MASE"]),
            "owa": float(summary.loc[name, "OWA"]),
        }
        for name in METHODS
    }


def table(results: dict[str, dict]) -> str:
    cells = []
    for name, r in results.items():
        pub_s, pub_m = PUBLISHED[name]
        ok = round(r["smape"], 3) == pub_s and round(r["mase"], 3) == pub_m
        cells.append(
            [
                name,
                f"{r['smape']:.3f}",
                f"{pub_s:.3f}",
                f"{r['mase']:.3f}",
                f"{pub_m:.3f}",
                f"{r['owa']:.3f}",
                "yes" if ok else "NO",
            ]
        )
    headers = ["method", "sMAPE", "published", "MASE", "published", "OWA", "match"]
    return markdown_table(headers, "lrrrrrc", cells)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with Hourly-*.csv")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    args = parser.parse_args(argv)

    train = read_wide(args.data / "Hourly-train.csv")
    test = read_wide(args.data / "Hourly-test.csv")
    if len(train) != N_SERIES:
        print(f"warning: expected {N_SERIES} series, found {len(train)}", file=sys.stderr)
    results = baseline_scores(train, test)

    print(f"M4 Hourly, {len(train)} series, h={H}, m={M}\n")
    print(table(results))

    matches = {
        name: round(r["smape"], 3) == PUBLISHED[name][0]
        and round(r["mase"], 3) == PUBLISHED[name][1]
        for name, r in results.items()
    }
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
    write_result(args.out, payload)
    print(f"\nwrote {args.out}")
    return 0 if all(matches.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
