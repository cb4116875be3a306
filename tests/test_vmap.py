"""named.vmap: per-slice meaning, checked against a loop over slices, eager and compiled, with grad."""

import numpy as np
import pytest

import named
from named import Axis, AxisError

B, E, H = named.make_axes(batch=3, embed=4, hidden=5)
rng = np.random.default_rng(0)
XD = rng.normal(size=(3, 4)).astype(np.float32)
WD = rng.normal(size=(4, 5)).astype(np.float32)


def per_slice(fn, x: named.NamedArray, axis: str, *rest):
    """The reference: call fn on each slice along axis and stack the results along a new first axis."""
    outs = [fn(x[axis, i], *rest) for i in range(x.shape[axis])]
    return named.stack(axis, outs)


def close(a: named.NamedArray, b: named.NamedArray, tol=1e-5):
    assert a.axes == b.axes, (a.axes, b.axes)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


def normalize_then_project(row, w):
    # reductions over "all axes" of a slice, and a dot with an unmapped weight
    return (row / row.sum()).dot(w, axis="embed") + row.max()


@pytest.mark.parametrize("order", [("batch", "embed"), ("embed", "batch")])
def test_reductions_inside_see_one_slice(order):
    x = named.named(XD, (B, E)).rearrange(order)
    w = named.named(WD, (E, H))
    want = per_slice(normalize_then_project, x, "batch", w)
    mapped = named.vmap(normalize_then_project, B)
    close(mapped(x, w), want)
    close(named.compile(mapped)(x, w), want)
    assert mapped(x, w).axes[0] == B  # the mapped axis comes first, as in haliax
    assert "named.scan" not in named.compile(mapped).lower(x, w).as_text("traced")  # batched, not looped


def test_args_selects_mapped_arguments():
    x = named.named(XD, (B, E))
    table = named.named(rng.normal(size=(3, 4)).astype(np.float32), (B, E))

    def f(row, whole):
        return (row * whole.sum("batch")).sum() + whole.max()  # `whole` keeps its batch axis

    mapped = named.vmap(f, "batch", args=(True, False))
    want = named.stack("batch", [f(x["batch", i], table) for i in range(3)])
    close(mapped(x, table), want)
    close(named.compile(mapped)(x, table), want)
    # default=False and a predicate per argument
    only_first = named.vmap(f, B, default=False, args=(lambda leaf: True,))
    close(only_first(x, table), want)


def test_unmapped_results_are_repeated_and_scalars_work():
    x = named.named(XD, (B, E))
    out = named.vmap(lambda row: (named.ones(H) * 2.0, 1.0, row.sum()), B)(x)
    assert out[0].axes == (B, H) and np.all(np.asarray(out[0]) == 2.0)
    assert out[1].axes == (B,) and np.all(np.asarray(out[1]) == 1.0)
    np.testing.assert_allclose(np.asarray(out[2]), XD.sum(1), rtol=1e-6)


def test_shape_rules_transpose_broadcast_concatenate_reshape():
    x = named.named(XD, (B, E))
    extra = named.named(WD[:, :2].T.copy(), named.make_axes(two=2) + (E,))

    def f(row):
        grid = row.broadcast_axis(Axis("two", 2)) * extra                      # broadcast
        grid = grid.rearrange(("embed", "two"))                                 # transpose
        longer = named.concatenate("embed", [grid, extra.rearrange(("embed", "two"))])  # unmapped operand
        return named.flatten_axes(longer, ("embed", "two"), "flat")            # reshape

    want = per_slice(f, x, "batch")
    close(named.vmap(f, B)(x), want)
    close(named.compile(named.vmap(f, B))(x), want)


def test_batched_index_falls_back_to_per_slice():
    x = named.named(XD, (B, E))
    idx = named.named(np.array([2, 0, 3], np.int32), (B,))

    def f(row, i):
        return row["embed", i] * 10 + row.sum()

    want = named.stack("batch", [f(x["batch", k], idx["batch", k]) for k in range(3)])
    close(named.vmap(f, B)(x, idx), want)
    close(named.compile(named.vmap(f, B))(x, idx), want)
    assert "named.scan" in named.compile(named.vmap(f, B)).lower(x, idx).as_text("traced")


