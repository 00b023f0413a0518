"""The window read a value per recurrent step against a chunk of values per step (`--chunk`):
seconds per epoch and the validation table's MASE (the network alone and what is served), each
variant trained by the CLI on the same file with the same options, one after the other.

    python benchmarks/chunk.py sample_data/hourly.csv --chunks 1,24 --lookback 336 \
        --out benchmarks/results/chunk-sample.json [-- more train options]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import pandas as pd
from common import markdown_table, run_cli, write_result


def variant(data: str, chunk: int, extra: list[str], out: Path) -> dict:
    run = run_cli("train", data, "--chunk", str(chunk), *extra, "-q", "--out", str(out))
    history = pd.read_csv(out / "history.csv")
    metrics = json.loads((out / "metrics.json").read_text())
    return {
        "chunk": chunk,
        "wall_s": round(run.wall_s, 1),
        # The first epoch compiles; the median of the others is the running cost.
        "epoch_s": round(statistics.median(history["seconds"].iloc[1:]), 2),
        "epochs": len(history),
        "network_mase": metrics["model"]["mase"],
        "served_mase": metrics["served"]["mase"],
        "scored_windows": metrics["scored_windows"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--chunks", default="1,24")
    parser.add_argument("--lookback", default="336")
    parser.add_argument("--epochs", default="15")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("extra", nargs="*", help="train options after --")
    args = parser.parse_args(argv)
    extra = ["--lookback", args.lookback, "--epochs", args.epochs, *args.extra]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            variant(args.data, int(c), extra, Path(tmp) / f"chunk{c}")
            for c in args.chunks.split(",")
        ]
    print(
        markdown_table(
            ["chunk", "s / epoch", "epochs", "network MASE", "served MASE", "train s"],
            "rrrrrr",
            [
                [
                    r["chunk"],
                    f"{r['epoch_s']:.2f}",
                    r["epochs"],
                    f"{r['network_mase']:.3f}",
                    f"{r['served_mase']:.3f}",
                    f"{r['wall_s']:.0f}",
                ]
                for r in rows
            ],  # fmt: skip
        )
    )
    write_result(args.out, {"data": args.data, "options": extra, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
