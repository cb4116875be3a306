"""The MLIR-like text form of the named IR.

    func @mlp(%0: f32[batch=8, embed=4], %1: f32[embed=4, hidden=16]) -> (f32[batch=8]) {
      %2 = named.dot %0, %1 {contract = ["embed"]} : f32[batch=8, hidden=16]
      ...
      return %5
    }

Every op prints in one generic form (results, op name, operands, attributes, result types, regions,
location), so :func:`named.dialect.parse` reads back whatever is printed.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from .core import Block, Function, Op, Value
from .types import Axis, dtype_name, format_axis_name


def format_attr(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return _format_float(float(value))
    if isinstance(value, (complex, np.complexfloating)):
        return _format_complex(complex(value))
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, Axis):
        return str(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(format_attr(v) for v in value) + "]"
    if isinstance(value, np.ndarray):
        return f"array<{dtype_name(value.dtype)}: {_format_array(value)}>"
    raise TypeError(f"attribute value {value!r} of type {type(value).__name__} has no text form")


def _format_float(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(x)


def _format_complex(z: complex) -> str:
    return f"complex({_format_float(z.real)}, {_format_float(z.imag)})"


def _format_array(a: np.ndarray) -> str:
    if a.ndim == 0:
        v = a.item()
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, complex):
            return _format_complex(v)
        return _format_float(float(v))
    return "[" + ", ".join(_format_array(a[i]) for i in range(a.shape[0])) + "]"


class _Namer:
    def __init__(self):
        self.names: dict[int, str] = {}

    def define(self, v: Value) -> str:
        name = f"%{len(self.names)}"
        self.names[id(v)] = name
        return name

    def __getitem__(self, v: Value) -> str:
        try:
            return self.names[id(v)]
        except KeyError:
            return "%<undefined>"


def print_function(fn: Function, *, locations: bool = False) -> str:
    """The text of ``fn``; with ``locations``, each op's user source line as ``loc("file":line)``."""
    namer = _Namer()
    args = ", ".join(f"{namer.define(a)}: {a.type}" for a in fn.args)
    results = ", ".join(str(r.type) for r in fn.results)
    mesh = f" on mesh{fn.mesh}" if fn.mesh is not None else ""
    lines = [f"func @{format_axis_name(fn.name)}({args}) -> ({results}){mesh} {{"]
    _print_ops(fn.body, namer, lines, "  ", locations)
    lines.append(f"  return {', '.join(namer[r] for r in fn.results)}".rstrip())
    lines.append("}")
    return "\n".join(lines) + "\n"


def _print_ops(block: Block, namer: _Namer, lines: list[str], indent: str, locations: bool) -> None:
    for op in block.ops:
        lines.append(indent + _print_op(op, namer, indent, locations))


def _print_op(op: Op, namer: _Namer, indent: str, locations: bool) -> str:
    operands = ", ".join(namer[v] for v in op.operands)
    text = f"{op.name} {operands}".rstrip()
    if op.attrs:
        ordered = [k for k in op.attributes if k in op.attrs] + sorted(k for k in op.attrs if k not in op.attributes)
        text += " {" + ", ".join(f"{k} = {format_attr(op.attrs[k])}" for k in ordered) + "}"
    types = [str(r.type) for r in op.results]
    text += " : " + (types[0] if len(types) == 1 else "(" + ", ".join(types) + ")")
    if op.regions:
        text += " (" + ", ".join(_print_region(r, namer, indent, locations) for r in op.regions) + ")"
    if locations and op.loc is not None:
        where = f"{json.dumps(op.loc.file)}:{op.loc.line}"
        text += f" loc({json.dumps(op.loc.scope)}({where}))" if op.loc.scope else f" loc({where})"
    if op.results:
        text = ", ".join(namer.define(r) for r in op.results) + " = " + text
    return text


def _print_region(block: Block, namer: _Namer, indent: str, locations: bool) -> str:
    args = ", ".join(f"{namer.define(a)}: {a.type}" for a in block.args)
    lines = [f"{{^({args}):"]
    _print_ops(block, namer, lines, indent + "  ", locations)
    lines.append(f"{indent}  yield {', '.join(namer[r] for r in block.results)}".rstrip())
    lines.append(indent + "}")
    return "\n".join(lines)
