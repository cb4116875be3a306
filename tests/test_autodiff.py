"""named.grad / value_and_grad: every differentiable op against jax.grad and finite differences, over
random shapes and axis orders; the API (argnums, has_aux, pytrees); errors; partitioned gradients."""

import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import named
from named.core import bind1
from named.dialect import BINARY_OPS, UNARY_OPS, parse, print_function

from _named_testing import as_numpy


# --------------------------------------------------------------------------------------- helpers
def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _axes(rng, names) -> dict[str, int]:
    return {n: int(rng.integers(2, 5)) for n in names}


def _make(rng, sizes: dict, names, low=-1.0, high=1.0, data=None):
    """(NamedArray with the axes in a random order, the same data in ``names`` order)."""
    canonical = data if data is not None else rng.uniform(low, high, [sizes[n] for n in names]).astype(np.float32)
    perm = rng.permutation(len(names))
    axes = tuple(named.Axis(names[p], sizes[names[p]]) for p in perm)
    return named.named(np.transpose(canonical, perm), axes), canonical


def _check(loss, jax_loss, named_args, np_args, names, *, argnums=0, rtol=2e-5, atol=2e-5, fd=True):
    """Gradient of ``loss`` eagerly and compiled == jax.grad(jax_loss) (args in ``names`` order), and
    its directional derivative == a central finite difference of ``loss``."""
    nums = (argnums,) if isinstance(argnums, int) else argnums
    eager = named.grad(loss, argnums=nums)(*named_args)
    compiled = named.compile(named.grad(loss, argnums=nums))(*named_args)
    expected = jax.grad(jax_loss, argnums=nums)(*[jnp.asarray(a) for a in np_args])
    for k, i in enumerate(nums):
        assert eager[k].axes == named_args[i].axes, "a gradient keeps its primal's axes and their order"
        assert eager[k].dtype == named_args[i].dtype
        got = as_numpy(eager[k], names[i])
        np.testing.assert_allclose(got, np.asarray(expected[k]), rtol=rtol, atol=atol)
        np.testing.assert_allclose(np.asarray(compiled[k]), np.asarray(eager[k]), rtol=1e-5, atol=1e-6)
    if fd:
        _check_finite_differences(loss, named_args, eager, nums)


def _check_finite_differences(loss, args, grads, nums, eps=1e-2):
    rng = _rng("fd", len(args))
    args = list(args)
    shifted_plus, shifted_minus, predicted = list(args), list(args), 0.0
    for k, i in enumerate(nums):
        x = np.asarray(args[i]).astype(np.float64)
        v = rng.normal(size=x.shape)
        shifted_plus[i] = named.named((x + eps * v).astype(np.float32), args[i].axes)
        shifted_minus[i] = named.named((x - eps * v).astype(np.float32), args[i].axes)
        predicted += float(np.sum(np.asarray(grads[k]).astype(np.float64) * v))
    fd = (float(loss(*shifted_plus)) - float(loss(*shifted_minus))) / (2 * eps)
    assert abs(fd - predicted) <= 2e-2 * (1 + abs(predicted)), (fd, predicted)


