"""Rematerialization: named.checkpoint and its policies, checkpoint_name, and scan/fold remat=."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import named
from named.dialect import Checkpoint, VerifyError, parse, print_function

B, E, H, L = named.make_axes(batch=8, embed=4, hidden=6, layer=6)
POLICIES = ["nothing_saveable", "everything_saveable", "dots_saveable", "dots_with_no_batch_dims_saveable",
            named.checkpoint_policies.save_only_these_names("hid"),
            named.checkpoint_policies.save_any_names_but_these("hid"), None]
JAX_POLICIES = {
    "nothing_saveable": jax.checkpoint_policies.nothing_saveable,
    "everything_saveable": jax.checkpoint_policies.everything_saveable,
    "dots_saveable": jax.checkpoint_policies.dots_saveable,
    "dots_with_no_batch_dims_saveable": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}


def _data(shape, seed, scale=0.5):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=shape) * scale).astype(np.float32)


X, W1, W2 = _data((8, 4), 1), _data((4, 6), 2), _data((6, 4), 3)


def _inputs():
    return named.named(X, (B, E)), named.named(W1, (E, H)), named.named(W2, (H, E))


def _mlp(x, w1, w2):
    h = named.checkpoint_name(named.tanh(named.dot(x, w1, axis="embed")), "hid")
    return named.sin(named.dot(h, w2, axis="hidden")) * x


def _loss(policy, prevent_cse=True):
    def loss(w1, w2, x):
        block = named.checkpoint(_mlp, policy=policy, prevent_cse=prevent_cse)
        return (block(block(x, w1, w2), w1, w2) ** 2).sum()
    return loss


def _plain_loss(w1, w2, x):
    return (_mlp(_mlp(x, w1, w2), w1, w2) ** 2).sum()


def _jax_loss(policy=None):
    def mlp(x, w1, w2):
        return jnp.sin(jnp.tanh(x @ w1) @ w2) * x
    block = jax.checkpoint(mlp, policy=policy) if policy is not None else mlp

    def loss(w1, w2, x):
        return (block(block(x, w1, w2), w1, w2) ** 2).sum()
    return loss


def _grads(fn, compiled=False, **kw):
    g = named.grad(fn, argnums=(0, 1))
    if compiled:
        g = named.compile(g, **kw)
    x, w1, w2 = _inputs()
    return [np.asarray(t) for t in g(w1, w2, x)]


def _jax_grads(policy=None):
    return [np.asarray(t) for t in jax.grad(_jax_loss(policy), argnums=(0, 1))(W1, W2, X)]


# ------------------------------------------------------------------------------ gradients per policy
@pytest.mark.parametrize("policy", POLICIES, ids=str)
def test_checkpoint_gradients_equal_plain_and_jax(policy):
    plain = _grads(_plain_loss)
    got = _grads(_loss(policy), compiled=True)
    ref = _jax_grads(JAX_POLICIES.get(policy if isinstance(policy, str) else None))
    for g, p, r in zip(got, plain, ref):
        np.testing.assert_allclose(g, p, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5)


def test_checkpoint_eagerly_and_its_value():
    x, w1, w2 = _inputs()
    got = named.checkpoint(_mlp, policy="dots_saveable")(x, w1, w2)
    np.testing.assert_allclose(np.asarray(got), np.asarray(_mlp(x, w1, w2)), rtol=1e-6)
    eager = _grads(_loss("nothing_saveable"))
    for g, r in zip(eager, _jax_grads(jax.checkpoint_policies.nothing_saveable)):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5)


def test_checkpoint_gradients_on_the_mesh():
    kw = dict(axis_resources={"batch": "data", "hidden": "model"}, mesh={"data": 4, "model": 2})
    for policy in ("nothing_saveable", "dots_saveable"):
        got = _grads(_loss(policy), compiled=True, **kw)
        for g, r in zip(got, _jax_grads(JAX_POLICIES[policy])):
            np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5)


def test_second_order_gradient_through_a_checkpoint():
    x = named.named(X[0], (E,))
    f = named.checkpoint(lambda v: named.sin(v * v).sum())
    gg = named.grad(lambda v: named.grad(f)(v).sum())(x)
    ref = jax.grad(lambda v: jax.grad(lambda u: jnp.sin(u * u).sum())(v).sum())(X[0])
    np.testing.assert_allclose(np.asarray(gg), np.asarray(ref), rtol=1e-5, atol=1e-6)


def test_policies_accept_jax_objects_and_tree_checkpoint_name():
    x, w1, w2 = _inputs()
    assert named.remat is named.checkpoint
    tree = named.tree_checkpoint_name({"a": x, "n": 3}, "t")
    assert tree["a"] is x and tree["n"] == 3  # no-op outside a traced program

    def loss(w1, w2, x):
        def f(x, w1, w2):
            out = named.tree_checkpoint_name({"h": named.tanh(named.dot(x, w1, axis="embed"))}, "hid")
            return named.dot(out["h"], w2, axis="hidden")
        return (named.checkpoint(f, policy=jax.checkpoint_policies.dots_saveable)(x, w1, w2) ** 2).sum()

    text = named.compile(named.grad(loss)).lower(w1, w2, x).as_text("traced")
    assert 'named.checkpoint_name' in text and 'name = "hid"' in text and 'policy = "dots_saveable"' in text
    want = jax.grad(lambda a, b, c: ((jnp.tanh(c @ a) @ b) ** 2).sum())(W1, W2, X)
    np.testing.assert_allclose(np.asarray(named.grad(loss)(w1, w2, x)), want, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------------- IR and HLO
def test_checkpoint_text_round_trips():
    x, w1, w2 = _inputs()
    policy = named.checkpoint_policies.save_only_these_names("hid", "out")
    lowered = named.compile(named.grad(_loss(policy), argnums=(0, 1)), builtin_passes=False).lower(w1, w2, x)
    for stage in ("traced", "partitioned"):
        text = lowered.as_text(stage)
        assert 'named.checkpoint' in text and 'policy = "save_only_these_names(hid, out)"' in text
        assert "named.optimization_barrier" in text and "prevent_cse = true" in text
        assert print_function(parse(text)) == text
    ops = [op for op in parse(lowered.as_text("traced")).walk() if isinstance(op, Checkpoint)]
    # the forward checkpoints yield the tagged value as an extra (saved) result
    assert ops and all(len(op.results) == 2 for op in ops)


def _dot_count(hlo: str) -> int:
    """Dots executed once per call of the HLO module's entry: call sites of fusions and loop bodies
    count their callee's dots (XLA shares identical fused computations between call sites)."""
    comps, cur = {}, None
    for line in hlo.splitlines():
        m = re.match(r"^(?:ENTRY )?%?([\w.\-]+) .*\{\s*$", line)
        if m:
            cur = comps[m.group(1)] = []
        elif cur is not None and line.startswith(" "):
            cur.append(line)
    entry = next(line for line in hlo.splitlines() if line.startswith("ENTRY")).split()[1].lstrip("%")

    def count(name: str) -> int:
        total = 0
        for line in comps[name]:
            total += " dot(" in line
            total += sum(count(c) for c in re.findall(r"(?:calls|body|condition|to_apply)=%([\w.\-]+)", line))
        return total
    return count(entry)


