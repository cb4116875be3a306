"""Helpers shared by the tests: build NamedArrays from NumPy and compare eager/compiled results."""

from __future__ import annotations

import numpy as np

import named


def arr(data, axes) -> named.NamedArray:
    return named.named(np.asarray(data), axes)


def as_numpy(x: named.NamedArray, names=None) -> np.ndarray:
    """The data of ``x`` with its axes in ``names`` order (default: its own order)."""
    data = np.asarray(x)
    if names is None:
        return data
    own = [a.name for a in x.axes]
    assert sorted(own) == sorted(names), f"axes {own} differ from expected {list(names)}"
    return np.transpose(data, [own.index(n) for n in names])


def assert_named_close(x: named.NamedArray, expected, names, *, rtol=1e-6, atol=1e-6, dtype=None):
    assert isinstance(x, named.NamedArray), type(x)
    if dtype is not None:
        assert np.dtype(x.dtype) == np.dtype(dtype), (x.dtype, dtype)
    got = as_numpy(x, names)
    expected = np.asarray(expected)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    if got.dtype == np.bool_ or np.issubdtype(got.dtype, np.integer):
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got.astype(np.float64), expected.astype(np.float64), rtol=rtol, atol=atol,
                                   equal_nan=True)


def eager_and_compiled(fn, *args, **kwargs):
    """``fn`` run eagerly and under @named.compile; asserts both give the same axes and values."""
    eager = fn(*args, **kwargs)
    compiled = named.compile(fn)(*args, **kwargs)
    assert eager.axes == compiled.axes, (eager.axes, compiled.axes)
    assert eager.dtype == compiled.dtype, (eager.dtype, compiled.dtype)
    np.testing.assert_allclose(np.asarray(eager).astype(np.float64), np.asarray(compiled).astype(np.float64),
                               rtol=1e-6, atol=1e-6, equal_nan=True)
    return eager, compiled
