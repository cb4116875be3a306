"""Extending the compiler: user passes in named.compile, lowering rules added and overridden, a new op
defined by a user (type rule, text form, lowering, eager and traced), and the examples that show it."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import named
from named import extend
from named.compiler import RULES, register_lowering
from named.dialect import OPS, Exp, Expm1, Sub, Tanh, VerifyError

ROOT = Path(__file__).resolve().parent.parent


# -------------------------------------------------------------------------------- a user-defined op
class Clamp(extend.Op):
    """``test.clamp %x {low = 0.0, high = 1.0, axes = [...]}``: clip, and broadcast to ``axes`` by name."""

    name = "test.clamp"
    attributes = ("low", "high", "axes")
    num_operands = 1

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        (x,) = operand_types
        if not all(isinstance(attrs[k], float) for k in ("low", "high")) or attrs["low"] > attrs["high"]:
            raise extend.VerifyError(f"{cls.name}: needs floats low <= high, got {attrs['low']!r}, {attrs['high']!r}")
        target = extend.TensorType(x.dtype, attrs["axes"])
        for a in x.axes:
            t = target.axis(a.name)
            if t is None or t.size != a.size:
                raise extend.AxisError(f"{cls.name}: axis {a.name!r} of size {a.size} of the operand "
                                       f"{extend.format_axes(x.axes)} is not in {extend.format_axes(target.axes)}")
        return (target,)


@register_lowering(Clamp)
def _lower_clamp(ctx, x):
    src, out = ctx.in_types[0], ctx.out_type
    low = extend.scalar_constant(ctx.op.attrs["low"], src.dtype)
    high = extend.scalar_constant(ctx.op.attrs["high"], src.dtype)
    return extend.stablehlo.clamp(low, extend.broadcast_to(x, src, out), high)


def clamp(x, low, high, axes=None):
    return extend.bind1(Clamp, [x], {"low": float(low), "high": float(high), "axes": tuple(axes or x.axes)})


def test_a_user_op_is_registered_and_its_text_round_trips():
    assert OPS["test.clamp"] is Clamp
    text = ('func @f(%0: f32[a=2]) -> (f32[b=3, a=2]) {\n'
            '  %1 = test.clamp %0 {low = -1.0, high = 0.5, axes = [b=3, a=2]} : f32[b=3, a=2]\n'
            '  return %1\n'
            '}\n')
    assert extend.print_function(extend.parse(text)) == text
    with pytest.raises(named.ParseError, match="test.clamp: needs floats low <= high"):
        extend.parse(text.replace("low = -1.0", "low = 2.0"))


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_a_user_op_runs_eagerly_and_compiled_like_numpy(dtype):
    A, B = named.make_axes(a=4, b=3)
    data = np.linspace(-2, 2, 4).astype(dtype)
    x = named.named(data, (A,))
    eager = clamp(x, -1, 0.5, (B, A))
    compiled = named.compile(lambda x: clamp(x * 2, -1, 0.5, (B, A)))(x)
    expected = np.broadcast_to(np.clip(data, -1, 0.5), (3, 4))
    for result, scale in ((eager, 1), (compiled, 2)):
        assert result.axes == (B, A) and result.dtype == dtype
        np.testing.assert_allclose(np.asarray(result), np.broadcast_to(np.clip(data * scale, -1, 0.5), (3, 4)),
                                   rtol=1e-3)
    np.testing.assert_array_equal(np.asarray(eager), expected)


def test_a_user_op_type_error_names_the_axes_and_the_users_line():
    A, B = named.make_axes(a=4, b=3)
    x = named.ones((A,))
    with pytest.raises(named.AxisError) as info:
        named.compile(lambda x: clamp(x, 0, 1, (B,)))(x)
    message = str(info.value)
    assert "axis 'a' of size 4" in message and "[b=3]" in message
    assert "test_extension.py:" in message


def test_an_op_without_a_lowering_is_a_clear_error():
    class Nothing(extend.Op):
        name = "test.no_lowering"
        num_operands = 1

        @classmethod
        def type_rule(cls, operand_types, attrs, regions=()):
            return operand_types

    try:
        f = named.compile(lambda x: extend.bind1(Nothing, [x]))
        with pytest.raises(VerifyError, match="no lowering rule for test.no_lowering.*register_lowering"):
            f(named.ones(named.make_axes(a=2)))
    finally:
        OPS.pop("test.no_lowering")


def test_op_names_are_unique():
    with pytest.raises(ValueError, match="op 'test.clamp' is already defined by Clamp"):
        class Other(extend.Op):
            name = "test.clamp"


# ---------------------------------------------------------------------------------------- lowerings
@pytest.fixture
def restore_tanh_lowering():
    original = RULES[Tanh]
    yield
    RULES[Tanh] = original


def test_registering_a_second_lowering_needs_override(restore_tanh_lowering):
    with pytest.raises(ValueError, match=r"Tanh \(named.tanh\) already has a lowering rule; pass override=True"):
        register_lowering(Tanh)(lambda ctx, x: x)


def test_an_overriding_lowering_is_visible_in_the_stablehlo_and_runs(restore_tanh_lowering):
    @named.compiler.register_lowering(Tanh, override=True)
    def tanh_via_logistic(ctx, x):  # tanh(x) = 2 * logistic(2x) - 1
        two = extend.broadcast_to(extend.scalar_constant(2.0, ctx.out_type.dtype),
                                  extend.TensorType(ctx.out_type.dtype, ()), ctx.out_type)
        one = extend.broadcast_to(extend.scalar_constant(1.0, ctx.out_type.dtype),
                                  extend.TensorType(ctx.out_type.dtype, ()), ctx.out_type)
        s = extend.stablehlo.logistic(extend.stablehlo.multiply(two, x))
        return extend.stablehlo.subtract(extend.stablehlo.multiply(two, s), one)

    A = named.Axis("a", 5)
    data = np.linspace(-3, 3, 5).astype(np.float32)
    f = named.compile(lambda x: named.tanh(x))
    text = f.lower(named.named(data, (A,))).as_text("stablehlo")
    assert "stablehlo.logistic" in text and "stablehlo.tanh" not in text
    np.testing.assert_allclose(np.asarray(f(named.named(data, (A,)))), np.tanh(data), rtol=1e-5, atol=1e-6)


def test_the_builtin_lowering_is_back_after_the_override():
    text = named.compile(lambda x: named.tanh(x)).lower(named.spec({"a": 2})).as_text("stablehlo")
    assert "stablehlo.tanh" in text


# ------------------------------------------------------------------------------------- user passes
class ExpMinusOne(extend.RewritePattern):
    op_types = (Sub,)

    def match_and_rewrite(self, op, rewriter):
        exp, one = op.operands
        if isinstance(exp.owner, Exp) and extend.full_value(one) == 1 and op.result.type == exp.type:
            rewriter.replace_op(op, rewriter.create(Expm1, exp.owner.operands))


@dataclass(frozen=True)
class Expm1Rewrite(extend.RewritePass):
    name = "test-expm1"

    def patterns(self):
        return [ExpMinusOne()]


def test_compile_runs_user_passes_and_their_effect_shows_in_ir_and_results():
    A = named.Axis("a", 3)
    data = np.array([1e-8, 1e-4, 1.0], np.float32)
    f = named.compile(lambda x: named.exp(x) - 1, passes=[Expm1Rewrite()])
    lowered = f.lower(named.named(data, (A,)))
    assert "named.sub" in lowered.as_text("traced")
    optimized = lowered.as_text("optimized")
    assert "named.expm1" in optimized and "named.sub" not in optimized and "named.exp " not in optimized
    assert "stablehlo.exponential_minus_one" in lowered.as_text("stablehlo")
    np.testing.assert_allclose(np.asarray(f(named.named(data, (A,)))), np.expm1(data.astype(np.float64)), rtol=1e-6)


def test_a_pattern_that_does_not_apply_leaves_the_program_alone():
    f = named.compile(lambda x: named.exp(x) - 2, passes=[Expm1Rewrite()])
    assert "named.sub" in f.lower(named.spec({"a": 3})).as_text("optimized")


def test_extend_exports_what_an_extension_needs():
    for name in ("Op", "bind", "bind1", "register_lowering", "RewritePattern", "RewritePass", "Pass",
                 "stablehlo", "parse", "TensorType", "AxisError"):
        assert hasattr(extend, name), name
    assert extend.bind1 is named.core.bind1 and extend.Pass is named.compiler.Pass


# ---------------------------------------------------------------------------------------- examples
def run_example(name: str) -> str:
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / name)], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_custom_pass_example_fuses_and_improves_precision():
    out = run_example("custom_pass.py")
    assert "named.expm1" in out and "expm1-fusion" not in out.split("IR after")[0]
    lines = {line.split(":")[0].strip(): float(line.rsplit(" ", 1)[1]) for line in out.splitlines()
             if "worst relative error" in line}
    assert lines["expm1(x)"] < 1e-6 < 1e-2 < lines["exp(x) - 1"]


def test_custom_op_example_defines_lowers_and_checks_its_op():
    out = run_example("custom_op.py")
    assert "example.reverse %2 {axes = [\"time\"]}" in out
    assert "the op's text form reads back: True" in out
    assert "stablehlo.reverse" in out
    assert "cannot reverse axis 'batch'" in out and "[time=5, feature=3]" in out