def test_barrier_in_stablehlo_and_dots_match_jax():
    x, w1, w2 = _inputs()
    stablehlo = named.compile(named.grad(_loss(None))).lower(w1, w2, x).as_text("stablehlo")
    assert stablehlo.count("stablehlo.optimization_barrier") == 2  # one per recomputed block
    no_barrier = named.compile(named.grad(_loss(None, prevent_cse=False))).lower(w1, w2, x).as_text("stablehlo")
    assert "optimization_barrier" not in no_barrier
    for policy in ("nothing_saveable", "dots_saveable"):
        ours = named.compile(named.grad(_loss(policy), argnums=(0, 1))).lower(w1, w2, x).compile().as_text()
        theirs = jax.jit(jax.grad(_jax_loss(JAX_POLICIES[policy]), argnums=(0, 1))).lower(W1, W2, X)
        assert _dot_count(ours) == _dot_count(theirs.compile().as_text())


def test_scan_backward_recomputes_each_step():
    w1, w2, x = _scan_inputs()
    dots = {}
    for remat in (False, True):
        c = named.compile(named.grad(_scan_loss(remat), argnums=(0, 1))).lower(w1, w2, x).compile()
        dots[remat] = _dot_count(c.as_text())
    # forward: 2 dots a step; backward: 4 (save all, as jax.lax.scan) or 4 + the recomputed first one
    # (the second dot's result is not needed by the backward pass)
    assert dots == {False: 6, True: 7}, dots


# --------------------------------------------------------------------------------------- scan remat
SCAN_CHOICES = [False, True, "full", "recompute", "save_all", "nested",
                named.ScanCheckpointPolicy(save_block_internals=["hid"]),
                named.ScanCheckpointPolicy(nested=3, save_block_internals=True),
                named.checkpoint_policies.dots_saveable]
