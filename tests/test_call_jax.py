"""named.call_jax: jax code (jnp, jax.nn, optax, jax.checkpoint, shard_map) inside named programs."""

import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

import named
from named.compiler import lower_function
from named.dialect import CallJax, parse, print_function
from named.runtime import Executable

Batch, Seq, Heads, HeadDim, Embed = named.make_axes(batch=8, seq=4, heads=2, head_dim=4, embed=6)
MESH = {"data": 4, "model": 2}
HERE = Path(__file__).name


def _data(*axes, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return named.named(rng.normal(size=tuple(a.size for a in axes)).astype(dtype), axes)


def _jax_mesh():
    return jax.sharding.Mesh(np.array(jax.devices()).reshape(4, 2), ("data", "model"))


# ------------------------------------------------------------------------------------- values
def test_eager_call_matches_jax_and_keeps_axes():
    x = _data(Batch, Embed)
    y = named.call_jax(jax.nn.gelu, x)
    assert y.axes == x.axes
    np.testing.assert_allclose(np.asarray(y), jax.nn.gelu(x.array), rtol=1e-6)
    # a static Python leaf is a constant of the lowered code; a pytree of outputs with out_axes
    total, scaled = named.call_jax(lambda a, k: (a.sum(axis=1), a * k), x, 3.0,
                                   out_axes=(("batch",), (Batch, Embed)))
    assert total.axes == (Batch,) and scaled.axes == (Batch, Embed)
    np.testing.assert_allclose(np.asarray(total), np.asarray(x).sum(1), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(scaled), 3 * np.asarray(x), rtol=1e-6)


def test_compiled_call_mixes_with_named_ops_and_matches_eager():
    x, w = _data(Batch, Embed), _data(Embed, Heads, seed=1)

    def f(x, w):
        h = named.call_jax(lambda a: jax.nn.softmax(a, axis=-1), x)  # over embed: the last axis of x
        return named.dot(h, w, axis=Embed).sum("heads")

    eager, compiled = f(x, w), named.compile(f)(x, w)
    expected = (jax.nn.softmax(x.array, axis=-1) @ w.array).sum(1)
    for got in (eager, compiled):
        assert got.axes == (Batch,)
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5)


def test_zero_dim_arrays_are_zero_axis_operands_and_results():
    x = _data(Embed)
    out = named.call_jax(lambda a, s: (a * s, jnp.sum(a)), x, np.float32(2.0))
    np.testing.assert_allclose(np.asarray(out[0]), 2 * np.asarray(x), rtol=1e-6)
    assert out[1].axes == () and np.isclose(out[1].item(), np.asarray(x).sum(), rtol=1e-5)


def test_decorator_form():
    @named.jax_function(out_axes=("batch",))
    def row_norms(a):
        return jnp.sqrt((a * a).sum(axis=1))

    @named.jax_function
    def double(a):
        return 2 * a

    x = _data(Batch, Embed)
    np.testing.assert_allclose(np.asarray(row_norms(x)), np.linalg.norm(np.asarray(x), axis=1), rtol=1e-5)
    assert named.compile(lambda a: double(a))(x).axes == x.axes


def test_pallas_kernel_in_interpret_mode():
    from jax.experimental import pallas as pl

    def kernel(x_ref, y_ref, o_ref):
        o_ref[...] = x_ref[...] * 2 + y_ref[...]

    def fused(x, y):
        return pl.pallas_call(kernel, out_shape=jax.ShapeDtypeStruct(x.shape, x.dtype), interpret=True)(x, y)

    x, y = _data(Batch, Embed), _data(Batch, Embed, seed=1)
    out = named.compile(lambda x, y: named.call_jax(fused, x, y))(x, y)
    np.testing.assert_allclose(np.asarray(out), 2 * np.asarray(x) + np.asarray(y), rtol=1e-6)


