"""The partitioner (SPEC §6): shardings in the IR and the StableHLO, and every ShardingError."""

import doctest
import importlib

import numpy as np
import pytest

import named
from named import dialect as d
from named.compiler import partition, run_pipeline

Batch, Embed, Hidden = named.make_axes(batch=8, embed=4, hidden=6)
MESH = {"data": 4, "model": 2}


def specs(*axes_lists):
    return [named.spec(axes) for axes in axes_lists]


def mlp_layer(x, w):
    return named.nn.relu(named.dot(x, w, axis="embed")).sum("hidden")


def lowered(fn, *args, **options):
    options.setdefault("mesh", MESH)
    return named.compile(fn, **options).lower(*args)


# ----------------------------------------------------------------------------------- IR shardings
def test_every_value_carries_the_mapped_sharding():
    low = lowered(mlp_layer, *specs((Batch, Embed), (Embed, Hidden)), axis_resources={"batch": "data"})
    text = low.as_text()
    assert "func @mlp_layer(%0: f32[batch=8@data, embed=4], %1: f32[embed=4, hidden=6])" in text
    assert "-> (f32[batch=8@data]) on mesh<data=4, model=2>" in text
    fn = low.stages.partitioned
    for op in fn.walk():
        for r in op.results:
            expected = tuple(("data",) if a.name == "batch" else () for a in r.type.axes)
            assert r.type.sharding == expected, (op.name, r.type)


def test_tuple_of_mesh_axes_and_round_trip_of_the_partitioned_text():
    low = lowered(mlp_layer, *specs((Batch, Embed), (Embed, Hidden)), axis_resources={"batch": ("data", "model")})
    text = low.as_text()
    assert "f32[batch=8@(data, model), hidden=6]" in text
    assert d.print_function(d.parse(text)) == text


def test_stablehlo_carries_mesh_shardings_and_constraints():
    low = lowered(mlp_layer, *specs((Batch, Embed), (Embed, Hidden)), axis_resources={"batch": "data", "hidden": "model"})
    hlo = low.as_text("stablehlo")
    assert 'sdy.mesh @mesh = <["data"=4, "model"=2]>' in hlo
    assert 'sdy.sharding = #sdy.sharding<@mesh, [{"data"}, {}]>' in hlo        # argument x
    assert 'sdy.sharding = #sdy.sharding<@mesh, [{}, {"model"}]>' in hlo       # argument w
    assert 'sdy.sharding_constraint %0 <@mesh, [{"data"}, {"model"}]>' in hlo   # the dot's result
    assert "mhlo.num_partitions = 8 : i32" in hlo and "mhlo.num_replicas = 1 : i32" in hlo


def test_no_mesh_means_no_sharding_anywhere():
    low = named.compile(mlp_layer).lower(*specs((Batch, Embed), (Embed, Hidden)))
    assert "@" not in low.as_text().split(")", 1)[0].replace("func @", "")
    hlo = low.as_text("stablehlo")
    assert "sdy" not in hlo and "num_partitions" not in hlo


def test_mesh_without_mapping_replicates_and_leaves_intermediates_to_propagation():
    low = lowered(mlp_layer, *specs((Batch, Embed), (Embed, Hidden)))
    assert "@data" not in low.as_text() and "on mesh<data=4, model=2>" in low.as_text()
    hlo = low.as_text("stablehlo")
    assert "sdy.sharding = #sdy.sharding<@mesh, [{}, {}]>" in hlo
    assert "named.sharding_constraint" not in low.as_text()
    assert hlo.count("sdy.sharding_constraint") == 1  # the result only, as its sharding says


def test_in_and_out_mappings_add_explicit_constraints():
    low = lowered(lambda x: x * 2, *specs((Batch, Embed)), axis_resources={"embed": "model"},
                  in_axis_resources={"batch": "data"}, out_axis_resources={})
    text = low.as_text()
    assert "%0: f32[batch=8@data, embed=4]" in text
    assert 'named.sharding_constraint %0 {mapping = [["embed", ["model"]]]} : f32[batch=8, embed=4@model]' in text
    assert 'named.sharding_constraint %3 {mapping = []} : f32[batch=8, embed=4]' in text
    assert d.print_function(d.parse(text)) == text


