"""The xmap-style entry (``named.compile(fn, in_axes=..., out_axes=...)``) on the tutorial's examples."""

import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

import named

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
import mlp  # noqa: E402

MLP_IN_AXES = [["inputs", "hidden", ...], ["hidden", "classes", ...], ["batch", "inputs", ...], ["batch", ...]]


def test_dict_mapping_moves_the_named_axis():
    # the tutorial's my_func: name axis 0 'batch', put it back as axis 1
    f = named.compile(lambda x: x, in_axes={0: "batch"}, out_axes={1: "batch"})
    x = np.arange(100, dtype=np.float32).reshape(20, 5)
    y = f(x)
    assert isinstance(y, jax.Array) and y.shape == (5, 20)
    np.testing.assert_array_equal(np.asarray(y), x.T)
    assert "f32[batch=20, _p1=5]" in f.lower(x).as_text()


@pytest.mark.parametrize("mapping", [None, {"batch": "x"}, {"hidden": "x"}, {"batch": "x", "hidden": "y"}])
def test_tutorial_mlp_with_positional_arrays(mapping):
    data = mlp.make_data()
    options = {} if mapping is None else {"axis_resources": mapping, "mesh": {"x": 4, "y": 2}}
    loss = named.compile(mlp.loss.fn, in_axes=MLP_IN_AXES, out_axes=[...], **options)
    value = loss(*data)
    assert value.shape == ()
    np.testing.assert_allclose(float(value), mlp.numpy_loss(*data), rtol=1e-4)


def test_sum_two_args_with_both_axes_on_one_mesh_axis():
    def sum_two_args(x, y):
        return x.sum("a") + y.sum("b")

    f = named.compile(sum_two_args, in_axes=(["a", ...], ["b", ...]), out_axes=[...],
                      axis_resources={"a": "x", "b": "x"}, mesh={"x": 4})
    assert float(f(np.ones(4, np.float32), np.ones(12, np.float32))) == 16.0


def test_broadcast_and_reduce_with_positional_axes():
    # the tutorial's named_broadcast_and_reduce: positional axes keep their numpy meaning
    def f(x, y):
        z = x + y
        return z.sum(("_p1", "x", "y"))

    g = named.compile(f, in_axes=({0: "x"}, {1: "y"}), out_axes={})
    x = np.arange(2, dtype=np.float32)
    y = np.arange(20, dtype=np.float32).reshape(5, 4)
    expected = (x[:, None, None] + y[None]).sum()
    np.testing.assert_allclose(float(g(x, y)), expected)


def test_batch_matrix_times_single_matrix():
    # named_batch_matrix_single_matrix: einsum('bnk,km->bnm') with b, k, m named
    f = named.compile(lambda x, y: named.dot(x, y, axis="k"),
                      in_axes=[{0: "b", 2: "k"}, ["k", "m", ...]], out_axes={0: "b", 2: "m"})
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 5, 7)).astype(np.float32)
    y = rng.normal(size=(7, 11)).astype(np.float32)
    out = f(x, y)
    assert out.shape == (20, 5, 11)
    np.testing.assert_allclose(np.asarray(out), np.einsum("bnk,km->bnm", x, y), rtol=1e-5, atol=1e-5)


def test_all_pairs_prefix_output_axes():
    f = named.compile(lambda a, e: a * e, in_axes=(["ba", ...], ["be", ...]), out_axes=["ba", "be", ...])
    a = np.arange(21, dtype=np.float32).reshape(7, 3)
    e = np.arange(15, dtype=np.float32).reshape(5, 3)
    out = np.asarray(f(a, e))
    assert out.shape == (7, 5, 3)
    np.testing.assert_allclose(out, a[:, None, :] * e[None, :, :])


def test_distributed_matmul_splits_left_and_right():
    # the tutorial's distr_matmul: vdot over the positional axis, left/right split over x/y
    def vdot(x, y):
        return named.dot(x, y, axis="_p1")

    x = np.arange(128, dtype=np.float32).reshape(16, 8) / 100
    local = named.compile(vdot, in_axes=({0: "left"}, {1: "right"}), out_axes=["left", "right", ...])
    distr = named.compile(vdot, in_axes=({0: "left"}, {1: "right"}), out_axes=["left", "right", ...],
                          axis_resources={"left": "x", "right": "y"})
    np.testing.assert_allclose(np.asarray(local(x, x.T)), x @ x.T, rtol=1e-5)
    with pytest.raises(named.ShardingError, match="without a mesh"):
        distr(x, x.T)  # the mesh's axis names are not visible yet
    with named.use_mesh({"x": 4, "y": 2}):
        out = distr(x, x.T)
    np.testing.assert_allclose(np.asarray(out), x @ x.T, rtol=1e-5)
    assert out.sharding.spec == P("x", "y")
    assert all(s.data.shape == (4, 8) for s in out.addressable_shards)


