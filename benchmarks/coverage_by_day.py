"""Where a backtest's intervals miss: coverage per fortnight of cutoffs, per band of the
highest temperature over each forecast's day (its 48 half-hours), and on public holidays
against other days, from a `backtest_forecasts.csv` of vic_elec Demand (kept by
`multiseasonal.py --work DIR`) and the temperatures and holiday flags of tsibbledata's
`data/vic_elec.rda` (its own list of Victoria's holidays, not the `holidays` package's).
`--clock aest`: the forecasts were made on `multiseasonal.py --vic-elec-clock aest`'s file.

    python benchmarks/coverage_by_day.py FORECASTS.csv --vic-elec vic_elec.rda [--level 90]
        [--clock utc|aest] [--out FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from common import markdown_table, write_result

BANDS = [-50, 25, 30, 35, 60]  # the day's highest temperature, °C
DAYS = {True: "public holiday", False: "other days"}


def scored(forecasts: Path, vic_elec: Path, level: str, clock: str = "utc") -> pd.DataFrame:
    import pyreadr  # only this script needs it

    frame = pd.read_csv(forecasts, parse_dates=["ds", "cutoff"])
    lo, hi = frame[f"y_hat-lo-{level}"], frame[f"y_hat-hi-{level}"]
    frame["inside"] = (frame["y"] >= lo) & (frame["y"] <= hi)
    frame["relative_error"] = (frame["y"] - frame["y_hat"]).abs() / frame["y"]
    weather = next(iter(pyreadr.read_r(str(vic_elec)).values()))[["Time", "Temperature", "Holiday"]]
    weather = weather.rename(columns={"Time": "ds"}).assign(ds=lambda w: pd.to_datetime(w["ds"]))
    if clock == "aest":
        weather["ds"] += pd.Timedelta(hours=10)
    return frame.merge(weather, on="ds", how="left")


def summary(groups) -> list[dict]:
    return [
        {
            "group": str(key),
            "half_hours": int(len(rows)),
            "coverage": round(float(rows["inside"].mean()), 3),
            "mean_relative_error": round(float(rows["relative_error"].mean()), 4),
        }
        for key, rows in groups
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("forecasts", type=Path)
    parser.add_argument("--vic-elec", type=Path, required=True)
    parser.add_argument("--level", default="90")
    parser.add_argument("--clock", choices=("utc", "aest"), default="utc")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    frame = scored(args.forecasts, args.vic_elec, args.level, args.clock)
    fortnight = (frame["cutoff"] - frame["cutoff"].min()).dt.days // 14
    first = frame.groupby(fortnight)["cutoff"].transform("min").dt.date
    hottest = frame.groupby(frame["cutoff"])["Temperature"].transform("max")
    band = pd.cut(hottest, BANDS)
    result = {
        "forecasts": str(args.forecasts),
        "level": args.level,
        "coverage": round(float(frame["inside"].mean()), 3),
        "by_fortnight": summary(frame.groupby(first)),
        "by_highest_temperature": summary(frame.groupby(band, observed=True)),
        "by_day": summary(frame.groupby(frame["Holiday"].map(DAYS))),
    }
    for key in ("by_fortnight", "by_highest_temperature", "by_day"):
        cells = [
            [
                row["group"],
                row["half_hours"],
                f"{100 * row['coverage']:.1f}%",
                f"{100 * row['mean_relative_error']:.1f}%",
            ]
            for row in result[key]
        ]
        headers = [key.replace("_", " "), "half-hours", "coverage", "mean relative error"]
        print("\n" + markdown_table(headers, "lrrr", cells))
    if args.out:
        write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
