"""Whether a refactor changed any result: the demo, a registry run promoted if better, predict
and monitor on that registry, and a backtest, run on the sample data with the code of two
revisions, their outputs compared byte by byte once what must differ between runs is masked
(durations, version names, which hold the time of the run, and the temporary folders).

    python benchmarks/same_outputs.py --before 0123abc            # against the working tree
    python benchmarks/same_outputs.py --before 0123abc --after 4567def

Prints one line per output, `same` or `DIFFERS` with the first differing line, and exits 1 when
any differs. Both revisions run on this machine with this environment's packages, one after
the other; same data, same seeds, so any difference is the code's.
"""

from __future__ import annotations

import argparse
import difflib
import re
import shutil
import sys
import tempfile
from pathlib import Path

from common import REPO, export_revision, run_cli

SAMPLE = REPO / "sample_data" / "hourly.csv"
VOLATILE = (
    (re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{8}"), "<version>"),
    (re.compile(r"\b\d+(\.\d+)?s\b"), "<seconds>"),
    (
        re.compile(r'"(duration|timestamp|created_at|computed_at|monitored_at)": [^,}]+'),
        r'"\1": <t>',
    ),
)

# (name, tsforecast arguments, files it writes that are compared besides stdout and stderr);
# {work} is the run's folder. In order: later steps read what earlier ones wrote.
STEPS = (
    ("demo train", ["train", "{data}", "--out", "{work}/demo", "--epochs", "15"], []),
    ("demo predict", ["predict", "--model", "{work}/demo", "--level", "80", "--level", "95"], []),
    ("registry first", ["train", "{data}", "--registry", "{work}/reg", "--epochs", "3"], []),
    (
        "registry if-better",
        ["train", "{data}", "--registry", "{work}/reg", "--epochs", "3", "--seed", "1"]
        + ["--promote", "if-better"],
        [],
    ),
    ("registry predict", ["predict", "--registry", "{work}/reg", "--level", "90"], []),
    ("monitor", ["monitor", "{data}", "--registry", "{work}/reg"], []),
    (
        "backtest",
        ["backtest", "{data}", "--windows", "2", "--epochs", "3", "--out", "{work}/bt", "-q"],
        ["bt/backtest_metrics.csv", "bt/backtest_forecasts.csv"],
    ),
)


def masked(text: str, work: Path) -> str:
    text = text.replace(str(work), "<work>")
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def outputs(source: Path | None, work: Path) -> dict[str, str]:
    """Every step's stdout, stderr and files, masked, run with the package in `source` (None:
    the working tree's)."""
    work.mkdir(parents=True)
    data = work / "hourly.csv"
    shutil.copy(SAMPLE, data)
    found = {}
    for name, args, files in STEPS:
        args = [a.format(work=work, data=data) for a in args]
        with open(work / "stdout", "wb") as out, open(work / "stderr", "w") as err:
            run = run_cli(*args, check=False, source=source, cwd=work, stdout_to=out, stderr_to=err)
        found[f"{name}: exit code"] = str(run.exit_code)
        found[f"{name}: stdout"] = masked((work / "stdout").read_text(), work)
        found[f"{name}: stderr"] = masked((work / "stderr").read_text(), work)
        for file in files:
            found[f"{name}: {file}"] = masked((work / file).read_text(), work)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the revision before the change")
    parser.add_argument("--after", help="the revision after it (default: the working tree)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        before = outputs(export_revision(args.before, tmp / "before-src"), tmp / "before")
        after_src = export_revision(args.after, tmp / "after-src") if args.after else REPO
        after = outputs(after_src, tmp / "after")
    differing = 0
    for key in before:
        if before[key] == after.get(key):
            print(f"same     {key}")
            continue
        differing += 1
        diff = difflib.unified_diff(
            before[key].splitlines(), after.get(key, "").splitlines(), lineterm="", n=0
        )
        print(f"DIFFERS  {key}: " + " | ".join(list(diff)[2:6]))
    print(f"\n{differing} of {len(before)} outputs differ")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
