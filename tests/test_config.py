"""The configuration's checks, each with its exact message; the defaults that depend on the
strategy; the canonical form of interval levels; and reading saved configs back, old and new."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tsforecast.config import (
    Config,
    DataConfig,
    IntervalConfig,
    ModelConfig,
    RetrainOptions,
    TrainConfig,
    WindowConfig,
    check_level,
)
from tsforecast.errors import ConfigError

BAD_VALUES = [
    # DataConfig
    (DataConfig, {"fill": "bfill"}, "--fill must be one of none, interpolate, ffill, got 'bfill'"),
    (
        DataConfig,
        {"duplicates": "max"},
        "--duplicates must be one of error, mean, sum, first, last, got 'max'",
    ),
    (DataConfig, {"transform": "sqrt"}, "--transform must be one of auto, none, log, got 'sqrt'"),
    (
        DataConfig,
        {"covariates": ("a", "b"), "future_covariates": ("b",), "static": ("a", "c")},
        "column(s) 'a', 'b' named twice among --covariates, --future-covariates and --static",
    ),
    (
        DataConfig,
        {"covariates": ["t", "t"]},
        "column(s) 't' named twice among --covariates, --future-covariates and --static",
    ),
    (DataConfig, {"season_length": 0}, "--season-length must be at least 1, got 0"),
    (DataConfig, {"season_length": -3}, "--season-length must be at least 1, got -3"),
    (DataConfig, {"season_length": (24, 0)}, "--season-length must be at least 1, got 0"),
    (DataConfig, {"season_length": ()}, "--season-length must be at least 1, got 0"),
    (
        DataConfig,
        {"season_length": (24, 168, 24)},
        "--season-length names a period twice: (24, 168, 24)",
    ),
    (
        DataConfig,
        {"encoding": "latin-9000"},
        "--encoding 'latin-9000' is not an encoding Python knows (e.g. utf-8, latin-1, cp1252)",
    ),
    (
        DataConfig,
        {"date_format": "dd/mm/yyyy"},
        "--date-format 'dd/mm/yyyy' has no %-directive; write it as strftime, e.g. %d/%m/%Y or "
        "%m/%d/%Y %H:%M",
    ),
    # WindowConfig
    (WindowConfig, {"horizon": 0}, "--horizon must be at least 1, got 0"),
    (WindowConfig, {"lookback": 0}, "--lookback must be at least 1, got 0"),
    (WindowConfig, {"val_size": 0}, "--val-size must be at least 1, got 0"),
    # ModelConfig
    (ModelConfig, {"strategy": "mimo"}, "--strategy must be one of direct, recursive, got 'mimo'"),
    (
        ModelConfig,
        {"normalize": "global"},
        "--normalize must be one of series, window, got 'global'",
    ),
    (
        ModelConfig,
        {"residual": "trend"},
        "--residual must be one of none, seasonal, blend, got 'trend'",
    ),
    (
        ModelConfig,
        {"name": "transformer"},
        "--model must be one of lstm, gru, bilstm, conv-lstm, got 'transformer'",
    ),
    (ModelConfig, {"hidden": 0}, "--hidden must be at least 1, got 0"),
    (ModelConfig, {"layers": 0}, "--layers must be at least 1, got 0"),
    (ModelConfig, {"dropout": 1.0}, "--dropout must be in [0, 1), got 1.0"),
    (ModelConfig, {"dropout": -0.1}, "--dropout must be in [0, 1), got -0.1"),
    (ModelConfig, {"filters": 0}, "--filters must be at least 1, got 0"),
    (ModelConfig, {"kernel_size": 0}, "--kernel-size must be at least 1, got 0"),
    (ModelConfig, {"pool_size": 0}, "--pool-size must be at least 1, got 0"),
    (ModelConfig, {"chunk": 0}, "--chunk must be at least 1, got 0"),
    (ModelConfig, {"conv_layers": 0}, "--conv-layers must be at least 1, got 0"),
    (ModelConfig, {"merge": "mul"}, "--merge must be one of concat, sum, got 'mul'"),
    # TrainConfig
    (TrainConfig, {"epochs": 0}, "--epochs must be at least 1, got 0"),
    (TrainConfig, {"batch_size": 0}, "--batch-size must be at least 1, got 0"),
    (TrainConfig, {"lr": 0.0}, "--lr must be positive, got 0.0"),
    (TrainConfig, {"lr": -1e-3}, "--lr must be positive, got -0.001"),
    (TrainConfig, {"clip_norm": 0}, "--clip-norm must be positive, got 0"),
    (TrainConfig, {"weight_decay": -0.1}, "--weight-decay must be at least 0, got -0.1"),
    (TrainConfig, {"input_noise": -1.0}, "--input-noise must be at least 0, got -1.0"),
    (TrainConfig, {"loss": "mape"}, "--loss must be one of mse, mae, huber, got 'mape'"),
    (TrainConfig, {"patience": 0}, "--patience must be at least 1, got 0"),
    (TrainConfig, {"lr_patience": -1}, "--lr-patience must be at least 0, got -1"),
    (TrainConfig, {"min_delta": 1.0}, "--min-delta must be in [0, 1), got 1.0"),
    (TrainConfig, {"min_delta": -0.01}, "--min-delta must be in [0, 1), got -0.01"),
    (TrainConfig, {"epoch_windows": 0}, "--epoch-windows must be at least 1, got 0"),
    (TrainConfig, {"ensemble": 0}, "--ensemble must be at least 1, got 0"),
    # IntervalConfig
    (
        IntervalConfig,
        {"method": "bootstrap"},
        "--interval-method must be one of conformal, quantile, got 'bootstrap'",
    ),
    (IntervalConfig, {"levels": ()}, "--level needs at least one value"),
    (
        IntervalConfig,
        {"levels": (80.0, 100.0)},
        "--level must be in (0, 100), got 100; available: any level in (0, 100), e.g. 80 or 95",
    ),
    (
        IntervalConfig,
        {"levels": [0]},
        "--level must be in (0, 100), got 0; available: any level in (0, 100), e.g. 80 or 95",
    ),
    (
        IntervalConfig,
        {"levels": (-5.5,)},
        "--level must be in (0, 100), got -5.5; available: any level in (0, 100), e.g. 80 or 95",
    ),
    # RetrainOptions
    (RetrainOptions, {"keep": 0}, "--keep must be at least 1, got 0"),
    (
        RetrainOptions,
        {"promote": "never"},
        "--promote must be one of always, if-better, got 'never'",
    ),
    (
        RetrainOptions,
        {"promote_metric": "mape"},
        "--promote-metric must be one of mase, smape, mae, rmse, got 'mape'",
    ),
    (RetrainOptions, {"lock_timeout": -1}, "--lock-timeout must be >= 0 seconds, got -1"),
]


@pytest.mark.parametrize(
    "kind, kwargs, message",
    BAD_VALUES,
    ids=[f"{kind.__name__}-{'-'.join(kwargs)}" for kind, kwargs, _ in BAD_VALUES],
)
def test_bad_value_is_refused_with_its_message(kind, kwargs, message):
    with pytest.raises(ConfigError) as raised:
        kind(**kwargs)
    assert str(raised.value) == message
    assert raised.value.exit_code == 2


@pytest.mark.parametrize(
    "kind, kwargs",
    [
        (DataConfig, {"season_length": (1,), "covariates": ("a",), "static": ("b",)}),
        (WindowConfig, {"horizon": 1, "lookback": 1, "val_size": 1}),
        (ModelConfig, {"dropout": 0.0, "hidden": 1, "merge": "sum", "name": "conv-lstm"}),
        (ModelConfig, {"dropout": 0.99}),
        (TrainConfig, {"lr_patience": 0, "min_delta": 0.0, "epoch_windows": None}),
        (IntervalConfig, {"levels": (0.5, 99.9), "method": "quantile"}),
        (RetrainOptions, {"keep": 1, "lock_timeout": 0, "promote": "if-better"}),
    ],
)
def test_boundary_values_are_accepted(kind, kwargs):
    built = kind(**kwargs)
    for name, value in kwargs.items():
        if name != "levels":
            assert getattr(built, name) == value


def test_check_level_names_what_is_available():
    check_level(50.0)
    with pytest.raises(ConfigError) as raised:
        check_level(101.0, "80, 95 (the levels this model was trained for)")
    assert str(raised.value) == (
        "--level must be in (0, 100), got 101; available: 80, 95 (the levels this model was "
        "trained for)"
    )


@pytest.mark.parametrize(
    "strategy, normalize, residual",
    [("direct", "window", "blend"), ("recursive", "series", "none")],
)
def test_default_framing_per_strategy(strategy, normalize, residual):
    model = ModelConfig(strategy=strategy)
    assert (model.normalize, model.residual) == (normalize, residual)


def test_default_framing_of_the_default_model_is_direct():
    model = ModelConfig()
    assert model.strategy == "direct"
    assert (model.normalize, model.residual) == ("window", "blend")


@pytest.mark.parametrize(
    "strategy, kwargs, expected",
    [
        ("direct", {"normalize": "series"}, ("series", "blend")),
        ("direct", {"residual": "seasonal"}, ("window", "seasonal")),
        ("direct", {"normalize": "series", "residual": "none"}, ("series", "none")),
        ("recursive", {"residual": "seasonal"}, ("series", "seasonal")),
        ("recursive", {"normalize": "window"}, ("window", "none")),
    ],
)
def test_explicit_framing_is_kept_and_only_the_missing_one_defaulted(strategy, kwargs, expected):
    model = ModelConfig(strategy=strategy, **kwargs)
    assert (model.normalize, model.residual) == expected


def test_model_outputs():
    assert ModelConfig(strategy="direct").outputs(24) == 24
    assert ModelConfig(strategy="recursive").outputs(24) == 1


def test_interval_levels_are_sorted_deduplicated_floats():
    got = IntervalConfig(levels=[95, 80.0, 50, 95.0, 80])
    assert got.levels == (50.0, 80.0, 95.0)
    assert all(type(level) is float for level in got.levels)
    assert IntervalConfig().levels == (80.0, 95.0)
    assert IntervalConfig(levels=(90,)).levels == (90.0,)


def test_data_config_column_lists_become_tuples():
    got = DataConfig(covariates=["a", "b"], future_covariates=["f"], static=["s"])
    assert got.covariates == ("a", "b")
    assert got.future_covariates == ("f",)
    assert got.static == ("s",)
    assert got.numeric_covariates == ("a", "b", "f")
    assert got.covariate_columns == ("a", "b", "f", "s")


def test_quantile_intervals_refuse_the_recursive_strategy():
    with pytest.raises(ConfigError) as raised:
        Config(model=ModelConfig(strategy="recursive"), intervals=IntervalConfig(method="quantile"))
    assert str(raised.value) == (
        "--interval-method quantile needs --strategy direct; use --interval-method conformal "
        "with recursive"
    )
    # Each is fine with the other's alternative.
    Config(model=ModelConfig(strategy="recursive"), intervals=IntervalConfig(method="conformal"))
    Config(model=ModelConfig(strategy="direct"), intervals=IntervalConfig(method="quantile"))


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        WindowConfig().horizon = 3  # type: ignore[misc]


# Non-default constructor arguments for every section, and what each field must read back as.
SECTIONS = {
    "data": {
        "path": "sales.parquet",
        "time_col": "when",
        "target": "units",
        "id_col": "store",
        "freq": "D",
        "fill": "ffill",
        "duplicates": "mean",
        "season_length": (7, 365),
        "wide": False,
        "covariates": ("price",),
        "future_covariates": ("promo", "holiday"),
        "static": ("region",),
        "calendar": True,
        "holidays": "US-CA",
        "strict": True,
        "transform": "log",
        "encoding": "cp1252",
        "date_format": "%d/%m/%Y",
    },
    "window": {"lookback": 56, "horizon": 14, "val_size": 28},
    "model": {
        "name": "gru",
        "hidden": 32,
        "layers": 2,
        "dropout": 0.25,
        "filters": 8,
        "kernel_size": 5,
        "pool_size": 3,
        "conv_layers": 2,
        "merge": "sum",
        "dense_between": True,
        "chunk": 1,  # --forking below refuses a chunk: test_a_chunk_round_trips
        "strategy": "direct",
        "normalize": "series",
        "residual": "seasonal",
        "future_per_step": False,
    },
    "train": {
        "epochs": 7,
        "batch_size": 16,
        "lr": 0.005,
        "clip_norm": 0.5,
        "weight_decay": 0.01,
        "input_noise": 0.0,
        "loss": "huber",
        "patience": 3,
        "lr_patience": 0,
        "min_delta": 0.01,
        "seed": 42,
        "epoch_windows": None,
        "ensemble": 3,
        "fallback": False,
        "forking": True,
    },
    "intervals": {"method": "quantile", "levels": (90.0, 50.0), "spread": "series"},
}
READ_BACK = {
    **SECTIONS,
    "intervals": {"method": "quantile", "levels": (50.0, 90.0), "spread": "series"},
}
KINDS = {
    "data": DataConfig,
    "window": WindowConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "intervals": IntervalConfig,
}


def _original() -> Config:
    return Config(**{name: KINDS[name](**kwargs) for name, kwargs in SECTIONS.items()})


def test_every_field_is_covered_by_the_round_trip_arguments():
    for name, kind in KINDS.items():
        assert set(SECTIONS[name]) == {f.name for f in dataclasses.fields(kind)}, name
        defaults = kind()
        for key in SECTIONS[name]:
            # A default would pass the round trip even if from_dict dropped the key (strategy
            # must stay direct: quantile intervals refuse recursive; chunk 1: forking refuses
            # more, and test_a_chunk_round_trips checks it; input_noise 0: forking refuses it,
            # and test_input_noise_round_trips checks it).
            kept_default = key in ("strategy", "chunk", "input_noise")
            assert getattr(defaults, key) != READ_BACK[name][key] or kept_default, (name, key)


def test_to_dict_is_plain_nested_dicts():
    raw = _original().to_dict()
    assert set(raw) == set(SECTIONS)
    assert raw["window"] == {"lookback": 56, "horizon": 14, "val_size": 28}
    assert raw["intervals"] == {"method": "quantile", "levels": (50.0, 90.0), "spread": "series"}
    assert raw["data"]["future_covariates"] == ("promo", "holiday")


@pytest.mark.parametrize("through_json", [False, True])
def test_to_dict_from_dict_round_trip_field_by_field(through_json):
    raw = _original().to_dict()
    if through_json:
        raw = json.loads(json.dumps(raw))  # tuples come back as lists, as from config.json
    back = Config.from_dict(raw)
    for name, fields in READ_BACK.items():
        section = getattr(back, name)
        assert type(section) is KINDS[name]
        for key, expected in fields.items():
            got = getattr(section, key)
            assert got == expected, (name, key, got)
            assert type(got) is type(expected), (name, key, type(got))


def test_a_config_saved_before_chunks_reads_a_value_per_step():
    raw = json.loads(json.dumps(Config().to_dict()))
    assert raw["model"]["chunk"] is None  # resolved by training, from the data
    del raw["model"]["chunk"]
    assert Config.from_dict(raw).model.chunk == 1


def test_a_chunk_round_trips():
    raw = json.loads(json.dumps(Config(model=ModelConfig(chunk=24)).to_dict()))
    assert raw["model"]["chunk"] == 24 and Config.from_dict(raw).model.chunk == 24


def test_from_dict_ignores_unknown_keys_and_sections():
    raw = _original().to_dict()
    raw["model"]["attention_heads"] = 8
    raw["train"]["scheduler"] = "cosine"
    raw["deployment"] = {"replicas": 2}
    back = Config.from_dict(raw)
    assert back.model.name == "gru"
    assert back.model.hidden == 32
    assert back.train.loss == "huber"
    assert not hasattr(back.model, "attention_heads")
    assert {f.name for f in dataclasses.fields(back)} == set(KINDS)


def test_from_dict_of_an_old_saved_config_applies_the_earlier_defaults():
    """A config.json from before --normalize, --residual, --transform and intervals existed."""
    old = {
        "data": {
            "path": "old.csv",
            "time_col": "ds",
            "target": "y",
            "freq": "h",
            "fill": "none",
            "season_length": 24,
        },
        "window": {"lookback": 48, "horizon": 12, "val_size": 24},
        "model": {"name": "gru", "hidden": 16, "layers": 1, "dropout": 0.0, "strategy": "direct"},
        "train": {"epochs": 40, "batch_size": 32, "lr": 0.003, "seed": 0},
    }
    back = Config.from_dict(old)
    # What those models were trained with, not today's defaults (window, blend, auto).
    assert back.model.normalize == "series"
    assert back.model.residual == "none"
    assert back.model.future_per_step is False  # their saved weights have no per-step network
    assert back.data.transform == "none"
    assert back.data.holidays is None
    # Missing keys elsewhere take the current defaults: the file is read as before (UTF-8,
    # dates inferred).
    assert (back.data.encoding, back.data.date_format) == ("utf-8", None)
    assert back.data.covariates == ()
    assert back.data.calendar is False
    assert back.model.merge == "concat"
    assert back.train.loss == "mae"
    assert back.train.ensemble == 1
    assert back.intervals.method == "conformal"
    assert back.intervals.levels == (80.0, 95.0)
    assert back.intervals.spread == "series"  # the only spread there was
    with_levels = Config.from_dict({**old, "intervals": {"method": "conformal", "levels": [90]}})
    assert with_levels.intervals.spread == "series"
    # And the saved values themselves.
    assert back.model.name == "gru"
    assert back.model.hidden == 16
    assert back.window.lookback == 48
    assert back.train.lr == 0.003
    # One period, as a number, is the one-period list it always meant.
    assert back.data.season_length == (24,)
    assert back.data.season == 24


def test_from_dict_keeps_saved_framing_over_the_earlier_defaults():
    raw = {
        "model": {"strategy": "direct", "normalize": "window", "residual": "blend"},
        "data": {"transform": "log"},
    }
    back = Config.from_dict(raw)
    assert (back.model.normalize, back.model.residual) == ("window", "blend")
    assert back.data.transform == "log"


def test_from_dict_of_an_empty_dict():
    back = Config.from_dict({})
    assert (back.model.normalize, back.model.residual) == ("series", "none")
    assert back.data.transform == "none"
    assert back.window.horizon == 24
    assert back.train.epochs == 50


def test_from_dict_checks_the_values():
    with pytest.raises(ConfigError) as raised:
        Config.from_dict({"window": {"horizon": 0}})
    assert str(raised.value) == "--horizon must be at least 1, got 0"
    with pytest.raises(ConfigError) as raised:
        Config.from_dict({"model": {"strategy": "recursive"}, "intervals": {"method": "quantile"}})
    assert str(raised.value).startswith("--interval-method quantile needs --strategy direct")


def test_input_noise_round_trips():
    config = Config(train=TrainConfig(input_noise=0.05))
    back = Config.from_dict(json.loads(json.dumps(config.to_dict())))
    assert back.train.input_noise == 0.05
