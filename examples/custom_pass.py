"""A custom pass: rewrite ``exp(x) - 1`` into ``expm1(x)``, which keeps its precision near zero.

The pass is one rewrite pattern, matched on ``named.sub``: when the left operand is made by
``named.exp`` and the right one is a fill of 1, the subtraction is replaced by ``named.expm1`` of
the exponential's operand (the now unused ``named.exp`` is removed afterwards). It runs inside
``named.compile(..., passes=[...])`` and, because defining the class registers it, from the
command line too: ``named opt --load examples/custom_pass.py prog.nir -p expm1-fusion``.

Run: python examples/custom_pass.py
"""

from dataclasses import dataclass

import numpy as np

import named
from named import extend
from named.dialect import Exp, Expm1, Sub


class ExpMinusOne(extend.RewritePattern):
    """``named.sub(named.exp(x), 1)`` -> ``named.expm1(x)`` when the types allow it."""

    op_types = (Sub,)

    def match_and_rewrite(self, op, rewriter):
        exp, one = op.operands
        if not isinstance(exp.owner, Exp) or extend.full_value(one) != 1:
            return
        if op.result.type.unsharded() != exp.type.unsharded():  # the 1 must not add axes
            return
        rewriter.replace_op(op, rewriter.create(Expm1, exp.owner.operands))


@dataclass(frozen=True)
class Expm1Fusion(extend.RewritePass):
    """Rewrite exp(x) - 1 into expm1(x)."""

    name = "expm1-fusion"

    def patterns(self):
        return [ExpMinusOne()]


def growth(rate):
    """Relative growth over one step, written the textbook way."""
    return named.exp(rate) - 1


plain = named.compile(growth)
fused = named.compile(growth, passes=[Expm1Fusion()])


def main():
    Step = named.Axis("step", 4)
    rate = named.named(np.array([1e-8, 1e-6, 1e-3, 0.5], np.float32), (Step,))

    ir = fused.lower(rate).as_text("optimized")
    print("IR after the expm1-fusion pass:")
    print(ir)
    assert "named.expm1" in ir and "named.exp " not in ir and "named.sub" not in ir

    reference = np.expm1(np.asarray(rate, np.float64))
    for label, fn in (("exp(x) - 1", plain), ("expm1(x)  ", fused)):
        got = np.asarray(fn(rate), np.float64)
        error = np.abs(got - reference) / reference
        print(f"{label}: worst relative error {error.max():.1e}")
    fused_error = np.abs(np.asarray(fused(rate), np.float64) - reference) / reference
    plain_error = np.abs(np.asarray(plain(rate), np.float64) - reference) / reference
    assert fused_error.max() < 1e-6, fused_error
    assert plain_error.max() > 1e-2, plain_error  # the textbook form loses everything at 1e-8
    return fused_error.max()


if __name__ == "__main__":
    main()