# ---------------------------------------------------------------------------------- elementwise
UNARY = {  # op -> (jax function, sampling interval)
    "neg": (jnp.negative, -2, 2), "abs": (jnp.abs, -2, 2), "exp": (jnp.exp, -2, 2), "expm1": (jnp.expm1, -2, 2),
    "log": (jnp.log, 0.2, 3), "log1p": (jnp.log1p, -0.5, 2), "sqrt": (jnp.sqrt, 0.2, 3),
    "rsqrt": (jax.lax.rsqrt, 0.2, 3), "cbrt": (jnp.cbrt, 0.2, 3), "sin": (jnp.sin, -3, 3), "cos": (jnp.cos, -3, 3),
    "tan": (jnp.tan, -1.2, 1.2), "tanh": (jnp.tanh, -2, 2), "logistic": (jax.nn.sigmoid, -3, 3),
    "asin": (jnp.arcsin, -0.8, 0.8), "acos": (jnp.arccos, -0.8, 0.8), "atan": (jnp.arctan, -3, 3),
    "sinh": (jnp.sinh, -2, 2), "cosh": (jnp.cosh, -2, 2), "asinh": (jnp.arcsinh, -3, 3),
    "acosh": (jnp.arccosh, 1.2, 3), "atanh": (jnp.arctanh, -0.8, 0.8), "erf": (jax.scipy.special.erf, -2, 2),
    "erf_inv": (jax.scipy.special.erfinv, -0.8, 0.8), "lgamma": (jax.lax.lgamma, 0.5, 4),
}
PIECEWISE_CONSTANT = {"sign": jnp.sign, "floor": jnp.floor, "ceil": jnp.ceil, "round_even": jnp.round,
                      "round_afz": lambda x: jax.lax.round(x, jax.lax.RoundingMethod.AWAY_FROM_ZERO)}


@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary_gradient_matches_jax_and_finite_differences(op):
    jax_fn, low, high = UNARY[op]
    rng = _rng("unary", op)
    sizes = _axes(rng, "ab")
    x, xd = _make(rng, sizes, "ab", low, high)
    w, wd = _make(rng, sizes, "ab")  # another axis order: the product broadcasts by name

    def loss(x, w):
        return (bind1(UNARY_OPS[op], (x,)) * w).sum()

    _check(loss, lambda x, w: jnp.sum(jax_fn(x) * w), (x, w), (xd, wd), ("ab", "ab"), argnums=(0, 1), rtol=1e-4)


@pytest.mark.parametrize("op", sorted(PIECEWISE_CONSTANT))
def test_piecewise_constant_ops_have_zero_gradient(op):
    rng = _rng("pc", op)
    x, xd = _make(rng, _axes(rng, "ab"), "ab", -3, 3)
    _check(lambda x: (bind1(UNARY_OPS[op], (x,)) * x).sum(), lambda x: jnp.sum(PIECEWISE_CONSTANT[op](x) * x),
           (x,), (xd,), ("ab",), fd=False)


BINARY = {  # op -> (jax function, x interval, y interval)
    "add": (jnp.add, (-2, 2), (-2, 2)), "sub": (jnp.subtract, (-2, 2), (-2, 2)),
    "mul": (jnp.multiply, (-2, 2), (-2, 2)), "div": (jnp.divide, (-2, 2), (0.5, 2)),
    "rem": (jnp.fmod, (2.1, 2.4), (0.9, 1.0)), "pow": (jax.lax.pow, (0.5, 2), (-1.5, 1.5)),
    "max": (jnp.maximum, (-2, 2), (-2, 2)), "min": (jnp.minimum, (-2, 2), (-2, 2)),
    "atan2": (jnp.arctan2, (-2, 2), (-2, 2)),
}


@pytest.mark.parametrize("op", sorted(BINARY))
def test_binary_gradient_unbroadcasts_by_name(op):
    jax_fn, (xl, xh), (yl, yh) = BINARY[op]
    rng = _rng("binary", op)
    sizes = _axes(rng, "abc")
    x, xd = _make(rng, sizes, "ab", xl, xh)
    y, yd = _make(rng, sizes, "bc", yl, yh)
    w, wd = _make(rng, sizes, "abc")

    def loss(x, y, w):
        return (bind1(BINARY_OPS[op], (x, y)) * w).sum()

    def jax_loss(x, y, w):
        return jnp.sum(jax_fn(x[:, :, None], y[None, :, :]) * w)

    _check(loss, jax_loss, (x, y, w), (xd, yd, wd), ("ab", "bc", "abc"), argnums=(0, 1), rtol=1e-4)


