"""Sharded programs run on the 8 fake CPU devices: same results as unsharded, the promised per-device
shards, the collectives the mapping implies, re-placement of wrongly placed arguments, and eager ops."""

import os
import re
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

import named

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
import mlp  # noqa: E402  (the tutorial's MLP, reused)

MESH = {"x": 4, "y": 2}
MAPPINGS = [{}, {"batch": "x"}, {"hidden": "x"}, {"batch": "x", "hidden": "y"}, {"batch": ("x", "y")},
            {"inputs": "y", "classes": "y", "batch": "x"}]
Batch, Embed, Hidden = named.make_axes(batch=8, embed=4, hidden=6)


def mesh_of(shape=MESH):
    return named.partitioning.resolve_mesh(shape)[0]


def collectives(hlo: str, kind: str) -> int:
    return len(re.findall(rf"= \S+ {kind}(?:-start)?\(", hlo))


@pytest.fixture(scope="module")
def mlp_args():
    w1, w2, images, labels = mlp.make_data()
    return (named.named(w1, (mlp.Inputs, mlp.Hidden)), named.named(w2, (mlp.Hidden, mlp.Classes)),
            named.named(images, (mlp.Batch, mlp.Inputs)), named.named(labels, (mlp.Batch,)))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(8, 4)).astype(np.float32), rng.normal(size=(4, 6)).astype(np.float32))


# ---------------------------------------------------------------------------------- the MLP
@pytest.mark.parametrize("mapping", MAPPINGS, ids=lambda m: ",".join(f"{k}-{v}" for k, v in m.items()) or "none")
def test_mlp_loss_is_the_same_under_every_mapping(mlp_args, mapping):
    reference = float(mlp.loss(*mlp_args).item())
    f = named.compile(mlp.loss.fn, axis_resources=mapping, mesh=MESH)
    out = f(*mlp_args)
    assert abs(float(out.item()) - reference) < 1e-5
    assert out.array.sharding == NamedSharding(mesh_of(), P())
    np.testing.assert_allclose(float(out.item()), mlp.numpy_loss(*(np.asarray(a) for a in mlp_args)), rtol=1e-4)


@pytest.mark.parametrize("mapping, shard_shape", [
    ({}, (128, 512)), ({"batch": "x"}, (32, 512)), ({"hidden": "x"}, (128, 128)),
    ({"batch": "x", "hidden": "y"}, (32, 256)), ({"batch": ("x", "y")}, (16, 512))])
def test_hidden_activations_have_the_expected_shards(mlp_args, mapping, shard_shape):
    w1, _, images, _ = mlp_args

    def hidden(w1, images):
        return named.nn.relu(named.dot(images, w1, axis="inputs"))

    out = named.compile(hidden, axis_resources=mapping, mesh=MESH)(w1, images)
    expected = np.maximum(np.asarray(images) @ np.asarray(w1), 0)
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-5, atol=1e-5)
    spec = tuple(mapping.get(name) for name in ("batch", "hidden"))
    while spec and spec[-1] is None:
        spec = spec[:-1]
    assert out.array.sharding == NamedSharding(mesh_of(), P(*spec))
    shards = out.array.addressable_shards
    assert len(shards) == 8 and all(s.data.shape == shard_shape for s in shards)


# --------------------------------------------------------------------------- collectives
def test_all_reduce_exactly_when_a_contracted_axis_is_split(data):
    xd, wd = data
    x, w = named.named(xd, (Batch, Embed)), named.named(wd, (Embed, Hidden))

    def layer(x, w):
        return named.dot(x, w, axis="embed")

    split_batch = named.compile(layer, axis_resources={"batch": "x", "hidden": "y"}, mesh=MESH).lower(x, w).compile()
    split_embed = named.compile(layer, axis_resources={"embed": "x"}, mesh=MESH).lower(x, w).compile()
    assert collectives(split_batch.as_text(), "all-reduce") == 0
    assert collectives(split_embed.as_text(), "all-reduce") >= 1
    for c in (split_batch, split_embed):
        np.testing.assert_allclose(np.asarray(c(x, w)), xd @ wd, rtol=1e-5, atol=1e-5)


