"""named.nn modules and functions (issue 14): values and gradients against positional jax, eagerly,
compiled and on the 4x2 mesh; pytrees with optax and equinox."""

import doctest
import importlib

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import named
import named.nn as nn
from _named_testing import as_numpy, assert_named_close

B, E, H, O = named.make_axes(batch=4, embed=6, hidden=4, out=3)
MESH = {"data": 4, "model": 2}
RES = {"batch": "data", "hidden": "model"}


def rand(seed, axes, scale=1.0):
    data = np.random.default_rng(seed).normal(size=[a.size for a in axes]).astype(np.float32) * scale
    return named.named(data, axes)


def both(fn, *args):
    """fn eagerly and compiled; both must agree; returns the compiled result."""
    eager = fn(*args)
    compiled = named.compile(fn)(*args)
    for e, c in zip(jax.tree_util.tree_leaves(eager), jax.tree_util.tree_leaves(compiled)):
        np.testing.assert_allclose(np.asarray(e), np.asarray(c), rtol=2e-5, atol=2e-6)
    return compiled


def test_docstring_examples_run():
    for name in ("named.nn", "named.nn.activations", "named.nn.loss", "named.nn.attention", "named.nn.linear",
                 "named.nn.layers", "named.nn.scan", "named.nn._util"):
        result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, name


# ----------------------------------------------------------------------------------------- activations
ACTIVATIONS = {
    "relu": jax.nn.relu, "relu6": jax.nn.relu6, "sigmoid": jax.nn.sigmoid, "silu": jax.nn.silu,
    "softplus": jax.nn.softplus, "log_sigmoid": jax.nn.log_sigmoid, "elu": jax.nn.elu, "celu": jax.nn.celu,
    "selu": jax.nn.selu, "leaky_relu": jax.nn.leaky_relu, "hard_sigmoid": jax.nn.hard_sigmoid,
    "hard_silu": jax.nn.hard_silu, "hard_swish": jax.nn.hard_swish, "hard_tanh": jax.nn.hard_tanh,
    "soft_sign": jax.nn.soft_sign, "gelu": jax.nn.gelu, "swish": jax.nn.swish,
    "quick_gelu": lambda x: x * jax.nn.sigmoid(1.702 * x), "relu_squared": lambda x: jax.nn.relu(x) ** 2,
}


def test_activations_match_jax_nn_eager_compiled_and_gradients():
    x = rand(0, (B, E), 3.0)

    def all_of(x):
        return {n: getattr(nn, n)(x) for n in ACTIVATIONS}

    out = both(all_of, x)
    grads = named.compile(named.grad(lambda x: sum(v.sum() for v in all_of(x).values())))(x)
    ref_grad = jax.grad(lambda a: sum(f(a).sum() for f in ACTIVATIONS.values()))(x.array)
    for n, f in ACTIVATIONS.items():
        assert_named_close(out[n], f(x.array), ("batch", "embed"), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(grads.array), ref_grad, rtol=1e-4, atol=1e-5)


# Points where a piecewise activation changes formula, and its neighbours: jax.nn fixes the derivative
# there (relu'(0) = 0, relu6'(6) = 0, hard_tanh'(-1) = 1, elu'(0) = 1, softplus'(0) = 1/2), not the
# tie-splitting rule of max/min.
KINKS = np.array([-6.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 6.0, 7.0, -7.0, 0.0], np.float32)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_gradients_at_the_kinks_match_jax_nn(name):
    x = named.named(KINKS, ("k",))
    fn, ref = getattr(nn, name), ACTIVATIONS[name]
    expected = jax.vmap(jax.grad(ref))(KINKS)

    def grad_of(x):
        return named.grad(lambda x: fn(x).sum())(x)

    for got in (grad_of(x), named.compile(grad_of)(x), jax.jit(grad_of)(x)):
        np.testing.assert_allclose(np.asarray(got.array), expected, rtol=1e-6, atol=1e-7, err_msg=name)
    np.testing.assert_allclose(np.asarray(fn(x).array), ref(KINKS), rtol=1e-6, atol=1e-7, err_msg=name)


def test_activations_at_nan_infinities_and_signed_zeros_match_jax_nn():
    data = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1e30, -1e30, 88.0, -88.0], np.float32)
    x = named.named(data, ("k",))
    for name, ref in ACTIVATIONS.items():
        expected = np.asarray(ref(jnp.asarray(data)))
        for got in (getattr(nn, name)(x), named.compile(getattr(nn, name))(x)):
            np.testing.assert_allclose(np.asarray(got.array), expected, rtol=1e-6, equal_nan=True, err_msg=name)