def test_nested_argument_structures_and_pytree_outputs():
    def f(params, x):
        h = named.dot(x, params["w"], axis="embed") + params["b"]
        return {"h": h, "total": h.sum()}

    in_axes = ({"w": ["embed", "hidden"], "b": ["hidden"]}, ["batch", "embed"])
    out_axes = {"h": ["hidden", "batch"], "total": [...]}
    c = named.compile(f, in_axes=in_axes, out_axes=out_axes, axis_resources={"batch": "x"}, mesh={"x": 4})
    rng = np.random.default_rng(1)
    w, b, x = (rng.normal(size=s).astype(np.float32) for s in ((4, 6), (6,), (8, 4)))
    out = c({"w": w, "b": b}, x)
    np.testing.assert_allclose(np.asarray(out["h"]), (x @ w + b).T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(float(out["total"]), (x @ w + b).sum(), rtol=1e-4)
    assert out["h"].sharding == NamedSharding(out["h"].sharding.mesh, P(None, "x"))
    assert c.cache_size == 1
    c({"w": w + 1, "b": b}, x)
    assert c.cache_size == 1


def test_one_mapping_applies_to_every_argument_and_scalars_pass_through():
    f = named.compile(lambda x, y, s: x * y * s, in_axes=["i", ...], out_axes=["i", ...])
    out = f(np.arange(5, dtype=np.float32), np.full(5, 2, np.float32), 3.0)
    np.testing.assert_allclose(np.asarray(out), np.arange(5) * 6.0)


# ------------------------------------------------------------------------------------------ errors
def test_error_one_name_two_sizes():
    f = named.compile(lambda x, y: x * y, in_axes=(["i", ...], ["i", ...]), out_axes=["i", ...])
    with pytest.raises(named.AxisError, match="'i' has size 5 in argument \\[0\\] but size 7 in argument \\[1\\]"):
        f(np.arange(5), np.arange(7))


@pytest.mark.parametrize("in_axes, shape, message", [
    ({2: "a"}, (4,), "position 2 is out of range for 1"),
    ({-3: "a"}, (4, 2), "position -3 is out of range for 2"),
    ({0: "a", -2: "b"}, (4, 2), "position -2 is named twice"),
    ({0: "a", 1: "a"}, (4, 2), "'a' is given to two positions"),
    (["a", ..., "b"], (4, 2), "may only end with ..."),
    (["a"], (4, 2), "names 1 positions but the array has 2"),
    ({0: 3}, (4,), "axis names must be strings"),
])
def test_error_bad_in_axes(in_axes, shape, message):
    f = named.compile(lambda x: x, in_axes=in_axes, out_axes=[...])
    with pytest.raises(named.AxisError, match=message):
        f(np.zeros(shape, np.float32))


def test_error_structure_mismatch():
    f = named.compile(lambda x, y: x + y, in_axes=(["i", ...], ["i", ...], ["i", ...]), out_axes=["i", ...])
    with pytest.raises(named.AxisError, match="3 axis mapping\\(s\\) for 2 value\\(s\\)"):
        f(np.zeros(3), np.zeros(3))
    g = named.compile(lambda p: p["w"], in_axes=({"w": ["i"], "v": ["i"]},), out_axes=["i"])
    with pytest.raises(named.AxisError, match="keys \\['v', 'w'\\] but the value has keys \\['w'\\]"):
        g({"w": np.zeros(3)})


def test_error_result_axes_without_a_place():
    f = named.compile(lambda x: x, in_axes=["batch", "embed"], out_axes=["batch", ...])
    with pytest.raises(named.AxisError, match="'embed=4' have no place in out_axes"):
        f(np.zeros((2, 4), np.float32))
    g = named.compile(lambda x: x.sum("embed"), in_axes=["batch", "embed"], out_axes=["batch", "embed"])
    with pytest.raises(named.AxisError, match="places 'embed', but the result has axes \\['batch'\\]"):
        g(np.zeros((2, 4), np.float32))


def test_error_misuse():
    with pytest.raises(TypeError, match="in_axes and out_axes go together"):
        named.compile(lambda x: x, in_axes=["i", ...])
    with pytest.raises(TypeError, match="static arguments"):
        named.compile(lambda x, n: x, in_axes=["i", ...], out_axes=["i", ...], static_argnums=(1,))
    f = named.compile(lambda x: x, in_axes=["i", ...], out_axes=["i", ...])
    with pytest.raises(TypeError, match="takes positional arrays, got a NamedArray"):
        f(named.named(np.zeros(3), ("i",)))

    @named.compile
    def outer(x):
        return f(x)

    with pytest.raises(TypeError, match="call the undecorated function"):
        outer(named.named(np.zeros(3, np.float32), ("i",)))


def test_decorator_form():
    @named.compile(in_axes=["i", ...], out_axes=["i", ...])
    def double(x):
        return x * 2

    assert isinstance(double, named.XMapFunction) and double.__name__ == "double"
    np.testing.assert_array_equal(np.asarray(double(np.arange(4, dtype=np.int32))), np.arange(4) * 2)
