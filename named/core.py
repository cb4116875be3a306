"""NamedArray, and how every op runs: :func:`bind` records it while tracing, or compiles and runs it
eagerly through the same pipeline (one cached executable per op signature)."""

from __future__ import annotations

import functools
from typing import Any, Iterable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from named.compiler import Builder, current_builder, run_pipeline, user_location
from named.compiler.lowering import lower_function, module_text
from named.dialect import (Axis, AxisError, Constant, Full, NamedError, Op, TensorType, TracerError, Value,
                           attr_key, dtype_name, format_axes, to_numpy_dtype)
from named.runtime import Executable, pjrt

from .partitioning import eager_layout, eager_placement

Scalar = (bool, int, float, complex, np.bool_, np.number)


class Traced:
    """Stands in for the ``jax.Array`` of a NamedArray while a function is being traced."""

    __slots__ = ("value", "weak")

    def __init__(self, value: Value, weak: bool = False):
        self.value = value
        self.weak = weak

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.type.shape

    @property
    def dtype(self) -> np.dtype:
        return to_numpy_dtype(self.value.type.dtype)

    @property
    def ndim(self) -> int:
        return len(self.value.type.axes)

    def _refuse(self, what: str, *args):
        raise TracerError(
            f"{what} needs a concrete value, but this is a traced value of type {self.value.type} inside "
            f"@named.compile; use named.where(cond, a, b) for a data-dependent choice, or named.cond / "
            f"named.while_loop for control flow", loc=user_location()).with_traceback(None)

    def __bool__(self):
        self._refuse("Python `if`/`while`/bool()")

    def __int__(self):
        self._refuse("int()")

    def __float__(self):
        self._refuse("float()")

    def __index__(self):
        self._refuse("using a traced value as an index")

    def __array__(self, *args, **kwargs):
        self._refuse("converting to a NumPy array")

    def __iter__(self):
        self._refuse("iterating")

    def __jax_array__(self):
        self._refuse_jax()

    def _refuse_jax(self):
        raise TracerError(
            f"a jax function was given the traced value of a NamedArray ({self.value.type}) inside "
            f"@named.compile; run jax code on NamedArrays with named.call_jax(fn, x, ...), which embeds "
            f"it in the program", loc=user_location()).with_traceback(None)

    def __repr__(self) -> str:
        return f"Traced<{self.value.type}>"


pjrt.refuse_as_jax_value(Traced, Traced._refuse_jax)  # jnp.sin(x.array) inside @named.compile


def _check_axes(axes) -> tuple[Axis, ...]:
    axes = tuple(axes)
    for a in axes:
        if not isinstance(a, Axis):
            raise TypeError(f"axes must be named.Axis objects, got {a!r}")
    names = [a.name for a in axes]
    if len(set(names)) != len(names):
        raise AxisError(f"duplicate axis name in {format_axes(axes)}")
    return axes


class NamedArray:
    """An array whose axes have names: ``.array`` (a ``jax.Array``, stored in ``.axes`` order) and
    ``.axes`` (a tuple of :class:`Axis`).

    >>> import named
    >>> Batch, Embed = named.make_axes(batch=2, embed=3)
    >>> x = named.ones((Batch, Embed))
    >>> x.sum("embed").shape
    {'batch': 2}
    """

    __slots__ = ("array", "axes")
    __array_priority__ = 100

    def __init__(self, array: Any, axes: Sequence[Axis]):
        axes = _check_axes(axes)
        shape = tuple(getattr(array, "shape", np.shape(array)))
        if shape != tuple(a.size for a in axes):
            raise AxisError(f"array of shape {shape} does not match axes {format_axes(axes)}")
        self.array = array
        self.axes = axes

    @classmethod
    def _new(cls, array, axes: tuple[Axis, ...]) -> "NamedArray":
        self = object.__new__(cls)
        self.array = array
        self.axes = axes
        return self

    # -- facts --------------------------------------------------------------------------------------
    @property
    def shape(self) -> dict[str, int]:
        return {a.name: a.size for a in self.axes}

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def ndim(self) -> int:
        return len(self.axes)

    @property
    def size(self) -> int:
        return int(np.prod([a.size for a in self.axes], dtype=np.int64))

    @property
    def sharding(self):
        return getattr(self.array, "sharding", None)

    @property
    def type(self) -> TensorType:
        return TensorType(dtype_name(self.array.dtype), self.axes)

    @property
    def is_traced(self) -> bool:
        return type(self.array) is Traced

    def axis_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.axes)

    def axis_size(self, name: str) -> int:
        return resolve_axis(self, name).size

    def resolve_axis(self, name) -> Axis:
        return resolve_axis(self, name)

    def item(self):
        if self.is_traced:
            self.array._refuse(".item()")
        return self.array.item()

    def scalar(self):
        if self.axes:
            raise AxisError(f"scalar() needs an array with no axes, got {format_axes(self.axes)}")
        return self.item()

    def __array__(self, dtype=None, copy=None):
        if self.is_traced:
            self.array._refuse("converting to a NumPy array")
        out = np.asarray(self.array)
        return out.astype(dtype) if dtype is not None else out

    def __bool__(self):
        if self.is_traced:
            self.array._refuse("Python `if`/`while`/bool()")
        return bool(self.array)

    def __int__(self):
        if self.is_traced:
            self.array._refuse("int()")
        return int(self.array)

    def __float__(self):
        if self.is_traced:
            self.array._refuse("float()")
        return float(self.array)

    def __index__(self):
        if self.is_traced:
            self.array._refuse("using a traced value as an index")
        return int(self.array)

    def __len__(self):
        raise TypeError("len() of a NamedArray is ambiguous; use x.shape[name] or x.axes")

    def __iter__(self):
        raise TypeError("a NamedArray is not iterable by position; use named.unbind(x, axis)")

    def __repr__(self) -> str:
        if self.is_traced:
            return f"NamedArray(traced {self.array.value.type})"
        return f"NamedArray({format_axes(self.axes)}, {dtype_name(self.array.dtype)},\n{np.asarray(self.array)!r})"


