"""Axes, dtypes, tensor types, meshes and shardings: the frozen value types of the IR."""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import ml_dtypes
import numpy as np

from .errors import AxisError, ShardingError

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")


@dataclass(frozen=True, slots=True)
class Axis:
    """A named dimension: ``Axis("batch", 32)``."""

    name: str
    size: int

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise AxisError(f"an axis name must be a non-empty string, got {self.name!r}")
        if isinstance(self.size, bool) or not isinstance(self.size, (int, np.integer)) or self.size < 0:
            raise AxisError(f"axis {self.name!r}: size must be a non-negative int, got {self.size!r}")
        if self.size >= 2 ** 63:
            raise AxisError(f"axis {self.name!r}: size {self.size} does not fit in a 64-bit dimension")
        if not isinstance(self.size, int):
            object.__setattr__(self, "size", int(self.size))

    def resize(self, size: int) -> "Axis":
        return Axis(self.name, size)

    def alias(self, name: str) -> "Axis":
        return Axis(name, self.size)

    def __str__(self) -> str:
        return f"{format_axis_name(self.name)}={self.size}"


# Words the IR text reserves; axis names equal to one are printed quoted.
RESERVED_WORDS = frozenset({"true", "false", "none", "inf", "nan", "func", "return", "yield", "loc",
                            "array", "on", "mesh", "complex"})


def format_axis_name(name: str) -> str:
    if _IDENT.match(name) and name not in RESERVED_WORDS:
        return name
    return json.dumps(name)


def format_axes(axes: Iterable[Axis]) -> str:
    return "[" + ", ".join(str(a) for a in axes) + "]"


# ---------------------------------------------------------------------------------------------- dtypes
# The IR spells dtypes with short MLIR-like names; numpy (with ml_dtypes for the narrow floats) is
# the source of truth for their behaviour.
_DTYPES: dict[str, np.dtype] = {
    "bool": np.dtype(np.bool_),
    "i8": np.dtype(np.int8), "i16": np.dtype(np.int16), "i32": np.dtype(np.int32), "i64": np.dtype(np.int64),
    "u8": np.dtype(np.uint8), "u16": np.dtype(np.uint16), "u32": np.dtype(np.uint32), "u64": np.dtype(np.uint64),
    "bf16": np.dtype(ml_dtypes.bfloat16), "f16": np.dtype(np.float16),
    "f32": np.dtype(np.float32), "f64": np.dtype(np.float64),
    "c64": np.dtype(np.complex64), "c128": np.dtype(np.complex128),
    # fp8 (jax's float8_e4m3fn / float8_e5m2): storage formats for quantized dots
    "f8e4m3fn": np.dtype(ml_dtypes.float8_e4m3fn), "f8e5m2": np.dtype(ml_dtypes.float8_e5m2),
}
_NAMES: dict[np.dtype, str] = {v: k for k, v in _DTYPES.items()}
DTYPE_NAMES = tuple(_DTYPES)


def dtype_name(dtype: object) -> str:
    """The IR name (``"f32"``) of anything numpy understands as a dtype, or of an IR name."""
    if isinstance(dtype, str) and dtype in _DTYPES:
        return dtype
    try:  # np.dtype objects and scalar types seen before (the tracer asks for every operand)
        name = _NAME_OF.get(dtype)
    except TypeError:  # unhashable: not a dtype
        name = None
    if name is not None:
        return name
    try:
        with warnings.catch_warnings():  # numpy deprecates some aliases ("a"); they are refused anyway
            warnings.simplefilter("ignore", DeprecationWarning)
            name = _NAMES[np.dtype(dtype)]
    except (KeyError, TypeError) as e:
        raise TypeError(f"unsupported dtype {dtype!r}; supported: {', '.join(_DTYPES)}") from e
    if isinstance(dtype, (np.dtype, type)) and len(_NAME_OF) < 256:
        _NAME_OF[dtype] = name
    return name


_NAME_OF: dict[object, str] = dict(_NAMES)


def to_numpy_dtype(name: str) -> np.dtype:
    return _DTYPES[name]


def is_float(name: str) -> bool:
    return name in ("bf16", "f16", "f32", "f64", "f8e4m3fn", "f8e5m2")


def is_complex(name: str) -> bool:
    return name in ("c64", "c128")


def is_inexact(name: str) -> bool:
    return is_float(name) or is_complex(name)


def is_integer(name: str) -> bool:
    return name[0] in "iu"


def is_signed(name: str) -> bool:
    return name[0] == "i" or is_inexact(name)


def bit_width(name: str) -> int:
    return 1 if name == "bool" else _DTYPES[name].itemsize * 8


