"""Regenerate the sample files in this folder (deterministic: same bytes every run).

python sample_data/generate.py
"""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def hourly_load(n_hours: int = 2160, seed: int = 7) -> pd.DataFrame:
    """An electricity-load-like hourly series: daily and weekly cycles, a trend, AR(1) noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_hours, dtype=np.float64)
    hour = t % 24
    weekday = (t // 24) % 7
    daily = 12.0 * np.exp(-((hour - 19.0) ** 2) / 8.0) + 6.0 * np.exp(-((hour - 8.0) ** 2) / 4.0)
    weekend = np.where(weekday >= 5, -7.0, 0.0)
    trend = 50.0 + 0.004 * t
    noise = np.zeros(n_hours)
    shocks = rng.normal(0.0, 1.5, n_hours)
    for i in range(1, n_hours):
        noise[i] = 0.7 * noise[i - 1] + shocks[i]
    y = trend + daily + weekend + noise
    ds = pd.date_range("2024-01-01", periods=n_hours, freq="h")
    return pd.DataFrame({"ds": ds.strftime("%Y-%m-%d %H:%M:%S"), "y": np.round(y, 3)})


def main() -> None:
    hourly_load().to_csv(HERE / "hourly.csv", index=False)


if __name__ == "__main__":
    main()
