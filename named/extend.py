"""Extending `named`: new ops, their lowerings, and passes, from one import.

A new op is a subclass of :class:`Op` with a ``name`` (``"mylib.reverse"``: the namespace before the
dot is free), its ``attributes`` and a ``type_rule``. Defining the class registers it, so the IR
parser reads it back. :func:`register_lowering` says how it becomes StableHLO, and :func:`bind1`
calls it on NamedArrays, from traced code (it is recorded) or eagerly (it is compiled and run)::

    import numpy as np
    import named
    from named import extend
    from named.extend import stablehlo

    class Reverse(extend.Op):
        name = "mylib.reverse"
        attributes = ("axes",)
        num_operands = 1

        @classmethod
        def type_rule(cls, operand_types, attrs, regions=()):
            (x,) = operand_types
            for n in attrs["axes"]:
                if x.axis(n) is None:
                    raise extend.AxisError(f"{cls.name}: no axis {n!r} in {extend.format_axes(x.axes)}")
            return (x,)

    @extend.register_lowering(Reverse)
    def _lower_reverse(ctx, x):
        return stablehlo.reverse(x, [ctx.in_types[0].index(n) for n in ctx.op.attrs["axes"]])

    def reverse(x, axis):
        return extend.bind1(Reverse, [x], {"axes": (axis,)})

``examples/custom_op.py`` runs this end to end; ``examples/custom_pass.py`` writes a pass with
:class:`RewritePattern`. What a pass may assume and must preserve is documented on :class:`Pass`.
"""

from __future__ import annotations

from named.compiler import LoweringContext, register_lowering
from named.compiler.lowering import broadcast_to, mlir, scalar_constant
from named.compiler.lowering.mlir import chlo, ir, stablehlo
from named.compiler.passes import (PASSES, Pass, PassManager, PatternRewriter, RewritePass, RewritePattern,
                                   apply_patterns, full_value, parse_pipeline)
from named.dialect import (OPS, Axis, AxisError, Block, Function, Op, TensorType, Value, VerifyError,
                           format_axes, parse, print_function)
from named.dialect.ops.broadcast import broadcast_axes

from .core import as_named, bind, bind1

__all__ = ["Op", "OPS", "TensorType", "Axis", "Value", "Block", "Function", "AxisError", "VerifyError",
           "format_axes", "broadcast_axes", "parse", "print_function", "bind", "bind1", "as_named",
           "register_lowering", "LoweringContext", "broadcast_to", "scalar_constant", "mlir", "ir",
           "stablehlo", "chlo", "Pass", "PASSES", "PassManager", "RewritePattern", "RewritePass",
           "PatternRewriter", "apply_patterns", "full_value", "parse_pipeline"]
