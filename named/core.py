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
from named.dialect import (Axis, AxisError, Constant, Convert, Full, NamedError, Op, TensorType, TracerError, Value,
                           attr_key, dtype_name, format_axes, is_inexact, to_numpy_dtype)
from named.runtime import Executable, pjrt

from ._canonical import canonical_dtype, canonical_host_array, python_scalar_dtype, x64_enabled
from .caches import LRUCache, eager_limit
from .partitioning import eager_layout, eager_placement

Scalar = (bool, int, float, complex, np.bool_, np.number)
_ARRAY_IMPL = type(jnp.zeros(()))


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

    def __getattr__(self, name: str):
        # x.array.sum(), x.array.T, ... on a traced value: it is not a jax array (only called for names
        # Traced lacks; an AttributeError too, so hasattr() keeps answering False).
        if name.startswith("__"):
            raise AttributeError(name)
        raise TracedAttributeError(
            f"`.{name}` of the traced value of a NamedArray ({self.value.type}): inside a named trace "
            f"`x.array` is not a jax array; use the named op (e.g. x.sum(axis)), or named.call_jax(fn, x) "
            f"for jax code", loc=user_location()).with_traceback(None)

    def __repr__(self) -> str:
        return f"Traced<{self.value.type}>"


class TracedAttributeError(TracerError, AttributeError):
    """An attribute a jax array has, asked of a traced value (which is no jax array)."""


