"""named.nn.attention against a positional jax reference: masks, bias, dropout, gradients, mesh."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import named
from named.nn import attention

B, Hd, Q, K, D = named.make_axes(batch=4, heads=2, q=3, k=5, d=4)
MESH = {"data": 4, "model": 2}


def rand(seed, axes):
    return named.named(np.random.default_rng(seed).normal(size=[a.size for a in axes]).astype(np.float32), axes)


def ref_attention(q, k, v, mask=None, bias=None):
    # q: b h q d, k/v: b h k d
    logits = jnp.einsum("bhqd,bhkd->bhqk", q / np.sqrt(q.shape[-1]), k)
    if bias is not None:
        logits = logits + bias
    if mask is not None:
        logits = jnp.where(mask, logits, -1e9)
    return jnp.einsum("bhqk,bhkd->bhqd", jax.nn.softmax(logits, -1), v)


def test_attention_with_boolean_mask_and_bias_eager_compiled_and_gradients():
    q, k, v = rand(0, (B, Hd, Q, D)), rand(1, (B, K, Hd, D)), rand(2, (B, Hd, K, D))
    mask = named.named(np.random.default_rng(3).random((3, 5)) > 0.3, (Q, K))
    bias = rand(4, (Hd, K))
    fn = lambda q, k, v: attention.dot_product_attention(K, D, q, k, v, mask=mask, bias=bias)  # noqa: E731
    eager, compiled = fn(q, k, v), named.compile(fn)(q, k, v)
    kk, vv = np.transpose(np.asarray(k.array), (0, 2, 1, 3)), np.asarray(v.array)
    want = ref_attention(q.array, kk, vv, np.asarray(mask.array), np.asarray(bias.array)[None, :, None, :])
    for got in (eager, compiled):
        assert set(got.shape) == {"batch", "heads", "q", "d"}
        np.testing.assert_allclose(np.asarray(named.rearrange(got, (B, Hd, Q, D)).array), want, rtol=1e-5, atol=1e-6)
    g = named.compile(named.grad(lambda q, k: (fn(q, k, v) ** 2).sum(), argnums=(0, 1)))(q, k)
    rq, rk = jax.grad(lambda q, k: (ref_attention(q, k, vv, np.asarray(mask.array),
                                                  np.asarray(bias.array)[None, :, None, :]) ** 2).sum(),
                      argnums=(0, 1))(q.array, kk)
    np.testing.assert_allclose(np.asarray(named.rearrange(g[0], (B, Hd, Q, D)).array), rq, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(named.rearrange(g[1], (B, Hd, K, D)).array), rk, rtol=1e-4, atol=1e-5)


def test_causal_self_attention_matches_reference_and_mask_helpers():
    P = named.Axis("pos", 4)
    x = rand(5, (B, P, Hd, D))
    out = named.compile(lambda x: attention.self_attention(P, D, x, x, x, is_causal=True))(x)
    xx = np.transpose(np.asarray(x.array), (0, 2, 1, 3))
    want = ref_attention(xx, xx, xx, np.tril(np.ones((4, 4), bool)))
    np.testing.assert_allclose(np.asarray(named.rearrange(out, (B, Hd, P, D)).array), want, rtol=1e-5, atol=1e-6)
    # an additive causal bias gives the same weights as the boolean causal mask
    QP = named.Axis("q_pos", 4)
    xq = x.rename({"pos": "q_pos"})
    w_mask = attention.dot_product_attention_weights(D, P, xq, x, mask=attention.causal_mask(QP, P))
    w_bias = attention.dot_product_attention_weights(D, P, xq, x, bias=attention.mask_to_bias(
        attention.causal_mask(QP, P)))
    np.testing.assert_allclose(np.asarray(w_mask.array), np.asarray(named.rearrange(w_bias, w_mask.axes).array),
                               atol=1e-6)
    np.testing.assert_array_equal(np.asarray(attention.causal_mask(QP, P, k_start=1).array),
                                  np.tril(np.ones((4, 4), bool), -1))
    np.testing.assert_array_equal(np.asarray(attention.prefix_lm_mask(QP, P, 2).array),
                                  np.tril(np.ones((4, 4), bool)) | (np.arange(4) < 2)[None, :])
    m = attention.combine_masks_or(attention.causal_mask(QP, P), None)
    assert attention.combine_masks_and(None, m) is m
    f = attention.forgetful_causal_mask(named.Axis("k", 200), 0.5, sample_prob=False, key=named.random.key(1))
    assert bool(f.array[0]) and 0.35 < float(np.mean(np.asarray(f.array))) < 0.65


def test_attention_dropout_only_in_training():
    q, k, v = rand(0, (Q, D)), rand(1, (K, D)), rand(2, (K, D))
    base = attention.dot_product_attention(K, D, q, k, v)
    same = attention.dot_product_attention(K, D, q, k, v, dropout_rate=0.5, dropout_key=named.random.key(0))
    np.testing.assert_allclose(np.asarray(same.array), np.asarray(base.array), rtol=1e-6)
    dropped = attention.dot_product_attention(K, D, q, k, v, dropout_rate=0.5, dropout_key=named.random.key(0),
                                              inference=False)
    assert not np.allclose(np.asarray(dropped.array), np.asarray(base.array))


def test_attention_sharded_over_batch_and_heads():
    q, k, v = rand(0, (B, Hd, Q, D)), rand(1, (B, Hd, K, D)), rand(2, (B, Hd, K, D))
    fn = lambda q, k, v: attention.dot_product_attention(K, D, q, k, v)  # noqa: E731
    out = named.compile(fn, axis_resources={"batch": "data", "heads": "model"}, mesh=MESH)(q, k, v)
    np.testing.assert_allclose(np.asarray(out.array), np.asarray(fn(q, k, v).array), rtol=1e-5, atol=1e-6)
    assert out.array.sharding.spec[:2] == ("data", "model")


def test_attention_axis_errors():
    q, k = rand(0, (K, D)), rand(1, (K, D))
    with pytest.raises(named.AxisError, match="also in query"):
        attention.dot_product_attention(K, D, q, k, k)
    with pytest.raises(named.AxisError, match="not in key"):
        attention.dot_product_attention(Q, D, q, k, k)
    with pytest.raises(TypeError, match="must be a NamedArray"):
        attention.dot_product_attention(K, D, np.ones((5, 4)), k, k)
