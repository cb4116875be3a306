"""The named-axis IR: axes, types, ops (one class each, with its type rule), printer and parser.

This package imports nothing else of ``named``; the compiler and runtime build on it.
"""

from . import ops
from .core import OPS, Block, Function, Location, Op, Value, attr_key, attrs_equal
from .errors import AxisError, NamedError, ParseError, ShardingError, TracerError, VerifyError
from .ops import *  # noqa: F401,F403
from .parser import parse
from .printer import format_attr, print_function
from .types import (DTYPE_NAMES, Axis, Mesh, Sharding, TensorType, dtype_name, format_axes,
                    is_complex, is_float, is_inexact, is_integer, is_signed, tensor_type, to_numpy_dtype)
from .verify import verify_function

__all__ = [
    "OPS", "Block", "Function", "Location", "Op", "Value", "attr_key", "attrs_equal",
    "AxisError", "NamedError", "ParseError", "ShardingError", "TracerError", "VerifyError",
    "parse", "format_attr", "print_function", "DTYPE_NAMES", "Axis", "Mesh", "Sharding", "TensorType",
    "dtype_name", "format_axes", "is_complex", "is_float", "is_inexact", "is_integer", "is_signed",
    "tensor_type", "to_numpy_dtype", "verify_function", "ops",
] + list(ops.elementwise.__all__) + list(ops.creation.__all__) + list(ops.reduce.__all__) + list(ops.shape.__all__)