def test_pjit_style_in_out_mappings_leave_intermediates_unconstrained():
    low = lowered(mlp_layer, *specs((Batch, Embed), (Embed, Hidden)),
                  in_axis_resources={"batch": "data"}, out_axis_resources={"batch": "data"})
    fn = low.stages.partitioned
    assert fn.args[0].type.sharding == (("data",), ())
    assert fn.results[0].type.sharding == (("data",),)
    inner = [r.type for op in fn.walk() for r in op.results][:-1]
    assert all(t.sharding is None for t in inner)
    assert low.as_text("stablehlo").count("sdy.sharding_constraint") == 1  # only the result's


# ------------------------------------------------------------------------------ named.shard in IR
def test_shard_records_a_constraint_op_with_its_mapping():
    def f(x, w):
        y = named.dot(x, w, axis="embed")
        return named.shard(y, {"hidden": "model", "other": "data"}) * 2

    low = lowered(f, *specs((Batch, Embed), (Embed, Hidden)), axis_resources={"batch": "data"})
    text = low.as_text()
    # only the operand's axes are kept; the constrained value is split as the explicit mapping says
    assert 'named.sharding_constraint %2 {mapping = [["hidden", ["model"]]]} : f32[batch=8, hidden=6@model]' in text
    assert "named.mul %3, %4 : f32[batch=8@data, hidden=6]" in text
    assert 'sdy.sharding_constraint %1 <@mesh, [{}, {"model"}]>' in low.as_text("stablehlo")
    assert d.print_function(d.parse(text)) == text


def test_shard_without_mapping_uses_the_functions_mapping_or_the_context():
    def f(x):
        return named.shard(x * 2)

    low = lowered(f, *specs((Batch, Embed)), axis_resources={"embed": "model"})
    assert "named.sharding_constraint %2 {mapping = none} : f32[batch=8, embed=4@model]" in low.as_text()
    for stage in ("traced", "partitioned"):
        text = low.as_text(stage, locations=True)
        assert d.print_function(d.parse(text), locations=True) == text

    def g(x):
        with named.axis_mapping({"batch": "data"}):
            return named.shard(x * 2)

    low = lowered(g, *specs((Batch, Embed)), axis_resources={"embed": "model"})
    assert 'named.sharding_constraint %2 {mapping = [["batch", ["data"]]]} : f32[batch=8@data, embed=4]' in low.as_text()


def test_shard_without_a_mesh_is_the_identity():
    def f(x):
        return named.shard(x, {"batch": "data"}) + 1

    x = named.named(np.arange(32, dtype=np.float32).reshape(8, 4), (Batch, Embed))
    low = named.compile(f).lower(x)
    assert "named.sharding_constraint" in low.as_text() and "sdy" not in low.as_text("stablehlo")
    np.testing.assert_allclose(np.asarray(named.compile(f)(x)), np.asarray(x) + 1)
    np.testing.assert_allclose(np.asarray(f(x)), np.asarray(x) + 1)  # eagerly too


def test_sharding_constraint_op_validates_its_mapping():
    x = d.Value(d.TensorType("f32", (Batch, Embed)))
    with pytest.raises(named.AxisError, match="'hidden'.*does not have"):
        d.ShardingConstraint([x], {"mapping": (("hidden", ("data",)),)})
    with pytest.raises(named.VerifyError, match="not an \\[axis, \\[mesh axes\\]\\] pair"):
        d.ShardingConstraint([x], {"mapping": (("batch", "data"),)})
    with pytest.raises(named.VerifyError, match="'batch' is mapped twice"):
        d.ShardingConstraint([x], {"mapping": (("batch", ("data",)), ("batch", ("model",)))})
    with pytest.raises(named.VerifyError, match="must be none or a list"):
        d.ShardingConstraint([x], {"mapping": "batch"})


