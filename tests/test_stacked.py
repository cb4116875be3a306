"""Stacked (one scan over a layer axis) and BlockSeq (unrolled) give the same values and gradients,
eagerly, compiled and on the 4x2 mesh (issue 14)."""

import equinox as eqx
import jax
import numpy as np
import pytest

import named
import named.nn as nn

L, B, E, H = named.make_axes(layer=3, batch=4, embed=6, hidden=4)
MESH = {"data": 4, "model": 2}


class Block(eqx.Module):
    up: nn.Linear
    down: nn.Linear
    norm: nn.LayerNorm

    @classmethod
    def init(cls, Embed, Hidden, *, key):
        k1, k2 = named.random.split(key)
        return cls(nn.Linear.init(Embed, Hidden, key=k1), nn.Linear.init(Hidden, Embed, key=k2, init_scale=10.0),
                     nn.LayerNorm.init(Embed))

    def __call__(self, x, scale=1.0):
        return self.norm(x + self.down(nn.relu(self.up(x))) * scale)


class ScanBlock(Block):
    def __call__(self, x):
        y = super().__call__(x)
        return y, y.sum("embed")


def make(cls, block=Block):
    return cls.init(L, block)(E, H, key=named.random.key(0))


def close(a, b, rtol=1e-5, atol=1e-6):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def x0():
    return named.named(np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32), (B, E))


def test_stacked_and_blockseq_hold_the_same_layers():
    stacked, seq = make(nn.Stacked), make(nn.BlockSeq)
    assert stacked.stacked.up.weight.axes == (L, E, H)
    assert stacked.stacked.norm.weight.axes == (L, E)
    assert len(seq.blocks) == 3 and seq.blocks[0].up.weight.axes == (E, H)
    close(stacked.unstacked(), seq.unstacked())


def _manual(seq, x):
    for b in seq.blocks:
        x = b(x)
    return x


def test_fold_matches_blockseq_and_a_python_loop_eager_and_compiled():
    stacked, seq, x = make(nn.Stacked), make(nn.BlockSeq), x0()
    want = _manual(seq, x)
    close(stacked.fold(x), want)
    close(named.compile(lambda m, x: m(x))(stacked, x), want)
    close(named.compile(lambda m, x: m.fold(x))(seq, x), want)
    close(stacked.fold(x, 0.5), seq.fold(x, scale=0.5))


