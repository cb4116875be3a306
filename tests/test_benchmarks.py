"""Smoke tests of benchmarks/: the runner prints its table and writes results.json, and each benchmarked
program computes the same thing in `named` and in plain JAX. No timing is asserted anywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
sys.path.insert(0, str(BENCH))

import harness  # noqa: E402
import models  # noqa: E402

import named  # noqa: E402


def _run(tmp_path, *args):
    env = dict(os.environ, NAMED_BENCH_TINY="1")
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, str(BENCH / "run.py"), "--out", str(out), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    return proc, out


def test_runner_prints_table_and_writes_results(tmp_path):
    proc, out = _run(tmp_path, "--tiny", "--filter", "/mlp")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("machine:") and "mode tiny" in lines[0]
    assert lines[1].split()[:5] == ["benchmark", "named", "jax.jit", "ratio", "target"]
    results = json.loads(out.read_text())
    names = [r["name"] for r in results]
    assert {"runtime/mlp", "lower/mlp", "compile/mlp", "runtime/mlp-sharded8", "dispatch/mlp-pytree"} <= set(names)
    assert all(n in proc.stdout for n in names)
    for r in results:
        assert {"name", "named_s", "jax_s", "ratio"} <= set(r)
        assert r["named_s"] > 0 and r["jax_s"] > 0 and r["ratio"] == pytest.approx(r["named_s"] / r["jax_s"])
    lower = next(r for r in results if r["name"] == "lower/mlp")
    assert lower["named_peak_bytes"] > 0 and lower["jax_peak_bytes"] > 0


def test_runner_rejects_a_filter_matching_nothing(tmp_path):
    proc, out = _run(tmp_path, "--tiny", "--filter", "no-such-benchmark")
    assert proc.returncode == 2
    assert "no benchmark matches --filter 'no-such-benchmark'" in proc.stderr
    assert not out.exists()


def test_table_and_json_shapes():
    plain = harness.Result("runtime/x", 2e-3, 1e-3, target=1.05)
    extra = harness.Result("lower/x", 1e-3, 4e-3, target=1.0, named_peak_bytes=2 * 2**20, jax_peak_bytes=2**20,
                           haliax_s=8e-3)
    assert plain.as_json() == {"name": "runtime/x", "named_s": 2e-3, "jax_s": 1e-3, "ratio": 2.0}
    assert extra.as_json()["peak_ratio"] == 2.0 and extra.as_json()["haliax_ratio"] == 2.0
    text = harness.table([plain, extra])
    row_plain, row_extra = text.splitlines()[2:]
    assert "2.00" in row_plain and row_plain.split()[-1] == "NO"  # over its target, no haliax/peak cells
    assert "0.25" in row_extra and "yes" in row_extra and "2.0/1.0 MiB (2.00)" in row_extra
    assert "haliax" in text.splitlines()[0]


def test_compare_runs_every_side_and_interleaves():
    calls = []
    result = harness.compare("x", lambda: calls.append("n"), lambda: calls.append("j"), rounds=2,
                             round_budget_s=0.0, warmup=1, haliax_fn=lambda: calls.append("h"))
    assert result.haliax_s is not None
    timed = calls[6:]  # after warm-up (3) and calibration (3): one call each per round, first side rotating
    assert timed == ["n", "j", "h", "j", "h", "n"]


def _close(a, b, rtol=1e-4):
    np.testing.assert_allclose(np.asarray(a.array if isinstance(a, named.NamedArray) else a), np.asarray(b),
                               rtol=rtol, atol=1e-5)


def test_programs_compute_the_same_in_named_and_jax():
    s = models.TINY
    nm, plain = models.mlp_data(s)
    _close(named.compile(models.mlp_named)(*nm), jax.jit(models.mlp_jax)(*plain))
    (xn, xp), (pn, pp) = models.sequence_data(s), models.block_params(s)
    keys = ("wq", "wk", "wv", "wo")
    attention = named.compile(models.attention_named)(xn, *(pn[k] for k in keys))
    assert attention.axes == xn.axes
    _close(attention, jax.jit(models.attention_jax)(xp, *(pp[k] for k in keys)))
    _close(named.compile(models.block_named)(xn, pn), jax.jit(models.block_jax)(xp, pp))
    _close(named.compile(models.stack_named)(xn, [pn, pn]), jax.jit(models.stack_jax)(xp, [pp, pp]))
    (p_named, x_named), (p_plain, x_plain) = models.small_mlp_data()
    _close(named.compile(models.small_mlp_named)(p_named, x_named), jax.jit(models.small_mlp_jax)(p_plain, x_plain))


def test_median_result_takes_the_median_of_each_number():
    runs = [harness.Result("lower/x", t, 2 * t, 1.0, named_peak_bytes=p, jax_peak_bytes=10) for t, p in
            ((1.0, 5), (3.0, 7), (2.0, 6))]
    merged = harness.median_result(runs)
    assert (merged.name, merged.named_s, merged.jax_s, merged.target) == ("lower/x", 2.0, 4.0, 1.0)
    assert (merged.named_peak_bytes, merged.jax_peak_bytes, merged.haliax_s) == (6, 10, None)


def test_eager_rows_compute_the_same_in_named_and_jax():
    import workloads
    (xp, xn), (wp, wn) = workloads._eager_data()
    rows = workloads._eager_rows()
    assert set(rows) == {"eager/elementwise", "eager/reduction", "eager/exp", "eager/dot", "eager/index",
                         "eager/rearrange"}
    for named_op, jax_op in rows.values():
        np.testing.assert_allclose(np.asarray(named_op(xn, wn)), np.asarray(jax_op(xp, wp)), rtol=1e-5, atol=1e-5)


def test_gpt2_training_step_is_the_same_in_named_and_jax():
    # benchmarks/gpt2_step.py (issue 14): the named.nn model and its jnp twin take the same AdamW step
    import gpt2_step
    named_fn, jax_fn, named_args, jax_args = gpt2_step.programs("tiny")
    model, _, _, loss = named.compile(named_fn)(*named_args)
    params, _, _, jax_loss = jax.jit(jax_fn)(*jax_args)
    np.testing.assert_allclose(loss.item(), float(jax_loss), rtol=1e-5)
    for a, b in zip(jax.tree_util.tree_leaves(gpt2_step.jax_params(model)), jax.tree_util.tree_leaves(params)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)


def test_donated_gpt2_steps_are_the_same_in_named_and_jax():
    # runtime/gpt-train-step: three donated steps on each side, each fed the previous step's state
    import gpt2_step
    named_args, jax_args = gpt2_step.fresh_state("tiny")
    fn = named.compile(gpt2_step.named_step, donate_argnums=(0, 1, 2))
    fj = jax.jit(gpt2_step.jax_step, donate_argnums=(0, 1, 2))
    for _ in range(3):
        *state, loss = fn(*named_args)
        named_args = [*state, *named_args[3:]]
        *jstate, jax_loss = fj(*jax_args)
        jax_args = [*jstate, *jax_args[3:]]
        np.testing.assert_allclose(loss.item(), float(jax_loss), rtol=1e-5)
    for a, b in zip(jax.tree_util.tree_leaves(gpt2_step.jax_params(named_args[0])),
                    jax.tree_util.tree_leaves(jax_args[0])):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