pjrt.refuse_as_jax_value(Traced, Traced._refuse_jax)  # jnp.sin(x.array) inside @named.compile
def jax_refusal(error: TypeError) -> TracerError | None:
    """The TracerError for jax's TypeError on a value of a named trace (a ``Traced``, or a NamedArray
    holding one, passed to a jax function), located at the user's line of the failing call; None for
    any other error."""
    text = str(error)
    if isinstance(error, NamedError) or not ("named.core.Traced" in text or "Traced<" in text or
                                              "named.core.NamedArray" in text):
        return None
    loc, tb = None, error.__traceback__
    from named.compiler.tracer import _is_internal
    from named.dialect import Location
    while tb is not None:
        if not _is_internal(tb.tb_frame.f_code.co_filename):
            loc = Location(tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return TracerError(
        "a traced value inside @named.compile is not a jax array, so jax functions cannot take it (nor "
        "its .array); run jax code on NamedArrays with named.call_jax(fn, *args), or use the named op "
        f"(jax said: {text.splitlines()[0]})", loc=loc)


_JAX_ARRAY = type(jnp.zeros(()))
_HOST_DATA = (np.ndarray, np.generic, list, tuple, bool, int, float, complex)


def _host_to_jax(array):
    try:
        return jnp.asarray(array)
    except (TypeError, ValueError, OverflowError) as e:
        raise TypeError(f"NamedArray: `array` must be a jax.Array, a NumPy array or (nested, rectangular) "
                        f"lists of numbers; got {type(array).__name__} ({e})") from None


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
        if isinstance(array, _HOST_DATA):  # host data is placed now, in jax's canonical dtype
            array = _host_to_jax(array)
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
        arr = self.array
        if type(arr) is _JAX_ARRAY or type(arr) is Traced:
            return arr.dtype
        return canonical_dtype(arr.dtype)  # NumPy data (e.g. from a tree_map) reads as jax would place it

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
        return TensorType(dtype_name(self.dtype), self.axes)

    @property
    def is_traced(self) -> bool:
        return type(self.array) is Traced

    def axis_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.axes)

    def axis_size(self, axis):
        """The size of one axis, or a tuple of sizes for a sequence of axes."""
        found = self.resolve_axis(axis)
        return tuple(a.size for a in found) if isinstance(found, tuple) else found.size

    def resolve_axis(self, axis):
        """The Axis named by ``axis``; a tuple of them for a sequence, a shape dict for a dict."""
        if isinstance(axis, (str, Axis)):
            return resolve_axis(self, axis)
        from .axis import resolve_axis as resolve_selection
        return resolve_selection(self.axes, axis)

    def has_axis(self, axis) -> bool:
        """True when every axis of ``axis`` is present (with the same size where one is given)."""
        from .axis import selects_axis
        return selects_axis(self.axes, axis)

    def axis_indices(self, axis):
        """The position of an axis in ``.axes`` (None if absent); a tuple of them for several."""
        names = [a.name for a in self.axes]
        if isinstance(axis, (str, Axis)):
            name = axis.name if isinstance(axis, Axis) else axis
            return names.index(name) if name in names else None
        return tuple(self.axis_indices(a) for a in axis)

    def matches_axes(self, spec) -> bool:
        """True when this array fits ``spec``: a ``named.typing`` annotation (``f32["batch embed"]``),
        a string of names, or a sequence of names/Axis objects (see :func:`named.typing.matches`)."""
        from .typing import matches
        return matches(self, spec)

    def item(self):
        if self.is_traced:
            self.array._refuse(".item()")
        _check_local(self.array, ".item()", self.axes)
        return self.array.item()

    def scalar(self):
        if self.axes:
            raise AxisError(f"scalar() needs an array with no axes, got {format_axes(self.axes)}")
        return self.item()

    def __array__(self, dtype=None, copy=None):
        if self.is_traced:
            self.array._refuse("converting to a NumPy array")
        _check_local(self.array, "converting to a NumPy array", self.axes)
        out = np.asarray(self.array)
        return out.astype(dtype) if dtype is not None else out

    def __array_function__(self, func, types, args, kwargs):
        # NumPy functions (np.sum, np.allclose, ...) see a NamedArray as its positional data, exactly as
        # np.asarray(x) does; a traced value has no data, so they get the TracerError that says what to use.
        is_named = lambda v: isinstance(v, NamedArray)  # noqa: E731
        for v in jax.tree_util.tree_leaves((args, kwargs), is_leaf=is_named):
            if is_named(v) and (v.is_traced or isinstance(v.array, jax.core.Tracer)):
                raise TracerError(
                    f"numpy.{func.__name__} needs concrete data, but this is a traced value of axes "
                    f"{format_axes(v.axes)}; use the named op (named.{func.__name__}(x, axis) reduces by axis "
                    f"name where one exists) or named.call_jax for positional jax code",
                    loc=user_location()).with_traceback(None)
        args, kwargs = jax.tree_util.tree_map(lambda v: np.asarray(v) if is_named(v) else v, (args, kwargs),
                                              is_leaf=is_named)
        return func(*args, **kwargs)

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
        _check_local(self.array, "float()", self.axes)
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
        if isinstance(self.array, jax.core.Tracer):  # inside a jax transformation
            return f"NamedArray({format_axes(self.axes)}, {self.array!r})"
        if _is_deleted(self.array):
            return f"NamedArray({format_axes(self.axes)}, {dtype_name(self.array.dtype)}, deleted (donated))"
        from .distributed import is_local
        if not is_local(self.array):
            return (f"NamedArray({format_axes(self.axes)}, {dtype_name(self.array.dtype)}, split over processes; "
                    f"named.process_allgather(x) collects it)")
        return f"NamedArray({format_axes(self.axes)}, {dtype_name(self.array.dtype)},\n{np.asarray(self.array)!r})"


def _flatten(x: NamedArray):
    return (x.array,), x.axes


_new_object = object.__new__


def _check_local(array, what: str, axes) -> None:
    if _is_deleted(array):
        from named.runtime import DeletedArrayError
        raise DeletedArrayError(f"{what} needs the data of an array {format_axes(axes)} whose buffers were donated "
                                f"to an earlier call (donate_argnums / donate_args) or deleted; use that call's "
                                f"result instead", loc=user_location()).with_traceback(None)
    from .distributed import check_local  # the multi-process error (named/distributed.py)
    check_local(array, what, axes)


def _is_deleted(array) -> bool:
    is_deleted = getattr(array, "is_deleted", None)
    return bool(is_deleted()) if callable(is_deleted) else False


def _unflatten(axes, children):
    # one Python frame (jax's C++ dispatcher calls this for every NamedArray result)
    x = _new_object(NamedArray)
    x.array, = children
    x.axes = axes
    return x


jax.tree_util.register_pytree_node(NamedArray, _flatten, _unflatten)


