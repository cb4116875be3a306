"""named.state_dict: flat dicts of a model's arrays, torch layout, safetensors round trips (issue 14)."""

import doctest

import equinox as eqx
import jax
import numpy as np
import pytest

import named
import named.nn as nn
from named import state_dict as sd

L, E, H, V, X = named.make_axes(layer=2, embed=4, hidden=3, vocab=5, extra=2)


class Block(eqx.Module):
    proj: nn.Linear
    norm: nn.RmsNorm

    def __call__(self, x):
        return self.norm(self.proj(x))

    @classmethod
    def init(cls, *, key):
        return cls(nn.Linear.init((E, X), H, key=key, out_first=True), nn.RmsNorm.init(H, use_bias=False))


class Model(eqx.Module):
    emb: nn.Embedding
    layers: nn.Stacked
    head: nn.Linear

    def _state_dict_key_map(self):
        return {"emb": "wte"}


def model(seed=0):
    k1, k2, k3 = named.random.split(named.random.key(seed), 3)
    return Model(nn.Embedding.init(V, E, key=k1), nn.Stacked.init(L, Block)(key=k2),
                 nn.Linear.init(H, V, key=k3, use_bias=False))


def leaves_equal(a, b):
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)


def test_docstring_examples_run():
    result = doctest.testmod(sd, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_state_dict_keys_shapes_and_round_trip_through_safetensors(tmp_path):
    m = model()
    flat = sd.to_state_dict(m)
    assert {k: v.shape for k, v in flat.items()} == {
        "wte.weight": (5, 4), "layers.proj.weight": (2, 3, 4, 2), "layers.proj.bias": (2, 3),
        "layers.norm.weight": (2, 3), "head.weight": (3, 5)}
    sd.save_state_dict(flat, tmp_path / "model.safetensors")
    loaded = sd.from_state_dict(model(seed=1), sd.load_state_dict(tmp_path / "model.safetensors"))
    leaves_equal(loaded, m)
    x = named.named(np.array([1, 4], np.int32), (named.Axis("pos", 2),))
    f = named.compile(lambda m, x: (m.head(m.layers.vmap(m.emb(x).broadcast_axis(X))) ** 2).sum())
    assert f(loaded, x).item() == pytest.approx(f(m, x).item(), rel=1e-6)


def test_torch_compatible_state_dict_unstacks_layers_and_flattens_linear_weights(tmp_path):
    m = model()
    flat = sd.to_torch_compatible_state_dict(m, "model")
    assert {k: v.shape for k, v in flat.items()} == {
        "model.wte.weight": (5, 4), "model.head.weight": (5, 3),
        "model.layers.0.proj.weight": (3, 8), "model.layers.0.proj.bias": (3,), "model.layers.0.norm.weight": (3,),
        "model.layers.1.proj.weight": (3, 8), "model.layers.1.proj.bias": (3,), "model.layers.1.norm.weight": (3,)}
    w = np.asarray(named.rearrange(m.layers.stacked.proj.weight, (L, H, E, X)).array)
    np.testing.assert_array_equal(flat["model.layers.1.proj.weight"], w[1].reshape(3, 8))
    np.testing.assert_array_equal(flat["model.head.weight"], np.asarray(m.head.weight.array).T)
    sd.save_state_dict(flat, tmp_path / "torch.safetensors")
    back = sd.from_torch_compatible_state_dict(model(seed=2), sd.load_state_dict(tmp_path / "torch.safetensors"),
                                               "model")
    leaves_equal(back, m)


def test_blockseq_gives_the_same_torch_keys_as_stacked():
    stacked = nn.Stacked.init(L, Block)(key=named.random.key(3))
    seq = nn.BlockSeq.init(L, Block)(key=named.random.key(3))
    a, b = sd.to_torch_compatible_state_dict(stacked), sd.to_torch_compatible_state_dict(seq)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    leaves_equal(sd.from_state_dict(seq, sd.to_state_dict(seq)), seq)


def test_missing_keys_and_wrong_shapes_are_axis_errors():
    m = model()
    flat = sd.to_state_dict(m)
    del flat["head.weight"]
    with pytest.raises(named.AxisError, match="no entry 'head.weight'"):
        sd.from_state_dict(m, flat)
    flat = sd.to_state_dict(m)
    flat["wte.weight"] = np.zeros((4, 5), np.float32)
    with pytest.raises(named.AxisError, match=r"'wte.weight' has shape \(4, 5\).*\(5, 4\)"):
        sd.from_state_dict(m, flat)
