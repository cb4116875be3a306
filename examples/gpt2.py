"""A GPT-2-style character model built from named.nn, trained with AdamW on the 4x2 mesh.

The model: token and position embeddings, a `Stacked` run of transformer blocks (causal
self-attention + MLP, pre-LayerNorm, residuals), a final LayerNorm and an unembedding tied to the
token embedding. The corpus is a standard-library source file read as characters, so the example
needs no download. One compiled program does forward, `named.value_and_grad` and the AdamW update
(written with named ops over the parameter pytree); `batch` is split over the mesh's `data` axis and
`heads`/`mlp` over `model`. Progress goes to stderr as a bar; the loss curve is written as a PNG
(by a few lines of zlib + struct, no plotting library).

Run: python examples/gpt2.py [--steps 300] [--png gpt2_loss.png]
"""

import argparse
import math
import os
import struct
import sys
import time
import zlib

if __name__ == "__main__" and "jax" not in sys.modules:  # fake CPU devices: must precede importing jax
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " --xla_force_host_platform_device_count=8").strip()

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402

import named  # noqa: E402
import named.nn as nn  # noqa: E402

Vocab = named.Axis("vocab", 128)  # ASCII
Pos, KeyPos = named.Axis("pos", 64), named.Axis("key_pos", 64)
Embed, Heads, HeadSize, Mlp = named.make_axes(embed=64, heads=4, head_size=16, mlp=256)
Qkv = named.Axis("qkv", 3)
Layers = named.Axis("layer", 2)
Batch = named.Axis("batch", 32)
MESH = {"data": 4, "model": 2}
MAPPING = {"batch": "data", "heads": "model", "mlp": "model"}


class Attention(eqx.Module):
    qkv: nn.Linear
    out: nn.Linear

    @staticmethod
    def init(*, key):
        k1, k2 = named.random.split(key)
        return Attention(nn.Linear.init(Embed, (Qkv, Heads, HeadSize), key=k1),
                         nn.Linear.init((Heads, HeadSize), Embed, key=k2, init_scale=1 / math.sqrt(2 * Layers.size)))

    def __call__(self, x):
        qkv = self.qkv(x)
        q = qkv["qkv", 0]
        k = qkv["qkv", 1].rename({"pos": "key_pos"})
        v = qkv["qkv", 2].rename({"pos": "key_pos"})
        mask = nn.attention.causal_mask(Pos, KeyPos)
        return self.out(nn.attention.dot_product_attention(KeyPos, HeadSize, q, k, v, mask=mask))


class Block(eqx.Module):
    ln1: nn.LayerNorm
    attn: Attention
    ln2: nn.LayerNorm
    up: nn.Linear
    down: nn.Linear

    @staticmethod
    def init(*, key):
        k1, k2, k3 = named.random.split(key, 3)
        return Block(nn.LayerNorm.init(Embed), Attention.init(key=k1), nn.LayerNorm.init(Embed),
                     nn.Linear.init(Embed, Mlp, key=k2),
                     nn.Linear.init(Mlp, Embed, key=k3, init_scale=1 / math.sqrt(2 * Layers.size)))

    def __call__(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.down(nn.gelu(self.up(self.ln2(x))))


class Gpt2(eqx.Module):
    wte: nn.Embedding
    wpe: nn.Embedding
    blocks: nn.Stacked
    ln_f: nn.LayerNorm

    @staticmethod
    def init(*, key):
        k1, k2, k3 = named.random.split(key, 3)
        return Gpt2(nn.Embedding.init(Vocab, Embed, key=k1), nn.Embedding.init(Pos, Embed, key=k2),
                    nn.Stacked.init(Layers, Block)(key=k3), nn.LayerNorm.init(Embed))

    def __call__(self, tokens):
        x = self.wte.embed(tokens) + self.wpe.weight
        x = self.ln_f(self.blocks.fold(x))
        return self.wte.unembed(x)  # tied output layer


def loss_fn(model, tokens, targets):
    return nn.cross_entropy_loss(model(tokens), Vocab, targets)


def adamw(params, grads, m, v, lr, c1, c2, b1=0.9, b2=0.95, eps=1e-8, wd=0.01):
    """One AdamW step over a pytree of NamedArrays; ``c1``/``c2`` are the bias corrections."""
    is_leaf = lambda x: isinstance(x, named.NamedArray)  # noqa: E731
    m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, grads, is_leaf=is_leaf)
    v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads, is_leaf=is_leaf)

    def update(p, m, v):
        decay = wd * p if p.ndim >= 2 else 0.0
        return p - lr * ((m / c1) / (named.sqrt(v / c2) + eps) + decay)

    return jax.tree_util.tree_map(update, params, m, v, is_leaf=is_leaf), m, v


