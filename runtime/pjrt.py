"""The one place the runtime touches jaxlib/PJRT (a JAX upgrade edits this file).

Facts this relies on are recorded in shared/notes/jaxlib-0.10.2.md: ``compile_and_load`` returns a
loaded executable, ``execute_sharded`` segfaults on mis-sharded inputs (so callers check first), and
results are assembled into global ``jax.Array`` values by per-output result handlers.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.extend as jex
import numpy as np
from jaxlib import xla_client
from jaxlib import version as _jaxlib_version

from . import cache as _cache

jaxlib_version = _jaxlib_version.__version__

__all__ = ["DeletedArgumentError", "canonical_dtype", "devices", "compile", "result_handlers", "execute", "Mesh",
           "NamedSharding", "PartitionSpec", "SingleDeviceSharding", "Array", "ArrayImpl", "device_put",
           "optimized_hlo", "refuse_as_jax_value", "memory_stats", "allgather", "fast_dispatcher", "fastpath_data",
           "set_dispatch_context", "release_dispatcher"]

Array = jax.Array
Mesh = jax.sharding.Mesh
NamedSharding = jax.sharding.NamedSharding
PartitionSpec = jax.sharding.PartitionSpec
SingleDeviceSharding = jax.sharding.SingleDeviceSharding
device_put = jax.device_put
RuntimeError_ = jax.errors.JaxRuntimeError  # what PJRT raises for a bad buffer (a RuntimeError)
ArrayImpl = type(jax.numpy.zeros(()))  # the concrete jax.Array class; exact type checks are fast


def canonical_dtype(dtype) -> np.dtype:
    """The dtype jax places ``dtype`` as (64-bit types become 32-bit unless ``jax_enable_x64``)."""
    return jax.dtypes.canonicalize_dtype(dtype)


def devices(platform: str | None = None) -> list:
    return jax.devices(platform) if platform else jax.devices()


def compile(module_text: str, device_list: Sequence, *, sharded: bool):
    """Compile StableHLO text for ``device_list`` (one partition per device) and load it."""
    backend = jex.backend.get_backend(device_list[0].platform)
    ids = np.array([[d.id for d in device_list]])
    options = jex.backend.get_compile_options(num_replicas=1, num_partitions=len(device_list),
                                              device_assignment=ids)
    if sharded:
        options.executable_build_options.use_shardy_partitioner = True
    devices = xla_client.DeviceList(tuple(device_list))
    # The persistent cache (runtime/cache.py) keys on everything that changes the binary.
    facts = (jaxlib_version, backend.platform, backend.platform_version, device_list[0].device_kind,
             tuple(d.id for d in device_list))
    return _cache.compile_cached(
        module_text, options.SerializeAsString(), facts,
        lambda: backend.compile_and_load(module_text, devices, options),
        backend.serialize_executable,
        lambda payload: backend.deserialize_executable(payload, devices, options))


def result_handlers(specs: Sequence[tuple[tuple[int, ...], np.dtype, object]], weak=None,
                    committed: bool = True) -> list:
    """Per-output callables turning one output's per-device buffers into a global ``jax.Array``
    (weakly typed where ``weak[i]`` is true, as jax types results computed from Python scalars).
    ``committed=False`` marks results that sit on the default device only because nothing asked for
    another, as jax's own ``jnp.ones`` are: jax may then move them to wherever a computation runs."""
    weak = weak or (False,) * len(specs)
    try:  # jax's own C++ handlers: the fast path jax.jit uses
        from jax._src import array as _array, core as _core
        return [_array._array_global_result_handler(_core.ShapedArray(shape, dtype, weak_type=w), sharding,
                                                    committed)
                for (shape, dtype, sharding), w in zip(specs, weak)]
    except (ImportError, AttributeError, TypeError):  # pragma: no cover - portable fallback
        return [_public_handler(shape, sharding) for shape, _, sharding in specs]


def _public_handler(shape, sharding):
    def handle(buffers):
        return jax.make_array_from_single_device_arrays(shape, sharding, buffers)
    return handle


def execute(executable, args: Sequence[jax.Array], handlers: Sequence) -> list:
    """Run a loaded executable on arguments already placed as it expects."""
    try:
        return executable.execute_sharded(args).consume_with_handlers(handlers)
    except jax.errors.JaxRuntimeError:
        deleted = [i for i, a in enumerate(args) if isinstance(a, jax.Array) and a.is_deleted()]
        if deleted:  # PJRT only says "Expected args ... to have 1 shards"
            raise DeletedArgumentError(
                f"argument #{deleted[0]} was deleted (donated to an earlier call, or .delete()d) and "
                f"cannot be used again; pass a live array") from None
        raise


class DeletedArgumentError(ValueError):
    """An argument's buffers were deleted (donated or ``.delete()``d) before the call."""


