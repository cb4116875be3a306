"""Polynomials as coefficient arrays along one named axis (highest power first, as ``jnp.poly*``).

A NamedArray polynomial has exactly one axis, its coefficient axis; results reuse that axis's name
(resized as needed). Plain arrays and lists get the axis name ``degree``. All functions compose
named ops (pads, slices, scatter-adds, folds), so they run eagerly, compiled, and differentiate.

>>> import named, numpy as np
>>> p = named.named(np.array([1.0, -3.0, 2.0]), "degree")   # x**2 - 3x + 2
>>> np.asarray(named.poly.polyval(p, named.named(np.array([1.0, 2.0, 3.0]), "x"))).tolist()
[0.0, 0.0, 2.0]
"""

from __future__ import annotations

import numpy as np

from named.compiler import user_location
from named.dialect import Axis, AxisError, Iota, dtype_name, is_inexact, to_numpy_dtype

from . import ops
from ._staged import staged
from .control import fold
from .core import NamedArray, as_named, bind1, result_dtype
from .creation import full, named as _name_axes
from .reductions import sum as _sum
from .shape import rename
from .shape_ops import concatenate, pad

__all__ = ["polyval", "polyadd", "polysub", "polymul", "polydiv", "polyder", "polyint", "polyfit", "roots",
           "DEGREE"]

DEGREE = "degree"


def _err(message: str) -> AxisError:
    return AxisError(message, loc=user_location())


def _poly(p, what: str) -> NamedArray:
    if isinstance(p, NamedArray):
        if len(p.axes) != 1:
            raise _err(f"{what}: a polynomial has one coefficient axis, got axes {[str(a) for a in p.axes]}")
        return p
    if np.ndim(p) != 1:
        raise _err(f"{what}: a polynomial is a 1-D list of coefficients, got shape {np.shape(p)}")
    return _name_axes(p, (DEGREE,))


def _inexact(*ps: NamedArray) -> list[NamedArray]:
    dtype = result_dtype(*ps)
    if not is_inexact(dtype):
        dtype = result_dtype(1.0)
    return [ops.astype(p, dtype) for p in ps]


def _name(*ps) -> str:
    for p in ps:
        if isinstance(p, NamedArray) and len(p.axes) == 1:
            return p.axes[0].name
    return DEGREE


def _as(p: NamedArray, name: str, size: int) -> NamedArray:
    """``p`` zero-padded at the front (the high powers) to ``size`` and called ``name``."""
    (ax,) = p.axes
    if size > ax.size:
        p = pad(p, {ax.name: (size - ax.size, 0)})
    return rename(p, {ax.name: name}) if ax.name != name else p


def polyval(p, x) -> NamedArray:
    """``p`` evaluated at ``x`` by Horner's rule (``jnp.polyval``); the result has ``x``'s axes.

    >>> import named
    >>> float(named.poly.polyval([2.0, 0.0, 1.0], 3.0))
    19.0
    """
    p = _poly(p, "polyval")
    p, x = _inexact(p, as_named(x))
    if p.axes[0].name in x.shape:
        raise _err(f"polyval: x must not have the coefficient axis {p.axes[0].name!r}")
    return fold(lambda y, c: ops.add(ops.multiply(y, x), c), p.axes[0])(ops.multiply(x, 0), p)


def polyadd(p1, p2) -> NamedArray:
    """The sum of two polynomials (``jnp.polyadd``).

    >>> import named, numpy as np
    >>> np.asarray(named.poly.polyadd([1, 2], [1, 0, 0])).tolist()
    [1, 1, 2]
    """
    name = _name(p1, p2)
    a, b = _poly(p1, "polyadd"), _poly(p2, "polyadd")
    n = max(a.axes[0].size, b.axes[0].size)
    return ops.add(_as(a, name, n), _as(b, name, n))


def polysub(p1, p2) -> NamedArray:
    """The difference of two polynomials (``jnp.polysub``).

    >>> import named, numpy as np
    >>> np.asarray(named.poly.polysub([1, 2], [1, 0, 0])).tolist()
    [-1, 1, 2]
    """
    name = _name(p1, p2)
    a, b = _poly(p1, "polysub"), _poly(p2, "polysub")
    n = max(a.axes[0].size, b.axes[0].size)
    return ops.subtract(_as(a, name, n), _as(b, name, n))


@staged
def polymul(p1, p2) -> NamedArray:
    """The product of two polynomials (``jnp.polymul``: the full convolution of the coefficients).

    >>> import named, numpy as np
    >>> np.asarray(named.poly.polymul([1.0, 1.0], [1.0, -1.0])).tolist()
    [1.0, 0.0, -1.0]
    """
    name = _name(p1, p2)
    a, b = _inexact(_poly(p1, "polymul"), _poly(p2, "polymul"))
    (ia,), (ib,) = a.axes, b.axes
    a, b = rename(a, {ia.name: "__i__"}), rename(b, {ib.name: "__j__"})
    outer = ops.multiply(a, b)
    grid = outer.axes
    power = ops.add(bind1(Iota, (), {"axes": grid, "dimension": "__i__", "dtype": "i32"}),
                    bind1(Iota, (), {"axes": grid, "dimension": "__j__", "dtype": "i32"}))
    out = Axis(name, ia.size + ib.size - 1)
    return full(out, 0, dtype_name(outer.dtype)).at[{name: power}].add(outer)


