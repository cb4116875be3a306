"""Indexing by name against NumPy, eagerly and compiled: ints, slices, steps, gathers, dslice,
slice/take/updated_slice, x.at[...] scatters, the ops' type rules and their IR text."""

import numpy as np
import pytest

import named
from named import dialect as d
from _named_testing import arr, as_numpy, assert_named_close, eager_and_compiled

A, B, C = named.make_axes(a=3, b=4, c=5)
NAMES = ("a", "b", "c")
rng = np.random.default_rng(0)
DATA = rng.normal(size=(3, 4, 5)).astype(np.float32)
LAYOUTS = [("a", "b", "c"), ("c", "a", "b"), ("b", "c", "a")]
DTYPES = [np.float32, np.int32, np.bool_, np.float16]


def _x(layout=NAMES, dtype=np.float32, data=DATA):
    """The array DATA (axes a, b, c) stored in ``layout`` order and cast to ``dtype``."""
    data = (data > 0) if dtype == np.bool_ else (data * 10).astype(dtype) if dtype != np.float32 else data
    sizes = {"a": 3, "b": 4, "c": 5}
    return arr(np.transpose(data, [NAMES.index(n) for n in layout]), tuple(named.Axis(n, sizes[n]) for n in layout))


def _expected(dtype=np.float32, data=DATA):
    return (data > 0) if dtype == np.bool_ else (data * 10).astype(dtype) if dtype != np.float32 else data


def _i(values, names):
    return arr(np.asarray(values, np.int32), names)


# ------------------------------------------------------------------------------------ ints and slices
BASIC = [
    ({"a": 1}, (1, slice(None), slice(None)), ("b", "c")),
    ({"b": -1}, (slice(None), -1, slice(None)), ("a", "c")),
    ({"a": 2, "c": 0}, (2, slice(None), 0), ("b",)),
    ({"b": slice(1, 3)}, (slice(None), slice(1, 3), slice(None)), NAMES),
    ({"c": slice(None, None, 2)}, (slice(None), slice(None), slice(None, None, 2)), NAMES),
    ({"c": slice(4, 0, -2), "a": 0}, (0, slice(None), slice(4, 0, -2)), ("b", "c")),
    ({"b": slice(None, None, -1)}, (slice(None), slice(None, None, -1), slice(None)), NAMES),
    ({"b": slice(1, 50)}, (slice(None), slice(1, 50), slice(None)), NAMES),
    ({"b": slice(3, 1)}, (slice(None), slice(3, 1), slice(None)), NAMES),
    ({"a": 1, "b": 2, "c": 3}, (1, 2, 3), ()),
    ({}, (slice(None),) * 3, NAMES),
]


@pytest.mark.parametrize("idx,np_idx,names", BASIC)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_ints_and_slices(idx, np_idx, names, layout, dtype):
    x = _x(layout, dtype)
    eager, _ = eager_and_compiled(lambda x: x[idx], x)
    assert_named_close(eager, _expected(dtype)[np_idx], names, dtype=dtype)


def test_alternating_and_axis_key_forms_match_the_dict_form():
    x = _x(("c", "a", "b"))
    assert_named_close(x["a", 1, "c", 1:4], DATA[1, :, 1:4], ("b", "c"))
    assert_named_close(x[B, 2], DATA[:, 2], ("a", "c"))
    assert_named_close(x[({"a": 0},)], DATA[0], ("b", "c"))
    assert x[...] is x and x[()] is x
    assert_named_close(x["a", np.int64(2)], DATA[2], ("b", "c"))


def test_static_slices_show_as_one_slice_op():
    text = named.compile(lambda x: x["a", 1:3, "c", ::2]).lower(_x()).as_text("traced")
    assert text.count("named.slice") == 1
    assert 'named.slice %0 {axes = ["a", "c"], start = [1, 0], limit = [3, 5], stride = [1, 2]}' in text