# ------------------------------------------------------------------------------- ShardingErrors
def test_error_axis_not_divisible_by_mesh_axis():
    Odd = named.Axis("batch", 6)
    with pytest.raises(named.ShardingError) as e:
        lowered(lambda x: x * 2, *specs((Odd, Embed)), axis_resources={"batch": "data"})
    msg = str(e.value)
    assert "'batch' of size 6" in msg and "'data' (size 4)" in msg and "not divisible by 4" in msg
    assert "argument #0" in msg


def test_error_axis_not_divisible_by_a_tuple_of_mesh_axes():
    Twelve = named.Axis("batch", 12)
    with pytest.raises(named.ShardingError, match=r"'batch' of size 12 .*'data' \(size 4\) x 'model' \(size 2\)"):
        lowered(lambda x: x * 2, *specs((Twelve, Embed)), axis_resources={"batch": ("data", "model")})


def test_error_intermediate_not_divisible_names_the_op_and_line():
    Odd = named.Axis("odd", 3)

    def f(x):
        return named.broadcast_axis(x, Odd)

    with pytest.raises(named.ShardingError) as e:
        lowered(f, *specs((Batch,)), axis_resources={"odd": "model"})
    msg = str(e.value)
    assert "'odd' of size 3" in msg and "'model' (size 2)" in msg and "named.broadcast" in msg
    assert "test_partition.py" in msg


def test_error_two_axes_of_one_value_on_one_mesh_axis():
    with pytest.raises(named.ShardingError) as e:
        lowered(lambda x: x * 2, *specs((Batch, Embed)), axis_resources={"batch": "data", "embed": "data"})
    msg = str(e.value)
    assert "'batch' (size 8)" in msg and "'embed' (size 4)" in msg and "mesh axis 'data' (size 4)" in msg


def test_error_two_axes_sharing_one_mesh_axis_through_a_tuple():
    with pytest.raises(named.ShardingError, match="'model'"):
        lowered(lambda x: x * 2, *specs((Batch, Embed)), axis_resources={"batch": ("data", "model"), "embed": "model"})


def test_two_axes_on_one_mesh_axis_are_fine_when_they_never_meet():
    A, B = named.make_axes(a=4, b=12)

    def sum_two_args(x, y):  # the tutorial's example: the axes are reduced before they would meet
        return x.sum("a") + y.sum("b")

    f = named.compile(sum_two_args, axis_resources={"a": "x", "b": "x"}, mesh={"x": 4})
    q = named.named(np.ones(4, np.float32), (A,))
    u = named.named(np.ones(12, np.float32), (B,))
    assert "f32[a=4@x]" in f.lower(q, u).as_text() and "f32[b=12@x]" in f.lower(q, u).as_text()
    assert float(f(q, u).item()) == 16.0

    def meet(x, y):
        return x + y

    with pytest.raises(named.ShardingError, match="'a' \\(size 4\\) and 'b' \\(size 12\\).*'x' \\(size 4\\)"):
        named.compile(meet, axis_resources={"a": "x", "b": "x"}, mesh={"x": 4}).lower(q, u)


def test_error_unknown_mesh_axis():
    with pytest.raises(named.ShardingError) as e:
        lowered(lambda x: x * 2, *specs((Batch, Embed)), axis_resources={"batch": "rows"})
    msg = str(e.value)
    assert "'batch'" in msg and "'rows'" in msg and "<data=4, model=2>" in msg and "data, model" in msg


def test_error_unknown_mesh_axis_in_an_explicit_shard():
    def f(x):
        return named.shard(x, {"batch": "rows"})

    with pytest.raises(named.ShardingError, match="'rows'"):
        lowered(f, *specs((Batch, Embed)))


