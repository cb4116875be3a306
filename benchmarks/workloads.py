"""The benchmarks: each measure (runtime, lower, compile, dispatch) of each program, named vs jax.jit.

- ``runtime/*``: steady-state execution of a cached compiled program, blocking on the result;
- ``lower/*``: trace + check + partition + lower to StableHLO text, a fresh function each time
  (``jax.jit(f).lower(...).as_text()`` on the jax side), with the Python-heap peak of one call;
- ``compile/*``: the first call of a fresh function, XLA compile included (no target);
- ``dispatch/*``: a cached call of a tiny program, not blocking (what the caller waits for);
- ``eager/*``: one eager op on a 64x32 array against the same ``jax.numpy`` op, not blocking.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

import jax
import numpy as np

import named

import models
from harness import Result, compare, with_memory
from models import Sizes

try:  # optional third column: haliax, where it is installed (see README)
    import haliax_models as hx
except ImportError:
    hx = None

# SPEC §10: compiled programs as fast as jax.jit's, trace + check + lower in at most half of
# jax.jit(...).lower(), a cached call no dearer than jax.jit's.
RUNTIME_TARGET, LOWER_TARGET, DISPATCH_TARGET = 1.0, 0.5, 1.0
EAGER_TARGET = 1.2  # an eager op against the same jax.numpy op on plain arrays


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


@dataclass
class Program:
    """One program on each side: its function, its arguments and how to compile it."""

    named_fn: Callable
    jax_fn: Callable
    named_args: list
    jax_args: list
    haliax_fn: Callable | None = None
    haliax_args: list | None = None
    compile_named: Callable = named.compile
    compile_jax: Callable = jax.jit
    compile_haliax: Callable | None = field(default_factory=lambda: hx.jit if hx is not None else None)

    def with_haliax(self, name: str) -> "Program":
        if hx is not None:
            self.haliax_fn, self.haliax_args = getattr(hx, name), hx.from_named(self.named_args)
        return self


# ------------------------------------------------------------------------------------------ programs
def _mlp(mode: Mode) -> Program:
    nm, plain = models.mlp_data(mode.sizes)
    return Program(models.mlp_named, models.mlp_jax, nm, plain).with_haliax("mlp")


def _attention(mode: Mode) -> Program:
    (xn, xp), (pn, pp) = models.sequence_data(mode.sizes), models.block_params(mode.sizes)
    keys = ("wq", "wk", "wv", "wo")
    return Program(models.attention_named, models.attention_jax, [xn, *(pn[k] for k in keys)],
                   [xp, *(pp[k] for k in keys)]).with_haliax("attention")


def _block_program(mode: Mode) -> Program:
    (xn, xp), (pn, pp) = models.sequence_data(mode.sizes), models.block_params(mode.sizes)
    return Program(models.block_named, models.block_jax, [xn, pn], [xp, pp]).with_haliax("block")


def _stack(mode: Mode) -> Program:
    (xn, xp) = models.sequence_data(mode.sizes)
    layers = [models.block_params(mode.sizes, seed=i) for i in range(mode.sizes.layers)]
    return Program(models.stack_named, models.stack_jax, [xn, [n for n, _ in layers]],
                   [xp, [p for _, p in layers]]).with_haliax("stack")


def _deep(layers: int, train: bool):
    """``layers`` unrolled transformer blocks; ``train`` lowers value_and_grad over the parameters."""
    def program(mode: Mode) -> Program:
        n = layers if mode.name != "tiny" else 2
        (xn, xp) = models.sequence_data(mode.sizes)
        params = [models.block_params(mode.sizes, seed=i) for i in range(n)]
        named_fn, jax_fn = models.stack_named, models.stack_jax
        if train:
            named_fn, jax_fn = models.train_step_named, models.train_step_jax
        return Program(named_fn, jax_fn, [xn, [p for p, _ in params]], [xp, [p for _, p in params]])
    return program


MESH_SHAPE = {"data": 4, "model": 2}
MLP_RESOURCES = {"batch": "data", "hidden": "model"}


def _sharded_mlp(mode: Mode) -> Program:
    """The MLP with batch -> data and hidden -> model on 8 devices; every side gets placed inputs."""
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:8]).reshape(4, 2), tuple(MESH_SHAPE))
    nm, plain = models.mlp_data(mode.sizes)
    with named.use_mesh(mesh):
        nm = [named.shard(x, MLP_RESOURCES) for x in nm]
    specs = [jax.sharding.PartitionSpec(*(MLP_RESOURCES.get(a) for a in axes)) for axes in models.MLP_AXES]
    in_shardings = tuple(jax.sharding.NamedSharding(mesh, s) for s in specs)
    out_sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    plain = [jax.device_put(x, s) for x, s in zip(plain, in_shardings)]
    program = Program(models.mlp_named, models.mlp_jax, nm, plain,
                      compile_named=lambda f: named.compile(f, axis_resources=MLP_RESOURCES, mesh=MESH_SHAPE),
                      compile_jax=lambda f: jax.jit(f, in_shardings=in_shardings, out_shardings=out_sharding))
    if hx is not None:
        program.haliax_fn = hx.mlp
        program.haliax_args = hx.shard(hx.from_named(nm), mesh, MLP_RESOURCES)
        program.compile_haliax = lambda f: hx.ShardedJit(f, mesh, MLP_RESOURCES)
    return program


# ------------------------------------------------------------------------------------------ measures
def _haliax(p: Program, make: Callable[[Callable], Callable[[], object]]):
    return make(p.haliax_fn) if p.haliax_fn is not None else None


def _runtime(name: str, mode: Mode, p: Program) -> Result:
    cn, cj = p.compile_named(p.named_fn), p.compile_jax(p.jax_fn)
    ch = p.compile_haliax(p.haliax_fn) if p.haliax_fn is not None else None
    return compare(name, lambda: _block(cn(*p.named_args)), lambda: _block(cj(*p.jax_args)),
                   haliax_fn=ch and (lambda: _block(ch(*p.haliax_args))), target=RUNTIME_TARGET,
                   rounds=mode.rounds, round_budget_s=mode.budget_s, warmup=mode.warmup)


def _lower(name: str, mode: Mode, p: Program) -> Result:
    specs = jax.tree_util.tree_map(lambda x: named.spec(x.axes, x.dtype), p.named_args,
                                   is_leaf=lambda x: isinstance(x, named.NamedArray))

    def lower_named():
        return p.compile_named(_fresh(p.named_fn)).lower(*specs).as_text("stablehlo")

    def lower_jax():
        return p.compile_jax(_fresh(p.jax_fn)).lower(*p.jax_args).as_text()

    lower_haliax = _haliax(p, lambda f: lambda: p.compile_haliax(_fresh(f)).lower(*p.haliax_args).as_text())
    result = compare(name, lower_named, lower_jax, haliax_fn=lower_haliax, target=LOWER_TARGET,
                     rounds=mode.lower_rounds, round_budget_s=1.5 * mode.budget_s, warmup=mode.warmup)
    return with_memory(result, lower_named, lower_jax, repeat=1 if mode.name == "tiny" else 3)


def _compile(name: str, mode: Mode, p: Program) -> Result:
    return compare(name, lambda: _block(p.compile_named(_fresh(p.named_fn))(*p.named_args)),
                   lambda: _block(p.compile_jax(_fresh(p.jax_fn))(*p.jax_args)),
                   haliax_fn=_haliax(p, lambda f: lambda: _block(p.compile_haliax(_fresh(f))(*p.haliax_args))),
                   rounds=mode.compile_rounds, round_budget_s=mode.budget_s, warmup=1)


def _measured(measure, program):
    return lambda name, mode: measure(name, mode, program(mode))


for _measure, _prefix in ((_runtime, "runtime"), (_lower, "lower"), (_compile, "compile")):
    benchmark(f"{_prefix}/mlp")(_measured(_measure, _mlp))
    benchmark(f"{_prefix}/attention")(_measured(_measure, _attention))
    benchmark(f"{_prefix}/transformer-block")(_measured(_measure, _block_program))
    benchmark(f"{_prefix}/mlp-sharded8")(_measured(_measure, _sharded_mlp))
    if _measure is _lower:  # a big program (``layers`` unrolled blocks): where lowering time and memory show
        benchmark("lower/transformer-stack")(_measured(_lower, _stack))
        # training steps and deep stacks: value_and_grad of the stack, and 64 unrolled layers
        benchmark("lower/train-step")(_measured(_lower, _deep(8, train=True)))
        benchmark("lower/stack-64")(_measured(_lower, _deep(64, train=False)))
        benchmark("lower/train-step-64")(_measured(_lower, _deep(64, train=True)))


# ------------------------------------------------------------------------------------------ dispatch
# Not blocking: dispatch cost is what is measured (every side returns futures). Only single-device
# programs: thousands of in-flight executions of a program with collectives on 8 fake CPU devices
# abort in XLA's rendezvous (jax.jit and named alike; see README).
@benchmark("dispatch/small")
def _dispatch_small(name, mode):
    x_plain = jax.numpy.arange(4, dtype=jax.numpy.float32)
    x_named = named.named(x_plain, ("i",))
    f_named = named.compile(lambda x: x + 1.0)
    f_jax = jax.jit(lambda x: x + 1.0)
    f_hax = None
    if hx is not None:
        x_hax, g = hx.from_named(x_named), hx.jit(lambda x: x + 1.0)
        f_hax = lambda: g(x_hax)  # noqa: E731
    r = compare(name, lambda: f_named(x_named), lambda: f_jax(x_plain), haliax_fn=f_hax,
                target=DISPATCH_TARGET, rounds=2 * mode.rounds - 1, round_budget_s=mode.budget_s / 2,
                warmup=mode.warmup)
    return _same_pytree(r, mode, lambda: f_named(x_named), jax.jit(lambda x: x + 1.0), (x_named,))


def _same_pytree(r: Result, mode: Mode, named_call, jitted, named_args) -> Result:
    """Add to a dispatch row jax.jit's own cost for the same NamedArray arguments and results (a
    jax.jit of the named function): what the pytree nodes cost jaxlib's dispatcher, on either side."""
    same = compare(r.name, named_call, lambda: jitted(*named_args), rounds=2 * mode.rounds - 1,
                   round_budget_s=mode.budget_s / 2, warmup=mode.warmup)
    r.extra = {"jax_same_pytree_s": same.jax_s, "same_pytree_ratio": same.ratio}
    r.note = f"vs jax.jit on the same NamedArrays: {same.ratio:.2f}"
    return r