def test_control_flow_inside_vmap():
    x = named.named(XD, (B, E))

    def f(row):
        return named.fold(lambda c, v: c * 0.5 + v, "embed")(0.0, row)

    want = per_slice(f, x, "batch")
    close(named.vmap(f, B)(x), want)
    close(named.compile(named.vmap(f, B))(x), want)
    # the fold's body is batched: one loop over embed, not a loop over batch around it
    assert named.compile(named.vmap(f, B)).lower(x).as_text("traced").count("named.scan") == 1


def test_scan_with_unmapped_carry_and_outputs_and_cond():
    x = named.named(XD, (B, E))
    w = named.named(WD, (E, H))

    def f(row, w):
        # an unmapped initial carry, a const (w), per-step outputs that are mapped and one that is not
        def step(c, v):
            return c * 0.9 + v, (c * v, w.sum())
        total, (trail, const) = named.scan(step, "embed")(0.0, row)
        picked = named.cond(w.sum() > -1e9, lambda t: t * 2.0, lambda t: t - 1.0, total)  # unmapped pred
        return picked, trail, const

    mapped = named.vmap(f, B, args=(True, False))
    want = [f(x["batch", b], w) for b in range(3)]
    for out in (mapped(x, w), named.compile(mapped)(x, w)):
        for k in range(3):
            close(out[k], named.stack("batch", [wk[k] for wk in want]))
    text = named.compile(mapped).lower(x, w).as_text("traced")
    assert text.count("named.scan") == 1 and "named.cond" in text
    # gradients through the batched scan and cond equal the per-slice ones
    g = named.grad(lambda x: named.vmap(lambda r: f(r, w)[0], B)(x).sum())(x)
    want_g = named.stack("batch", [named.grad(lambda r: f(r, w)[0].sum())(x["batch", b]) for b in range(3)])
    close(g, want_g)

    def per_slice_pred(row):  # the predicate depends on the slice: falls back, same meaning
        return named.cond(row.sum() > 0, lambda r: r * 2.0, lambda r: r - 1.0, row)

    close(named.vmap(per_slice_pred, B)(x), per_slice(per_slice_pred, x, "batch"))


def test_nested_vmap():
    x = named.named(rng.normal(size=(3, 4, 5)).astype(np.float32), (B, E, H))
    inner = lambda v: v / v.sum()  # noqa: E731
    out = named.vmap(named.vmap(inner, E), B)(x)
    want = XD_like = np.asarray(x) / np.asarray(x).sum(axis=2, keepdims=True)  # noqa: F841
    assert out.axes == (B, E, H)
    np.testing.assert_allclose(np.asarray(out), want, rtol=1e-5)


def test_grad_composes_both_ways():
    x = named.named(XD, (B, E))
    w = named.named(WD, (E, H))

    def loss(row, w):
        return (normalize_then_project(row, w) ** 2).sum()

    # grad of a vmapped loss equals the sum of per-slice grads
    g = named.grad(lambda w: named.vmap(loss, B, args=(True, False))(x, w).sum())(w)
    want = sum(np.asarray(named.grad(loss, argnums=1)(x["batch", i], w)) for i in range(3))
    assert g.axes == (E, H)
    np.testing.assert_allclose(np.asarray(g), want, rtol=1e-4, atol=1e-5)
    # vmap of a per-slice grad (per-example gradients), compiled
    per_example = named.compile(named.vmap(named.grad(loss), B, args=(True, False)))(x, w)
    want2 = per_slice(lambda r: named.grad(loss)(r, w), x, "batch")
    close(per_example, want2, tol=1e-4)


def test_random_keys_batch_like_a_loop():
    keys = named.random.split(named.random.key(0), B)
    out = named.vmap(lambda k: named.random.normal(k, (E,)), B)(keys)
    want = named.stack("batch", [named.random.normal(keys["batch", i], (E,)) for i in range(3)])
    close(out, want, tol=0)


def test_errors():
    x = named.named(XD, (B, E))
    with pytest.raises(AxisError, match="no mapped argument has this axis"):
        named.vmap(lambda r: r, "nope")(x)
    with pytest.raises(AxisError, match="disagree on its size"):
        named.vmap(lambda r: r, Axis("batch", 7))(x)
    with pytest.raises(TypeError, match="needs an axis"):
        named.vmap(lambda r: r, 0)
    # an axis given by Axis with no mapped argument: the result is repeated
    out = named.vmap(lambda: named.ones(E), B)()
    assert out.axes == (B, E)