def test_call_jax_in_a_scan_body_and_its_gradient():
    Time = named.Axis("time", 5)
    xs = _data(Time, Embed)

    def step(c, x):
        c = named.call_jax(jnp.tanh, c + x)
        return c, c

    def final(xs):
        return named.scan(step, "time")(named.zeros((Embed,)), xs)[0].sum()

    def reference(xs):
        return jax.lax.scan(lambda c, x: (jnp.tanh(c + x),) * 2, jnp.zeros(6, jnp.float32), xs)[0].sum()

    value, grad = named.compile(named.value_and_grad(final))(xs)
    want_value, want_grad = jax.jit(jax.value_and_grad(reference))(xs.array)
    np.testing.assert_allclose(value.item(), want_value, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(grad), want_grad, rtol=1e-5, atol=1e-6)


# -------------------------------------------------------------------------------------- sharded
def test_sharded_program_with_call_jax_and_shard_map_collectives():
    mesh = _jax_mesh()

    def column_sums(a):  # per-device code: sum the local rows, then psum over the data axis
        def local(block):
            return jax.lax.psum(block.sum(axis=0, keepdims=True), "data")
        return jax.shard_map(local, mesh=mesh, in_specs=P("data", "model"), out_specs=P(None, "model"))(a)

    @named.compile(mesh=mesh, axis_resources={"batch": "data", "embed": "model"})
    def f(x):
        y = named.call_jax(jnp.tanh, x) * 2
        sums = named.call_jax(column_sums, x, out_axes=(named.Axis("one", 1), "embed"))
        return y, sums

    x = _data(Batch, Named := named.Axis("embed", 4))
    y, sums = f(x)
    np.testing.assert_allclose(np.asarray(y), 2 * np.tanh(np.asarray(x)), rtol=1e-6)
    assert y.array.sharding.spec == P("data", "model")
    np.testing.assert_allclose(np.asarray(sums)[0], np.asarray(x).sum(0), rtol=1e-5)
    assert sums.axes == (named.Axis("one", 1), Named)
    hlo = f.lower(x).as_text("stablehlo")
    assert hlo.count("sdy.mesh @") == 1 and "sdy.manual_computation" in hlo and "call @calljax_column_sums" in hlo
    # the embedded tanh runs on each device's block: the operand's sharding reached it
    compiled = named.compile(lambda a: named.call_jax(jnp.tanh, a), mesh=mesh,
                             axis_resources={"batch": "data", "embed": "model"}).lower(x).compile().as_text()
    assert "f32[2,2]" in compiled and "f32[8,4]" not in compiled and "all-gather" not in compiled


def test_several_shard_map_functions_with_collectives_in_one_program():
    mesh = _jax_mesh()

    def psum_over(axis):
        def fn(a):
            return jax.shard_map(lambda b: jax.lax.psum(b, axis), mesh=mesh, in_specs=P("data", "model"),
                                 out_specs=P("data", "model"))(a)
        fn.__name__ = f"psum_{axis}"
        return fn

    over_data, over_model = psum_over("data"), psum_over("model")

    @named.compile(mesh=mesh, axis_resources={"batch": "data", "embed": "model"})
    def f(x):
        a = named.call_jax(over_data, x)
        b = named.call_jax(over_data, named.call_jax(over_model, x))
        return named.call_jax(jnp.exp, a + b)

    x = _data(Batch, named.Axis("embed", 4))
    data = np.asarray(x)
    by_data = np.tile(data.reshape(4, 2, 4).sum(0), (4, 1))  # each block replaced by the sum over data
    by_model = np.concatenate([data.reshape(8, 2, 2).sum(1)] * 2, axis=1)
    both = np.tile(by_model.reshape(4, 2, 4).sum(0), (4, 1))
    np.testing.assert_allclose(np.asarray(f(x)), np.exp(by_data + both), rtol=1e-5)