def _flatten(x: NamedArray):
    return (x.array,), x.axes


_new_object = object.__new__


def _unflatten(axes, children):
    # one Python frame (jax's C++ dispatcher calls this for every NamedArray result)
    x = _new_object(NamedArray)
    x.array, = children
    x.axes = axes
    return x


jax.tree_util.register_pytree_node(NamedArray, _flatten, _unflatten)


def resolve_axis(x: NamedArray, axis) -> Axis:
    """The axis of ``x`` named by ``axis`` (a name or an Axis, whose size must agree)."""
    name = axis.name if isinstance(axis, Axis) else axis
    for a in x.axes:
        if a.name == name:
            if isinstance(axis, Axis) and axis.size != a.size:
                raise AxisError(f"axis {name!r} has size {a.size} in {format_axes(x.axes)}, but {axis} was asked for",
                                loc=user_location())
            return a
    raise AxisError(f"axis {name!r} is not in {format_axes(x.axes)}", loc=user_location())


def axis_names(axis) -> tuple[str, ...]:
    """Names from an axis selection: a name, an Axis, or a sequence of those."""
    if isinstance(axis, (str, Axis)):
        axis = (axis,)
    return tuple(a.name if isinstance(a, Axis) else a for a in axis)


# ------------------------------------------------------------------------------------- dtype promotion
_promotion_cache: dict[tuple, str] = {}
_WEAK_STANDIN = {"b": False, "i": 0, "u": 0, "f": 0.0, "c": 0j}


def _promotion_key(x) -> tuple[str, bool] | None:
    if isinstance(x, NamedArray):
        arr = x.array
        weak = arr.weak if type(arr) is Traced else bool(getattr(arr, "weak_type", False))
        return (dtype_name(arr.dtype), weak)
    if isinstance(x, (bool, np.bool_)):
        return ("bool", True)
    if isinstance(x, (int, float, complex)):
        return ({int: "i32", float: "f32", complex: "c64"}[type(x)] if type(x) in (int, float, complex)
                else dtype_name(jnp.asarray(x).dtype), True)
    if isinstance(x, np.generic):
        return (dtype_name(x.dtype), False)
    return None


def result_dtype(*operands) -> str:
    """The dtype jax.numpy would give an op on these operands (Python scalars are weakly typed)."""
    key = tuple(_promotion_key(x) for x in operands)
    out = _promotion_cache.get(key)
    if out is None:
        parts = []
        for k in key:
            if k is None:
                continue
            dtype, weak = k
            np_dtype = to_numpy_dtype(dtype)
            parts.append(_WEAK_STANDIN[np_dtype.kind] if weak else np_dtype)
        out = _promotion_cache[key] = dtype_name(jnp.result_type(*parts))
    return out


