"""Rematerialization rows: the gradient step of the transformer stack, unrolled and scanned, under each
save policy, against ``jax.checkpoint`` with the same policy (``jax.lax.scan`` for the scanned stack).

Each row times one compiled gradient step (``named.compile(named.grad(loss))`` vs
``jax.jit(jax.grad(loss))``) and records XLA's compiled temp memory (``memory_analysis()``) of both.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

import named

import models
from harness import compare

POLICIES = {  # our policy -> jax's (None: no checkpoint at all)
    "none": (None, None),
    "nothing_saveable": ("nothing_saveable", jax.checkpoint_policies.nothing_saveable),
    "dots_saveable": ("dots_saveable", jax.checkpoint_policies.dots_saveable),
    "dots_with_no_batch_dims_saveable": ("dots_with_no_batch_dims_saveable",
                                         jax.checkpoint_policies.dots_with_no_batch_dims_saveable),
}
SCAN_CHOICES = {  # named.scan remat= -> what jax does for it
    "save_all": (False, None),
    "full": ("full", jax.checkpoint_policies.nothing_saveable),
    "dots_saveable": (named.checkpoint_policies.dots_saveable, jax.checkpoint_policies.dots_saveable),
    "nested": ("nested", "nested"),
}


def _stack_params(sizes):
    layers = [models.block_params(sizes, seed=i) for i in range(sizes.layers)]
    named_layers, jax_layers = [n for n, _ in layers], [p for _, p in layers]
    stacked_named = {k: named.stack("layer", [p[k] for p in named_layers]) for k in named_layers[0]}
    stacked_jax = {k: jnp.stack([p[k] for p in jax_layers]) for k in jax_layers[0]}
    return named_layers, jax_layers, stacked_named, stacked_jax


def unrolled_losses(policy: str):
    ours, theirs = POLICIES[policy]
    block_n = models.block_named if ours is None else named.checkpoint(models.block_named, policy=ours)
    block_j = models.block_jax if theirs is None else jax.checkpoint(models.block_jax, policy=theirs)

    def loss_named(layers, x):
        for p in layers:
            x = block_n(x, p)
        return x.sum()

    def loss_jax(layers, x):
        for p in layers:
            x = block_j(x, p)
        return x.sum()
    return loss_named, loss_jax


def _nested_jax_scan(step, x, params, length):
    blocks = min((d for d in range(1, length + 1) if length % d == 0),
                 key=lambda d: (abs(d - math.isqrt(length)), d))
    inner_step = jax.checkpoint(step, policy=jax.checkpoint_policies.nothing_saveable)
    split = jax.tree_util.tree_map(lambda a: a.reshape((blocks, length // blocks) + a.shape[1:]), params)

    @jax.checkpoint
    def outer(h, block_params):
        return jax.lax.scan(inner_step, h, block_params)

    return jax.lax.scan(outer, x, split)[0]


def scanned_losses(choice: str):
    ours, theirs = SCAN_CHOICES[choice]

    def loss_named(stacked, x):
        return named.fold(lambda h, p: models.block_named(h, p), "layer", remat=ours)(x, stacked).sum()

    def loss_jax(stacked, x):
        def step(h, p):
            return models.block_jax(h, p), None
        length = next(iter(stacked.values())).shape[0]
        if theirs == "nested":
            return _nested_jax_scan(step, x, stacked, length).sum()
        body = step if theirs is None else jax.checkpoint(step, policy=theirs)
        return jax.lax.scan(body, x, stacked)[0].sum()
    return loss_named, loss_jax


def _row(name, mode, loss_named, loss_jax, params_named, params_jax, x_named, x_jax):
    step_named = named.compile(named.grad(loss_named))
    step_jax = jax.jit(jax.grad(loss_jax))
    mem_named = step_named.lower(params_named, x_named).compile().memory_analysis()
    mem_jax = step_jax.lower(params_jax, x_jax).compile().memory_analysis()

    def block(tree):
        return jax.tree_util.tree_map(lambda a: a.block_until_ready() if hasattr(a, "block_until_ready") else a,
                                      tree)
    result = compare(name, lambda: block(step_named(params_named, x_named)), lambda: block(step_jax(params_jax, x_jax)),
                     rounds=mode.rounds, round_budget_s=mode.budget_s, warmup=mode.warmup)
    result.named_temp_bytes = int(mem_named.temp_size_in_bytes)
    result.jax_temp_bytes = int(mem_jax.temp_size_in_bytes)
    return result


def register(benchmark) -> None:
    """Add the ``remat/*`` rows to the benchmark list through workloads' ``benchmark`` decorator."""
    def unrolled(policy):
        def run(name, mode):
            xn, xj = models.sequence_data(mode.sizes)
            named_layers, jax_layers, _, _ = _stack_params(mode.sizes)
            return _row(name, mode, *unrolled_losses(policy), named_layers, jax_layers, xn, xj)
        return run

    def scanned(choice):
        def run(name, mode):
            xn, xj = models.sequence_data(mode.sizes)
            _, _, stacked_named, stacked_jax = _stack_params(mode.sizes)
            return _row(name, mode, *scanned_losses(choice), stacked_named, stacked_jax, xn, xj)
        return run

    for policy in POLICIES:
        benchmark(f"remat/unrolled-{policy}")(unrolled(policy))
    for choice in SCAN_CHOICES:
        benchmark(f"remat/scanned-{choice}")(scanned(choice))
