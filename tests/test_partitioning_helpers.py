"""haliax's partitioning helpers on the 4x2 mesh of 8 fake CPU devices (ported from haliax's test_partitioning)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import named
from named import Axis, ResourceAxis, ShardingError
from named.runtime.pjrt import NamedSharding, PartitionSpec

MESH = {"data": 4, "model": 2}
Dim1, Dim2, Dim3 = Axis("dim1", 8), Axis("dim2", 16), Axis("dim3", 4)
resource_map = {"dim2": ResourceAxis.DATA, "dim3": ResourceAxis.MODEL}


def test_resource_axis_and_physical_names():
    assert (ResourceAxis.DATA, ResourceAxis.MODEL, ResourceAxis.REPLICA) == ("data", "model", "replica")
    assert named.physical_axis_name(Dim2, resource_map) == "data"
    assert named.physical_axis_name("dim1", resource_map) is None
    assert named.physical_axis_name("x", {"x": ("data", "model")}) == ("data", "model")
    with named.axis_mapping(resource_map):
        assert named.physical_axis_name("dim3") == "model"
    assert named.physical_axis_name("dim3") is None  # no mapping in force
    with named.use_mesh(MESH):
        assert named.physical_axis_size(Dim2, resource_map) == 4
        assert named.physical_axis_size("x", {"x": ("data", "model")}) == 8
        assert named.physical_axis_size("dim1", resource_map) is None
        with pytest.raises(ShardingError, match="'nope'"):
            named.physical_axis_size("x", {"x": "nope"})
    with pytest.raises(ShardingError, match="no mesh"):
        named.physical_axis_size(Dim2, resource_map)


def test_pspec_and_sharding_for_axis():
    assert named.pspec_for_axis((Dim1, Dim2, Dim3), resource_map) == PartitionSpec(None, "data", "model")
    with named.use_mesh(MESH) as mesh:
        s = named.sharding_for_axis((Dim2, Dim3), resource_map)
        assert s == NamedSharding(mesh, PartitionSpec("data", "model"))


def test_infer_resource_partitions_and_pspec_for():
    with named.use_mesh(MESH) as mesh, named.axis_mapping(resource_map):
        tree = {"named": named.ones((Dim1, Dim2, Dim3)), "unnamed": jnp.ones(Dim2.size), "static": 1}
        shardings = named.infer_resource_partitions(tree, preserve_existing_shardings=False)
        assert shardings["named"] == NamedSharding(mesh, PartitionSpec(None, "data", "model"))
        assert shardings["unnamed"].is_fully_replicated
        assert shardings["static"] == NamedSharding(mesh, PartitionSpec())
        specs = named.pspec_for(tree)
        assert specs["named"] == PartitionSpec(None, "data", "model")
        # an array already split keeps its sharding when asked to preserve it
        split = named.shard(named.ones((Dim2,)), {"dim2": "model"})
        assert named.infer_resource_partitions(split).spec == PartitionSpec("model")
        assert named.infer_resource_partitions(split, preserve_existing_shardings=False).spec == PartitionSpec("data")
    with pytest.raises(ShardingError, match="no resource mapping"):
        named.infer_resource_partitions(named.ones(Dim1), mesh=MESH)


def test_round_axis_for_partitioning():
    with named.use_mesh(MESH):
        assert named.round_axis_for_partitioning(Axis("dim2", 13), resource_map) == Axis("dim2", 16)
        assert named.round_axis_for_partitioning(Axis("dim2", 12), resource_map) == Axis("dim2", 12)
        assert named.round_axis_for_partitioning(Axis("dim1", 13), resource_map) == Axis("dim1", 13)


def test_shard_tree_leaves_plain_arrays_alone():
    plain = jnp.arange(5.0)
    with named.use_mesh(MESH) as mesh:
        tree = named.shard({"x": named.ones((Dim1, Dim2)), "y": named.ones((Dim2, Dim3)), "p": plain, "n": 3},
                           resource_map)
    assert tree["x"].array.sharding == NamedSharding(mesh, PartitionSpec(None, "data"))
    assert tree["y"].array.sharding == NamedSharding(mesh, PartitionSpec("data", "model"))
    assert tree["p"] is plain and tree["n"] == 3
    # mesh= places eagerly without a use_mesh block
    z = named.shard(named.ones((Dim2, Dim3)), resource_map, mesh=MESH)
    assert z.array.sharding.spec == PartitionSpec("data", "model")


def test_shard_inside_compiled_function_keeps_its_sharding():
    # haliax's test_named_jit_works_without_axis_resources, on the 4x2 mesh
    data = np.arange(8 * 16, dtype=np.float32).reshape(8, 16)
    x = named.named(data, (Dim1, Dim2))
    with named.use_mesh(MESH) as mesh:
        plain = named.named_jit(lambda x: x + 1)(x)
        assert plain.array.sharding.is_fully_replicated
        r = named.named_jit(lambda x: named.shard(x * 2, resource_map))(x)
        assert r.array.sharding.is_equivalent_to(NamedSharding(mesh, PartitionSpec(None, "data")), ndim=2)
        np.testing.assert_array_equal(np.asarray(r), data * 2)
        both = named.named_jit(lambda x: named.shard(x, {"dim1": "data", "dim2": "model"}))(x)
        assert both.array.sharding.spec == PartitionSpec("data", "model")
        # an explicit out_axis_resources still wins
        out = named.named_jit(lambda x: named.shard(x, resource_map), out_axis_resources={})(x)
        assert out.array.sharding.is_fully_replicated


def test_named_jit_with_resources_and_fsdp():
    rng = np.random.default_rng(0)
    Batch, Embed, Hidden = Axis("batch", 8), Axis("embed", 4), Axis("hidden", 16)
    w = named.named(rng.normal(size=(4, 16)).astype(np.float32), (Embed, Hidden))
    xs = named.named(rng.normal(size=(8, 4)).astype(np.float32), (Batch, Embed))

    def step(w, xs):
        return w - 0.1 * named.dot(xs, named.dot(xs, w, axis="embed"), axis="batch").rearrange(("embed", "hidden"))

    want = np.asarray(w) - 0.1 * np.asarray(xs).T @ (np.asarray(xs) @ np.asarray(w))
    with named.use_mesh(MESH) as mesh:
        fsdp_step = named.fsdp(step, parameter_mapping={"hidden": "data"}, compute_mapping={"batch": "data"})
        new_w = fsdp_step(w, xs)
        assert new_w.array.sharding == NamedSharding(mesh, PartitionSpec(None, "data"))
        np.testing.assert_allclose(np.asarray(new_w), want, rtol=1e-5, atol=1e-5)
        text = fsdp_step.lower(w, xs).as_text()
        assert "batch=8@data" in text and "hidden=16@data" in text
        decorated = named.fsdp({"hidden": "data"}, {"batch": "data"})(step)  # the decorator form
        np.testing.assert_allclose(np.asarray(decorated(w, xs)), want, rtol=1e-5, atol=1e-5)
        jitted = named.named_jit(axis_resources={"batch": "data", "hidden": "model"})(step)
        out = jitted(w, xs)
        assert out.array.sharding.spec == PartitionSpec(None, "model")
        np.testing.assert_allclose(np.asarray(out), want, rtol=1e-5, atol=1e-5)
    import inspect
    if "donate_args" in inspect.signature(named.CompiledFunction.__init__).parameters:
        donated = named.named_jit(step, donate_args=(False, False))(w, xs)  # donation, once compile has it
        np.testing.assert_allclose(np.asarray(donated), want, rtol=1e-5, atol=1e-5)
    else:
        with pytest.raises(TypeError, match="donate"):
            named.named_jit(step, donate_args=(True, False))


def test_auto_sharded():
    x = named.ones((Dim1, Dim2))
    assert named.auto_sharded(x) is x  # no mapping: unchanged
    with named.use_mesh(MESH) as mesh, named.axis_mapping(resource_map):
        y = named.auto_sharded(x)
        assert y.array.sharding == NamedSharding(mesh, PartitionSpec(None, "data"))

        @named.compile
        def f(x):
            return named.auto_sharded(x * 3)

        z = f(x)
        np.testing.assert_array_equal(np.asarray(z), 3 * np.ones((8, 16)))
        assert "named.sharding_constraint" in f.lower(x).as_text("traced")
    assert jax.device_count() == 8