WS1, WS2 = _data((6, 4, 6), 4), _data((6, 6, 4), 5)


def _layer(h, a, b):
    z = named.checkpoint_name(named.tanh(named.dot(h, a, axis="embed")), "hid")
    return h + named.dot(z, b, axis="hidden")


def _scan_loss(remat, reverse=False):
    def loss(w1, w2, x):
        h = named.fold(_layer, "layer", remat=remat, reverse=reverse)(x, w1, w2)
        return (h * h).sum()
    return loss


def _scan_jax_grads(reverse=False):
    def loss(w1, w2, x):
        def step(h, ws):
            return h + jnp.tanh(h @ ws[0]) @ ws[1], None
        h = jax.lax.scan(step, x, (w1, w2), reverse=reverse)[0]
        return (h * h).sum()
    return [np.asarray(g) for g in jax.grad(loss, argnums=(0, 1))(WS1, WS2, X)]


def _scan_inputs():
    return named.named(WS1, (L, E, H)), named.named(WS2, (L, H, E)), named.named(X, (B, E))


@pytest.mark.parametrize("remat", SCAN_CHOICES, ids=str)
def test_scan_remat_gradients_match(remat):
    w1, w2, x = _scan_inputs()
    reverse = remat == "nested"
    got = named.compile(named.grad(_scan_loss(remat, reverse), argnums=(0, 1)))(w1, w2, x)
    plain = named.grad(_scan_loss(False, reverse), argnums=(0, 1))(w1, w2, x)
    for g, p, r in zip(got, plain, _scan_jax_grads(reverse)):
        assert g.axes == p.axes
        np.testing.assert_allclose(np.asarray(g), np.asarray(p), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(np.asarray(g), r, rtol=2e-5, atol=2e-5)


def test_scan_remat_on_the_mesh_and_per_step_outputs():
    w1, w2, x = _scan_inputs()

    def loss(w1, w2, x):
        def step(h, a, b):
            h = _layer(h, a, b)
            return h, h.sum("embed")
        h, ys = named.scan(step, "layer", remat="nested")(x, w1, w2)
        assert ys.axes == (L, B)
        return (h * h).sum() + (ys * ys).sum()

    kw = dict(axis_resources={"batch": "data", "hidden": "model"}, mesh={"data": 4, "model": 2})
    got = named.compile(named.grad(loss, argnums=(0, 1)), **kw)(w1, w2, x)

    def jloss(w1, w2, x):
        def step(h, ws):
            h = h + jnp.tanh(h @ ws[0]) @ ws[1]
            return h, h.sum(-1)
        h, ys = jax.lax.scan(step, x, (w1, w2))
        return (h * h).sum() + (ys * ys).sum()
    for g, r in zip(got, jax.grad(jloss, argnums=(0, 1))(WS1, WS2, X)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(r), rtol=2e-5, atol=2e-5)


def test_scan_remat_lowers_temp_memory():
    Lb, Bb, Eb, Hb = named.make_axes(layer=16, batch=64, embed=32, hidden=256)
    w1 = named.named(_data((16, 32, 256), 6, 0.1), (Lb, Eb, Hb))
    w2 = named.named(_data((16, 256, 32), 7, 0.1), (Lb, Hb, Eb))
    x = named.named(_data((64, 32), 8), (Bb, Eb))
    temp = {}
    for remat in (False, True):
        fn = named.compile(named.grad(_scan_loss(remat), argnums=(0, 1)))
        temp[remat] = fn.lower(w1, w2, x).compile().memory_analysis().temp_size_in_bytes
    # save-all stacks each step's [batch, hidden] activations; remat=True only the [batch, embed] carry
    assert temp[True] < temp[False] - 16 * 64 * 256 * 4, temp


def test_scan_checkpoint_policy_spellings():
    P = named.ScanCheckpointPolicy
    assert P.from_bool_or_str(True) == P(simple=True)
    assert P.from_bool_or_str("full") == P.from_bool_or_str("recompute") == P()
    assert P.from_bool_or_str(False) == P.from_bool_or_str("save_all")
    assert P.from_bool_or_str(False).save_policy() is None
    assert str(P().save_policy()) == "nothing_saveable"
    assert str(P(save_block_internals=["a", "b"]).save_policy()) == "save_only_these_names(a, b)"
    assert P(nested=True).block_count(16) == 4 and P(nested=True).block_count(12) == 3
    assert P(nested=True).block_count(7) == 1 and P(nested=False).block_count(16) == 1


# ---------------------------------------------------------------------------------------- errors
def test_unknown_policies_are_typed_errors():
    with pytest.raises(VerifyError, match="unknown checkpoint policy 'dots_savable'.*nothing_saveable"):
        named.checkpoint(_mlp, policy="dots_savable")
    with pytest.raises(VerifyError, match="unknown scan remat policy 'offload'"):
        named.scan(lambda c, x: (c, x), "layer", remat="offload")
    with pytest.raises(VerifyError, match="custom jax policy"):
        named.checkpoint(_mlp, policy=lambda *a, **k: True)
    with pytest.raises(TypeError, match="the name must be a str"):
        named.checkpoint_name(named.ones(E), 3)
    w1, w2, x = _scan_inputs()
    with pytest.raises(VerifyError, match="4 blocks do not divide the scan length 6") as info:
        named.grad(_scan_loss(named.ScanCheckpointPolicy(nested=4)))(w1, w2, x)
    assert "test_remat.py" in str(info.value)
    bad = ("func @f(%0: f32[e=3]) -> (f32[e=3]) {\n"
           "  %2 = named.checkpoint %0 {policy = \"save_some\", prevent_cse = true} : f32[e=3] "
           "({^(%1: f32[e=3]):\n    yield %1\n  })\n  return %2\n}\n")
    with pytest.raises(named.ParseError, match="unknown checkpoint policy 'save_some'"):
        parse(bad)
    with pytest.raises(named.ParseError, match="'name' must be a non-empty string"):
        parse("func @f(%0: f32[e=3]) -> (f32[e=3]) {\n  %1 = named.checkpoint_name %0 {name = \"a b\"} : f32[e=3]\n"
              "  return %1\n}\n")


# ------------------------------------------------------------------------------- benchmark programs
def test_benchmarked_remat_programs_match_jax():
    import dataclasses
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import models
    import remat_bench
    sizes = dataclasses.replace(models.TINY, layers=4)
    xn, xj = models.sequence_data(sizes)
    named_layers, jax_layers, stacked_named, stacked_jax = remat_bench._stack_params(sizes)
    cases = [(remat_bench.unrolled_losses("dots_saveable"), named_layers, jax_layers),
             (remat_bench.scanned_losses("nested"), stacked_named, stacked_jax)]
    for (loss_named, loss_jax), pn, pj in cases:
        got = named.compile(named.grad(loss_named))(pn, xn)
        want = jax.grad(loss_jax)(pj, xj)
        for g, w in zip(jax.tree_util.tree_leaves(got, is_leaf=lambda a: isinstance(a, named.NamedArray)),
                        jax.tree_util.tree_leaves(want)):
            np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=2e-4, atol=2e-5)


