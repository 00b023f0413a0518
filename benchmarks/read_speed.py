"""How fast a big long-layout CSV becomes a validated panel.

Writes a long CSV (`unique_id,ds,y`, hourly, rows shuffled within the file's series blocks)
under .bench/ once, then times the two steps of `tsforecast.data.load_panel`: reading the
table (pandas with the pyarrow engine) and validating and regularising it into the panel.

    python benchmarks/read_speed.py [--rows 10000000] [--series 1000] [--out FILE]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv
from common import markdown_table, write_result

from tsforecast import data
from tsforecast.config import DataConfig

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "read_speed.json"


def write_csv(path: Path, rows: int, series: int) -> None:
    """`series` hourly series of rows // series values each, random walks around 100."""
    per = rows // series
    rng = np.random.default_rng(0)
    ids = np.repeat(np.asarray([f"id{k:06d}" for k in range(series)]), per)
    start = np.datetime64("2020-01-01T00:00:00", "s")
    ds = start + np.tile(np.arange(per, dtype="timedelta64[h]"), series)
    y = (100 + np.cumsum(rng.normal(size=(series, per)), axis=1)).reshape(-1).round(3)
    table = pa.table({"unique_id": ids, "ds": ds, "y": y})
    path.parent.mkdir(parents=True, exist_ok=True)
    pyarrow.csv.write_csv(table, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    args = parser.parse_args(argv)

    path = REPO / ".bench" / f"long_{args.rows}_{args.series}.csv"
    if not path.exists():
        began = time.perf_counter()
        write_csv(path, args.rows, args.series)
        print(
            f"wrote {path} ({path.stat().st_size / 1e6:.0f} MB) "
            f"in {time.perf_counter() - began:.1f}s",
            file=sys.stderr,
        )

    cfg = DataConfig(path=str(path))
    # CPU time as well as wall time: on a shared machine the wall time also measures the neighbours.
    began, cpu = time.perf_counter(), time.process_time()
    frame = data.read_table(str(path))
    read_s, read_cpu = time.perf_counter() - began, time.process_time() - cpu
    began, cpu = time.perf_counter(), time.process_time()
    panel, _ = data.to_panel(frame, data.resolve_schema(frame, cfg))
    panel_s, panel_cpu = time.perf_counter() - began, time.process_time() - cpu
    rows = len(frame)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    result = {
        "rows": rows,
        "series": len(panel.ids),
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "read_s": round(read_s, 2),
        "panel_s": round(panel_s, 2),
        "read_cpu_s": round(read_cpu, 2),
        "panel_cpu_s": round(panel_cpu, 2),
        "read_rows_per_s": round(rows / read_s),
        "panel_rows_per_s": round(rows / panel_s),
        "total_rows_per_s": round(rows / (read_s + panel_s)),
        "peak_rss_mb": round(peak_mb),
    }
    print(f"long CSV, {rows:,} rows, {len(panel.ids):,} series, {result['file_mb']} MB\n")
    steps = [
        ["read CSV (pyarrow engine)", read_s, read_cpu, f"{rows / read_s:,.0f}"],
        ["validate + regularise (to_panel)", panel_s, panel_cpu, f"{rows / panel_s:,.0f}"],
        ["total", read_s + panel_s, read_cpu + panel_cpu, f"{result['total_rows_per_s']:,}"],
    ]
    cells = [[step, f"{wall:.2f}", f"{cpu:.2f}", speed] for step, wall, cpu, speed in steps]
    print(markdown_table(["step", "wall s", "CPU s", "rows/s (wall)"], "lrrr", cells))
    print(f"\npeak RSS {peak_mb:,.0f} MB")
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