@pytest.mark.parametrize("idx,words", [
    ({"a": 3}, ["index 3", "'a'", "size 3"]),
    ({"c": -6}, ["index -6", "'c'", "size 5"]),
    ({"z": 0}, ["'z'", "a=3, b=4, c=5"]),
    ({"b": slice(0, 2, 0)}, ["step cannot be zero", "'b'"]),
])
def test_bad_static_indices_are_axis_errors(idx, words):
    for run in (lambda x: x[idx], named.compile(lambda x: x[idx])):
        with pytest.raises(named.AxisError) as e:
            run(_x())
        for w in words:
            assert w in str(e.value)
        assert "test_indexing.py" in str(e.value)


def test_an_axis_indexed_twice_is_an_axis_error():
    with pytest.raises(named.AxisError, match="'a' is indexed twice"):
        _x()["a", 0, "a", 1]
    with pytest.raises(named.AxisError, match="'b' is indexed twice"):
        _x()[{"b": 0, B: 1}]


@pytest.mark.parametrize("idx,words", [
    (("a",), "name, index pairs"),
    (("a", 1, "b"), "name, index pairs"),
    (0, "by axis name"),
    ({"a": 1.5}, "cannot index axis 'a'"),
    ({"a": True}, "bool"),
    ({"a": np.array([0, 1])}, "name its axes"),
    ({"a": [0, 1]}, "name its axes"),
    ({"a": named.named(np.array([0.0, 1.0], np.float32), ("k",))}, "must be integers"),
    ({"a": named.named(np.array([True, False, True]), ("k",))}, "masks are not supported"),
    ({0: 1}, "axis names"),
    ({"a": slice(named.named(np.int32(0), ()), 2)}, "dslice"),
])
def test_malformed_indices_are_type_errors(idx, words):
    with pytest.raises(TypeError, match=words):
        _x()[idx]


# ---------------------------------------------------------------------------------------------- gathers
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.bool_])
def test_gather_with_one_index_array(layout, dtype):
    ids = np.array([[3, 0, -1], [1, 1, 2]], np.int32)
    x = _x(layout, dtype)
    eager, _ = eager_and_compiled(lambda x, i: x[{"b": i}], x, _i(ids, ("k", "l")))
    expected = np.take(_expected(dtype), ids, axis=1)  # a, k, l, c
    assert_named_close(eager, expected, ("a", "k", "l", "c"), dtype=dtype)


def test_gather_places_index_axes_like_haliax():
    x = _x()
    assert [a.name for a in x[{"b": _i([0, 1], ("k",))}].axes] == ["a", "k", "c"]
    # indexed axes apart (a and c around b): the index axes go first
    assert [a.name for a in x[{"a": _i([0, 1], ("k",)), "c": _i([1, 2], ("k",))}].axes] == ["k", "b"]


def test_gather_clamps_out_of_range_and_wraps_negative_indices():
    ids = np.array([5, -1, -4, -9, 2], np.int32)
    x = arr(np.arange(4.0, dtype=np.float32), ("t",))
    eager, _ = eager_and_compiled(lambda x, i: x[{"t": i}], x, _i(ids, ("k",)))
    assert_named_close(eager, [3.0, 3.0, 0.0, 0.0, 2.0], ("k",))


def test_gather_with_several_index_arrays_broadcasts_them_by_name():
    ia = np.array([2, 0, 1], np.int32)           # over k
    ic = np.array([[4, 0, 1, 3]] * 3, np.int32).T  # over (l, k)
    x = _x(("b", "c", "a"))
    eager, _ = eager_and_compiled(lambda x, i, j: x[{"a": i, "c": j}], x, _i(ia, ("k",)), _i(ic, ("l", "k")))
    expected = DATA[ia[None, :], :, ic]  # (l, k, b)
    assert_named_close(eager, expected, ("l", "k", "b"))