@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_ties_split_the_gradient_evenly_like_jax(op):
    X, = named.make_axes(x=4)
    data = np.array([1.0, 2.0, -1.0, 0.5], np.float32)
    x, y = named.named(data, (X,)), named.named(np.array([1.0, 3.0, -1.0, 0.0], np.float32), (X,))
    gx, gy = named.grad(lambda a, b: bind1(BINARY_OPS[op], (a, b)).sum(), argnums=(0, 1))(x, y)
    jfn = jnp.maximum if op == "max" else jnp.minimum
    ex, ey = jax.grad(lambda a, b: jfn(a, b).sum(), argnums=(0, 1))(data, np.asarray(y))
    np.testing.assert_array_equal(np.asarray(gx), ex)
    np.testing.assert_array_equal(np.asarray(gy), ey)
    assert np.asarray(gx)[0] == 0.5


def test_comparisons_and_where():
    rng = _rng("where")
    sizes = _axes(rng, "ab")
    x, xd = _make(rng, sizes, "ab")
    y, yd = _make(rng, sizes, "b")

    def loss(x, y):
        chosen = named.where(x > y, x * y, named.exp(y))
        return (chosen + (x >= 0).astype("f32") * x).sum()

    def jax_loss(x, y):
        chosen = jnp.where(x > y[None], x * y[None], jnp.exp(y)[None])
        return jnp.sum(chosen + (x >= 0).astype(jnp.float32) * x)

    _check(loss, jax_loss, (x, y), (xd, yd), ("ab", "b"), argnums=(0, 1), fd=False)


@pytest.mark.parametrize("dtype", ["bf16", "f16", "i32"])
def test_convert_gradient(dtype):
    rng = _rng("convert", dtype)
    x, xd = _make(rng, _axes(rng, "ab"), "ab", -3, 3)
    jdt = {"bf16": jnp.bfloat16, "f16": jnp.float16, "i32": jnp.int32}[dtype]
    _check(lambda x: (x.astype(dtype).astype("f32") * x).sum(),
           lambda x: jnp.sum(x.astype(jdt).astype(jnp.float32) * x), (x,), (xd,), ("ab",), fd=False)


def test_gradients_keep_low_precision_dtypes():
    X, = named.make_axes(x=3)
    x = named.named(np.array([1.0, 2.0, 3.0]), (X,)).astype("bf16")
    g = named.grad(lambda x: (x * x).sum())(x)
    assert g.dtype == x.dtype and g.axes == (X,)
    np.testing.assert_array_equal(np.asarray(g).astype(np.float32), [2.0, 4.0, 6.0])


# ------------------------------------------------------------------------------------- reductions
@pytest.mark.parametrize("kind", ["sum", "max", "min", "prod", "mean", "var", "std", "logsumexp"])
@pytest.mark.parametrize("axis", [("a",), ("b", "c"), None])
def test_reduction_gradients(kind, axis):
    rng = _rng("reduce", kind, axis)
    sizes = _axes(rng, "abc")
    spaced = None
    if kind in ("max", "min"):  # distinct values, further apart than the finite-difference step
        n = sizes["a"] * sizes["b"] * sizes["c"]
        spaced = (0.5 + 0.2 * rng.permutation(n)).reshape([sizes[c] for c in "abc"]).astype(np.float32)
    x, xd = _make(rng, sizes, "abc", 0.5, 2.0, data=spaced)
    keep = [n for n in "abc" if axis is not None and n not in axis]
    w, wd = _make(rng, sizes, keep) if keep else (1.0, np.float32(1.0))
    dims = None if axis is None else tuple("abc".index(n) for n in axis)
    jax_fn = {"sum": jnp.sum, "max": jnp.max, "min": jnp.min, "prod": jnp.prod, "mean": jnp.mean,
              "var": jnp.var, "std": jnp.std, "logsumexp": jax.scipy.special.logsumexp}[kind]
    named_fn = named.logsumexp if kind == "logsumexp" else getattr(named, kind)
    _check(lambda x: (named_fn(x, axis) * w).sum(), lambda x: jnp.sum(jax_fn(x, axis=dims) * wd),
           (x,), (xd,), ("abc",), rtol=1e-4)


