"""named.axis: the algebra of axis selections, and the NamedArray methods built on it (haliax's axis tests)."""

import numpy as np
import pytest

import named
from named import Axis, AxisError
from named.axis import (axis_name, axis_size, axis_spec_to_shape_dict, axis_spec_to_tuple, concat_axes,
                        eliminate_axes, ensure_tuple, intersect_axes, is_axis_compatible,
                        rearrange_for_partial_order, replace_axis, resolve_axis, selects_axis, to_jax_shape,
                        union_axes, without_axes)

A, B, C, D = named.make_axes(a=2, b=3, c=4, d=5)


def test_axis_name_and_size():
    assert axis_name(A) == "a" and axis_name("x") == "x"
    assert axis_name((A, "c")) == ("a", "c")
    assert axis_name({"a": 2, "b": None}) == ("a", "b")
    assert axis_size(A) == 2 and axis_size((A, B)) == 6 and axis_size({"c": 4, "d": 5}) == 20
    with pytest.raises(AxisError, match="'a' is only a name"):
        axis_size("a")


def test_concat_axes_keeps_form_and_refuses_duplicates():
    assert concat_axes((A, B), (C,)) == (A, B, C)
    assert concat_axes(A, B) == (A, B)
    assert concat_axes({"a": 2}, (B,)) == {"a": 2, "b": 3}
    assert concat_axes(("a",), ("b", C)) == ("a", "b", C)
    with pytest.raises(AxisError, match="'a'"):
        concat_axes((A, B), (A,))
    with pytest.raises(ValueError):  # haliax raises ValueError; AxisError is one
        concat_axes({"a": 2}, {"a": 2})


def test_union_axes():
    assert union_axes((A, B), (B, C)) == (A, B, C)
    assert union_axes(("a", "b"), (A, C)) == (A, "b", C)  # the sized form wins
    assert union_axes((A,), {"b": 3}) == {"a": 2, "b": 3}
    with pytest.raises(AxisError, match="size 2 in one and 7"):
        union_axes((A,), (Axis("a", 7),))


def test_intersect_axes():
    assert intersect_axes((C, A, B), (A, C)) == (C, A)
    assert intersect_axes(("c", "a"), (A, B, C)) == (C, A)
    assert intersect_axes({"a": 2, "b": 3}, ("b",)) == {"b": 3}
    assert intersect_axes((A,), (B,)) == ()
    with pytest.raises(AxisError):
        intersect_axes((A,), (Axis("a", 9),))


def test_eliminate_and_without_axes():
    assert eliminate_axes((A, B, C), (A, "c")) == (B,)
    assert eliminate_axes({"a": 2, "b": 3}, "a") == {"b": 3}
    assert eliminate_axes({"a": None, "b": 3}, B) == {"a": None}
    with pytest.raises(AxisError, match="'d' is not in"):
        eliminate_axes((A, B), "d")
    assert without_axes((A, B), ("d", B)) == (A,)
    with pytest.raises(AxisError, match="size"):
        without_axes((A, B), Axis("b", 9))
    assert without_axes((A, B), Axis("b", 9), allow_mismatched_sizes=True) == (A,)


def test_replace_axis():
    X, Y = named.make_axes(x=6, y=7)
    assert replace_axis((A, B, C), B, X) == (A, X, C)
    assert replace_axis((A, B, C), "b", (X, Y)) == (A, X, Y, C)
    assert replace_axis({"a": 2, "b": 3}, "a", X) == {"x": 6, "b": 3}
    with pytest.raises(AxisError, match="'z' is not in"):
        replace_axis((A, B), "z", X)
    with pytest.raises(AxisError, match="already in"):
        replace_axis((A, B), "a", B)


