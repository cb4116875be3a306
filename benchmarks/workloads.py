"""Workloads: each written once with `named` and once in plain JAX (same math, same dtypes)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import named

from harness import compare

RUNTIME_TARGET, LOWER_TARGET, DISPATCH_TARGET = 1.05, 1.0, 1.5


def _block(x):
    jax.tree_util.tree_map(lambda a: a.block_until_ready() if hasattr(a, "block_until_ready") else a, x)
    return x


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


def mlp_data(batch=128, inputs=784, hidden=512, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, inputs ** -0.5, (inputs, hidden)).astype(np.float32)
    w2 = rng.normal(0, hidden ** -0.5, (hidden, classes)).astype(np.float32)
    images = rng.normal(0, 1, (batch, inputs)).astype(np.float32)
    labels = rng.integers(0, classes, batch).astype(np.int32)
    plain = [jnp.asarray(a) for a in (w1, w2, images, labels)]
    nm = [named.named(plain[0], ("inputs", "hidden")), named.named(plain[1], ("hidden", "classes")),
          named.named(plain[2], ("batch", "inputs")), named.named(plain[3], ("batch",))]
    return nm, plain


def bench_runtime_mlp(quick: bool):
    nm, plain = mlp_data(batch=256 if not quick else 128)
    f_named, f_jax = named.compile(mlp_named), jax.jit(mlp_jax)
    return compare("runtime/mlp", lambda: _block(f_named(*nm).array), lambda: _block(f_jax(*plain)),
                   target=RUNTIME_TARGET, rounds=5 if quick else 9)


def bench_lower_mlp(quick: bool):
    nm, plain = mlp_data()
    specs = [named.spec(x.axes, x.dtype) for x in nm]

    def lower_named():
        # a fresh function each time: nothing cached between runs
        return named.compile(lambda *a: mlp_named(*a)).lower(*specs).as_text("stablehlo")

    def lower_jax():
        return jax.jit(lambda *a: mlp_jax(*a)).lower(*plain).as_text()

    return compare("lower/mlp", lower_named, lower_jax, target=LOWER_TARGET, rounds=5 if quick else 9,
                   round_budget_s=0.3)


def bench_dispatch_small(quick: bool):
    x_plain = jnp.arange(4, dtype=jnp.float32)
    x_named = named.named(x_plain, ("i",))
    f_named = named.compile(lambda x: x + 1.0)
    f_jax = jax.jit(lambda x: x + 1.0)
    # no blocking: dispatch cost is what is measured (both return futures)
    return compare("dispatch/small", lambda: f_named(x_named), lambda: f_jax(x_plain), target=DISPATCH_TARGET,
                   rounds=7 if quick else 15, round_budget_s=0.1)


BENCHMARKS = [bench_runtime_mlp, bench_lower_mlp, bench_dispatch_small]