# ---------------------------------------------------------------------------------------- mesh/sharding
@dataclass(frozen=True, slots=True)
class Mesh:
    """A logical device mesh: ordered (name, size) pairs, e.g. ``Mesh((("data", 4), ("model", 2)))``."""

    axes: tuple[tuple[str, int], ...]

    def __post_init__(self):
        names = [n for n, _ in self.axes]
        if len(set(names)) != len(names):
            raise ShardingError(f"mesh axis names must be unique, got {names}")
        for name, size in self.axes:
            if not isinstance(size, int) or size < 1:
                raise ShardingError(f"mesh axis {name!r} must have a positive size, got {size!r}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.axes)

    @property
    def shape(self) -> dict[str, int]:
        return dict(self.axes)

    @property
    def size(self) -> int:
        return int(np.prod([s for _, s in self.axes], dtype=np.int64))

    def __str__(self) -> str:
        return "<" + ", ".join(f"{format_axis_name(n)}={s}" for n, s in self.axes) + ">"


# One entry per tensor axis: the mesh axes that split it (empty: replicated along every mesh axis).
Sharding = tuple[tuple[str, ...], ...]


# -------------------------------------------------------------------------------------------- tensors
_MAX_ELEMENTS = 2 ** 59  # below this, no dtype (at most 16 bytes) reaches 2**63 bytes
@dataclass(frozen=True, slots=True)
class TensorType:
    """The type of an IR value: a dtype and ordered named axes, plus its sharding once partitioned.

    Storage order is the order of ``axes``; names are unique within a type.
    """

    dtype: str
    axes: tuple[Axis, ...]
    sharding: Sharding | None = field(default=None)
    # the axis names, computed once (compilers ask for them many times per op); not part of the type
    _names: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False, hash=False)
    _hash: int | None = field(default=None, init=False, repr=False, compare=False, hash=False)

    def __hash__(self) -> int:  # cached: passes key dicts by types (CSE hashes every result type)
        h = self._hash
        if h is None:
            h = hash((self.dtype, self.axes, self.sharding))
            object.__setattr__(self, "_hash", h)
        return h

    def __reduce__(self):  # the cached hash and names stay out of pickles (string hashes vary by process)
        return (TensorType, (self.dtype, self.axes, self.sharding))

    def __post_init__(self):
        names = tuple([a.name for a in self.axes])
        object.__setattr__(self, "_names", names)
        elements = 1
        if len(set(names)) != len(names):
            dup = next(n for i, n in enumerate(names) if n in names[:i])
            raise AxisError(f"duplicate axis {dup!r} in {format_axes(self.axes)}")
        for a in self.axes:
            elements *= a.size
        if elements >= _MAX_ELEMENTS and elements * getattr(_DTYPES.get(self.dtype), "itemsize", 16) >= 2 ** 63:
            raise AxisError(f"a {self.dtype} array with axes {format_axes(self.axes)} has {elements} elements, "
                            f"more bytes than a 64-bit size can hold; XLA cannot represent it")
        if self.sharding is not None and len(self.sharding) != len(self.axes):
            raise ShardingError(f"sharding {self.sharding} does not match axes {format_axes(self.axes)}")

    @property
    def names(self) -> tuple[str, ...]:
        return self._names

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(a.size for a in self.axes)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def axis(self, name: str) -> Axis | None:
        for a in self.axes:
            if a.name == name:
                return a
        return None

    def index(self, name: str) -> int:
        for i, a in enumerate(self.axes):
            if a.name == name:
                return i
        raise AxisError(f"axis {name!r} not in {format_axes(self.axes)}")

    def with_sharding(self, sharding: Sharding | None) -> "TensorType":
        return TensorType(self.dtype, self.axes, sharding)

    def unsharded(self) -> "TensorType":
        return self if self.sharding is None else TensorType(self.dtype, self.axes)

    def mesh_axes_of(self, name: str) -> tuple[str, ...]:
        if self.sharding is None:
            return ()
        return self.sharding[self.index(name)]

    def __str__(self) -> str:
        parts = []
        for i, a in enumerate(self.axes):
            s = str(a)
            if self.sharding is not None and self.sharding[i]:
                mesh_axes = self.sharding[i]
                s += "@" + (format_axis_name(mesh_axes[0]) if len(mesh_axes) == 1
                            else "(" + ", ".join(format_axis_name(m) for m in mesh_axes) + ")")
            parts.append(s)
        return f"{self.dtype}[{', '.join(parts)}]"


def tensor_type(dtype: object, axes: Iterable[Axis] | Mapping[str, int] = ()) -> TensorType:
    if isinstance(axes, Mapping):
        axes = [Axis(n, s) for n, s in axes.items()]
    return TensorType(dtype_name(dtype), tuple(axes))