@benchmark("dispatch/mlp-pytree")
def _dispatch_pytree(name, mode):
    (p_named, x_named), (p_plain, x_plain) = models.small_mlp_data()
    f_named, f_jax = named.compile(models.small_mlp_named), jax.jit(models.small_mlp_jax)
    f_hax = None
    if hx is not None:
        (p_hax, x_hax), g = hx.from_named((p_named, x_named)), hx.jit(hx.small_mlp)
        f_hax = lambda: g(p_hax, x_hax)  # noqa: E731
    r = compare(name, lambda: f_named(p_named, x_named), lambda: f_jax(p_plain, x_plain), haliax_fn=f_hax,
                target=DISPATCH_TARGET, rounds=2 * mode.rounds - 1, round_budget_s=mode.budget_s / 2,
                warmup=mode.warmup)
    return _same_pytree(r, mode, lambda: f_named(p_named, x_named), jax.jit(models.small_mlp_named),
                        (p_named, x_named))


# ---------------------------------------------------------------------------------------------- eager
# One op run eagerly (no named.compile) on a 64x32 f32 array, against the same jax.numpy op on the
# plain array; not blocking, as in dispatch/*: the cost of issuing the op is what is measured.
def _eager_data():
    rng = np.random.default_rng(0)
    x = jax.numpy.asarray(rng.normal(0, 1, (64, 32)).astype(np.float32))
    w = jax.numpy.asarray(rng.normal(0, 1, (32, 16)).astype(np.float32))
    return (x, named.named(x, ("batch", "embed"))), (w, named.named(w, ("embed", "hidden")))