@staged
def polydiv(u, v) -> tuple[NamedArray, NamedArray]:
    """Quotient and remainder of ``u / v`` by long division (``jnp.polydiv``; the remainder keeps
    ``u``'s length, its leading entries zero).

    >>> import named, numpy as np
    >>> q, r = named.poly.polydiv([1.0, -3.0, 2.0], [1.0, -1.0])
    >>> np.asarray(q).tolist(), np.asarray(r).tolist()
    ([1.0, -2.0], [0.0, 0.0, 0.0])
    """
    name = _name(u, v)
    u, v = _inexact(_poly(u, "polydiv"), _poly(v, "polydiv"))
    u = _as(u, name, u.axes[0].size)
    v = _as(v, name, v.axes[0].size)
    m, n = u.axes[0].size - 1, v.axes[0].size - 1
    scale = ops.divide(1.0, v[{name: 0}])

    quotient = []
    for k in range(m - n + 1):
        d = ops.multiply(scale, u[{name: k}])
        quotient.append(d)
        shifted = pad(v, {name: (k, m - n - k)})
        u = ops.subtract(u, ops.multiply(d, shifted))
    if not quotient:
        return full(Axis(name, 1), 0, dtype_name(u.dtype)), u
    q = concatenate(name, [ops.astype(d, dtype_name(u.dtype)).broadcast_axis(Axis(name, 1)) for d in quotient])
    return q, u


def _static_int(m, what: str) -> int:
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 0:
        raise ValueError(f"{what}: the order m must be an int >= 0, got {m!r}")
    return int(m)


@staged
def polyder(p, m: int = 1) -> NamedArray:
    """The ``m``-th derivative (``jnp.polyder``).

    >>> import named, numpy as np
    >>> np.asarray(named.poly.polyder([1.0, 1.0, 1.0])).tolist()
    [2.0, 1.0]
    """
    m = _static_int(m, "polyder")
    (p,) = _inexact(_poly(p, "polyder"))
    (ax,) = p.axes
    if m == 0:
        return p
    n = ax.size
    coeff = (np.arange(m, n)[None, :] - np.arange(m)[:, None]).prod(0)[::-1]
    kept = p[{ax.name: slice(0, max(n - m, 0))}]
    return ops.multiply(kept, NamedArray(np.asarray(coeff, np.dtype(p.dtype)), kept.axes))


@staged
def polyint(p, m: int = 1, k=None) -> NamedArray:
    """The ``m``-th antiderivative with integration constants ``k`` (``jnp.polyint``).

    >>> import named, numpy as np
    >>> np.asarray(named.poly.polyint([3.0, 2.0], k=5.0)).tolist()
    [1.5, 2.0, 5.0]
    """
    m = _static_int(m, "polyint")
    (p,) = _inexact(_poly(p, "polyint"))
    (ax,) = p.axes
    if m == 0:
        return p
    dtype = dtype_name(p.dtype)
    k = as_named(0.0 if k is None else k)
    if k.axes:
        k = rename(k, {k.axes[0].name: ax.name})
        if k.axes[0].size not in (1, m):
            raise _err(f"polyint: k has {k.axes[0].size} constants for m = {m}")
        if k.axes[0].size == 1 and m > 1:
            k = concatenate(ax.name, [k] * m)
    else:
        k = ops.astype(k, dtype).broadcast_axis(Axis(ax.name, m))
    grid = np.arange(ax.size + m)[None, :] - np.arange(m)[:, None]
    coeff = np.maximum(1, grid).prod(0)[::-1]
    out = concatenate(ax.name, [p, ops.astype(k, dtype)])
    return ops.divide(out, NamedArray(np.asarray(coeff, np.dtype(p.dtype)), out.axes))


