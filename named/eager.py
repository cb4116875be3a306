"""Eager execution: an op applied to concrete NamedArrays runs as a one-op program, compiled once per
signature and called through a jaxlib C++ dispatcher (SPEC §4's eager mode; ``named.core.bind``
routes here). Mixed dtypes are promoted inside the op's executable, as ``jax.numpy``'s jitted
functions do."""

from __future__ import annotations

import functools

from named.compiler import Builder, run_pipeline, user_location
from named.compiler.lowering import lower_function, module_text
from named.dialect import Convert, attr_key, dtype_name, is_inexact
from named.runtime import Executable, pjrt

from .caches import LRUCache, eager_limit
from .core import _JAX_ARRAY, NamedArray, _new_object, result_dtype, result_type_weak
from .partitioning import eager_layout, eager_placement


class EagerEntry:
    __slots__ = ("executable", "result_axes")

    def __init__(self, executable, result_axes):
        self.executable = executable
        self.result_axes = result_axes


_EAGER = LRUCache(eager_limit)  # (op, attrs, axes and dtypes, placement, weak) -> compiled op; bounded
_EAGER_CALLS = LRUCache(eager_limit)  # (op, attrs, weak, operand axes) -> jaxlib C++ dispatcher, or None


def _run_eagerly(op_cls, operands, attrs, weak: bool = False) -> tuple[NamedArray, ...]:
    # Hot path: the C++ dispatcher of (op, attrs, weak, axes) checks dtypes, weak types, shapes and
    # shardings itself and runs the op's executable without Python; anything new goes through
    # _run_checked. Only concrete jax arrays take it (jax tracers were routed away by bind()).
    for x in operands:
        if type(x.array) is not ARRAY_IMPL:
            return _run_checked(op_cls, operands, attrs, weak)
    key = (op_cls, tuple(sorted((k, attr_key(v)) for k, v in attrs.items())) if attrs else (), weak, None,
           *[x.axes for x in operands])
    call = _EAGER_CALLS.get(key, _MISSING)
    if call is _MISSING:
        call = _EAGER_CALLS[key] = _eager_dispatcher(op_cls, dict(attrs), key[4:], weak)
    if call is None:
        return _run_checked(op_cls, operands, attrs, weak)
    return call(*[x.array for x in operands])


_MISSING = object()


def _eager_dispatcher(op_cls, attrs, axes, weak: bool = False, converts=None, raw: bool = False,
                      promote: str | None = None):
    # ``raw``: the dispatcher returns the first result's jax array alone, which the caller wraps (one
    # leaf out: no pytree node to rebuild in C++, see the fast paths below). ``promote`` (a rule of
    # :func:`_promotion`): each new signature (dtypes, weak types) gets that promotion compiled into
    # the op's executable (``weak``/``converts`` are then worked out per miss).
    run = functools.partial(_run_arrays, op_cls, attrs, axes, weak, converts)  # under jax.disable_jit
    if promote is not None:
        run = functools.partial(_run_promoted_arrays, op_cls, attrs, axes, promote)
    if raw:
        run = functools.partial(_first_array, run)

    def cache_miss(*arrays):
        operands = [NamedArray._new(a, ax) for a, ax in zip(arrays, axes)]
        w, c = _promotion(operands, promote) if promote is not None else (weak, converts)
        entry = _eager_entry(op_cls, operands, attrs, w, c)
        executable = entry.executable
        outs = executable(arrays)
        results = outs[0] if raw else tuple(NamedArray._new(o, ax) for o, ax in zip(outs, entry.result_axes))
        data = None
        if executable.accepts_as_is(arrays):  # later calls like this one run without Python checks
            data = pjrt.fastpath_data(executable.loaded, results, executable.arg_shardings,
                                      executable.result_shardings[:1] if raw else executable.result_shardings)
        return results, data, False

    return pjrt.fast_dispatcher(op_cls.name, run, cache_miss)


def _promotion(operands, rule: str):
    """``(weak, converts)`` for an op on ``operands``, as jax.numpy promotes them: ``rule``
    "elementwise" (weak types kept), "inexact" (integers and bools compute in the default float) or
    "strong" (the common dtype of the arrays, a strongly typed result: what ``named.dot`` does)."""
    if rule == "strong":
        dtype, weak = result_dtype(*operands), False
    else:
        dtype, weak = result_type_weak(*operands)
    if rule == "inexact" and not is_inexact(dtype):
        dtype = result_dtype(1.0)
    converts = tuple(dtype if dtype_name(x.dtype) != dtype else None for x in operands)
    return weak, (converts if any(converts) else None)


def _run_promoted_arrays(op_cls, attrs, axes, rule, *arrays):
    operands = [NamedArray._new(a, ax) for a, ax in zip(arrays, axes)]
    return _run_checked(op_cls, operands, attrs, *_promotion(operands, rule))


def _first_array(run, *arrays):
    return run(*arrays)[0].array


# The ops' own fast paths (elementwise, reductions, dot): callers that have checked no trace is open
# and every operand holds a concrete jax array (never a jax tracer), that their results are strongly
# typed (``weak=False``), and that know an exact hashable key of their attrs, find the C++ dispatcher
# by the identity of the operands' axes tuples (eager results share their entry's tuple, so a chain
# of ops hits without hashing a single Axis). An entry is ``(*operand axes, dispatcher, result axes)``;
# the dispatcher takes and returns bare jax arrays (single-result ops only), and the caller wraps the
# result in a NamedArray with the entry's result axes: jax.numpy's own eager op returns a bare array,
# and a NamedArray result rebuilt by jaxlib's pytree code costs ~0.4 us more per op.
_BY_ID: dict[tuple, tuple] = {}
ARRAY_IMPL = pjrt.ArrayImpl
_new_named = _new_object