@pytest.mark.parametrize("data", [[1.0, 2.0, 3.0, 0.5], [1.0, 0.0, 3.0, 2.0], [0.0, 2.0, 0.0, 4.0]],
                         ids=["no-zero", "one-zero", "two-zeros"])
def test_prod_gradient_is_exact_with_zeros(data):
    X, = named.make_axes(x=4)
    g = named.grad(lambda x: x.prod())(named.named(np.array(data, np.float32), (X,)))
    np.testing.assert_allclose(np.asarray(g), jax.grad(jnp.prod)(jnp.array(data)), rtol=1e-6)


@pytest.mark.parametrize("kind", ["max", "min"])
def test_reduce_max_min_ties_share_the_gradient(kind):
    X, Y = named.make_axes(x=4, y=2)
    data = np.array([[3.0, 1.0], [3.0, 1.0], [0.0, 1.0], [3.0, 1.0]], np.float32)
    if kind == "min":
        data = -data
    fn = getattr(named, kind)
    g = named.grad(lambda x: (fn(x, "x") * named.named(np.array([1.0, 2.0], np.float32), (Y,))).sum())(
        named.named(data, (X, Y)))
    expected = jax.grad(lambda x: jnp.sum(getattr(jnp, kind)(x, axis=0) * jnp.array([1.0, 2.0])))(data)
    np.testing.assert_allclose(np.asarray(g), expected, rtol=1e-6)


def test_argmax_has_no_gradient_but_selects():
    rng = _rng("argmax")
    sizes = _axes(rng, "ab")
    x, xd = _make(rng, sizes, "ab")
    B = named.Axis("b", sizes["b"])

    def loss(x):
        return (x * named.nn.one_hot(x.argmax("b"), B)).sum() + x.argmin("a").astype("f32").sum()

    def jax_loss(x):
        return jnp.sum(x * jax.nn.one_hot(jnp.argmax(x, 1), sizes["b"])) + jnp.argmin(x, 0).astype(jnp.float32).sum()

    _check(loss, jax_loss, (x,), (xd,), ("ab",), fd=False)


# -------------------------------------------------------------------------------------------- shape
DOTS = {  # name -> (axes of a, axes of b, contracted)
    "matmul": ("ab", "bc", "b"), "batched": ("abc", "cbd", "c"), "outer": ("ab", "cd", ()),
    "full": ("ab", "ba", None), "two-axes": ("abc", "bcd", ("b", "c")), "batch-only": ("ab", "ab", ()),
}


@pytest.mark.parametrize("kind", sorted(DOTS))
def test_dot_gradient(kind):
    an, bn, contract = DOTS[kind]
    rng = _rng("dot", kind)
    sizes = _axes(rng, "abcd")
    a, ad = _make(rng, sizes, an)
    b, bd = _make(rng, sizes, bn)
    everything = contract is None
    contracted = set(an) | set(bn) if everything else set(contract)
    out = "".join(n for n in dict.fromkeys(an + bn) if n not in contracted)
    w, wd = _make(rng, sizes, out) if out else (1.0, np.float32(1.0))
    spec = f"{an},{bn}->{out}"

    def loss(a, b):
        return (named.dot(a, b, axis=contract) * w).sum()

    _check(loss, lambda a, b: jnp.sum(jnp.einsum(spec, a, b) * wd), (a, b), (ad, bd), (an, bn), argnums=(0, 1),
           rtol=1e-4)


