"""The benchmarked programs, each written once with `named` and once in plain JAX (same math, dtypes).

The JAX versions use the layouts `named` picks (axes in order of first appearance), so both sides do
the same contractions on the same storage orders; XLA is free to re-layout either.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

import named


@dataclass(frozen=True)
class Sizes:
    """Problem sizes for one run mode (full, quick or tiny)."""

    batch: int = 256          # MLP
    inputs: int = 784
    hidden: int = 512
    classes: int = 10
    seq_batch: int = 8        # attention / transformer
    seq: int = 128
    embed: int = 256
    heads: int = 8
    mlp: int = 1024
    layers: int = 8           # unrolled blocks in the big program used for lower time and memory


FULL = Sizes()
QUICK = Sizes(batch=128, seq_batch=4, seq=64, layers=4)
TINY = Sizes(batch=8, inputs=16, hidden=16, classes=4, seq_batch=2, seq=8, embed=16, heads=2, mlp=32, layers=1)


def _rng(seed):
    return np.random.default_rng(seed)


def _normal(rng, fan_in, shape):
    return rng.normal(0, fan_in ** -0.5, shape).astype(np.float32)


# --------------------------------------------------------------------------------------------- MLP
def mlp_named(w1, w2, images, labels):
    hidden = named.nn.relu(named.dot(images, w1, axis="inputs"))
    logits = named.dot(hidden, w2, axis="hidden")
    predictions = logits - named.logsumexp(logits, "classes")
    targets = named.nn.one_hot(labels, named.Axis("classes", logits.shape["classes"]))
    return -(targets * predictions).sum("classes").mean("batch")


def mlp_jax(w1, w2, images, labels):
    hidden = jax.nn.relu(images @ w1)
    logits = hidden @ w2
    predictions = logits - jax.nn.logsumexp(logits, axis=1, keepdims=True)
    targets = jax.nn.one_hot(labels, logits.shape[1])
    return -(targets * predictions).sum(1).mean(0)


MLP_AXES = (("inputs", "hidden"), ("hidden", "classes"), ("batch", "inputs"), ("batch",))


def mlp_data(s: Sizes, seed=0):
    """([named args], [jax args]) holding the same buffers."""
    rng = _rng(seed)
    arrays = (_normal(rng, s.inputs, (s.inputs, s.hidden)), _normal(rng, s.hidden, (s.hidden, s.classes)),
              rng.normal(0, 1, (s.batch, s.inputs)).astype(np.float32),
              rng.integers(0, s.classes, s.batch).astype(np.int32))
    plain = [jnp.asarray(a) for a in arrays]
    return [named.named(a, axes) for a, axes in zip(plain, MLP_AXES)], plain


# --------------------------------------------------------------------------------------- attention
# x: (batch, seq, embed); wq/wk/wv: (embed, heads, head_dim); wo: (heads, head_dim, embed)
def attention_named(x, wq, wk, wv, wo):
    q = named.dot(x, wq, axis="embed")                                    # batch seq heads head_dim
    k = named.dot(x, wk, axis="embed").rename({"seq": "key_seq"})         # batch key_seq heads head_dim
    v = named.dot(x, wv, axis="embed").rename({"seq": "key_seq"})
    scores = named.dot(q, k, axis="head_dim") * (q.shape["head_dim"] ** -0.5)  # batch seq heads key_seq
    causal = named.arange(named.Axis("seq", q.shape["seq"])) >= named.arange(named.Axis("key_seq", k.shape["key_seq"]))
    weights = named.nn.softmax(named.where(causal, scores, -1e9), "key_seq")
    out = named.einsum("b s h k, b k h d -> b s h d", weights, v)
    return named.dot(out, wo, axis=("heads", "head_dim"))                 # batch seq embed


def attention_jax(x, wq, wk, wv, wo):
    q = jnp.einsum("bse,ehd->bshd", x, wq)
    k = jnp.einsum("bse,ehd->bshd", x, wk)
    v = jnp.einsum("bse,ehd->bshd", x, wv)
    scores = jnp.einsum("bshd,bthd->bsht", q, k) * (q.shape[-1] ** -0.5)
    seq = x.shape[1]
    causal = jnp.arange(seq)[:, None, None] >= jnp.arange(seq)[None, None, :]
    weights = jax.nn.softmax(jnp.where(causal, scores, -1e9), axis=-1)
    out = jnp.einsum("bsht,bthd->bshd", weights, v)
    return jnp.einsum("bshd,hde->bse", out, wo)


# ------------------------------------------------------------------------------- transformer block
def _layer_norm_named(x, scale, bias):
    return named.nn.standardize(x, "embed", epsilon=1e-5) * scale + bias


def _layer_norm_jax(x, scale, bias):
    mean = x.mean(-1, keepdims=True)
    centered = x - mean
    variance = (centered * centered).mean(-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(variance + 1e-5) * scale + bias


def block_named(x, p):
    """Pre-norm transformer block: x + attention(ln1(x)), then + mlp(ln2(.))."""
    h = x + attention_named(_layer_norm_named(x, p["ln1_scale"], p["ln1_bias"]), p["wq"], p["wk"], p["wv"], p["wo"])
    z = _layer_norm_named(h, p["ln2_scale"], p["ln2_bias"])
    up = named.nn.gelu(named.dot(z, p["w_in"], axis="embed") + p["b_in"])
    return h + named.dot(up, p["w_out"], axis="mlp") + p["b_out"]


def block_jax(x, p):
    h = x + attention_jax(_layer_norm_jax(x, p["ln1_scale"], p["ln1_bias"]), p["wq"], p["wk"], p["wv"], p["wo"])
    z = _layer_norm_jax(h, p["ln2_scale"], p["ln2_bias"])
    up = jax.nn.gelu(z @ p["w_in"] + p["b_in"], approximate=True)
    return h + up @ p["w_out"] + p["b_out"]


def stack_named(x, layers):
    for p in layers:
        x = block_named(x, p)
    return x.sum()


def stack_jax(x, layers):
    for p in layers:
        x = block_jax(x, p)
    return x.sum()


def train_step_named(x, layers):
    """The stack's loss and its gradient with respect to every layer's parameters."""
    return named.value_and_grad(stack_named, argnums=1)(x, layers)


def train_step_jax(x, layers):
    return jax.value_and_grad(stack_jax, argnums=1)(x, layers)


def block_params(s: Sizes, seed=0):
    """(named params, jax params): dicts of the same buffers."""
    rng = _rng(seed)
    e, h, d, m = s.embed, s.heads, s.embed // s.heads, s.mlp
    shapes = {
        "ln1_scale": (("embed",), np.ones(e, np.float32)), "ln1_bias": (("embed",), np.zeros(e, np.float32)),
        "wq": (("embed", "heads", "head_dim"), _normal(rng, e, (e, h, d))),
        "wk": (("embed", "heads", "head_dim"), _normal(rng, e, (e, h, d))),
        "wv": (("embed", "heads", "head_dim"), _normal(rng, e, (e, h, d))),
        "wo": (("heads", "head_dim", "embed"), _normal(rng, e, (h, d, e))),
        "ln2_scale": (("embed",), np.ones(e, np.float32)), "ln2_bias": (("embed",), np.zeros(e, np.float32)),
        "w_in": (("embed", "mlp"), _normal(rng, e, (e, m))), "b_in": (("mlp",), np.zeros(m, np.float32)),
        "w_out": (("mlp", "embed"), _normal(rng, m, (m, e))), "b_out": (("embed",), np.zeros(e, np.float32)),
    }
    plain = {k: jnp.asarray(v) for k, (_, v) in shapes.items()}
    return {k: named.named(plain[k], axes) for k, (axes, _) in shapes.items()}, plain


def sequence_data(s: Sizes, seed=1):
    x = jnp.asarray(_rng(seed).normal(0, 1, (s.seq_batch, s.seq, s.embed)).astype(np.float32))
    return named.named(x, ("batch", "seq", "embed")), x


# ---------------------------------------------------------------------------------- tiny programs
def small_mlp_named(params, x):
    return named.dot(named.nn.relu(named.dot(x, params["w1"], axis="in") + params["b1"]), params["w2"],
                     axis="hidden") + params["b2"]


def small_mlp_jax(params, x):
    return jax.nn.relu(x @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"]


def small_mlp_data(seed=0):
    rng = _rng(seed)
    shapes = {"w1": (("in", "hidden"), (4, 8)), "b1": (("hidden",), (8,)), "w2": (("hidden", "out"), (8, 2)),
              "b2": (("out",), (2,))}
    plain = {k: jnp.asarray(rng.normal(0, 1, shape).astype(np.float32)) for k, (_, shape) in shapes.items()}
    x = jnp.asarray(rng.normal(0, 1, (3, 4)).astype(np.float32))
    nm = {k: named.named(plain[k], axes) for k, (axes, _) in shapes.items()}
    return (nm, named.named(x, ("batch", "in"))), (plain, x)