def test_error_mesh_larger_than_the_devices_present():
    too_big = named.compile(lambda x: x, mesh={"data": 8, "model": 2})  # defining needs no devices
    with pytest.raises(named.ShardingError) as e:
        too_big.lower(*specs((Batch,)))
    msg = str(e.value)
    assert "<data=8, model=2>" in msg and "16 devices" in msg and "only 8" in msg
    with pytest.raises(named.ShardingError, match="16 devices"):
        with named.use_mesh({"data": 16}):
            pass


def test_error_mapping_without_a_mesh():
    with pytest.raises(named.ShardingError, match="without a mesh"):
        named.compile(lambda x: x * 2, axis_resources={"batch": "data"}).lower(*specs((Batch, Embed)))


def test_error_malformed_mapping_and_mesh():
    with pytest.raises(named.ShardingError, match="'batch' is mapped to 3"):
        named.compile(lambda x: x, axis_resources={"batch": 3})
    with pytest.raises(named.ShardingError, match="must be a dict"):
        named.compile(lambda x: x, axis_resources=["batch"])
    with pytest.raises(named.ShardingError, match="mesh must be a jax.sharding.Mesh or a dict"):
        named.compile(lambda x: x, mesh=8)
    with pytest.raises(named.ShardingError, match="'data' must have a positive size, got 0"):
        named.compile(lambda x: x, mesh={"data": 0})
    with pytest.raises(named.ShardingError, match="more than once"):
        lowered(lambda x: x, *specs((Batch,)), axis_resources={"batch": ("data", "data")})


def test_partition_function_directly_on_parsed_ir():
    fn = d.parse("func @f(%0: f32[a=8, b=4]) -> (f32[a=8]) {\n"
                 '  %1 = named.reduce_sum %0 {axes = ["b"]} : f32[a=8]\n'
                 "  return %1\n}\n")
    mesh = d.Mesh((("x", 2), ("y", 2)))
    out = partition(fn, mesh, {"a": "x", "b": "y"})
    assert str(out.args[0].type) == "f32[a=8@x, b=4@y]" and str(out.results[0].type) == "f32[a=8@x]"
    assert partition(fn, None) is fn
    stages = run_pipeline(fn, mesh=mesh, mapping={"a": "x"}, out_mapping={"a": "y"})
    assert str(stages.partitioned.results[0].type) == "f32[a=8@y]"


def test_docstring_examples_run():
    for name in ("named.partitioning", "named.compiler.partition", "named.dialect.ops.sharding", "named.xmap"):
        module = importlib.import_module(name)
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_zero_axis_values_get_no_sharding_constraint():
    import named
    f = named.compile(lambda x: (x * 2.0).sum("batch") + 1.0, axis_resources={"batch": "data"}, mesh={"data": 4})
    hlo = f.lower(named.spec(named.make_axes(batch=8, embed=4))).as_text("stablehlo")
    assert "sharding_constraint" in hlo
    assert "<@mesh, []>" not in hlo.split("func.func")[1].split("return")[0].replace(
        "sdy.sharding = #sdy.sharding<@mesh, []>", "")


def test_results_follow_the_input_mapping_when_only_in_axis_resources_is_given():
    import named
    import numpy as np
    f = named.compile(lambda x: x * 2, in_axis_resources={"batch": "data"}, mesh={"data": 4})
    x = named.named(np.arange(8, dtype=np.float32), ("batch",))
    out = f(x)
    assert out.array.sharding.spec[0] == "data"
    np.testing.assert_array_equal(np.asarray(out), np.arange(8) * 2)
    g = named.compile(lambda x: x * 2, in_axis_resources={"batch": "data"}, out_axis_resources={},
                      mesh={"data": 4})
    assert all(s is None for s in g(x).array.sharding.spec)


def test_a_too_big_mesh_in_use_mesh_points_at_the_with_statement():
    with pytest.raises(named.ShardingError, match="needs 64 devices") as e:
        with named.use_mesh({"data": 64}):
            pass
    assert "test_partition.py" in str(e.value) and "contextlib" not in str(e.value)