def test_an_index_axis_the_array_also_has_is_gathered_elementwise():
    ids = np.array([3, 0, 2], np.int32)  # one index per element of axis a
    x = _x(("c", "b", "a"))
    eager, _ = eager_and_compiled(lambda x, i: x[{"b": i}], x, _i(ids, ("a",)))
    expected = DATA[np.arange(3), ids]  # (a, c)
    assert_named_close(eager, expected, ("a", "c"))
    with pytest.raises(named.AxisError, match="'a' has size 2 but the operand's axis 'a' has size 3"):
        x[{"b": _i([0, 1], ("a",))}]


def test_take():
    x = _x(("b", "a", "c"))
    assert_named_close(named.take(x, "c", 2), DATA[:, :, 2], ("a", "b"))
    assert_named_close(x.take(C, -1), DATA[:, :, -1], ("a", "b"))
    ids = np.array([[1, 1], [0, 3]], np.int32)
    eager, _ = eager_and_compiled(lambda x, i: named.take(x, "b", i), x, _i(ids, ("p", "b")))
    assert_named_close(eager, np.take(DATA, ids, axis=1), ("a", "p", "b", "c"))
    with pytest.raises(named.AxisError, match="index 4 is out of range for axis 'b' of size 4"):
        named.take(x, "b", 4)
    with pytest.raises(TypeError, match="take"):
        named.take(x, "b", slice(0, 2))


@pytest.mark.parametrize("i", [0, 2, -1, -3, 7, -9])
def test_traced_scalar_indices_wrap_negative_and_clamp(i):
    x = _x(("c", "a", "b"))
    eager, _ = eager_and_compiled(lambda x, i: x["a", i], x, arr(np.int32(i), ()))
    j = min(max(i + 3 if i < 0 else i, 0), 2)
    assert_named_close(eager, DATA[j], ("b", "c"))
    eager, _ = eager_and_compiled(lambda x, i: named.take(x, "a", i), x, arr(np.int8(i), ()))
    assert_named_close(eager, DATA[j], ("b", "c"))


# --------------------------------------------------------------------------------------- slice / dslice
def test_named_slice_single_axis_form():
    x = _x(("c", "b", "a"))
    assert_named_close(named.slice(x, "b", start=1, length=2), DATA[:, 1:3], NAMES)
    out = named.slice(x, "c", new_axis="w", start=2, length=3)
    assert_named_close(out, DATA[:, :, 2:5], ("a", "b", "w"))
    out = x.slice(B, new_axis=named.Axis("q", 2), start=-2)
    assert_named_close(out, DATA[:, 2:4], ("a", "q", "c"))


def test_named_slice_mapping_form():
    x = _x()
    out = named.slice(x, {"a": 1, "c": 0}, {"a": 2, C: named.Axis("w", 3)})
    assert_named_close(out, DATA[1:3, :, 0:3], ("a", "b", "w"))
    out = named.slice(x, start={"b": 1}, length={"b": 3})
    assert_named_close(out, DATA[:, 1:4], NAMES)


@pytest.mark.parametrize("start", [0, 2, 3, -2, 9])
def test_named_slice_with_a_traced_start_clamps_into_range(start):
    x = _x(("b", "c", "a"))
    eager, _ = eager_and_compiled(lambda x, s: named.slice(x, "c", start=s, length=3), x, arr(np.int32(start), ()))
    s = min(max(start, 0), 2)
    assert_named_close(eager, DATA[:, :, s:s + 3], NAMES)


def test_named_slice_errors():
    x = _x()
    with pytest.raises(named.AxisError, match="length 3 at 3 does not fit axis 'b' of size 4"):
        named.slice(x, "b", start=3, length=3)
    with pytest.raises(named.AxisError, match="window of 9 does not fit axis 'b' of size 4"):
        named.compile(lambda x, s: named.slice(x, "b", start=s, length=9))(x, arr(np.int32(0), ()))
    with pytest.raises(named.AxisError, match="does not have the length 2"):
        named.slice(x, "b", new_axis=named.Axis("q", 3), length=2)
    with pytest.raises(TypeError, match="length= or new_axis"):
        named.slice(x, "b", start=1)
    with pytest.raises(TypeError, match="no length given for axis 'c'"):
        named.slice(x, {"c": 1}, {"a": 1})
    with pytest.raises(named.AxisError, match="new axis 'a'|duplicate axis 'a'"):
        named.slice(x, "b", new_axis="a", length=2)


