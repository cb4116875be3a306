"""named.tree: pytree helpers with NamedArrays as leaves; scan-aware mapping; key splitting helpers."""

import equinox as eqx
import jax
import numpy as np
import pytest

import named
from named import Axis

A, B, L = named.make_axes(a=2, b=3, layer=4)


def test_map_stops_at_named_arrays():
    tree = {"w": named.arange(A, dtype="f32"), "n": 3, "nested": [named.ones((A, B))]}
    out = named.tree.map(lambda x: x * 2, tree)
    assert out["n"] == 6 and out["w"].axes == (A,)
    np.testing.assert_array_equal(np.asarray(out["w"]), [0.0, 2.0])
    seen = []
    named.tree.map(lambda x: seen.append(type(x).__name__), tree)
    assert sorted(seen) == ["NamedArray", "NamedArray", "int"]
    # several trees, and an extra is_leaf
    summed = named.tree.map(lambda x, y: x + y, tree, tree)
    assert summed["n"] == 6
    assert named.tree.map(lambda x: 0, (1, [2]), is_leaf=lambda x: isinstance(x, list)) == (0, 0)


def test_flatten_unflatten_leaves_structure():
    tree = {"a": named.ones((A,)), "b": (1.0, named.zeros((B,)))}
    leaves, treedef = named.tree.flatten(tree)
    assert [type(x) for x in leaves] == [named.NamedArray, float, named.NamedArray]
    assert named.tree.leaves(tree) == leaves
    assert named.tree.structure(tree) == treedef and treedef.num_leaves == 3
    rebuilt = named.tree.unflatten(treedef, leaves)
    assert rebuilt["b"][1].axes == (B,)
    assert named.tree.is_named_array(leaves[0]) and not named.tree.is_named_array(1.0)
    assert named.is_named_array is named.tree.is_named_array
    # haliax's tree_util spellings
    assert named.tree.tree_map is named.tree.map and named.tree.tree_leaves is named.tree.leaves


class Stack(eqx.Module):
    stacked: dict
    Block: Axis = eqx.field(static=True)


def test_scan_aware_map_sees_one_layer():
    data = np.arange(24, dtype=np.float32).reshape(4, 2, 3)
    stack = Stack({"w": named.named(data, (L, A, B))}, L)
    plain = named.named(data[0], (A, B))

    def normalize(x):  # a function of one layer: the sum runs over that layer's axes only
        return x / x.sum()

    out = named.tree.scan_aware_map(normalize, {"stack": stack, "plain": plain})
    got = out["stack"].stacked["w"]
    assert isinstance(out["stack"], Stack) and got.axes == (L, A, B)
    np.testing.assert_allclose(np.asarray(got), data / data.sum(axis=(1, 2), keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(out["plain"]), data[0] / data[0].sum(), rtol=1e-6)
    # plain map, by contrast, sums over the layer axis too
    flat = named.tree.map(normalize, stack)
    np.testing.assert_allclose(np.asarray(flat.stacked["w"]), data / data.sum(), rtol=1e-6)
    # works inside a compiled function as well
    compiled = named.compile(lambda s: named.tree.scan_aware_map(normalize, s))(stack)
    np.testing.assert_allclose(np.asarray(compiled.stacked["w"]), np.asarray(got), rtol=1e-6)


def test_rng_split_helpers():
    key = named.random.key(1)
    assert named.tree.maybe_rng_split(None, 2) == [None, None]
    k1, k2 = named.tree.maybe_rng_split(key)
    ref = jax.random.split(jax.random.PRNGKey(1), 2)
    np.testing.assert_array_equal(np.asarray(k1.data), np.asarray(ref[0]))
    np.testing.assert_array_equal(np.asarray(k2.data), np.asarray(ref[1]))
    batched = named.tree.shaped_rng_split(key, (L,))
    assert batched.axes == (L,)
    # a batched key gives the same numbers as splitting with jax into that many keys
    np.testing.assert_array_equal(np.asarray(batched.data.rearrange(("layer", ...))),
                                  np.asarray(jax.random.split(jax.random.PRNGKey(1), 4)))
    assert named.tree.shaped_rng_split(key, {"layer": 4}).axes == (L,)
    assert len(named.tree.shaped_rng_split(key, 3)) == 3
    # jax keys keep haliax's behaviour: an array of keys shaped as asked
    jk = jax.random.PRNGKey(0)
    assert named.tree.shaped_rng_split(jk, (2, 3)).shape == (2, 3, 2)
    assert named.tree.shaped_rng_split(jk, 1).shape == (1, 2)
    assert named.tree.maybe_rng_split(jk, 3).shape == (3, 2)
    with pytest.raises(TypeError):
        named.tree.shaped_rng_split(key, ["layer"])


def test_resize_axis():
    # haliax's test_resize_axis
    A, B, C = named.make_axes(A=10, B=20, C=30)
    NewA = Axis("A", 15)
    k1, k2, k3 = named.random.split(named.random.key(0), 3)
    module = {"name1": named.random.normal(k1, (B, A, C)), "name2": named.random.normal(k2, (B, C)),
              "name3": named.random.normal(k3, (A,))}
    module2 = named.tree.resize_axis(module, "A", 15, key=named.random.key(1))
    assert module2["name1"].axes == (B, NewA, C)
    assert module2["name2"] is module["name2"]
    assert module2["name3"].axes == (NewA,)
    np.testing.assert_allclose(float(module2["name1"].mean()), float(module["name1"].mean()), rtol=1e-1, atol=1e-2)
    np.testing.assert_allclose(np.asarray(module2["name1"])[:, :10], np.asarray(module["name1"]))
    assert float(module2["name1"]["A", 10:].std()) > 0.5  # fresh values, not a constant
    small = named.tree.resize_axis(module, A, 4)
    np.testing.assert_allclose(np.asarray(small["name3"]), np.asarray(module["name3"])[:4])


def test_haliax_module_spellings():
    import named.tree_util as ntu
    assert ntu.tree_map is named.tree.map and ntu.scan_aware_tree_map is named.tree.scan_aware_map
    assert named.partitioning.named_jit is named.named_jit
    assert named.partitioning.ResourceAxis.DATA == "data"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        named.partitioning.nope


class LayersStack(eqx.Module):  # the named.nn.Stacked layout: Layers is the axis, Block the layer class
    stacked: dict
    Layers: Axis = eqx.field(static=True)
    Block: type = eqx.field(static=True)


def test_scan_aware_map_with_a_layers_field():
    data = np.arange(24, dtype=np.float32).reshape(4, 2, 3) + 1
    stack = LayersStack({"w": named.named(data, (L, A, B))}, L, dict)
    out = named.tree.scan_aware_map(lambda x: x / x.sum(), stack)
    np.testing.assert_allclose(np.asarray(out.stacked["w"]), data / data.sum(axis=(1, 2), keepdims=True), rtol=1e-6)
