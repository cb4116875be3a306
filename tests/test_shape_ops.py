"""Shape ops (flatten_axes … triu, broadcast_to with new axes) against NumPy, eagerly and compiled;
the concatenate/pad/reverse ops' type rules, IR text round trip and lowering."""

import numpy as np
import pytest

import named
from _named_testing import arr, assert_named_close, eager_and_compiled
from named import Axis
from named import dialect as d
from named.dialect import TensorType, Value, parse, print_function

A, B, C = named.make_axes(A=2, B=3, C=4)
rng = np.random.default_rng(5)
DATA = rng.normal(size=(2, 3, 4)).astype(np.float32)
X = arr(DATA, (A, B, C))


def names(x):
    return tuple(a.name for a in x.axes)


def both(fn, *args):
    """``fn`` (returning a list of arrays) eagerly and compiled; asserts they agree."""
    eager = fn(*args)
    compiled = named.compile(fn)(*args)
    assert len(eager) == len(compiled)
    for e, c in zip(eager, compiled):
        assert e.axes == c.axes and e.dtype == c.dtype
        np.testing.assert_array_equal(np.asarray(e), np.asarray(c))
    return eager


def ops_in(fn, *args):
    text = named.compile(fn, builtin_passes=False).lower(*args).as_text()
    return [line.split("=", 1)[1].split()[0] for line in text.splitlines() if " = named." in line]


# ----------------------------------------------------------------------------------- flatten family
class TestFlatten:
    def test_adjacent_axes_in_storage_order_are_one_reshape(self):
        got, _ = eager_and_compiled(lambda x: named.flatten_axes(x, ("B", "C"), "M"), X)
        assert got.axes == (A, Axis("M", 12))
        assert_named_close(got, DATA.reshape(2, 12), ("A", "M"))
        assert ops_in(lambda x: named.flatten_axes(x, (B, C), "M"), X) == ["named.reshape"]

    def test_listed_order_is_c_order_and_lands_at_the_first_old_axis(self):
        got, _ = eager_and_compiled(lambda x: named.flatten_axes(x, (C, A), Axis("M", 8)), X)
        assert got.axes == (Axis("M", 8), B)
        assert_named_close(got, DATA.transpose(2, 0, 1).reshape(8, 3), ("M", "B"))
        got, _ = eager_and_compiled(lambda x: named.flatten_axes(x, "B", "M"), X)
        assert got.axes == (A, Axis("M", 3), C)

    def test_no_old_axes_adds_a_unit_axis_in_front(self):
        got, _ = eager_and_compiled(lambda x: named.flatten_axes(x, (), "one"), X)
        assert got.axes == (Axis("one", 1), A, B, C)
        assert_named_close(got, DATA[None], names(got))

    def test_axis_spec_forms(self):
        assert named.flatten_axes((A, B, C), (C, A), "M") == (Axis("M", 8), B)
        assert named.flatten_axes((A, B, C), "all") == Axis("all", 24)
        assert named.flatten_axes(A, A, "M") == Axis("M", 2)
        assert named.flatten_axes((A, B), (), "u") == (Axis("u", 1), A, B)

    def test_errors(self):
        with pytest.raises(named.AxisError, match="listed twice"):
            named.flatten_axes(X, ("A", "A"), "M")
        with pytest.raises(named.AxisError, match="'Q' is not in"):
            named.flatten_axes(X, ("A", "Q"), "M")
        with pytest.raises(named.AxisError, match="must have size 6"):
            named.flatten_axes(X, ("A", "B"), Axis("M", 5))
        with pytest.raises(named.AxisError, match="'C' is already in"):
            named.flatten_axes(X, ("A", "B"), "C")
        with pytest.raises(named.AxisError, match="B=4 is not in"):
            named.flatten_axes((A, B), (B.resize(4),), "M")
        with pytest.raises(TypeError, match="needs the new axis"):
            named.flatten_axes(X, ("A", "B"))

    def test_unflatten(self):
        flat = arr(DATA.reshape(2, 12), (A, Axis("M", 12)))
        got, _ = eager_and_compiled(lambda x: named.unflatten_axis(x, "M", (B, C)), flat)
        assert got.axes == (A, B, C)
        assert_named_close(got, DATA, ("A", "B", "C"))
        mid = arr(DATA.reshape(6, 4), (Axis("M", 6), C))
        got, _ = eager_and_compiled(lambda x: named.unflatten_axis(x, Axis("M", 6), {"A": 2, "B": 3}), mid)
        assert got.axes == (A, B, C)
        assert_named_close(got, DATA, ("A", "B", "C"))
        unit = named.flatten_axes(X, (), "one")
        assert named.unflatten_axis(unit, "one", ()).axes == X.axes

    def test_unflatten_errors(self):
        with pytest.raises(named.AxisError, match="has 6 elements but axis C=4"):
            named.unflatten_axis(X, "C", (A, B))
        with pytest.raises(named.AxisError, match="repeat a name"):
            named.unflatten_axis(X, "C", (Axis("A", 2), Axis("q", 2)))
        with pytest.raises(named.AxisError, match="only an axis of size 1"):
            named.unflatten_axis(X, "C", ())
        with pytest.raises(TypeError, match="carry sizes"):
            named.unflatten_axis(X, "C", ("p", "q"))

    def test_ravel_and_flatten_follow_storage_order(self):
        y = arr(DATA.transpose(2, 0, 1).copy(), (C, A, B))
        for fn in (named.ravel, named.flatten):
            got, _ = eager_and_compiled(lambda x: fn(x, "all"), y)
            assert got.axes == (Axis("all", 24),)
            assert_named_close(got, DATA.transpose(2, 0, 1).ravel(), ("all",))
        with pytest.raises(named.AxisError, match="must have size 24"):
            named.ravel(X, Axis("all", 23))

    def test_methods(self):
        assert X.flatten_axes(("A", "B"), "M").axes == (Axis("M", 6), C)
        assert X.flatten_axes(("A", "B"), "M").unflatten_axis("M", (A, B)).axes == X.axes
        assert X.ravel("r").axes == X.flatten("r").axes == (Axis("r", 24),)
        assert [p.axes for p in X.unbind("A")] == [(B, C), (B, C)]
        assert [p.axes for p in X.split("A", (A.resize(1), A.resize(1)))] == [(A.resize(1), B, C)] * 2


