"""named.scan / fold / cond / while_loop: Python-loop references eagerly and compiled, closures,
errors, the IR text of regions, partitioning, and gradients against jax.lax.scan / jax.lax.cond."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import named
from named.dialect import parse, print_function

from _named_testing import as_numpy

T, E, F = named.make_axes(t=5, e=3, f=2)


def _data(axes, seed=0, low=-1.0, high=1.0):
    rng = np.random.default_rng(seed)
    return named.named(rng.uniform(low, high, [a.size for a in axes]).astype(np.float32), axes)


def _both(fn, *args):
    """``fn`` eagerly and under @named.compile; the results must agree leaf by leaf."""
    eager = fn(*args)
    compiled = named.compile(fn)(*args)
    for a, b in zip(jax.tree_util.tree_leaves(eager, is_leaf=lambda x: isinstance(x, named.NamedArray)),
                    jax.tree_util.tree_leaves(compiled, is_leaf=lambda x: isinstance(x, named.NamedArray))):
        assert a.axes == b.axes
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)
    return eager


# --------------------------------------------------------------------------------------------- scan
@pytest.mark.parametrize("order", [(T, E), (E, T)], ids=["t-first", "t-inner"])
@pytest.mark.parametrize("reverse", [False, True])
def test_scan_matches_a_python_loop(order, reverse):
    xs = _data(order, 1)
    w = _data((E,), 2)

    def program(xs, w):
        def body(carry, x):
            total, count = carry
            new = total * 0.5 + x * w
            return (new, count + 1), {"sq": (new * new).sum(), "x": x}
        return named.scan(body, "t", reverse=reverse)((named.zeros(E), 0), xs)

    (total, count), ys = _both(program, xs, w)
    data, wd = as_numpy(xs, "te"), np.asarray(w)
    ref, sq, seen = np.zeros(3, np.float32), [], []
    steps = range(5)[::-1] if reverse else range(5)
    for i in steps:
        ref = ref * 0.5 + data[i] * wd
        sq.append((ref * ref).sum())
        seen.append(data[i])
    if reverse:
        sq, seen = sq[::-1], seen[::-1]
    np.testing.assert_allclose(np.asarray(total), ref, rtol=1e-6)
    assert count.item() == 5 and count.dtype == np.int32
    assert ys["sq"].axes == (T,) and ys["x"].axes == (T, E)  # stacked along the scanned axis, first
    np.testing.assert_allclose(np.asarray(ys["sq"]), sq, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(ys["x"]), np.stack(seen), rtol=1e-6)


def test_scan_passes_unscanned_arguments_whole_and_takes_the_size_from_an_axis():
    xs = _data((T, E), 3)

    def program(xs, bias):
        def body(c, x, bias, *, scale):
            return c + x.sum() * scale + bias.sum(), None
        return named.scan(body, T)(0.0, xs, bias, scale=2.0)[0]

    bias = _data((F,), 4)
    out = _both(program, xs, bias)
    expected = 2.0 * np.asarray(xs).sum() + 5 * np.asarray(bias).sum()
    assert out.item() == pytest.approx(expected, rel=1e-5)
    steps = named.scan(lambda c: (c + 1, c), named.Axis("n", 4))(0)
    assert steps[0].item() == 4 and np.asarray(steps[1]).tolist() == [0, 1, 2, 3]


def test_fold_and_a_carry_in_another_axis_order():
    xs = _data((T, E, F), 5)

    def program(xs):
        def body(c, x):  # returns the carry with its axes swapped: put back in the init's order
            return (c + x).rearrange(("f", "e"))
        return named.fold(body, "t")(named.zeros((E, F)), xs)

    out = _both(program, xs)
    assert out.axes == (E, F)
    np.testing.assert_allclose(np.asarray(out), np.asarray(xs).sum(0), rtol=1e-5)


def test_nested_scan_and_cond_in_a_scan_with_closures():
    xs = _data((T, E), 6)
    outer = _data((E,), 7)

    def program(xs, outer):
        scale = outer.sum()  # a traced value the loop bodies close over

        def row(c, x):
            inner = named.fold(lambda a, v, o: a + v * o * scale, "e")(0.0, x, outer)
            c = named.cond(inner > 0, lambda v: v + inner, lambda v: v - 1.0, c)
            return c, inner
        return named.scan(row, "t")(0.0, xs)

    c, inners = _both(program, xs, outer)
    data, od = np.asarray(xs), np.asarray(outer)
    ref, refs = 0.0, []
    for i in range(5):
        inner = float((data[i] * od).sum() * od.sum())
        ref = ref + inner if inner > 0 else ref - 1.0
        refs.append(inner)
    assert c.item() == pytest.approx(ref, rel=1e-5)
    np.testing.assert_allclose(np.asarray(inners), refs, rtol=1e-5)


# --------------------------------------------------------------------------------------------- cond
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_cond_picks_the_branch_at_run_time(sign):
    x = _data((E, F), 8) * sign

    def program(x):
        return named.cond(x.sum() > 0,
                          lambda v: {"a": v * 2.0, "b": v.sum()},
                          lambda v: {"a": (v - 1.0).rearrange(("f", "e")), "b": 0.0}, x)

    out = _both(program, x)
    data = np.asarray(x)
    assert out["a"].axes == (E, F)
    if data.sum() > 0:
        np.testing.assert_allclose(np.asarray(out["a"]), data * 2, rtol=1e-6)
        assert out["b"].item() == pytest.approx(data.sum(), rel=1e-5)
    else:
        np.testing.assert_allclose(np.asarray(out["a"]), data - 1, rtol=1e-6)
        assert out["b"].item() == 0.0
    assert named.cond(True, lambda: 1, lambda: 2) == 1  # a Python bool just picks
    assert named.cond(named.full((), 0), lambda: named.full((), 1), lambda: named.full((), 2)).item() == 2


def test_while_loop_matches_a_python_loop():
    def program(x, limit):
        def cond_fn(c):
            return c["i"] < limit

        def body_fn(c):
            return {"i": c["i"] + 1, "x": c["x"] * 1.5 + c["i"].astype("f32")}

        return named.while_loop(cond_fn, body_fn, {"i": 0, "x": x})

    x = _data((E,), 9)
    out = _both(program, x, named.full((), 4))
    ref = np.asarray(x)
    for i in range(4):
        ref = ref * 1.5 + i
    assert out["i"].item() == 4
    np.testing.assert_allclose(np.asarray(out["x"]), ref, rtol=1e-6)


# ------------------------------------------------------------------------------------------- errors
def test_scan_errors():
    xs = _data((T, E), 10)
    with pytest.raises(named.AxisError, match=r"carry #0.*f32\[e=3\].*f32\[f=2\].*e=3 only on the first side") as e:
        named.scan(lambda c, x: (named.zeros(F), None), "t")(named.zeros(E), xs)
    assert "test_control.py" in str(e.value)
    with pytest.raises(named.VerifyError, match="carry #0.*i32.*f32"):
        named.scan(lambda c, x: (c + x.sum(), None), "t")(0, xs)
    with pytest.raises(TypeError, match="structure"):
        named.scan(lambda c, x: ((c, c), None), "t")(0.0, xs)
    with pytest.raises(TypeError, match="pair"):
        named.scan(lambda c, x: c, "t")(0.0, xs)
    with pytest.raises(named.AxisError, match="'q'.*no scanned argument") as e:
        named.scan(lambda c, x: (c, None), "q")(0.0, xs)
    assert "test_control.py" in str(e.value)
    with pytest.raises(named.AxisError, match="size 5"):
        named.scan(lambda c, x: (c, None), named.Axis("t", 4))(0.0, xs)
    with pytest.raises(named.AxisError, match="already has axis 't'"):
        named.scan(lambda c, x: (c, xs), "t")(0.0, xs)
    with pytest.raises(TypeError, match="carry must be a pytree"):
        named.scan(lambda c, x: (c, None), "t")("text", xs)
    with pytest.raises(TypeError, match="per-step output must be a pytree.*str"):
        named.scan(lambda c, x: (c, "text"), "t")(0.0, xs)


def test_cond_and_while_errors():
    x = _data((E,), 11)
    with pytest.raises(named.AxisError, match=r"predicate must have no axes.*e=3"):
        named.cond(x > 0, lambda v: v, lambda v: v, x)
    with pytest.raises(named.AxisError, match=r"result #0.*true branch.*false branch.*e=3"):
        named.cond(x.sum() > 0, lambda v: v, lambda v: v.sum(), x)
    with pytest.raises(named.VerifyError, match="dtype f32 vs i32"):
        named.cond(x.sum() > 0, lambda v: v, lambda v: v.astype("i32"), x)
    with pytest.raises(TypeError, match="different structures"):
        named.cond(x.sum() > 0, lambda v: (v, v), lambda v: v, x)
    with pytest.raises(TypeError, match="cond's result must be a pytree.*str"):
        named.cond(x.sum() > 0, lambda v: "a", lambda v: "b", x)
    with pytest.raises(named.AxisError, match="cond_fn must return a bool with no axes"):
        named.while_loop(lambda c: c > 0, lambda c: c, x)
    with pytest.raises(TypeError, match="cond_fn must return a bool"):
        named.while_loop(lambda c: c.sum(), lambda c: c, x)
    with pytest.raises(named.AxisError, match=r"carry #0.*e=3.*f=2"):
        named.while_loop(lambda c: c.sum() > 0, lambda c: named.zeros(F), x)
    with pytest.raises(TypeError, match="structure"):
        named.while_loop(lambda c: c.sum() > 0, lambda c: (c, c), x)


def test_while_loop_is_not_reverse_differentiable():
    x = _data((E,), 12)
    with pytest.raises(named.GradientError, match="named.while cannot be differentiated.*named.scan"):
        named.grad(lambda x: named.while_loop(lambda c: c.sum() < 10, lambda c: c * 2.0, x).sum())(x)


# ----------------------------------------------------------------------------------------------- IR
def _control_program(xs, w, limit):
    def body(c, x):
        c = named.cond(c.sum() > 0, lambda v: v * w, lambda v: v + x, c)
        return c, c.sum()
    c, ys = named.scan(body, "t")(named.ones(E), xs)
    n = named.while_loop(lambda s: s["i"] < limit, lambda s: {"i": s["i"] + 1, "v": s["v"] * 0.5}, {"i": 0, "v": ys})
    return c, n["v"]


@pytest.mark.parametrize("locations", [False, True])
def test_region_text_round_trips_and_parsed_ir_runs(locations):
    args = (_data((T, E), 13), _data((E,), 14), named.full((), 3))
    lowered = named.compile(_control_program, builtin_passes=False).lower(*args)
    for stage in ("traced", "partitioned"):
        text = lowered.as_text(stage, locations=locations)
        assert "named.scan" in text and "named.cond" in text and "named.while" in text and "yield" in text
        fn = parse(text)
        assert print_function(fn, locations=locations) == text
    from named.compiler import lower_function
    from named.runtime import Executable
    fn = parse(lowered.as_text())
    out = Executable(str(lower_function(fn)), fn)([a.array for a in args])
    expected = named.compile(_control_program)(*args)
    for got, want in zip(out, expected):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)


REGION_FAULTS = [
    # the body yields f32[e=3] for a carry f32[f=2]
    ("func @f(%0: f32[t=2, e=3], %1: f32[f=2]) -> (f32[f=2]) {\n"
     "  %4 = named.scan %1, %0 {axis = t=2, num_consts = 0, num_carry = 1, reverse = false} : f32[f=2] "
     "({^(%2: f32[f=2], %3: f32[e=3]):\n    yield %3\n  })\n  return %4\n}\n", "carry #0"),
    # the region uses a value from outside it
    ("func @f(%0: f32[t=2, e=3], %1: f32[e=3]) -> (f32[e=3]) {\n"
     "  %5 = named.scan %1, %0 {axis = t=2, num_consts = 0, num_carry = 1, reverse = false} : f32[e=3] "
     "({^(%2: f32[e=3], %3: f32[e=3]):\n    %4 = named.add %2, %1 : f32[e=3]\n    yield %4\n  })\n"
     "  return %5\n}\n", "defined outside"),
    # the region's arguments do not match the operands
    ("func @f(%0: i1[], %1: f32[e=3]) -> (f32[e=3]) {\n  return %1\n}\n", "unknown dtype"),
    ("func @f(%0: bool[], %1: f32[e=3]) -> (f32[e=3]) {\n"
     "  %4 = named.cond %0, %1 : f32[e=3] ({^(%2: f32[f=2]):\n    yield %1\n  }, {^(%3: f32[e=3]):\n"
     "    yield %3\n  })\n  return %4\n}\n", "argument #0 of the true branch"),
]


def _scan_text(attrs="axis = t=2, num_consts = 0, num_carry = 1, reverse = false", xs="%0", body=None,
               results="f32[e=3]", region_args="%2: f32[e=3], %3: f32[e=3]", extra_region=""):
    body = body or "    %4 = named.add %2, %3 : f32[e=3]\n    yield %4\n"
    return ("func @f(%0: f32[t=2, e=3], %1: f32[e=3]) -> () {\n"
            f"  %9 = named.scan %1, {xs} {{{attrs}}} : {results} ({{^({region_args}):\n{body}  }}{extra_region})\n"
            "  return\n}\n")


def _cond_text(pred="%0", true="    yield %3\n", false="    yield %4\n", results="f32[e=3]"):
    return ("func @f(%0: bool[], %1: f32[e=3], %2: bool[e=3], %5: f32[]) -> () {\n"
            f"  %9 = named.cond {pred}, %1 : {results} ({{^(%3: f32[e=3]):\n{true}  }}, {{^(%4: f32[e=3]):\n{false}  }})\n"
            "  return\n}\n")


def _while_text(cond="    %4 = named.full {value = true, dtype = \"bool\", axes = []} : bool[]\n    yield %4\n",
                body="    yield %3\n", results="f32[e=3]", second=True):
    second_region = f", {{^(%3: f32[e=3]):\n{body}  }}" if second else ""
    return ("func @f(%1: f32[e=3]) -> () {\n"
            f"  %9 = named.while %1 {{num_consts = 0}} : {results} ({{^(%2: f32[e=3]):\n{cond}  }}{second_region})\n"
            "  return\n}\n")


TYPE_RULE_FAULTS = [
    (_scan_text(attrs='axis = "t", num_consts = 0, num_carry = 1, reverse = false'), "'axis' must be an axis"),
    (_scan_text(attrs="axis = t=2, num_consts = 0, num_carry = 1, reverse = 1"), "'reverse' must be true or false"),
    (_scan_text(attrs="axis = t=2, num_consts = 5, num_carry = 1, reverse = false"), "num_consts must be an int"),
    (_scan_text(xs="%1"), "has no axis 't'"),
    (_scan_text(attrs="axis = t=3, num_consts = 0, num_carry = 1, reverse = false"), "of size 2, not 3"),
    (_scan_text(body="    yield\n"), "fewer than the 1 carried"),
    (_scan_text(region_args="%2: f32[e=3]", body="    yield %2\n"), "takes 1 argument(s), but 2 are passed"),
    (_scan_text(extra_region=", {^(%5: f32[e=3], %6: f32[e=3]):\n    yield %5\n  }"), "takes 1 region"),
    (_cond_text(pred="%2"), "predicate must have no axes"),
    (_cond_text(pred="%5"), "predicate must be bool"),
    (_cond_text(false="    yield %4, %4\n"), "true branch yields 1 value(s), the false branch 2"),
    (_cond_text(false="    yield %1\n"), "yields a value (f32[e=3]) defined outside"),
    (_while_text(cond="    yield %2\n"), "condition must yield one bool"),
    (_while_text(body="    yield %3, %3\n"), "yields 2 value(s) for 1 carried"),
    (_while_text(second=False), "takes 2 region"),
]


@pytest.mark.parametrize("text,words", REGION_FAULTS + TYPE_RULE_FAULTS)
def test_malformed_regions_are_rejected(text, words):
    with pytest.raises(named.ParseError, match=re.escape(words)):
        parse(text)


def test_the_fault_templates_are_valid_when_nothing_is_wrong():
    for text in (_scan_text(), _cond_text(), _while_text()):
        assert print_function(parse(text)).count("yield") >= 1


# ------------------------------------------------------------------------------------- partitioning
def test_scan_on_a_mesh_matches_one_device():
    L, B, H = named.make_axes(layer=3, batch=8, hidden=4)
    ws = _data((L, H, named.Axis("h2", 4)), 15)
    x = _data((B, H), 16)

    def program(ws, x):
        def layer(h, w):
            return named.tanh(named.dot(h, w, axis="hidden").rename({"h2": "hidden"})), None
        return named.scan(layer, "layer")(x, ws)[0]

    plain = named.compile(program)(ws, x)
    sharded_fn = named.compile(program, axis_resources={"batch": "data"}, mesh={"data": 4, "model": 2})
    sharded = sharded_fn(ws, x)
    assert tuple(sharded.array.sharding.spec)[:1] == ("data",)
    assert "batch=8@data" in sharded_fn.lower(ws, x).as_text()
    np.testing.assert_allclose(np.asarray(sharded), np.asarray(plain), rtol=1e-5, atol=1e-6)


# -------------------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("reverse", [False, True])
def test_scan_gradient_matches_jax(reverse):
    xs, w, c0 = _data((E, T), 17), _data((E,), 18), _data((E,), 19)

    def loss(xs, w, c0):
        def body(carry, x):
            c, n = carry
            new = named.sin(c * w + x) + n.astype("f32") * 0.1
            return (new, n + 1), (new * x).sum()
        (c, _), ys = named.scan(body, "t", reverse=reverse)((c0, 0), xs)
        return c.sum() + (ys * ys).sum()

    def jax_loss(xs, w, c0):
        def body(carry, x):
            c, n = carry
            new = jnp.sin(c * w + x) + n * 0.1
            return (new, n + 1), (new * x).sum()
        (c, _), ys = jax.lax.scan(body, (c0, 0), xs, reverse=reverse)
        return c.sum() + (ys * ys).sum()

    grads = named.grad(loss, argnums=(0, 1, 2))(xs, w, c0)
    compiled = named.compile(named.grad(loss, argnums=(0, 1, 2)))(xs, w, c0)
    expected = jax.grad(jax_loss, argnums=(0, 1, 2))(as_numpy(xs, "te"), np.asarray(w), np.asarray(c0))
    assert grads[0].axes == xs.axes
    np.testing.assert_allclose(as_numpy(grads[0], "te"), expected[0], rtol=1e-5, atol=1e-6)
    for k in (1, 2):
        np.testing.assert_allclose(np.asarray(grads[k]), expected[k], rtol=1e-5, atol=1e-6)
    for a, b in zip(grads, compiled):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)


def test_gradient_of_a_carry_that_has_the_scanned_axis_and_of_nested_scans():
    xs = _data((T, E), 20)

    def loss(xs):
        def body(c, x):  # c has axis "t" too: scan along t, carrying a [t] vector
            inner = named.fold(lambda a, v: a * 0.9 + v, "e")(0.0, x * x)
            return c * 0.5 + inner, None
        return (named.scan(body, "t")(named.ones(T), xs)[0] ** 2).sum()

    def jax_loss(xs):
        def body(c, x):
            inner = jax.lax.scan(lambda a, v: (a * 0.9 + v, None), 0.0, x * x)[0]
            return c * 0.5 + inner, None
        return (jax.lax.scan(body, jnp.ones(5), xs)[0] ** 2).sum()

    g = named.grad(loss)(xs)
    np.testing.assert_allclose(np.asarray(g), jax.grad(jax_loss)(np.asarray(xs)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_cond_gradient_matches_jax(sign):
    x, w = _data((E, F), 21) * sign, _data((F,), 22)

    def loss(x, w):
        out = named.cond(x.sum() > 0, lambda v: named.exp(v * w), lambda v: (v * v).rearrange(("f", "e")) + w, x)
        return (out * out).sum()

    def jax_loss(x, w):
        out = jax.lax.cond(x.sum() > 0, lambda v: jnp.exp(v * w), lambda v: v * v + w, x)
        return (out * out).sum()

    grads = _both(named.grad(loss, argnums=(0, 1)), x, w)
    expected = jax.grad(jax_loss, argnums=(0, 1))(np.asarray(x), np.asarray(w))
    for got, want in zip(grads, expected):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)
