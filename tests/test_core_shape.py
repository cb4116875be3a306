"""dot, rename, broadcast_to/broadcast_axis and sequence-form rearrange against NumPy."""

import numpy as np
import pytest

import named
from _named_testing import arr, assert_named_close, eager_and_compiled

A, B, C, D = named.make_axes(a=3, b=4, c=5, d=2)
rng = np.random.default_rng(2)


def r(*shape):
    return rng.normal(0, 1, shape).astype(np.float32)


class TestDot:
    def test_matmul_like(self):
        x, y = r(3, 4), r(4, 5)
        eager, _ = eager_and_compiled(lambda x, y: named.dot(x, y, axis="b"), arr(x, (A, B)), arr(y, (B, C)))
        assert [a.name for a in eager.axes] == ["a", "c"]
        assert_named_close(eager, x @ y, ("a", "c"), rtol=1e-5)

    def test_batch_axes_and_order_of_first_appearance(self):
        x, y = r(4, 3, 2), r(2, 5, 4)   # x: [b, a, d], y: [d, c, b]; contract d, batch b
        eager, _ = eager_and_compiled(lambda x, y: named.dot(x, y, axis="d"), arr(x, (B, A, D)), arr(y, (D, C, B)))
        assert [a.name for a in eager.axes] == ["b", "a", "c"]
        assert_named_close(eager, np.einsum("bad,dcb->bac", x, y), ("b", "a", "c"), rtol=1e-5)

    def test_batch_axis_after_free_axis_is_transposed_correctly(self):
        x, y = r(3, 4, 2), r(2, 4)   # x: [a, b, d], y: [d, b] ; batch b comes after free a in x
        got = named.dot(arr(x, (A, B, D)), arr(y, (D, B)), axis="d")
        assert [a.name for a in got.axes] == ["a", "b"]
        assert_named_close(got, np.einsum("abd,db->ab", x, y), ("a", "b"), rtol=1e-5)

    def test_axis_none_contracts_everything_and_empty_is_outer(self):
        x, y = r(3, 4), r(4, 3)
        total = named.dot(arr(x, (A, B)), arr(y, (B, A)), axis=None)
        assert total.axes == () and np.isclose(total.item(), (x * y.T).sum(), rtol=1e-5)
        outer = named.dot(arr(x[:, 0], (A,)), arr(y[:, 0], (B,)), axis=())
        assert_named_close(outer, np.outer(x[:, 0], y[:, 0]), ("a", "b"), rtol=1e-6)
        # shared axes are batched (elementwise) under axis=()
        shared = named.dot(arr(x, (A, B)), arr(y.T, (A, B)), axis=())
        assert_named_close(shared, x * y.T, ("a", "b"), rtol=1e-6)

    def test_three_operands_and_lonely_contracted_axes(self):
        x, y, z = r(3, 4), r(4, 5), r(5, 2)
        eager, _ = eager_and_compiled(lambda x, y, z: named.dot(x, y, z, axis=("b", "c")),
                                      arr(x, (A, B)), arr(y, (B, C)), arr(z, (C, D)))
        assert_named_close(eager, x @ y @ z, ("a", "d"), rtol=1e-4)
        lonely = named.dot(arr(x, (A, B)), arr(z, (C, D)), axis=("b", "c"))  # b only in x, c only in z
        assert_named_close(lonely, np.outer(x.sum(1), z.sum(0)), ("a", "d"), rtol=1e-5)

    def test_dtype_promotion_and_bf16(self):
        import ml_dtypes
        x = r(3, 4).astype(ml_dtypes.bfloat16)
        y = r(4, 5)
        got = named.dot(arr(x, (A, B)), arr(y, (B, C)), axis="b")
        assert got.dtype == np.float32
        assert_named_close(got, x.astype(np.float32) @ y, ("a", "c"), rtol=1e-5)
        ints = named.dot(arr(np.arange(12, dtype=np.int32).reshape(3, 4), (A, B)),
                         arr(np.ones((4,), np.int32), (B,)), axis="b")
        assert ints.dtype == np.int32 and list(np.asarray(ints)) == [6, 22, 38]

    def test_errors(self):
        x, y = arr(r(3, 4), (A, B)), arr(r(5, 4), (C, ("b")))
        with pytest.raises(named.AxisError, match="'zz'"):
            named.dot(x, y, axis="zz")
        with pytest.raises(named.AxisError) as e:
            named.dot(x, arr(r(6, 5), ("b", "c")), axis="b")
        assert "'b'" in str(e.value) and "4" in str(e.value) and "6" in str(e.value)
        with pytest.raises(TypeError, match="axis="):
            named.dot(x, y)
        with pytest.raises(TypeError, match="dot\\(\\*arrays, axis"):
            named.dot("b", x, y)