# -------------------------------------------------------------------------------- split / unbind
class TestSplitUnbind:
    def test_split_into_renamed_and_resized_pieces(self):
        pieces = both(lambda x: named.split(x, "C", [C.resize(1), Axis("rest", 3)]), X)
        assert [p.axes for p in pieces] == [(A, B, C.resize(1)), (A, B, Axis("rest", 3))]
        assert_named_close(pieces[0], DATA[:, :, :1], ("A", "B", "C"))
        assert_named_close(pieces[1], DATA[:, :, 1:], ("A", "B", "rest"))
        three = both(lambda x: named.split(x, B, [Axis("p", 1)] * 3), X)
        for i, p in enumerate(three):
            assert_named_close(p, DATA[:, i:i + 1], ("A", "p", "C"))
        whole = named.split(X, "A", [Axis("AA", 2)])
        assert whole[0].axes == (Axis("AA", 2), B, C)

    def test_split_errors(self):
        with pytest.raises(named.AxisError, match="add up to 5, not to C=4"):
            named.split(X, "C", [C.resize(2), C.resize(3)])
        with pytest.raises(named.AxisError, match="'A' is already in"):
            named.split(X, "C", [Axis("A", 2), C.resize(2)])
        with pytest.raises(TypeError, match="carry sizes"):
            named.split(X, "C", ["C", "D"])
        with pytest.raises(named.AxisError, match="'Q' is not in"):
            named.split(X, "Q", [C])

    def test_unbind(self):
        pieces = both(lambda x: named.unbind(x, "B"), X)
        assert len(pieces) == 3 and all(p.axes == (A, C) for p in pieces)
        for i, p in enumerate(pieces):
            assert_named_close(p, DATA[:, i], ("A", "C"))
        single = both(lambda x: named.unbind(x, "A"), arr(DATA[:1], (A.resize(1), B, C)))
        assert single[0].axes == (B, C)
        assert named.unbind(arr(np.zeros((0, 2), np.float32), (Axis("e", 0), A)), "e") == []
        ints = named.unbind(arr(np.arange(6, dtype=np.int32).reshape(2, 3), (A, B)), B)
        assert ints[2].dtype == np.int32 and np.asarray(ints[2]).tolist() == [2, 5]


