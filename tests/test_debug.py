"""named.debug: sharding pictures on the 4x2 mesh, array summaries and model checks."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import named
from named.debug import ModuleProblems, describe_array, diagnose_common_issues, visualize_shardings

MESH = {"data": 4, "model": 2}
Batch, Embed, Extra = named.make_axes(batch=8, embed=4, extra=2)


def test_visualize_shardings_draws_device_blocks():
    x = named.shard(named.ones((Batch, Embed)), {"batch": "data", "embed": "model"}, mesh=MESH)
    y = named.shard(named.ones((Embed, Batch)), {"batch": "data"}, mesh=MESH)
    text = visualize_shardings({"x": x, "y": y, "plain": 3})
    x_part, y_part = text.split("\n\n")
    assert x_part.splitlines() == [
        "['x']: f32[batch=8, embed=4]  batch -> data (4 ways), embed -> model (2 ways)",
        "          embed 0:2 embed 2:4",
        "batch 0:2 0         1",
        "batch 2:4 2         3",
        "batch 4:6 4         5",
        "batch 6:8 6         7",
    ]
    # split along the second axis only; each block is held by the two devices of a model pair
    assert y_part.splitlines() == [
        "['y']: f32[embed=4, batch=8]  batch -> data (4 ways)",
        "          batch 0:2 batch 2:4 batch 4:6 batch 6:8",
        "embed 0:4 0,1       2,3       4,5       6,7",
    ]
    # the picture agrees with where the data really is
    for shard in x.array.addressable_shards:
        rows, cols = shard.index
        assert f"batch {rows.start}:{rows.stop}" in x_part and f"embed {cols.start}:{cols.stop}" in x_part
    printed = []
    visualize_shardings(x, print_fn=printed.append)
    assert printed == [x_part.replace("['x']: ", "")]


def test_visualize_inside_compiled_function_and_replicated():
    seen = []

    @named.compile
    def f(x):
        seen.append(visualize_shardings(x))
        return x * 2

    f(named.ones((Batch,)))
    assert seen == ["f32[batch=8]  traced: its sharding is decided when the program is compiled"]
    assert visualize_shardings(named.ones((Extra,))) == "f32[extra=2]  replicated\nextra 0:2 0"


def test_describe_array():
    data = np.array([[1.0, np.nan], [3.0, np.inf]] * 4, np.float32)
    x = named.shard(named.named(data, (Batch, Extra)), {"batch": "data"}, mesh=MESH)
    text = describe_array(x)
    assert text.splitlines() == [
        "f32[batch=8, extra=2]: 16 elements, 64 B, on 8 devices, split batch over data (4 ways); "
        "each device holds batch=2 extra=2 (16 B)",
        "  min 1, max 3, mean 2, 4 nan, 4 inf",
    ]
    ints = describe_array(named.arange(Embed))
    assert ints == "i32[embed=4]: 4 elements, 16 B, on 1 device, not split\n  min 0, max 3"
    with pytest.raises(TypeError, match="takes a NamedArray"):
        describe_array(np.zeros(3))


class Layer(eqx.Module):
    w: named.NamedArray
    b: named.NamedArray
    table: jax.Array = eqx.field(static=True)


def test_diagnose_common_issues():
    w = named.ones((Embed, Extra))
    good = {"layer": Layer(w, named.zeros((Extra,)), table=None), "scale": jnp.float32(1.0)}
    assert diagnose_common_issues(good) is None
    shared = named.ones((Extra,))
    with pytest.warns(UserWarning, match="static"):  # equinox warns too; we say why and where
        layer = Layer(w, shared, table=np.zeros(3))
    bad = {"a": layer, "b": shared, "raw": jnp.ones(5)}
    with pytest.raises(ModuleProblems) as info:
        diagnose_common_issues(bad)
    problems = info.value
    assert problems.reused_arrays == [["['a'].b", "['b']"]]
    assert problems.static_arrays == ["['a'].table"]
    assert problems.unnamed_arrays == ["['raw']"]
    message = str(problems)
    assert "several places" in message and "static field" in message and "without axis names" in message
    assert isinstance(problems, named.NamedError)