def _eager_rows():
    jnp = jax.numpy
    return {
        "eager/elementwise": (lambda x, w: x + x, lambda x, w: x + x),
        "eager/reduction": (lambda x, w: x.sum("embed"), lambda x, w: x.sum(1)),
        "eager/exp": (lambda x, w: named.exp(x), lambda x, w: jnp.exp(x)),
        "eager/dot": (lambda x, w: named.dot(x, w, axis="embed"), lambda x, w: jnp.dot(x, w)),
        "eager/index": (lambda x, w: x["batch", 3], lambda x, w: x[3]),
        "eager/rearrange": (lambda x, w: named.rearrange(x, "b e -> e b"), lambda x, w: jnp.transpose(x)),
    }


def _eager_benchmark(label):
    def run(name, mode):
        (xp, xn), (wp, wn) = _eager_data()
        named_op, jax_op = _eager_rows()[label]
        return compare(name, lambda: named_op(xn, wn), lambda: jax_op(xp, wp), target=EAGER_TARGET,
                       rounds=2 * mode.rounds - 1, round_budget_s=mode.budget_s / 2, warmup=mode.warmup)
    return run


for _label in _eager_rows():
    benchmark(_label)(_eager_benchmark(_label))


# ------------------------------------------------------------------ training at scale (benchmarks/scale.py)
import scale  # noqa: E402