# ----------------------------------------------------------------------------- concatenate / stack
class TestConcatenateStack:
    def test_concatenate_other_storage_orders_and_many_arrays(self):
        other = rng.normal(size=(4, 5, 2)).astype(np.float32)  # stored (C, B, A)
        y = arr(other, (C, B.resize(5), A))
        got, _ = eager_and_compiled(lambda x, y: named.concatenate("B", [x, y, x]), X, y)
        assert got.axes == (A, B.resize(11), C)
        assert_named_close(got, np.concatenate([DATA, other.transpose(2, 1, 0), DATA], axis=1), ("A", "B", "C"))
        assert ops_in(lambda x, y: named.concatenate(Axis("B", 11), [x, y, x]), X, y) == ["named.concatenate"]

    def test_concatenate_promotes_dtypes_and_one_array_is_itself(self):
        ints = arr(np.arange(8, dtype=np.int32).reshape(2, 4), (A, C))
        floats = arr(DATA[:, 0], (A, C))
        got, _ = eager_and_compiled(lambda a, b: named.concatenate("C", [a, b]), ints, floats)
        assert got.dtype == np.float32
        assert_named_close(got, np.concatenate([np.arange(8).reshape(2, 4), DATA[:, 0]], axis=1), ("A", "C"))
        assert named.concatenate("A", [X]) is X

    def test_concatenate_errors(self):
        with pytest.raises(named.AxisError, match="'B' has size 2 in operand 2"):
            named.concatenate("A", [X, arr(DATA[:, :2], (A, B.resize(2), C))])
        with pytest.raises(named.AxisError, match="must have the same axes"):
            named.concatenate("A", [X, arr(DATA[:, :, 0], (A, B))])
        with pytest.raises(named.AxisError, match="'Q' is not in"):
            named.concatenate("Q", [X, X])
        with pytest.raises(named.AxisError, match="must have size 4"):
            named.concatenate(Axis("A", 5), [X, X])
        with pytest.raises(ValueError, match="at least one"):
            named.concatenate("A", [])

    def test_stack(self):
        y = arr(DATA.transpose(1, 2, 0).copy() + 1, (B, C, A))
        got, _ = eager_and_compiled(lambda x, y: named.stack("S", [x, y]), X, y)
        assert got.axes == (Axis("S", 2), A, B, C)
        assert_named_close(got, np.stack([DATA, DATA + 1]), ("S", "A", "B", "C"))
        got, _ = eager_and_compiled(lambda x: named.stack(Axis("S", 3), [x, x, x]), X)
        assert got.shape["S"] == 3

    def test_stack_errors(self):
        with pytest.raises(named.AxisError, match="must have size 2"):
            named.stack(Axis("S", 3), [X, X])
        with pytest.raises(named.AxisError, match="'A' is already in"):
            named.stack("A", [X, X])
        with pytest.raises(named.AxisError, match="same axes"):
            named.stack("S", [X, arr(DATA[:, :, 0], (A, B))])
        with pytest.raises(named.AxisError, match="'C' has size 3 in operand 2"):
            named.stack("S", [X, arr(DATA[:, :, :3], (A, B, C.resize(3)))])


