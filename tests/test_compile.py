"""@named.compile: caching, pytrees, static arguments, stages, and the errors users meet first."""

import re

import numpy as np
import pytest

import named
from _named_testing import arr, assert_named_close

A, B, C = named.make_axes(a=3, b=4, c=5)
rng = np.random.default_rng(3)


def r(*shape):
    return rng.normal(0, 1, shape).astype(np.float32)


def test_bare_and_with_options_decorators():
    @named.compile
    def f(x):
        return x * 2

    @named.compile(static_argnames=("scale",))
    def g(x, scale):
        return x * scale

    x = arr(r(3), (A,))
    assert_named_close(f(x), np.asarray(x) * 2, ("a",))
    assert_named_close(g(x, scale=3), np.asarray(x) * 3, ("a",))
    assert isinstance(named.compile(lambda x: x, static_argnums=()), named.CompiledFunction)
    assert f.__name__ == "f" and g.__wrapped__ is not None


def test_second_call_does_not_trace_or_compile():
    traces = []

    @named.compile
    def f(x, y):
        traces.append(1)
        return (x * y).sum("b")

    x, y = arr(r(3, 4), (A, B)), arr(r(4), (B,))
    f(x, y)
    f(x, y)
    f(arr(r(3, 4), (A, B)), arr(r(4), (B,)))
    assert len(traces) == 1 and f.cache_size == 1
    f(arr(r(4, 3), (B, A)), y)   # another axis order is another signature
    assert len(traces) == 2
    f(arr(r(3, 4).astype(np.float16), (A, B)), y)   # another dtype too
    assert len(traces) == 3


def test_static_arguments_key_the_cache():
    traces = []

    @named.compile(static_argnames=("axis",))
    def total(x, axis):
        traces.append(axis)
        return x.sum(axis)

    x = arr(r(3, 4), (A, B))
    assert_named_close(total(x, axis="a"), np.asarray(x).sum(0), ("b",), rtol=1e-5)
    assert_named_close(total(x, "b"), np.asarray(x).sum(1), ("a",), rtol=1e-5)
    total(x, axis="a")
    assert traces == ["a", "b"]
    with pytest.raises(TypeError, match="hashable"):
        total(x, axis=["a"])


def test_pytrees_in_and_out():
    @named.compile
    def f(params, batch, extra=None):
        h = named.dot(batch["x"], params[0]["w"], axis="b") + params[1]
        return {"h": h, "stats": (h.mean(), h.max()), "nothing": None}

    w, bias, x = r(4, 5), r(5), r(3, 4)
    params = [{"w": arr(w, (B, C))}, arr(bias, (C,))]
    out = f(params, {"x": arr(x, (A, B))})
    expected = x @ w + bias
    assert_named_close(out["h"], expected, ("a", "c"), rtol=1e-5)
    assert np.isclose(out["stats"][0].item(), expected.mean(), rtol=1e-5)
    assert np.isclose(out["stats"][1].item(), expected.max(), rtol=1e-6)
    assert out["nothing"] is None


def test_python_scalars_are_traced_weakly():
    traces = []

    @named.compile
    def f(x, lr):
        traces.append(1)
        return x - lr * x

    import ml_dtypes
    x = arr(r(3).astype(ml_dtypes.bfloat16), (A,))
    out = f(x, 0.5)
    assert out.dtype == ml_dtypes.bfloat16
    f(x, 0.25)
    assert len(traces) == 1
    assert_named_close(f(x, 0.25), np.asarray(x).astype(np.float32) * 0.75, ("a",), rtol=1e-2)
    assert named.compile(lambda n: named.arange(A) * n)(2).dtype == np.int32


def test_scalar_results_and_zero_axis_arrays():
    f = named.compile(lambda x: (x.sum(), 3.0))
    s, c = f(arr(r(3), (A,)))
    assert s.axes == () and c.axes == () and c.item() == 3.0
    zero = named.compile(lambda x: x + 1)(np.float32(2.0))
    assert zero.item() == 3.0


