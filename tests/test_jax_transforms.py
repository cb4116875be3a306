"""named code under jax transformations (issue 10, section 1): eager named ops and named.compile'd
functions traced by jax.jit, jax.grad / value_and_grad / vjp, jax.vmap, jax.lax.scan, jax.checkpoint
and equinox's filtered transformations give named's own results; gradients come from named's VJP
rules and match named.grad and jax.grad of a positional twin; on one device and on the 4x2 mesh."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

import named

B, E, H = named.make_axes(b=4, e=3, h=2)
MESH = {"data": 4, "model": 2}


def close(a, b, tol=1e-5):
    a = a.array if isinstance(a, named.NamedArray) else a
    b = b.array if isinstance(b, named.NamedArray) else b
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = named.named(jnp.asarray(rng.normal(size=(4, 3)), jnp.float32), ("b", "e"))
    w = named.named(jnp.asarray(rng.normal(size=(3, 2)), jnp.float32), ("e", "h"))
    return x, w


def layer(w, x):
    """Elementwise, dot, reduction, a rearrange and an index: the ops a model is made of."""
    h = named.tanh(named.dot(x, w, axis="e")) * 2.0 + 1.0
    h = named.rearrange(h, "b h -> h b")
    return (h ** 2).sum() + named.nn.softmax(h, "b")["b", 1].sum()


def layer_twin(w, x):  # the same function on positional arrays
    h = jnp.tanh(x @ w) * 2.0 + 1.0
    h = h.T
    return (h ** 2).sum() + jax.nn.softmax(h, axis=1)[:, 1].sum()


compiled_layer = named.compile(layer)


# ------------------------------------------------------------------------------------------ jax.jit
def test_jit_over_eager_ops_and_a_compiled_function(data):
    x, w = data
    expected = layer(w, x)
    close(jax.jit(layer)(w, x), expected)
    close(jax.jit(compiled_layer)(w, x), expected)
    close(expected, layer_twin(w.array, x.array))
    out = jax.jit(lambda w, x: named.dot(x, w, axis="e"))(w, x)
    assert isinstance(out, named.NamedArray) and out.axes == (B, H)


def test_a_compiled_function_is_one_call_of_its_own_lowering(data):
    x, w = data
    text = jax.jit(lambda w, x: compiled_layer(w, x) + 1.0).lower(w, x).as_text()
    main = text.split("func.func private")[0]
    assert main.count("call @named_layer") == 1 and "stablehlo.tanh" not in main
    assert "func.func private @named_layer" in text and "stablehlo.dot_general" in text


# ------------------------------------------------------------------------------------------ grad
def test_grad_matches_named_grad_and_a_positional_twin(data):
    x, w = data
    expected = named.grad(layer)(w, x)
    twin = jax.grad(layer_twin)(w.array, x.array)
    close(expected, twin, 1e-4)
    scalar = lambda w, x: layer(w, x).array  # noqa: E731
    close(jax.grad(scalar)(w, x), expected, 1e-4)
    close(jax.jit(jax.grad(lambda w, x: compiled_layer(w, x).array))(w, x), expected, 1e-4)
    value, g = jax.value_and_grad(scalar, argnums=(0, 1))(w, x)
    close(value, layer(w, x))
    close(g[1], jax.grad(layer_twin, argnums=1)(w.array, x.array), 1e-4)
    out, pullback = jax.vjp(lambda w: named.dot(x, w, axis="e"), w)
    ct = named.ones((B, H))
    (gw,) = pullback(ct)
    close(gw, x.array.T @ np.ones((4, 2), np.float32))


def test_second_order_reverse_mode(data):
    x, _ = data
    v = x.array[0]
    f = lambda a: (named.sin(named.named(a, ("e",))) ** 3).sum().array  # noqa: E731
    twin = lambda a: (jnp.sin(a) ** 3).sum()  # noqa: E731
    close(jax.jacrev(jax.jacrev(f))(v), jax.hessian(twin)(v), 1e-4)
    g = named.compile(lambda a: (named.sin(a) ** 3).sum())
    close(jax.grad(lambda a: jax.grad(lambda b: g(named.named(b, ("e",))).array)(a).sum())(v),
          jax.grad(lambda a: jax.grad(twin)(a).sum())(v), 1e-4)


def test_forward_mode_jvp_jacfwd_and_hessian(data):
    x, _ = data
    v = x.array[0]
    f = lambda a: (named.sin(named.named(a, ("e",))) ** 3).sum().array  # noqa: E731
    twin = lambda a: (jnp.sin(a) ** 3).sum()  # noqa: E731
    value, tangent = jax.jvp(f, (v,), (jnp.ones(3),))
    expected = jax.jvp(twin, (v,), (jnp.ones(3),))
    close(value, expected[0])
    close(tangent, expected[1], 1e-4)
    close(jax.hessian(f)(v), jax.hessian(twin)(v), 1e-4)
    g = named.compile(lambda a: named.exp(a) * a)
    close(jax.jit(jax.jacfwd(lambda a: g(named.named(a, ("e",))).array))(v), np.diag(np.exp(v) * (1 + v)), 1e-4)


# ------------------------------------------------------------------------------------------ vmap
def test_vmap_adds_an_axis_user_code_never_sees(data):
    x, w = data
    seen = []

    def per_row(row):  # row: f32[3], named "e" inside; the batch axis is invisible
        r = named.named(row, ("e",))
        seen.append(r.axes)
        return (named.dot(r, w, axis="e") * r.sum()).array

    out = jax.vmap(per_row)(x.array)
    assert seen == [(E,)]
    close(out, np.stack([per_row(np.asarray(row)) for row in x.array]))
    cols = jax.vmap(per_row, in_axes=1, out_axes=1)(x.array.T)
    close(cols, out.T)
    vg = jax.vmap(jax.grad(lambda row: named.tanh(named.named(row, ("e",))).sum().array))(x.array)
    close(vg, 1 - np.tanh(x.array) ** 2)


def test_vmap_of_shape_ops_rearrange_and_a_compiled_function(data):
    x, w = data
    merged = jax.vmap(lambda a: named.rearrange(named.named(a, ("e", "h")), "e h -> (m: h e)").array)
    ws = jnp.stack([w.array, 2 * w.array])
    close(merged(ws), np.stack([w.array.T.reshape(6), 2 * w.array.T.reshape(6)]))
    moved = jax.vmap(lambda a: named.rearrange(named.named(a, ("e", "h")), "e h -> h e").array, in_axes=2)
    close(moved(jnp.stack([w.array, w.array], axis=2)), np.stack([w.array.T] * 2))
    xs = jnp.stack([x.array, -x.array])
    close(jax.vmap(lambda a: compiled_layer(w, named.named(a, ("b", "e"))).array)(xs),
          [layer(w, named.named(a, ("b", "e"))).array for a in xs])


def test_vmap_over_keys_matches_a_loop():
    keys = jnp.stack([named.random.key(i).data.array for i in range(3)])
    sample = lambda k: named.random.normal(named.random._key(k), (E,)).array  # noqa: E731
    close(jax.vmap(sample)(keys), np.stack([sample(k) for k in keys]))


# ------------------------------------------------------------------------ scan, checkpoint, equinox
def test_lax_scan_and_named_scan_under_jax(data):
    x, w = data

    def step(carry, xb):
        return carry + layer(w, named.named(xb, ("b", "e"))).array, xb.sum()

    xs = jnp.stack([x.array, -x.array, 2 * x.array])
    total, _ = jax.lax.scan(step, 0.0, xs)
    close(total, sum(layer(w, named.named(a, ("b", "e"))).array for a in xs))

    def running(w, x):
        final, ys = named.scan(lambda c, xr: (c + named.dot(xr, w, axis="e"), c.sum()), "b")(named.zeros(H), x)
        return final.sum() + ys.sum()

    close(jax.jit(running)(w, x), running(w, x))
    close(jax.grad(lambda w: running(w, x).array)(w), named.grad(running)(w, x), 1e-4)


def test_checkpoint_and_equinox(data):
    x, w = data
    expected = named.grad(layer)(w, x)
    close(jax.grad(jax.checkpoint(lambda w: layer(w, x).array))(w), expected, 1e-4)
    close(eqx.filter_grad(lambda w: compiled_layer(w, x).array)(w), expected, 1e-4)
    close(eqx.filter_jit(layer)(w, x), layer(w, x))


# ------------------------------------------------------------------------------------- 4x2 mesh
def test_sharded_compiled_function_under_jit_keeps_its_shardings(data):
    x, w = data
    mesh = named.partitioning.resolve_mesh(MESH)[0]
    xs = named.named(jax.device_put(x.array, NamedSharding(mesh, P("data"))), ("b", "e"))
    ws = named.named(jax.device_put(w.array, NamedSharding(mesh, P(None, "model"))), ("e", "h"))
    f = named.compile(lambda w, x: named.tanh(named.dot(x, w, axis="e")).sum(),
                      axis_resources={"b": "data", "h": "model"}, mesh=MESH)
    text = jax.jit(f).lower(ws, xs).as_text()
    private = text.split("func.func private")[1]
    # named's own sharding constraint is in the embedded function
    assert "sdy.sharding_constraint" in private and '<@mesh, [{"data"}, {"model"}]>' in private
    close(jax.jit(f)(ws, xs), f(w, x))
    g = jax.jit(jax.grad(lambda w, x: f(w, x).array))(ws, xs)
    close(g, named.grad(f)(w, x), 1e-4)
    # the same function on unsharded inputs: jax lowers for one device and the shardings are dropped
    close(jax.jit(f)(w, x), f(w, x))
    # eager ops on sharded arrays under jit
    eager = lambda w, x: (named.dot(x, w, axis="e") * 3).sum("b")  # noqa: E731
    close(jax.jit(eager)(ws, xs), eager(w, x))


# ---------------------------------------------------------------------------------- optax loop
@pytest.mark.parametrize("sharded", [False, True])
def test_jit_optax_loop_over_a_compiled_loss_matches_the_named_step(data, sharded):
    x, w = data
    target = named.named(jnp.linspace(-1, 1, 8).reshape(4, 2), ("b", "h"))
    options = {}
    if sharded:  # data- and model-parallel on the 4x2 mesh, the batch arrays placed accordingly
        mesh = named.partitioning.resolve_mesh(MESH)[0]
        options = dict(axis_resources={"b": "data", "h": "model"}, mesh=MESH)
        x = named.named(jax.device_put(x.array, NamedSharding(mesh, P("data"))), ("b", "e"))
        target = named.named(jax.device_put(target.array, NamedSharding(mesh, P("data", "model"))), ("b", "h"))
    loss = named.compile(lambda w, x, t: ((named.tanh(named.dot(x, w, axis="e")) - t) ** 2).mean(), **options)
    opt = optax.adamw(0.05)

    @jax.jit
    def jax_step(w, state):
        value, g = jax.value_and_grad(lambda w: loss(w, x, target).array)(w)
        updates, state = opt.update(g, state, w)
        return optax.apply_updates(w, updates), state, value

    named_grad = named.compile(named.value_and_grad(lambda w, x, t: loss(w, x, t)), **options)
    w1, s1, w2, s2 = w, opt.init(w), w, opt.init(w)
    for _ in range(5):
        w1, s1, v1 = jax_step(w1, s1)
        v2, g2 = named_grad(w2, x, target)
        updates, s2 = opt.update(g2, s2, w2)
        w2 = optax.apply_updates(w2, updates)
        close(v1, v2, 1e-6)
    close(w1, w2, 1e-6)


# ------------------------------------------------------------------------------------ more edges
def test_vmap_of_a_named_scan_and_of_a_gather_match_loops():
    T, E2 = named.make_axes(t=3, e=2)
    xs = named.named(jnp.arange(6.0).reshape(3, 2), ("t", "e"))

    def f(w):
        total, ys = named.scan(lambda c, x: (c * w + x, c.sum("e")), "t")(named.zeros(E2), xs)
        return (total.sum() + ys.sum()).array

    ws = jnp.array([[1.5, -2.0], [3.0, -4.0]])
    batched = jax.vmap(lambda a: f(named.named(a, ("e",))))
    close(batched(ws), [f(named.named(a, ("e",))) for a in ws])
    assert "scan[" not in str(jax.make_jaxpr(batched)(ws))  # by name, not a sequential lax.map
    close(jax.grad(lambda w: batched(w).sum())(ws), [jax.grad(lambda a: f(named.named(a, ("e",))))(a) for a in ws])

    def g(x):  # a batched scanned operand makes the (unbatched) initial carry batched
        total, ys = named.scan(lambda c, xr: (c + xr * 2, (c * xr).sum("e")), "t")(named.zeros(E2), x)
        return total.array, ys.array

    stacked = jnp.stack([xs.array, -xs.array, 2 * xs.array])
    out = jax.vmap(lambda a: g(named.named(a, ("t", "e"))))(stacked)
    for i, a in enumerate(stacked):
        expected = g(named.named(a, ("t", "e")))
        close(out[0][i], expected[0])
        close(out[1][i], expected[1])

    def gather(a, i):
        return named.take(named.named(a, ("t", "e")), "t", named.named(i, ("k",))).array

    arrays, index = jnp.arange(12.0).reshape(2, 3, 2), jnp.array([[2, 0], [1, 1]])
    close(jax.vmap(gather)(arrays, index), np.stack([gather(arrays[i], index[i]) for i in range(2)]))


def test_random_lowered_compiled_and_repr_under_jit(data):
    x, w = data
    k = named.random.key(3)
    close(jax.jit(lambda k: named.random.normal(k, (E,)))(k), named.random.normal(k, (E,)))
    compiled = named.compile(lambda w: (w * 2).sum()).lower(w).compile()
    close(jax.jit(lambda w: compiled(w))(w), compiled(w))
    seen = []
    jax.jit(lambda w: seen.append(repr(w)) or w)(w)
    assert seen[0].startswith("NamedArray([e=3, h=2], ") and "Tracer" in seen[0]


def test_a_compiled_function_closing_over_a_jax_value_is_told_to_take_it_as_an_argument(data):
    x, w = data
    with pytest.raises(named.TracerError, match="pass it in as an argument"):
        jax.jit(lambda w: named.compile(lambda x: named.dot(x, w, axis="e"))(x))(w)


class _Linear(eqx.Module):
    w: named.NamedArray
    b: named.NamedArray

    def __call__(self, x):
        return named.dot(x, self.w, axis="e") + self.b


def test_equinox_module_of_named_arrays(data):
    x, w = data
    model = _Linear(w, named.named(jnp.array([0.1, -0.2]), ("h",)))
    grads = eqx.filter_jit(eqx.filter_grad(lambda m, x: (m(x) ** 2).sum().array))(model, x)
    expected = named.grad(lambda w, b: (_Linear(w, b)(x) ** 2).sum(), argnums=(0, 1))(model.w, model.b)
    assert isinstance(grads, _Linear) and grads.w.axes == (E, H)
    close(grads.w, expected[0], 1e-4)
    close(grads.b, expected[1], 1e-4)


def test_vmap_over_a_named_array_itself_says_what_to_do(data):
    x, _ = data
    with pytest.raises(named.AxisError, match="vmap over x.array"):
        jax.vmap(lambda x: (x * 2).sum("e"))(x)


def test_grad_through_lax_scan_and_the_docstring_examples(data):
    import doctest

    import named.interop.primitives as primitives
    x, w = data

    def total(w):
        def step(carry, xb):
            return carry + layer(w, named.named(xb, ("b", "e"))).array, None
        return jax.lax.scan(step, 0.0, jnp.stack([x.array, -x.array]))[0]

    expected = named.grad(lambda w: layer(w, x) + layer(w, -x))(w)
    close(jax.jit(jax.grad(total))(w), expected, 1e-4)
    result = doctest.testmod(primitives)
    assert result.attempted > 0 and result.failed == 0


def test_eager_results_are_uncommitted_like_jax_so_jit_can_move_them_to_a_mesh():
    E, H, B = named.make_axes(embed=4, hidden=8, batch=8)
    w = named.ones((E, H))
    assert not w.array._committed and not named.exp(w).array._committed  # as jnp.ones
    f = named.compile(lambda w, x: named.dot(x, w, axis="embed").sum(), axis_resources={"batch": "data"},
                      mesh={"data": 4})
    x = named.random.normal(named.random.key(0), (B, E))
    with named.use_mesh({"data": 4}):
        xs = named.shard(x, {"batch": "data"})
    assert float(jax.jit(f)(w, xs)) == pytest.approx(float(f(w, xs)), rel=1e-6)
