"""The built-in passes: canonicalize (with constant folding checked bit for bit against XLA), cse and
dce. Before/after cases are IR text: parse -> run -> print == expected."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

import named
from named.compiler import Builder, lower_function
from named.compiler.passes import CSE, DCE, DEFAULT_PASSES, PASSES, Canonicalize, PassManager
from named.dialect import Axis, Compare, Constant, Convert, Full, Neg, Select, parse, print_function
from named.runtime import Executable


def ir(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


def run_passes(text: str, *passes) -> str:
    out = PassManager(list(passes)).run(parse(ir(text)))
    return print_function(out)


def assert_rewrites(before: str, after: str, *passes) -> None:
    after = ir(after)
    assert print_function(parse(after)) == after, "the expected text is not canonical"
    assert run_passes(before, *passes) == after


# ------------------------------------------------------------------------------------ canonicalize
def test_canonicalize_is_a_default_pass_and_registered():
    assert [p.name for p in DEFAULT_PASSES] == ["canonicalize", "cse", "dce"]
    assert PASSES["canonicalize"] is Canonicalize and PASSES["cse"] is CSE and PASSES["dce"] is DCE


def test_drops_identity_transpose_rename_broadcast_reshape_convert():
    assert_rewrites("""
        func @f(%0: f32[a=2, b=3]) -> (f32[a=2, b=3]) {
          %1 = named.transpose %0 {order = ["a", "b"]} : f32[a=2, b=3]
          %2 = named.rename %1 {mapping = [["a", "a"]]} : f32[a=2, b=3]
          %3 = named.broadcast %2 {axes = [a=2, b=3]} : f32[a=2, b=3]
          %4 = named.reshape %3 {axes = [a=2, b=3]} : f32[a=2, b=3]
          %5 = named.convert %4 {dtype = "f32"} : f32[a=2, b=3]
          %6 = named.exp %5 : f32[a=2, b=3]
          return %6
        }""", """
        func @f(%0: f32[a=2, b=3]) -> (f32[a=2, b=3]) {
          %1 = named.exp %0 : f32[a=2, b=3]
          return %1
        }""", Canonicalize())


def test_folds_chains_of_transposes():
    assert_rewrites("""
        func @f(%0: f32[a=2, b=3, c=4]) -> (f32[c=4, a=2, b=3], f32[a=2, b=3, c=4]) {
          %1 = named.transpose %0 {order = ["b", "a", "c"]} : f32[b=3, a=2, c=4]
          %2 = named.transpose %1 {order = ["c", "a", "b"]} : f32[c=4, a=2, b=3]
          %3 = named.transpose %2 {order = ["a", "b", "c"]} : f32[a=2, b=3, c=4]
          return %2, %3
        }""", """
        func @f(%0: f32[a=2, b=3, c=4]) -> (f32[c=4, a=2, b=3], f32[a=2, b=3, c=4]) {
          %1 = named.transpose %0 {order = ["c", "a", "b"]} : f32[c=4, a=2, b=3]
          return %1, %0
        }""", Canonicalize())


def test_folds_chains_of_renames_and_drops_round_trips():
    assert_rewrites("""
        func @f(%0: f32[a=2, b=3]) -> (f32[z=2, b=3], f32[a=2, b=3]) {
          %1 = named.rename %0 {mapping = [["a", "x"], ["b", "b"]]} : f32[x=2, b=3]
          %2 = named.rename %1 {mapping = [["x", "z"]]} : f32[z=2, b=3]
          %3 = named.rename %2 {mapping = [["z", "a"]]} : f32[a=2, b=3]
          return %2, %3
        }""", """
        func @f(%0: f32[a=2, b=3]) -> (f32[z=2, b=3], f32[a=2, b=3]) {
          %1 = named.rename %0 {mapping = [["a", "z"]]} : f32[z=2, b=3]
          return %1, %0
        }""", Canonicalize())


def test_rename_swapping_two_names_is_composed_correctly():
    assert_rewrites("""
        func @f(%0: f32[a=2, b=3]) -> (f32[a=2, b=3]) {
          %1 = named.rename %0 {mapping = [["a", "t"]]} : f32[t=2, b=3]
          %2 = named.rename %1 {mapping = [["b", "a"], ["t", "b"]]} : f32[b=2, a=3]
          %3 = named.rename %2 {mapping = [["a", "x"], ["b", "y"]]} : f32[y=2, x=3]
          %4 = named.rename %3 {mapping = [["x", "b"], ["y", "a"]]} : f32[a=2, b=3]
          return %4
        }""", """
        func @f(%0: f32[a=2, b=3]) -> (f32[a=2, b=3]) {
          return %0
        }""", Canonicalize())


def test_folds_broadcast_chains_and_turns_reordering_broadcasts_into_transposes():
    assert_rewrites("""
        func @f(%0: f32[a=2]) -> (f32[c=4, a=2, b=3], f32[b=3, a=2]) {
          %1 = named.broadcast %0 {axes = [a=2, b=3]} : f32[a=2, b=3]
          %2 = named.broadcast %1 {axes = [c=4, a=2, b=3]} : f32[c=4, a=2, b=3]
          %3 = named.exp %1 : f32[a=2, b=3]
          %4 = named.broadcast %3 {axes = [b=3, a=2]} : f32[b=3, a=2]
          return %2, %4
        }""", """
        func @f(%0: f32[a=2]) -> (f32[c=4, a=2, b=3], f32[b=3, a=2]) {
          %1 = named.broadcast %0 {axes = [a=2, b=3]} : f32[a=2, b=3]
          %2 = named.broadcast %0 {axes = [c=4, a=2, b=3]} : f32[c=4, a=2, b=3]
          %3 = named.exp %1 : f32[a=2, b=3]
          %4 = named.transpose %3 {order = ["b", "a"]} : f32[b=3, a=2]
          return %2, %4
        }""", Canonicalize())


def test_folds_reshape_chains():
    assert_rewrites("""
        func @f(%0: f32[a=2, b=6]) -> (f32[c=3, d=4], f32[a=2, b=6]) {
          %1 = named.reshape %0 {axes = [n=12]} : f32[n=12]
          %2 = named.reshape %1 {axes = [c=3, d=4]} : f32[c=3, d=4]
          %3 = named.reshape %2 {axes = [a=2, b=6]} : f32[a=2, b=6]
          return %2, %3
        }""", """
        func @f(%0: f32[a=2, b=6]) -> (f32[c=3, d=4], f32[a=2, b=6]) {
          %1 = named.reshape %0 {axes = [c=3, d=4]} : f32[c=3, d=4]
          return %1, %0
        }""", Canonicalize())


def test_constant_folds_scalar_arithmetic_on_fills():
    assert_rewrites("""
        func @f(%0: f32[a=2]) -> (f32[a=2], bool[]) {
          %1 = named.full {value = 2.0, dtype = "f32", axes = []} : f32[]
          %2 = named.full {value = 3.0, dtype = "f32", axes = [a=2]} : f32[a=2]
          %3 = named.mul %1, %2 : f32[a=2]
          %4 = named.neg %3 : f32[a=2]
          %5 = named.add %0, %4 : f32[a=2]
          %6 = named.compare %1, %1 {direction = "LT"} : bool[]
          return %5, %6
        }""", """
        func @f(%0: f32[a=2]) -> (f32[a=2], bool[]) {
          %1 = named.full {value = -6.0, dtype = "f32", axes = [a=2]} : f32[a=2]
          %2 = named.add %0, %1 : f32[a=2]
          %3 = named.full {value = false, dtype = "bool", axes = []} : bool[]
          return %2, %3
        }""", Canonicalize())


def test_constant_folds_constants_with_broadcasting_by_name():
    assert_rewrites("""
        func @f() -> (i32[b=2, a=3]) {
          %0 = named.constant {value = array<i32: [1, 2, 3]>, axes = [a=3]} : i32[a=3]
          %1 = named.constant {value = array<i32: [10, 20]>, axes = [b=2]} : i32[b=2]
          %2 = named.broadcast %1 {axes = [b=2, a=3]} : i32[b=2, a=3]
          %3 = named.add %2, %0 : i32[b=2, a=3]
          return %3
        }""", """
        func @f() -> (i32[b=2, a=3]) {
          %0 = named.constant {value = array<i32: [[11, 12, 13], [21, 22, 23]]>, axes = [b=2, a=3]} : i32[b=2, a=3]
          return %0
        }""", Canonicalize())


def test_fills_through_shape_ops_stay_fills():
    assert_rewrites("""
        func @f() -> (f32[y=3, x=2]) {
          %0 = named.full {value = 1.5, dtype = "f32", axes = [a=2]} : f32[a=2]
          %1 = named.broadcast %0 {axes = [a=2, b=3]} : f32[a=2, b=3]
          %2 = named.transpose %1 {order = ["b", "a"]} : f32[b=3, a=2]
          %3 = named.rename %2 {mapping = [["a", "x"], ["b", "y"]]} : f32[y=3, x=2]
          return %3
        }""", """
        func @f() -> (f32[y=3, x=2]) {
          %0 = named.full {value = 1.5, dtype = "f32", axes = [y=3, x=2]} : f32[y=3, x=2]
          return %0
        }""", Canonicalize())


MIXED = """
    func @f() -> (f32[a=3]) {
      %0 = named.constant {value = array<f32: [1.0, 2.0, 3.0]>, axes = [a=3]} : f32[a=3]
      %1 = named.full {value = 2.0, dtype = "f32", axes = []} : f32[]
      %2 = named.mul %0, %1 : f32[a=3]
      return %2
    }"""


def test_max_constant_size_and_fold_constants_options_limit_folding():
    folded = ir("""
        func @f() -> (f32[a=3]) {
          %0 = named.constant {value = array<f32: [2.0, 4.0, 6.0]>, axes = [a=3]} : f32[a=3]
          return %0
        }""")
    assert run_passes(MIXED, Canonicalize()) == folded
    assert run_passes(MIXED, Canonicalize(max_constant_size=2)) == ir(MIXED)
    assert run_passes(MIXED, Canonicalize(fold_constants=False)) == ir(MIXED)
    with pytest.raises(ValueError, match="max_constant_size must be >= 0, got -1"):
        Canonicalize(max_constant_size=-1)


def test_transcendentals_integer_division_and_float_max_are_not_folded():
    text = ir("""
        func @f() -> (f32[], i32[], f32[]) {
          %0 = named.full {value = 0.5, dtype = "f32", axes = []} : f32[]
          %1 = named.exp %0 : f32[]
          %2 = named.full {value = 7, dtype = "i32", axes = []} : i32[]
          %3 = named.div %2, %2 : i32[]
          %4 = named.max %0, %0 : f32[]
          return %1, %3, %4
        }""")
    assert run_passes(text, Canonicalize()) == text


def _fold_case(op_cls, dtype, values, attrs=None):
    """One function computing ``op_cls`` on every operand tuple of ``values``: once on fills (a result
    per tuple), once on constants holding all tuples along an axis ``n`` (one more result)."""
    builder = Builder()
    np_dtype = named.dialect.to_numpy_dtype(dtype)
    results = []
    for operands in values:
        fills = [builder.emit(Full, (), {"value": v, "dtype": dtype, "axes": (Axis("a", 2),)})[0] for v in operands]
        results += builder.emit(op_cls, fills, attrs or {})
    n = Axis("n", len(values))
    columns = [builder.emit(Constant, (), {"value": np.array(column, np_dtype), "axes": (n,)})[0]
               for column in zip(*values)]
    results += builder.emit(op_cls, columns, attrs or {})
    return builder.finish("fold_case", results)


def _execute(fn) -> list[np.ndarray]:
    return [np.asarray(r) for r in Executable(str(lower_function(fn)), fn)([])]


def _bits(x: np.ndarray) -> bytes:
    """The bytes of ``x`` with every NaN made the same NaN (their sign and payload mean nothing)."""
    if x.dtype.kind == "f" or x.dtype.name == "bfloat16":
        x = np.where(np.isnan(x.astype(np.float64)), np.array(np.nan, x.dtype), x)
    return x.tobytes()


FLOATS = [0.1, -0.0, 3.5, float("inf"), float("nan"), -2.25, 1e30]
INTS = [7, -3, 2**31 - 1, 0, -(2**31)]


def _cases():
    ops = named.dialect.BINARY_OPS
    for name in ("add", "sub", "mul", "div", "rem"):
        for dtype in ("f32", "bf16", "f16", "f64"):
            floats = FLOATS if dtype != "f16" else FLOATS[:-1] + [6e4]  # 1e30 overflows f16
            yield ops[name], dtype, [(x, y) for x in floats[:5] for y in floats[2:]], None
    for name in ("add", "sub", "mul", "max", "min", "and", "or", "xor"):
        yield ops[name], "i32", [(x, y) for x in INTS for y in INTS], None
        yield ops[name], "u8", [(x, y) for x in (0, 1, 200, 255) for y in (3, 255)], None
    for name in ("and", "or", "xor"):
        yield ops[name], "bool", [(x, y) for x in (True, False) for y in (True, False)], None
    unary = named.dialect.UNARY_OPS
    for name in ("neg", "abs", "sqrt", "floor", "ceil", "round_even", "is_finite"):
        yield unary[name], "f32", [(x,) for x in FLOATS + [2.5, -0.5]], None
    yield unary["not"], "i32", [(x,) for x in INTS], None
    yield unary["not"], "bool", [(True,), (False,)], None
    for direction in ("EQ", "NE", "LT", "LE", "GT", "GE"):
        yield Compare, "f32", [(x, y) for x in FLOATS[:5] for y in FLOATS[1:4]], {"direction": direction}
        yield Compare, "u8", [(x, y) for x in (0, 200) for y in (0, 255)], {"direction": direction}
    for dst in ("i32", "u8", "bool", "bf16", "f16", "f64"):
        yield Convert, "f32", [(x,) for x in (0.1, -0.0, 3.7, -3.7, 100.0, 1e30, float("nan"))], {"dtype": dst}
    for dst in ("f32", "u8", "bool", "i8"):
        yield Convert, "i32", [(x,) for x in INTS + [300]], {"dtype": dst}


@pytest.mark.parametrize("op_cls,dtype,values,attrs", list(_cases()),
                         ids=lambda x: getattr(x, "name", None) if isinstance(x, type) else None)
def test_folding_gives_bit_identical_results_to_xla(op_cls, dtype, values, attrs):
    fn = _fold_case(op_cls, dtype, values, attrs)
    unfolded = _execute(fn)
    folded_fn = Canonicalize().run(fn)
    folded = _execute(folded_fn)
    for i, (got, want) in enumerate(zip(folded, unfolded)):
        where = values[i] if i < len(values) else "all, as constants"
        assert got.dtype == want.dtype
        assert _bits(got) == _bits(want), (op_cls.name, dtype, where, attrs, got, want)


def test_folding_happens_for_the_exact_ops():
    fn = Canonicalize().run(_fold_case(named.dialect.BINARY_OPS["add"], "f32", [(1.0, 2.0)]))
    assert [type(op) for op in fn.ops] == [Full, Constant] and fn.ops[0].attrs["value"] == 3.0
    np.testing.assert_array_equal(fn.ops[1].attrs["value"], [3.0])
    fn = Canonicalize().run(_fold_case(Select, "bool", [(True, False, True)]))
    assert [type(op) for op in fn.ops] == [Full, Constant] and fn.ops[0].attrs["value"] is False
    fn = Canonicalize().run(_fold_case(Convert, "f32", [(1e30,)], {"dtype": "i32"}))
    assert Convert in [type(op) for op in fn.ops]  # out of range: left to XLA


def test_canonicalize_preserves_results_of_a_traced_program():
    A, B = named.make_axes(a=3, b=4)
    data = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)

    def f(x):
        y = named.rename(named.rename(x, {"a": "p"}), {"p": "a"})
        scale = named.full((), 2.0) * 3.0 - 1.0
        return (y * scale).sum("b")

    x = named.named(data, (A, B))
    plain = named.compile(f, builtin_passes=False)
    optimized = named.compile(f)
    text = optimized.lower(x).as_text("optimized")
    assert "named.rename" not in text and 'value = 5.0' in text
    np.testing.assert_allclose(np.asarray(optimized(x)), np.asarray(plain(x)), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(optimized(x)), (data * 5.0).sum(1), rtol=1e-5)


# --------------------------------------------------------------------------------------------- cse
def test_cse_merges_equal_ops_but_not_different_attributes():
    assert_rewrites("""
        func @f(%0: f32[a=2]) -> (f32[a=2]) {
          %1 = named.exp %0 : f32[a=2]
          %2 = named.exp %0 : f32[a=2]
          %3 = named.full {value = 0.0, dtype = "f32", axes = []} : f32[]
          %4 = named.full {value = -0.0, dtype = "f32", axes = []} : f32[]
          %5 = named.full {value = 0.0, dtype = "f32", axes = []} : f32[]
          %6 = named.add %1, %3 : f32[a=2]
          %7 = named.add %2, %5 : f32[a=2]
          %8 = named.add %6, %4 : f32[a=2]
          %9 = named.mul %7, %8 : f32[a=2]
          return %9
        }""", """
        func @f(%0: f32[a=2]) -> (f32[a=2]) {
          %1 = named.exp %0 : f32[a=2]
          %2 = named.full {value = 0.0, dtype = "f32", axes = []} : f32[]
          %3 = named.full {value = -0.0, dtype = "f32", axes = []} : f32[]
          %4 = named.add %1, %2 : f32[a=2]
          %5 = named.add %4, %3 : f32[a=2]
          %6 = named.mul %4, %5 : f32[a=2]
          return %6
        }""", CSE())


def test_cse_keeps_attributes_of_different_python_types_apart():
    text = ir("""
        func @f() -> (i32[], i32[]) {
          %0 = named.full {value = 1, dtype = "i32", axes = []} : i32[]
          %1 = named.full {value = true, dtype = "i32", axes = []} : i32[]
          return %0, %1
        }""")
    assert run_passes(text, CSE()) == text


def test_cse_and_dce_work_inside_regions_without_crossing_them():
    text = """
        func @f(%0: f32[t=3, a=2]) -> (f32[a=2], f32[t=3, a=2]) {
          %1 = named.exp %0 : f32[t=3, a=2]
          %2 = named.full {value = 0.0, dtype = "f32", axes = [a=2]} : f32[a=2]
          %10, %11 = named.scan %2, %0 {axis = t=3, num_consts = 0, num_carry = 1, reverse = false} : (f32[a=2], f32[t=3, a=2]) ({^(%3: f32[a=2], %4: f32[a=2]):
            %5 = named.exp %4 : f32[a=2]
            %6 = named.exp %4 : f32[a=2]
            %7 = named.neg %4 : f32[a=2]
            %8 = named.add %3, %5 : f32[a=2]
            %9 = named.add %8, %6 : f32[a=2]
            yield %9, %5
          })
          %12 = named.exp %0 : f32[t=3, a=2]
          return %10, %12
        }"""
    assert print_function(parse(ir(text))) == ir(text)
    assert_rewrites(text, """
        func @f(%0: f32[t=3, a=2]) -> (f32[a=2], f32[t=3, a=2]) {
          %1 = named.exp %0 : f32[t=3, a=2]
          %2 = named.full {value = 0.0, dtype = "f32", axes = [a=2]} : f32[a=2]
          %8, %9 = named.scan %2, %0 {axis = t=3, num_consts = 0, num_carry = 1, reverse = false} : (f32[a=2], f32[t=3, a=2]) ({^(%3: f32[a=2], %4: f32[a=2]):
            %5 = named.exp %4 : f32[a=2]
            %6 = named.add %3, %5 : f32[a=2]
            %7 = named.add %6, %5 : f32[a=2]
            yield %7, %5
          })
          return %8, %1
        }""", CSE(), DCE())


# --------------------------------------------------------------------------------------------- dce
def test_dce_removes_dead_chains_and_unused_region_ops():
    assert_rewrites("""
        func @f(%0: f32[t=3, a=2]) -> (f32[t=3, a=2]) {
          %1 = named.exp %0 : f32[t=3, a=2]
          %2 = named.neg %1 : f32[t=3, a=2]
          %3 = named.full {value = 0.0, dtype = "f32", axes = [a=2]} : f32[a=2]
          %7, %8 = named.scan %3, %0 {axis = t=3, num_consts = 0, num_carry = 1, reverse = false} : (f32[a=2], f32[t=3, a=2]) ({^(%4: f32[a=2], %5: f32[a=2]):
            %6 = named.add %4, %5 : f32[a=2]
            yield %6, %5
          })
          %9 = named.abs %0 : f32[t=3, a=2]
          return %9
        }""", """
        func @f(%0: f32[t=3, a=2]) -> (f32[t=3, a=2]) {
          %1 = named.abs %0 : f32[t=3, a=2]
          return %1
        }""", DCE())


def test_dce_keeps_ops_marked_with_side_effects():
    class Effect(Neg, register=False):
        __slots__ = ()
        has_side_effects = True

    fn = parse(ir("""
        func @f(%0: f32[a=2]) -> (f32[a=2]) {
          %1 = named.neg %0 : f32[a=2]
          %2 = named.neg %0 : f32[a=2]
          return %0
        }"""))
    fn.ops[0].__class__ = Effect
    DCE().run(fn)
    assert [type(op) for op in fn.ops] == [Effect]


def test_bool_constants_lower_element_by_element():
    # Folded comparisons become bool constants: each element must survive lowering as itself.
    data = np.array([True, False, True, True, False, False, True, False, True, False])
    builder = Builder()
    (v,) = builder.emit(Constant, (), {"value": data, "axes": (Axis("n", 10),)})
    np.testing.assert_array_equal(_execute(builder.finish("bools", [v]))[0], data)