# ------------------------------------------------------------------------------------------- pad
class TestPad:
    @pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric", "wrap"])
    def test_modes_against_numpy(self, mode):
        widths = {"C": (2, 3), B: 1}
        got, _ = eager_and_compiled(lambda x: named.pad(x, widths, mode=mode), X)
        assert names(got) == ("A", "B", "C")
        assert_named_close(got, np.pad(DATA, ((0, 0), (1, 1), (2, 3)), mode=mode), ("A", "B", "C"))

    @pytest.mark.parametrize("mode", ["reflect", "symmetric", "wrap"])
    def test_widths_larger_than_the_axis(self, mode):
        got, _ = eager_and_compiled(lambda x: named.pad(x, {"B": (7, 5)}, mode=mode), X)
        assert_named_close(got, np.pad(DATA, ((0, 0), (7, 5), (0, 0)), mode=mode), ("A", "B", "C"))

    def test_constant_values_ints_and_a_traced_scalar(self):
        ints = arr(np.arange(6, dtype=np.int32).reshape(2, 3), (A, B))
        got, _ = eager_and_compiled(lambda x: named.pad(x, {"A": (1, 0)}, constant_values=7), ints)
        assert got.dtype == np.int32
        assert_named_close(got, np.pad(np.arange(6).reshape(2, 3), ((1, 0), (0, 0)), constant_values=7), ("A", "B"))
        value = arr(np.float32(-1.5), ())
        got, _ = eager_and_compiled(lambda x, v: named.pad(x, {"C": 1}, constant_values=v), X, value)
        assert_named_close(got, np.pad(DATA, ((0, 0), (0, 0), (1, 1)), constant_values=-1.5), ("A", "B", "C"))
        assert ops_in(lambda x: named.pad(x, {"C": 1}), X) == ["named.full", "named.pad"]
        assert named.pad(X, {"C": 0}) is X

    def test_errors(self):
        with pytest.raises(ValueError, match="mode must be one of"):
            named.pad(X, {"C": 1}, mode="mean")
        with pytest.raises(named.AxisError, match="non-negative ints"):
            named.pad(X, {"C": (-1, 2)})
        with pytest.raises(named.AxisError, match="must be a scalar"):
            named.pad(X, {"C": 1}, constant_values=arr(DATA[0, 0], (C,)))
        with pytest.raises(named.AxisError, match="empty axis 'e'"):
            named.pad(arr(np.zeros((0,), np.float32), (Axis("e", 0),)), {"e": 1}, mode="edge")
        with pytest.raises(named.AxisError, match="'Q' is not in"):
            named.pad(X, {"Q": 1})


# ---------------------------------------------------------------------------- roll / flip / tri
class TestRollFlipTri:
    @pytest.mark.parametrize("shift", [1, -1, 3, 9, 0])
    def test_roll(self, shift):
        got, _ = eager_and_compiled(lambda x: named.roll(x, shift, "C"), X)
        assert got.axes == X.axes
        assert_named_close(got, np.roll(DATA, shift, axis=2), ("A", "B", "C"))

    def test_roll_several_axes_and_errors(self):
        got, _ = eager_and_compiled(lambda x: named.roll(x, (1, -2), ("A", C)), X)
        assert_named_close(got, np.roll(DATA, (1, -2), axis=(0, 2)), ("A", "B", "C"))
        with pytest.raises(TypeError, match="static int"):
            named.roll(X, 1.5, "C")
        with pytest.raises(ValueError, match="2 shift"):
            named.roll(X, (1, 2), "C")

    def test_flip(self):
        got, _ = eager_and_compiled(lambda x: named.flip(x, ("A", "C")), X)
        assert_named_close(got, DATA[::-1, :, ::-1], ("A", "B", "C"))
        got, _ = eager_and_compiled(lambda x: named.flip(x), X)
        assert_named_close(got, DATA[::-1, ::-1, ::-1], ("A", "B", "C"))
        assert ops_in(lambda x: named.flip(x, "B"), X) == ["named.reverse"]

    @pytest.mark.parametrize("k", [-1, 0, 2])
    def test_tril_triu(self, k):
        got, _ = eager_and_compiled(lambda x: named.tril(x, B, C, k=k), X)
        assert got.axes == X.axes
        assert_named_close(got, np.tril(DATA, k), ("A", "B", "C"))
        got, _ = eager_and_compiled(lambda x: named.triu(x, "B", "C", k=k), X)
        assert_named_close(got, np.triu(DATA, k), ("A", "B", "C"))

    def test_tri_with_rows_stored_after_columns_and_other_dtypes(self):
        y = arr(DATA.transpose(2, 0, 1).copy(), (C, A, B))  # columns C stored first
        got, _ = eager_and_compiled(lambda x: named.tril(x, "B", "C"), y)
        assert got.axes == y.axes
        assert_named_close(got, np.tril(DATA), ("A", "B", "C"))
        bools = arr(DATA > 0, (A, B, C))
        got, _ = eager_and_compiled(lambda x: named.triu(x, "B", "C"), bools)
        assert got.dtype == np.bool_
        assert_named_close(got, np.triu(DATA > 0), ("A", "B", "C"))
        ints = arr(np.arange(24, dtype=np.int32).reshape(2, 3, 4), (A, B, C))
        got, _ = eager_and_compiled(lambda x: named.tril(x, "C", "B", k=1), ints)
        assert got.dtype == np.int32
        expected = np.tril(np.arange(24).reshape(2, 3, 4).transpose(0, 2, 1), 1)  # rows C, columns B
        assert_named_close(got, expected, ("A", "C", "B"))

    def test_tri_errors(self):
        with pytest.raises(named.AxisError, match="must differ"):
            named.tril(X, "B", B)
        with pytest.raises(TypeError, match="k must be an int"):
            named.triu(X, "B", "C", k=0.5)


