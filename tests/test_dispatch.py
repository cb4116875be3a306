"""Cached calls go straight to jaxlib's C++ dispatcher: the contexts a call is made in (use_mesh,
axis_mapping, a named trace) still decide which executable runs, and wrongly placed arguments are still
re-placed by the checked Python path."""

import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

import named
from named.compiler.tracer import _state as trace_state

Batch, Embed = named.make_axes(batch=8, embed=4)
MESH = {"x": 4, "y": 2}
rng = np.random.default_rng(0)


def data():
    return rng.normal(0, 1, (8, 4)).astype(np.float32)


def test_calling_a_compiled_function_is_calling_the_cpp_dispatcher():
    f = named.compile(lambda x: x * 2)
    assert isinstance(f, named.CompiledFunction) and type(f) is not named.CompiledFunction
    assert type(f).__call__ is f._dispatch  # no Python frame in front of it
    x = named.named(data(), (Batch, Embed))
    for _ in range(3):
        np.testing.assert_allclose(np.asarray(f(x)), np.asarray(x) * 2)
    assert f.cache_size == 1
    f.clear_cache()  # a fresh dispatcher, still the call itself
    assert type(f).__call__ is f._dispatch and f.cache_size == 0
    np.testing.assert_allclose(np.asarray(f(x=x)), np.asarray(x) * 2)
    # each function has its own dispatcher
    g = named.compile(lambda x: x + 1)
    assert type(g).__call__ is not type(f).__call__
    np.testing.assert_allclose(np.asarray(g(x)), np.asarray(x) + 1)
    # static arguments keep the Python path
    h = named.compile(lambda x, k: x * k, static_argnames=("k",))
    assert type(h) is named.CompiledFunction
    np.testing.assert_allclose(np.asarray(h(x, k=3)), np.asarray(x) * 3)


def test_cached_calls_inside_and_outside_mesh_contexts_use_their_own_executables():
    f = named.compile(lambda x: x * 2)
    x = named.named(data(), (Batch, Embed))
    single = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    assert f(x).array.sharding == single and f(x).array.sharding == single
    with named.use_mesh(MESH):
        with named.axis_mapping({"batch": "x"}):
            for _ in range(3):  # later calls come from the C++ cache under this context's key
                out = f(x)
                assert out.array.sharding.spec == P("x")
            np.testing.assert_allclose(np.asarray(out), np.asarray(x) * 2)
            with named.axis_mapping({"embed": "y"}):
                for _ in range(2):
                    assert f(x).array.sharding.spec == P(None, "y")
            assert f(x).array.sharding.spec == P("x")
    for _ in range(2):
        assert f(x).array.sharding == single
    assert f.cache_size == 3  # no mesh; batch -> x; embed -> y


def test_a_call_from_traced_code_is_inlined_even_with_concrete_arguments():
    inner = named.compile(lambda x: named.exp(x))
    c = named.named(data(), (Batch, Embed))
    np.testing.assert_allclose(np.asarray(inner(c)), np.exp(np.asarray(c)), rtol=1e-6)  # cached in C++

    @named.compile
    def outer(y):
        return inner(c) + y  # c is a constant of outer's program: inner's ops are recorded there

    y = named.named(data(), (Batch, Embed))
    np.testing.assert_allclose(np.asarray(outer(y)), np.exp(np.asarray(c)) + np.asarray(y), rtol=1e-6)
    assert "exp" in outer.lower(y).as_text("traced")
    assert inner.cache_size == 1 and not trace_state.stack


def test_a_wrongly_placed_argument_is_replaced_after_the_signature_is_cached():
    f = named.compile(lambda x: x + 1, axis_resources={"batch": "x"}, mesh=MESH)
    xd = data()
    x = named.named(xd, (Batch, Embed))
    for _ in range(2):
        assert f(x).array.sharding.spec == P("x")
    mesh = named.partitioning.resolve_mesh(MESH)[0]
    other = named.named(jax.device_put(xd, jax.sharding.NamedSharding(mesh, P(None, "y"))), (Batch, Embed))
    for _ in range(2):  # a sharding the executable was not compiled for: never handed to PJRT as is
        out = f(other)
        np.testing.assert_allclose(np.asarray(out), xd + 1)
        assert out.array.sharding.spec == P("x")


def test_errors_still_come_from_the_python_path():
    f = named.compile(lambda x: x.sum("embed"))
    f(named.named(data(), (Batch, Embed)))
    with pytest.raises(named.AxisError, match="embed"):
        f(named.named(data(), (Batch, named.Axis("hidden", 4))))
    with pytest.raises(named.AxisError, match="unnamed array"):
        f(np.ones((8, 4), np.float32))
