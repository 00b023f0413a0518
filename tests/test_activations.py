"""The rational tanh and sigmoid of the recurrent cells against float64 references, values and
derivatives, over the whole float32 range they see."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from tsforecast import activations

GRID = np.concatenate([np.linspace(-30, 30, 600_001), [-1e30, -1e-30, 0.0, 1e-30, 1e30]]).astype(
    np.float32
)


def reference_sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * np.tanh(0.5 * x) + 0.5


def test_tanh_and_sigmoid_match_float64_within_float32_noise():
    x64 = GRID.astype(np.float64)
    assert np.max(np.abs(np.asarray(activations.tanh(GRID)) - np.tanh(x64))) < 4e-7
    assert np.max(np.abs(np.asarray(activations.sigmoid(GRID)) - reference_sigmoid(x64))) < 3e-7
    t = np.asarray(activations.tanh(jnp.asarray([0.0, 2.0, -2.0], jnp.float32)))
    assert t[0] == 0.0 and t[1] == -t[2]


def test_derivatives_are_those_of_tanh_and_sigmoid():
    x64 = GRID.astype(np.float64)
    dtanh = np.asarray(jax.vmap(jax.grad(activations.tanh))(GRID))
    dsigmoid = np.asarray(jax.vmap(jax.grad(activations.sigmoid))(GRID))
    s = reference_sigmoid(x64)
    assert np.max(np.abs(dtanh - (1 - np.tanh(x64) ** 2))) < 1e-6
    assert np.max(np.abs(dsigmoid - s * (1 - s))) < 3e-7


def test_nan_propagates():
    assert np.isnan(float(activations.tanh(jnp.float32(np.nan))))
    assert np.isnan(float(activations.sigmoid(jnp.float32(np.nan))))
