"""The epoch time of today's trainer against an earlier commit's, alternating in one run.

    python benchmarks/speed_before_after.py --before fcf9e5e --rounds 2

Exports the earlier commit into a temporary folder (`git archive`) and runs its
`benchmarks/speed.py` there and today's `benchmarks/speed.py` here, in turn, `--rounds` times
each, on the same series (no peers, every host device). A change that should cost nothing
shows it in this table: this machine drifts 10-25% between processes, so only an alternating
run on one machine says anything. Writes benchmarks/results/speed-before-after.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import export_revision, markdown_table, write_result

ROOT = Path(__file__).resolve().parent.parent


def run(tree: Path, csv: Path, epochs: int, out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    command = [
        sys.executable,
        str(tree / "benchmarks" / "speed.py"),
        "--csv",
        str(csv),
        "--epochs",
        str(epochs),
        "--devices",
        "all",
        "--peers",
        "none",
        "--out",
        str(out),
    ]
    # From inside the tree, so that its own package is imported, not the installed one.
    subprocess.run(command, env=env, cwd=tree, check=True, capture_output=True, text=True)
    (row,) = json.loads(out.read_text())["rows"]
    if "error" in row:
        raise SystemExit(f"{tree}: {row['error']}")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="fcf9e5e", help="the earlier commit")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--csv", type=Path, default=ROOT / ".bench" / "series.csv")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "speed-before-after.json"
    )
    args = parser.parse_args()
    if not args.csv.exists():
        raise SystemExit(f"no {args.csv}: run `make bench-speed` once to make the series")
    with tempfile.TemporaryDirectory(prefix="tsforecast-before-") as scratch:
        before = export_revision(args.before, Path(scratch) / "tree")
        rows = []
        for round_ in range(1, args.rounds + 1):
            for label, tree in ((args.before, before), ("today", ROOT)):
                row = run(tree, args.csv, args.epochs, Path(scratch) / "speed.json")
                rows.append({"code": label, "round": round_, **row})
                print(json.dumps(rows[-1]), file=sys.stderr)
    print(
        markdown_table(
            ["code", "round", "epoch s (median of 2..E)", "val MSE"],
            "lrrr",
            [[row["code"], row["round"], row["epoch_s_median"], row["val_mse"]] for row in rows],
        )
    )
    for label in (args.before, "today"):
        times = [r["epoch_s_median"] for r in rows if r["code"] == label]
        print(f"{label}: median {statistics.median(times):.3f} s per epoch")
    write_result(args.out, {"workload": vars(args), "rows": rows})


if __name__ == "__main__":
    main()