for _name, _bench in scale.ROWS:
    benchmark(_name)(_bench)

# -------------------------------------------------------------------------------- rematerialization
import remat_bench  # noqa: E402

remat_bench.register(benchmark)

# ------------------------------------------------------------------------------------------ issue 14
import gpt2_step  # noqa: E402  (the GPT-2 training step built from named.nn, against the same jnp model)


def _gpt2(mode: Mode) -> Program:
    return Program(*gpt2_step.programs(mode.name))


benchmark("runtime/gpt2-train-step")(_measured(_runtime, _gpt2))
benchmark("lower/gpt2-train-step")(_measured(_lower, _gpt2))


@benchmark("runtime/gpt-train-step")
def _gpt_donated(name, mode):
    """The GPT-2 step with params and both AdamW moments donated on both sides (issue 15); each call
    feeds the previous call's outputs back, as a training loop does."""
    named_args, jax_args = gpt2_step.fresh_state(mode.name)
    fn = named.compile(gpt2_step.named_step, donate_argnums=(0, 1, 2))
    fj = jax.jit(gpt2_step.jax_step, donate_argnums=(0, 1, 2))
    ns, js = [named_args], [jax_args]

    def named_call():
        *state, loss = fn(*ns[0])
        ns[0] = [*state, *ns[0][3:]]
        loss.array.block_until_ready()

    def jax_call():
        *state, loss = fj(*js[0])
        js[0] = [*state, *js[0][3:]]
        loss.block_until_ready()

    return compare(name, named_call, jax_call, target=RUNTIME_TARGET, rounds=mode.rounds,
                   round_budget_s=mode.budget_s, warmup=mode.warmup)


@benchmark("memory/gpt-train-step")
def _gpt_memory(name, mode):
    """Peak device memory of the donated GPT-2 step: XLA's compiled memory analysis (arguments +
    outputs - aliased + temporaries), named against jax.jit, both donated; the kept (undonated)
    peaks go to the note."""
    named_args, jax_args = gpt2_step.fresh_state(mode.name)
    peak = {}
    for donate in ((0, 1, 2), ()):
        fn = named.compile(gpt2_step.named_step, donate_argnums=donate)
        fj = jax.jit(gpt2_step.jax_step, donate_argnums=donate)
        peak[bool(donate)] = (scale.peak_device_bytes(fn.lower(*named_args).compile().memory_analysis()),
                              scale.peak_device_bytes(fj.lower(*jax_args).compile().memory_analysis()))
    r = Result(name, *peak[True], target=RUNTIME_TARGET, unit="bytes")
    r.extra = {"named_kept_bytes": peak[False][0], "jax_kept_bytes": peak[False][1]}
    r.note = f"undonated: {peak[False][0] / 2**20:.2f} / {peak[False][1] / 2**20:.2f} MiB"
    return r