@pytest.mark.parametrize("start", [0, 1, 3, -2, 6, -7])
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_dslice_reads_zeros_past_the_ends(start, dtype):
    data = np.arange(1, 6).astype(dtype)
    x = arr(data, ("t",))
    expected = [data[j] if 0 <= j < 5 else 0 for j in range(start, start + 3)]
    assert_named_close(x["t", named.dslice(start, 3)], expected, ("t",))
    eager, _ = eager_and_compiled(lambda x, s: x["t", named.ds(s, 3)], x, arr(np.int32(start), ()))
    assert_named_close(eager, expected, ("t",))


def test_dslice_block_longer_than_the_axis_and_axis_length():
    x = _x(("c", "a", "b"))
    eager, _ = eager_and_compiled(lambda x, i: x["c", named.dslice.block(i, 2)], x, arr(np.int32(1), ()))
    assert_named_close(eager, DATA[:, :, 2:4], NAMES)
    assert_named_close(x["b", named.dslice(0, named.Axis("ignored", 6))],
                       np.concatenate([DATA, np.zeros((3, 2, 5), np.float32)], axis=1), NAMES)
    assert named.dslice.block(3, 4).to_slice() == slice(12, 16)
    with pytest.raises(TypeError, match="non-negative"):
        named.dslice(0, -1)
    with pytest.raises(TypeError, match="dslice start"):
        x["b", named.dslice(_i([0, 1], ("k",)), 2)]


def test_dslice_lowers_to_dynamic_slice():
    text = named.compile(lambda x, i: x["c", named.ds(i, 2)]).lower(_x(), arr(np.int32(1), ())).as_text("stablehlo")
    assert "stablehlo.dynamic_slice" in text and "stablehlo.gather" not in text


# ------------------------------------------------------------------------------------------- updated_slice
def test_updated_slice():
    x = _x(("b", "a", "c"))
    upd = rng.normal(size=(2, 3)).astype(np.float32)
    u = arr(upd, ("c", "a"))  # missing b: repeated along it
    eager, _ = eager_and_compiled(lambda x, u: named.updated_slice(x, {"c": 2}, u), x, u)
    expected = DATA.copy()
    expected[:, :, 2:4] = upd.T[:, None, :]
    assert_named_close(eager, expected, NAMES)
    eager, _ = eager_and_compiled(lambda x, u, s: x.updated_slice({"c": s, "a": 0}, u), x, u,
                                  arr(np.int32(4), ()))
    expected = DATA.copy()
    expected[:, :, 3:5] = upd.T[:, None, :]  # a traced start is moved inside, like lax.dynamic_update_slice
    assert_named_close(eager, expected, NAMES)


def test_updated_slice_errors():
    x = _x()
    with pytest.raises(named.AxisError, match="update of size 3 at 3 does not fit axis 'c' of size 5"):
        named.updated_slice(x, {"c": 3}, named.ones(named.Axis("c", 3)))
    with pytest.raises(named.AxisError, match="axes \\[z=2\\] that the array"):
        named.updated_slice(x, {"c": 0}, named.ones(named.Axis("z", 2)))
    with pytest.raises(named.AxisError, match="'b' has size 2 in the update but 4 in the operand"):
        named.updated_slice(x, {"c": 0}, named.ones(named.make_axes(b=2, c=1)))
    with pytest.raises(TypeError, match="0-axis integer"):
        named.updated_slice(x, {"c": 1.5}, named.ones(named.Axis("c", 1)))


# --------------------------------------------------------------------------------------------- x.at[...]
def _np_update(data, np_idx, value, combine):
    out = data.copy()
    fn = {"add": np.add, "multiply": np.multiply, "min": np.minimum, "max": np.maximum}
    if combine == "set":
        out[np_idx] = value
    else:
        fn[combine].at(out, np_idx, value)
    return out


