"""NamedRef: mutable references with named indexing, eager and compiled, with views, swap and freeze."""

import numpy as np
import pytest

import named
from named import AxisError, NamedError

Layers, Head = named.make_axes(layers=6, head=4)


def numpy_cache_program(data):
    out = data.copy()
    out[4, 3] = 1.0                    # through a view staged at layers 4:6
    out[:, 0] += 10.0                  # read-modify-write of a column
    old = out[2].copy()
    out[2] = -1.0                      # swap a whole row
    return out, old


def cache_program(x):
    cache = named.new_ref(x)
    view = cache.slice({"layers": slice(4, 6)})
    view[{"layers": 0, "head": 3}] = 1.0
    cache["head", 0] = cache["head", 0] + 10.0
    old = named.swap(cache, {"layers": 2}, -1.0)
    return named.freeze(cache), old


@pytest.mark.parametrize("order", [("layers", "head"), ("head", "layers")])
def test_ref_program_eager_and_compiled(order):
    data = np.arange(24, dtype=np.float32).reshape(6, 4)
    x = named.named(data, (Layers, Head)).rearrange(order)
    want, want_old = numpy_cache_program(data)
    for out, old in (cache_program(x), named.compile(cache_program)(x)):
        np.testing.assert_array_equal(np.asarray(out.rearrange(("layers", "head"))), want)
        assert old.axes == (Head,)
        np.testing.assert_array_equal(np.asarray(old), want_old)


def test_view_properties_and_nested_views():
    ref = named.new_ref(named.zeros((Layers, Head)))
    view = ref.slice({"layers": slice(1, 5)})
    assert view.axes == (named.Axis("layers", 4), Head) and view.shape == {"layers": 4, "head": 4}
    assert view.ndim == 2 and view.dtype == np.float32 and view.resolve_axis("head") == Head
    inner = view.slice({"layers": slice(2, 4), "head": 1})  # layers 3..4 of the original, head 1
    assert inner.axes == (named.Axis("layers", 2),)
    inner[...] = named.named(np.array([7.0, 8.0], np.float32), (named.Axis("layers", 2),))
    got = np.asarray(ref.value())
    assert got[3, 1] == 7.0 and got[4, 1] == 8.0 and got.sum() == 15.0
    assert view.unsliced().axes == (Layers, Head)
    np.testing.assert_array_equal(np.asarray(named.ref.get(inner)), [7.0, 8.0])
    named.ref.set(ref, {"head": 2}, 3.0)
    assert np.asarray(ref[...])[:, 2].tolist() == [3.0] * 6
    assert "NamedRef(layers=6, head=4)" == repr(ref)


def test_traced_dslice_view_and_loop_compiled():
    T, = named.make_axes(t=8)

    @named.compile
    def scatter_rows(x, start):
        ref = named.new_ref(named.zeros((T,)))
        window = ref.slice({"t": named.dslice(start, 3)})
        window[...] = x
        window["t", 1] = 100.0
        return ref.value()

    x = named.named(np.array([1.0, 2.0, 3.0], np.float32), (named.Axis("t", 3),))
    out = scatter_rows(x, named.named(np.int32(2), ()))
    np.testing.assert_array_equal(np.asarray(out), [0, 0, 1, 100, 3, 0, 0, 0])


def test_gradient_flows_through_writes():
    data = np.arange(24, dtype=np.float32).reshape(6, 4)
    x = named.named(data, (Layers, Head))

    def loss(x):
        out, old = cache_program(x)
        return (out * out).sum() + old.sum()

    g = named.grad(loss)(x)
    # d/dx: rows/cols overwritten by constants get 0, row 2 gets 1 (from `old`) plus what the column add leaves
    want = 2 * numpy_cache_program(data)[0]
    want[4, 3] = 0.0
    want[2, :] = 1.0
    np.testing.assert_allclose(np.asarray(g), want, rtol=1e-6)


def test_errors():
    ref = named.new_ref(named.zeros((Layers, Head)))
    with pytest.raises(AxisError, match="'nope' is not in"):
        ref.slice({"nope": 0})
    with pytest.raises(AxisError, match="lacks"):
        ref["layers", 0] = named.ones((Layers, Head))
    with pytest.raises(TypeError, match="takes a dict"):
        ref.slice("layers")
    view = ref.slice({"layers": 1})
    named.freeze(ref)
    with pytest.raises(NamedError, match="frozen"):
        view[...]
    with pytest.raises(NamedError, match="frozen"):
        ref["head", 0] = 1.0
    assert repr(ref) == "NamedRef(frozen)"
