"""Elementwise ops: unary maps, binary maps with broadcasting by name, compare, select, convert.

Operands of a binary op must share a dtype (the tracer promotes first, as jax.numpy does); their axes
broadcast by name (:func:`broadcast_axes`).
"""

from __future__ import annotations

from typing import Any, Mapping

from ..errors import VerifyError
from ..core import Op
from ..types import (TensorType, bit_width, is_complex, is_float, is_inexact, is_integer, dtype_name)
from .broadcast import broadcast_axes

__all__ = ["UnaryOp", "BinaryOp", "Compare", "Select", "Convert", "BitcastConvert", "MakeComplex", "UNARY_OPS",
           "BINARY_OPS", "COMPARISON_DIRECTIONS"]


# Domains: which operand dtypes an op accepts.
def _any(d: str) -> bool: return True
def _numeric(d: str) -> bool: return d != "bool"
def _inexact(d: str) -> bool: return is_inexact(d)
def _real_float(d: str) -> bool: return is_float(d)
def _int_or_bool(d: str) -> bool: return d == "bool" or is_integer(d)
def _integer(d: str) -> bool: return is_integer(d)
def _complex(d: str) -> bool: return is_complex(d)
def _real_numeric(d: str) -> bool: return d != "bool" and not is_complex(d)  # XLA crashes on complex rem
def _not_complex(d: str) -> bool: return not is_complex(d)  # XLA cannot max/min-reduce complex values


_DOMAIN_TEXT = {_any: "any dtype", _numeric: "a numeric dtype", _inexact: "a floating or complex dtype",
                _real_float: "a floating dtype", _int_or_bool: "an integer or bool dtype",
                _integer: "an integer dtype", _complex: "a complex dtype",
                _real_numeric: "an integer or floating dtype (not complex)",
                _not_complex: "a real, integer or bool dtype (not complex)"}


def _check_domain(op_name: str, domain, dtype: str) -> None:
    if not domain(dtype):
        raise VerifyError(f"{op_name} needs {_DOMAIN_TEXT[domain]}, got {dtype}")


class UnaryOp(Op, register=False):
    """``y = f(x)`` elementwise; ``domain`` limits the dtype, ``result_dtype`` fixes it (e.g. bool)."""

    num_operands = 1
    domain: Any = staticmethod(_any)
    result_dtype: str | None = None

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        (x,) = operand_types
        _check_domain(cls.name, cls.domain, x.dtype)
        if cls.result_dtype == "real":  # real/imag/abs of complex
            dtype = {"c64": "f32", "c128": "f64"}.get(x.dtype, x.dtype)
        else:
            dtype = cls.result_dtype or x.dtype
        return (TensorType(dtype, x.axes),)


class BinaryOp(Op, register=False):
    """``z = f(x, y)`` elementwise with broadcasting by name; both operands share one dtype."""

    num_operands = 2
    domain: Any = staticmethod(_any)

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        x, y = operand_types
        if x.dtype != y.dtype:
            raise VerifyError(f"{cls.name}: operand dtypes differ ({x.dtype} vs {y.dtype}); convert first")
        _check_domain(cls.name, cls.domain, x.dtype)
        return (TensorType(x.dtype, broadcast_axes(cls.name, operand_types)),)


def _define(base, cls_name: str, op_name: str, domain, result_dtype=None):
    body = {"name": f"named.{op_name}", "domain": staticmethod(domain), "__module__": __name__,
            "__doc__": f"The ``named.{op_name}`` op."}
    if result_dtype is not None:
        body["result_dtype"] = result_dtype
    cls = type(cls_name, (base,), body)
    globals()[cls_name] = cls
    __all__.append(cls_name)
    return cls


# name in the IR -> (class name, domain, fixed result dtype)
_UNARY_TABLE = {
    "abs": ("Abs", _numeric, "real"), "neg": ("Neg", _numeric, None), "sign": ("Sign", _numeric, None),
    "exp": ("Exp", _inexact, None), "expm1": ("Expm1", _inexact, None), "log": ("Log", _inexact, None),
    "log1p": ("Log1p", _inexact, None), "sqrt": ("Sqrt", _inexact, None), "rsqrt": ("Rsqrt", _inexact, None),
    "cbrt": ("Cbrt", _real_float, None), "sin": ("Sin", _inexact, None), "cos": ("Cos", _inexact, None),
    "tan": ("Tan", _inexact, None), "tanh": ("Tanh", _inexact, None), "logistic": ("Logistic", _inexact, None),
    "asin": ("Asin", _inexact, None), "acos": ("Acos", _inexact, None), "atan": ("Atan", _inexact, None),
    "sinh": ("Sinh", _inexact, None), "cosh": ("Cosh", _inexact, None), "asinh": ("Asinh", _inexact, None),
    "acosh": ("Acosh", _inexact, None), "atanh": ("Atanh", _inexact, None),
    "erf": ("Erf", _real_float, None), "erf_inv": ("ErfInv", _real_float, None),
    "lgamma": ("Lgamma", _real_float, None), "digamma": ("Digamma", _real_float, None),
    "floor": ("Floor", _real_float, None), "ceil": ("Ceil", _real_float, None),
    "round_even": ("RoundEven", _real_float, None), "round_afz": ("RoundAwayFromZero", _real_float, None),
    "is_finite": ("IsFinite", _real_float, "bool"), "is_inf": ("IsInf", _real_float, "bool"),
    "is_pos_inf": ("IsPosInf", _real_float, "bool"), "is_neg_inf": ("IsNegInf", _real_float, "bool"),
    "not": ("Not", _int_or_bool, None), "popcnt": ("Popcnt", _integer, None),
    "real": ("Real", _complex, "real"), "imag": ("Imag", _complex, "real"), "conj": ("Conj", _complex, None),
}
UNARY_OPS: dict[str, type[UnaryOp]] = {
    name: _define(UnaryOp, cls_name, name, domain, result) for name, (cls_name, domain, result) in _UNARY_TABLE.items()
}