AT_CASES = [
    ({"a": 1}, (1,), ("b", "c")),
    ({"b": slice(1, 3), "c": -1}, (slice(None), slice(1, 3), -1), ("a", "b")),
    ({"c": slice(None, None, 2)}, (slice(None), slice(None), slice(None, None, 2)), ("a", "b", "c")),
    ({"c": slice(None, None, -3)}, (slice(None), slice(None), slice(None, None, -3)), ("a", "b", "c")),
    ({"b": "ids"}, (slice(None), np.array([3, 0, 3])), ("a", "k", "c")),
    ({"a": 2, "c": "ids"}, (2, slice(None), np.array([3, 0, 3])), ("k", "b")),
]


@pytest.mark.parametrize("idx,np_idx,region", AT_CASES)
@pytest.mark.parametrize("combine", ["set", "add", "multiply", "min", "max"])
@pytest.mark.parametrize("layout", LAYOUTS[:2])
def test_at_updates(idx, np_idx, region, combine, layout):
    if combine == "set" and "ids" in idx.values():
        idx = {k: ("uniq" if v == "ids" else v) for k, v in idx.items()}  # repeated sets have no fixed winner
        np_idx = tuple(np.array([3, 0, 1]) if isinstance(i, np.ndarray) else i for i in np_idx)
    value = rng.normal(size=DATA[np_idx].shape).astype(np.float32)  # in NumPy's order of the region axes
    ids = {"ids": _i([3, 0, 3], ("k",)), "uniq": _i([3, 0, 1], ("k",))}
    resolved = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in idx.items()}
    x = _x(layout)
    v = arr(value, region)
    eager, _ = eager_and_compiled(lambda x, v: getattr(x.at[resolved], combine)(v), x, v)
    assert eager.axes == x.axes
    assert_named_close(eager, _np_update(DATA, np_idx, value, combine), NAMES, rtol=1e-5)


def test_at_broadcasts_scalars_and_casts_to_the_array_dtype():
    x = _x(dtype=np.int32)
    out = x.at["b", 1:3].set(7.9)
    expected = _expected(np.int32).copy()
    expected[:, 1:3] = 7
    assert_named_close(out, expected, NAMES, dtype=np.int32)
    b = _x(dtype=np.bool_)
    out = b.at[{"a": _i([0, 0], ("k",))}].add(True)
    expected = _expected(np.bool_).copy()
    expected[0] = True
    assert_named_close(out, expected, NAMES)


def test_at_get_is_indexing():
    x = _x(("c", "b", "a"))
    ids = _i([1, 0], ("k",))
    assert_named_close(x.at["c", ids].get(), DATA[:, :, [1, 0]], ("a", "b", "k"))


def test_at_drops_out_of_range_writes_and_clip_mode_clamps():
    x = arr(np.zeros(5, np.float32), ("t",))
    ids = _i([1, 7, -1, -8], ("k",))
    eager, _ = eager_and_compiled(lambda x, i: x.at[{"t": i}].add(1.0), x, ids)
    assert_named_close(eager, [0, 1, 0, 0, 1], ("t",))
    eager, _ = eager_and_compiled(lambda x, i: x.at[{"t": i}].add(1.0, mode="clip"), x, ids)
    assert_named_close(eager, [1, 1, 0, 0, 2], ("t",))
    with pytest.raises(ValueError, match="mode"):
        x.at["t", 0].set(1.0, mode="wrap")