@pytest.mark.parametrize("dtype", ["int32", "int8", "bfloat16", "float16", "bool"])
def test_activation_dtypes_follow_jax_nn(dtype):
    data = np.array([-2, 0, 1, 7], np.int32).astype(jnp.dtype(dtype))
    x = named.named(data, ("k",))
    for name, ref in ACTIVATIONS.items():
        try:
            expected = ref(jnp.asarray(data)).dtype
        except TypeError:  # jax refuses this dtype; named may be more lenient
            continue
        assert getattr(nn, name)(x).dtype == expected, (name, dtype)
        assert named.compile(getattr(nn, name))(x).dtype == expected, (name, dtype)


@pytest.mark.parametrize("fn, ref", [(named.logaddexp, jnp.logaddexp), (named.logaddexp2, jnp.logaddexp2)])
def test_logaddexp_gradients_split_evenly_at_ties(fn, ref):
    a = np.array([0.0, 2.0, -3.0, 1.0, 50.0, -50.0, 0.0], np.float32)
    b = np.array([0.0, 2.0, -3.0, 0.0, -50.0, 50.0, 1e-7], np.float32)
    xa, xb = named.named(a, ("k",)), named.named(b, ("k",))
    expected = jax.vmap(jax.grad(ref, argnums=(0, 1)))(a, b)

    def grads(x, y):
        return named.grad(lambda x, y: fn(x, y).sum(), argnums=(0, 1))(x, y)

    for got in (grads(xa, xb), named.compile(grads)(xa, xb), jax.jit(grads)(xa, xb)):
        for g, e in zip(got, expected):
            np.testing.assert_allclose(np.asarray(g.array), e, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(np.asarray(fn(xa, xb).array), ref(a, b))


def test_glu_halves_the_axis_and_rejects_odd_sizes():
    x = rand(1, (B, E))
    assert_named_close(both(lambda x: nn.glu(x, "embed"), x), jax.nn.glu(x.array, axis=1), ("batch", "embed"),
                       rtol=1e-5)
    with pytest.raises(named.AxisError, match="odd"):
        nn.glu(rand(1, (B, named.Axis("embed", 5))), "embed")


# ----------------------------------------------------------------------------------------------- losses
def test_cross_entropy_losses_match_jax_with_one_hot_and_integer_targets():
    logits = rand(2, (B, O), 2.0)
    labels = named.named(np.array([0, 2, 1, 2], np.int32), (B,))
    ref_each = jax.nn.logsumexp(logits.array, axis=1) - logits.array[np.arange(4), np.asarray(labels.array)]

    def losses(logits, labels):
        each, lz = nn.cross_entropy_loss_and_log_normalizers(logits, O, nn.one_hot(labels, O))
        return each, lz, nn.cross_entropy_loss(logits, O, labels), nn.cross_entropy_loss(logits, O, labels, named.sum)

    each, lz, mean, total = both(losses, logits, labels)
    assert_named_close(each, ref_each, ("batch",), rtol=1e-5)
    assert_named_close(lz, jax.nn.logsumexp(logits.array, axis=1), ("batch",), rtol=1e-5)
    np.testing.assert_allclose(mean.item(), ref_each.mean(), rtol=1e-5)
    np.testing.assert_allclose(total.item(), ref_each.sum(), rtol=1e-5)
    g = named.grad(lambda z: nn.cross_entropy_loss(z, O, labels))(logits)
    ref = jax.grad(lambda z: (jax.nn.logsumexp(z, 1) - z[np.arange(4), np.asarray(labels.array)]).mean())(logits.array)
    assert_named_close(g, ref, ("batch", "out"), rtol=1e-5, atol=1e-6)


def test_binary_cross_entropy_and_reduce_loss_with_where():
    z, t = rand(3, (B,)), named.named(np.array([1, 0, 1, 0], np.float32), (B,))
    where = named.named(np.array([True, True, False, True]), (B,))
    ref = -(t.array * jax.nn.log_sigmoid(z.array) + (1 - t.array) * jax.nn.log_sigmoid(-z.array))
    out = both(lambda z, t, w: (nn.binary_cross_entropy_loss(z, t, reduction=None),
                                nn.binary_cross_entropy_loss(z, t, where=w)), z, t, where)
    assert_named_close(out[0], ref, ("batch",), rtol=1e-5)
    np.testing.assert_allclose(out[1].item(), ref[np.array([0, 1, 3])].mean(), rtol=1e-5)
    assert nn.reduce_loss(out[0], named.max).item() == pytest.approx(float(ref.max()), rel=1e-5)


# ---------------------------------------------------------------------------------------------- Linear
@pytest.mark.parametrize("out_first", [False, True])
def test_linear_with_several_axes_matches_einsum_and_jax_grad(out_first):
    In, Out = (E, named.Axis("extra", 2)), (H, O)
    layer = nn.Linear.init(In, Out, key=named.random.key(0), out_first=out_first)
    names = [a.name for a in layer.weight.axes]
    assert names == (["hidden", "out", "embed", "extra"] if out_first else ["embed", "extra", "hidden", "out"])
    assert layer.out_first == out_first
    layer = eqx.tree_at(lambda m: m.bias, layer, rand(9, Out))
    x = rand(4, (B, E, named.Axis("extra", 2)))
    w = as_numpy(layer.weight, ["embed", "extra", "hidden", "out"])
    ref = jnp.einsum("bex,exho->bho", x.array, w) + np.asarray(layer.bias.array)
    assert_named_close(both(lambda m, x: m(x), layer, x), ref, ("batch", "hidden", "out"), rtol=1e-5, atol=1e-5)

    g = named.compile(named.grad(lambda m, x: (m(x) ** 2).sum()))(layer, x)
    ref_w, ref_b = jax.grad(lambda w, b: ((jnp.einsum("bex,exho->bho", x.array, w) + b) ** 2).sum(),
                            argnums=(0, 1))(w, layer.bias.array)
    assert_named_close(g.weight, ref_w, ["embed", "extra", "hidden", "out"], rtol=1e-4, atol=1e-5)
    assert_named_close(g.bias, ref_b, ["hidden", "out"], rtol=1e-4, atol=1e-5)


def test_linear_init_distribution_no_bias_and_missing_axis_error():
    big = nn.Linear.init(named.Axis("i", 64), named.Axis("o", 64), key=named.random.key(1), use_bias=False)
    assert big.bias is None
    assert abs(float(np.std(np.asarray(big.weight.array))) - 0.02) < 0.002
    with pytest.raises(named.AxisError, match="lacks the input axes"):
        big(named.ones(E))


def test_linear_sharded_on_the_mesh_matches_one_device():
    layer = nn.Linear.init(E, H, key=named.random.key(2))
    x = rand(5, (B, E))
    sharded = named.compile(lambda m, x: m(x), axis_resources=RES, mesh=MESH)(layer, x)
    np.testing.assert_allclose(np.asarray(sharded.array), np.asarray(layer(x).array), rtol=1e-5, atol=1e-6)
    assert sharded.array.sharding.spec == jax.sharding.PartitionSpec("data", "model")


# ------------------------------------------------------------------------------------ other modules
def test_embedding_embed_and_unembed_with_gradient():
    V, P = named.make_axes(vocab=7, pos=3)
    emb = nn.Embedding.init(V, E, key=named.random.key(3))
    ids = named.named(np.array([[1, 6, 0], [2, 2, 5]], np.int32), (named.Axis("b", 2), P))
    x, logits = both(lambda m, i: (m.embed(i), m.unembed(m(i))), emb, ids)
    w = np.asarray(emb.weight.array)
    assert_named_close(x, w[np.asarray(ids.array)], ("b", "pos", "embed"))
    assert_named_close(logits, w[np.asarray(ids.array)] @ w.T, ("b", "pos", "vocab"), rtol=1e-5, atol=1e-6)
    g = named.grad(lambda m: m.unembed(m(ids)).sum())(emb)
    ref = jax.grad(lambda w: (w[np.asarray(ids.array)] @ w.T).sum())(w)
    assert_named_close(g.weight, ref, ("vocab", "embed"), rtol=1e-5, atol=1e-6)


def test_layer_norm_and_rms_norm_match_jax_with_gradients():
    x = rand(6, (B, E), 2.0)
    ln = eqx.tree_at(lambda m: (m.weight, m.bias), nn.LayerNorm.init(E), (rand(7, (E,)), rand(8, (E,))))
    rms = eqx.tree_at(lambda m: m.weight, nn.RmsNorm.init(E, use_bias=False), rand(9, (E,)))
    assert rms.bias is None and rms.eps == 1e-6

    def ref_ln(x, w, b):
        mu = x.mean(1, keepdims=True)
        return (x - mu) / jnp.sqrt(((x - mu) ** 2).mean(1, keepdims=True) + 1e-5) * w + b

    def ref_rms(x, w):
        return x / jnp.sqrt((x ** 2).mean(1, keepdims=True) + 1e-6) * w

    a, b = both(lambda ln, rms, x: (ln(x), rms(x)), ln, rms, x)
    assert_named_close(a, ref_ln(x.array, ln.weight.array, ln.bias.array), ("batch", "embed"), rtol=1e-4, atol=1e-5)
    assert_named_close(b, ref_rms(x.array, rms.weight.array), ("batch", "embed"), rtol=1e-4, atol=1e-5)
    g_ln, g_x = named.compile(named.grad(lambda m, x: (m(x) ** 3).sum(), argnums=(0, 1)))(ln, x)
    rw, rb, rx = jax.grad(lambda w, b, x: (ref_ln(x, w, b) ** 3).sum(), argnums=(0, 1, 2))(
        ln.weight.array, ln.bias.array, x.array)
    assert_named_close(g_ln.weight, rw, ("embed",), rtol=1e-3, atol=1e-4)
    assert_named_close(g_ln.bias, rb, ("embed",), rtol=1e-3, atol=1e-4)
    assert_named_close(g_x, rx, ("batch", "embed"), rtol=1e-3, atol=1e-4)
    with pytest.raises(named.AxisError, match="normalized axes"):
        ln(rand(0, (B,)))


def test_dropout_module_inference_rate_and_statistics():
    x = named.ones((named.Axis("n", 2000),))
    assert np.all(np.asarray(nn.Dropout(0.3, inference=True)(x).array) == 1)
    assert np.all(np.asarray(nn.Dropout(0.3)(x, inference=True).array) == 1)
    y = np.asarray(named.compile(lambda x, k: nn.Dropout(0.3)(x, key=k))(x, named.random.key(0)).array)
    assert 0.25 < (y == 0).mean() < 0.35
    np.testing.assert_allclose(np.unique(y[y != 0]), [1 / 0.7], rtol=1e-6)
    with pytest.raises(ValueError, match="needs a key"):
        nn.Dropout(0.3)(x)


def test_mlp_matches_a_jax_mlp_and_alternates_hidden_axes():
    mlp = nn.MLP.init(E, O, width=5, depth=2, activation=nn.gelu, key=named.random.key(4))
    assert [a.name for a in mlp.layers[1].weight.axes] == ["mlp2", "mlp"]  # out_first by default
    x = rand(10, (B, E))

    def ref(x):
        for i, layer in enumerate(mlp.layers):
            names = [a.name for a in layer.weight.axes]
            w = np.asarray(layer.weight.array).T  # (in, out)
            x = x @ w + np.asarray(layer.bias.array)
            if i < len(mlp.layers) - 1:
                x = jax.nn.gelu(x)
            assert len(names) == 2
        return x

    assert_named_close(both(lambda m, x: m(x), mlp, x), ref(x.array), ("batch", "out"), rtol=1e-4, atol=1e-5)


def test_moe_linear_routes_each_token_group_to_its_expert():
    X, T = named.make_axes(experts=3, token=5)
    moe = nn.MoELinear.init(X, E, H, key=named.random.key(5))
    moe = eqx.tree_at(lambda m: m.bias, moe, rand(11, (X, H)))
    x = rand(12, (T, E))
    sizes = named.named(np.array([2, 0, 3], np.int32), (X,))
    expert = np.array([0, 0, 2, 2, 2])
    w, b = np.asarray(moe.weight.array), np.asarray(moe.bias.array)
    ref = np.einsum("te,teh->th", np.asarray(x.array), w[expert]) + b[expert]
    assert_named_close(both(lambda m, x, s: m(x, s), moe, x, sizes), ref, ("token", "hidden"), rtol=1e-5, atol=1e-5)


def test_modules_are_pytrees_for_optax_and_equinox():
    import optax
    layer = nn.Linear.init(E, H, key=named.random.key(6))
    x = rand(13, (B, E))
    params, static = eqx.partition(layer, eqx.is_array)
    assert len(jax.tree_util.tree_leaves(params)) == 2 and eqx.combine(params, static).In == E
    opt = optax.adamw(1e-2)
    state = opt.init(layer)
    loss = named.compile(named.value_and_grad(lambda m, x: (m(x) ** 2).mean()))
    before, grads = loss(layer, x)
    updates, state = opt.update(grads, state, layer)
    layer = optax.apply_updates(layer, updates)
    assert isinstance(layer.weight, named.NamedArray) and layer.weight.axes == (E, H)
    assert loss(layer, x)[0].item() < before.item()


def test_moe_linear_init_is_a_truncated_normal_scaled_by_fan_in():
    X, I, Hb = named.make_axes(experts=4, inp=64, hid=64)
    w = np.asarray(nn.MoELinear.init(X, I, Hb, key=named.random.key(8)).weight.array) * np.sqrt(64)
    assert np.abs(w).max() <= 3.0 + 1e-5 and 0.95 < w.std() < 1.02  # std of N(0,1) truncated at ±3: 0.986