def test_mlp_collectives_match_jax_jit_with_the_same_shardings(mlp_args):
    # Constraining every intermediate (the xmap model) costs no collective jax.jit would not emit.
    w1, w2, images, labels = (np.asarray(a) for a in mlp_args)

    def jax_loss(w1, w2, images, labels):
        logits = jax.nn.relu(images @ w1) @ w2
        predictions = logits - jax.nn.logsumexp(logits, axis=1, keepdims=True)
        return -(jax.nn.one_hot(labels, 10) * predictions).sum(1).mean()

    mesh = mesh_of()
    for mapping in MAPPINGS[1:4]:
        b, h = mapping.get("batch"), mapping.get("hidden")
        ins = [NamedSharding(mesh, s) for s in (P(None, h), P(h), P(b), P(b))]
        ours = named.compile(mlp.loss.fn, axis_resources=mapping, mesh=MESH).lower(*mlp_args).compile().as_text()
        theirs = jax.jit(jax_loss, in_shardings=ins, out_shardings=NamedSharding(mesh, P())).lower(
            w1, w2, images, labels).compile().as_text()
        for kind in ("all-reduce", "all-gather", "all-to-all", "collective-permute", "reduce-scatter"):
            assert collectives(ours, kind) == collectives(theirs, kind), (mapping, kind)


# --------------------------------------------------------------------------------- arguments
def test_arguments_are_placed_with_the_compiled_sharding(data):
    xd, _ = data
    f = named.compile(lambda x: x + 1, axis_resources={"batch": "x", "embed": "y"}, mesh=MESH)
    out = f(named.named(xd, (Batch, Embed)))  # host data goes in split
    assert out.array.sharding == NamedSharding(mesh_of(), P("x", "y"))
    assert all(s.data.shape == (2, 2) for s in out.array.addressable_shards)


@pytest.mark.parametrize("placement", [P(None, "x"), P("y"), P(), "device3", P(("x", "y"))])
def test_a_wrongly_placed_argument_is_re_placed(data, placement):
    xd, _ = data
    mesh = mesh_of()
    sharding = jax.devices()[3] if placement == "device3" else NamedSharding(mesh, placement)
    x = named.named(jax.device_put(xd, sharding), (Batch, Embed))
    f = named.compile(lambda x: (x * 2).sum("embed"), axis_resources={"batch": "x"}, mesh=MESH)
    out = f(x)
    np.testing.assert_allclose(np.asarray(out), (xd * 2).sum(1), rtol=1e-6)
    assert out.array.sharding == NamedSharding(mesh, P("x"))


def test_an_equivalently_sharded_argument_passes_without_a_copy(data):
    xd, _ = data
    mesh = mesh_of()
    x = jax.device_put(xd, NamedSharding(mesh, P("x", None)))
    f = named.compile(lambda x: x * 3, axis_resources={"batch": "x"}, mesh=MESH)
    executable = f._entry((named.named(x, (Batch, Embed)),), {})[0].compiled()
    assert executable._place(0, x, (8, 4), np.dtype(np.float32), executable.arg_shardings[0]) is x
    np.testing.assert_allclose(np.asarray(f(named.named(x, (Batch, Embed)))), xd * 3)


def test_a_different_mesh_of_the_same_devices_is_re_placed(data):
    xd, _ = data
    other = jax.sharding.Mesh(np.array(jax.devices()).reshape(2, 4), ("y", "x"))
    x = named.named(jax.device_put(xd, NamedSharding(other, P("x"))), (Batch, Embed))
    out = named.compile(lambda x: x - 1, axis_resources={"batch": "x"}, mesh=MESH)(x)
    np.testing.assert_allclose(np.asarray(out), xd - 1)
    assert out.array.sharding.mesh == mesh_of()