@pytest.mark.parametrize("start", [-2, 0, 3, 5, 9])
def test_at_with_dslice_and_traced_scalars_drops_what_falls_outside(start):
    data = np.arange(5, dtype=np.float32)
    x = arr(data, ("t",))
    eager, _ = eager_and_compiled(lambda x, s: x.at["t", named.ds(s, 3)].add(10.0), x, arr(np.int32(start), ()))
    expected = data.copy()
    for j in range(start, start + 3):
        if 0 <= j < 5:
            expected[j] += 10
    assert_named_close(eager, expected, ("t",))
    eager, _ = eager_and_compiled(lambda x, s: x.at["t", s].set(-1.0), x, arr(np.int32(start), ()))
    expected = data.copy()
    j = start + 5 if start < 0 else start
    if 0 <= j < 5:
        expected[j] = -1
    assert_named_close(eager, expected, ("t",))


def test_at_rejects_updates_with_foreign_axes():
    x = _x()
    with pytest.raises(named.AxisError, match="axes \\[z=2\\] that the indexed region"):
        x.at["a", 0].set(named.ones(named.Axis("z", 2)))
    with pytest.raises(named.AxisError, match="do not fit the indexed region"):
        x.at[{"b": _i([0, 1], ("k",))}].add(named.ones(named.Axis("k", 3)))
    with pytest.raises(named.AxisError, match="update \\[a=3\\] has axes \\[a=3\\]"):
        x.at["a", 0].add(named.ones(A))
    with pytest.raises(named.AxisError, match="'b' has size 2 .* size 3"):
        x.at["b", 1:3].add(named.ones(B.resize(3)))


# ------------------------------------------------------------------------------------- ops and IR text
def test_indexing_ops_round_trip_through_the_ir_text():
    def program(x, i, ids):
        return [x["a", 1:3, "c", ::2], x["b", named.ds(i, 2)], x["b", i], x[{"c": ids}],
                x.at[{"c": ids}].add(1.0), x.at["a", named.ds(i, 2)].set(0.0),
                named.updated_slice(x, {"b": i}, named.zeros(B.resize(2)))]

    lowered = named.compile(program, builtin_passes=False).lower(_x(), arr(np.int32(1), ()), _i([0, 4], ("k",)))
    for stage in ("traced", "partitioned"):
        text = lowered.as_text(stage)
        assert d.print_function(d.parse(text)) == text
    text = lowered.as_text("traced")
    for op in ("slice", "dynamic_slice", "dynamic_update_slice", "gather", "scatter"):
        assert f"named.{op} " in text
    assert 'mode = "fill"' in text and 'mode = "drop"' in text and 'combine = "add"' in text
    hlo = lowered.as_text("stablehlo")
    for op in ("slice", "dynamic_slice", "dynamic_update_slice", "gather", "scatter"):
        assert f"stablehlo.{op}" in hlo


T = d.TensorType
X = T("f32", (A, B))
I0 = T("i32", ())