def allgather(array: jax.Array) -> np.ndarray:
    """All of a global array as host data, collected from every process (a collective)."""
    if array.is_fully_addressable or array.is_fully_replicated:
        return np.asarray(array)
    from jax.experimental import multihost_utils
    return np.asarray(multihost_utils.process_allgather(array, tiled=True))


def memory_stats(executable):
    """XLA's compiled memory analysis of a loaded executable (argument, output, alias and temp bytes)."""
    return executable.get_compiled_memory_stats()


def optimized_hlo(executable) -> str:
    """The optimized HLO text (after SPMD partitioning) of a loaded executable."""
    return "\n\n".join(m.to_string() for m in executable.hlo_modules())


# ------------------------------------------------------------------------------ C++ dispatch fast path
# jax.jit's cached calls never enter Python: jaxlib's `pjit` dispatcher checks the arguments' pytree
# structure, dtypes, shapes and shardings in C++ and runs the executable it was handed by a
# Python `cache_miss` callback. `named` hands it our own executables, so a cached call costs about
# what a jax.jit call costs. These are private jax APIs (pinned release); if they are missing, the
# callers keep their Python path.
def fast_dispatcher(name: str, fun, cache_miss, capacity: int = 4096):
    """A C++ dispatcher calling ``cache_miss(*args, **kwargs) -> (result, fastpath | None, False)``
    on signatures it has not seen; None when this jaxlib lacks the API."""
    if _CONTEXT_KEY is None:  # pragma: no cover - contexts could not be told apart
        return None
    try:
        from jax._src import tree_util as _tree_util
        from jax._src.interpreters import pxla as _pxla
        from jaxlib import _jax
        cache = _jax.PjitFunctionCache(capacity=capacity)
        return _jax.pjit(name, fun, cache_miss, (), (), _pxla.JitGlobalCppCacheKeys(),
                         _tree_util.dispatch_registry, _pxla.cc_shard_arg, cache)
    except (ImportError, AttributeError, TypeError):  # pragma: no cover - API moved in another jax
        return None


def _context_key():
    try:  # a thread-local config value jaxlib adds to every jit cache key (private; this release)
        from jax._src import config as _config
        return _config.config_ext.Config("named_dispatch_context", None, include_in_jit_key=True)
    except (ImportError, AttributeError, TypeError):  # pragma: no cover - API moved in another jax
        return None


_CONTEXT_KEY = _context_key()


def set_dispatch_context(value) -> None:
    """Make ``value`` (hashable; None when no context is open) part of every C++ dispatcher's cache
    key on this thread, so a call made inside a ``use_mesh`` / ``axis_mapping`` block or a named trace
    never reuses an executable cached outside it (jax folds its own mesh contexts in the same way)."""
    if _CONTEXT_KEY is not None:
        _CONTEXT_KEY.set_local(value)


def release_dispatcher(dispatch) -> None:
    """Drop the executables a dispatcher from :func:`fast_dispatcher` holds (None is fine)."""
    clear = getattr(dispatch, "_clear_cache", None)
    if clear is not None:
        clear()


def fastpath_data(executable, result, in_shardings, out_shardings):
    """What the C++ dispatcher needs to run ``executable`` again without Python, or None."""
    try:
        from jax._src import core as _core
        from jax._src.interpreters import pxla as _pxla
    except ImportError:  # pragma: no cover
        return None
    out_flat, out_tree = _pxla.tree_util.dispatch_registry.flatten(result, None)
    if not all(type(o) is ArrayImpl for o in out_flat):
        return None
    n = len(in_shardings)
    return _pxla.MeshExecutableFastpathData(
        executable, out_tree, list(in_shardings), list(out_shardings),
        [_core.ShapedArray(o.shape, o.dtype, weak_type=o.weak_type) for o in out_flat],
        [bool(getattr(o, "_committed", True)) for o in out_flat], [True] * n,
        [None] * n, [])


def refuse_as_jax_value(cls: type, refuse) -> None:
    """Have jax call ``refuse(x)`` (which raises) when a jax function is handed an instance of ``cls``
    (which has ``.shape`` and ``.dtype``), instead of failing with its own "not a valid JAX type".

    jax wraps any TypeError raised while it abstractifies an argument into its own TypeError, so the
    instance is given an abstract value (a jitted jax function then traces) and refused where jax
    first needs its data, which it does not wrap. Raw primitives (``jax.lax.add``) still wrap it.
    """
    try:  # jax's abstractification and canonicalization tables (private; present in this release)
        from jax._src import core as _core, dtypes as _dtypes
        _core.pytype_aval_mappings[cls] = lambda x: _core.ShapedArray(x.shape, x.dtype)
        _dtypes.canonicalize_value_handlers[cls] = refuse
    except (ImportError, AttributeError):  # pragma: no cover - a later jax: keep jax's own error
        pass
