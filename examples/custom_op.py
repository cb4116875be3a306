"""A custom op, end to end: ``example.reverse`` flips named axes.

1. The op is a class: its IR name, its attributes and its type rule (which refuses axes the operand
   does not have, naming them with their sizes). Defining it registers it, so its text form parses.
2. A lowering rule says how it becomes StableHLO (``stablehlo.reverse`` over the axes' positions).
3. A public function calls it through ``bind1``: recorded while tracing, compiled and run eagerly.

Run: python examples/custom_op.py
"""

import numpy as np

import named
from named import extend
from named.extend import stablehlo


class Reverse(extend.Op):
    """``example.reverse %x {axes = ["time"]}``: the same array with the named axes flipped."""

    name = "example.reverse"
    attributes = ("axes",)
    num_operands = 1

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        (x,) = operand_types
        axes = attrs["axes"]
        if not isinstance(axes, tuple) or not all(isinstance(n, str) for n in axes):
            raise extend.VerifyError(f"{cls.name}: 'axes' must be a list of axis names, got {axes!r}")
        for n in axes:
            if x.axis(n) is None:
                raise extend.AxisError(f"{cls.name}: cannot reverse axis {n!r}: the operand has axes "
                                       f"{extend.format_axes(x.axes)}")
        return (x,)


@extend.register_lowering(Reverse)
def _lower_reverse(ctx, x):
    (src,) = ctx.in_types
    return stablehlo.reverse(x, [src.index(n) for n in ctx.op.attrs["axes"]])


def reverse(x, axis):
    """Flip ``x`` along ``axis`` (a name, an Axis, or a tuple of them)."""
    names = (axis,) if isinstance(axis, (str, named.Axis)) else tuple(axis)
    return extend.bind1(Reverse, [x], {"axes": tuple(n.name if isinstance(n, named.Axis) else n for n in names)})


@named.compile
def reversed_row_sums(x):
    """Sum over ``feature``, flipped in ``time``: uses the new op between built-in ones."""
    return reverse(x * 2.0, "time").sum("feature")


def main():
    Time, Feature = named.make_axes(time=5, feature=3)
    data = np.arange(15, dtype=np.float32).reshape(5, 3)
    x = named.named(data, (Time, Feature))

    lowered = reversed_row_sums.lower(x)
    text = lowered.as_text("traced")
    print("named IR:")
    print(text)
    assert "example.reverse" in text
    print("the op's text form reads back:", extend.print_function(extend.parse(text)) == text)

    stablehlo_text = lowered.as_text("stablehlo")
    print("StableHLO:", next(line.strip() for line in stablehlo_text.splitlines() if "stablehlo.reverse" in line))

    compiled = np.asarray(reversed_row_sums(x))
    eager = np.asarray(reverse(x, Time))
    expected = (data * 2.0)[::-1].sum(axis=1)
    print("compiled:", compiled, " numpy:", expected)
    np.testing.assert_allclose(compiled, expected)
    np.testing.assert_array_equal(eager, data[::-1])

    try:
        reverse(x, "batch")
    except named.AxisError as e:
        print("and the type rule guards it:", str(e).splitlines()[0])
    return compiled


if __name__ == "__main__":
    main()
