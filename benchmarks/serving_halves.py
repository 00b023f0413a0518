"""Each method a trained model could serve, scored on the earlier and the later half of its own
validation windows, and what the serving rule chooses from them (`serving.choose`):
the evidence behind the serving defaults in docs/defaults.md, from validation windows only.

MSTL takes part where it would in training (at most 10 series, statsforecast installed), and
then, as in training, only the windows MSTL was fitted at are weighed.

    python benchmarks/serving_halves.py MODEL_DIR [--out FILE]

Prints a table and writes benchmarks/results/serving_halves-<model dir name>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
from common import markdown_table, write_result

from tsforecast import artifacts, classical, serving
from tsforecast.data import load_panel
from tsforecast.forecast import Forecaster
from tsforecast.serving import NETWORK, ValidationWindows
from tsforecast.windows import split_windows

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    artifact = artifacts.load(args.model)
    config = artifact.config
    lookback, horizon = config.window.lookback, config.window.horizon
    seasons = config.data.season_length
    panel, _ = load_panel(config.data)
    split = split_windows(panel.offsets, lookback, horizon, config.window.val_size, panel.ids)
    windows = ValidationWindows.of(panel, split, lookback, horizon, config.data.season)
    series, starts = windows.series, windows.starts
    with_mstl = serving.mstl_left_out(len(np.unique(series)), lookback, seasons) is None
    network = dataclasses.replace(Forecaster.of(artifact), served=())
    forecasts = serving.candidates(
        panel, series, starts, config, network.forecast(panel, series, starts).original(), with_mstl
    )
    errors = serving.scaled_errors(forecasts, windows.targets, windows.scales)
    # As training weighs them: with MSTL, only the windows it was fitted at.
    weighed = (
        classical.fitted_at_origin(panel, series, starts, lookback, horizon, seasons)
        if with_mstl
        else np.ones(len(series), dtype=bool)
    )
    errors = {name: e[weighed] for name, e in errors.items()}
    earlier = windows.earlier[weighed]
    halves = {
        name: {
            "earlier": float(np.nanmean(e[earlier])),
            "later": float(np.nanmean(e[~earlier])),
            "all": float(np.nanmean(e)),
        }
        for name, e in errors.items()
    }
    rules = {}
    for incumbent in (NETWORK, serving.NETWORK_AND_MSTL) if with_mstl else (NETWORK,):
        steps, report = serving.choose(errors, earlier, incumbent)
        rules[incumbent] = {
            "steps": {m: steps.count(m) for m in sorted(set(steps))},
            "served": report["half_mase"]["served"],
        }
    print(f"\n{args.model}: {int(weighed.sum())} of {len(series)} validation windows weighed\n")
    print(
        markdown_table(
            ["method", "earlier half", "later half", "all"],
            "lrrr",
            [
                [name, f"{score['earlier']:.3f}", f"{score['later']:.3f}", f"{score['all']:.3f}"]
                for name, score in halves.items()
            ],
        )
    )
    for incumbent, rule in rules.items():
        print(f"\nincumbent {incumbent}: serves {rule['steps']}, MASE {rule['served']}")
    out = args.out or REPO / "benchmarks" / "results" / f"serving_halves-{args.model.name}.json"
    write_result(
        out,
        {
            "model": str(args.model),
            "windows": int(len(series)),
            "weighed": int(weighed.sum()),
            "halves": halves,
            "rules": rules,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
