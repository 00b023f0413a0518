"""Where arrays live: the device meshes that training and forecasting run their programs on,
and placing arrays on them, the same in one process and in a multi-host run."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P


def make_mesh(batch_size: int) -> Mesh:
    """A 1-D mesh over as many devices as divide the batch evenly (in a multi-host run, the
    devices of every host: all processes then run its programs together)."""
    devices = jax.devices()
    n = max(d for d in range(1, len(devices) + 1) if batch_size % d == 0)
    return Mesh(np.asarray(devices[:n]), ("batch",))


def local_mesh() -> Mesh:
    """A mesh of this process's first device: a program on it runs in this process alone, also
    in a multi-host run, where jax.devices()[0] may be another host's."""
    return Mesh(np.asarray(jax.local_devices()[:1]), ("batch",))


def put(tree: Any, sharding: jax.sharding.Sharding) -> Any:
    """The arrays of `tree` placed with `sharding`. In a multi-host run each process builds them
    from its own copy, the same on every process (read from the same file, drawn from the same
    seeds): jax.device_put would first check that with an all-gather of every array, the whole
    series among them."""
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)

    def build(x):
        x = np.asarray(x)
        x = x.astype(jax.dtypes.canonicalize_dtype(x.dtype), copy=False)
        return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

    return jax.tree_util.tree_map(build, tree)


def replicate(mesh: Mesh, *trees: Any) -> tuple[Any, ...]:
    """Put arrays (or pytrees of them) on every device of the mesh. The series and window
    offsets are small next to the activations and every device gathers from them; parameters
    must start where the compiled epoch leaves them, or the second epoch compiles again."""
    sharding = NamedSharding(mesh, P())
    return tuple(put(tree, sharding) for tree in trees)