def test_docstring_examples():
    import doctest
    import sys
    # named.remat is the function (jax's alias); the module is named/remat.py
    for module in (sys.modules["named.remat"], sys.modules["named.dialect.ops.remat"]):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_closures_pytrees_int_carries_and_random_under_remat():
    T3, E3 = named.make_axes(t=4, e=3)
    xs, w = named.named(_data((4, 3), 9), (T3, E3)), named.named(_data((3,), 10), (E3,))

    def loss(w, xs):  # closes over w, a static 3.0, a dict result
        out = named.checkpoint(lambda x, k: {"a": named.sin(x * w) * k, "b": (x, 2.0)})(xs, 3.0)
        return out["a"].sum() + out["b"][0].sum()
    want = jax.grad(lambda w, x: (jnp.sin(x * w) * 3.0).sum() + x.sum())(_data((3,), 10), _data((4, 3), 9))
    np.testing.assert_allclose(np.asarray(named.grad(loss)(w, xs)), want, rtol=1e-5, atol=1e-6)

    def counted(w, xs, remat):  # an int carry beside a float one
        def step(c, x):
            return (c[0] + 1, named.tanh(c[1] * w + x)), None
        (i, h), _ = named.scan(step, "t", remat=remat)((0, named.zeros(E3)), xs)
        return h.sum() + i.astype("f32")
    plain = np.asarray(named.grad(counted)(w, xs, False))
    np.testing.assert_allclose(np.asarray(named.grad(counted)(w, xs, True)), plain, rtol=1e-6, atol=1e-7)

    def noisy(w, k, ck):  # the recomputation draws the same numbers
        def inner(w, k):
            return (named.sin(w) * named.random.uniform(k, E3)).sum()
        return (named.checkpoint(inner) if ck else inner)(w, k)
    k = named.random.key(3)
    np.testing.assert_array_equal(np.asarray(named.grad(noisy)(w, k, True)), np.asarray(named.grad(noisy)(w, k, False)))