_BINARY_TABLE = {
    "add": ("Add", _any), "sub": ("Sub", _numeric), "mul": ("Mul", _any), "div": ("Div", _numeric),
    "rem": ("Rem", _real_numeric), "pow": ("Pow", _numeric), "max": ("Max", _any), "min": ("Min", _any),
    "atan2": ("Atan2", _inexact), "and": ("And", _int_or_bool), "or": ("Or", _int_or_bool),
    "xor": ("Xor", _int_or_bool), "shift_left": ("ShiftLeft", _integer),
    "shift_right_arithmetic": ("ShiftRightArithmetic", _integer),
    "shift_right_logical": ("ShiftRightLogical", _integer), "next_after": ("NextAfter", _real_float),
}
BINARY_OPS: dict[str, type[BinaryOp]] = {
    name: _define(BinaryOp, cls_name, name, domain) for name, (cls_name, domain) in _BINARY_TABLE.items()
}

COMPARISON_DIRECTIONS = ("EQ", "NE", "LT", "LE", "GT", "GE")


class Compare(Op):
    """``named.compare {direction = "LT"}``: elementwise comparison, broadcasting by name, to bool."""

    name = "named.compare"
    attributes = ("direction",)
    num_operands = 2

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        x, y = operand_types
        if attrs["direction"] not in COMPARISON_DIRECTIONS:
            raise VerifyError(f"{cls.name}: direction must be one of {COMPARISON_DIRECTIONS}, got {attrs['direction']!r}")
        if x.dtype != y.dtype:
            raise VerifyError(f"{cls.name}: operand dtypes differ ({x.dtype} vs {y.dtype}); convert first")
        return (TensorType("bool", broadcast_axes(cls.name, operand_types)),)


class MakeComplex(Op):
    """``named.complex %re, %im``: a complex value from its real and imaginary parts (f32 -> c64,
    f64 -> c128), broadcasting by name; exact for every float, infinities and NaN included."""

    name = "named.complex"
    num_operands = 2

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        x, y = operand_types
        if x.dtype != y.dtype or x.dtype not in ("f32", "f64"):
            raise VerifyError(f"{cls.name}: both parts must be f32 or both f64, got {x.dtype} and {y.dtype}")
        return (TensorType({"f32": "c64", "f64": "c128"}[x.dtype], broadcast_axes(cls.name, operand_types)),)


class Select(Op):
    """``named.select %pred, %on_true, %on_false``: ``where`` with broadcasting by name."""

    name = "named.select"
    num_operands = 3

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        pred, a, b = operand_types
        if pred.dtype != "bool":
            raise VerifyError(f"{cls.name}: the condition must be bool, got {pred.dtype}")
        if a.dtype != b.dtype:
            raise VerifyError(f"{cls.name}: branch dtypes differ ({a.dtype} vs {b.dtype}); convert first")
        return (TensorType(a.dtype, broadcast_axes(cls.name, operand_types)),)


class Convert(Op):
    """``named.convert {dtype = "f32"}``: elementwise dtype conversion."""

    name = "named.convert"
    attributes = ("dtype",)
    num_operands = 1

    @classmethod
    def type_rule(cls, operand_types, attrs: Mapping[str, Any], regions=()):
        (x,) = operand_types
        return (TensorType(_target_dtype(cls.name, attrs), x.axes),)


def _target_dtype(op_name: str, attrs: Mapping[str, Any]) -> str:
    """The ``dtype`` attribute of a conversion, as a dtype name (a VerifyError if it names none)."""
    try:
        return dtype_name(attrs["dtype"])
    except TypeError as e:
        raise VerifyError(f"{op_name}: {e}") from None


class BitcastConvert(Op):
    """``named.bitcast_convert {dtype = "i32"}``: each element's bits read as another dtype of the
    same width (how the sign bit of a NaN is seen)."""

    name = "named.bitcast_convert"
    attributes = ("dtype",)
    num_operands = 1

    @classmethod
    def type_rule(cls, operand_types, attrs: Mapping[str, Any], regions=()):
        (x,) = operand_types
        dtype = _target_dtype(cls.name, attrs)
        if "bool" in (x.dtype, dtype) or bit_width(x.dtype) != bit_width(dtype):
            raise VerifyError(f"{cls.name}: {x.dtype} and {dtype} must be non-bool dtypes of one bit width")
        return (TensorType(dtype, x.axes),)
