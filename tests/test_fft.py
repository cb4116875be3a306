"""named.fft against jax.numpy.fft on the positional twin, eagerly and compiled, in several axis
orders; the named.fft op's text form; sharded inputs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import named
from named.dialect import parse, print_function
from _named_testing import arr, as_numpy

X, Y, Z = named.make_axes(x=4, y=6, z=3)
NAMES = ("x", "y", "z")
rng = np.random.default_rng(5)
REAL = rng.normal(size=(4, 6, 3)).astype(np.float32)
CPLX = (rng.normal(size=(4, 6, 3)) + 1j * rng.normal(size=(4, 6, 3))).astype(np.complex64)
LAYOUTS = [("x", "y", "z"), ("z", "x", "y")]


def _x(data, layout):
    return arr(np.transpose(data, [NAMES.index(n) for n in layout]), tuple(named.Axis(n, s) for n, s in
                                                                          zip(layout, [dict(x=4, y=6, z=3)[n] for n in layout])))


def _both(fn, *args):
    eager = fn(*args)
    compiled = named.compile(fn)(*args)
    assert eager.axes == compiled.axes and eager.dtype == compiled.dtype
    np.testing.assert_allclose(np.asarray(eager), np.asarray(compiled), rtol=1e-5, atol=1e-5)
    return eager


def _close(got, expected, names, tol=1e-4):
    assert isinstance(got, named.NamedArray)
    np.testing.assert_allclose(as_numpy(got, names), np.asarray(expected), rtol=tol, atol=tol)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("norm", [None, "ortho", "forward"])
def test_complex_transforms_one_and_several_axes(layout, norm):
    x = _x(CPLX, layout)
    out = _both(lambda t: named.fft(t, axis="y", norm=norm), x)
    assert out.axes == x.axes
    _close(out, jnp.fft.fft(CPLX, axis=1, norm=norm), NAMES)
    out = _both(lambda t: named.fft.ifft(t, axis=("z", "x"), norm=norm), x)
    _close(out, jnp.fft.ifftn(CPLX, axes=(2, 0), norm=norm), NAMES)
    out = _both(lambda t: named.fft.fft(t, axis=None), x)
    _close(out, jnp.fft.fft(as_numpy(x), axis=-1), [a.name for a in x.axes])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_real_transforms_and_resizing(layout):
    x = _x(REAL, layout)
    out = _both(lambda t: named.fft.rfft(t, axis="y"), x)
    assert out.shape == {"x": 4, "y": 4, "z": 3} and out.dtype == np.complex64
    _close(out, jnp.fft.rfft(REAL, axis=1), NAMES)
    out = _both(lambda t: named.fft.rfft(t, axis={"x": None, "y": 9}), x)
    _close(out, jnp.fft.rfftn(REAL, s=(4, 9), axes=(0, 1)), NAMES)
    back = _both(lambda t: named.fft.irfft(t, axis={"x": None, "y": named.Axis("y", 9)}), out)
    _close(back, jnp.fft.irfftn(jnp.fft.rfftn(REAL, s=(4, 9), axes=(0, 1)), s=(4, 9), axes=(0, 1)), NAMES)
    out = _both(lambda t: named.fft(t, axis=named.Axis("x", 7)), x)  # resize by Axis: zero-padded
    assert out.shape["x"] == 7
    _close(out, jnp.fft.fft(REAL, n=7, axis=0), NAMES)
    out = _both(lambda t: named.fft(t, axis={"z": named.Axis("freq", 2)}), x)  # crop and rename
    assert "freq" in out.shape and "z" not in out.shape
    _close(out, jnp.fft.fft(REAL, n=2, axis=2), ("x", "y", "freq"))


def test_irfft_default_length_and_four_axes():
    spec = arr(CPLX[:, :4], ("x", "w", "z"))
    out = _both(lambda t: named.fft.irfft(t, axis="w"), spec)
    _close(out, jnp.fft.irfft(CPLX[:, :4], axis=1), ("x", "w", "z"))
    four = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    x4 = arr(four, named.make_axes(a=2, b=3, c=4, d=5))
    out = _both(lambda t: named.fft.rfft(t, axis=("a", "b", "c", "d")), x4)
    _close(out, jnp.fft.rfftn(four), ("a", "b", "c", "d"))
    back = _both(lambda t: named.fft.irfft(t, axis={"a": None, "b": None, "c": None, "d": 5}), out)
    _close(back, four, ("a", "b", "c", "d"))
    out = _both(lambda t: named.fft.ifft(t, axis=("a", "b", "c", "d")), x4)
    _close(out, jnp.fft.ifftn(four), ("a", "b", "c", "d"))


@pytest.mark.parametrize("n", [None, 5])
def test_hermitian_transforms(n):
    x = _x(CPLX, ("y", "x", "z"))
    axis = "x" if n is None else named.Axis("x", n)
    out = _both(lambda t: named.fft.hfft(t, axis=axis, norm="ortho"), x)
    _close(out, jnp.fft.hfft(CPLX, n=n, axis=0, norm="ortho"), NAMES)
    real = _x(REAL, ("y", "x", "z"))
    out = _both(lambda t: named.fft.ihfft(t, axis=axis), real)
    _close(out, jnp.fft.ihfft(REAL, n=n, axis=0), NAMES)
    with pytest.raises(named.AxisError, match="one axis"):
        named.fft.hfft(x, axis=("x", "y"))


def test_frequencies_and_shifts():
    for n in (5, 6):
        F = named.Axis("f", n)
        _close(_both(lambda: named.fft.fftfreq(F, d=0.1)), jnp.fft.fftfreq(n, d=0.1), ("f",))
        _close(_both(lambda: named.fft.rfftfreq(F, d=0.1)), jnp.fft.rfftfreq(n, d=0.1), ("f",))
    x = _x(REAL, ("z", "y", "x"))
    _close(_both(lambda t: named.fft.fftshift(t), x), jnp.fft.fftshift(REAL), NAMES)
    _close(_both(lambda t: named.fft.ifftshift(t, axes=("z", "y")), x), jnp.fft.ifftshift(REAL, axes=(2, 1)), NAMES)


def test_errors_are_typed():
    x = _x(REAL, ("x", "y", "z"))
    with pytest.raises(named.AxisError, match="nope"):
        named.fft(x, axis="nope")
    with pytest.raises(named.AxisError, match="twice"):
        named.fft(x, axis=("x", "x"))
    with pytest.raises(TypeError, match="real input"):
        named.fft.rfft(named.fft(x))
    with pytest.raises(named.AxisError, match="empty"):
        named.fft.irfft(_x(CPLX, ("x", "y", "z"))[{"z": slice(0, 1)}], axis="z")


def test_fft_op_text_round_trips_and_is_checked():
    x = named.spec((X, Y), "f32")
    fn = lambda t: [named.fft.rfft(t, axis=("y", "x")), named.fft.irfft(named.fft.fft(t), axis="x")]
    text = named.compile(fn, builtin_passes=False).lower(x).as_text("traced")
    assert 'named.fft' in text and 'kind = "rfft"' in text and 'kind = "irfft"' in text
    assert print_function(parse(text)) == text
    bad = text.replace('kind = "rfft"', 'kind = "ifft"')
    with pytest.raises(named.ParseError, match="ifft needs a complex operand"):
        parse(bad)


def test_sharded_fft_matches_unsharded():
    data = rng.normal(size=(8, 6, 6)).astype(np.float32)
    x = arr(data, named.make_axes(batch=8, t=6, h=6))  # h becomes 4 frequencies: splits over "model"
    fn = named.compile(lambda t: named.fft.rfft(t, axis=("t", "h")), axis_resources={"batch": "data", "h": "model"},
                       mesh={"data": 4, "model": 2})
    _close(fn(x), jnp.fft.rfftn(data, axes=(1, 2)), ("batch", "t", "h"))


GRAD_CASES = {
    "rfft": (lambda t: named.abs(named.fft.rfft(t, axis=("y", "x"))) ** 2,
             lambda t: jnp.abs(jnp.fft.rfftn(t, axes=(1, 0))) ** 2),
    "irfft": (lambda t: named.fft.irfft(named.fft.fft(t, axis="z") ** 2, axis={"y": 7}) ** 3,
              lambda t: jnp.fft.irfft(jnp.fft.fft(t, axis=2) ** 2, n=7, axis=1) ** 3),
    "irfft2": (lambda t: named.fft.irfft(named.fft.rfft(t, axis=("x", "y")), axis={"x": None, "y": 6}) * t,
               lambda t: jnp.fft.irfftn(jnp.fft.rfftn(t, axes=(0, 1)), s=(4, 6), axes=(0, 1)) * t),
    "ifft": (lambda t: named.real(named.fft.ifft(t, axis=("x", "z"))) * named.imag(named.fft.fft(t, axis="y")),
             lambda t: jnp.real(jnp.fft.ifftn(t, axes=(0, 2))) * jnp.imag(jnp.fft.fft(t, axis=1))),
    "hfft": (lambda t: named.fft.hfft(named.fft.ihfft(t, axis="y"), axis=named.Axis("y", 5)) ** 2,
             lambda t: jnp.fft.hfft(jnp.fft.ihfft(t, axis=1), n=5, axis=1) ** 2),
}


@pytest.mark.parametrize("case", sorted(GRAD_CASES))
def test_gradients_match_jax(case):
    ours, theirs = GRAD_CASES[case]
    x = _x(REAL, ("z", "x", "y"))
    got = named.grad(lambda t: named.sum(ours(t)))(x)
    expected = jax.grad(lambda t: jnp.sum(theirs(t)))(REAL)
    _close(got, expected, NAMES, tol=2e-3)
