"""named.rearrange's string language: every example of the haliax rearrange guide (other sizes)
against NumPy, eagerly and compiled; haliax's own cases; the IR it lowers to; errors with carets;
and a hypothesis fuzz that no string crashes or hangs the parser and planner."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import named
from _named_testing import arr, assert_named_close, eager_and_compiled
from named import Axis
from named.compiler import Builder, tracing
from named.core import NamedArray, Traced
from named.dialect import TensorType

N, C, H, W = named.make_axes(N=4, C=3, H=6, W=8)
rng = np.random.default_rng(3)
DATA = rng.normal(size=(4, 3, 6, 8)).astype(np.float32)
X = arr(DATA, (N, C, H, W))


def run(expr, x=X, **bindings):
    eager, _ = eager_and_compiled(lambda x: named.rearrange(x, expr, **bindings), x)
    return eager


def names(x):
    return tuple(a.name for a in x.axes)


# ------------------------------------------------------------------------------- the guide, verbatim
PATCHES = DATA.reshape(4, 3, 3, 2, 4, 2).transpose(0, 2, 4, 1, 3, 5)  # N ph pw C h w (h = w = 2)

GUIDE = [  # (expression, bindings, expected axes, numpy reference)
    ("N C H W -> N H W C", {}, (N, H, W, C), DATA.transpose(0, 2, 3, 1)),
    ("num ch h w -> num h w ch", {}, (N, H, W, C), DATA.transpose(0, 2, 3, 1)),
    ("N C ... -> N ... C", {}, (N, H, W, C), DATA.transpose(0, 2, 3, 1)),
    ("{H W} -> ... W H", {}, (N, C, W, H), DATA.transpose(0, 1, 3, 2)),
    ("{W C H N} -> N H W C", {}, (N, H, W, C), DATA.transpose(0, 2, 3, 1)),
    ("(step microbatch) ... -> step microbatch ...", {"step": 2},
     (Axis("step", 2), Axis("microbatch", 2), C, H, W), DATA.reshape(2, 2, 3, 6, 8)),
    ("{(N: step microbatch) ...} -> step microbatch ...", {"step": 2},
     (Axis("step", 2), Axis("microbatch", 2), C, H, W), DATA.reshape(2, 2, 3, 6, 8)),
    ("{H W} -> ... (F: H W) ...", {}, (N, C, Axis("F", 48)), DATA.reshape(4, 3, 48)),
    ("{H W C} -> ... (F: H W) ... C", {}, (N, Axis("F", 48), C), DATA.transpose(0, 2, 3, 1).reshape(4, 48, 3)),
    ("N C (patch_h H) (patch_w W) -> N (P: patch_h patch_w) C H W", {"H": 2, "W": 2},
     (N, Axis("P", 12), C, Axis("H", 2), Axis("W", 2)), PATCHES.reshape(4, 12, 3, 2, 2)),
    ("{(H: patch_h H) (W: patch_w W) C } -> ... (P: patch_h patch_w) C H W", {"H": 2, "W": 2},
     (N, Axis("P", 12), C, Axis("H", 2), Axis("W", 2)), PATCHES.reshape(4, 12, 3, 2, 2)),
    ("N C (patch_h H) (patch_w W) -> N (P: patch_h patch_w) (C: C H W)", {"H": 2, "W": 2},
     (N, Axis("P", 12), Axis("C", 12)), PATCHES.reshape(4, 12, 12)),
    ("{(H: patch_h H) (W: patch_w W) C } -> ... (P: patch_h patch_w) (C: C H W)", {"H": 2, "W": 2},
     (N, Axis("P", 12), Axis("C", 12)), PATCHES.reshape(4, 12, 12)),
    ("N C (patch_h foo) (patch_w bar) -> N (P: patch_h patch_w) (C: C foo bar)",
     {"foo": Axis("H", 2), "bar": Axis("W", 2)}, (N, Axis("P", 12), Axis("C", 12)), PATCHES.reshape(4, 12, 12)),
    ("N C (nh ph) (nw pw) -> N (P: nh nw) (C: C ph pw)", {"P": "patch", "pw": 2, "ph": 2},
     (N, Axis("patch", 12), Axis("C", 12)), PATCHES.reshape(4, 12, 12)),
    # the API reference's examples
    ("N C H W -> W N C H", {}, (W, N, C, H), DATA.transpose(3, 0, 1, 2)),
    ("N C H W -> N (E: C H W)", {}, (N, Axis("E", 144)), DATA.reshape(4, 144)),
    ("{ N (H: h1 H) (W: w1 W) C } -> (N: N h1 w1) (E: H W C) ...", {"H": 2, "W": 2},
     (Axis("N", 48), Axis("E", 12)), PATCHES.reshape(48, 3, 2, 2).transpose(0, 2, 3, 1).reshape(48, 12)),
    ("{ N (H: h1 H) (W: w1 W) C } -> (N: N h1 w1) (embed: H W C) ...", {"H": 2, "W": 2},
     (Axis("N", 48), Axis("embed", 12)), PATCHES.reshape(48, 3, 2, 2).transpose(0, 2, 3, 1).reshape(48, 12)),
]


@pytest.mark.parametrize("expr,bindings,axes,expected", GUIDE, ids=[g[0] for g in GUIDE])
def test_guide_examples(expr, bindings, axes, expected):
    got = run(expr, **bindings)
    assert got.axes == axes
    assert_named_close(got, expected, names(got))


def test_guide_merge_back_inverts_the_split():
    y = named.rearrange(X, "(step microbatch) ... -> step microbatch ...", step=2)
    back = run("step microbatch ... -> (N: step microbatch) ...", y)
    assert back.axes == X.axes
    assert_named_close(back, DATA, names(X))


def test_guide_aliases_give_the_same_axes():
    y = named.rearrange(X, "N C (patch_h H) (patch_w W) -> N (P: patch_h patch_w) (C: C H W)", H=2, W=2)
    y2 = named.rearrange(X, "N C (patch_h foo) (patch_w bar) -> N (P: patch_h patch_w) (C: C foo bar)",
                         foo=Axis("H", 2), bar=Axis("W", 2))
    assert y.axes == y2.axes
    np.testing.assert_array_equal(np.asarray(y), np.asarray(y2))


def test_guide_error_example_points_at_the_extra_axis():
    with pytest.raises(named.ParseError) as err:
        named.rearrange(X, "N C H W Z -> N H W C")
    assert_caret(err.value, "N C H W Z -> N H W C", 8, "too many axes")


def test_commas_separate_like_spaces_and_dtypes_pass_through():
    ints = arr(np.arange(24, dtype=np.int32).reshape(2, 3, 4), named.make_axes(a=2, b=3, c=4))
    got = run("a, b, c -> c, (m: a b)", ints)
    assert got.dtype == np.int32 and names(got) == ("c", "m")
    assert_named_close(got, np.arange(24).reshape(6, 4).T, ("c", "m"))


def test_quoted_names_and_string_binding_to_an_existing_axis():
    got = run("'N' \"C\" ... -> (\"a b\": N C) ...")
    assert names(got) == ("a b", "H", "W")
    assert_named_close(got, DATA.reshape(12, 6, 8), names(got))
    assert run("{q} -> ... q", q="N").axes == (C, H, W, N)


# ------------------------------------------------------------------------- haliax's test expectations
Hh, Wh, Ch, Dh, Bh = named.make_axes(H=6, W=4, C=3, D=2, B=5)
Q = Axis("Q", 30)
ZD = rng.integers(0, 255, (5, 2, 6, 4, 3)).astype(np.int32)
Z = arr(ZD, (Bh, Dh, Hh, Wh, Ch))
ZQ = arr(ZD.transpose(0, 2, 1, 3, 4).reshape(30, 2, 4, 3), (Q, Dh, Wh, Ch))

HALIAX = [
    (Z, "b d h w c -> b h w d c", {}, (Bh, Hh, Wh, Dh, Ch)),
    (Z, "{C W H D B} -> B H W D C", {}, (Bh, Hh, Wh, Dh, Ch)),
    (Z, "... w c -> ... c w", {}, (Bh, Dh, Hh, Ch, Wh)),
    (Z, "b d ... -> d ... b", {}, (Dh, Hh, Wh, Ch, Bh)),
    (Z, "{B D} -> D ... B", {}, (Dh, Hh, Wh, Ch, Bh)),
    (Z, "{qqq C} -> qqq C ...", {"qqq": Bh}, (Bh, Ch, Dh, Hh, Wh)),
    (Z, "b d h w c -> d (Q: b h) w c", {}, (Dh, Q, Wh, Ch)),
    (Z, "{B D H ... C} -> D (Q: B H) ... C", {}, (Dh, Q, Wh, Ch)),
    (ZQ, "(Q: B H) d w c -> B d H w c", {"B": 5}, (Bh, Dh, Hh, Wh, Ch)),
    (ZQ, "{ (Q: b H) D } -> b D H ... ", {"b": Bh}, (Bh, Dh, Hh, Wh, Ch)),
    (ZQ, "{ W D C (Q: B H)} -> D (Z: B C) W H", {"H": Hh}, (Dh, Axis("Z", 15), Wh, Hh)),
    (Z, "b d h w c  -> d ... c ... h", {}, (Dh, Bh, Ch, Wh, Hh)),
    (Z, "b d h w c -> d ... (Q: b h) ... w", {}, (Dh, Q, Ch, Wh)),
    (Z, "b d h w c -> d ... (BB: b) ... w", {}, (Dh, Axis("BB", 5), Hh, Ch, Wh)),
    (Z, "{H W D} -> ... (E: H W D) ...", {}, (Bh, Axis("E", 48), Ch)),
    (Z, "{B H W} -> ... (Q: B H) ... W", {}, (Q, Dh, Ch, Wh)),
    (ZQ, "(q: b h) d w c -> b h d w c", {"b": Bh, "h": "H"}, (Bh, Hh, Dh, Wh, Ch)),
    (ZQ, "{(Q: b h) (W: e f)} -> ... b e h f", {"b": Bh, "h": Hh, "e": 2},
     (Dh, Ch, Bh, Axis("e", 2), Hh, Axis("f", 2))),
    (Z, "{B (H: h1 H) (W: w1 W)} -> (B: B h1 w1) H W ...", {"h1": 2, "w1": 2},
     (Axis("B", 20), Axis("H", 3), Axis("W", 2), Dh, Ch)),
]


@pytest.mark.parametrize("x,expr,bindings,axes", HALIAX, ids=[h[1] for h in HALIAX])
def test_haliax_cases_give_haliax_axes(x, expr, bindings, axes):
    assert run(expr, x, **bindings).axes == axes


def test_haliax_cases_values():
    # (Q: B H) is (b h) in C order: ZQ is Z with b, h merged; splitting it back must give Z
    got = run("(Q: B H) d w c -> B d H w c", ZQ, B=5)
    assert_named_close(got, ZD, ("B", "D", "H", "W", "C"))
    got = run("{ W D C (Q: B H)} -> D (Z: B C) W H", ZQ, H=Hh)
    assert_named_close(got, ZD.transpose(1, 0, 4, 3, 2).reshape(2, 15, 4, 6), ("D", "Z", "W", "H"))
    got = run("{(Q: b h) (W: e f)} -> ... b e h f", ZQ, b=Bh, h=Hh, e=2)
    ref = ZD.transpose(1, 4, 0, 3, 2).reshape(2, 3, 5, 2, 2, 6).transpose(0, 1, 2, 3, 5, 4)
    assert_named_close(got, ref, names(got))


def test_zero_axis_and_size_one_arrays():
    s = arr(np.float32(2.5), ())
    assert run("->", s).axes == ()
    one = arr(DATA[:1], (N.resize(1), C, H, W))
    got = run("(a b) ... -> b ... a", one, a=1)
    assert names(got) == ("b", "C", "H", "W", "a")


# ---------------------------------------------------------------------------------------- lowering
def ops_of(expr, x=X, **bindings):
    text = named.compile(lambda x: named.rearrange(x, expr, **bindings), builtin_passes=False).lower(x).as_text()
    return [line.split("=", 1)[1].split()[0] for line in text.splitlines() if " = named." in line]


def test_merges_in_storage_order_are_one_reshape_and_no_transpose():
    assert ops_of("N C H W -> N (E: C H W)") == ["named.reshape"]
    assert ops_of("{C H} -> ... (E: C H) ...") == ["named.reshape"]
    assert ops_of("(a b) ... -> a b ...", a=2) == ["named.reshape"]
    low = named.compile(lambda x: named.rearrange(x, "N C H W -> N (E: C H W)")).lower(X)
    assert "transpose" not in low.as_text("stablehlo")


def test_reorders_transpose_and_identities_emit_nothing():
    assert ops_of("{H W} -> ... W H") == ["named.transpose"]
    assert ops_of("n c h w -> n c h w") == []
    assert ops_of("{W} -> ... W") == []
    assert ops_of("n c h w -> (M: n) c h w") == ["named.rename"]
    assert ops_of("N C (ph h) (pw w) -> N (P: ph pw) (E: C h w)", h=2, w=2) == \
        ["named.reshape", "named.transpose", "named.reshape"]


def test_split_parts_named_like_other_axes_get_fresh_intermediate_names():
    # the split part "C" collides with the untouched axis C until C is merged away
    got = run("n c (C x) w -> n (C: c C) x w", C=2)
    assert got.axes == (N, Axis("C", 6), Axis("x", 3), W)
    assert_named_close(got, DATA.reshape(4, 3, 2, 3, 8).reshape(4, 6, 3, 8), names(got))


# ------------------------------------------------------------------------------------------- errors
def assert_caret(err, expr, column, *words):
    text = str(err)
    for w in words:
        assert w in text, (w, text)
    lines = text.splitlines()
    i = lines.index("    " + expr)
    assert lines[i + 1] == "    " + " " * column + "^", text


ERRORS = [  # (expression, bindings, error type, words, caret column)
    ("N C H W", {}, named.ParseError, ["expected '->'"], 7),
    ("N (C H -> N", {}, named.ParseError, ["unbalanced parentheses"], 7),
    ("N C) H W -> N", {}, named.ParseError, ["without '('"], 3),
    ("N (C (H)) W -> N", {}, named.ParseError, ["nested"], 5),
    ("{N C -> N", {}, named.ParseError, ["braces"], 5),
    ("N C H W -> N -> C", {}, named.ParseError, ["one arrow"], 13),
    ("N 2 H W -> N", {}, named.ParseError, ["digit"], 2),
    ("N C H W => N", {}, named.ParseError, ["unexpected character '='"], 8),
    ("N C .. W -> N", {}, named.ParseError, ["ellipsis is '...'"], 4),
    ("N C H W Z -> N H W C", {}, named.ParseError, ["too many axes", "4 axes"], 8),
    ("N C H -> N C H", {}, named.ParseError, ["matches 3 of the array's 4 axes", "'...'"], 5),
    ("N ... C ... -> N C ...", {}, named.ParseError, ["only one '...'"], 8),
    ("N C H W -> N C H W q", {}, named.ParseError, ["'q' is not bound"], 19),
    ("N C H H -> N C H", {}, named.ParseError, ["'H' appears more than once"], 6),
    ("N C H W -> N C H H W", {}, named.ParseError, ["'H' is used more than once"], 17),
    ("N C H W -> N C H", {}, named.ParseError, ["'W' (W=8)", "not used"], 6),
    ("N C H W -> N C (H W)", {}, named.ParseError, ["needs a name"], 15),
    ("N C H W -> {N C H W}", {}, named.ParseError, ["must be ordered"], 11),
    ("{(a b)} -> a b ...", {}, named.ParseError, ["names the axis it splits"], 1),
    ("{Q} -> Q ...", {}, named.ParseError, ["'Q' is not in the array", "N=4"], 1),
    ("{x} -> x ...", {"x": "Q"}, named.ParseError, ["'Q'", "bound to"], 1),
    ("{N N} -> N ...", {}, named.ParseError, ["matched more than once"], 3),
    ("N C H W -> N C H W", {"q": 2}, named.ParseError, ["binding(s) q"], None),
    ("n c h w -> (X: n c) h w", {"X": 5}, named.AxisError, ["merged axis 'X' has size 12", "5"], 11),
    ("N C H W -> (N: N C) H W", {"N": 5}, named.AxisError, ["'N' is bound to 5", "N=4"], 0),
    ("N C H W -> N (E: C H) W (E: )", {}, named.ParseError, ["at least one axis"], 24),
    ("N C H W -> N C H W N2 ", {}, named.ParseError, ["'N2' is not bound"], 19),
    ("N C (a b) W -> N C a b W", {}, named.AxisError, ["cannot infer the sizes of 'a', 'b'", "H=6"], 4),
    ("N C (a b) W -> N C a b W", {"a": 4}, named.AxisError, ["does not divide", "H=6"], 4),
    ("N C (a b) W -> N C a b W", {"a": 4, "b": 2}, named.AxisError, ["multiply to 8, not 6"], 4),
    ("{N} -> N ...", {"N": 7}, named.AxisError, ["bound to 7", "N=4"], 1),
    ("n c h w -> n c h w", {"n": Axis("N", 5)}, named.AxisError, ["bound to N=5", "N=4"], 0),
    ("n c h w -> (H: n c) h w", {}, named.ParseError, ["two axes named 'H'"], 20),
    ("n c h w -> (W: n c) h ...", {}, named.ParseError, ["two axes named 'W'"], 22),
    ("{ N (H: w1 H) (W: w1 W)} -> (N: N h1 w1) H W ...", {"H": 2, "W": 2}, named.ParseError,
     ["'w1' appears more than once"], 18),
]


@pytest.mark.parametrize("expr,bindings,error,words,column", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_point_at_the_fault(expr, bindings, error, words, column):
    with pytest.raises(error) as err:
        named.rearrange(X, expr, **bindings)
    assert f"test_rearrange.py:" in str(err.value)  # the user's line
    if column is None:
        assert all(w in str(err.value) for w in words) and expr in str(err.value)
    else:
        assert_caret(err.value, expr, column, *words)


def test_errors_under_compile_carry_the_user_line():
    @named.compile
    def f(x):
        return named.rearrange(x, "N C -> C N")

    with pytest.raises(named.ParseError, match="the lhs matches 2 of the array's 4 axes") as err:
        f(X)
    assert "test_rearrange.py:" in str(err.value)


def test_bad_binding_values_are_type_errors():
    with pytest.raises(TypeError, match="bindings are sizes"):
        named.rearrange(X, "N C H W -> N C H W", N=True)
    with pytest.raises(TypeError, match="bindings are sizes"):
        named.rearrange(X, "N C H W -> N C H W", N=2.0)
    with pytest.raises(named.AxisError, match="positive"):
        named.rearrange(X, "(a b) C H W -> a b C H W", a=0)
    with pytest.raises(TypeError, match="expression string"):
        named.rearrange_lang.rearrange_str(X, 3)


def test_parse_error_is_a_value_error():
    with pytest.raises(ValueError):
        named.rearrange(X, "N ->")


# --------------------------------------------------------------------------------------------- fuzz
def _traced(axes):
    builder = Builder()
    value = builder.add_arg(TensorType("f32", axes))
    return builder, NamedArray._new(Traced(value), axes)


_TOKENS = ["N", "C", "H", "W", "a", "b", "x", "(", ")", "{", "}", ":", "...", ",", "->", " ", " ", "'q'"]
_CHARS = "NCHWab()xy{}:.,->_ '\"\\1é\n\t"


def _check_rearrange(text, bindings):
    builder, x = _traced((N, C, H, W))
    try:
        with tracing(builder):
            out = named.rearrange(x, text, **bindings)
    except (named.ParseError, named.AxisError):
        return
    assert out.size == x.size  # a successful plan traced through the ops' own type rules


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=_CHARS, max_size=40), st.dictionaries(st.sampled_from(["a", "b", "x", "N"]),
                                                                 st.integers(1, 8), max_size=2))
def test_fuzz_arbitrary_strings_only_raise_named_errors(text, bindings):
    _check_rearrange(text, bindings)


@settings(max_examples=400, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_TOKENS), max_size=24).map("".join),
       st.dictionaries(st.sampled_from(["a", "b", "x", "H"]), st.sampled_from([1, 2, 3, 4, "C", "z", H]),
                       max_size=2))
def test_fuzz_token_soup_only_raises_named_errors(text, bindings):
    _check_rearrange(text, bindings)


def test_long_inputs_are_rejected_quickly():
    # lark's LALR parser is linear; these would take forever with a backtracking parser
    for text in ["(" * 5000, "a " * 5000 + "->", "{" + "a," * 5000 + "} -> ...", "'" + "\\'" * 5000]:
        with pytest.raises(named.ParseError):
            named.rearrange(X, text)