def test_closure_over_concrete_arrays_becomes_a_constant():
    table = arr(r(4), (B,))
    f = named.compile(lambda x: x * table)
    x = arr(r(3, 4), (A, B))
    assert_named_close(f(x), np.asarray(x) * np.asarray(table), ("a", "b"), rtol=1e-6)
    assert "named.constant" in f.lower(x).as_text()


def test_nested_compiled_functions_inline():
    inner = named.compile(lambda x: x * 2)
    outer = named.compile(lambda x: inner(x) + 1)
    x = arr(r(3), (A,))
    assert_named_close(outer(x), np.asarray(x) * 2 + 1, ("a",))
    assert inner.cache_size == 0


def test_lower_stages_and_compiled_text():
    @named.compile
    def f(x, w):
        return named.nn.relu(named.dot(x, w, axis="b")).sum("c")

    low = f.lower(named.spec((A, B)), named.spec({"b": 4, "c": 5}, "f32"))
    ir = low.as_text()
    assert "func @f(%0: f32[a=3, b=4], %1: f32[b=4, c=5]) -> (f32[a=3])" in ir
    assert "named.dot" in ir and "named.reduce_sum" in ir
    assert "test_compile.py" in low.as_text(locations=True)
    assert low.as_text("traced").startswith("func @f")
    hlo = low.as_text("stablehlo")
    assert "stablehlo.dot_general" in hlo and "func.func public @main" in hlo
    compiled = low.compile()
    assert "HloModule" in compiled.as_text()
    x, w = arr(r(3, 4), (A, B)), arr(r(4, 5), (B, C))
    assert_named_close(compiled(x, w), np.maximum(np.asarray(x) @ np.asarray(w), 0).sum(1), ("a",), rtol=1e-5)
    with pytest.raises(named.AxisError, match="do not match the compiled signature"):
        compiled(arr(r(4, 3), (B, A)), w)
    with pytest.raises(ValueError, match="unknown stage"):
        low.as_text("bogus")
    assert f.cache_size == 0  # lowering does not populate the call cache


def test_eager_and_compiled_programs_agree():
    def program(x, y):
        z = named.exp(x) * y - named.log1p(named.abs(y))
        return named.softmax(z, "c") if hasattr(named, "softmax") else named.nn.softmax(z, "c")

    x, y = arr(r(3, 5), (A, C)), arr(r(5, 4), (C, B))
    eager = program(x, y)
    compiled = named.compile(program)(x, y)
    assert eager.axes == compiled.axes
    np.testing.assert_allclose(np.asarray(eager), np.asarray(compiled), rtol=1e-6, atol=1e-7)


class TestErrors:
    def test_unnamed_array_argument_says_how_to_name_it(self):
        f = named.compile(lambda x: x * 2)
        with pytest.raises(named.AxisError) as e:
            f(np.zeros((3, 4), np.float32))
        msg = str(e.value)
        assert "unnamed array of shape (3, 4)" in msg and "named.named(x, ('axis0', 'axis1'))" in msg
        assert "'x'" in msg

    def test_unnamed_array_in_a_pytree_names_the_path(self):
        f = named.compile(lambda params: params["w"])
        with pytest.raises(named.AxisError, match=r"'params'\['w'\]"):
            f({"w": np.zeros(3, np.float32)})

    def test_unsupported_argument_type(self):
        with pytest.raises(TypeError, match="static_argnames"):
            named.compile(lambda x, s: x)(arr(r(3), (A,)), "text")

    def test_python_if_on_traced_value_is_tracer_error_with_location(self):
        @named.compile
        def f(x):
            if x.sum() > 0:   # not allowed on traced values
                return x
            return -x

        with pytest.raises(named.TracerError) as e:
            f(arr(r(3), (A,)))
        msg = str(e.value)
        assert "named.where" in msg and "named.cond" in msg and "test_compile.py:" in msg
        assert isinstance(e.value, TypeError)

    @pytest.mark.parametrize("convert", [int, float, bool, np.asarray, lambda t: t.item()])
    def test_conversions_of_traced_values(self, convert):
        with pytest.raises(named.TracerError):
            named.compile(lambda x: convert(x.sum()))(arr(r(3), (A,)))

    def test_axis_mismatch_inside_compiled_code_points_at_user_line(self):
        @named.compile
        def f(x, y):
            return x + y

        with pytest.raises(named.AxisError) as e:
            f(arr(r(3), (A,)), arr(r(4), ("a",)))
        msg = str(e.value)
        assert "'a'" in msg and "size 3" in msg and "size 4" in msg
        assert "test_compile.py:" in msg and "named.add" in msg
        assert isinstance(e.value, ValueError)

    def test_bad_results(self):
        with pytest.raises(TypeError, match="results must be NamedArrays"):
            named.compile(lambda x: "text")(arr(r(3), (A,)))


