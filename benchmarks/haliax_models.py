"""The benchmarked programs in haliax, for an optional third column (see README: haliax needs its own
environment beside jax 0.10.2). Same math and axis names as models.py; importing this module raises
ImportError when haliax is not installed."""

from __future__ import annotations

import warnings

import jax

with warnings.catch_warnings():  # haliax's own modules use deprecated equinox helpers at import
    warnings.simplefilter("ignore")
    import haliax as hax


def _axis(x, name):
    return hax.Axis(name, x.shape[name])


def mlp(w1, w2, images, labels):
    hidden = hax.nn.relu(hax.dot(images, w1, axis="inputs"))
    logits = hax.dot(hidden, w2, axis="hidden")
    predictions = logits - hax.nn.logsumexp(logits, "classes")
    targets = hax.nn.one_hot(labels, _axis(logits, "classes"))
    return -(targets * predictions).sum("classes").mean("batch")


def attention(x, wq, wk, wv, wo):
    q = hax.dot(x, wq, axis="embed")
    k = hax.dot(x, wk, axis="embed").rename({"seq": "key_seq"})
    v = hax.dot(x, wv, axis="embed").rename({"seq": "key_seq"})
    scores = hax.dot(q, k, axis="head_dim") * (_axis(q, "head_dim").size ** -0.5)
    key_seq = _axis(k, "key_seq")
    causal = hax.arange(_axis(q, "seq")).broadcast_axis(key_seq) >= hax.arange(key_seq)
    weights = hax.nn.softmax(hax.where(causal, scores, -1e9), "key_seq")
    out = hax.einsum("b s h k, b k h d -> b s h d", weights, v)
    return hax.dot(out, wo, axis=("heads", "head_dim"))


def _layer_norm(x, scale, bias):
    return hax.nn.standardize(x, "embed", epsilon=1e-5) * scale + bias


def block(x, p):
    h = x + attention(_layer_norm(x, p["ln1_scale"], p["ln1_bias"]), p["wq"], p["wk"], p["wv"], p["wo"])
    z = _layer_norm(h, p["ln2_scale"], p["ln2_bias"])
    up = hax.nn.gelu(hax.dot(z, p["w_in"], axis="embed") + p["b_in"], approximate=True)
    return h + hax.dot(up, p["w_out"], axis="mlp") + p["b_out"]


def stack(x, layers):
    for p in layers:
        x = block(x, p)
    return x.sum()


def small_mlp(params, x):
    return hax.dot(hax.nn.relu(hax.dot(x, params["w1"], axis="in") + params["b1"]), params["w2"],
                   axis="hidden") + params["b2"]


def from_named(tree):
    """haliax NamedArrays over the same buffers as a tree of `named` NamedArrays."""
    import named

    def convert(x):
        return hax.named(x.array, tuple(hax.Axis(a.name, a.size) for a in x.axes))
    return jax.tree_util.tree_map(convert, tree, is_leaf=lambda x: isinstance(x, named.NamedArray))


def jit(fn):
    return hax.named_jit(fn)


class ShardedJit:
    """``hax.named_jit(fn, axis_resources=...)`` called and lowered inside the mesh (haliax's way)."""

    def __init__(self, fn, mesh, resources):
        self.mesh = mesh
        self.fn = hax.named_jit(fn, axis_resources=resources)

    def __call__(self, *args):
        with hax.partitioning.set_mesh(self.mesh):
            return self.fn(*args)

    def lower(self, *args):
        with hax.partitioning.set_mesh(self.mesh):
            return self.fn.lower(*args)


def shard(tree, mesh, resources):
    with hax.partitioning.set_mesh(mesh):
        return hax.shard(tree, resources)
