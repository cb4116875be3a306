"""The benchmarks: each measure (runtime, lower, compile, dispatch) of each program, named vs jax.jit.

- ``runtime/*``: steady-state execution of a cached compiled program, blocking on the result;
- ``lower/*``: trace + check + partition + lower to StableHLO text, a fresh function each time
  (``jax.jit(f).lower(...).as_text()`` on the jax side), with the Python-heap peak of one call;
- ``compile/*``: the first call of a fresh function, XLA compile included (no target);
- ``dispatch/*``: a cached call of a tiny program, not blocking (what the caller waits for).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import jax
import numpy as np

import named

import models
from harness import Result, compare, with_memory
from models import Sizes

RUNTIME_TARGET, LOWER_TARGET, DISPATCH_TARGET = 1.05, 1.0, 1.5


@dataclass(frozen=True)
class Mode:
    """Sizes and round counts for one run: ``full`` (the default), ``quick`` or ``tiny`` (tests)."""

    name: str
    sizes: Sizes
    rounds: int
    lower_rounds: int
    compile_rounds: int
    budget_s: float
    warmup: int = 3


MODES = {
    "full": Mode("full", models.FULL, rounds=9, lower_rounds=7, compile_rounds=5, budget_s=0.2),
    "quick": Mode("quick", models.QUICK, rounds=5, lower_rounds=5, compile_rounds=3, budget_s=0.1),
    "tiny": Mode("tiny", models.TINY, rounds=1, lower_rounds=1, compile_rounds=1, budget_s=0.001, warmup=1),
}


def mode_from(quick: bool = False, tiny: bool = False) -> Mode:
    """``tiny`` wins; the environment variable ``NAMED_BENCH_TINY=1`` also selects it."""
    if tiny or os.environ.get("NAMED_BENCH_TINY") == "1":
        return MODES["tiny"]
    return MODES["quick" if quick else "full"]


BENCHMARKS: list[tuple[str, Callable[[Mode], Result]]] = []


def benchmark(name: str):
    def register(fn):
        BENCHMARKS.append((name, lambda mode: fn(name, mode)))
        return fn
    return register


def _block(x):
    jax.tree_util.tree_map(lambda a: a.block_until_ready() if hasattr(a, "block_until_ready") else a, x)
    return x


def _fresh(fn):
    # a new function object each call: no cache keyed on the function can hit
    return lambda *a: fn(*a)


# ------------------------------------------------------------------------------------------ programs
def _mlp(mode: Mode):
    nm, plain = models.mlp_data(mode.sizes)
    return models.mlp_named, models.mlp_jax, nm, plain


def _attention(mode: Mode):
    (xn, xp), (pn, pp) = models.sequence_data(mode.sizes), models.block_params(mode.sizes)
    keys = ("wq", "wk", "wv", "wo")
    return (models.attention_named, models.attention_jax, [xn, *(pn[k] for k in keys)],
            [xp, *(pp[k] for k in keys)])


def _block_program(mode: Mode):
    (xn, xp), (pn, pp) = models.sequence_data(mode.sizes), models.block_params(mode.sizes)
    return models.block_named, models.block_jax, [xn, pn], [xp, pp]


def _stack(mode: Mode):
    (xn, xp) = models.sequence_data(mode.sizes)
    layers = [models.block_params(mode.sizes, seed=i) for i in range(mode.sizes.layers)]
    return models.stack_named, models.stack_jax, [xn, [n for n, _ in layers]], [xp, [p for _, p in layers]]


MESH_SHAPE = {"data": 4, "model": 2}
MLP_RESOURCES = {"batch": "data", "hidden": "model"}


def _sharded_mlp(mode: Mode):
    """The MLP with batch -> data and hidden -> model on 8 devices; both sides get placed inputs."""
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:8]).reshape(4, 2), tuple(MESH_SHAPE))
    nm, plain = models.mlp_data(mode.sizes)
    with named.use_mesh(mesh):
        nm = [named.shard(x, MLP_RESOURCES) for x in nm]
    specs = [jax.sharding.PartitionSpec(*(MLP_RESOURCES.get(a) for a in axes)) for axes in models.MLP_AXES]
    in_shardings = tuple(jax.sharding.NamedSharding(mesh, s) for s in specs)
    out_sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    plain = [jax.device_put(x, s) for x, s in zip(plain, in_shardings)]

    def compile_named(f):
        return named.compile(f, axis_resources=MLP_RESOURCES, mesh=MESH_SHAPE)

    def compile_jax(f):
        return jax.jit(f, in_shardings=in_shardings, out_shardings=out_sharding)

    return compile_named, compile_jax, nm, plain


# ------------------------------------------------------------------------------------------ measures
def _runtime(name, mode, f_named, f_jax, nm, plain, compile_named=named.compile, compile_jax=jax.jit):
    cn, cj = compile_named(f_named), compile_jax(f_jax)
    return compare(name, lambda: _block(cn(*nm)), lambda: _block(cj(*plain)), target=RUNTIME_TARGET,
                   rounds=mode.rounds, round_budget_s=mode.budget_s, warmup=mode.warmup)


def _lower(name, mode, f_named, f_jax, nm, plain, compile_named=named.compile, compile_jax=jax.jit):
    specs = jax.tree_util.tree_map(lambda x: named.spec(x.axes, x.dtype), nm,
                                   is_leaf=lambda x: isinstance(x, named.NamedArray))

    def lower_named():
        return compile_named(_fresh(f_named)).lower(*specs).as_text("stablehlo")

    def lower_jax():
        return compile_jax(_fresh(f_jax)).lower(*plain).as_text()

    result = compare(name, lower_named, lower_jax, target=LOWER_TARGET, rounds=mode.lower_rounds,
                     round_budget_s=1.5 * mode.budget_s, warmup=mode.warmup)
    return with_memory(result, lower_named, lower_jax, repeat=1 if mode.name == "tiny" else 3)


def _compile(name, mode, f_named, f_jax, nm, plain, compile_named=named.compile, compile_jax=jax.jit):
    return compare(name, lambda: _block(compile_named(_fresh(f_named))(*nm)),
                   lambda: _block(compile_jax(_fresh(f_jax))(*plain)), rounds=mode.compile_rounds,
                   round_budget_s=mode.budget_s, warmup=1)


def _sharded(measure):
    def run(name, mode):
        compile_named, compile_jax, nm, plain = _sharded_mlp(mode)
        return measure(name, mode, models.mlp_named, models.mlp_jax, nm, plain, compile_named, compile_jax)
    return run


def _unsharded(measure, program):
    def run(name, mode):
        return measure(name, mode, *program(mode))
    return run


for _measure, _prefix in ((_runtime, "runtime"), (_lower, "lower"), (_compile, "compile")):
    benchmark(f"{_prefix}/mlp")(_unsharded(_measure, _mlp))
    benchmark(f"{_prefix}/attention")(_unsharded(_measure, _attention))
    benchmark(f"{_prefix}/transformer-block")(_unsharded(_measure, _block_program))
    benchmark(f"{_prefix}/mlp-sharded8")(_sharded(_measure))
    if _measure is _lower:  # a big program (``layers`` unrolled blocks): where lowering time and memory show
        benchmark("lower/transformer-stack")(_unsharded(_lower, _stack))


# ------------------------------------------------------------------------------------------ dispatch
@benchmark("dispatch/small")
def _dispatch_small(name, mode):
    x_plain = jax.numpy.arange(4, dtype=jax.numpy.float32)
    x_named = named.named(x_plain, ("i",))
    f_named = named.compile(lambda x: x + 1.0)
    f_jax = jax.jit(lambda x: x + 1.0)
    # no blocking: dispatch cost is what is measured (both return futures)
    return compare(name, lambda: f_named(x_named), lambda: f_jax(x_plain), target=DISPATCH_TARGET,
                   rounds=2 * mode.rounds - 1, round_budget_s=mode.budget_s / 2, warmup=mode.warmup)


@benchmark("dispatch/mlp-pytree")
def _dispatch_pytree(name, mode):
    (p_named, x_named), (p_plain, x_plain) = models.small_mlp_data()
    f_named, f_jax = named.compile(models.small_mlp_named), jax.jit(models.small_mlp_jax)
    return compare(name, lambda: f_named(p_named, x_named), lambda: f_jax(p_plain, x_plain),
                   target=DISPATCH_TARGET, rounds=2 * mode.rounds - 1, round_budget_s=mode.budget_s / 2,
                   warmup=mode.warmup)
