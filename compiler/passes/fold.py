"""Constant folding: evaluate an op with NumPy when its operands are ``named.full``/``named.constant``.

Only operations whose NumPy result is bit-identical to what XLA computes (NaNs aside: their sign
and payload may differ, as they may between XLA's backends) are folded: exactly
rounded float arithmetic (add, sub, mul, div, fmod, sqrt, neg, abs, floor, ceil, round-to-even),
comparisons, select, integer and bool logic, integer max/min, and conversions that are exact or
rounded to nearest. Transcendentals, float max/min (the sign of zero), integer division and
out-of-range float-to-int conversions are left to XLA.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from named.dialect import (BINARY_OPS, UNARY_OPS, Broadcast, Compare, Constant, Convert, Full, Op, Rename,
                           Reshape, Select, TensorType, Transpose, Value, is_complex, is_float, is_integer,
                           to_numpy_dtype)

_FLOAT = "float"
_INT = "int"      # signed or unsigned integers
_LOGIC = "logic"  # integers and bool

# op name -> (numpy function, the operand dtype classes it folds for)
_UNARY: dict[str, tuple[Callable, tuple[str, ...]]] = {
    "neg": (np.negative, (_FLOAT, _INT)), "abs": (np.abs, (_FLOAT, _INT)), "sqrt": (np.sqrt, (_FLOAT,)),
    "floor": (np.floor, (_FLOAT,)), "ceil": (np.ceil, (_FLOAT,)), "round_even": (np.rint, (_FLOAT,)),
    "is_finite": (np.isfinite, (_FLOAT,)), "not": (np.invert, (_LOGIC,)),
}
_BINARY: dict[str, tuple[Callable, tuple[str, ...]]] = {
    "add": (np.add, (_FLOAT, _INT)), "sub": (np.subtract, (_FLOAT, _INT)), "mul": (np.multiply, (_FLOAT, _INT)),
    "div": (np.true_divide, (_FLOAT,)), "rem": (np.fmod, (_FLOAT,)),
    "max": (np.maximum, (_INT,)), "min": (np.minimum, (_INT,)),
    "and": (np.bitwise_and, (_LOGIC,)), "or": (np.bitwise_or, (_LOGIC,)), "xor": (np.bitwise_xor, (_LOGIC,)),
}
_COMPARE = {"EQ": np.equal, "NE": np.not_equal, "LT": np.less, "LE": np.less_equal, "GT": np.greater,
            "GE": np.greater_equal}
_UNARY_BY_CLASS = {UNARY_OPS[n]: f for n, f in _UNARY.items()}
_BINARY_BY_CLASS = {BINARY_OPS[n]: f for n, f in _BINARY.items()}


def _kind_ok(dtype: str, kinds: tuple[str, ...]) -> bool:
    if is_float(dtype):
        return _FLOAT in kinds
    if is_integer(dtype):
        return _INT in kinds or _LOGIC in kinds
    if dtype == "bool":
        return _LOGIC in kinds
    return False  # complex: XLA's algorithms need not match NumPy's


def constant_data(value: Value) -> "tuple[np.ndarray, bool] | None":
    """(data in ``value``'s storage order, whether it is a fill) if ``value`` is a folded constant."""
    op = value.owner
    if isinstance(op, Full):
        try:
            return np.asarray(op.attrs["value"], to_numpy_dtype(value.type.dtype)), True
        except (OverflowError, ValueError, TypeError):
            return None
    if isinstance(op, Constant):
        return op.attrs["value"], False
    return None


def _align(data: np.ndarray, src: TensorType, dst: TensorType) -> np.ndarray:
    """``data`` (stored in ``src`` order) transposed and reshaped to broadcast against ``dst``."""
    if data.ndim == 0:
        return data
    order = sorted(range(len(src.axes)), key=lambda i: dst.index(src.axes[i].name))
    data = data.transpose(order)
    return data.reshape([a.size if src.axis(a.name) is not None else 1 for a in dst.axes])


def evaluate(op: Op, operands: list[np.ndarray]) -> np.ndarray | None:
    """The value of ``op`` on operand data (each in its operand's storage order), or None when the op
    is not one that folds exactly. The result is in the result type's storage order (or 0-d for a
    fill)."""
    out = op.results[0].type
    in_types = [v.type for v in op.operands]
    dtype = in_types[0].dtype if in_types else out.dtype
    aligned = [_align(d, t, out) for d, t in zip(operands, in_types)]
    cls = type(op)
    with np.errstate(all="ignore"):
        if cls in _UNARY_BY_CLASS:
            fn, kinds = _UNARY_BY_CLASS[cls]
            result = fn(aligned[0]) if _kind_ok(dtype, kinds) else None
        elif cls in _BINARY_BY_CLASS:
            fn, kinds = _BINARY_BY_CLASS[cls]
            result = fn(*aligned) if _kind_ok(dtype, kinds) else None
        elif cls is Compare:
            result = None if is_complex(dtype) else _COMPARE[op.attrs["direction"]](*aligned)
        elif cls is Select:
            result = np.where(*aligned)
        elif cls is Convert:
            result = _convert(aligned[0], dtype, out.dtype)
        else:
            return None
    if result is None:
        return None
    result = np.asarray(result)
    want = to_numpy_dtype(out.dtype)
    return result if result.dtype == want else result.astype(want)


def _convert(x: np.ndarray, src: str, dst: str) -> np.ndarray | None:
    if is_complex(src) or is_complex(dst):
        return None
    if dst == "bool":
        return x != 0
    if is_integer(dst) and is_float(src):
        info = np.iinfo(to_numpy_dtype(dst))
        x64 = x.astype(np.float64)
        if not np.all(np.isfinite(x64)) or np.any(x64 < info.min) or np.any(x64 > info.max):
            return None  # saturation and NaN handling are XLA's business
        return np.trunc(x64).astype(to_numpy_dtype(dst))
    return x.astype(to_numpy_dtype(dst))


def reshape_data(op: Op, data: np.ndarray) -> np.ndarray:
    """The data of a shape op's result (Transpose, Broadcast, Rename, Reshape) from its operand's."""
    src, out = op.operands[0].type, op.results[0].type
    if isinstance(op, Transpose):
        return data.transpose([src.index(n) for n in out.names])
    if isinstance(op, Rename):
        return data
    if isinstance(op, Reshape):
        return data.reshape(out.shape)
    if isinstance(op, Broadcast):
        return np.broadcast_to(_align(data, src, out), out.shape)
    raise TypeError(f"{op.name} is not a shape op")


SHAPE_OPS = (Transpose, Broadcast, Rename, Reshape)
FOLDABLE = tuple(_UNARY_BY_CLASS) + tuple(_BINARY_BY_CLASS) + (Compare, Select, Convert)


def python_scalar(value: np.ndarray):
    """A 0-d array as the Python number a ``named.full`` attribute holds."""
    item = value.item()
    if isinstance(item, (bool, int, float)):
        return item
    return float(item)  # bf16 and friends


__all__ = ["evaluate", "constant_data", "reshape_data", "python_scalar", "SHAPE_OPS", "FOLDABLE"]
