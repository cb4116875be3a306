"""named.quantization: fp8 dtypes, stop_gradient, the qdq ops, fp8/int8 dots, scale-state updates."""

import equinox as eqx
import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import named
from named import nn
from named.dialect import Qdq, QdqGrad, VerifyError, parse, print_function
from named.quantization import (Fp8DotGeneralOp, Int8DotGeneralOp, QuantizationConfig, apply_updates,
                                partition_for_grad_overwrite, quantize_linear_layers)

E4M3_MAX = float(ml_dtypes.finfo(ml_dtypes.float8_e4m3fn).max)
E5M2_MAX = float(ml_dtypes.finfo(ml_dtypes.float8_e5m2).max)
B, I, O = named.make_axes(batch=4, inp=8, out=6)


def arr(x):
    return np.asarray(x.array)


# ------------------------------------------------------------------------------- numpy references
def ref_scale(amax, scale, fp8_max):
    """Transformer Engine's delayed scale (haliax's compute_scale), in numpy f32."""
    kept = np.float32(1) / np.float32(scale)
    sf = np.float32(fp8_max) / np.float32(amax) if amax > 0 else kept
    sf = sf if np.isfinite(amax) else kept
    return np.float32(1) / np.float32(sf)


def _set0(h, v):
    h = h.copy()
    h[0] = v
    return h


def ref_qdq(x, scale, fp8):
    info = ml_dtypes.finfo(fp8)
    y = np.clip(x / np.float32(scale), -float(info.max), float(info.max))
    return y.astype(fp8).astype(np.float32) * np.float32(scale)


# --------------------------------------------------------------------------------------- fp8 dtypes
@pytest.mark.parametrize("dtype", ["f8e4m3fn", "f8e5m2"])
def test_fp8_astype_matches_jax_eagerly_and_compiled(dtype):
    x = named.named(np.array([0.1, 1.5, -300.0, 3.3, -0.0071], np.float32), "x")
    want = np.asarray(jnp.asarray(arr(x)).astype(getattr(jnp, {"f8e4m3fn": "float8_e4m3fn",
                                                             "f8e5m2": "float8_e5m2"}[dtype])))
    eager = x.astype(dtype)
    assert eager.dtype == want.dtype
    np.testing.assert_array_equal(arr(eager).astype(np.float32), want.astype(np.float32))
    back = named.compile(lambda a: a.astype(dtype).astype("f32") * 2)(x)
    np.testing.assert_array_equal(arr(back), want.astype(np.float32) * 2)
    text = named.compile(lambda a: a.astype(dtype), builtin_passes=False).lower(x).as_text("traced")
    assert f"{dtype}[x=5]" in text and print_function(parse(text)) == text


def test_fp8_does_not_mix_implicitly_with_other_dtypes():
    a = named.ones(named.Axis("x", 3), dtype="f8e4m3fn")
    np.testing.assert_array_equal(arr(a * a).astype(np.float32), 1.0)
    with pytest.raises(named.TracerError, match="f8e4m3fn, f32.*astype"):
        a + named.ones(named.Axis("x", 3))


def test_stop_gradient_blocks_the_gradient_and_round_trips():
    X = named.Axis("x", 3)
    x = named.named(np.array([1.0, 2.0, -3.0], np.float32), X)
    f = lambda a: (a * named.stop_gradient(a)).sum()  # noqa: E731
    np.testing.assert_allclose(arr(named.grad(f)(x)), arr(x))  # d/da a*c = c, not 2a
    np.testing.assert_allclose(arr(named.compile(named.grad(f))(x)), arr(x))
    np.testing.assert_allclose(arr(named.stop_gradient(x)), arr(x))
    text = named.compile(f, builtin_passes=False).lower(x).as_text("traced")
    assert "named.stop_gradient" in text and print_function(parse(text)) == text


# ----------------------------------------------------------------------------------------- qdq ops
def test_qdq_values_state_and_text_against_numpy():
    H = named.Axis("amax_history", 4)
    rng = np.random.default_rng(0)
    x_np = (rng.standard_normal((4, 8)) * 3).astype(np.float32)
    hist_np = np.array([0.0, 7.5, 2.0, 1.0], np.float32)
    x, scale, hist = named.named(x_np, (B, I)), named.named(np.float32(0.5), ()), named.named(hist_np, (H,))

    def f(x, s, h):
        return named.core.bind(Qdq, (x, s, h), {"dtype": "f8e4m3fn"})

    new_scale = ref_scale(7.5, 0.5, E4M3_MAX)
    for y, s, h in (f(x, scale, hist), named.compile(f)(x, scale, hist)):
        np.testing.assert_allclose(arr(s), new_scale, rtol=1e-6)
        np.testing.assert_allclose(arr(y), ref_qdq(x_np, new_scale, ml_dtypes.float8_e4m3fn), rtol=1e-6)
        np.testing.assert_allclose(arr(h), _set0(np.roll(hist_np, -1), np.abs(x_np).max()))
    # an all-zero history keeps the old scale
    y0, s0, _ = f(x, scale, named.zeros(H))
    np.testing.assert_allclose(arr(s0), 0.5)
    text = named.compile(f, builtin_passes=False).lower(x, scale, hist).as_text("traced")
    assert "named.qdq" in text and print_function(parse(text)) == text


