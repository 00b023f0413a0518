"""One frozen configuration that flows from the CLI to the trainer and is saved with the model.

Derive changed copies with `dataclasses.replace`; never mutate.
"""

from __future__ import annotations

import codecs
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError

FILL_METHODS = ("none", "interpolate", "ffill")
# --duplicates: what one value of several rows at the same timestamp of a series is.
DUPLICATE_RULES = ("error", "mean", "sum", "first", "last")
TRANSFORMS = ("auto", "none", "log")
LOSSES = ("mse", "mae", "huber")
NORMALIZATIONS = ("series", "window")
RESIDUALS = ("none", "seasonal", "blend")
# (normalize, residual) per strategy when not given.
DEFAULT_FRAMING = {"direct": ("window", "blend"), "recursive": ("series", "none")}
# What models saved before these options existed were trained with, per config section.
EARLIER_DEFAULTS = {
    "model": {"normalize": "series", "residual": "none", "chunk": 1, "future_per_step": False},
    "data": {"transform": "none"},
    "train": {"ensemble": 1},
    "intervals": {"spread": "series"},
}
INTERVAL_METHODS = ("conformal", "quantile")
INTERVAL_SPREADS = ("recent", "series")
DEFAULT_LEVELS = (80.0, 95.0)
PROMOTE_RULES = ("always", "if-better")
# DATA (and `predict --out`) "-": standard input (standard output), for pipes.
STDIN = "-"
# backtest --refit: train once before the first cutoff, or again at each.
REFITS = ("once", "each")
PROMOTE_METRICS = ("mase", "smape", "mae", "rmse")
# The names of tsforecast.models.MODELS, here so the CLI can offer them without importing flax.
MODEL_NAMES = ("lstm", "gru", "bilstm", "conv-lstm")
STRATEGIES = ("direct", "recursive")
MERGES = ("concat", "sum")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _known_encoding(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


@dataclass(frozen=True)
class DataConfig:
    """Where the data is and how to read it. `None` means: infer it from the file."""

    path: str = ""
    time_col: str | None = None
    target: str | None = None
    id_col: str | None = None
    freq: str | None = None
    fill: str = "none"
    # Rows of a series at one timestamp (the autumn hour a local-time export repeats): refused,
    # or combined into one value.
    duplicates: str = "error"
    # Seasonal periods, the primary (MASE's scale, Naive2's test) first; None: from the frequency.
    season_length: tuple[int, ...] | None = None
    # None: wide when the table has several numeric columns, no id column and no --target.
    wide: bool | None = None
    covariates: tuple[str, ...] = ()
    future_covariates: tuple[str, ...] = ()
    static: tuple[str, ...] = ()
    calendar: bool = False
    # Public holidays as known-in-advance inputs: an ISO 3166 country code, optionally with a
    # subdivision (US, US-CA); tsforecast.features.holiday_features.
    holidays: str | None = None
    # Refuse series too short to train on instead of skipping them.
    strict: bool = False
    # What the network models in place of the target (tsforecast.transforms); training
    # resolves "auto" and records the result.
    transform: str = "auto"
    # How the file's text is read: its encoding (UTF-8 may start with a byte order mark), and the
    # strftime format of the time column (None: ISO 8601, else the one format that fits all).
    encoding: str = "utf-8"
    date_format: str | None = None

    def __post_init__(self) -> None:
        for name in ("covariates", "future_covariates", "static"):
            object.__setattr__(
                self, name, tuple(getattr(self, name))
            )  # lists when read back from JSON
        if isinstance(self.season_length, int):  # one period, as older config.json files hold it
            object.__setattr__(self, "season_length", (self.season_length,))
        elif self.season_length is not None:
            object.__setattr__(self, "season_length", tuple(self.season_length))
        _check(
            self.fill in FILL_METHODS,
            f"--fill must be one of {', '.join(FILL_METHODS)}, got {self.fill!r}",
        )
        _check(
            self.duplicates in DUPLICATE_RULES,
            f"--duplicates must be one of {', '.join(DUPLICATE_RULES)}, got {self.duplicates!r}",
        )
        _check(
            self.transform in TRANSFORMS,
            f"--transform must be one of {', '.join(TRANSFORMS)}, got {self.transform!r}",
        )
        _check(
            _known_encoding(self.encoding),
            f"--encoding {self.encoding!r} is not an encoding Python knows "
            "(e.g. utf-8, latin-1, cp1252)",
        )
        _check(
            self.date_format is None or "%" in self.date_format,
            f"--date-format {self.date_format!r} has no %-directive; write it as strftime, "
            "e.g. %d/%m/%Y or %m/%d/%Y %H:%M",
        )
        named = self.covariate_columns
        repeated = sorted({c for c in named if named.count(c) > 1})
        _check(
            not repeated,
            f"column(s) {', '.join(map(repr, repeated))} named twice among --covariates, "
            "--future-covariates and --static",
        )
        _check(
            self.season_length is None or (self.season_length and min(self.season_length) >= 1),
            f"--season-length must be at least 1, got {min(self.season_length or (0,))}",
        )
        _check(
            self.season_length is None or len(set(self.season_length)) == len(self.season_length),
            f"--season-length names a period twice: {self.season_length}",
        )

    @property
    def season(self) -> int:
        """The primary seasonal period: the MASE scale and the seasonal naive of short series."""
        return self.season_length[0] if self.season_length else 1

    @property
    def numeric_covariates(self) -> tuple[str, ...]:
        """Past-observed, then future-known covariate columns: the panel's covariate matrix."""
        return self.covariates + self.future_covariates

    @property
    def covariate_columns(self) -> tuple[str, ...]:
        return self.covariates + self.future_covariates + self.static


@dataclass(frozen=True)
class WindowConfig:
    """How the history is cut into (lookback -> horizon) windows and split by time."""

    lookback: int | None = None
    horizon: int = 24
    val_size: int | None = None

    def __post_init__(self) -> None:
        _check(self.horizon >= 1, f"--horizon must be at least 1, got {self.horizon}")
        _check(
            self.lookback is None or self.lookback >= 1,
            f"--lookback must be at least 1, got {self.lookback}",
        )
        _check(
            self.val_size is None or self.val_size >= 1,
            f"--val-size must be at least 1, got {self.val_size}",
        )


@dataclass(frozen=True)
class ModelConfig:
    """The network. `name` picks a family from `tsforecast.models.MODELS`; `strategy` says how it
    forecasts several steps: all at once from one head (direct) or one step at a time, fed back
    as input (recursive). Options of other families are ignored."""

    name: str = "lstm"
    hidden: int = 64
    layers: int = 1
    dropout: float = 0.0
    filters: int = 32
    kernel_size: int = 3
    pool_size: int = 2
    conv_layers: int = 1
    merge: str = "concat"
    dense_between: bool = False
    strategy: str = "direct"
    # Values per recurrent step: the window enters the recurrence as chunks of this many
    # values, each encoded by a dense layer (a day per step for hourly data), so the scan is
    # this many times shorter; 1 reads a value per step. None: training picks
    # (training.default_chunk); a model built from a config training never resolved reads a
    # value per step.
    chunk: int | None = None
    # How a window is put in front of the network (tsforecast.windows.Framing). None picks the
    # strategy's default (DEFAULT_FRAMING): a direct model sees each window centred and scaled by
    # its own level (RevIN) and adds a learned share of its seasonal-naive forecast (ES-RNN's
    # lesson, models.SeasonalBlend); a recursive one feeds its own outputs back, so it works on
    # per-series values.
    normalize: str | None = None
    residual: str | None = None
    # Future-known inputs (--future-covariates, --calendar, --holidays) also act on their own
    # step through one small network shared by the steps (models.WithFutureCovariates); models
    # saved before it existed read False.
    future_per_step: bool = True

    def __post_init__(self) -> None:
        normalize, residual = DEFAULT_FRAMING.get(self.strategy, (None, None))
        # Frozen: the resolved defaults are written once, here, so config.json records them.
        object.__setattr__(self, "normalize", self.normalize or normalize)
        object.__setattr__(self, "residual", self.residual or residual)
        _check(
            self.strategy in STRATEGIES,
            f"--strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}",
        )
        _check(
            self.normalize in NORMALIZATIONS,
            f"--normalize must be one of {', '.join(NORMALIZATIONS)}, got {self.normalize!r}",
        )
        _check(
            self.residual in RESIDUALS,
            f"--residual must be one of {', '.join(RESIDUALS)}, got {self.residual!r}",
        )
        _check(
            self.name in MODEL_NAMES,
            f"--model must be one of {', '.join(MODEL_NAMES)}, got {self.name!r}",
        )
        _check(self.hidden >= 1, f"--hidden must be at least 1, got {self.hidden}")
        _check(
            self.chunk is None or self.chunk >= 1, f"--chunk must be at least 1, got {self.chunk}"
        )
        _check(self.layers >= 1, f"--layers must be at least 1, got {self.layers}")
        _check(0.0 <= self.dropout < 1.0, f"--dropout must be in [0, 1), got {self.dropout}")
        _check(self.filters >= 1, f"--filters must be at least 1, got {self.filters}")
        _check(self.kernel_size >= 1, f"--kernel-size must be at least 1, got {self.kernel_size}")
        _check(self.pool_size >= 1, f"--pool-size must be at least 1, got {self.pool_size}")
        _check(self.conv_layers >= 1, f"--conv-layers must be at least 1, got {self.conv_layers}")
        _check(
            self.merge in MERGES, f"--merge must be one of {', '.join(MERGES)}, got {self.merge!r}"
        )

    def outputs(self, horizon: int) -> int:
        """Width of the model's head: every step of the horizon, or the next step only."""
        return horizon if self.strategy == "direct" else 1


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation: Adam with gradient clipping, early stopping on validation loss.
    `ensemble` > 1 trains that many copies from seeds seed, seed + 1, ... in one program."""

    epochs: int = 50
    batch_size: int = 64
    lr: float = 1e-3
    clip_norm: float = 1.0
    # Decoupled weight decay (AdamW; 0: plain Adam), and the standard deviation of Gaussian
    # noise added to the standardised target values a training window reads (0: none):
    # Hewamalage et al.'s regularisers for global RNN forecasters (docs/defaults.md).
    weight_decay: float = 0.0
    input_noise: float = 0.0
    loss: str = "mae"
    patience: int = 8
    # Halve the learning rate after this many epochs without a better validation loss (0: never),
    # Keras' ReduceLROnPlateau: Adam at a fixed rate keeps hopping around the minimum it found.
    lr_patience: int = 3
    # An epoch counts as better (for both patiences and for the parameters kept) only when its
    # validation loss is this fraction below the best so far, as PyTorch's ReduceLROnPlateau
    # `threshold`: late gains of a few hundredths of a percent are noise that kept long runs going.
    min_delta: float = 0.001
    seed: int = 0
    # Windows drawn afresh for each epoch (all when there are fewer; None: always all), so
    # early stopping looks at a large panel every few minutes, not once an hour.
    epoch_windows: int | None = 50_000
    # Two members, their median served: chosen on M4 Hourly-train's validation windows
    # (docs/defaults.md), within twice one model's time.
    ensemble: int = 2
    # Serve seasonal naive at the horizon steps where it beat the network on validation
    # (training.choose_served); False serves the network alone.
    fallback: bool = True
    # Forking sequences (MQ-RNN): train the forecast made after every step of each window, not
    # only after its last (trainer.Network.forked); prediction is unchanged.
    forking: bool = False

    def __post_init__(self) -> None:
        _check(self.epochs >= 1, f"--epochs must be at least 1, got {self.epochs}")
        _check(self.batch_size >= 1, f"--batch-size must be at least 1, got {self.batch_size}")
        _check(self.lr > 0, f"--lr must be positive, got {self.lr}")
        _check(self.clip_norm > 0, f"--clip-norm must be positive, got {self.clip_norm}")
        _check(
            self.weight_decay >= 0, f"--weight-decay must be at least 0, got {self.weight_decay}"
        )
        _check(self.input_noise >= 0, f"--input-noise must be at least 0, got {self.input_noise}")
        _check(
            not (self.input_noise and self.forking),
            "--input-noise and --forking do not go together: a fork's targets are the inputs "
            "the noise is added to; drop one of them",
        )
        _check(self.loss in LOSSES, f"--loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        _check(self.patience >= 1, f"--patience must be at least 1, got {self.patience}")
        _check(self.lr_patience >= 0, f"--lr-patience must be at least 0, got {self.lr_patience}")
        _check(0.0 <= self.min_delta < 1.0, f"--min-delta must be in [0, 1), got {self.min_delta}")
        _check(
            self.epoch_windows is None or self.epoch_windows >= 1,
            f"--epoch-windows must be at least 1, got {self.epoch_windows}",
        )
        _check(self.ensemble >= 1, f"--ensemble must be at least 1, got {self.ensemble}")


def check_level(level: float, available: str = "any level in (0, 100), e.g. 80 or 95") -> None:
    _check(
        0.0 < level < 100.0, f"--level must be in (0, 100), got {level:g}; available: {available}"
    )


@dataclass(frozen=True)
class IntervalConfig:
    """Prediction intervals. `conformal` keeps the validation errors and serves any level at
    predict time; `quantile` trains heads for exactly `levels` with the pinball loss. `levels`
    are in percent and are also the levels scored in metrics.json. `spread` is what a conformal
    radius is a multiple of: `recent`, how much the series moved over the window the forecast
    reads, or `series`, the series' standard deviation over its training part.

    A model directory written before intervals existed loads with these defaults: a point model
    (conformal adds nothing to the network) without calibration scores; one written before
    `spread` existed reads `series`, the only spread there was."""

    method: str = "conformal"
    levels: tuple[float, ...] = DEFAULT_LEVELS
    spread: str = "recent"

    def __post_init__(self) -> None:
        _check(
            self.method in INTERVAL_METHODS,
            f"--interval-method must be one of {', '.join(INTERVAL_METHODS)}, got {self.method!r}",
        )
        _check(
            self.spread in INTERVAL_SPREADS,
            f"--interval-spread must be one of {', '.join(INTERVAL_SPREADS)}, got {self.spread!r}",
        )
        _check(len(self.levels) >= 1, "--level needs at least one value")
        for level in self.levels:
            check_level(float(level))
        # JSON gives lists and the CLI any order; one canonical form keeps configs comparable.
        object.__setattr__(self, "levels", tuple(sorted({float(level) for level in self.levels})))


@dataclass(frozen=True)
class RetrainOptions:
    """How `tsforecast train --registry` treats the registry's current version. Run behaviour,
    not part of the model, so not inside Config (the registry records its outcome instead)."""

    keep: int | None = None
    warm_start: bool = False
    promote: str = "always"
    promote_metric: str = "mase"
    skip_unchanged: bool = False
    lock_timeout: float = 60.0

    def __post_init__(self) -> None:
        _check(self.keep is None or self.keep >= 1, f"--keep must be at least 1, got {self.keep}")
        _check(
            self.promote in PROMOTE_RULES,
            f"--promote must be one of {', '.join(PROMOTE_RULES)}, got {self.promote!r}",
        )
        _check(
            self.promote_metric in PROMOTE_METRICS,
            f"--promote-metric must be one of {', '.join(PROMOTE_METRICS)}, "
            f"got {self.promote_metric!r}",
        )
        _check(
            self.lock_timeout >= 0, f"--lock-timeout must be >= 0 seconds, got {self.lock_timeout}"
        )


# Why each model family cannot train every fork of a window, and what to use instead.
NOT_CAUSAL = {
    "bilstm": "--forking needs a causal model: bilstm's backward LSTM reads the steps after each "
    "fork; use --model lstm or gru",
    "conv-lstm": "--forking needs a causal model: conv-lstm's convolutions (same padding) and "
    "pooling read the steps after each fork; use --model lstm or gru",
}


def _check_forking(model: ModelConfig) -> None:
    _check(model.name not in NOT_CAUSAL, NOT_CAUSAL.get(model.name, ""))
    _check(
        model.chunk in (None, 1),
        f"--forking forecasts after every value of the window and --chunk {model.chunk} reads "
        f"{model.chunk} values per step; drop one of them",
    )
    _check(
        model.strategy == "direct",
        "--forking trains the direct head at every step; drop it with --strategy recursive",
    )
    _check(
        model.normalize == "series",
        "--forking needs --normalize series: --normalize window scales each window by "
        "statistics that change with every fork",
    )


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    window: WindowConfig = field(default_factory=WindowConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    intervals: IntervalConfig = field(default_factory=IntervalConfig)

    def __post_init__(self) -> None:
        # A recursive model feeds one number back per step; it has no quantiles to roll forward.
        _check(
            not (self.intervals.method == "quantile" and self.model.strategy == "recursive"),
            "--interval-method quantile needs --strategy direct; "
            "use --interval-method conformal with recursive",
        )
        if self.train.forking:
            _check_forking(self.model)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Config:
        """Rebuild a saved config; keys a newer version added are ignored, missing ones
        defaulted."""
        sections = {f.name: f.type for f in dataclasses.fields(cls)}
        kinds = {
            "data": DataConfig,
            "window": WindowConfig,
            "model": ModelConfig,
            "train": TrainConfig,
            "intervals": IntervalConfig,
        }
        built = {}
        for name in sections:
            kind = kinds[name]
            known = {f.name for f in dataclasses.fields(kind)}
            saved = EARLIER_DEFAULTS.get(name, {}) | raw.get(name, {})
            built[name] = kind(**{k: v for k, v in saved.items() if k in known})
        return cls(**built)