# ------------------------------------------------------------------------------- meshes, caching
def test_jax_mesh_and_dict_mesh_and_contexts_agree(data):
    xd, wd = data
    x, w = named.named(xd, (Batch, Embed)), named.named(wd, (Embed, Hidden))

    def layer(x, w):
        return named.dot(x, w, axis="embed")

    jax_mesh = jax.sharding.Mesh(np.array(jax.devices()).reshape(4, 2), ("x", "y"))
    explicit = jax.make_mesh((4, 2), ("x", "y"))
    outs = [named.compile(layer, axis_resources={"batch": "x"}, mesh=m)(x, w) for m in (MESH, jax_mesh, explicit)]
    plain = named.compile(layer)
    with named.use_mesh(MESH), named.axis_mapping({"batch": "x"}):
        outs.append(plain(x, w))
        with named.axis_mapping({"hidden": "y"}, merge=True):
            assert named.current_axis_mapping() == {"batch": ("x",), "hidden": ("y",)}
            both = plain(x, w)
    for out in outs:
        np.testing.assert_allclose(np.asarray(out), xd @ wd, rtol=1e-5, atol=1e-6)
        assert out.array.sharding.spec == P("x")
    assert both.array.sharding.spec == P("x", "y")
    assert plain(x, w).array.sharding == jax.sharding.SingleDeviceSharding(jax.devices()[0])


def test_a_context_mapping_without_a_mesh_is_ignored(data):
    xd, _ = data
    with named.axis_mapping({"batch": "x"}):
        out = named.compile(lambda x: x * 2)(named.named(xd, (Batch, Embed)))
    assert isinstance(out.array.sharding, jax.sharding.SingleDeviceSharding)


def test_one_executable_per_signature_mapping_and_mesh(data):
    xd, _ = data
    x = named.named(xd, (Batch, Embed))
    f = named.compile(lambda x: x * 2)
    f(x)
    with named.use_mesh(MESH):
        f(x)
        with named.axis_mapping({"batch": "x"}):
            f(x)
            f(f(x))  # an argument already split as compiled for: same entry
        with named.axis_mapping({"batch": ["x"]}):
            f(x)  # the same mapping spelled differently
    with named.use_mesh({"x": 2, "y": 4}), named.axis_mapping({"batch": "x"}):
        f(x)
    f(x)
    assert f.cache_size == 4


# --------------------------------------------------------------------------------- explicit shard
def test_shard_inside_a_compiled_function_changes_the_value_split_only(data):
    xd, wd = data

    def f(x, w):
        y = named.shard(named.dot(x, w, axis="embed"), {"hidden": "y"})
        return y, y * 2

    c = named.compile(f, out_axis_resources={"hidden": "y"}, in_axis_resources={"batch": "x"}, mesh=MESH)
    y, y2 = c(named.named(xd, (Batch, Embed)), named.named(wd, (Embed, Hidden)))
    np.testing.assert_allclose(np.asarray(y2), 2 * (xd @ wd), rtol=1e-5, atol=1e-6)
    assert all(s.data.shape == (8, 3) for s in y.array.addressable_shards)


def test_shard_eagerly_re_places_the_array(data):
    xd, _ = data
    x = named.named(xd, (Batch, Embed))
    assert named.shard(x, {"batch": "x"}) is x  # no mesh anywhere: unchanged
    with named.use_mesh(MESH):
        y = named.shard({"a": x, "n": 3}, {"batch": "x", "embed": "y"})
        with named.axis_mapping({"embed": "x"}):
            z = named.shard(x)
    assert y["n"] == 3 and y["a"].array.sharding == NamedSharding(mesh_of(), P("x", "y"))
    assert z.array.sharding.spec == P(None, "x")
    back = named.shard(y["a"], {})  # on the mesh the array is on
    assert back.array.sharding.spec == P() and back.array.sharding.mesh == mesh_of()
    np.testing.assert_array_equal(np.asarray(back), xd)
    with named.use_mesh(MESH), pytest.raises(named.ShardingError, match="'embed' of size 4.*'x' \\(size 4\\) x 'y'"):
        named.shard(x, {"embed": ("x", "y")})