def resolve_axis(x: NamedArray, axis) -> Axis:
    """The axis of ``x`` named by ``axis`` (a name or an Axis, whose size must agree)."""
    if not isinstance(axis, (str, Axis)):
        raise TypeError(f"an axis must be given by name (str) or as a named.Axis, got {_describe_value(axis)}")
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
        return (axis.name if isinstance(axis, Axis) else axis,)
    if not isinstance(axis, (tuple, list)) or not all(isinstance(a, (str, Axis)) for a in axis):
        raise TypeError(f"`axis` must be an axis name, a named.Axis or a tuple/list of them, got "
                        f"{_describe_value(axis)}")
    return tuple(a.name if isinstance(a, Axis) else a for a in axis)


def _describe_value(x) -> str:
    text = repr(x)
    return f"{type(x).__name__} {text[:60] + '...' if len(text) > 60 else text}"


# ------------------------------------------------------------------------------------- dtype promotion
_promotion_cache: dict[tuple, str] = {}
_WEAK_STANDIN = {"b": False, "i": 0, "u": 0, "f": 0.0, "c": 0j}


def _promotion_key(x) -> tuple[str, bool] | None:
    if isinstance(x, NamedArray):
        arr = x.array
        weak = arr.weak if type(arr) is Traced else bool(getattr(arr, "weak_type", False))
        return (dtype_name(x.dtype), weak)
    if isinstance(x, (bool, np.bool_)):
        return ("bool", True)
    if isinstance(x, (int, float, complex)):
        return (python_scalar_dtype(type(x)) if type(x) in (int, float, complex)
                else dtype_name(jnp.asarray(x).dtype), True)
    if isinstance(x, np.generic):
        return (dtype_name(canonical_dtype(x.dtype)), False)
    if isinstance(x, (np.ndarray, jax.Array)) and np.ndim(x) == 0:  # 0-d arrays act as scalars
        return (dtype_name(canonical_dtype(x.dtype)), bool(getattr(x, "weak_type", False)))
    if x is None:
        return None
    return _promotion_key(as_named(x))  # anything else is refused with a typed error


def result_dtype(*operands) -> str:
    """The dtype jax.numpy would give an op on these operands (Python scalars are weakly typed)."""
    return result_type_weak(*operands)[0]


def result_type_weak(*operands) -> tuple[str, bool]:
    """``(dtype, weak)``: the dtype jax.numpy gives an elementwise op on these operands, and whether
    the result is weakly typed (``int32 + 0.5`` is a weak f32, so adding an f16 array gives f16)."""
    key = (x64_enabled(),) + tuple(_promotion_key(x) for x in operands)
    out = _promotion_cache.get(key)
    if out is None:
        parts = []
        for k in key[1:]:
            if k is None:
                continue
            dtype, weak = k
            np_dtype = to_numpy_dtype(dtype)
            parts.append(_WEAK_STANDIN[np_dtype.kind] if weak else np_dtype)
        try:
            dtype, weak = jax.dtypes.result_type(*parts, return_weak_type_flag=True)
        except jax.dtypes.TypePromotionError:  # fp8 mixes with nothing implicitly (as in jax)
            names = ", ".join(k[0] for k in key[1:] if k is not None)
            raise TracerError(f"no implicit dtype promotion between {names}: fp8 values mix only with the "
                              f"same fp8 dtype; convert explicitly with .astype(...)", loc=user_location()) from None
        out = _promotion_cache[key] = (dtype_name(dtype), bool(weak))
    return out