def test_shape_op_gradients():
    rng = _rng("shape")
    sizes = _axes(rng, "abc")
    x, xd = _make(rng, sizes, "ab")
    w, wd = _make(rng, sizes, "bca")
    C = named.Axis("c", sizes["c"])

    def loss(x):
        t = x.rearrange(("b", "a"))                                      # transpose
        r = x.rename({"a": "q"}).rename({"q": "a"})                      # rename there and back
        bcast = named.broadcast_axis(x, C)                               # broadcast
        flat = named.unflatten_axis(named.flatten_axes(x, ("a", "b"), "ab"), "ab", x.axes)  # reshape
        return ((t * 2.0 + r) * w).sum() + (bcast * w * w).sum() + (flat * flat).sum()

    def jax_loss(x):
        return (jnp.sum((3.0 * x[:, :, None]) * wd.transpose(2, 0, 1)) + jnp.sum(x[:, :, None] * wd.transpose(2, 0, 1) ** 2)
                + jnp.sum(x * x))

    _check(loss, jax_loss, (x,), (xd,), ("ab",), rtol=1e-4)


def test_creation_ops_and_constants_in_the_path():
    rng = _rng("creation")
    sizes = _axes(rng, "ab")
    x, xd = _make(rng, sizes, "ab")
    A = named.Axis("a", sizes["a"])
    table = named.named(np.arange(sizes["b"], dtype=np.float32), ("b",))

    def loss(x):
        return (x * named.arange(A, dtype="f32") * table + named.full(x.axes, 2.0) * x).sum()

    _check(loss, lambda x: jnp.sum(x * np.arange(sizes["a"])[:, None] * np.arange(sizes["b"])[None] + 2.0 * x),
           (x,), (xd,), ("ab",))


def test_mlp_loss_gradient_matches_jax():
    rng = _rng("mlp")
    sizes = {"batch": 6, "inputs": 5, "hidden": 7, "classes": 3}
    w1, w1d = _make(rng, sizes, ("inputs", "hidden"))
    w2, w2d = _make(rng, sizes, ("hidden", "classes"))
    x, xd = _make(rng, sizes, ("batch", "inputs"))
    labels = rng.integers(0, 3, 6)
    C = named.Axis("classes", 3)
    onehot = named.nn.one_hot(named.named(labels.astype(np.int32), ("batch",)), C)

    def loss(w1, w2):
        h = named.nn.relu(named.dot(x, w1, axis="inputs"))
        logits = named.dot(h, w2, axis="hidden")
        return -(onehot * named.nn.log_softmax(logits, C)).sum("classes").mean("batch")

    def jax_loss(w1, w2):
        logits = jax.nn.relu(xd @ w1) @ w2
        return -jnp.mean(jnp.sum(jax.nn.one_hot(labels, 3) * jax.nn.log_softmax(logits), axis=1))

    _check(loss, jax_loss, (w1, w2), (w1d, w2d), (("inputs", "hidden"), ("hidden", "classes")), argnums=(0, 1),
           rtol=1e-4)


# ---------------------------------------------------------------------------------------------- API
X, Y = named.make_axes(x=3, y=2)


def _xy():
    return named.named(np.arange(6, dtype=np.float32).reshape(3, 2) / 4, (X, Y))


def test_argnums_pytrees_and_has_aux():
    p = {"w": _xy(), "b": [named.named(np.ones(2, np.float32), (Y,))]}
    x = _xy()

    def loss(p, x, scale):
        out = (p["w"] * x).sum() * scale + p["b"][0].sum()
        return out, {"out": out, "tag": "hello"}

    (value, aux), (gp, gx) = named.value_and_grad(loss, argnums=(0, 1), has_aux=True)(p, x, 2.0)
    assert aux["tag"] == "hello" and float(aux["out"]) == float(value)
    np.testing.assert_allclose(np.asarray(gp["w"]), 2 * np.asarray(x))
    np.testing.assert_allclose(np.asarray(gp["b"][0]), [1.0, 1.0])
    np.testing.assert_allclose(np.asarray(gx), 2 * np.asarray(p["w"]))
    g, aux2 = named.grad(loss, has_aux=True)(p, x, 2.0)
    assert set(g) == {"w", "b"} and aux2["tag"] == "hello"
    assert named.grad(lambda s, x: (x * s).sum())(2.0, x).item() == pytest.approx(float(np.asarray(x).sum()))