# ------------------------------------------------------------------------------------ eager ops
def test_eager_ops_on_sharded_inputs_keep_their_split(data):
    xd, wd = data
    mesh = mesh_of()
    x = named.named(jax.device_put(xd, NamedSharding(mesh, P("x"))), (Batch, Embed))
    w = named.named(jax.device_put(wd, NamedSharding(mesh, P(None, "y"))), (Embed, Hidden))
    y = x * 2 + 1
    np.testing.assert_allclose(np.asarray(y), xd * 2 + 1)
    assert y.array.sharding == NamedSharding(mesh, P("x"))
    h = named.dot(x, w, axis="embed")  # both operands' splits combine
    np.testing.assert_allclose(np.asarray(h), xd @ wd, rtol=1e-5, atol=1e-6)
    assert h.array.sharding == NamedSharding(mesh, P("x", "y"))
    s = h.sum("batch")
    np.testing.assert_allclose(np.asarray(s), (xd @ wd).sum(0), rtol=1e-5, atol=1e-5)
    assert s.array.sharding == NamedSharding(mesh, P("y"))
    plain = named.named(wd, (Embed, Hidden)) * 1  # unsharded inputs stay on one device
    assert isinstance(plain.array.sharding, jax.sharding.SingleDeviceSharding)


def test_eager_op_whose_result_cannot_keep_the_split_replicates_it(data):
    xd, _ = data
    mesh = mesh_of()
    x = named.named(jax.device_put(xd, NamedSharding(mesh, P("x", "y"))), (Batch, Embed))
    y = x["batch", 1:4]  # 3 rows cannot be split 4 ways: batch is replicated, embed stays split
    np.testing.assert_array_equal(np.asarray(y), xd[1:4])
    assert y.array.sharding == NamedSharding(mesh, P(None, "y"))


def test_eager_ops_with_conflicting_splits_follow_the_first_operand(data):
    xd, _ = data
    mesh = mesh_of()
    a = named.named(jax.device_put(xd, NamedSharding(mesh, P("x"))), (Batch, Embed))
    b = named.named(jax.device_put(xd, NamedSharding(mesh, P("y", "x"))), (Batch, Embed))
    out = a + b
    np.testing.assert_allclose(np.asarray(out), 2 * xd)
    assert out.array.sharding.spec == P("x")
    out = b - a
    np.testing.assert_allclose(np.asarray(out), 0 * xd)
    assert out.array.sharding.spec == P("y", "x")


# ----------------------------------------------------------------------------------- the example
def test_mlp_sharded_example_runs_and_agrees():
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)  # the example asks for its own 8 devices
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "mlp_sharded.py")], capture_output=True,
                          text=True, env=env, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for label in ("no mapping", "batch -> x", "hidden -> x", "batch -> x, hidden -> y"):
        assert label in out
    assert "images: f32[batch=128@x, inputs=784]" in out and "w1: f32[inputs=784, hidden=512@y]" in out
    assert out.count("loss = 2.5940") == 5 and "all mappings agree" in out


@pytest.mark.parametrize("kind", ["max", "min"])
def test_a_max_over_a_split_axis_keeps_nan_as_on_one_device(kind):
    # XLA's cross-device max/min on CPU drops NaNs (jax.jit's sharded jnp.max too); a mapping must
    # not change results, so named carries "any NaN" across devices.
    B, E = named.make_axes(b=8, e=2)
    v = np.arange(16, dtype=np.float32).reshape(8, 2)
    v[5, 0] = np.nan
    x = named.named(v, (B, E))
    sharded = named.compile(lambda x: getattr(x, kind)("b"), axis_resources={"b": "d"}, mesh={"d": 4})(x)
    expected = getattr(np, kind)(v, axis=0)
    np.testing.assert_array_equal(np.asarray(sharded), expected)  # [nan, 15.] / [nan, 1.]
    clean = named.named(np.nan_to_num(v), (B, E))
    np.testing.assert_array_equal(
        np.asarray(named.compile(lambda x: getattr(x, kind)("b"), axis_resources={"b": "d"}, mesh={"d": 4})(clean)),
        getattr(np, kind)(np.nan_to_num(v), axis=0))