def test_eager_call_on_sharded_operands_keeps_their_sharding():
    with named.use_mesh(MESH):
        x = named.shard(_data(Batch, Embed), {"batch": "data"})
        y = named.call_jax(jnp.sin, x)
    assert y.array.sharding.spec == P("data")
    np.testing.assert_allclose(np.asarray(y), np.sin(np.asarray(x)), rtol=1e-6)


def test_mesh_mismatch_is_a_verify_error():
    mesh = _jax_mesh()

    def psum_rows(a):
        return jax.shard_map(lambda b: jax.lax.psum(b, "data"), mesh=mesh, in_specs=P("data"), out_specs=P())(a)

    x = _data(Batch, Embed)
    with pytest.raises(named.VerifyError, match=r"device mesh .*data.*not partitioned"):
        named.compile(lambda a: named.call_jax(psum_rows, a, out_axes=("b2", "embed")))(x)


# ------------------------------------------------------------------------------------- gradients
def test_grad_through_call_jax_matches_jax_grad_eager_and_sharded():
    def jax_part(a, b, n):
        return jnp.sin(a) * b ** 2 + n, jnp.cos(a).sum()

    def loss(x, y, n):
        first, second = named.call_jax(jax_part, x, y, n)
        return (first * first).sum() + second

    x, y = _data(Batch, Embed), _data(Batch, Embed, seed=1)
    n = named.named(np.arange(8, dtype=np.float32)[:, None] * np.ones((1, 6), np.float32), (Batch, Embed))

    def reference(a, b, c):
        first, second = jax_part(a, b, c)
        return (first * first).sum() + second
    want = jax.jit(jax.grad(reference, argnums=(0, 1)))(x.array, y.array, n.array)
    grad = named.grad(loss, argnums=(0, 1))
    sharded = named.compile(grad, mesh=MESH, axis_resources={"batch": "data"})
    for gx, gy in (grad(x, y, n), sharded(x, y, n)):
        np.testing.assert_allclose(np.asarray(gx), want[0], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(np.asarray(gy), want[1], rtol=1e-5, atol=1e-5)
    text = named.compile(grad).lower(x, y, n).as_text()
    assert text.count("named.call_jax") == 2 and 'callee = "vjp_jax_part"' in text


def test_second_order_gradient_through_call_jax():
    x = named.named(np.linspace(0.1, 1, 4).astype(np.float32), (named.Axis("e", 4),))
    first = named.grad(lambda a: named.call_jax(jnp.sin, a).sum())
    second = named.compile(named.grad(lambda a: first(a).sum()))(x)
    np.testing.assert_allclose(np.asarray(second), -np.sin(np.asarray(x)), rtol=1e-5)


def test_jax_function_carrying_its_own_checkpoint():
    block = jax.checkpoint(lambda a: jnp.tanh(jnp.sin(a) @ jnp.ones((6, 6), jnp.float32)))
    x = _data(Batch, Embed)
    loss = named.value_and_grad(lambda a: named.call_jax(block, a).sum())
    value, grad = named.compile(loss)(x)
    want_value, want_grad = jax.jit(jax.value_and_grad(lambda a: block(a).sum()))(x.array)
    np.testing.assert_allclose(value.item(), want_value, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(grad), want_grad, rtol=1e-5, atol=1e-6)


def test_dot_product_attention_inside_a_named_model():
    q, k, v = (_data(Batch, Seq, Heads, HeadDim, seed=s) for s in range(3))
    w = _data(Heads, HeadDim, Embed, seed=3)

    def attention_block(q, k, v, w):
        # jax.nn.dot_product_attention wants (batch, seq, heads, head_dim) positionally
        order = (Batch, Seq, Heads, HeadDim)
        q, k, v = (t.rearrange(order) for t in (q, k, v))
        out = named.call_jax(lambda a, b, c: jax.nn.dot_product_attention(a, b, c, is_causal=True), q, k, v)
        return named.dot(out, w, axis=(Heads, HeadDim))

    @jax.jit
    def reference(q, k, v, w):
        out = jax.nn.dot_product_attention(q, k, v, is_causal=True)
        return jnp.einsum("bshd,hde->bse", out, w)

    got = named.compile(attention_block)(q, k.rearrange((Heads, Batch, Seq, HeadDim)), v, w)
    want = reference(q.array, k.array, v.array, w.array)
    np.testing.assert_allclose(np.asarray(got.rearrange((Batch, Seq, Embed))), want, rtol=1e-5, atol=1e-5)
    gq = named.compile(named.grad(lambda q, k, v, w: attention_block(q, k, v, w).sum()))(q, k, v, w)
    want_gq = jax.jit(jax.grad(lambda a: reference(a, k.array, v.array, w.array).sum()))(q.array)
    np.testing.assert_allclose(np.asarray(gq.rearrange((Batch, Seq, Heads, HeadDim))), want_gq,
                               rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------------ optax
def _example():
    path = Path(__file__).resolve().parent.parent / "examples" / "train_optax.py"
    spec = importlib.util.spec_from_file_location("train_optax_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_optax_adamw_inside_one_compiled_step_matches_optax_outside_on_the_mesh():
    example = _example()
    inside = example.train_named(mesh=MESH, mapping=example.MAPPING)
    outside = example.train_optax_outside(mesh=MESH, mapping=example.MAPPING)
    assert example.max_difference(inside, outside) <= 1e-6
    assert inside[0][-1] < 0.1 * inside[0][0]


# ------------------------------------------------------------------------------------ the IR
def test_ir_text_round_trips_and_the_parsed_program_runs():
    x = _data(Batch, Embed)

    @named.compile
    def f(x):
        a = named.call_jax(jax.nn.gelu, x)
        b = named.call_jax(lambda t: jnp.where(t > 0, t, 0.5 * t), x)  # a second module: no clash
        return named.call_jax(jax.nn.gelu, a + b)

    text = f.lower(x).as_text()
    assert '\\n' in text and '\\"' in text  # the module is one escaped string attribute
    fn = parse(text)
    assert print_function(fn) == text
    ops = [op for op in fn.walk() if isinstance(op, CallJax)]
    assert len(ops) == 3 and ops[0].attrs["module"] == ops[2].attrs["module"]
    hlo = str(lower_function(fn))
    assert hlo.count("func.func private @calljax_gelu_") == 1  # one embedded copy per distinct module
    assert hlo.count("func.func private @calljax_fn_") == 2  # the lambda's @main and jnp.where's helper
    out = Executable(hlo, fn)([x.array])
    np.testing.assert_allclose(np.asarray(out[0]), np.asarray(f(x)), rtol=1e-6)


def test_operand_types_are_checked_against_the_carried_signature():
    text = named.compile(lambda x: named.call_jax(jnp.sin, x)).lower(_data(Batch, Embed)).as_text()
    swapped = text.replace("%0: f32[batch=8, embed=6]", "%0: f32[embed=6, batch=8]", 1)
    swapped = swapped.replace("-> (f32[batch=8, embed=6])", "-> (f32[batch=8, embed=6])")
    with pytest.raises(named.ParseError, match=r"operand #0 has type f32\[embed=6, batch=8\].*lowered for"):
        parse(swapped)
    # a module whose @main disagrees with the op's types is caught when lowering
    lying = text.replace("tensor<8x6xf32>", "tensor<8x5xf32>")
    with pytest.raises(named.VerifyError, match=r"signature .*8x5xf32"):
        lower_function(parse(lying))


def test_grad_of_parsed_call_jax_names_the_missing_function():
    from named.compiler import GradientError, grad_function
    x = _data(Batch, Embed)
    text = named.compile(lambda x: named.call_jax(lambda t: jnp.sum(t * 1.5), x)).lower(x).as_text()
    text = text.replace("1.500000e+00", "2.500000e+00")  # a module no Python function produced here
    with pytest.raises(GradientError, match="not known in this process"):
        grad_function(parse(text))


# ------------------------------------------------------------------------------------ errors
def test_out_axes_errors_name_the_problem_and_the_line():
    x = _data(Batch, Embed)
    with pytest.raises(named.AxisError, match=r"embed=5.*size 6") as e:
        named.call_jax(jnp.sin, x, out_axes=(Batch, named.Axis("embed", 5)))
    assert HERE in str(e.value)
    with pytest.raises(named.AxisError, match=r"2 axis/axes .* shape \(8,\)"):
        named.call_jax(lambda a: a.sum(1), x, out_axes=("batch", "embed"))
    with pytest.raises(named.AxisError, match="structure"):
        named.call_jax(lambda a: (a, a), x, out_axes=("batch", "embed"))
    with pytest.raises(named.AxisError, match="names an axis twice"):
        named.call_jax(jnp.sin, x, out_axes=("batch", "batch"))
    with pytest.raises(named.AxisError, match=r"cannot tell the axes of output .* shape \(8,\).*out_axes=") as e:
        named.compile(lambda a: named.call_jax(lambda t: t.sum(1), a))(x)
    assert HERE in str(e.value)


def test_bad_arguments_are_typed_errors():
    x = _data(Batch, Embed)
    with pytest.raises(named.AxisError, match=r"unnamed array of shape \(8, 6\)"):
        named.call_jax(jnp.add, x, np.ones((8, 6), np.float32))
    with pytest.raises(named.TracerError, match=r"not its .array"):
        named.compile(lambda a: named.call_jax(jnp.sin, a.array))(x)
    with pytest.raises(named.TracerError, match=r"call_jax\(bad\).*could not trace") as e:
        def bad(a):
            return a @ jnp.ones((5, 2))
        named.call_jax(bad, x)
    assert HERE in str(e.value)


@pytest.mark.parametrize("use", [lambda a: jnp.sin(a.array), lambda a: jax.nn.gelu(a.array),
                                 lambda a: jnp.asarray(a.array) + 1, lambda a: a.array @ jnp.ones((6,))],
                         ids=["jnp.sin", "jax.nn.gelu", "jnp.asarray", "matmul"])
def test_jax_code_on_traced_values_points_to_call_jax(use):
    with pytest.raises(named.TracerError, match=r"traced value of a NamedArray \(f32\[batch=8, embed=6\]\).*"
                                                r"named.call_jax") as e:
        named.compile(use)(_data(Batch, Embed))
    assert HERE in str(e.value)


def test_docstring_examples_run():
    import doctest
    import importlib
    module = importlib.import_module("named.interop.call_jax")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_named_opt_lowers_ir_text_with_call_jax(tmp_path, capsys):
    from named.cli import main
    x = _data(Batch, Embed)
    text = named.compile(lambda a: named.call_jax(jnp.sin, a) + named.call_jax(jnp.sin, a),
                         builtin_passes=False).lower(x).as_text()
    (tmp_path / "prog.nir").write_text(text)
    assert main(["opt", str(tmp_path / "prog.nir"), "-p", "cse,dce"]) == 0
    optimized = capsys.readouterr().out
    assert optimized.count("named.call_jax") == 1  # the two identical calls are one after CSE
    assert main(["opt", str(tmp_path / "prog.nir"), "--lower"]) == 0
    hlo = capsys.readouterr().out
    assert hlo.count("func.func private @calljax_sin_") == 1 and "stablehlo.sine" in hlo


def test_out_axes_named_like_an_input_axis_must_keep_its_size():
    # a transposed output named in the input's order would otherwise swap the sizes silently
    B, E = named.make_axes(batch=4, embed=8)
    x = named.ones((B, E))
    with pytest.raises(named.AxisError, match="'batch'.*size 4 in the inputs") as info:
        named.call_jax(lambda a: a.T, x, out_axes=("batch", "embed"))
    assert "test_call_jax.py" in str(info.value)
    assert named.call_jax(lambda a: a.T, x, out_axes=("embed", "batch")).shape == {"embed": 8, "batch": 4}
