"""Online interval recalibration (tsforecast.recalibration) on rolling origins of series whose
errors shift: coverage and width of the intervals before and after.

Each stretch is one `tsforecast backtest` with the defaults (only the horizon, a day, given):
trained once at the first cutoff, then a forecast from every daily origin without retraining,
as a nightly `predict --registry` serves one version. Its `backtest_forecasts.csv` holds what
`predict` would have served without recalibration (y_hat and the conformal bounds per level)
and the actuals. The script then replays, origin by origin, what `predict --registry` does
with recalibration: the state is `recalibration.replay` of the forecasts served so far
(recalibrated ones after the first) whose actuals have arrived by the origin, applied to the
origin's bounds with `recalibration.rescale`. Coverage, mean width and interval score
(original units) per stretch and level, before and after, over every origin, over those after
the first `--settle` days (14: once two weeks of actuals have been logged), per fortnight and,
for vic_elec, per band of the forecast day's highest temperature.

Stretches (`--stretches`, comma-separated):

- `vic_elec-validation`, `vic_elec-year-before-test`: the vic_elec phases of
  benchmarks/multiseasonal.py that are history (before the test phase's first origin): the
  southern winter and the same spring-into-summer a year before the test. The defaults are
  chosen on these (`--etas` tries several).
- `vic_elec-test`: the last 100 days (late September to the end of December 2014).
- `PJME-summer-validation`, `PJME-summer-test`: PJM East hourly load, 56 daily forecasts of
  the days from June 1, 2017 and 2018 (heat waves), each file holding 52 weeks of history
  before them; the duplicated autumn hours averaged, missing hours interpolated.

`--source DIR` runs the backtests with the tsforecast in DIR (for example a `git archive` of a
commit, so that other work in this checkout does not touch them); the replay always uses this
checkout's tsforecast.recalibration. `--work DIR` keeps the CSVs and backtest outputs (a
backtest whose output is there is not run again); it belongs outside git (`.bench/` is
ignored): the data sets are not the project's to copy.

    python benchmarks/recalibration.py --vic-elec vic_elec.rda [--stretches ...] [--etas ...]
        [--pooled] [--work DIR] [--source DIR] [--out FILE]

Prints a table and writes benchmarks/results/recalibration.json. How eta was chosen:
`--stretches vic_elec-validation,vic_elec-year-before-test --etas 0.02,0.05,0.1,0.15,0.2,0.3
--pooled --out benchmarks/results/recalibration-choice.json` (docs/intervals.md).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from common import markdown_table, run_cli, write_result

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "recalibration.json"
ORIGINS = 100
LEVELS = ("80", "90", "95")
VIC_ELEC_ROWS, VIC_ELEC_HISTORY = 52_608, 52 * 336


@dataclass(frozen=True)
class Stretch:
    source: str  # "vic_elec" or a PJM region
    horizon: int  # a day
    rows: slice | None  # vic_elec: the rows its file holds
    first_origin: str | None = None  # PJM: the first day forecast
    origins: int = ORIGINS


def vic_elec(end: int) -> Stretch:
    return Stretch("vic_elec", 48, slice(end - ORIGINS * 48 - VIC_ELEC_HISTORY, end))


STRETCHES = {
    "vic_elec-validation": vic_elec(VIC_ELEC_ROWS - ORIGINS * 48),
    "vic_elec-year-before-test": vic_elec(VIC_ELEC_ROWS - 365 * 48),
    "vic_elec-test": vic_elec(VIC_ELEC_ROWS),
    "PJME-summer-validation": Stretch("PJME", 24, None, "2017-06-01", 56),
    "PJME-summer-test": Stretch("PJME", 24, None, "2018-06-01", 56),
}


def stretch_file(stretch: Stretch, vic_elec_path: Path | None) -> pd.DataFrame:
    """The stretch's file as `ds, y`: its history and its origins' targets."""
    if stretch.source == "vic_elec":
        if vic_elec_path is None:
            raise SystemExit("the vic_elec stretches need --vic-elec PATH (tsibbledata's rda)")
        import pyreadr  # only these stretches need it

        frame = next(iter(pyreadr.read_r(str(vic_elec_path)).values()))[["Time", "Demand"]]
        frame = frame.iloc[stretch.rows]
        return frame.set_axis(["ds", "y"], axis=1)
    frame = pd.read_csv(DATA / "pjm" / f"{stretch.source}_hourly.csv")
    frame.columns = ["ds", "y"]
    frame["ds"] = pd.to_datetime(frame["ds"])
    series = frame.groupby("ds")["y"].mean().sort_index().asfreq("h")
    series = series.interpolate(limit_direction="both")
    first = pd.Timestamp(stretch.first_origin)
    start = first - pd.Timedelta(weeks=52)
    end = first + pd.Timedelta(days=stretch.origins) - pd.Timedelta(hours=1)
    series = series[(series.index >= start) & (series.index <= end)]
    return series.rename("y").rename_axis("ds").reset_index()


def backtest(csv: Path, out: Path, stretch: Stretch, source: Path) -> float:
    levels = [arg for level in LEVELS for arg in ("--level", level)]
    return run_cli(
        "backtest",
        str(csv),
        "--horizon",
        str(stretch.horizon),
        "--windows",
        str(stretch.origins),
        "--step",
        str(stretch.horizon),
        *levels,
        "--quiet",
        "--out",
        str(out),
        source=source,
    ).wall_s


def forecasts_of(
    name: str, vic_elec_path: Path | None, work: Path, source: Path
) -> tuple[pd.DataFrame, float | None]:
    """The stretch's backtest forecasts (run now unless `work` has them) and the seconds the
    backtest took (kept beside them; None if unknown)."""
    stretch = STRETCHES[name]
    csv, out, timing = work / f"{name}.csv", work / name, work / f"{name}.seconds"
    if not (out / "backtest_forecasts.csv").exists():
        stretch_file(stretch, vic_elec_path).to_csv(csv, index=False)
        seconds = backtest(csv, out, stretch, source)
        timing.write_text(f"{seconds:.1f}\n")
        print(f"{name}: backtest {seconds:.0f} s", flush=True)
    frame = pd.read_csv(out / "backtest_forecasts.csv", parse_dates=["ds", "cutoff"])
    return frame, float(timing.read_text()) if timing.exists() else None


def served(frame: pd.DataFrame, level: str, eta: float, pooled: bool = False) -> pd.DataFrame:
    """The forecasts with the bounds `predict --registry` would have served with recalibration
    at `eta`: at each origin, `replay` of the misses of the intervals served at the earlier
    origins (their targets have all arrived: an origin's targets end at the next origin),
    applied with `rescale` in log units (the model's, as every value is positive). `pooled`:
    one multiplier for all steps (each step's tracker fed the origin's share of misses over all
    steps), the alternative to one per step."""
    from tsforecast.recalibration import BOUNDS, replay, rescale

    cutoffs = np.sort(frame["cutoff"].unique())
    horizon = int((frame["cutoff"] == cutoffs[0]).sum())
    lo_name, hi_name = f"y_hat-lo-{level}", f"y_hat-hi-{level}"
    ordered = frame.sort_values(["cutoff", "ds"], kind="stable")
    y = ordered["y"].to_numpy().reshape(-1, horizon)
    point = np.log(ordered["y_hat"].to_numpy()).reshape(-1, horizon)
    lo = np.log(ordered[lo_name].to_numpy()).reshape(-1, horizon)
    hi = np.log(ordered[hi_name].to_numpy()).reshape(-1, horizon)
    missed = np.zeros_like(y)
    new_lo, new_hi = np.empty_like(lo), np.empty_like(hi)
    for k in range(len(cutoffs)):
        multiplier = np.exp(replay(missed[:k], float(level), eta, BOUNDS))
        new_lo[k], new_hi[k] = rescale(point[k], lo[k], hi[k], multiplier)
        outside = (y[k] < np.exp(new_lo[k])) | (y[k] > np.exp(new_hi[k]))
        missed[k] = outside.mean() if pooled else outside
    result = ordered.copy()
    result[lo_name], result[hi_name] = np.exp(new_lo).ravel(), np.exp(new_hi).ravel()
    return result


def scores(frame: pd.DataFrame, level: str) -> dict[str, float]:
    """Coverage, mean width and mean interval score (original units: the width plus 2 / alpha
    times how far the actual fell outside; lower is better; MSIS before the scaling)."""
    y, lo, hi = frame["y"], frame[f"y_hat-lo-{level}"], frame[f"y_hat-hi-{level}"]
    inside = (y >= lo) & (y <= hi)
    alpha = 1 - float(level) / 100
    score = (hi - lo) + 2 / alpha * ((lo - y).clip(lower=0) + (y - hi).clip(lower=0))
    return {
        "targets": int(len(frame)),
        "coverage": round(float(inside.mean()), 4),
        "mean_width": round(float((hi - lo).mean()), 2),
        "interval_score": round(float(score.mean()), 2),
    }


def hottest_days(frame: pd.DataFrame, vic_elec_path: Path) -> pd.Series:
    """Each target's forecast day's highest temperature (vic_elec)."""
    import pyreadr

    weather = next(iter(pyreadr.read_r(str(vic_elec_path)).values()))[["Time", "Temperature"]]
    weather = weather.set_axis(["ds", "temperature"], axis=1)
    weather["ds"] = pd.to_datetime(weather["ds"])
    merged = frame[["cutoff", "ds"]].merge(weather, on="ds", how="left")
    return merged.groupby("cutoff")["temperature"].transform("max").set_axis(frame.index)


BANDS = [-50, 25, 30, 35, 60]  # the day's highest temperature, degrees C (coverage_by_day.py)


def compare(
    frame: pd.DataFrame, level: str, eta: float, settle: int, pooled: bool, heat: pd.Series | None
) -> dict:
    """Before and after at `level`: over every origin, after the first `settle`, by fortnight
    of origins and (vic_elec) by the day's highest temperature, and the final multipliers."""
    after = served(frame, level, eta, pooled)
    before = frame.sort_values(["cutoff", "ds"], kind="stable")
    first = before["cutoff"].min()
    settled = before["cutoff"] >= first + pd.Timedelta(days=settle)
    row = {"level": level, "eta": eta, "pooled": pooled}
    for name, part in (("all", slice(None)), (f"after_{settle}_days", settled.to_numpy())):
        row[name] = {"before": scores(before[part], level), "after": scores(after[part], level)}
    fortnight = ((before["cutoff"] - first).dt.days // 14).to_numpy()
    row["by_fortnight"] = [
        {
            "from": str((first + pd.Timedelta(days=14 * k)).date()),
            "before": scores(before[fortnight == k], level),
            "after": scores(after[fortnight == k], level),
        }
        for k in np.unique(fortnight)
    ]
    if heat is not None:
        band = pd.cut(heat.loc[before.index], BANDS).astype(str).to_numpy()
        row["by_highest_temperature"] = [
            {
                "band": b,
                "before": scores(before[band == b], level),
                "after": scores(after[band == b], level),
            }
            for b in sorted(set(band), key=lambda text: float(text.strip("(").split(",")[0]))
        ]
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stretches", default="vic_elec-year-before-test,vic_elec-test")
    parser.add_argument("--vic-elec", type=Path, help="tsibbledata's data/vic_elec.rda")
    parser.add_argument("--work", type=Path, help="keep the CSVs and backtest outputs here")
    parser.add_argument("--source", type=Path, default=REPO, help="the tsforecast to backtest")
    parser.add_argument("--backtest-only", action="store_true")
    parser.add_argument(
        "--etas", default="", help="comma-separated eta values to try (default: the library's)"
    )
    parser.add_argument(
        "--pooled", action="store_true", help="also try one multiplier for all steps"
    )
    parser.add_argument("--settle", type=int, default=14, help="days before the 'after' figures")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    from tsforecast.recalibration import BOUNDS, ETA

    etas = [float(e) for e in args.etas.split(",") if e] or [ETA]
    rows, seconds = [], {}
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        frames = {}
        for name in args.stretches.split(","):
            frames[name], seconds[name] = forecasts_of(
                name, args.vic_elec, work, args.source.absolute()
            )
        if args.backtest_only:
            return 0
    for name, frame in frames.items():
        heat = None
        if STRETCHES[name].source == "vic_elec":
            heat = hottest_days(frame, args.vic_elec)
        for level in LEVELS:
            for eta in etas:
                for pooled in (False, True) if args.pooled else (False,):
                    row = {"stretch": name, **compare(frame, level, eta, args.settle, pooled, heat)}
                    rows.append(row)
    key = f"after_{args.settle}_days"
    print(f"\nbefore -> after recalibration; 'after day {args.settle}': the origins after it")
    settled = f"after day {args.settle}"
    headers = ["stretch", "level", "eta", "multipliers", "coverage", "mean width"]
    headers += [f"coverage {settled}", f"mean width {settled}", f"interval score {settled}"]
    cells = []
    for row in rows:
        a, s = row["all"], row[key]
        cells.append(
            [
                row["stretch"],
                f"{row['level']}%",
                f"{row['eta']:g}",
                "one for all steps" if row["pooled"] else "one per step",
                f"{100 * a['before']['coverage']:.1f}% -> {100 * a['after']['coverage']:.1f}%",
                f"{a['before']['mean_width']:.0f} -> {a['after']['mean_width']:.0f}",
                f"{100 * s['before']['coverage']:.1f}% -> {100 * s['after']['coverage']:.1f}%",
                f"{s['before']['mean_width']:.0f} -> {s['after']['mean_width']:.0f}",
                f"{s['before']['interval_score']:.0f} -> {s['after']['interval_score']:.0f}",
            ]
        )
    print("\n" + markdown_table(headers, "lrrlrrrrr", cells))
    write_result(
        args.out,
        {
            "backtests_ran": str(args.source),
            "backtest_seconds": seconds,
            "bounds": list(BOUNDS),
            "settle_days": args.settle,
            "rows": rows,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
