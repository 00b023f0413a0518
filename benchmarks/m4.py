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