@pytest.mark.parametrize("cls,types,attrs,error,words", [
    (d.Slice, (X,), {"axes": ("b",), "start": (2,), "limit": (5,), "stride": (1,)}, named.AxisError,
     "window 2:5 is out of range for axis 'b' of size 4"),
    (d.Slice, (X,), {"axes": ("z",), "start": (0,), "limit": (1,), "stride": (1,)}, named.AxisError, "'z'"),
    (d.Slice, (X,), {"axes": ("b",), "start": (0,), "limit": (1,), "stride": (0,)}, d.VerifyError, "stride 0"),
    (d.Slice, (X,), {"axes": ("b",), "start": (0, 1), "limit": (1,), "stride": (1,)}, d.VerifyError, "2 entries"),
    (d.DynamicSlice, (X, I0), {"axes": ("b",), "sizes": (5,), "mode": "clip"}, named.AxisError,
     "window of 5 does not fit axis 'b' of size 4"),
    (d.DynamicSlice, (X, T("i32", (A,))), {"axes": ("b",), "sizes": (1,), "mode": "clip"}, named.AxisError,
     "start for axis 'b' must have no axes"),
    (d.DynamicSlice, (X, T("f32", ())), {"axes": ("b",), "sizes": (1,), "mode": "clip"}, d.VerifyError,
     "must be an integer"),
    (d.DynamicSlice, (X,), {"axes": ("b",), "sizes": (1,), "mode": "clip"}, d.VerifyError, "start operand"),
    (d.DynamicSlice, (X, I0), {"axes": ("b",), "sizes": (1,), "mode": "wrap"}, d.VerifyError, "mode"),
    (d.DynamicUpdateSlice, (X, T("f32", (A,)), I0), {"axes": ("b",), "mode": "clip"}, named.AxisError,
     "must have the operand's axes"),
    (d.DynamicUpdateSlice, (X, T("f32", (A, B.resize(5))), I0), {"axes": ("b",), "mode": "clip"},
     named.AxisError, "'b' has size 5 in the update but 4"),
    (d.DynamicUpdateSlice, (X, T("i32", (A, B)), I0), {"axes": ("b",), "mode": "clip"}, d.VerifyError,
     "convert first"),
    (d.Gather, (X, T("i32", (A.resize(2),))), {"axes": ("b",), "mode": "clip"}, named.AxisError,
     "index axis 'a' has size 2 but the operand's axis 'a' has size 3"),
    (d.Gather, (X, T("f32", (C,))), {"axes": ("b",), "mode": "clip"}, d.VerifyError, "integer array"),
    (d.Gather, (X, T("i32", (C,)), T("i32", (C.resize(2),))), {"axes": ("a", "b"), "mode": "clip"},
     named.AxisError, "'c' has size 5"),
    (d.Scatter, (X, T("f32", (C.resize(2),)), T("i32", (C,))), {"axes": ("b",), "combine": "add", "mode": "drop"},
     named.AxisError, "axis 'c' of size 2 has size 5 there"),
    (d.Scatter, (X, T("f32", (B,)), T("i32", (C,))), {"axes": ("b",), "combine": "add", "mode": "drop"},
     named.AxisError, "axis 'b' of size 4 is not in it"),
    (d.Scatter, (X, T("f32", ()), T("i32", (C,))), {"axes": ("b",), "combine": "sub", "mode": "drop"},
     d.VerifyError, "combine|mode must be one of"),
])
def test_type_rules_reject_bad_operands(cls, types, attrs, error, words):
    with pytest.raises(error, match=words):
        cls.type_rule(types, attrs)


def test_type_rule_errors_carry_the_users_line():
    with pytest.raises(named.AxisError) as e:
        named.compile(lambda x: x[{"b": _i([0], ("a",))}])(_x())
    assert "test_indexing.py" in str(e.value) and "named.gather" in str(e.value)


def test_sharded_gather_scatter_and_slices_match_unsharded():
    x = arr(rng.normal(size=(8, 6)).astype(np.float32), ("batch", "vocab"))
    ids = _i(rng.integers(0, 6, size=(8, 3)), ("batch", "k"))

    def program(x, ids, i):
        return x[{"vocab": ids}], x.at[{"vocab": ids}].add(1.0), x["vocab", named.ds(i, 4)], x["vocab", 1:5]

    plain = named.compile(program)(x, ids, arr(np.int32(3), ()))
    sharded = named.compile(program, axis_resources={"batch": "data"}, mesh={"data": 4})(x, ids, arr(np.int32(3), ()))
    for p, s in zip(plain, sharded):
        assert p.axes == s.axes
        np.testing.assert_allclose(np.asarray(s), np.asarray(p), rtol=1e-6)
    assert_named_close(plain[0], np.take_along_axis(np.asarray(x), np.asarray(ids), 1), ("batch", "k"))
    assert as_numpy(sharded[3]).shape == (8, 4)


def test_dblock_and_ndim():
    import named
    import numpy as np
    x = named.arange(named.Axis("t", 8))
    assert np.asarray(x["t", named.dblock(1, 3)]).tolist() == [3, 4, 5]
    f = named.compile(lambda x, i: x["t", named.dblock(i, 3)])
    assert np.asarray(f(x, 2)).tolist() == [6, 7, 0]
    assert named.ndim(x) == 1 and named.ndim(2.0) == 0
