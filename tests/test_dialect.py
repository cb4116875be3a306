"""The IR: text form round trips for every op, and malformed IR is rejected with a caret."""

import numpy as np
import pytest

import named
from named import dialect as d
from named.core import bind1
from named.dialect import parse, print_function

A, B, C = named.make_axes(a=3, b=4, c=2)


def _programs():
    """Small programs that between them use every core op (and their attribute kinds)."""
    x = named.spec((A, B))
    i = named.spec((A, B), "i32")
    yield "unary", (lambda x: [getattr(named, n)(x) for n in ("abs", "negative", "sign", "exp", "expm1", "log",
                    "log1p", "sqrt", "rsqrt", "cbrt", "sin", "cos", "tan", "tanh", "arcsin", "arccos", "arctan",
                    "sinh", "cosh", "arcsinh", "arccosh", "arctanh", "erf", "floor", "ceil", "rint", "isfinite",
                    "isinf", "isposinf", "isneginf", "signbit")] + [named.nn.sigmoid(x)]), (x,)
    yield "binary", (lambda x, y: [x + y, x - y, x * y, x / y, named.fmod(x, y), x ** y, named.maximum(x, y),
                                   named.minimum(x, y), named.arctan2(x, y), named.nextafter(x, y),
                                   x < y, x >= y, x == y, named.where(x > 0, x, y)]), (x, named.spec((B,)))
    yield "integer", (lambda i: [i & i, i | 3, i ^ i, i << 1, i >> 1, ~i,
                                 named.right_shift(i.astype("u32"), 1), named.bitwise_count(i)]), (i,)
    yield "bools", (lambda x: [named.logical_not(x > 0), named.logical_and(x > 0, x < 1),
                               named.logical_or(x > 0, x < 1), named.logical_xor(x > 0, x < 1)]), (x,)
    yield "reductions", (lambda x: [x.sum("a"), x.prod(), x.max("b"), x.min(("a", "b")), (x > 0).any("a"),
                                    (x > 0).all(), x.argmax("b"), x.argmin(None)]), (x,)
    yield "shape", (lambda x, w: [named.dot(x, w, axis="b"), x.rename({"a": "q"}), x.rearrange(("b", "a")),
                                  named.broadcast_axis(x, C)]), (x, named.spec((B, C)))
    yield "creation", (lambda: [named.zeros((A,)), named.full((A, B), 2, dtype="i32"), named.arange(A, 1, 2),
                                named.full((), True), named.full((A,), float("nan")),
                                named.full((A,), float("-inf")), named.full((A,), 1e-30)]), ()
    yield "constants", (lambda x: [x * named.named(np.arange(4, dtype=np.float32), "b"),
                                   x + named.named(np.array([True, False, True]), "a").astype("f32")]), (x,)
    yield "convert", (lambda x: [x.astype("bf16"), x.astype("i8"), x.astype(bool), x.astype("f16")]), (x,)
    yield "complex", (lambda z: [named.real(z), named.imag(z), named.conj(z), named.abs(z), named.rint(z)]), \
        (named.spec((A,), "c64"),)
    yield "complex_constants", (lambda z: [z * (1 - 2j), z + named.named(np.array([1j, 2, 3 - 1j], np.complex64), "a")]), \
        (named.spec((A,), "c64"),)
    yield "fft", (lambda x: [named.fft.rfft(x, axis=("b", "a")), named.fft.irfft(named.fft.ifft(x), axis="a")]), (x,)
    # ops with no public wrapper of their own, bound directly
    yield "direct", (lambda x: [bind1(d.UNARY_OPS[n], (x,)) for n in ("lgamma", "digamma", "erf_inv", "round_afz")]
                     + [bind1(d.Reshape, (x,), {"axes": (named.Axis("ab", 12),)})]), (x,)


PROGRAMS = [(name, fn, args) for name, fn, args in _programs() if name != "special"]


@pytest.mark.parametrize("name,fn,args", PROGRAMS, ids=[p[0] for p in PROGRAMS])
@pytest.mark.parametrize("locations", [False, True])
def test_text_round_trips(name, fn, args, locations):
    lowered = named.compile(fn, builtin_passes=False).lower(*args)
    for stage in ("traced", "partitioned"):
        text = lowered.as_text(stage, locations=locations)
        fn_ir = parse(text)
        assert print_function(fn_ir, locations=locations) == text
        d.verify_function(fn_ir)


def test_every_core_op_is_covered_by_the_round_trip_programs():
    seen = set()
    for _, fn, args in PROGRAMS:
        text = named.compile(fn, builtin_passes=False).lower(*args).as_text("traced")
        seen.update(line.split("=", 1)[1].split()[0] for line in text.splitlines() if " = named." in line)
    core = {cls.name for cls in d.OPS.values() if cls.__module__.startswith("named.dialect.ops.") and
            cls.__module__.rsplit(".", 1)[1] in ("elementwise", "creation", "reduce", "shape")}
    missing = core - seen
    assert not missing, f"ops without a round-trip program: {sorted(missing)}"


