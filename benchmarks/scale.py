"""Benchmarks for training at scale (issue 12): device memory of a donated AdamW step, and the first
call of the transformer block in a second process (persistent compile cache), each against jax.jit.

- ``memory/adamw-step``: a training step of the transformer block (value_and_grad + AdamW with weight
  decay, params and both moments as inputs and outputs). Times are per step with donation on both
  sides; ``extra`` holds the step's peak device memory from XLA's compiled memory analysis
  (arguments + outputs - aliased + temporaries) for named and jax.jit, each with and without donation.
- ``cache/transformer-block``: the first call (trace, lower, compile or cache load, run) of the block in
  a fresh process whose jax_compilation_cache_dir a previous process filled, named vs jax.jit (whose
  own persistent cache uses the same directory); ``extra`` holds the cold first calls. Each process first
  runs a tiny unrelated program on each side, so one-time library start-up is not counted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp

import named

import models
from harness import Result, compare

HERE = Path(__file__).resolve().parent
LR, B1, B2, EPS, WD = 1e-3, 0.9, 0.999, 1e-8, 0.01


def adamw_named(params, m, v, x):
    loss, g = named.value_and_grad(lambda p: models.block_named(x, p).sum())(params)
    new_m = {k: B1 * m[k] + (1 - B1) * g[k] for k in params}
    new_v = {k: B2 * v[k] + (1 - B2) * g[k] * g[k] for k in params}
    new_p = {k: params[k] - LR * (new_m[k] / (named.sqrt(new_v[k]) + EPS) + WD * params[k]) for k in params}
    return new_p, new_m, new_v, loss


def adamw_jax(params, m, v, x):
    loss, g = jax.value_and_grad(lambda p: models.block_jax(x, p).sum())(params)
    new_m = {k: B1 * m[k] + (1 - B1) * g[k] for k in params}
    new_v = {k: B2 * v[k] + (1 - B2) * g[k] * g[k] for k in params}
    new_p = {k: params[k] - LR * (new_m[k] / (jnp.sqrt(new_v[k]) + EPS) + WD * params[k]) for k in params}
    return new_p, new_m, new_v, loss


def _state(sizes):
    """Fresh (named, jax) training states: separate buffers, since donation deletes them."""
    pn, pp = models.block_params(sizes)
    xn, xp = models.sequence_data(sizes)
    copy = lambda a: jnp.array(a, copy=True)  # noqa: E731
    named_state = [{k: named.named(copy(v.array), v.axes) for k, v in pn.items()}]
    named_state += [{k: named.zeros_like(v) for k, v in pn.items()} for _ in range(2)]
    jax_state = [{k: copy(v) for k, v in pp.items()}] + [{k: jnp.zeros_like(v) for k, v in pp.items()}
                                                         for _ in range(2)]
    return named_state, xn, jax_state, xp


def peak_device_bytes(stats) -> int:
    """Device memory live at the step's peak: inputs + outputs (minus those written in place) + temps."""
    return int(stats.argument_size_in_bytes + stats.output_size_in_bytes - stats.alias_size_in_bytes
               + stats.temp_size_in_bytes)


def adamw_memory(name: str, mode) -> Result:
    named_state, xn, jax_state, xp = _state(mode.sizes)
    donate = named.compile(adamw_named, donate_argnums=(0, 1, 2))
    keep = named.compile(adamw_named)
    jdonate = jax.jit(adamw_jax, donate_argnums=(0, 1, 2))
    jkeep = jax.jit(adamw_jax)
    mib = {
        "named_donated_mib": peak_device_bytes(donate.lower(*named_state, xn).compile().memory_analysis()),
        "named_kept_mib": peak_device_bytes(keep.lower(*named_state, xn).compile().memory_analysis()),
        "jax_donated_mib": peak_device_bytes(jdonate.lower(*jax_state, xp).compile().memory_analysis()),
        "jax_kept_mib": peak_device_bytes(jkeep.lower(*jax_state, xp).compile().memory_analysis()),
    }
    extra = {k: round(v / 2**20, 3) for k, v in mib.items()}
    extra["memory_ratio"] = round(mib["named_donated_mib"] / mib["jax_donated_mib"], 3)
    ns, js = [named_state], [jax_state]

    def named_step():
        *state, loss = donate(*ns[0], xn)
        ns[0] = state
        loss.array.block_until_ready()

    def jax_step():
        *state, loss = jdonate(*js[0], xp)
        js[0] = state
        loss.block_until_ready()

    r = compare(name, named_step, jax_step, rounds=mode.rounds, round_budget_s=mode.budget_s, warmup=mode.warmup)
    r.extra = extra
    r.note = (f"device MiB named {extra['named_donated_mib']:.2f} (kept {extra['named_kept_mib']:.2f}), "
              f"jax {extra['jax_donated_mib']:.2f} (kept {extra['jax_kept_mib']:.2f}); "
              f"ratio {extra['memory_ratio']:.2f}")
    return r


_FIRST_CALL = r"""
import json, sys, time
sys.path.insert(0, {bench!r})
import jax, named, models
sizes = getattr(models, {sizes!r})
(xn, xp), (pn, pp) = models.sequence_data(sizes), models.block_params(sizes)
jax.block_until_ready((xn.array, xp))
# One-time library start-up (jax's first jit, named's einsum grammar) is not what the cache saves:
# both sides run a tiny unrelated program first.
t = named.Axis("t", 2)
named.compile(lambda a: named.einsum("t,t->", a, a))(named.ones(t)).array.block_until_ready()
jax.jit(lambda a: a @ a)(jax.numpy.ones(2)).block_until_ready()
out = {{}}
t = time.perf_counter(); named.compile(models.block_named)(xn, pn).array.block_until_ready()
out["named"] = time.perf_counter() - t
t = time.perf_counter(); jax.jit(models.block_jax)(xp, pp).block_until_ready()
out["jax"] = time.perf_counter() - t
print(json.dumps(out))
"""


def cache_first_call(name: str, mode) -> Result:
    sizes = {"full": "FULL", "quick": "QUICK", "tiny": "TINY"}[mode.name]
    script = _FIRST_CALL.format(bench=str(HERE), sizes=sizes)
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=cache, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                   PYTHONPATH=str(HERE.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        runs = []
        for _ in range(2):
            proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                                  timeout=600)
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr[-2000:])
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    cold, warm = runs
    r = Result(name, warm["named"], warm["jax"])
    r.extra = {"named_cold_s": cold["named"], "jax_cold_s": cold["jax"],
               "named_speedup": cold["named"] / warm["named"], "jax_speedup": cold["jax"] / warm["jax"]}
    r.note = (f"first call, cold process: named {cold['named'] * 1e3:.0f} ms, jax {cold['jax'] * 1e3:.0f} ms; "
              f"second process {r.extra['named_speedup']:.1f}x / {r.extra['jax_speedup']:.1f}x faster")
    return r


ROWS = [("memory/adamw-step", adamw_memory), ("cache/transformer-block", cache_first_call)]