def test_same_value_passed_twice_gets_separate_gradients():
    x = _xy()
    gx, gy = named.grad(lambda a, b: (a * b * b).sum(), argnums=(0, 1))(x, x)
    np.testing.assert_allclose(np.asarray(gx), np.asarray(x) ** 2)
    np.testing.assert_allclose(np.asarray(gy), 2 * np.asarray(x) ** 2)


def test_second_derivative_and_grad_of_a_compiled_function():
    x = _xy()
    dd = named.grad(lambda x: named.grad(lambda y: named.sin(y).sum())(x).sum())(x)
    np.testing.assert_allclose(np.asarray(dd), -np.sin(np.asarray(x)), rtol=1e-6)
    loss = named.compile(lambda x: (x * x * x).sum())
    np.testing.assert_allclose(np.asarray(named.grad(loss)(x)), 3 * np.asarray(x) ** 2, rtol=1e-6)


def test_unused_input_gets_zeros_and_closures_see_new_values():
    x = _xy()
    g = named.grad(lambda a, b: (a * 2.0).sum(), argnums=1)(x, x)
    assert g.axes == x.axes and not np.asarray(g).any()
    captured = {"w": _xy()}
    f = named.grad(lambda a: (a * captured["w"]).sum())
    np.testing.assert_allclose(np.asarray(f(x)), np.asarray(captured["w"]))
    captured["w"] = _xy() * 3.0  # eager grad re-traces: no stale constant
    np.testing.assert_allclose(np.asarray(f(x)), np.asarray(captured["w"]))


def test_grad_inside_compile_uses_outer_traced_values():
    @named.compile
    def f(x, w):
        return named.grad(lambda v: (v * w).sum() ** 2)(x)

    x, w = _xy(), _xy() + 1.0
    expected = 2 * float((np.asarray(x) * np.asarray(w)).sum()) * np.asarray(w)
    np.testing.assert_allclose(np.asarray(f(x, w)), expected, rtol=1e-6)
    text = f.lower(x, w).as_text()
    assert text.count("func @") == 1 and text.count("named.mul") >= 2  # forward and backward in one program


# -------------------------------------------------------------------------------------------- errors
def test_non_scalar_output_integer_input_and_bad_argnums_are_type_errors():
    x = _xy()
    with pytest.raises(TypeError, match=r"scalar.*\('x', 3\).*\('y', 2\)|axes"):
        named.grad(lambda x: x * 2.0)(x)
    with pytest.raises(TypeError, match="floating-point inputs.*i32"):
        named.grad(lambda x: x.astype("f32").sum())(x.astype("i32"))
    with pytest.raises(TypeError, match="argnums"):
        named.grad(lambda x: x.sum(), argnums=3)(x)
    with pytest.raises(TypeError, match="pair"):
        named.grad(lambda x: x.sum(), has_aux=True)(x)
    with pytest.raises(TypeError, match="str"):
        named.grad(lambda x: 1.0)("nope")


class _Twice(named.extend.Op):
    name = "test_autodiff.twice"
    num_operands = 1

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        return operand_types


@named.extend.register_lowering(_Twice)
def _lower_twice(ctx, x):
    return named.extend.stablehlo.add(x, x)


def test_an_op_without_a_rule_is_a_gradient_error_naming_it():
    x = _xy()

    def loss(x):
        return bind1(_Twice, (x,)).sum()  # line of the op

    np.testing.assert_allclose(np.asarray(bind1(_Twice, (x,))), 2 * np.asarray(x))
    for run in (named.grad(loss), named.compile(named.grad(loss))):
        with pytest.raises(named.GradientError) as e:
            run(x)
        assert "test_autodiff.twice has no gradient rule" in str(e.value)
        assert "test_autodiff.py" in str(e.value)
        assert isinstance(e.value, TypeError) and isinstance(e.value, named.VerifyError)
    # registering a rule makes it differentiable
    named.compiler.register_vjp(_Twice, lambda ctx, g: [ctx.const_mul(2.0, g)])
    np.testing.assert_allclose(np.asarray(named.grad(loss)(x)), 2 * np.ones((3, 2)))
    with pytest.raises(ValueError, match="already has a VJP rule"):
        named.compiler.register_vjp(_Twice, lambda ctx, g: [g])


