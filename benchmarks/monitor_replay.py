"""A served model monitored day by day, as cron would run it: `predict --registry`, the day's
actuals arrive, `monitor`.

The panel is the six load columns (HUFL, HULL, MUFL, MULL, LUFL, LULL) of ETTh1 and of ETTh2,
12 hourly series (see ../shared/data/etth1/README.md). Informer's borders split each into
train [0, 8640), validation [8640, 11520) and test [11520, 14400). One model is trained into a
registry with the defaults (only `--horizon 24`) on the train and validation months; then 28
days of the test months are replayed: each day the registry's model forecasts the next 24
hours from the day's origin (with 80% and 90% intervals), the day's 24 rows are appended to
the file, and `tsforecast monitor` scores every forecast whose targets have arrived (window 7,
tolerance 0.25, the defaults).

The data's licence (CC BY-ND 4.0) forbids sharing modified copies: the panel CSV is written to
a temporary folder (or --work), never into the project.

    python benchmarks/monitor_replay.py [--days 28] [--work DIR] [-- extra train options]

Prints a table per day and per week, writes benchmarks/results/monitor_replay.json and the
last day's `monitor --plot` to docs/images/monitor-replay.png.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import pandas as pd
from common import markdown_table, run_cli, write_result

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "monitor_replay.json"
PLOT = REPO / "docs" / "images" / "monitor-replay.png"
VAL_END = 16 * 30 * 24
HORIZON = 24
STATIONS = {"ETTh1": "etth1/ETTh1.csv", "ETTh2": "etth2/ETTh2.csv"}
LOADS = ("HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL")


def load_panel() -> pd.DataFrame:
    """`unique_id, ds, y`: every load column of both stations, e.g. `ETTh1 HUFL`."""
    parts = []
    for station, file in STATIONS.items():
        frame = pd.read_csv(DATA / file, usecols=["date", *LOADS])
        long = frame.melt(id_vars="date", var_name="column", value_name="y")
        long["unique_id"] = station + " " + long.pop("column")
        parts.append(long.rename(columns={"date": "ds"})[["unique_id", "ds", "y"]])
    return pd.concat(parts, ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--work", type=Path, help="Keep the registry and data here.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("extra", nargs="*", help="train options after --")
    args = parser.parse_args(argv)
    panel = load_panel()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        data, registry = work / "panel.csv", work / "registry"

        def write(rows: int) -> None:
            panel.groupby("unique_id", sort=False).head(rows).to_csv(data, index=False)

        write(VAL_END)
        train_seconds = run_cli(
            "train",
            str(data),
            "--horizon",
            str(HORIZON),
            "--registry",
            str(registry),
            "-q",
            *args.extra,
            discard_stdout=True,
        ).wall_s
        metrics = json.loads((registry / "current" / "metrics.json").read_text())
        rows, predict_seconds, monitor_seconds = [], [], []
        for day in range(1, args.days + 1):
            write(VAL_END + HORIZON * (day - 1))
            predicted = run_cli(
                "predict",
                str(data),
                "--registry",
                str(registry),
                "--level",
                "80",
                "--level",
                "90",
                "--out",
                str(work / "forecast.csv"),
                discard_stdout=True,
            )
            predict_seconds.append(predicted.wall_s)
            write(VAL_END + HORIZON * day)
            report_path = work / f"monitor-day{day}.json"
            extra = ["--plot", str(PLOT)] if day == args.days else []
            monitored = run_cli(
                "monitor",
                str(data),
                "--registry",
                str(registry),
                "--out",
                str(report_path),
                *extra,
                check=False,
                discard_stdout=True,
            )
            code = monitored.exit_code
            if code not in (0, 4):  # 4: degraded, which the replay is there to see
                raise SystemExit(
                    f"monitor exited {code} on day {day}; its stderr ended:\n"
                    f"{monitored.stderr_tail}"
                )
            monitor_seconds.append(monitored.wall_s)
            report = json.loads(report_path.read_text())
            issue, window = report["issues"][-1], report["window_scores"]
            row = {
                "day": day,
                "origin": issue["origin"],
                "exit_code": code,
                "mase": issue["mase"],
                "seasonal_naive_mase": issue["seasonal_naive_mase"],
                "coverage_90": issue["coverage-90"],
                "window_issues": window["issues"],
                "window_mase": window["mase"],
                "window_seasonal_naive_mase": window["seasonal_naive_mase"],
                "window_coverage_90": window["coverage-90"],
                "reasons": report["decision"]["reasons"],
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
        final = json.loads((work / f"monitor-day{args.days}.json").read_text())
    validation = final["validation"][final["served_version"]]
    print(f"\nvalidation MASE {validation['mase']:.3f} (degraded above x 1.25)\n")
    days_table = [
        [
            row["day"],
            row["origin"][:16],
            f"{row['mase']:.3f}",
            f"{row['seasonal_naive_mase']:.3f}",
            f"{row['window_mase']:.3f}",
            f"{row['window_seasonal_naive_mase']:.3f}",
            row["exit_code"],
        ]
        for row in rows
    ]
    days_headers = [
        "day",
        "origin",
        "MASE",
        "seasonal naive",
        "window MASE",
        "window naive",
        "exit",
    ]
    print(markdown_table(days_headers, "rlrrrrr", days_table))
    weeks = []
    for first in range(0, len(rows), 7):
        week = rows[first : first + 7]
        last = week[-1]
        weeks.append(
            {
                "days": f"{week[0]['day']}-{last['day']}",
                "mase": last["window_mase"],
                "seasonal_naive_mase": last["window_seasonal_naive_mase"],
                "coverage_90": last["window_coverage_90"],
                "degraded_days": sum(row["exit_code"] == 4 for row in week),
            }
        )
    weeks_table = [
        [
            week["days"],
            f"{week['mase']:.3f}",
            f"{week['seasonal_naive_mase']:.3f}",
            f"{100 * week['coverage_90']:.1f}%",
            week["degraded_days"],
        ]
        for week in weeks
    ]
    weeks_headers = ["days", "realised MASE", "seasonal naive", "90% coverage", "days with exit 4"]
    print("\n" + markdown_table(weeks_headers, "lrrrr", weeks_table))
    write_result(
        args.out,
        {
            "series": sorted(panel["unique_id"].unique()),
            "train_rows_per_series": VAL_END,
            "horizon": HORIZON,
            "train_options": args.extra,
            "days": args.days,
            "validation": validation,
            "validation_metrics": {
                key: metrics[key]
                for key in metrics
                if key in ("model", "served") or key.startswith("seasonal_naive")
            },
            "train_seconds": round(train_seconds, 1),
            "predict_seconds_mean": round(sum(predict_seconds) / len(predict_seconds), 1),
            "monitor_seconds_mean": round(sum(monitor_seconds) / len(monitor_seconds), 1),
            "rows": rows,
            "weeks": weeks,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
