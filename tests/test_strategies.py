"""Multi-step strategies on tiny Flax models with hand-set parameters, so every forecast is a
known function of the input: the recursive roll-out against a plain Python loop, the direct path
against the model's own formula, and the refusals of inputs a recursive model cannot feed back."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tsforecast.errors import ConfigError
from tsforecast.strategies import multi_step, require_supported, target_steps

RECURSIVE_FEATURES = (
    "--strategy recursive needs the target as the only input feature, the data has {}; "
    "use --strategy direct"
)
RECURSIVE_FRAMED = (
    "--strategy recursive works on per-series values: drop --normalize window and --residual "
    "seasonal, or use --strategy direct"
)


class LinearStep(nn.Module):
    """The next value as w · window + b over feature 0: <float32>[n, 1]. In training mode it adds
    1000, so a forecast made with train=True would show."""

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        w = self.param("w", nn.initializers.zeros, (x.shape[1],))
        b = self.param("b", nn.initializers.zeros, ())
        out = x[..., 0] @ w + b
        if train:
            out = out + 1000.0
        return out[:, None]


class Ramp(nn.Module):
    """A direct head: last value + scale * (1, 2, ..., horizon)."""

    horizon: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        scale = self.param("scale", nn.initializers.ones, ())
        steps = jnp.arange(1, self.horizon + 1, dtype=jnp.float32)
        out = x[:, -1, 0:1] + scale * steps[None, :]
        if train:
            out = out + 1000.0
        return out


def _params(w, b: float) -> dict:
    return {"w": jnp.asarray(w, jnp.float32), "b": jnp.asarray(b, jnp.float32)}


def _inputs(rows: list[list[float]]) -> jax.Array:
    return jnp.asarray(np.asarray(rows, np.float32)[:, :, None])


def _rollout(rows: list[list[float]], w: list[float], b: float, horizon: int) -> np.ndarray:
    """The recursive forecast by hand: predict, append, drop the oldest, repeat."""
    out = []
    for row in rows:
        window = list(row)
        steps = []
        for _ in range(horizon):
            nxt = sum(wi * vi for wi, vi in zip(w, window, strict=True)) + b
            steps.append(nxt)
            window = window[1:] + [nxt]
        out.append(steps)
    return np.asarray(out)


def test_target_steps():
    assert target_steps("direct", 24) == 24
    assert target_steps("direct", 1) == 1
    assert target_steps("recursive", 24) == 1
    assert target_steps("recursive", 1) == 1


@pytest.mark.parametrize("features", [0, 2, 7])
def test_require_supported_refuses_recursive_with_other_inputs(features):
    with pytest.raises(ConfigError) as raised:
        require_supported("recursive", features)
    assert str(raised.value) == RECURSIVE_FEATURES.format(features)


def test_require_supported_refuses_recursive_framed():
    with pytest.raises(ConfigError) as raised:
        require_supported("recursive", 1, framed=True)
    assert str(raised.value) == RECURSIVE_FRAMED
    # Several features are reported first.
    with pytest.raises(ConfigError) as raised:
        require_supported("recursive", 3, framed=True)
    assert str(raised.value) == RECURSIVE_FEATURES.format(3)


def test_require_supported_accepts():
    assert require_supported("recursive", 1) is None
    assert require_supported("recursive", 1, framed=False) is None
    for features in (1, 2, 9):
        for framed in (False, True):
            assert require_supported("direct", features, framed) is None


def test_recursive_last_value_plus_one():
    """w picks the last value, b = 1: the forecast counts up from the window's last value."""
    horizon = 6
    model = LinearStep()
    forecast = multi_step(model, "recursive", horizon)
    x = _inputs([[1.0, 2.0, 3.0, 5.0], [0.0, 0.0, 0.0, -2.5]])
    got = np.asarray(forecast(_params([0, 0, 0, 1], 1.0), x))
    assert got.shape == (2, horizon)
    expected = np.array([[6, 7, 8, 9, 10, 11], [-1.5, -0.5, 0.5, 1.5, 2.5, 3.5]])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_recursive_window_mean_against_a_python_loop():
    """The mean of the window: once horizon > lookback every input is an earlier prediction."""
    horizon = 7
    w, b = [1 / 3] * 3, 0.0
    rows = [[3.0, 6.0, 9.0], [1.0, -1.0, 4.0], [0.0, 0.0, 30.0]]
    got = np.asarray(multi_step(LinearStep(), "recursive", horizon)(_params(w, b), _inputs(rows)))
    expected = _rollout(rows, w, b, horizon)
    # First row by hand: mean(3, 6, 9) = 6, mean(6, 9, 6) = 7, mean(9, 6, 7) = 22/3, ...
    np.testing.assert_allclose(expected[0, :3], [6.0, 7.0, 22 / 3])
    assert got.shape == (3, horizon)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_recursive_uneven_weights_order_of_the_window():
    """Weights that differ per position: a window shifted the wrong way (or the prediction put
    in front) gives other numbers."""
    horizon = 5
    w, b = [0.5, -0.25, 1.0, 0.1], 0.3
    rows = [[1.0, 2.0, 3.0, 4.0], [-2.0, 0.5, 0.0, 1.5]]
    got = np.asarray(multi_step(LinearStep(), "recursive", horizon)(_params(w, b), _inputs(rows)))
    expected = _rollout(rows, w, b, horizon)
    # Step 1, first row: 0.5 - 0.5 + 3 + 0.4 + 0.3 = 3.7; step 2 on (2, 3, 4, 3.7): 1 - 0.75 + 4
    # + 0.37 + 0.3 = 4.92.
    np.testing.assert_allclose(expected[0, :2], [3.7, 4.92])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_recursive_horizon_one_is_one_model_step():
    got = multi_step(LinearStep(), "recursive", 1)(
        _params([2.0, 0.0], -1.0), _inputs([[4.0, 8.0], [0.5, 1.0]])
    )
    np.testing.assert_allclose(np.asarray(got), [[7.0], [0.0]])


def test_recursive_compiles_under_jit():
    forecast = jax.jit(multi_step(LinearStep(), "recursive", 4))
    got = np.asarray(forecast(_params([0, 1], 1.0), _inputs([[0.0, 10.0]])))
    np.testing.assert_allclose(got, [[11.0, 12.0, 13.0, 14.0]])


def test_recursive_refuses_several_input_features():
    x = jnp.zeros((2, 4, 3), jnp.float32)
    forecast = multi_step(LinearStep(), "recursive", 3)
    with pytest.raises(ConfigError) as raised:
        forecast(_params([0, 0, 0, 1], 0.0), x)
    assert str(raised.value) == RECURSIVE_FEATURES.format(3)


def test_direct_is_one_application_of_the_model():
    horizon = 4
    model = Ramp(horizon)
    x = _inputs([[1.0, 2.0, 10.0], [0.0, 0.0, -1.0]])
    got = np.asarray(multi_step(model, "direct", horizon)({"scale": jnp.float32(0.5)}, x))
    np.testing.assert_allclose(got, [[10.5, 11.0, 11.5, 12.0], [-0.5, 0.0, 0.5, 1.0]])


def test_direct_ignores_the_feature_count():
    """A direct model may see several features; feature 0 is the target."""
    model = Ramp(2)
    x = jnp.asarray(np.array([[[1.0, 50.0], [3.0, 60.0]]], np.float32))
    got = np.asarray(multi_step(model, "direct", 2)({"scale": jnp.float32(2.0)}, x))
    np.testing.assert_allclose(got, [[5.0, 7.0]])