def test_gradients_through_stacked_equal_blockseq_and_jax():
    stacked, seq, x = make(nn.Stacked), make(nn.BlockSeq), x0()
    g_stacked = named.compile(named.grad(lambda m, x: (m.fold(x) ** 2).sum()))(stacked, x)
    g_seq = named.compile(named.grad(lambda m, x: (m.fold(x) ** 2).sum()))(seq, x)
    assert g_stacked.stacked.up.weight.axes == (L, E, H)
    restacked = nn.Stacked(nn.scan._stack_blocks(L, g_seq.blocks), L, Block)
    close(g_stacked, restacked, rtol=1e-4, atol=1e-5)

    def jax_loss(params, x):  # the same stack written positionally
        for up_w, up_b, dn_w, dn_b, ln_w, ln_b in zip(*params):
            h = x + (jax.nn.relu(x @ up_w + up_b) @ dn_w + dn_b)
            mu = h.mean(1, keepdims=True)
            x = (h - mu) / jax.numpy.sqrt(((h - mu) ** 2).mean(1, keepdims=True) + 1e-5) * ln_w + ln_b
        return (x ** 2).sum()

    s = stacked.stacked
    params = [p.array for p in (s.up.weight, s.up.bias, s.down.weight, s.down.bias, s.norm.weight, s.norm.bias)]
    ref = jax.grad(jax_loss)(params, x.array)
    np.testing.assert_allclose(np.asarray(g_stacked.stacked.up.weight.array), ref[0], rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(np.asarray(g_stacked.stacked.norm.bias.array), ref[5], rtol=1e-3, atol=1e-5)


def test_scan_and_vmap_stack_outputs_along_layers():
    stacked, seq, x = make(nn.Stacked, ScanBlock), make(nn.BlockSeq, ScanBlock), x0()
    out, ys = named.compile(lambda m, x: m.scan(x))(stacked, x)
    out2, ys2 = seq.scan(x)
    assert ys.axes == (L, B) and ys2.axes == (L, B)
    close((out, ys), (out2, ys2))
    v1 = named.compile(lambda m, x: m.vmap(x))(make(nn.Stacked), x)
    v2 = make(nn.BlockSeq).vmap(x)
    assert v1.axes[0] == L
    close(v1, named.rearrange(v2, v1.axes))
    close(v1[{"layer": 1}], make(nn.BlockSeq).blocks[1](x))


def test_per_layer_arguments_are_sliced():
    scales = named.named(np.array([1.0, 0.0, 2.0], np.float32), (L,))
    stacked, seq, x = make(nn.Stacked), make(nn.BlockSeq), x0()
    want = x
    for i, b in enumerate(seq.blocks):
        want = b(want, [1.0, 0.0, 2.0][i])
    close(stacked.fold(x, scales), want)
    close(seq.fold(x, scales), want)


def test_stacked_sharded_over_the_mesh_matches_one_device():
    stacked, x = make(nn.Stacked), x0()
    f = named.compile(named.value_and_grad(lambda m, x: (m.fold(x) ** 2).mean()),
                      axis_resources={"batch": "data", "hidden": "model"}, mesh=MESH)
    value, grads = f(stacked, x)
    value1, grads1 = named.value_and_grad(lambda m, x: (m.fold(x) ** 2).mean())(stacked, x)
    close((value, grads), (value1, grads1), rtol=1e-4, atol=1e-6)
    assert grads.stacked.up.weight.array.sharding.spec == jax.sharding.PartitionSpec(None, None, "model")


def test_layer_axis_must_be_an_axis_and_blockseq_length_checked():
    with pytest.raises(TypeError, match="named.Axis"):
        nn.Stacked.init("layer", Block)
    seq = make(nn.BlockSeq)
    bad = nn.BlockSeq(seq.blocks[:2], L, Block)
    with pytest.raises(named.AxisError, match="2 blocks"):
        bad.fold(x0())


class DropBlock(Block):
    def __call__(self, x, *, key):
        return nn.dropout(super().__call__(x), 0.5, key)


def test_per_layer_keys_give_the_same_dropout_in_stacked_and_blockseq():
    keys = named.random.split(named.random.key(7), L)  # one key per layer, batched on the layer axis
    stacked, seq, x = make(nn.Stacked, DropBlock), make(nn.BlockSeq, DropBlock), x0()
    a = named.compile(lambda m, x, k: m.fold(x, key=k))(stacked, x, keys)
    b = seq.fold(x, key=keys)
    close(a, b)
    want = x
    for i, block in enumerate(seq.blocks):
        want = block(want, key=keys[{"layer": i}])
    close(b, want)
    assert 0.3 < float((np.asarray(a.array) == 0).mean()) < 0.7


@pytest.mark.parametrize("policy", [True, "nested", named.ScanCheckpointPolicy(save_carries=True)])
def test_gradient_checkpointing_recomputes_but_gives_the_same_gradients(policy):
    # Stacked hands gradient_checkpointing to named.fold/scan as remat= (issue 12's policies)
    plain = make(nn.Stacked)
    remat = nn.Stacked(plain.stacked, L, Block, policy)
    x = x0()
    loss = lambda m, x: (m.fold(x) ** 2).sum()  # noqa: E731
    g_plain = named.compile(named.grad(loss))(plain, x)
    g_remat = named.compile(named.grad(loss))(remat, x)
    close(g_remat, g_plain, rtol=1e-5, atol=1e-6)
    text = named.compile(named.grad(loss)).lower(remat, x).as_text()
    assert "named.scan" in text


@pytest.mark.parametrize("new_style", [False, True])
def test_one_jax_key_per_layer_as_in_haliax(new_style):
    """``key=jax.random.split(key, Layers.size)``: layer i is initialised with key i."""
    L, E, H = named.make_axes(layer=3, embed=4, hidden=5)
    root = jax.random.key(0) if new_style else jax.random.PRNGKey(0)
    keys = jax.random.split(root, 3)
    stacked = nn.Stacked.init(L, nn.Linear)(E, H, key=keys)
    for i in range(3):
        alone = nn.Linear.init(E, H, key=keys[i])
        np.testing.assert_array_equal(np.asarray(stacked.stacked.weight["layer", i].array),
                                      np.asarray(alone.weight.array))
    with pytest.raises(named.AxisError, match="2 keys for the 3 layers") as info:
        nn.Stacked.init(L, nn.Linear)(E, H, key=jax.random.split(root, 2))
    assert "test_stacked.py" in str(info.value)  # the user's line, not the library's