def test_nextafter_and_digamma_are_not_differentiable_as_in_jax():
    x = _xy() + 0.5
    with pytest.raises(named.GradientError, match="named.next_after has no gradient rule"):
        named.grad(lambda x: named.nextafter(x, 0.0).sum())(x)
    with pytest.raises(named.GradientError, match="named.digamma has no gradient rule"):
        named.grad(lambda x: named.grad(lambda y: bind1(UNARY_OPS["lgamma"], (y,)).sum())(x).sum())(x)


# -------------------------------------------------------------------------------- the IR and sharding
def test_grad_function_on_parsed_ir_round_trips():
    text = ("func @f(%0: f32[x=3, y=2], %1: f32[y=2]) -> (f32[]) {\n"
            "  %2 = named.mul %0, %1 : f32[x=3, y=2]\n"
            "  %3 = named.tanh %2 : f32[x=3, y=2]\n"
            "  %4 = named.reduce_sum %3 {axes = [\"x\", \"y\"]} : f32[]\n"
            "  return %4\n}\n")
    gfn = named.compiler.grad_function(parse(text), argnums=(0, 1))
    assert [str(t) for t in gfn.result_types] == ["f32[]", "f32[x=3, y=2]", "f32[y=2]"]
    printed = print_function(gfn)
    assert print_function(parse(printed)) == printed
    named.dialect.verify_function(parse(printed))
    with pytest.raises(named.GradientError, match="float with no axes"):
        named.compiler.grad_function(parse(text.replace("-> (f32[])", "-> (f32[x=3, y=2])")
                                          .replace("return %4", "return %3")))


def _spec(x) -> tuple:
    spec = tuple(x.array.sharding.spec)
    return spec + (None,) * (x.ndim - len(spec))


def test_gradients_are_sharded_like_their_parameters():
    B, I, H, C = named.make_axes(batch=8, inputs=4, hidden=6, classes=3)
    rng = _rng("sharded")
    w1 = named.named(rng.normal(size=(4, 6)).astype(np.float32), (I, H))
    w2 = named.named(rng.normal(size=(6, 3)).astype(np.float32), (H, C))
    x = named.named(rng.normal(size=(8, 4)).astype(np.float32), (B, I))

    def loss(p, x):
        h = named.nn.relu(named.dot(x, p["w1"], axis=I))
        return named.logsumexp(named.dot(h, p["w2"], axis=H), C).mean(B)

    mapping, mesh = {"batch": "data", "hidden": "model"}, {"data": 4, "model": 2}
    step = named.compile(named.grad(loss), axis_resources=mapping, mesh=mesh)
    grads = step({"w1": w1, "w2": w2}, x)
    assert _spec(grads["w1"]) == (None, "model") and _spec(grads["w2"]) == ("model", None)
    assert "hidden=6@model" in step.lower({"w1": w1, "w2": w2}, x).as_text()
    with named.use_mesh(mesh), named.axis_mapping(mapping):
        eager = named.grad(loss)({"w1": w1, "w2": w2}, x)
    assert _spec(eager["w1"]) == (None, "model") and _spec(eager["w2"]) == ("model", None)
    plain = named.grad(loss)({"w1": w1, "w2": w2}, x)
    for k in ("w1", "w2"):
        np.testing.assert_allclose(np.asarray(grads[k]), np.asarray(plain[k]), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(eager[k]), np.asarray(plain[k]), rtol=1e-5, atol=1e-6)
