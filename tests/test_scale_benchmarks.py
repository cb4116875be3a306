"""benchmarks/scale.py: the AdamW step computes the same in named and jax, and donation cuts its device
memory exactly as much as jax.jit's donation does (tiny sizes; no timing asserted)."""

import sys
from pathlib import Path

import jax
import numpy as np

import named

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import models  # noqa: E402
import scale  # noqa: E402


def test_adamw_step_matches_jax_and_donation_saves_what_jax_saves():
    ns, xn, js, xp = scale._state(models.TINY)
    donate = named.compile(scale.adamw_named, donate_argnums=(0, 1, 2))
    jdonate = jax.jit(scale.adamw_jax, donate_argnums=(0, 1, 2))
    ours = donate.lower(*ns, xn).compile().memory_analysis()
    theirs = jdonate.lower(*js, xp).compile().memory_analysis()
    kept = named.compile(scale.adamw_named).lower(*ns, xn).compile().memory_analysis()
    state_bytes = 3 * sum(p.array.size * 4 for p in ns[0].values())  # params and both moments, f32
    assert ours.alias_size_in_bytes == theirs.alias_size_in_bytes == state_bytes
    assert kept.alias_size_in_bytes == 0
    params = ns[0]
    p2, m2, v2, loss = donate(*ns, xn)
    q2, n2, w2, jloss = jdonate(*js, xp)
    assert all(p.array.is_deleted() for p in params.values())
    np.testing.assert_allclose(loss.item(), float(jloss), rtol=1e-4)
    for k in p2:
        np.testing.assert_allclose(np.asarray(p2[k].array), np.asarray(q2[k]), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(np.asarray(v2[k].array), np.asarray(w2[k]), rtol=1e-3, atol=1e-9)
