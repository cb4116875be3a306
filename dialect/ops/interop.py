"""Foreign code inside the named IR: ``named.call_jax`` carries a StableHLO module that jax lowered.

The op is opaque to the named passes: it states the exact types its operands must have (the
positional signature the module was lowered for, in each operand's storage order) and the types of
its results, and it carries the module text. The lowering embeds that module as private functions
and calls it; the IR text keeps everything needed to do so, so a printed program parses back,
verifies and lowers without the Python function that produced it.
"""

from __future__ import annotations

from ..core import Op
from ..errors import VerifyError
from ..types import DTYPE_NAMES, Axis, TensorType, format_axes

__all__ = ["CallJax", "call_jax_types"]


def call_jax_types(op_name: str, axes, dtypes, what: str) -> tuple[TensorType, ...]:
    """The tensor types described by a pair of ``*_axes`` / ``*_dtypes`` attributes."""
    if not isinstance(axes, tuple) or not isinstance(dtypes, tuple) or len(axes) != len(dtypes):
        raise VerifyError(f"{op_name}: {what}_axes and {what}_dtypes must be lists of equal length, got "
                          f"{axes!r} and {dtypes!r}")
    types = []
    for i, (one_axes, dtype) in enumerate(zip(axes, dtypes)):
        if not isinstance(one_axes, tuple) or not all(isinstance(a, Axis) for a in one_axes):
            raise VerifyError(f"{op_name}: {what}_axes[{i}] must be a list of axes like [a=2, b=3], "
                              f"got {one_axes!r}")
        if dtype not in DTYPE_NAMES:
            raise VerifyError(f"{op_name}: {what}_dtypes[{i}] must be a dtype name like \"f32\", got {dtype!r}")
        types.append(TensorType(dtype, one_axes))
    return tuple(types)


class CallJax(Op):
    """``named.call_jax %x, %y {callee = "gelu", in_axes = [[b=2, e=3], ...], in_dtypes = ["f32", ...],
    out_axes = [[b=2, e=3]], out_dtypes = ["f32"], module = "module @jit_gelu ..."}``: calls the
    ``@main`` of the StableHLO ``module`` on the operands, positionally, and names the results' axes.

    ``callee`` is a readable name (the Python function's) used for the embedded symbols. Operand
    types must equal ``in_axes``/``in_dtypes`` exactly, axis order included, since the module sees
    plain positional arrays.
    """

    name = "named.call_jax"
    attributes = ("callee", "in_axes", "in_dtypes", "out_axes", "out_dtypes", "module")

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        callee, module = attrs["callee"], attrs["module"]
        if not isinstance(callee, str) or not callee:
            raise VerifyError(f"{cls.name}: callee must be a non-empty string, got {callee!r}")
        if not isinstance(module, str) or "func.func" not in module:
            raise VerifyError(f"{cls.name} ({callee}): module must be the text of a StableHLO module with a "
                              f"@main function")
        expected = call_jax_types(cls.name, attrs["in_axes"], attrs["in_dtypes"], "in")
        if len(operand_types) != len(expected):
            raise VerifyError(f"{cls.name} ({callee}): the module takes {len(expected)} operand(s), "
                              f"got {len(operand_types)}")
        for i, (got, want) in enumerate(zip(operand_types, expected)):
            if got != want:
                raise VerifyError(
                    f"{cls.name} ({callee}): operand #{i} has type {got}, but the module was lowered for "
                    f"{want} (dtype and axes {format_axes(want.axes)} in this order)")
        return call_jax_types(cls.name, attrs["out_axes"], attrs["out_dtypes"], "out")