# ------------------------------------------------------------------------------ broadcast_to
class TestBroadcastTo:
    def test_new_axes_repeat_the_data_in_the_listed_order(self):
        x = arr(DATA[:, :, 0], (A, B))
        D = Axis("D", 5)
        got, _ = eager_and_compiled(lambda x: named.broadcast_to(x, (D, B, A)), x)
        assert got.axes == (D, B, A)
        assert_named_close(got, np.broadcast_to(DATA[:, :, 0].T, (5, 3, 2)), ("D", "B", "A"))
        got, _ = eager_and_compiled(lambda x: named.broadcast_to(x, (C,), enforce_no_extra_axes=False), x)
        assert got.axes == (C, A, B)
        assert_named_close(got, np.broadcast_to(DATA[:, :, 0], (4, 2, 3)), ("C", "A", "B"))
        got, _ = eager_and_compiled(lambda x: named.broadcast_to(2.0, (A, C)), x)
        assert_named_close(got, np.full((2, 4), 2.0), ("A", "C"))

    def test_errors(self):
        with pytest.raises(named.AxisError, match="lacks"):
            named.broadcast_to(X, (A, B))
        with pytest.raises(named.AxisError, match="'B'"):
            named.broadcast_to(X, (A, B.resize(7), C, Axis("D", 2)))


# ---------------------------------------------------------------------------------- under a mesh
def test_pieces_of_mapped_axes_need_not_divide_the_mesh():
    # roll, unbind, split, stack and the non-constant pads cut pieces (sizes 1, 3, ...) from axes
    # mapped to mesh axes of size 4 and 2; only their results carry the user's (divisible) axes
    P, Q, R = named.make_axes(P=4, Q=6, R=8)
    data = rng.normal(size=(4, 6, 8)).astype(np.float32)
    x = arr(data, (P, Q, R))

    def program(x):
        return [named.roll(x, 3, "R"), named.stack("P", named.unbind(x, "P")),
                named.split(x, "R", [R.resize(2), Axis("R2", 6)])[1], named.pad(x, {"R": (4, 4)}, mode="reflect"),
                named.flip(x, "P"), named.concatenate("P", [x, x])]

    sharded = named.compile(program, axis_resources={"P": "data", "R": "model"}, mesh={"data": 4, "model": 2})
    got = sharded(x)
    want = [np.roll(data, 3, 2), data, data[:, :, 2:], np.pad(data, ((0, 0), (0, 0), (4, 4)),
            mode="reflect"), data[::-1], np.concatenate([data, data])]
    for g, w, n in zip(got, want, [("P", "Q", "R"), ("P", "Q", "R"), ("P", "Q", "R2"), ("P", "Q", "R"),
                                   ("P", "Q", "R"), ("P", "Q", "R")]):
        assert_named_close(g, w, n)
    assert "R=8@model" in sharded.lower(x).as_text()


# ------------------------------------------------------------------------------- dialect ops
def _value(*axes, dtype="f32"):
    return Value(TensorType(dtype, axes))