# --------------------------------------------------------------------------------------------- binding
def as_named(x, dtype: str | None = None) -> NamedArray:
    """``x`` as a NamedArray of ``dtype``: Python/NumPy scalars become 0-axis arrays."""
    if isinstance(x, NamedArray):
        if dtype is not None and dtype_name(x.dtype) != dtype:
            from .ops import astype
            return astype(x, dtype)
        return x
    if isinstance(x, Scalar) or (isinstance(x, (np.ndarray, jax.Array)) and np.ndim(x) == 0):
        weak = dtype is None and isinstance(x, (bool, int, float, complex))  # an explicit dtype is strong
        if dtype is None:
            dtype = result_dtype(x)
        builder = current_builder()
        value = x.item() if hasattr(x, "item") else x
        if builder is not None:
            (v,) = builder.emit(Full, (), {"value": _python_scalar(value, dtype), "dtype": dtype, "axes": ()})
            return NamedArray._new(Traced(v, weak=weak), ())
        return NamedArray._new(jnp.asarray(value, to_numpy_dtype(dtype)), ())
    if isinstance(x, Traced):
        raise TypeError("a traced jax value must be wrapped in a NamedArray")
    shape = np.shape(x)
    raise AxisError(f"an unnamed array of shape {shape} cannot be used here; give its axes names with "
                    f"named.named(array, ({', '.join(repr('axis' + str(i)) for i in range(len(shape)))}))",
                    loc=user_location()).with_traceback(None)


def _python_scalar(value, dtype: str):
    np_value = np.asarray(value, dtype=to_numpy_dtype(dtype)).item()
    if isinstance(np_value, (bool, int, float, complex)):
        return np_value
    return float(np_value)


def _value_of(builder: Builder, x: NamedArray) -> Value:
    arr = x.array
    if type(arr) is Traced:
        return arr.value
    # A concrete array captured by a traced function becomes a constant of the program.
    (v,) = builder.emit(Constant, (), {"value": np.asarray(arr), "axes": x.axes})
    return v


def bind(op_cls: type[Op], operands: Sequence[NamedArray], attrs: Mapping[str, Any] | None = None,
         regions=()) -> tuple[NamedArray, ...]:
    """Apply ``op_cls`` to NamedArray operands: record it while tracing, or run it eagerly."""
    builder = current_builder()
    if builder is not None:
        values = [_value_of(builder, x) for x in operands]
        results = builder.emit(op_cls, values, attrs, regions)
        return tuple(NamedArray._new(Traced(r), r.type.axes) for r in results)
    return _run_eagerly(op_cls, operands, attrs or {})


def bind1(op_cls: type[Op], operands: Sequence[NamedArray], attrs: Mapping[str, Any] | None = None) -> NamedArray:
    return bind(op_cls, operands, attrs)[0]


class EagerEntry:
    __slots__ = ("executable", "result_axes")

    def __init__(self, executable, result_axes):
        self.executable = executable
        self.result_axes = result_axes


_EAGER: dict[tuple, EagerEntry] = {}  # (op, attrs, axes and dtypes, placement) -> compiled op
_EAGER_CALLS: dict[tuple, Any] = {}  # (op, attrs, operand axes) -> jaxlib C++ dispatcher, or None


def _run_eagerly(op_cls, operands, attrs) -> tuple[NamedArray, ...]:
    # Hot path: the C++ dispatcher of (op, attrs, axes) checks dtypes, shapes and shardings itself
    # and runs the op's executable without Python; anything new goes through _run_checked.
    key = (op_cls, tuple(sorted((k, attr_key(v)) for k, v in attrs.items())) if attrs else (),
           *[x.axes for x in operands])
    call = _EAGER_CALLS.get(key, _MISSING)
    if call is _MISSING:
        call = _EAGER_CALLS[key] = _eager_dispatcher(op_cls, dict(attrs), key[2:])
    if call is None:
        return _run_checked(op_cls, operands, attrs)
    return call(*[x.array for x in operands])


_MISSING = object()


def _eager_dispatcher(op_cls, attrs, axes):
    run = functools.partial(_run_arrays, op_cls, attrs, axes)  # under jax.disable_jit

    def cache_miss(*arrays):
        operands = [NamedArray._new(a, ax) for a, ax in zip(arrays, axes)]
        entry = _eager_entry(op_cls, operands, attrs)
        executable = entry.executable
        results = tuple(NamedArray._new(o, ax) for o, ax in zip(executable(arrays), entry.result_axes))
        data = None
        if executable.accepts_as_is(arrays):  # later calls like this one run without Python checks
            data = pjrt.fastpath_data(executable.loaded, results, executable.arg_shardings,
                                      executable.result_shardings)
        return results, data, False

    return pjrt.fast_dispatcher(op_cls.name, run, cache_miss)