def test_parsed_ops_lower_and_run_like_the_original():
    @named.compile
    def f(x, w):
        return named.nn.softmax(named.dot(x, w, axis="b"), "c")

    x = named.named(np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32), (A, B))
    w = named.named(np.random.default_rng(1).normal(size=(4, 2)).astype(np.float32), (B, C))
    text = f.lower(x, w).as_text()
    fn = parse(text)
    from named.compiler import lower_function
    from named.runtime import Executable
    out = Executable(str(lower_function(fn)), fn)([x.array, w.array])
    np.testing.assert_allclose(np.asarray(out[0]), np.asarray(f(x, w)), rtol=1e-6)


def test_types_print_axes_sizes_dtypes_and_shardings():
    t = d.TensorType("bf16", (A, B), (("data",), ("x", "y")))
    assert str(t) == "bf16[a=3@data, b=4@(x, y)]"
    assert str(d.TensorType("f32", ())) == "f32[]"
    odd = d.TensorType("f32", (d.Axis("my axis", 2), d.Axis("true", 1)))
    assert str(odd) == 'f32["my axis"=2, "true"=1]'
    text = f"func @f(%0: {odd}) -> ({odd}) {{\n  return %0\n}}\n"
    assert print_function(parse(text)) == text


def test_mesh_and_shardings_round_trip():
    text = ("func @f(%0: f32[a=4@data, b=4]) -> (f32[a=4@data]) on mesh<data=2, model=2> {\n"
            "  %1 = named.reduce_sum %0 {axes = [\"b\"]} : f32[a=4@data]\n"
            "  return %1\n}\n")
    fn = parse(text)
    assert fn.mesh == d.Mesh((("data", 2), ("model", 2)))
    assert print_function(fn) == text


MALFORMED = [
    ("func @f(%0: f32[a=3]) -> (f32[a=3]) {\n  %1 = named.nope %0 : f32[a=3]\n  return %1\n}\n", "unknown op", 2),
    ("func @f(%0: f32[a=3]) -> (f32[a=3]) {\n  %1 = named.exp %9 : f32[a=3]\n  return %1\n}\n", "before it is defined", 2),
    ("func @f(%0: f32[a=3]) -> (f32[a=3]) {\n  %1 = named.exp %0 : f32[a=4]\n  return %1\n}\n", "type rule", 2),
    ("func @f(%0: f32[a=3]) -> (f32[a=3]) {\n  %1 = named.exp %0 : q32[a=3]\n  return %1\n}\n", "unknown dtype", 2),
    ("func @f(%0: f32[a=3]) -> (f32[a=3]) {\n  %1 = named.exp %0 : f32[a=3\n  return %1\n}\n", "unexpected", 3),
    ("func @f(%0: f32[a=3]) -> (f32[a=3]) {\n  %1 = named.reduce_sum %0 {axes = [\"z\"]} : f32[]\n  return %1\n}\n",
     "'z'", 2),
    ("func @f(%0: f32[a=3]) -> (f32[a=3]) {\n  %1 = named.exp %0 {bogus = 1} : f32[a=3]\n  return %1\n}\n",
     "no attribute", 2),
    ("func @f(%0: f32[a=3], %0: f32[a=3]) -> (f32[a=3]) {\n  return %0\n}\n", "defined twice", 1),
    ("func @f(%0: f32[a=3]) -> (f32[a=4]) {\n  return %0\n}\n", "signature", 1),
    ("func @f(%0: f32[a=3, a=3]) -> () {\n  return\n}\n", "duplicate axis", 1),
    ("func @f(%0: f32[a=3]) -> (f32[a=3]) {\n  %1 = named.add %0 : f32[a=3]\n  return %1\n}\n", "2 operand", 2),
    ("func @f(%0: f32[a=3]) -> (f32[a=3]) {\n  %1 = named.exp %0 : f32[a=3] $\n  return %1\n}\n", "unexpected character", 2),
    ("func @f(", "end of text", 1),
    ("", "end of text", 1),
]


@pytest.mark.parametrize("text,words,line", MALFORMED)
def test_malformed_ir_is_a_parse_error_with_a_caret(text, words, line):
    with pytest.raises(named.ParseError) as e:
        parse(text)
    msg = str(e.value)
    assert words in msg
    assert "^" in msg
    assert f"line {line}," in msg


def test_verifier_catches_wrong_types_and_ssa_order():
    x = d.Value(d.TensorType("f32", (A,)))
    y = d.Value(d.TensorType("f32", (B,)))
    op = d.Exp([x])
    op.results[0].type = d.TensorType("f32", (B,))
    fn = d.Function("f", d.Block([x], [op], op.results))
    with pytest.raises(d.VerifyError, match="type rule"):
        d.verify_function(fn)
    late = d.Exp([y])
    with pytest.raises(d.VerifyError, match="not defined before its use"):
        d.verify_function(d.Function("f", d.Block([x], [late], late.results)))


def test_op_classes_register_and_duplicate_names_are_refused():
    assert d.OPS["named.add"] is d.Add
    with pytest.raises(ValueError, match="already defined"):
        type("Dup", (d.Op,), {"name": "named.add"})