def run_eager1(op_cls, x: NamedArray, attrs=None, akey=(), promote: str | None = None) -> NamedArray:
    """Run the single-result ``op_cls`` eagerly on ``x`` (see above); ``akey`` stands for ``attrs``
    exactly; ``promote`` as for :func:`_eager_dispatcher` (then any dtype and weak type may come)."""
    ax = x.axes
    hit = _BY_ID.get((op_cls, akey, id(ax)))
    if hit is None or hit[0] is not ax:
        hit = _by_id(op_cls, attrs, (op_cls, akey, id(ax)), (x,), promote)
    out = _new_named(NamedArray)
    out.array = hit[1](x.array)
    out.axes = hit[2]
    return out


def run_eager2(op_cls, x: NamedArray, y: NamedArray, attrs=None, akey=(), promote: str | None = None) -> NamedArray:
    """:func:`run_eager1` for two operands."""
    ax, ay = x.axes, y.axes
    hit = _BY_ID.get((op_cls, akey, id(ax), id(ay)))
    if hit is None or hit[0] is not ax or hit[1] is not ay:
        hit = _by_id(op_cls, attrs, (op_cls, akey, id(ax), id(ay)), (x, y), promote)
    out = _new_named(NamedArray)
    out.array = hit[2](x.array, y.array)
    out.axes = hit[3]
    return out


def _by_id(op_cls, attrs, key, operands, promote: str | None = None) -> tuple:
    # ``key`` (by the identity of the axes tuples) must say whether ``promote`` is set: an op is only
    # ever called here with one ``promote``
    attrs = attrs or {}
    full = (op_cls, tuple(sorted((k, attr_key(v)) for k, v in attrs.items())) if attrs else (), False,
            ("raw", promote), *[x.axes for x in operands])
    weak, converts = _promotion(operands, promote) if promote is not None else (False, None)
    entry = _eager_entry(op_cls, operands, attrs, weak, converts)  # compiled here once (the miss finds it)
    call = _EAGER_CALLS.get(full, _MISSING)
    if call is _MISSING:
        call = _EAGER_CALLS[full] = _eager_dispatcher(op_cls, dict(attrs), full[4:], raw=True, promote=promote)
    if call is None:  # this jaxlib has no C++ dispatcher: the checked path
        run = (functools.partial(_run_promoted_arrays, op_cls, attrs, full[4:], promote) if promote is not None
               else functools.partial(_run_arrays, op_cls, attrs, full[4:], False, None))
        call = functools.partial(_first_array, run)
    if len(_BY_ID) >= 4096:  # the keys hold their axes tuples alive: keep the table bounded
        _BY_ID.clear()
    hit = _BY_ID[key] = (*full[4:], call, entry.result_axes[0])
    return hit


def _run_arrays(op_cls, attrs, axes, weak, converts, *arrays):
    return _run_checked(op_cls, [NamedArray._new(a, ax) for a, ax in zip(arrays, axes)], attrs, weak, converts)


def _eager_entry(op_cls, operands, attrs, weak: bool = False, converts=None) -> EagerEntry:
    types = tuple((x.axes, x.array.dtype if type(x.array) is _JAX_ARRAY else x.dtype) for x in operands)
    placement = eager_placement(operands)  # None unless an operand is split over a mesh
    key = (op_cls, tuple(sorted((k, attr_key(v)) for k, v in attrs.items())), types, placement, weak, converts)
    entry = _EAGER.get(key)
    if entry is None:
        entry = _EAGER[key] = _compile_eager(op_cls, operands, attrs, placement, weak, converts)
    return entry


def _run_checked(op_cls, operands, attrs, weak: bool = False, converts=None) -> tuple[NamedArray, ...]:
    """Run an op eagerly through its cached executable's checked Python call."""
    entry = _eager_entry(op_cls, operands, attrs, weak, converts)
    outs = entry.executable([x.array for x in operands])
    return tuple(NamedArray._new(o, axes) for o, axes in zip(outs, entry.result_axes))


def _compile_eager(op_cls, operands, attrs, placement=None, weak: bool = False, converts=None) -> EagerEntry:
    builder = Builder()
    loc = user_location()
    args = [builder.add_arg(x.type) for x in operands]
    if converts:
        args = [a if d is None else builder.emit(Convert, [a], {"dtype": d}, loc=loc)[0]
                for a, d in zip(args, converts)]
    results = builder.emit(op_cls, args, attrs, loc=loc)
    fn = builder.finish(op_cls.name.replace(".", "_"), results)
    jax_mesh, ir_mesh, mapping = eager_layout(fn, placement)
    stages = run_pipeline(fn, mesh=ir_mesh, mapping=mapping, builtin_passes=False, keep_traced=False,
                          traced=True)
    module = lower_function(stages.partitioned)
    executable = Executable(module_text(module), stages.partitioned, mesh=jax_mesh,
                            result_weak=(weak,) * len(results) if weak else None)
    return EagerEntry(executable, tuple(r.type.axes for r in results))


def eager_cache_size() -> int:
    return len(_EAGER)