# The ops' own fast paths (elementwise, reductions, dot): callers that have checked no trace is open
# and every operand holds a concrete jax array, and that know an exact hashable key of their attrs,
# find the C++ dispatcher by the identity of the operands' axes tuples (eager results share their
# entry's tuple, so a chain of ops hits without hashing a single Axis).
_BY_ID: dict[tuple, tuple] = {}
ARRAY_IMPL = pjrt.ArrayImpl
INEXACT_DTYPES = frozenset(to_numpy_dtype(n) for n in ("bf16", "f16", "f32", "f64", "c64", "c128"))


def run_eager1(op_cls, x: NamedArray, attrs=None, akey=()) -> tuple[NamedArray, ...]:
    """Run ``op_cls`` eagerly on ``x`` (see above); ``akey`` stands for ``attrs`` exactly."""
    ax = x.axes
    hit = _BY_ID.get((op_cls, akey, id(ax)))
    if hit is None or hit[0] is not ax:
        hit = _by_id(op_cls, attrs, (op_cls, akey, id(ax)), (x,))
    return hit[-1](x.array)


def run_eager2(op_cls, x: NamedArray, y: NamedArray, attrs=None, akey=()) -> tuple[NamedArray, ...]:
    """:func:`run_eager1` for two operands."""
    ax, ay = x.axes, y.axes
    hit = _BY_ID.get((op_cls, akey, id(ax), id(ay)))
    if hit is None or hit[0] is not ax or hit[1] is not ay:
        hit = _by_id(op_cls, attrs, (op_cls, akey, id(ax), id(ay)), (x, y))
    return hit[-1](x.array, y.array)


def _by_id(op_cls, attrs, key, operands) -> tuple:
    attrs = attrs or {}
    full = (op_cls, tuple(sorted((k, attr_key(v)) for k, v in attrs.items())) if attrs else (),
            *[x.axes for x in operands])
    call = _EAGER_CALLS.get(full, _MISSING)
    if call is _MISSING:
        call = _EAGER_CALLS[full] = _eager_dispatcher(op_cls, dict(attrs), full[2:])
    if call is None:  # this jaxlib has no C++ dispatcher: the checked path
        call = functools.partial(_run_arrays, op_cls, attrs, full[2:])
    if len(_BY_ID) >= 4096:  # the keys hold their axes tuples alive: keep the table bounded
        _BY_ID.clear()
    hit = _BY_ID[key] = (*full[2:], call)
    return hit


def _run_arrays(op_cls, attrs, axes, *arrays):
    return _run_checked(op_cls, [NamedArray._new(a, ax) for a, ax in zip(arrays, axes)], attrs)


def _eager_entry(op_cls, operands, attrs) -> EagerEntry:
    types = tuple((x.axes, x.array.dtype) for x in operands)
    placement = eager_placement(operands)  # None unless an operand is split over a mesh
    key = (op_cls, tuple(sorted((k, attr_key(v)) for k, v in attrs.items())), types, placement)
    entry = _EAGER.get(key)
    if entry is None:
        entry = _EAGER[key] = _compile_eager(op_cls, operands, attrs, placement)
    return entry


def _run_checked(op_cls, operands, attrs) -> tuple[NamedArray, ...]:
    """Run an op eagerly through its cached executable's checked Python call."""
    entry = _eager_entry(op_cls, operands, attrs)
    outs = entry.executable([x.array for x in operands])
    return tuple(NamedArray._new(o, axes) for o, axes in zip(outs, entry.result_axes))


def _compile_eager(op_cls, operands, attrs, placement=None) -> EagerEntry:
    builder = Builder()
    args = [builder.add_arg(TensorType(dtype_name(x.array.dtype), x.axes)) for x in operands]
    results = builder.emit(op_cls, args, attrs, loc=user_location())
    fn = builder.finish(op_cls.name.replace(".", "_"), results)
    jax_mesh, ir_mesh, mapping = eager_layout(fn, placement)
    stages = run_pipeline(fn, mesh=ir_mesh, mapping=mapping, builtin_passes=False, keep_traced=False,
                          traced=True)
    module = lower_function(stages.partitioned)
    executable = Executable(module_text(module), stages.partitioned, mesh=jax_mesh)
    return EagerEntry(executable, tuple(r.type.axes for r in results))


def eager_cache_size() -> int:
    return len(_EAGER)


__all__ = ["NamedArray", "Traced", "bind", "bind1", "as_named", "result_dtype", "resolve_axis", "axis_names",
           "NamedError"]
