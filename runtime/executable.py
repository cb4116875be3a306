"""A compiled program ready to run: argument checks, placement, execution and result assembly."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from named.dialect import Function, NamedError, ShardingError, TensorType, to_numpy_dtype

from . import pjrt
from .mesh import device_mesh, jax_sharding


_ARRAY = pjrt.ArrayImpl


class ArgumentError(TypeError):
    """An argument does not match the compiled signature (raised before anything reaches PJRT)."""


class DeletedArrayError(NamedError, RuntimeError):
    """An argument's buffers were donated to an earlier call (or deleted): the array is gone.

    Raised before anything reaches PJRT; a ``RuntimeError`` like jax's own error for this case."""


def check_alive(args: Sequence, names: Sequence[str] | None = None) -> None:
    """Raise :class:`DeletedArrayError` naming the first argument whose buffers were donated/deleted,
    or an argument donated while also passed in another position (its buffer cannot be both)."""
    for i, x in enumerate(args):
        if type(x) is _ARRAY and x.is_deleted():
            what = names[i] if names else f"argument #{i}"
            raise DeletedArrayError(
                f"{what} ({x.dtype}{list(x.shape)}) was donated to an earlier call (donate_argnums / "
                f"donate_args) or deleted, so its buffers are gone; use that call's result instead, or do "
                f"not donate it")


class Executable:
    """A loaded PJRT executable for one IR function, with its argument and result layouts.

    Calling it checks each argument's shape and dtype against the signature and re-places any whose
    sharding differs from the one compiled for (a mismatch would crash PJRT), then runs it and
    returns global ``jax.Array`` results carrying their shardings.
    """

    def __init__(self, module_text: str | bytes, fn: Function, *, mesh=None, devices=None, result_weak=None,
                 donation=None):
        self.mesh = mesh if mesh is not None or fn.mesh is None else device_mesh(fn.mesh, devices)
        self.devices = list(self.mesh.devices.flat) if self.mesh is not None else [
            (devices or pjrt.devices())[0]]
        self.arg_types: tuple[TensorType, ...] = fn.arg_types
        self.result_types: tuple[TensorType, ...] = fn.result_types
        self.arg_shapes = [t.shape for t in self.arg_types]
        self.arg_dtypes = [to_numpy_dtype(t.dtype) for t in self.arg_types]
        self.arg_shardings = [jax_sharding(t, self.mesh, self.devices[0]) for t in self.arg_types]
        self.result_shardings = [jax_sharding(t, self.mesh, self.devices[0]) for t in self.result_types]
        # donation: per argument, the result index it is aliased to, True (donated, no result fits) or
        # None (kept); see named.compiler.lowering.aliasing.alias_plan.
        self.donation = tuple(donation) if donation is not None and any(d is not None for d in donation) else None
        self.donated = tuple(i for i, d in enumerate(self.donation or ()) if d is not None)
        self.loaded = pjrt.compile(module_text, self.devices, sharded=self.mesh is not None)
        # result_weak: per result, whether jax would type it weakly (a value computed from Python scalars)
        self.handlers = pjrt.result_handlers(
            [(t.shape, to_numpy_dtype(t.dtype), s) for t, s in zip(self.result_types, self.result_shardings)],
            weak=result_weak, committed=self.mesh is not None or devices is not None)
        self._checks = list(zip(self.arg_shapes, self.arg_dtypes, self.arg_shardings))
        self._known = list(self.arg_shardings)

    def __call__(self, args: Sequence) -> list:
        checks = self._checks
        if len(args) != len(checks):
            raise ArgumentError(f"expected {len(checks)} argument(s), got {len(args)}")
        known = self._known
        placed = None
        for i, x in enumerate(args):
            shape, dtype, sharding = checks[i]
            if type(x) is _ARRAY and x.shape == shape and x.dtype == dtype:
                if x.is_deleted():  # donated earlier: PJRT would fail with a cryptic message
                    check_alive(args)
                s = x.sharding
                # Comparing shardings costs ~1us; the object last found equal is usually the one
                # an argument carries again (our own results, the same array each step).
                if s is known[i]:
                    continue
                if s == sharding:
                    known[i] = s
                    continue
            if placed is None:
                placed = list(args)
            placed[i] = self._place(i, x, shape, dtype, sharding)
        if self.donated:
            return self._call_donating(args, placed)
        try:
            return pjrt.execute(self.loaded, placed if placed is not None else args, self.handlers)
        except pjrt.RuntimeError_:
            check_alive(args)  # an array deleted earlier: say so (PJRT's own message is cryptic)
            raise

    def _call_donating(self, args: Sequence, placed) -> list:
        check_alive(args)
        run = placed if placed is not None else args
        ids = {}
        for i in self.donated:
            x = run[i]
            if isinstance(x, pjrt.Array):
                ids[id(x)] = i
        for j, x in enumerate(run):
            if id(x) in ids and ids[id(x)] != j:
                raise DeletedArrayError(
                    f"argument #{ids[id(x)]} is donated but the same array is also argument #{j}; "
                    f"pass a copy, or do not donate it")
        outs = pjrt.execute(self.loaded, run, self.handlers)
        # Every donated input is gone afterwards, whether XLA reused its buffer or not (so code that
        # only works on some backends fails everywhere, with DeletedArrayError).
        for i in self.donated:
            for x in (args[i], run[i]):
                if isinstance(x, pjrt.Array) and not x.is_deleted():
                    x.delete()
        return outs

    def accepts_as_is(self, args: Sequence) -> bool:
        """Whether every argument is a jax.Array already shaped, typed and sharded as compiled for
        (so the C++ dispatcher may hand such arguments straight to PJRT)."""
        if self.donation is not None and True in self.donation:
            return False  # donated buffers XLA does not alias are deleted by the Python path only
        return len(args) == len(self._checks) and all(
            type(x) is _ARRAY and x.shape == shape and x.dtype == dtype and x.sharding == sharding
            for x, (shape, dtype, sharding) in zip(args, self._checks))

    def _place(self, i: int, x, shape, dtype, sharding):
        check_alive([x], [f"argument #{i}"])
        got_shape = tuple(np.shape(x))
        if got_shape != shape:
            raise ArgumentError(f"argument #{i} has shape {got_shape}, but {self.arg_types[i]} was compiled for")
        got_dtype = np.dtype(getattr(x, "dtype", None) or np.asarray(x).dtype)
        if got_dtype != dtype:
            if not isinstance(x, pjrt.Array) and (np.ndim(x) == 0 or pjrt.canonical_dtype(got_dtype) == dtype):
                x = np.asarray(x, dtype)  # Python scalars follow the signature; host data as jax places it
            else:
                raise ArgumentError(f"argument #{i} has dtype {got_dtype}, but {self.arg_types[i]} was compiled for")
        if type(x) is pjrt.ArrayImpl and x.sharding.is_equivalent_to(sharding, len(shape)):
            return x  # same buffers on the same devices (e.g. P("d", None) vs P("d")): no copy needed
        # Anything else (host data, one device, another mesh or split) moves to the compiled layout:
        # PJRT would crash on a mismatch.
        return pjrt.device_put(x, sharding)

    def memory_stats(self):
        """XLA's compiled memory analysis: ``argument_size_in_bytes``, ``output_size_in_bytes``,
        ``alias_size_in_bytes`` (outputs written into donated arguments), ``temp_size_in_bytes``."""
        return pjrt.memory_stats(self.loaded)

    def optimized_hlo(self) -> str:
        return pjrt.optimized_hlo(self.loaded)


__all__ = ["Executable", "ArgumentError", "ShardingError", "DeletedArrayError", "check_alive"]