class TestRenameBroadcastRearrange:
    def test_rename(self):
        x = r(3, 4)
        eager, _ = eager_and_compiled(lambda x: named.rename(x, {"a": "rows", B: named.Axis("cols", 4)}),
                                      arr(x, (A, B)))
        assert [a.name for a in eager.axes] == ["rows", "cols"]
        assert_named_close(eager, x, ("rows", "cols"))
        with pytest.raises(named.AxisError, match="'q'"):
            named.rename(arr(x, (A, B)), {"q": "z"})
        with pytest.raises(named.AxisError, match="size 3"):
            named.rename(arr(x, (A, B)), {"a": named.Axis("z", 9)})
        with pytest.raises(named.AxisError, match="duplicate"):
            named.rename(arr(x, (A, B)), {"a": "b"})

    def test_broadcast_to_and_axis(self):
        x = r(4)
        eager, _ = eager_and_compiled(lambda x: named.broadcast_to(x, (A, B, C)), arr(x, (B,)))
        assert [a.name for a in eager.axes] == ["a", "b", "c"]
        assert_named_close(eager, np.broadcast_to(x[None, :, None], (3, 4, 5)), ("a", "b", "c"))
        got = named.broadcast_axis(arr(r(4, 5), (B, C)), A)
        assert [a.name for a in got.axes] == ["a", "b", "c"]
        with pytest.raises(named.AxisError, match="lacks"):
            named.broadcast_to(arr(r(4, 5), (B, C)), (A, B))
        with pytest.raises(named.AxisError, match="size"):
            named.broadcast_to(arr(r(4), (B,)), (named.Axis("b", 9),))

    def test_rearrange_sequence_form(self):
        x = r(3, 4, 5)
        nx = arr(x, (A, B, C))
        eager, _ = eager_and_compiled(lambda x: named.rearrange(x, ("c", ..., "a")), nx)
        assert [a.name for a in eager.axes] == ["c", "b", "a"]
        assert_named_close(eager, x, ("a", "b", "c"))
        np.testing.assert_array_equal(np.asarray(eager), x.transpose(2, 1, 0))
        assert named.rearrange(nx, (A, B, C)) is nx  # identity costs nothing
        with pytest.raises(named.AxisError, match="not placed"):
            named.rearrange(nx, ("c", "a"))
        # several ... give a partial order (haliax): "a" stays where it is
        assert [a.name for a in named.rearrange(nx, (..., "a", ...)).axes] == ["a", "b", "c"]
        assert [a.name for a in named.rearrange(nx, ("c", ..., ...)).axes] == ["c", "a", "b"]
        with pytest.raises(named.AxisError, match="'zz'"):
            named.rearrange(nx, ("zz", ...))


class TestCreation:
    def test_fills(self):
        for fn, value in [(named.zeros, 0), (named.ones, 1)]:
            x = fn((A, B))
            assert x.dtype == np.float32 and x.shape == {"a": 3, "b": 4}
            assert (np.asarray(x) == value).all()
        f = named.full((A,), 7, dtype="i32")
        assert f.dtype == np.int32 and list(np.asarray(f)) == [7, 7, 7]
        assert named.full({"a": 2}, 2.5).dtype == np.float32
        like = named.zeros_like(f)
        assert like.dtype == np.int32 and like.axes == f.axes
        assert named.ones_like(f, dtype=bool).dtype == np.bool_
        assert np.asarray(named.full_like(f, 3)).tolist() == [3, 3, 3]

    def test_arange_linspace(self):
        x, _ = eager_and_compiled(lambda: named.arange(B, start=2, step=3))
        assert x.dtype == np.int32 and np.asarray(x).tolist() == [2, 5, 8, 11]
        y = named.arange(B, start=0.5)
        assert y.dtype == np.float32 and np.allclose(np.asarray(y), np.arange(4) + 0.5)
        lin, _ = eager_and_compiled(lambda: named.linspace(C, 1.0, 2.0))
        np.testing.assert_allclose(np.asarray(lin), np.linspace(1, 2, 5), rtol=1e-7)
        assert np.asarray(lin)[-1] == 2.0
        lin2 = named.linspace(C, 0.0, 1.0, endpoint=False)
        np.testing.assert_allclose(np.asarray(lin2), np.linspace(0, 1, 5, endpoint=False), rtol=1e-6)

    def test_named_from_data(self):
        x = named.named(np.zeros((3, 4)), ("a", "b"))
        assert x.axes == (A, B) and x.dtype == np.float32  # float64 data follows jax (x64 off)
        assert named.named([1, 2, 3], "a").shape == {"a": 3}
        with pytest.raises(named.AxisError, match="2 axis name"):
            named.named(np.zeros((3, 4, 5)), ("a", "b"))
        with pytest.raises(named.AxisError, match="does not match"):
            named.named(np.zeros((3, 4)), (A, C))
        with pytest.raises(named.AxisError, match="duplicate"):
            named.named(np.zeros((3, 3)), ("a", "a"))

    def test_named_array_facts(self):
        x = named.named(np.arange(12, dtype=np.float32).reshape(3, 4), (A, B))
        assert x.ndim == 2 and x.size == 12 and x.shape == {"a": 3, "b": 4}
        assert x.axis_size("b") == 4 and x.resolve_axis("a") == A
        assert np.asarray(x).shape == (3, 4)
        assert named.sum(x).item() == 66.0 and named.sum(x).scalar() == 66.0
        with pytest.raises(named.AxisError):
            x.scalar()
        assert x.sharding is not None
        leaves, tree = __import__("jax").tree_util.tree_flatten({"w": x})
        assert len(leaves) == 1
        assert __import__("jax").tree_util.tree_unflatten(tree, leaves)["w"].axes == (A, B)
        assert "a=3, b=4" in repr(x)