def test_resolve_and_selects_axis():
    assert resolve_axis((A, B), "b") == B
    assert resolve_axis((A, B), ("b", A)) == (B, A)
    assert resolve_axis((A, B), {"a": None, "b": 3}) == {"a": 2, "b": 3}
    with pytest.raises(AxisError, match="'z' is not in"):
        resolve_axis((A, B), "z")
    with pytest.raises(AxisError, match="size 3, but size 5"):
        resolve_axis((A, B), Axis("b", 5))
    assert selects_axis((A, "c"), {"a": None, "c": 4})
    assert selects_axis((A, B), ("a",))
    assert not selects_axis((A, B), ("a", "c"))
    assert not selects_axis((A, B), Axis("a", 3))
    assert is_axis_compatible("a", A) and is_axis_compatible(A, A)
    assert not is_axis_compatible(A, Axis("a", 3)) and not is_axis_compatible("a", "b")


def test_rearrange_for_partial_order():
    assert rearrange_for_partial_order(("a", ...), ("b", "a", "c")) == ("a", "b", "c")
    assert rearrange_for_partial_order((..., "a"), ("b", "a", "c")) == ("b", "c", "a")
    assert rearrange_for_partial_order(("c", ..., "a"), ("a", "b", "c")) == ("c", "b", "a")
    # unlisted axes stay after the listed axes that preceded them
    assert rearrange_for_partial_order((..., "a", ..., "c", ...), ("d", "a", "b", "c")) == ("d", "a", "b", "c")
    assert rearrange_for_partial_order((..., "c", ..., "a", ...), (A, B, C, D)) == (C, A, B, D)
    assert rearrange_for_partial_order(("a", "b"), ("b", "a")) == ("a", "b")
    with pytest.raises(AxisError, match="add ..."):
        rearrange_for_partial_order(("a",), ("a", "b"))
    with pytest.raises(AxisError, match="'z'"):
        rearrange_for_partial_order(("z", ...), ("a",))


def test_spec_conversions():
    assert axis_spec_to_shape_dict((A, B)) == {"a": 2, "b": 3}
    assert axis_spec_to_shape_dict(C) == {"c": 4}
    assert axis_spec_to_tuple({"a": 2, "b": 3}) == (A, B)
    assert to_jax_shape((A, C)) == (2, 4) and to_jax_shape({"d": 5}) == (5,)
    with pytest.raises(AxisError, match="no size"):
        to_jax_shape(("a",))
    assert ensure_tuple("a") == ("a",) and ensure_tuple([1, 2]) == (1, 2) and ensure_tuple(A) == (A,)


def test_namedarray_axis_methods():
    x = named.ones((A, B, C))
    assert x.axis_size("b") == 3 and x.axis_size(("c", A)) == (4, 2)
    assert x.resolve_axis("c") == C and x.resolve_axis(("c", "a")) == (C, A)
    assert x.resolve_axis({"a": None, "b": None}) == {"a": 2, "b": 3}
    assert x.has_axis("a") and x.has_axis((A, "c")) and not x.has_axis("d")
    assert x.axis_indices("c") == 2 and x.axis_indices(("a", "d")) == (0, None)
    with pytest.raises(AxisError, match="'d' is not in"):
        x.resolve_axis(("d",))
    # a NamedArray is accepted wherever a selection is
    assert eliminate_axes(x, "b") == (A, C)
    assert resolve_axis(x, "a") == A


def test_top_level_exports():
    for name in ["axis_name", "axis_size", "concat_axes", "union_axes", "intersect_axes", "eliminate_axes",
                 "without_axes", "replace_axis", "selects_axis", "is_axis_compatible", "ensure_tuple",
                 "AxisSelector", "AxisSpec", "AxisSelection"]:
        assert getattr(named, name) is getattr(named.axis, name)


def test_helpers_drive_ops_in_both_modes():
    # helpers compute the axes an op uses: same values eagerly and compiled
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    x = named.named(data, (A, B, C))

    def f(x):
        keep = eliminate_axes(x.axes, "b")
        return x.sum("b").rearrange(tuple(reversed(keep)))

    for out in (f(x), named.compile(f)(x)):
        assert out.axes == (C, A)
        np.testing.assert_allclose(np.asarray(out), data.sum(1).T)


def test_docstring_examples_of_the_api_modules_run():
    import doctest
    import importlib
    for name in ("named.axis", "named.tree", "named.tree_util", "named.vmap", "named.typing", "named.ref",
                 "named.partitioning_helpers", "named.debug"):
        module = importlib.import_module(name)
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, name