@staged
def polyfit(x, y, deg: int, rcond=None, full: bool = False, w=None, cov: bool = False) -> NamedArray:
    """Least-squares polynomial fit of degree ``deg`` to points ``(x, y)`` (``jnp.polyfit``'s fit,
    by the column-scaled normal equations; ``x``, ``y`` and ``w`` share one sample axis). The
    coefficients lie along ``degree`` (``deg + 1`` of them). ``full=True`` and ``cov=True`` (SVD
    diagnostics) are not supported.

    >>> import named, numpy as np
    >>> x = named.named(np.array([0.0, 1.0, 2.0, 3.0]), "n")
    >>> np.round(np.asarray(named.poly.polyfit(x, 2 * x + 1, 1)), 4).tolist()
    [2.0, 1.0]
    """
    if full or cov:
        raise NotImplementedError("polyfit(full=True / cov=True) needs an SVD, which named does not have")
    deg = _static_int(deg, "polyfit")
    x, y = as_named(x), as_named(y)
    if len(x.axes) != 1 or y.axes != x.axes:
        raise _err(f"polyfit: x and y must share one sample axis, got {[str(a) for a in x.axes]} and "
                   f"{[str(a) for a in y.axes]}")
    x, y = _inexact(x, y)
    D = Axis(DEGREE if x.axes[0].name != DEGREE else "degree_", deg + 1)
    power = ops.astype(ops.subtract(deg, bind1(Iota, (), {"axes": (D,), "dimension": D.name, "dtype": "i32"})),
                       dtype_name(x.dtype))
    lhs = ops.power(x, power)  # Vandermonde: samples x degree
    rhs = y
    if w is not None:
        w = ops.astype(as_named(w), dtype_name(x.dtype))
        lhs, rhs = ops.multiply(lhs, w), ops.multiply(rhs, w)
    scale = ops.sqrt(_sum(ops.multiply(lhs, lhs), x.axes[0].name))
    lhs = ops.divide(lhs, scale)
    E = Axis("__col__", D.size)
    gram = _sum(ops.multiply(lhs, rename(lhs, {D.name: E.name})), x.axes[0].name)  # D x E
    moment = _sum(ops.multiply(lhs, rhs), x.axes[0].name)  # D
    c = _solve_spd(gram, moment, D, E)
    return ops.divide(c, scale)


def _solve_spd(a: NamedArray, b: NamedArray, rows: Axis, cols: Axis) -> NamedArray:
    """Solve ``a c = b`` for a small symmetric positive definite ``a`` by unrolled Gauss-Jordan."""
    n = rows.size
    for k in range(n):
        pivot_row = a[{rows.name: k}]  # over cols
        pivot = pivot_row[{cols.name: k}]
        factor = ops.divide(a[{cols.name: k}], pivot)  # over rows
        is_k = ops.equal(bind1(Iota, (), {"axes": (rows,), "dimension": rows.name, "dtype": "i32"}), k)
        factor = ops.where(is_k, 0.0, factor)
        a = ops.subtract(a, ops.multiply(factor, pivot_row))
        b = ops.subtract(b, ops.multiply(factor, b[{rows.name: k}]))
    diagonal = _sum(ops.where(ops.equal(bind1(Iota, (), {"axes": (rows, cols), "dimension": rows.name,
                                                          "dtype": "i32"}),
                                        bind1(Iota, (), {"axes": (rows, cols), "dimension": cols.name,
                                                         "dtype": "i32"})), a, 0.0), cols.name)
    return rename(ops.divide(b, diagonal), {rows.name: DEGREE})


@staged
def roots(p, *, iterations: int = 200) -> NamedArray:
    """The complex roots of ``p`` along ``degree`` (``len(p) - 1`` of them), by Durand-Kerner
    iteration on the monic polynomial. ``jnp.roots`` takes eigenvalues of the companion matrix
    through LAPACK, which StableHLO cannot express; the roots agree, their order may not (sort
    them to compare). The leading coefficient must be nonzero.

    >>> import named, numpy as np
    >>> r = np.sort_complex(np.asarray(named.poly.roots([1.0, -3.0, 2.0])))
    >>> np.round(r.real, 4).tolist()
    [1.0, 2.0]
    """
    name = _name(p)
    (p,) = _inexact(_poly(p, "roots"))
    (ax,) = p.axes
    n = ax.size - 1
    if n < 1:
        return full(Axis(name, 0), 0, "c64" if dtype_name(p.dtype) != "f64" else "c128")
    cdtype = "c128" if dtype_name(p.dtype) in ("f64", "c128") else "c64"
    monic = ops.astype(ops.divide(p, p[{ax.name: 0}]), cdtype)
    R = Axis(name, n)
    seed = np.power(np.complex128(0.4 + 0.9j), np.arange(n)).astype(to_numpy_dtype(cdtype))
    z = NamedArray(seed, (R,))
    other = "__other__"
    not_self = ops.not_equal(bind1(Iota, (), {"axes": (R, Axis(other, n)), "dimension": name, "dtype": "i32"}),
                             bind1(Iota, (), {"axes": (R, Axis(other, n)), "dimension": other, "dtype": "i32"}))

    def step(z, _):
        value = fold(lambda acc, c: ops.add(ops.multiply(acc, z), c), ax)(ops.multiply(z, 0), monic)
        gaps = ops.subtract(z, rename(z, {name: other}))
        gaps = ops.where(not_self, gaps, ops.astype(1.0, cdtype))
        denom = _prod_over(gaps, other)
        return ops.subtract(z, ops.divide(value, denom))

    Steps = Axis("__step__", iterations)
    return fold(step, Steps)(z, full(Steps, 0, "i32"))


def _prod_over(x: NamedArray, axis: str) -> NamedArray:
    from .reductions import prod
    return prod(x, axis)