class TestDialectOps:
    def test_type_rules(self):
        (t,) = d.Concatenate.type_rule((TensorType("f32", (A, B)), TensorType("f32", (B, A.resize(5)))),
                                       {"axis": "A"})
        assert t == TensorType("f32", (A.resize(7), B))
        (t,) = d.Pad.type_rule((TensorType("f32", (A, C)), TensorType("f32", ())),
                               {"axes": ("C",), "low": (1,), "high": (-2,), "interior": (2,)})
        assert t == TensorType("f32", (A, C.resize(1 - 2 + 4 + 3 * 2)))
        assert d.Reverse.type_rule((TensorType("i32", (A,)),), {"axes": ("A",)}) == (TensorType("i32", (A,)),)

    def test_type_rule_errors_name_axes_and_sizes(self):
        with pytest.raises(named.AxisError, match=r"axis 'B' has size 4 in operand 2 \[A=2, B=4\] but 3"):
            d.Concatenate([_value(A, B), _value(A, B.resize(4))], {"axis": "A"})
        with pytest.raises(named.AxisError, match=r"operand 2 has axes \[A=2\]"):
            d.Concatenate([_value(A, B), _value(A)], {"axis": "A"})
        with pytest.raises(named.VerifyError, match="dtypes differ"):
            d.Concatenate([_value(A), _value(A, dtype="i32")], {"axis": "A"})
        with pytest.raises(named.VerifyError, match="at least one operand"):
            d.Concatenate([], {"axis": "A"})
        with pytest.raises(named.AxisError, match="cannot concatenate along 'Q'"):
            d.Concatenate([_value(A)], {"axis": "Q"})
        with pytest.raises(named.AxisError, match="leaves axis 'A' of size 2 with -1"):
            d.Pad([_value(A), _value()], {"axes": ("A",), "low": (-2,), "high": (-1,), "interior": (0,)})
        with pytest.raises(named.VerifyError, match="interior"):
            d.Pad([_value(A), _value()], {"axes": ("A",), "low": (0,), "high": (0,), "interior": (-1,)})
        with pytest.raises(named.AxisError, match="padding value must have no axes"):
            d.Pad([_value(A), _value(A)], {"axes": ("A",), "low": (0,), "high": (0,), "interior": (0,)})
        with pytest.raises(named.VerifyError, match="'low' has 2 entries for 1 axes"):
            d.Pad([_value(A), _value()], {"axes": ("A",), "low": (0, 1), "high": (0,), "interior": (0,)})
        with pytest.raises(named.AxisError, match="cannot reverse 'Q'"):
            d.Reverse([_value(A)], {"axes": ("Q",)})

    def test_ir_text_round_trips(self):
        def program(x, y, v):
            return [named.concatenate("B", [x, y]), named.pad(x, {"C": (1, 2)}, constant_values=v),
                    named.pad(x, {"B": 2}, mode="reflect"), named.flip(x, ("A", "C")),
                    named.split(x, "C", [C.resize(1), C.resize(3)])[1], named.roll(x, 1, "A")]

        args = (named.spec((A, B, C)), named.spec((C, B.resize(2), A)), named.spec(()))
        lowered = named.compile(program, builtin_passes=False).lower(*args)
        for locations in (False, True):
            text = lowered.as_text("traced", locations=locations)
            for op in ("named.concatenate", "named.pad", "named.reverse", "named.slice"):
                assert op in text
            fn = parse(text)
            assert print_function(fn, locations=locations) == text
            d.verify_function(fn)

    def test_parsed_ir_lowers_and_runs(self):
        from named.compiler import lower_function
        from named.runtime import Executable

        text = ("func @f(%0: f32[A=2, B=3], %1: f32[]) -> (f32[A=2, B=6]) {\n"
                "  %2 = named.pad %0, %1 {axes = [\"B\"], low = [1], high = [0], interior = [1]} : f32[A=2, B=6]\n"
                "  %3 = named.reverse %2 {axes = [\"B\"]} : f32[A=2, B=6]\n"
                "  %4 = named.concatenate %3 {axis = \"A\"} : f32[A=2, B=6]\n"
                "  return %4\n}\n")
        fn = parse(text)
        assert print_function(fn) == text
        data = DATA[:, :, 0].copy()
        out = Executable(str(lower_function(fn)), fn)([named.named(data, (A, B)).array,
                                                        named.named(np.float32(9), ()).array])
        expected = np.full((2, 6), 9, np.float32)
        expected[:, 1::2] = data
        np.testing.assert_array_equal(np.asarray(out[0]), expected[:, ::-1])
