"""The model directory: everything needed to forecast again, written atomically (see
tsforecast.atomic: a run that dies at any moment leaves the previous directory or the new one).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import flax
import flax.serialization
import jax
import numpy as np
import pandas as pd

from . import jsontext
from .atomic import read_files, replaceable, staged_dir
from .config import Config
from .errors import ArtifactError
from .features import FeatureLayout
from .runtime import test_pause

# 2: window framing, covariates and calendar features (a format-1 reader would misread them).
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
CONFIG_FILE = "config.json"
PARAMS_FILE = "params.msgpack"
SCALER_FILE = "scaler.csv"
HISTORY_FILE = "history.csv"
METRICS_FILE = "metrics.json"
SERIES_METRICS_FILE = "metrics_by_series.csv"
HISTORY_PLOT = "history.png"
# Added after format 1 shipped; a directory without it is still format 1, just without intervals.
CONFORMAL_FILE = "conformal_scores.npy"
# Where a registry (tsforecast.registry) keeps its model directories, one per version.
REGISTRY_VERSIONS = "versions"


@dataclass(frozen=True)
class Scaler:
    """Per-series standardisation statistics of the training part: of the target (`mean`,
    `std` <float64>[n_series]) and of the numeric covariates `columns` (`cov_mean`, `cov_std`
    <float64>[n_series, k])."""

    ids: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    columns: tuple[str, ...] = ()
    cov_mean: np.ndarray | None = None
    cov_std: np.ndarray | None = None

    def for_panel(self, panel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Statistics <float64>[n_series, 1 + k] (target first) for the panel's series, and which
        were seen in training. A new id is standardised with its own history, so the global
        model forecasts series it never saw."""
        from .windows import segment_stats

        index = {name: i for i, name in enumerate(self.ids)}
        known = np.asarray([name in index for name in panel.ids])
        own_mean, own_std = segment_stats(
            np.column_stack([panel.values, panel.covariate_matrix()]), panel.offsets, panel.lengths
        )
        picks = [index.get(name, 0) for name in panel.ids]
        saved_mean = np.column_stack([self.mean, *([self.cov_mean] if self.columns else [])])[picks]
        saved_std = np.column_stack([self.std, *([self.cov_std] if self.columns else [])])[picks]
        mean = np.where(known[:, None], saved_mean, own_mean)
        std = np.where(known[:, None], saved_std, own_std)
        return mean, std, known

    def to_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame({"unique_id": self.ids, "mean": self.mean, "std": self.std})
        for k, name in enumerate(self.columns):
            frame[f"mean:{name}"] = self.cov_mean[:, k]
            frame[f"std:{name}"] = self.cov_std[:, k]
        return frame

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Scaler:
        columns = tuple(c.removeprefix("mean:") for c in frame.columns if c.startswith("mean:"))
        return cls(
            tuple(frame["unique_id"]),
            frame["mean"].to_numpy(np.float64),
            frame["std"].to_numpy(np.float64),
            columns,
            frame[[f"mean:{c}" for c in columns]].to_numpy(np.float64).reshape(len(frame), -1),
            frame[[f"std:{c}" for c in columns]].to_numpy(np.float64).reshape(len(frame), -1),
        )

    def require_known(self, ids: tuple[str, ...]) -> None:
        """An ArtifactError naming the series of `ids` the model was not trained on."""
        known = set(self.ids)
        unknown = [name for name in ids if name not in known]
        if unknown:
            raise ArtifactError(
                f"series {', '.join(map(repr, unknown[:5]))} not seen in training; the model "
                "knows: "
                f"{', '.join(map(repr, self.ids[:5]))}{' ...' if len(self.ids) > 5 else ''}"
            )

    def lookup(self, ids: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        self.require_known(ids)
        index = {name: i for i, name in enumerate(self.ids)}
        picks = [index[name] for name in ids]
        return self.mean[picks], self.std[picks]


@dataclass(frozen=True)
class TrainingSummary:
    """What a training run saw, saved in config.json: the data (series, rows, last timestamp,
    the ids of series too short to train on), the model's size, windows and devices."""

    data_summary: dict[str, Any] = field(default_factory=dict)
    n_params: int = 0
    train_windows: int = 0
    devices: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelArtifact:
    """What `tsforecast train` produces and `tsforecast predict` reads."""

    config: Config
    params: Any
    scaler: Scaler
    features: FeatureLayout
    history: pd.DataFrame
    metrics: dict[str, Any]
    summary: TrainingSummary = field(default_factory=TrainingSummary)
    # Absolute validation errors <float32>[n_windows, horizon] in standardised units, for
    # conformal intervals; None for quantile models and directories from before intervals.
    conformal_scores: np.ndarray | None = None
    series_metrics: pd.DataFrame | None = None
    # What `train --registry` recorded: the data hash, the warm start, the champion's scores.
    registry: dict[str, Any] | None = None
    # The method served at each horizon step (forecast.serve); empty: the network at every step,
    # as in directories written before serving existed.
    served: tuple[str, ...] = ()


def _write(path: Path, data: bytes) -> None:
    # Not fsynced here: atomic.staged_dir fsyncs every file before the swap.
    path.write_bytes(data)
    test_pause(f"write:{path.name}")


def versions() -> dict[str, str]:
    return {
        "tsforecast": package_version("tsforecast"),
        "jax": jax.__version__,
        "flax": flax.__version__,
    }


def write_into(directory: Path, artifact: ModelArtifact) -> None:
    """Write every file of the model directory into an existing, empty `directory`."""
    from .plots import plot_history  # matplotlib is slow to import; only saving needs it

    config = {
        "format_version": FORMAT_VERSION,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
        "config": artifact.config.to_dict(),
        "data_summary": artifact.summary.data_summary,
        "features": list(artifact.features.names),
        "future_features": list(artifact.features.future),
        "static_levels": artifact.features.static_levels,
        "n_params": artifact.summary.n_params,
        "train_windows": artifact.summary.train_windows,
        "devices": list(artifact.summary.devices),
    }
    if artifact.served:
        config["served"] = list(artifact.served)
    if artifact.registry is not None:
        config["registry"] = artifact.registry
    _write(directory / CONFIG_FILE, jsontext.dumps(config, indent=2, default=str).encode())
    params = jax.tree_util.tree_map(np.asarray, artifact.params)
    _write(directory / PARAMS_FILE, flax.serialization.msgpack_serialize(params))
    _write(
        directory / SCALER_FILE,
        artifact.scaler.to_frame().to_csv(index=False, float_format="%.17g").encode(),
    )
    _write(directory / HISTORY_FILE, artifact.history.to_csv(index=False).encode())
    _write(directory / METRICS_FILE, jsontext.dumps(artifact.metrics, indent=2).encode())
    if artifact.conformal_scores is not None:
        buffer = io.BytesIO()
        np.save(buffer, artifact.conformal_scores.astype(np.float32), allow_pickle=False)
        _write(directory / CONFORMAL_FILE, buffer.getvalue())
    if artifact.series_metrics is not None:
        _write(
            directory / SERIES_METRICS_FILE,
            artifact.series_metrics.to_csv(index=False, float_format="%.6g").encode(),
        )
    plot_history(artifact.history, directory / HISTORY_PLOT)
    test_pause(f"write:{HISTORY_PLOT}")


@dataclass(frozen=True)
class Record:
    """What a model directory says of itself, read without its weights: when it was written,
    the last timestamp of its training data, the registry's record of it (data hash, decision,
    warm start, champion) and its validation metrics."""

    created_at: str
    last_timestamp: str
    registry: dict[str, Any]
    metrics: dict[str, Any]

    @property
    def data_hash(self) -> str | None:
        return self.registry.get("data_hash")

    @property
    def decision(self) -> str | None:
        return self.registry.get("decision")


def read_record(directory: Path) -> Record | None:
    """The `Record` of a model directory; None when its config.json or metrics.json cannot be
    read (not a model directory, or one being written)."""
    try:
        config = json.loads((directory / CONFIG_FILE).read_text())
        metrics = json.loads((directory / METRICS_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict) or not isinstance(metrics, dict):
        return None
    return Record(
        created_at=config.get("created_at", ""),
        last_timestamp=config.get("data_summary", {}).get("last_timestamp", ""),
        registry=config.get("registry") or {},
        metrics=metrics,
    )


def _is_model_dir(path: Path) -> bool:
    try:
        return "format_version" in json.loads((path / CONFIG_FILE).read_text())
    except (OSError, ValueError, TypeError):
        return False


def check_out(out: str | Path) -> Path:
    """The absolute model directory path for `out`, refused when something there is not a model
    directory: replacing it would delete its contents (`--out .` would take the data with it)."""
    return replaceable(out, _is_model_dir, "a tsforecast model", "model", ArtifactError)


def save(artifact: ModelArtifact, out: str | Path) -> Path:
    """Write the model directory at `out` atomically; an existing one is replaced only when the
    new one is complete."""
    target = check_out(out)
    with staged_dir(target) as staging:
        write_into(staging, artifact)
    return target


def _json(root: Path, name: str, data: bytes) -> dict[str, Any]:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise ArtifactError(f"cannot read {root / name}: {exc}") from None


def load(directory: str | Path) -> ModelArtifact:
    """Read a model directory, refusing formats this version does not know. Every file comes
    from the same directory even while a run replaces it (atomic.read_files)."""
    root = Path(directory)
    names = (CONFIG_FILE, PARAMS_FILE, SCALER_FILE, HISTORY_FILE, METRICS_FILE, CONFORMAL_FILE)
    try:
        files = read_files(root, names)
    except OSError as exc:
        raise ArtifactError(f"cannot read {root}: {exc}") from None
    if files is None or CONFIG_FILE not in files:
        if (root / REGISTRY_VERSIONS).is_dir():
            raise ArtifactError(
                f"{root} is a registry, not a model directory: use --registry {root} (or "
                f"--model {root / 'current'})"
            )
        raise ArtifactError(
            f"no model at {root} (no {CONFIG_FILE}); train one with: tsforecast train DATA --out "
            f"{root}"
        )
    raw = _json(root, CONFIG_FILE, files[CONFIG_FILE])
    version = raw.get("format_version")
    if version not in READABLE_VERSIONS:
        raise ArtifactError(
            f"{root} has model format_version {version!r}; tsforecast "
            f"{package_version('tsforecast')} reads formats "
            f"{', '.join(map(str, READABLE_VERSIONS))}"
        )
    missing = [name for name in (PARAMS_FILE, SCALER_FILE, HISTORY_FILE) if name not in files]
    if missing:
        raise ArtifactError(f"{root} is incomplete or damaged: no {', '.join(missing)}")
    try:
        params = flax.serialization.msgpack_restore(files[PARAMS_FILE])
        scaler_frame = pd.read_csv(
            io.BytesIO(files[SCALER_FILE]),
            dtype={"unique_id": str},
            keep_default_na=False,
            # pandas 2 parses floats fast but not always exactly; the statistics must come back
            # bit for bit.
            float_precision="round_trip",
        )
        history = pd.read_csv(io.BytesIO(files[HISTORY_FILE]))
        scores = (
            np.load(io.BytesIO(files[CONFORMAL_FILE]), allow_pickle=False)
            if CONFORMAL_FILE in files
            else None
        )
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{root} is incomplete or damaged: {exc}") from None
    scaler = Scaler.from_frame(scaler_frame)
    metrics = _json(root, METRICS_FILE, files[METRICS_FILE]) if METRICS_FILE in files else {}
    # Format 1 had no covariates, calendar or static features: the target alone.
    features = FeatureLayout(
        tuple(raw.get("features", ("y",))),
        tuple(raw.get("future_features", ())),
        raw.get("static_levels", {}),
    )
    summary = TrainingSummary(
        raw.get("data_summary", {}),
        raw.get("n_params", 0),
        raw.get("train_windows", 0),
        tuple(raw.get("devices", ())),
    )
    config = Config.from_dict(raw["config"])
    return ModelArtifact(
        config,
        params,
        scaler,
        features,
        history,
        metrics,
        summary,
        scores,
        registry=raw.get("registry"),
        served=tuple(raw.get("served", ())),
    )
