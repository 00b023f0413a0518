"""Single long series with a daily and a weekly cycle: tsforecast against MSTL and seasonal naive
at both periods, through `tsforecast backtest --baselines mstl`, on rolling origins.

The hourly series are the high useful load (HUFL) of ETTh1 and ETTh2 (see
../shared/data/etth1/README.md). Informer's borders split each into train [0, 8640), validation
[8640, 11520) and test [11520, 14400). The half-hourly series is the electricity demand of
Victoria, Australia, 2012-2014 (`vic_elec` of the R package tsibbledata, from AEMO; 52,608
half-hours), given with `--vic-elec` as the package's `data/vic_elec.rda` (read with pyreadr,
`pip install pyreadr`; its clock is UTC, so no daylight-saving gaps; `--vic-elec-clock aest`
writes it in the Australian market's time, UTC+10 all year, as AEMO publishes it, so that
`--holidays AU-VIC` falls on Victoria's days). It has no published split:
its test phase is the last 100 days, its validation phase the 100 days before, and each phase's
file holds 52 weeks of history before its first origin (a year of meter data, as a user would
have; the whole three years would take about three times longer to train).

Two phases per series, each one backtest with the default settings (only the horizon given: a
day, 24 hours or 48 half-hours, so the seasonal periods are the frequency's defaults), trained
once at the first cutoff:

- validation: the file ends with the validation months; 100 daily origins over its last 100
  days. This is what defaults may be chosen on.
- test: the file ends with the test months; 100 daily origins over them.
- year-before-test (vic_elec only): the test phase's 100 calendar days one year earlier, with
  its own 52 weeks of history. It ends before the validation phase's first origin, so it is
  history, as the validation phase is, and may be read before any choice: it shows what the
  season the test phase runs into does to a model calibrated in the months before it.

100 days of daily forecasts: 2,400 scored hours (4,800 half-hours) per stretch, so that a 90%
interval's coverage is known to about ±1.5 points.

Neither data set's licence (ETT: CC BY-ND 4.0) is the project's: the single-column CSVs are
written to a temporary folder that is removed afterwards, never into the project; `--work DIR`
keeps them and each backtest's output (its forecasts, for a closer look) in DIR instead, which
belongs outside git (`.bench/` is ignored).

    python benchmarks/multiseasonal.py [--series "ETTh1 HUFL,ETTh2 HUFL"] [--phases validation,test]
        [--out FILE] [--work DIR] [-- extra backtest options]
    python benchmarks/multiseasonal.py --series "vic_elec Demand" --vic-elec vic_elec.rda ...

Prints a table and writes benchmarks/results/multiseasonal.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from common import markdown_table, run_cli, write_result

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "multiseasonal.json"
WINDOWS = 100
VIC_ELEC_ROWS, VIC_ELEC_HISTORY = 52_608, 52 * 336


@dataclass(frozen=True)
class Series:
    file: str | None  # under ../shared/data; None: the --vic-elec file
    horizon: int  # one day; the origins are a day apart
    weekly: int
    phases: dict[str, slice]  # the rows each phase's file holds


def etth(file: str) -> Series:
    return Series(
        file, 24, 168, {"validation": slice(0, 16 * 30 * 24), "test": slice(0, 20 * 30 * 24)}
    )


def last_year(end: int) -> slice:
    return slice(end - WINDOWS * 48 - VIC_ELEC_HISTORY, end)


SERIES = {
    "ETTh1 HUFL": etth("etth1/ETTh1.csv"),
    "ETTh2 HUFL": etth("etth2/ETTh2.csv"),
    "vic_elec Demand": Series(
        None,
        48,
        336,
        {
            "validation": last_year(VIC_ELEC_ROWS - WINDOWS * 48),
            "test": last_year(VIC_ELEC_ROWS),
            "year-before-test": last_year(VIC_ELEC_ROWS - 365 * 48),
        },
    ),
}


def read_series(
    series: Series, vic_elec: Path | None, covariates: list[str], clock: str = "utc"
) -> pd.DataFrame:
    """The series as `ds, y`, then the `covariates` columns (vic_elec only, as its `clock`)."""
    if series.file is not None:
        if covariates:
            raise SystemExit("--vic-elec-covariates: only vic_elec Demand has them")
        frame = pd.read_csv(DATA / series.file, usecols=["date", "HUFL"])
    elif vic_elec is None:
        raise SystemExit("vic_elec Demand needs --vic-elec PATH (tsibbledata's data/vic_elec.rda)")
    else:
        import pyreadr  # only this series needs it

        frame = next(iter(pyreadr.read_r(str(vic_elec)).values()))[["Time", "Demand", *covariates]]
        if len(frame) != VIC_ELEC_ROWS:
            raise SystemExit(f"{vic_elec}: {len(frame)} rows, expected {VIC_ELEC_ROWS}")
        if clock == "aest":
            frame["Time"] = frame["Time"] + pd.Timedelta(hours=10)
    return frame.rename(columns={frame.columns[0]: "ds", frame.columns[1]: "y"})


def methods(series: Series) -> tuple[str, ...]:
    """The backtest's method names: `evaluate` labels the model's y_hat column "model"."""
    return ("model", "mstl", "seasonal_naive", f"seasonal_naive_{series.weekly}", "naive2")


def backtest(csv: Path, out: Path, horizon: int, extra: list[str]) -> float:
    return run_cli(
        "backtest",
        str(csv),
        "--horizon",
        str(horizon),
        "--windows",
        str(WINDOWS),
        "--step",
        str(horizon),
        "--baselines",
        "mstl",
        "--level",
        "90",
        "--quiet",
        "--out",
        str(out),
        *extra,
    ).wall_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", default="ETTh1 HUFL,ETTh2 HUFL")
    parser.add_argument("--phases", default="validation,test")
    parser.add_argument("--vic-elec", type=Path, help="tsibbledata's data/vic_elec.rda")
    parser.add_argument(
        "--vic-elec-covariates",
        default="",
        help="vic_elec columns given to the backtest as --future-covariates (Temperature,Holiday: "
        "the recorded temperature stands in for a perfect weather forecast)",
    )
    parser.add_argument(
        "--vic-elec-clock",
        choices=("utc", "aest"),
        default="utc",
        help="vic_elec's timestamps: UTC as tsibbledata has them, or AEST (UTC+10), the market's",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--work", type=Path, help="keep the CSVs and backtest outputs here")
    parser.add_argument("extra", nargs="*", help="backtest options after --")
    args = parser.parse_args(argv)
    covariates = [c for c in args.vic_elec_covariates.split(",") if c]
    extra = args.extra + (["--future-covariates", ",".join(covariates)] if covariates else [])
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        for name in args.series.split(","):
            series = SERIES[name]
            frame = read_series(series, args.vic_elec, covariates, args.vic_elec_clock)
            for phase in args.phases.split(","):
                if phase not in series.phases:
                    print(f"{name} has no phase {phase}; skipped", flush=True)
                    continue
                stem = f"{name.replace(' ', '-')}-{phase}"
                csv, out = work / f"{stem}.csv", work / stem
                frame.iloc[series.phases[phase]].to_csv(csv, index=False)
                seconds = backtest(csv, out, series.horizon, extra)
                metrics = json.loads((out / "backtest_metrics.json").read_text())
                row = {"series": name, "phase": phase, "seconds": round(seconds, 1)}
                for method in methods(series):
                    row[method] = {k: metrics[method][k] for k in ("MASE", "sMAPE")}
                row["coverage_90"] = metrics["model"].get("coverage-90")
                rows.append(row)
                print(json.dumps(row), flush=True)
    print(f"\n{WINDOWS} daily origins, horizon one day; MASE scaled by the daily period\n")
    methods_header = ["tsforecast", "MSTL", "seasonal naive day", "seasonal naive week", "Naive2"]
    cells = [
        [row["series"], row["phase"]]
        + [f"{row[m]['MASE']:.3f}" for m in methods(SERIES[row["series"]])]
        for row in rows
    ]
    print(markdown_table(["series", "phase", *methods_header], "llrrrrr", cells))
    write_result(
        args.out,
        {
            "horizon": {name: SERIES[name].horizon for name in args.series.split(",")},
            "origins": WINDOWS,
            "step": "one horizon (a day)",
            "backtest_options": args.extra,
            "vic_elec_covariates": args.vic_elec_covariates,
            "vic_elec_clock": args.vic_elec_clock,
            "rows": rows,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
