"""The target transform: what the network models in place of y.

"log" models log(y). Errors then count relative to the series' level, as sMAPE and MAPE count
them: a series that idles at 10 and peaks at 1,000 is one shape to the network instead of spikes
over a floor it barely sees, and the seasonal blend becomes multiplicative. It needs every value
above 0. "auto" picks log when the training data allows it, else "none". Forecasts, bounds and
metrics are always reported in the original units.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .errors import DataError
from .panel import Panel


def resolve(name: str, values: np.ndarray) -> str:
    """The transform a model trained on `values` uses: `name`, or for "auto" log when every
    value is positive."""
    if name != "auto":
        return name
    return "log" if len(values) and bool(np.all(values > 0)) else "none"


def forward(name: str, values: np.ndarray) -> np.ndarray:
    return np.log(values) if name == "log" else values


def inverse(name: str, values: np.ndarray) -> np.ndarray:
    return np.exp(values) if name == "log" else values


def transform_panel(name: str, panel: Panel) -> Panel:
    """The panel with its target in the model's units; a DataError names the first value
    the transform cannot take."""
    if name == "none":
        return panel
    bad = np.flatnonzero(~(panel.values > 0))
    if len(bad):
        i = int(np.searchsorted(panel.offsets, bad[0], side="right") - 1)
        when = panel.timestamps(i)[int(bad[0] - panel.offsets[i])]
        raise DataError(
            f"the model forecasts log(y) (--transform log) but {len(bad)} value(s) are <= 0, "
            f"the first {panel.values[bad[0]]:g} in series {panel.ids[i]!r} at {when}; "
            "train with --transform none"
        )
    return dataclasses.replace(
        panel, values=forward(name, panel.values.astype(np.float64)).astype(np.float32)
    )
