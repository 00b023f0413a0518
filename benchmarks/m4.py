"""The M4 Hourly files as the benchmarks read them (see ../shared/data/m4_hourly/README.md)."""

from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
H = 48
M = 24
DEFAULT_DATA = REPO.parent / "shared" / "data" / "m4_hourly"


def read_wide(path: Path) -> dict[str, np.ndarray]:
    """Wide M4 file -> {id: <float>[n]}; rows are right-padded with empty fields."""
    frame = pd.read_csv(path, index_col=0, dtype={"V1": str})
    return {str(sid): row.dropna().to_numpy(np.float64) for sid, row in frame.iterrows()}


# M4 gives no dates: every training series gets an hourly clock ending at this (arbitrary) hour,
# and its test hours follow; only the spacing matters to the model.
TRAIN_END = pd.Timestamp("2018-01-01 00:00")


def long_frame(series: dict[str, np.ndarray], test: bool = False) -> pd.DataFrame:
    """`unique_id, ds, y` on that clock: training series end at TRAIN_END, test series
    (`test=True`) start the hour after."""
    parts = []
    for sid, y in series.items():
        if test:
            ds = pd.date_range(TRAIN_END + pd.Timedelta(hours=1), periods=len(y), freq="h")
        else:
            ds = pd.date_range(end=TRAIN_END, periods=len(y), freq="h")
        parts.append(pd.DataFrame({"unique_id": sid, "ds": ds, "y": y}))
    return pd.concat(parts, ignore_index=True)