@named.compile(axis_resources=MAPPING, mesh=MESH)
def train_step(model, m, v, tokens, targets, lr, c1, c2):
    loss, grads = named.value_and_grad(loss_fn)(model, tokens, targets)
    model, m, v = adamw(model, grads, m, v, lr, c1, c2)
    return model, m, v, loss


def corpus() -> np.ndarray:
    """A standard-library source file as ASCII codes (anything else becomes '?')."""
    import argparse as source
    text = open(source.__file__, encoding="utf-8").read()
    return np.frombuffer(text.encode("ascii", errors="replace"), np.uint8).astype(np.int32)


def batches(data: np.ndarray, seed: int = 0):
    rng = np.random.default_rng(seed)
    while True:
        starts = rng.integers(0, len(data) - Pos.size - 1, Batch.size)
        rows = np.stack([data[s:s + Pos.size + 1] for s in starts])
        yield named.named(rows[:, :-1], (Batch, Pos)), named.named(rows[:, 1:], (Batch, Pos))


def progress(step: int, total: int, loss: float, width: int = 30) -> None:
    done = int(width * step / total)
    sys.stderr.write(f"\r[{'#' * done}{'.' * (width - done)}] {step}/{total} loss {loss:.3f}")
    if step == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def write_png(path: str, losses, width: int = 480, height: int = 240) -> None:
    """The loss curve as an RGB PNG: axes in grey, the curve in blue, y from 0 to the first loss."""
    img = np.full((height, width, 3), 255, np.uint8)
    pad = 20
    img[height - pad, pad:width - pad] = img[pad:height - pad, pad] = (150, 150, 150)
    top = max(losses)
    xs = pad + np.arange(len(losses)) * (width - 2 * pad - 1) / max(len(losses) - 1, 1)
    ys = (height - pad) - np.asarray(losses) / top * (height - 2 * pad - 1)
    for (x0, y0), (x1, y1) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
        n = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        for t in np.linspace(0, 1, n + 1):
            x, y = int(round(x0 + t * (x1 - x0))), int(round(y0 + t * (y1 - y0)))
            img[max(y - 1, 0):y + 1, max(x - 1, 0):x + 1] = (30, 90, 200)
    raw = b"".join(b"\x00" + row.tobytes() for row in img)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--png", default="gpt2_loss.png")
    args = parser.parse_args(argv)

    data = corpus()
    model = Gpt2.init(key=named.random.key(0))
    zeros = lambda t: jax.tree_util.tree_map(lambda p: named.zeros_like(p), t,  # noqa: E731
                                             is_leaf=lambda x: isinstance(x, named.NamedArray))
    m, v = zeros(model), zeros(model)
    n_params = sum(p.size for p in jax.tree_util.tree_leaves(model))
    print(f"corpus: {len(data)} characters; model: {n_params} parameters, {Layers.size} layers; mesh {MESH}")
    losses, stream, start = [], batches(data), time.perf_counter()
    for step in range(1, args.steps + 1):
        tokens, targets = next(stream)
        lr = args.lr * min(1.0, step / 20)  # warm-up
        model, m, v, loss = train_step(model, m, v, tokens, targets, lr, 1 - 0.9 ** step, 1 - 0.95 ** step)
        losses.append(loss.item())
        progress(step, args.steps, losses[-1])
        if step == 1 or step % 10 == 0 or step == args.steps:
            print(f"step {step:4d}  loss {losses[-1]:.4f}")
    elapsed = time.perf_counter() - start
    print(f"qkv weight sharded as {model.blocks.stacked.attn.qkv.weight.array.sharding.spec}")
    print(f"first loss {losses[0]:.4f}, final loss {np.mean(losses[-5:]):.4f} after {args.steps} steps "
          f"in {elapsed:.1f}s ({elapsed / args.steps * 1000:.0f} ms/step incl. compile)")
    if args.png:
        write_png(args.png, losses)
        print(f"loss curve written to {args.png}")
    return losses


if __name__ == "__main__":
    main()