def is_weak(x) -> bool:
    """Whether ``x`` is weakly typed as jax means it (a Python scalar, or a value computed only from them)."""
    if isinstance(x, NamedArray):
        arr = x.array
        return arr.weak if type(arr) is Traced else bool(getattr(arr, "weak_type", False))
    return type(x) in (int, float, complex)


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
        if isinstance(x, jax.core.Tracer):  # a 0-d value of a jax transformation
            x = NamedArray._new(x.astype(to_numpy_dtype(dtype)), ())
            return NamedArray._new(Traced(_value_of(builder, x)), ()) if builder is not None else x
        value = x.item() if hasattr(x, "item") else x
        scalar = _python_scalar(value, dtype)
        if builder is not None:
            (v,) = builder.emit(Full, (), {"value": scalar, "dtype": dtype, "axes": ()})
            return NamedArray._new(Traced(v, weak=weak), ())
        if weak:  # a weakly typed 0-axis array, as jax makes from a Python scalar
            return NamedArray._new(jnp.asarray(value), ())
        return NamedArray._new(jnp.asarray(value, to_numpy_dtype(dtype)), ())
    if isinstance(x, Traced):
        raise TypeError("a traced jax value must be wrapped in a NamedArray")
    if not isinstance(x, (np.ndarray, jax.Array, list, tuple)) or (
            isinstance(x, np.ndarray) and x.dtype.kind not in "biufc"):
        raise TypeError(f"expected a NamedArray or a number, got {_describe_value(x)}").with_traceback(None)
    try:
        shape = np.shape(x)
    except ValueError:
        raise TypeError(f"expected a NamedArray or a number, got a ragged {type(x).__name__}") from None
    raise AxisError(f"an unnamed array of shape {shape} cannot be used here; give its axes names with "
                    f"named.named(array, ({', '.join(repr('axis' + str(i)) for i in range(len(shape)))}))",
                    loc=user_location()).with_traceback(None)


def _python_scalar(value, dtype: str):
    try:
        with np.errstate(all="ignore"):
            np_value = np.asarray(value, dtype=to_numpy_dtype(dtype)).item()
    except (OverflowError, ValueError, TypeError):
        raise ValueError(f"the number {value!r} does not fit the dtype {dtype} it is used with") from None
    if isinstance(np_value, (bool, int, float, complex)):
        return np_value
    return float(np_value)


_JAX_CAPTURES: dict[int, dict] = {}  # id(root builder) -> {id(tracer): (Value, tracer)}, see run_staged


def _value_of(builder: Builder, x: NamedArray) -> Value:
    arr = x.array
    if type(arr) is Traced:
        return arr.value
    if isinstance(arr, jax.core.Tracer):  # a value of a jax transformation, captured by traced code
        root = builder
        while root.parent is not None:
            root = root.parent
        captures = _JAX_CAPTURES.get(id(root))
        if captures is None:
            raise TracerError(f"a named.compile'd function uses an array {format_axes(x.axes)} that a jax "
                              f"transformation is tracing without taking it as an argument; pass it in as an "
                              f"argument", loc=user_location()).with_traceback(None)
        if id(arr) not in captures:
            captures[id(arr)] = (root.add_arg(x.type), arr)
        return captures[id(arr)][0]
    # A concrete array captured by a traced function becomes a constant of the program.
    (v,) = builder.emit(Constant, (), {"value": canonical_host_array(arr), "axes": x.axes})
    return v


def bind(op_cls: type[Op], operands: Sequence[NamedArray], attrs: Mapping[str, Any] | None = None,
         regions=(), *, weak: bool = False) -> tuple[NamedArray, ...]:
    """Apply ``op_cls`` to NamedArray operands: record it while tracing, or run it eagerly.
    ``weak`` marks the results weakly typed (see :func:`result_type_weak`)."""
    builder = current_builder()
    if builder is not None:
        values = [_value_of(builder, x) for x in operands]
        results = builder.emit(op_cls, values, attrs, regions)
        return tuple(NamedArray._new(Traced(r, weak), r.type.axes) for r in results)
    for x in operands:  # a jax transformation (jit, grad, vmap, ...) is tracing this op
        if type(x.array) is not _ARRAY_IMPL and isinstance(x.array, jax.core.Tracer):
            from .interop.primitives import op_function
            ref = op_function(op_cls, [x.type for x in operands], attrs or {})
            outs = ref(*(x.array for x in operands))
            return tuple(NamedArray._new(o, t.axes) for o, t in zip(outs, ref.result_types))
    return _run_eagerly(op_cls, operands, attrs or {}, weak)


def bind1(op_cls: type[Op], operands: Sequence[NamedArray], attrs: Mapping[str, Any] | None = None,
          *, weak: bool = False) -> NamedArray:
    return bind(op_cls, operands, attrs, weak=weak)[0]


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
INEXACT_DTYPES = frozenset(to_numpy_dtype(n) for n in ("bf16", "f16", "f32", "f64", "c64", "c128"))
_new_named = object.__new__


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


__all__ = ["NamedArray", "Traced", "bind", "bind1", "as_named", "result_dtype", "result_type_weak", "is_weak", "resolve_axis", "axis_names",
           "NamedError"]
