"""named.einsum (haliax's named syntax) against numpy.einsum, eagerly and compiled; its IR; errors
with carets; and a hypothesis fuzz of the equation parser."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import named
from _named_testing import arr, assert_named_close, eager_and_compiled
from named import Axis
from named.compiler import Builder, tracing
from named.core import NamedArray, Traced
from named.dialect import TensorType

Hgt, Wid, Dep = named.make_axes(Height=2, Width=3, Depth=4)
rng = np.random.default_rng(4)
D1 = rng.normal(size=(2, 3, 4)).astype(np.float32)
D2 = rng.normal(size=(4, 3, 2)).astype(np.float32)
M1 = arr(D1, (Hgt, Wid, Dep))
M2 = arr(D2, (Dep, Wid, Hgt))


def run(eq, *arrays, **aliases):
    eager, _ = eager_and_compiled(lambda *xs: named.einsum(eq, *xs, **aliases), *arrays)
    return eager


def names(x):
    return tuple(a.name for a in x.axes)


# (equation, aliases, numpy equation over D1 "ijk" (H W D) and D2 "kji" (D W H), expected axis names)
CASES = [
    # positional
    ("i j k,k j i-> j k", {}, "ijk,kji->jk", ("Width", "Depth")),
    ("i j k,k j i->k", {}, "ijk,kji->k", ("Depth",)),
    ("i j k,k j i->", {}, "ijk,kji->", ()),
    ("h w d, d w h -> h w", {}, "ijk,kji->ij", ("Height", "Width")),
    ("h w d, d w h -> w h", {}, "ijk,kji->ji", ("Width", "Height")),
    ("h w d, d w h -> h w d", {}, "ijk,kji->ijk", ("Height", "Width", "Depth")),
    ("i j k,k j i-> j k", {"i": Hgt}, "ijk,kji->jk", ("Width", "Depth")),
    ("i j k,k j i-> j k", {"i": "Height"}, "ijk,kji->jk", ("Width", "Depth")),
    ("h ... d,d ... h-> ...", {}, "ijk,kji->j", ("Width",)),
    ("h ... d,d ... h-> ... d", {}, "ijk,kji->jk", ("Width", "Depth")),
    ("h ... d,d ... h-> d ...", {}, "ijk,kji->kj", ("Depth", "Width")),
    ("... d, d ... -> ...", {}, "ijk,kji->ij", ("Height", "Width")),
    # named
    ("{Height Width Depth} -> Height Width", {}, "ijk,kji->ij", ("Height", "Width")),
    ("{H W D} -> H W", {"H": Hgt, "W": Wid, "D": Dep}, "ijk,kji->ij", ("Height", "Width")),
    ("{Height Width Depth} -> Depth", {}, "ijk,kji->k", ("Depth",)),
    ("{Height Width Depth} -> ", {}, "ijk,kji->", ()),
    ("{Depth} -> ", {}, "ijk,kji->ij", ("Height", "Width")),
    ("{Depth} -> Width", {}, "ijk,kji->ij", ("Height", "Width")),
    ("{} ->", {}, "ijk,kji->ijk", ("Height", "Width", "Depth")),
    ("{Height Depth} -> ", {}, "ijk,kji->j", ("Width",)),
    ("{Height, Depth} -> ", {}, "ijk,kji->j", ("Width",)),
    ("{...} ->", {}, "ijk,kji->", ()),
    ("{...} -> ...", {}, "ijk,kji->ijk", ("Height", "Width", "Depth")),
    ("{} -> ...", {}, "ijk,kji->ijk", ("Height", "Width", "Depth")),
    ("{...} -> Depth Height", {}, "ijk,kji->ki", ("Depth", "Height")),
    ("{Depth} -> Depth ...", {}, "ijk,kji->kij", ("Depth", "Height", "Width")),
    ("{Depth Height} -> Depth ... Height", {}, "ijk,kji->kji", ("Depth", "Width", "Height")),
    ("{Depth} -> ... Depth ...", {}, "ijk,kji->ijk", ("Height", "Width", "Depth")),
    ("{Width} -> Depth ...", {}, "ijk,kji->ki", ("Depth", "Height")),
    ("{h w d} -> h w", {"h": Hgt, "w": Wid, "d": Dep}, "ijk,kji->ij", ("Height", "Width")),
    ("{x y} -> y", {"x": Hgt, "y": Wid}, "ijk,kji->kj", ("Depth", "Width")),
    # output only
    ("-> Height Width", {}, "ijk,kji->ij", ("Height", "Width")),
    (" -> Depth", {}, "ijk,kji->k", ("Depth",)),
    ("-> ...", {}, "ijk,kji->ijk", ("Height", "Width", "Depth")),
    ("-> ... Width", {}, "ijk,kji->ikj", ("Height", "Depth", "Width")),
    ("-> Depth ... Width", {}, "ijk,kji->kij", ("Depth", "Height", "Width")),
    ("->", {}, "ijk,kji->", ()),
]


@pytest.mark.parametrize("eq,aliases,np_eq,out", CASES, ids=[c[0] for c in CASES])
def test_against_numpy_einsum(eq, aliases, np_eq, out):
    got = run(eq, M1, M2, **aliases)
    assert names(got) == out
    assert_named_close(got, np.einsum(np_eq, D1, D2), out, rtol=1e-5, atol=1e-5)


def test_one_and_three_operands():
    m3 = arr(D1[:, 0, :].copy(), (Hgt, Dep))
    assert_named_close(run("-> Height", M1), np.einsum("ijk->i", D1), ("Height",), rtol=1e-5)
    assert_named_close(run("-> h w", M1, h=Hgt, w=Wid), np.einsum("ijk->ij", D1), ("Height", "Width"), rtol=1e-5)
    assert_named_close(run("-> h w", M1, m3, h=Hgt, w=Wid), np.einsum("ijk,ik->ij", D1, D1[:, 0, :]),
                       ("Height", "Width"), rtol=1e-5)
    assert_named_close(run("a b c, c b a, a c -> b", M1, M2, m3), np.einsum("ijk,kji,ik->j", D1, D2, D1[:, 0, :]),
                       ("Width",), rtol=1e-4)
    kept = run("{Width} -> Height", M1)  # Width is contracted, Depth kept, Height placed last
    assert names(kept) == ("Depth", "Height")
    assert_named_close(kept, D1.sum(axis=1), ("Height", "Depth"), rtol=1e-5)


def test_haliax_image_examples():
    Batch, Embed, Hh, Ww, Cc = named.make_axes(batch=4, embed=5, h=3, w=2, c=3)
    im = rng.normal(size=(4, 3, 2, 3)).astype(np.float32)
    w2 = rng.normal(size=(3, 5)).astype(np.float32)
    nim, nw2 = arr(im, (Batch, Hh, Ww, Cc)), arr(w2, (Cc, Embed))
    full = np.einsum("bhwc,ce->bhwe", im, w2)
    for eq in ["b h w c, c e -> b h w e", "... c, c e -> ... e", "{c embed} -> embed", "-> batch h w embed"]:
        assert_named_close(run(eq, nim, nw2), full, ("batch", "h", "w", "embed"), rtol=1e-5, atol=1e-5)
    assert_named_close(run("{...} -> ...", nim, nw2), np.einsum("bhwc,ce->bhwce", im, w2),
                       ("batch", "h", "w", "c", "embed"), rtol=1e-5)
    assert_named_close(run("{...} -> ", nim, nw2), np.einsum("bhwc,ce->", im, w2), (), rtol=1e-4)


def test_dtypes_promote_like_dot():
    ints = arr(np.arange(6, dtype=np.int32).reshape(2, 3), (Hgt, Wid))
    got = run("h w -> w", ints)
    assert got.dtype == np.int32
    assert_named_close(got, np.arange(6).reshape(2, 3).sum(0), ("Width",))
    mixed = run("{Width} ->", ints, arr(D1, (Hgt, Wid, Dep)))
    assert mixed.dtype == np.float32
    assert_named_close(mixed, np.einsum("ij,ijk->ik", np.arange(6).reshape(2, 3), D1), ("Height", "Depth"),
                       rtol=1e-5)
    wide = named.einsum("{Width} ->", ints, preferred_element_type="f32")
    assert wide.dtype == np.float32


def test_lowers_to_one_dot_without_transposes_when_order_fits():
    text = named.compile(lambda a, b: named.einsum("{Depth} -> Height Width", a, b),
                         builtin_passes=False).lower(M1, arr(D2.transpose(2, 1, 0).copy(), (Hgt, Wid, Dep))).as_text()
    assert text.count("named.dot") == 1 and "named.transpose" not in text
    swapped = named.compile(lambda a, b: named.einsum("-> Width Height", a, b), builtin_passes=False)
    text = swapped.lower(M1, M2).as_text()
    assert text.count("named.dot") == 1 and text.count("named.transpose") == 1


# ------------------------------------------------------------------------------------------- errors
def assert_caret(err, eq, column, *words):
    text = str(err)
    for w in words:
        assert w in text, (w, text)
    lines = text.splitlines()
    i = lines.index("    " + eq)
    if column is not None:
        assert lines[i + 1] == "    " + " " * column + "^", text


ERRORS = [  # (equation, arrays, aliases, error type, words, caret column)
    ("-> Height Height", 2, {}, named.ParseError, ["'Height' occurs more than once"], 10),
    ("x y z, x y z -> x", 3, {}, named.ParseError, ["2 operand spec(s) but 3 array(s)"], 12),
    ("x y z -> x", 2, {}, named.ParseError, ["1 operand spec(s) but 2 array(s)"], 5),
    ("x y z a b -> x", 1, {}, named.ParseError, ["operand 1 has 3 axes", "names 5"], 6),
    ("x y ... a b -> x", 1, {}, named.ParseError, ["operand 1 has 3 axes", "names 4"], 10),
    ("x y -> x", 1, {}, named.ParseError, ["operand 1 has 3 axes", "names 2"], 3),
    ("x ... y ... -> x", 1, {}, named.ParseError, ["more than one '...'"], 8),
    ("-> Q Width", 1, {}, named.ParseError, ["'Q' is not in any input", "Height=2"], 3),
    ("{h w d} -> h w", 2, {"h": Hgt, "w": Wid}, named.ParseError, ["'d' is not in any input"], 5),
    ("{h w} -> h w", 2, {"h": Hgt, "w": Wid, "d": Dep}, named.ParseError, ["alias(es) d are not used"], None),
    ("-> Height Width", 2, {"Q": Axis("Q", 2)}, named.ParseError, ["alias(es) Q"], None),
    ("-> h w", 1, {"h": Hgt.resize(4), "w": Wid}, named.AxisError, ["alias h=Height=4", "Height=2"], 3),
    ("i j k,k j i-> j k", 2, {"i": Wid}, named.AxisError, ["alias of Width=3", "Height=2"], 0),
    ("i j k,q j i-> j k", 2, {"i": Hgt, "q": Hgt}, named.AxisError, ["'q' is an alias of Height=2", "Depth=4"], 6),
    ("i j k, i j k -> i", 2, {}, named.ParseError, ["'i' matches axis 'Height'", "Depth=4"], 7),
    ("i j k, k l i -> i", 2, {}, named.ParseError, ["'j' and 'l' both match axis Width=3"], 9),
    ("i j k, k j i -> q", 2, {}, named.ParseError, ["'q' does not occur on the lhs"], 16),
    ("{a}, {b} -> a", 2, {}, named.ParseError, ["must be the whole lhs"], 0),
    ("a b c, {b} -> a", 2, {}, named.ParseError, ["must be the whole lhs"], 7),
    ("(a b) c -> a", 1, {}, named.ParseError, ["parenthesized"], 0),
    ("a b c -> (x: a b)", 1, {}, named.ParseError, ["parenthesized"], 9),
    ("a b c, c b a -> {a}", 2, {}, named.ParseError, ["must be ordered"], 16),
    ("a b c, c b a", 2, {}, named.ParseError, ["expected", "'->'"], 12),
    ("a b c; c b a -> a", 2, {}, named.ParseError, ["unexpected character ';'"], 5),
    ("a b (c -> a", 1, {}, named.ParseError, ["unbalanced parentheses"], 7),
    ("{Height Height} -> ", 2, {}, named.ParseError, ["'Height' occurs more than once"], 8),
]


@pytest.mark.parametrize("eq,n,aliases,error,words,column", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_point_at_the_fault(eq, n, aliases, error, words, column):
    arrays = [M1, M2, M1][:n]
    with pytest.raises(error) as err:
        named.einsum(eq, *arrays, **aliases)
    assert "test_einsum.py:" in str(err.value)
    assert_caret(err.value, eq, column, *words)


def test_argument_errors():
    with pytest.raises(TypeError, match="at least one array"):
        named.einsum("->")
    with pytest.raises(TypeError, match="an alias is a named.Axis or an axis name"):
        named.einsum("{x} ->", M1, x=3)
    with pytest.raises(named.AxisError, match="Height"):  # same name, different sizes: dot refuses
        named.einsum("{Width} -> ", M1, arr(D1[:1], (Hgt.resize(1), Wid, Dep)))


# --------------------------------------------------------------------------------------------- fuzz
_TOKENS = ["Height", "Width", "Depth", "a", "b", "(", ")", "{", "}", ":", "...", ",", "->", " ", " ", "'x'"]
_CHARS = "HWDab(){}:.,->_ '\"\\é\n"


def _check_einsum(text, aliases):
    builder = Builder()
    xs = []
    for axes in ((Hgt, Wid, Dep), (Dep, Wid, Hgt)):
        xs.append(NamedArray._new(Traced(builder.add_arg(TensorType("f32", axes))), axes))
    try:
        with tracing(builder):
            named.einsum(text, *xs, **aliases)
    except (named.ParseError, named.AxisError):
        pass


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=_CHARS, max_size=40), st.dictionaries(st.sampled_from(["a", "b"]),
                                                                 st.sampled_from([Hgt, Wid, "Depth", "zz"]),
                                                                 max_size=2))
def test_fuzz_arbitrary_strings_only_raise_named_errors(text, aliases):
    _check_einsum(text, aliases)


@settings(max_examples=400, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_TOKENS), max_size=24).map("".join),
       st.dictionaries(st.sampled_from(["a", "b"]), st.sampled_from([Hgt, Wid, Dep, "Depth", Hgt.resize(7)]),
                       max_size=2))
def test_fuzz_token_soup_only_raises_named_errors(text, aliases):
    _check_einsum(text, aliases)