def test_unmapped_args_and_mapped_kwargs():
    # haliax's test_vmap_unmapped_args / test_vmap_mapped_kwarg
    Batch, Width, Depth = Axis("Batch", 10), Axis("Width", 3), Axis("Depth", 4)
    named1 = named.named(rng.normal(size=(3, 4)).astype(np.float32), (Width, Depth))
    selected = named.vmap(lambda x: x.sum(Width), Batch)(named1)
    assert selected.axes == (Batch, Depth)
    np.testing.assert_allclose(np.asarray(selected), np.tile(np.asarray(named1).sum(0), (10, 1)), rtol=1e-6)

    batched = named.named(rng.normal(size=(10, 3, 4)).astype(np.float32), (Batch, Width, Depth))
    selected = named.vmap(lambda x: x.sum(Width), Batch)(x=batched)
    assert selected.axes == (Batch, Depth)
    np.testing.assert_allclose(np.asarray(selected), np.asarray(batched).sum(1), rtol=1e-5)
    # kwargs= keeps a keyword argument whole
    both = named.vmap(lambda x, y: x.sum(Width) + y.sum(("Batch", "Width")), Batch, kwargs={"y": False})
    out = both(x=batched, y=batched)
    want = np.asarray(batched).sum(1) + np.asarray(batched).sum((0, 1))
    np.testing.assert_allclose(np.asarray(out), want, rtol=1e-5)


def test_vmap_sharded_over_the_mapped_axis():
    Bs = Axis("batch", 8)
    xd = rng.normal(size=(8, 4)).astype(np.float32)
    x = named.named(xd, (Bs, E))
    w = named.named(WD, (E, H))
    step = named.compile(named.vmap(normalize_then_project, Bs), axis_resources={"batch": "data", "embed": "model"},
                         mesh={"data": 4, "model": 2})
    out = step(x, w)
    want = per_slice(normalize_then_project, x, "batch", w)
    close(out, want)
    assert tuple(out.array.sharding.spec)[0] == "data"  # results split along the mapped axis
    assert "batch=8@data, embed=4@model" in step.lower(x, w).as_text()


def test_batched_gather_and_scatter_stay_batched():
    K = Axis("k", 2)
    x = named.named(XD, (B, E))
    idx_data = np.array([[0, 3], [2, 2], [1, 0]], np.int32)
    idx = named.named(idx_data, (B, K))
    table = named.named(WD, (E, H))

    def f(row, i):
        picked = row["embed", i]                       # gather from a mapped operand
        rows = table["embed", i]                       # gather from an unmapped operand
        bumped = row.at["embed", i].add(1.0)           # scatter into a mapped operand
        return picked.sum() + rows.sum("k"), bumped

    mapped = named.vmap(f, B)
    want = [f(x["batch", b], idx["batch", b]) for b in range(3)]
    for out in (mapped(x, idx), named.compile(mapped)(x, idx)):
        close(out[0], named.stack("batch", [w[0] for w in want]))
        close(out[1], named.stack("batch", [w[1] for w in want]))
    assert "named.scan" not in named.compile(mapped).lower(x, idx).as_text("traced")

    def into_unmapped(i):  # every slice scatters into its own copy of `table`: falls back, same meaning
        return table.at["embed", i].set(0.0)

    got = named.vmap(into_unmapped, B)(idx)
    close(got, named.stack("batch", [into_unmapped(idx["batch", b]) for b in range(3)]))


def test_args_as_pytree_prefixes():
    x = named.named(XD, (B, E))
    params = {"scale": named.named(rng.normal(size=(3, 4)).astype(np.float32), (B, E)), "bias": x}

    def f(p):
        return (p["scale"] * p["bias"]).sum()  # "scale" whole, "bias" one slice

    out = named.vmap(f, B, args=({"scale": False, "bias": True},))(params)
    want = named.stack("batch", [f({"scale": params["scale"], "bias": x["batch", b]}) for b in range(3)])
    close(out, want)


def test_a_spec_that_is_neither_bool_nor_predicate_is_a_type_error():
    B, E = named.make_axes(batch=4, embed=3)
    x = named.ones((B, E))
    with pytest.raises(TypeError, match="bool, a predicate"):
        named.vmap(lambda a: a, B, args=(3,))(x)