class TestCachedCallPath:
    """Cached calls run through jaxlib's C++ dispatcher; these pin what it must never get wrong."""

    def test_differently_placed_arguments_are_re_placed_on_every_call(self):
        import jax
        f = named.compile(lambda x: x * 2)
        data = r(8)
        x = arr(data, ("i",))
        assert_named_close(f(x), data * 2, ("i",))
        mesh = jax.sharding.Mesh(np.array(jax.devices()[:4]), ("d",))
        sharded = named.named(jax.device_put(data, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("d"))),
                              ("i",))
        for _ in range(3):  # a signature that needed re-placing is never handed to the fast path
            out = f(sharded)
            assert_named_close(out, data * 2, ("i",))
            assert out.array.sharding == f(x).array.sharding

    def test_contexts_opened_after_caching_still_apply(self):
        f = named.compile(lambda x: x + 1)
        x = arr(r(8, 4), ("batch", "embed"))
        f(x)
        f(x)  # now cached by the dispatcher
        with named.use_mesh({"data": 4}), named.axis_mapping({"batch": "data"}):
            out = f(x)
        assert out.array.sharding.spec[0] == "data"
        assert len(f(x).array.sharding.device_set) == 1  # outside the block: one device again

    def test_traced_calls_inline_even_after_caching(self):
        inner = named.compile(lambda x: x * 3)
        x = arr(r(4), ("i",))
        inner(x)
        outer = named.compile(lambda x: inner(x) + 1)
        assert_named_close(outer(x), np.asarray(x) * 3 + 1, ("i",))
        assert "named.mul" in outer.lower(x).as_text()

    def test_keyword_arguments_and_clear_cache(self):
        traces = []

        @named.compile
        def f(x, *, y):
            traces.append(1)
            return x - y

        x, y = arr(r(4), ("i",)), arr(r(4), ("i",))
        f(x, y=y)
        f(x, y=y)
        assert len(traces) == 1
        f.clear_cache()
        assert_named_close(f(x, y=y), np.asarray(x) - np.asarray(y), ("i",))
        assert len(traces) == 2


def test_compiled_hlo_metadata_names_the_users_line():
    @named.compile
    def f(x):
        return named.exp(x) * 2   # this line is the one the HLO must name

    hlo = f.lower(named.spec((A,))).compile().as_text()
    # As jax's: each op's metadata points (stack_frame_id) into a table of file names and lines.
    line = f.fn.__code__.co_firstlineno + 2
    assert re.search(r'FileNames\n1 ".*test_compile.py"', hlo)
    assert f"line={line} " in hlo and 'op_name="f/exp" stack_frame_id=' in hlo


def test_complex_conjugate():
    z = np.array([1 + 2j, 3 - 4j, -1j], np.complex64)
    got = named.compile(named.conj)(named.named(z, (A,)))
    np.testing.assert_array_equal(np.asarray(got), np.conj(z))
    np.testing.assert_array_equal(np.asarray(named.conjugate(named.named(z, (A,)))), np.conj(z))