def test_qdq_rejects_bad_state_types():
    H = named.Axis("amax_history", 4)
    x = named.ones((B, I))
    with pytest.raises(VerifyError, match="scale must be an f32 scalar"):
        named.core.bind(Qdq, (x, named.ones(H), named.zeros(H)), {"dtype": "f8e4m3fn"})
    with pytest.raises(VerifyError, match="dtype must be one of"):
        named.core.bind(QdqGrad, (x, named.ones(()), named.zeros(H)), {"dtype": "i8"})


# --------------------------------------------------------------------------------------- fp8 dots
def _fp8_reference(x, w, state, g):
    """Forward value and new state of one fp8 Linear step, in numpy (haliax's formulas)."""
    (xs, xh), (ks, kh), (gs, gh) = state
    xs2, ks2 = ref_scale(xh.max(), xs, E4M3_MAX), ref_scale(kh.max(), ks, E4M3_MAX)
    y = ref_qdq(x, xs2, ml_dtypes.float8_e4m3fn) @ ref_qdq(w, ks2, ml_dtypes.float8_e4m3fn)
    gs2 = ref_scale(gh.max(), gs, E5M2_MAX)
    return y, ((xs2, _set0(np.roll(xh, -1), np.abs(x).max())), (ks2, _set0(np.roll(kh, -1), np.abs(w).max())),
               (gs2, _set0(np.roll(gh, -1), np.abs(g).max())))


