"""The GPT-2 training step (forward, gradients, AdamW) built from named.nn modules, and the same model in
jax.numpy with the same storage orders, math and a lax.scan over the layers (benchmark row for issue 14)."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import named
import named.nn as nn

# mode -> (batch, pos, embed, heads, head_size, mlp, layers, vocab)
SIZES = {"full": (8, 128, 128, 4, 32, 512, 4, 256), "quick": (4, 64, 64, 4, 16, 256, 2, 128),
         "tiny": (2, 8, 8, 2, 4, 16, 2, 16)}
B1, B2, EPS, WD = 0.9, 0.95, 1e-8, 0.01


def axes(mode: str):
    b, p, e, h, d, m, layers, v = SIZES[mode]
    return dict(Batch=named.Axis("batch", b), Pos=named.Axis("pos", p), KeyPos=named.Axis("key_pos", p),
                Embed=named.Axis("embed", e), Heads=named.Axis("heads", h), HeadSize=named.Axis("head_size", d),
                Mlp=named.Axis("mlp", m), Layers=named.Axis("layer", layers), Vocab=named.Axis("vocab", v),
                Qkv=named.Axis("qkv", 3))


class Block(eqx.Module):
    ln1: nn.LayerNorm
    qkv: nn.Linear
    out: nn.Linear
    ln2: nn.LayerNorm
    up: nn.Linear
    down: nn.Linear
    ax: dict = eqx.field(static=True)

    @staticmethod
    def init(ax, *, key):
        k = named.random.split(key, 4)
        return Block(nn.LayerNorm.init(ax["Embed"]),
                     nn.Linear.init(ax["Embed"], (ax["Qkv"], ax["Heads"], ax["HeadSize"]), key=k[0]),
                     nn.Linear.init((ax["Heads"], ax["HeadSize"]), ax["Embed"], key=k[1]),
                     nn.LayerNorm.init(ax["Embed"]), nn.Linear.init(ax["Embed"], ax["Mlp"], key=k[2]),
                     nn.Linear.init(ax["Mlp"], ax["Embed"], key=k[3]), tuple(sorted(ax.items())))

    def __call__(self, x):
        ax = dict(self.ax)
        qkv = self.qkv(self.ln1(x))
        q, k, v = qkv["qkv", 0], qkv["qkv", 1].rename({"pos": "key_pos"}), qkv["qkv", 2].rename({"pos": "key_pos"})
        mask = nn.attention.causal_mask(ax["Pos"], ax["KeyPos"])
        x = x + self.out(nn.attention.dot_product_attention(ax["KeyPos"], ax["HeadSize"], q, k, v, mask=mask))
        return x + self.down(nn.gelu(self.up(self.ln2(x))))


class Model(eqx.Module):
    wte: nn.Embedding
    wpe: nn.Embedding
    blocks: nn.Stacked
    ln_f: nn.LayerNorm

    def __call__(self, tokens):
        return self.wte.unembed(self.ln_f(self.blocks.fold(self.wte.embed(tokens) + self.wpe.weight)))


def named_model(mode: str, seed: int = 0) -> Model:
    ax = axes(mode)
    k1, k2, k3 = named.random.split(named.random.key(seed), 3)
    return Model(nn.Embedding.init(ax["Vocab"], ax["Embed"], key=k1), nn.Embedding.init(ax["Pos"], ax["Embed"], key=k2),
                 nn.Stacked.init(ax["Layers"], Block)(ax, key=k3), nn.LayerNorm.init(ax["Embed"]))


def _is_leaf(x):
    return isinstance(x, named.NamedArray)


def named_step(model, m, v, tokens, targets, lr, c1, c2):
    """One AdamW training step on the named model (compiled by the benchmark)."""
    Vocab = model.wte.Vocab
    loss, grads = named.value_and_grad(lambda mod: nn.cross_entropy_loss(mod(tokens), Vocab, targets))(model)
    m = jax.tree_util.tree_map(lambda m, g: B1 * m + (1 - B1) * g, m, grads, is_leaf=_is_leaf)
    v = jax.tree_util.tree_map(lambda v, g: B2 * v + (1 - B2) * g * g, v, grads, is_leaf=_is_leaf)
    model = jax.tree_util.tree_map(
        lambda p, m, v: p - lr * ((m / c1) / (named.sqrt(v / c2) + EPS) + (WD * p if p.ndim >= 2 else 0.0)),
        model, m, v, is_leaf=_is_leaf)
    return model, m, v, loss


# ------------------------------------------------------------------------------------------- jax side
def _ln(x, w, b):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) * jax.lax.rsqrt(var + 1e-5) * w + b


def _gelu(x):
    return 0.5 * x * (1 + jnp.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)))


def jax_forward(p, tokens):
    x = p["wte"][tokens] + p["wpe"]  # (b, pos, e)
    pos = x.shape[1]
    mask = jnp.arange(pos)[:, None] >= jnp.arange(pos)[None, :]

    def layer(x, w):
        qkv = jnp.einsum("bpe,eshd->bpshd", _ln(x, w["ln1_w"], w["ln1_b"]), w["qkv_w"]) + w["qkv_b"]
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        logits = jnp.einsum("bqhd,bkhd->bhqk", q / math.sqrt(q.shape[-1]), k)
        weights = jax.nn.softmax(jnp.where(mask, logits, -1e9), axis=-1)
        att = jnp.einsum("bhqk,bkhd->bqhd", weights, v)
        x = x + jnp.einsum("bqhd,hde->bqe", att, w["out_w"]) + w["out_b"]
        h = _gelu(jnp.einsum("bpe,em->bpm", _ln(x, w["ln2_w"], w["ln2_b"]), w["up_w"]) + w["up_b"])
        return x + jnp.einsum("bpm,me->bpe", h, w["down_w"]) + w["down_b"], None

    x, _ = jax.lax.scan(layer, x, p["blocks"])
    return jnp.einsum("bpe,ve->bpv", _ln(x, p["lnf_w"], p["lnf_b"]), p["wte"])


def jax_loss(p, tokens, targets):
    logits = jax_forward(p, tokens)
    lse = jax.nn.logsumexp(logits, -1)
    picked = jnp.take_along_axis(logits, targets[..., None], -1)[..., 0]
    return (lse - picked).mean()


def jax_step(p, m, v, tokens, targets, lr, c1, c2):
    loss, g = jax.value_and_grad(jax_loss)(p, tokens, targets)
    m = jax.tree_util.tree_map(lambda m, g: B1 * m + (1 - B1) * g, m, g)
    v = jax.tree_util.tree_map(lambda v, g: B2 * v + (1 - B2) * g * g, v, g)
    p = jax.tree_util.tree_map(lambda p, m, v: p - lr * ((m / c1) / (jnp.sqrt(v / c2) + EPS)
                                                         + (WD * p if p.ndim >= 2 else 0.0)), p, m, v)
    return p, m, v, loss


def jax_params(model: Model) -> dict:
    """The named model's arrays in the jax side's layout (the same storage orders, axes checked)."""
    s = model.blocks.stacked
    names = {"ln1_w": s.ln1.weight, "ln1_b": s.ln1.bias, "qkv_w": s.qkv.weight, "qkv_b": s.qkv.bias,
             "out_w": s.out.weight, "out_b": s.out.bias, "ln2_w": s.ln2.weight, "ln2_b": s.ln2.bias,
             "up_w": s.up.weight, "up_b": s.up.bias, "down_w": s.down.weight, "down_b": s.down.bias}
    assert [a.name for a in s.qkv.weight.axes] == ["layer", "embed", "qkv", "heads", "head_size"]
    assert [a.name for a in s.out.weight.axes] == ["layer", "heads", "head_size", "embed"]
    return {"wte": model.wte.weight.array, "wpe": model.wpe.weight.array, "lnf_w": model.ln_f.weight.array,
            "lnf_b": model.ln_f.bias.array, "blocks": {k: x.array for k, x in names.items()}}


def data(mode: str, seed: int = 0):
    ax = axes(mode)
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, ax["Vocab"].size, (ax["Batch"].size, ax["Pos"].size + 1)).astype(np.int32)
    return rows[:, :-1], rows[:, 1:]


def programs(mode: str):
    """(named_fn, jax_fn, named_args, jax_args) for one training step at step 1."""
    ax = axes(mode)
    model = named_model(mode)
    zeros = lambda t: jax.tree_util.tree_map(named.zeros_like, t, is_leaf=_is_leaf)  # noqa: E731
    tokens, targets = data(mode)
    hyper = [1e-3, 1 - B1, 1 - B2]
    nm = [model, zeros(model), zeros(model), named.named(tokens, (ax["Batch"], ax["Pos"])),
          named.named(targets, (ax["Batch"], ax["Pos"])), *(named.named(np.float32(h), ()) for h in hyper)]
    p = jax_params(model)
    zj = jax.tree_util.tree_map(jnp.zeros_like, p)
    return named_step, jax_step, nm, [p, zj, zj, jnp.asarray(tokens), jnp.asarray(targets), *hyper]



def fresh_state(mode: str):
    """(named_args, jax_args) as in :func:`programs`, every buffer its own (donation deletes them)."""
    _, _, named_args, jax_args = programs(mode)
    copy = lambda t: jax.tree_util.tree_map(lambda a: jnp.array(a, copy=True), t)  # noqa: E731
    return copy(named_args), copy(jax_args)
