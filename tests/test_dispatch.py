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


# ------------------------------------------------------------------------------------------ eager ops
def _eager_programs():
    return named.eager.eager_cache_size()


def test_eager_fast_paths_match_numpy_and_compile_once():
    W = named.Axis("hidden", 3)
    xd, wd = data(), rng.normal(0, 1, (4, 3)).astype(np.float32)
    x, w = named.named(xd, (Batch, Embed)), named.named(wd, (Embed, W))
    cases = [
        (lambda: x + x, xd + xd, ("batch", "embed")),
        (lambda: (x * x) - x, xd * xd - xd, ("batch", "embed")),
        (lambda: named.exp(x), np.exp(xd), ("batch", "embed")),
        (lambda: x.sum("embed"), xd.sum(1), ("batch",)),
        (lambda: named.sum(x, "batch"), xd.sum(0), ("embed",)),
        (lambda: named.dot(x, w, axis="embed"), xd @ wd, ("batch", "hidden")),
    ]
    for run, want, names in cases:
        run()
        before = _eager_programs()
        for _ in range(3):  # later calls: the C++ dispatcher, no new program
            out = run()
            assert out.axis_names() == names
            np.testing.assert_allclose(np.asarray(out), want, rtol=1e-5, atol=1e-5)
        assert _eager_programs() == before


def test_eager_fast_paths_leave_promotion_errors_and_traces_alone():
    xd = data()
    x = named.named(xd, (Batch, Embed))
    i = named.named(np.arange(32, dtype=np.int32).reshape(8, 4), (Batch, Embed))
    h = named.named(xd.astype(np.float16), (Batch, Embed))
    for _ in range(2):
        np.testing.assert_allclose(np.asarray(named.exp(i)), np.exp(np.arange(32.0).reshape(8, 4)), rtol=1e-5)
        assert named.exp(i).dtype == np.float32
        assert (x + h).dtype == np.float32 and (h + h).dtype == np.float16
        assert i.sum("embed").dtype == np.int32
        b = named.named(np.ones((8, 4), bool), (Batch, Embed))
        assert b.sum("embed").dtype == np.int32 and int(b.sum("embed").sum()) == 32
        with pytest.raises(named.AxisError, match="hidden"):
            x.sum("hidden")
        with pytest.raises(named.AxisError):
            x + named.named(np.ones((8, 5), np.float32), (Batch, named.Axis("embed", 5)))
        with pytest.raises(named.AxisError):
            named.dot(x, named.named(np.ones((5, 3), np.float32), (named.Axis("embed", 5), named.Axis("h", 3))),
                      axis="embed")

    @named.compile
    def f(y):
        return named.exp(x) + y.sum("embed") + named.dot(x, x, axis="embed")  # x: a constant

    y = named.named(data(), (Batch, Embed))
    text = f.lower(y).as_text("traced")
    assert "exp" in text and "dot" in text and "sum" in text
    want = np.exp(xd) + np.asarray(y).sum(1)[:, None] + (xd * xd).sum(1)[:, None]
    # dot(x, x, axis=embed) keeps batch (shared, a batch axis): compare through named's own result order
    out = f(y)
    assert out.axis_names() == ("batch", "embed")
    np.testing.assert_allclose(np.asarray(out), want, rtol=1e-4)
    with jax.disable_jit():
        np.testing.assert_allclose(np.asarray(x + x), xd + xd)


def test_eager_fast_paths_follow_the_operands_placement():
    xd = data()
    mesh = named.partitioning.resolve_mesh(MESH)[0]
    split = named.named(jax.device_put(xd, jax.sharding.NamedSharding(mesh, P("x"))), (Batch, Embed))
    local = named.named(xd, (Batch, Embed))
    for _ in range(2):
        out = split + split
        assert out.array.sharding.spec == P("x")
        np.testing.assert_allclose(np.asarray(out), 2 * xd)
        assert named.exp(split).array.sharding.spec == P("x")
        assert split.sum("embed").array.sharding.spec == P("x")
        single = local + local
        assert isinstance(single.array.sharding, jax.sharding.SingleDeviceSharding)
        np.testing.assert_allclose(np.asarray(single), 2 * xd)


def test_eager_fast_paths_keep_weak_types_and_half_precision_sums_as_jax():
    # weakly typed operands (from Python scalars) and bf16/f16 sums take the checked path's rules
    import jax.numpy as jnp
    wd = jnp.asarray([1.0, 2.0])  # weak f32, as jax makes it
    w = named.named(wd, ("a",))
    for _ in range(2):
        for out, ref in [(w + w, wd + wd), (named.exp(w), jnp.exp(wd)), (w * w - w, wd * wd - wd)]:
            assert out.array.weak_type == ref.weak_type and out.dtype == ref.dtype
            np.testing.assert_allclose(np.asarray(out), np.asarray(ref), rtol=1e-6)
        hd = jnp.asarray(data(), jnp.bfloat16)
        h = named.named(hd, (Batch, Embed))
        out, ref = h.sum("embed"), jnp.sum(hd, axis=1)
        assert out.dtype == ref.dtype
        np.testing.assert_allclose(np.asarray(out, np.float32), np.asarray(ref, np.float32), rtol=1e-2)


def test_a_donating_function_keeps_the_python_call_and_its_typed_error():
    plain = named.compile(lambda x: x * 2)
    donating = named.compile(lambda x: x * 2, donate_argnums=0)
    assert type(type(plain).__dict__["__call__"]).__name__ != "function"  # the C++ dispatcher itself
    assert type(donating).__call__ is named.jit.CompiledFunction.__call__
    x = named.named(data(), (Batch, Embed))
    y = donating(x)
    with pytest.raises(named.DeletedArrayError, match="argument 'x'"):
        donating(x)
    np.testing.assert_allclose(np.asarray(plain(y)), 4 * np.asarray(y) / 2, rtol=1e-6)
    committed = jax.device_put(np.ones((Batch.size, Embed.size), np.float32), jax.devices()[1])
    gone = named.named(committed, (Batch, Embed))
    donating(gone)
    with pytest.raises(named.DeletedArrayError):  # a signature the dispatcher has not seen: the checked path
        plain(gone)
    # Where the C++ dispatcher already knows the signature, the deleted buffer reaches PJRT, whose
    # error is jax.jit's own in the same case (a ValueError saying the buffer was donated).
    with pytest.raises(ValueError, match="deleted or donated"):
        plain(x)


def test_eager_dot_of_mixed_dtypes_matches_the_compiled_dot():
    """The dot fast path converts mixed dtypes inside the op's executable; its dtype, weak type and
    values are those of the traced path, call after call."""
    import jax.numpy as jnp
    x = named.named(np.arange(12, dtype=np.float32).reshape(3, 4), ("a", "b"))
    cases = [named.named(np.arange(4, dtype=np.int32), ("b",)), named.named(np.ones(4, jnp.bfloat16), ("b",)),
             named.named(jnp.asarray(np.ones(4, np.float32)), ("b",))]
    compiled = named.compile(lambda p, q: named.dot(p, q, axis="b"))
    for y in cases:
        for _ in range(2):
            eager, traced = named.dot(x, y, axis="b"), compiled(x, y)
            assert eager.dtype == traced.dtype and not eager.array.weak_type
            np.testing.assert_allclose(np.asarray(eager.array, np.float32), np.asarray(traced.array, np.float32))
