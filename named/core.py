"""NamedArray, and how every op runs: :func:`bind` records it while tracing, or compiles and runs it
eagerly through the same pipeline (one cached executable per op signature)."""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from named.compiler import Builder, current_builder, user_location
from named.dialect import (Axis, AxisError, Constant, Full, NamedError, Op, TensorType, TracerError, Value,
                           dtype_name, format_axes, to_numpy_dtype)
from named.runtime import pjrt

from ._canonical import canonical_dtype, canonical_host_array, python_scalar_dtype, x64_enabled

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


from .eager import _run_eagerly  # noqa: E402  (eager execution needs NamedArray, defined above)

__all__ = ["NamedArray", "Traced", "bind", "bind1", "as_named", "result_dtype", "result_type_weak", "is_weak", "resolve_axis", "axis_names",
           "NamedError"]