def test_fp8_linear_value_is_close_to_the_plain_layer_and_exact_against_reference():
    lin = nn.Linear.init(I, O, key=named.random.key(0), init_scale=10.0, use_bias=False)
    fp8 = eqx.tree_at(lambda m: m.dot_general, lin, Fp8DotGeneralOp.init(8), is_leaf=lambda x: x is None)
    x = named.random.normal(named.random.key(3), (B, I))
    # first call: zero history -> scale 1
    h0 = np.zeros(8, np.float32)
    want, _ = _fp8_reference(arr(x), arr(lin.weight), ((1.0, h0),) * 3, np.zeros(1))
    for got in (fp8(x), named.compile(lambda m, x: m(x))(fp8, x)):
        np.testing.assert_allclose(arr(got), want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(arr(got), arr(lin(x)), rtol=0.1, atol=0.02)


def test_fp8_scale_state_updates_through_grad_like_haliax():
    """haliax's test_fp_loop: five training steps; the overwritten state follows the formulas."""
    lin = nn.Linear.init(I, O, key=named.random.key(1), dot_general=Fp8DotGeneralOp.init(16))
    lr = 1e-3

    def step(model, x, dy):
        grads = named.grad(lambda m: (m(x) * dy).sum())(model)
        overwrites, grads = partition_for_grad_overwrite(grads)
        updates = jax.tree_util.tree_map(lambda g: g * -lr if g.array is not None else g, grads,
                                         is_leaf=lambda v: isinstance(v, named.NamedArray))
        return apply_updates(model, updates, overwrites)

    compiled = named.compile(step)

    h = np.zeros(16, np.float32)
    state = ((np.float32(1), h), (np.float32(1), h), (np.float32(1), h))
    rng = np.random.default_rng(7)
    for i in range(4):
        x_np = rng.standard_normal((4, 8)).astype(np.float32) * (i + 1)
        g_np = rng.standard_normal((4, 6)).astype(np.float32)
        _, state = _fp8_reference(x_np, arr(lin.weight), state, g_np)
        run = compiled if i % 2 else step  # eager and compiled steps alternate
        lin = run(lin, named.named(x_np, (B, I)), named.named(g_np, (B, O)))
        dg = lin.dot_general
        for (s, hist), (got_s, got_h) in zip(state, ((dg.input_scale, dg.input_amax_history),
                                                     (dg.kernel_scale, dg.kernel_amax_history),
                                                     (dg.output_grad_scale, dg.output_grad_amax_history))):
            np.testing.assert_allclose(arr(got_s), s, rtol=1e-3, atol=1e-3)
            np.testing.assert_allclose(arr(got_h), hist, rtol=1e-3, atol=1e-3)
    assert arr(dg.input_scale) != 1.0


def test_fp8_input_gradient_is_straight_through_with_e5m2_cotangent():
    lin = nn.Linear.init(I, O, key=named.random.key(2), use_bias=False,
                         dot_general=Fp8DotGeneralOp.init(4))
    x = named.random.normal(named.random.key(4), (B, I))
    dy_np = np.random.default_rng(1).standard_normal((4, 6)).astype(np.float32)
    dy = named.named(dy_np, (B, O))
    gx = named.grad(lambda x: (lin(x) * dy).sum())(x)
    # g rounded through e5m2 with scale 1 (empty history), then times the e4m3-rounded kernel
    k = ref_qdq(arr(lin.weight), np.float32(1), ml_dtypes.float8_e4m3fn)
    want = ref_qdq(dy_np, np.float32(1), ml_dtypes.float8_e5m2) @ k.T
    np.testing.assert_allclose(arr(gx), want, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------- int8 dots
def test_int8_linear_matches_reference_and_plain_gradient():
    lin = nn.Linear.init(I, O, key=named.random.key(0), use_bias=False)
    q = nn.Linear.init(I, O, key=named.random.key(0), use_bias=False, dot_general=Int8DotGeneralOp.init())
    x = named.random.normal(named.random.key(3), (B, I))
    xs, ws = arr(x), arr(lin.weight)
    sx = np.abs(xs).max(1, keepdims=True) / 127
    sw = np.abs(ws).max(0, keepdims=True) / 127
    want = (np.round(xs / sx).astype(np.int32) @ np.round(ws / sw).astype(np.int32)) * sx * sw
    for got in (q(x), named.compile(lambda m, x: m(x))(q, x)):
        np.testing.assert_allclose(arr(got), want, rtol=1e-5, atol=1e-6)
    # straight-through: the float dot's gradient, evaluated at the int8 output
    gq = named.compile(named.grad(lambda m: (m(x) ** 2).sum()))(q)
    np.testing.assert_allclose(arr(gq.weight), xs.T @ (2 * want), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------- quantize_linear_layers
def test_quantize_linear_layers_on_an_mlp():
    Hd = named.Axis("hidden", 16)
    mlp = nn.MLP.init(I, O, Hd, 2, key=named.random.key(0), init_scale=20.0)  # weights ~N(0, 0.4²)
    q = quantize_linear_layers(mlp, QuantizationConfig(fp8=True, amax_history_length=8))
    assert all(isinstance(layer.dot_general, Fp8DotGeneralOp) for layer in q.layers)
    x = named.random.normal(named.random.key(1), (B, I)) * 10
    out, out_q = mlp(x), named.compile(lambda m, x: m(x))(q, x)
    # fp8 keeps 3 mantissa bits: a few percent per layer, relative to the output's size
    assert np.linalg.norm(arr(out_q) - arr(out)) < 0.15 * np.linalg.norm(arr(out))
    assert not np.array_equal(arr(out_q), arr(out))
    first = quantize_linear_layers(mlp, QuantizationConfig(targets="layers.0", fp8=True))
    assert [isinstance(la.dot_general, Fp8DotGeneralOp) for la in first.layers] == [True, False, False]
    some = quantize_linear_layers(mlp, QuantizationConfig(targets=["0", "1"], int8=True))
    assert [isinstance(la.dot_general, Int8DotGeneralOp) for la in some.layers] == [True, True, False]
    with pytest.warns(UserWarning, match="neither fp8 nor int8"):
        assert quantize_linear_layers(mlp, QuantizationConfig()) is mlp
    with pytest.raises(ValueError, match="cannot both"):
        QuantizationConfig(fp8=True, int8=True)


def test_quantize_linear_layers_in_a_stack_gets_one_state_per_layer():
    L = named.Axis("layer", 3)

    class Block(eqx.Module):
        up: nn.Linear
        down: nn.Linear

        @staticmethod
        def init(key):
            k1, k2 = named.random.split(key)
            return Block(nn.Linear.init(I, O, key=k1), nn.Linear.init(O, I, key=k2))

        def __call__(self, x):
            return self.down(self.up(x))

    stack = nn.Stacked.init(L, Block)(key=named.random.key(0))
    q = quantize_linear_layers(stack, QuantizationConfig(targets=["up"], fp8=True, amax_history_length=4))
    dg = q.stacked.up.dot_general
    assert isinstance(dg, Fp8DotGeneralOp) and q.stacked.down.dot_general is None
    assert dg.input_scale.shape == {"layer": 3} and dg.input_amax_history.shape == {"layer": 3, "amax_history": 4}
    x = named.random.normal(named.random.key(2), (B, I))
    grads = named.compile(named.grad(lambda m: m.fold(x).sum()))(q)
    hist = arr(grads.stacked.up.dot_general.input_amax_history)
    assert hist.shape == (3, 4) and (hist[:, 0] > 0).all() and (hist[:, 1:] == 0).all()
    np.testing.assert_allclose(arr(q.fold(x)), arr(stack.fold(x)), rtol=0.2, atol=0.05)


def test_docstring_examples_run():
    import doctest

    import named.quantization as q
    for module in (q, q.fp8, q.int8, q.state, q.config):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0 and result.attempted > 0, module.__name__


def _train_step(model, x, dy):
    grads = named.grad(lambda m: (m(x) * dy).sum())(model)
    overwrites, grads = partition_for_grad_overwrite(grads)
    updates = jax.tree_util.tree_map(lambda g: g * -0.01 if g.array is not None else g, grads,
                                     is_leaf=lambda v: isinstance(v, named.NamedArray))
    return apply_updates(model, updates, overwrites)


def test_fp8_training_step_sharded_on_the_mesh_matches_one_device_and_round_trips():
    lin = nn.Linear.init(I, O, key=named.random.key(5), dot_general=Fp8DotGeneralOp.init(4))
    x = named.random.normal(named.random.key(6), (B, I))
    dy = named.random.normal(named.random.key(7), (B, O))
    one = named.compile(_train_step)(lin, x, dy)
    sharded = named.compile(_train_step, axis_resources={"batch": "data", "out": "model"},
                            mesh={"data": 4, "model": 2})(lin, x, dy)
    for a, b in zip(jax.tree_util.tree_leaves(one), jax.tree_util.tree_leaves(sharded)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-6)
    assert sharded.weight.array.sharding.spec == jax.sharding.PartitionSpec(None, "model")
    text = named.compile(_train_step, builtin_passes=False).lower(lin, x, dy).as_text("traced")
    assert "named.qdq_grad" in text and "named.qdq " in text and print_function(parse(text)) == text


def test_fp8_under_jax_transformations_matches_named_grad():
    """haliax's own loop uses eqx.filter_jit(eqx.filter_grad(...)): the qdq ops' VJPs serve jax too."""
    lin = nn.Linear.init(I, O, key=named.random.key(1), dot_general=Fp8DotGeneralOp.init(4))
    x = named.random.normal(named.random.key(2), (B, I))
    dy = named.random.normal(named.random.key(3), (B, O))
    by_jax = eqx.filter_jit(eqx.filter_grad(lambda m: (m(x) * dy).sum().array))(lin)
    by_named = named.grad(lambda m: (m(x) * dy).sum())(lin)
    for a, b in zip(jax.tree_util.tree_leaves(by_jax), jax.tree_util.tree_leaves(by_named)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    assert np.asarray(by_jax.dot_general.input_amax_history)[0] > 0


def test_fp8_compute_dtype_bf16():
    lin = nn.Linear.init(I, O, key=named.random.key(1), use_bias=False,
                         dot_general=Fp8DotGeneralOp.init(4, compute_dtype="bfloat16"))
    x = named.random.normal(named.random.key(2), (B, I))
    y = named.compile(lambda m, x: m(x))(lin, x)
    assert y.dtype == ml_dtypes.bfloat16
    xs = arr(x).astype(ml_dtypes.bfloat16)
    ws = arr(lin.weight).astype(ml_dtypes.bfloat16)
    q = lambda v: v.astype(ml_dtypes.float8_e4m3fn).astype(np.float32)  # noqa: E731  (scale 1: no clipping here)
    np.testing.assert_allclose(arr(y).astype(np.float32), q(xs) @ q(ws), rtol=2e-2, atol=1e-3)


def test_fp8_state_is_part_of_the_state_dict_and_round_trips():
    mlp = nn.MLP.init(I, O, named.Axis("hidden", 4), 1, key=named.random.key(0))
    q = quantize_linear_layers(mlp, QuantizationConfig(fp8=True, amax_history_length=4))
    x = named.random.normal(named.random.key(1), (B, I))
    q = _train_step(q, x, named.ones((B, O)))  # non-trivial state
    sd = named.state_dict.to_state_dict(q)
    assert sd["layers.0.dot_general.input_amax_history"].shape == (4,)
    back = named.state_dict.from_state_dict(quantize_linear_layers(mlp, QuantizationConfig(fp8=True,
                                                                                            amax_history_length=4)), sd)
    np.testing.assert_array_equal(arr(back.layers[0].dot_general.input_amax_history),
                                  arr(q.layers[0].dot_general.input_amax_history))
    int8 = quantize_linear_layers(mlp, QuantizationConfig(int8=True))
    assert sorted(named.state_dict.to_state_dict(int8)) == sorted(named.state_dict.to_state_dict(mlp))
