"""Conv, ConvTranspose and pooling over named spatial axes against jax.lax (issue 14)."""

import doctest
import importlib

import jax
import numpy as np
import pytest

import named
import named.nn as nn

B, B2, C, D, H, W = named.make_axes(batch=4, batch2=2, c=4, d=6, h=7, w=6)
MESH = {"data": 4, "model": 2}


def rand(seed, axes):
    return named.named(np.random.default_rng(seed).normal(size=[a.size for a in axes]).astype(np.float32), axes)


def lax_conv(x, w, stride, padding, dilation, groups, lhs_dilation=None):
    # x: (N, C, H, W); w: (O, I/g, kh, kw)
    return jax.lax.conv_general_dilated(x, w, stride, padding, lhs_dilation=lhs_dilation, rhs_dilation=dilation,
                                        feature_group_count=groups, dimension_numbers=("NCHW", "OIHW", "NCHW"))


def test_docstring_examples_run():
    for name in ("named.nn.conv", "named.nn.pool"):
        result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, name


@pytest.mark.parametrize("stride,padding,dilation,groups", [(1, 0, 1, 1), (2, "SAME", (2, 1), 2)])
def test_conv_matches_lax_with_two_batch_axes_eager_compiled_and_gradients(stride, padding, dilation, groups):
    conv = nn.Conv.init(("h", "w"), C, D, kernel_size=3, stride=stride, padding=padding, dilation=dilation,
                        groups=groups, key=named.random.key(0))
    assert conv.weight.axes == (D, named.Axis("c", 4 // groups), named.Axis("h", 3), named.Axis("w", 3))
    x = rand(1, (B, H, C, W, B2))
    xs = np.asarray(named.rearrange(x, (B, B2, C, H, W)).array).reshape(8, 4, 7, 6)
    n = 2
    strides = (stride,) * n
    dil = dilation if isinstance(dilation, tuple) else (dilation,) * n
    pad = padding if isinstance(padding, str) else [(padding, padding)] * n
    ref = lax_conv(xs, conv.weight.array, strides, pad, dil, groups) + np.asarray(conv.bias.array)[:, None, None]
    for out in (conv(x), named.compile(lambda m, x: m(x))(conv, x)):
        assert [a.name for a in out.axes] == ["batch", "h", "d", "w", "batch2"]
        got = np.asarray(named.rearrange(out, ("batch", "batch2", "d", "h", "w")).array)
        np.testing.assert_allclose(got.reshape(ref.shape), ref, rtol=1e-4, atol=1e-5)
    g = named.compile(named.grad(lambda m, x: (m(x) ** 2).sum(), argnums=(0, 1)))(conv, x)
    rw, rx = jax.grad(lambda w, x: ((lax_conv(x, w, strides, pad, dil, groups)
                                     + np.asarray(conv.bias.array)[:, None, None]) ** 2).sum(),
                      argnums=(0, 1))(conv.weight.array, xs)
    np.testing.assert_allclose(np.asarray(g[0].weight.array), rw, rtol=1e-4, atol=1e-4)
    got_x = np.asarray(named.rearrange(g[1], ("batch", "batch2", "c", "h", "w")).array).reshape(rx.shape)
    np.testing.assert_allclose(got_x, rx, rtol=1e-4, atol=1e-4)


def test_conv_transpose_matches_lax_with_lhs_dilation():
    up = nn.ConvTranspose.init(("h", "w"), C, D, kernel_size=3, stride=2, padding=1, output_padding=1,
                               key=named.random.key(1))
    x = rand(2, (B, C, H, W))
    out = named.compile(lambda m, x: m(x))(up, x)
    assert out.shape == {"batch": 4, "d": 6, "h": 14, "w": 12}  # (n - 1) * 2 - 2 + 2 + 1 + 1
    pad = [(1, 2), (1, 2)]  # d * (k - 1) - p, d * (k - 1) - p + output_padding
    ref = lax_conv(np.asarray(x.array), up.weight.array, (1, 1), pad, (1, 1), 1, lhs_dilation=(2, 2))
    ref = ref + np.asarray(up.bias.array)[:, None, None]
    np.testing.assert_allclose(np.asarray(out.array), ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(up(x).array), ref, rtol=1e-4, atol=1e-5)


def test_conv_sharded_over_batch_and_out_channels():
    conv = nn.Conv.init(("h", "w"), C, D, kernel_size=(3, 2), padding="SAME", key=named.random.key(2))
    x = rand(3, (B, C, H, W))
    out = named.compile(lambda m, x: m(x), axis_resources={"batch": "data", "d": "model"}, mesh=MESH)(conv, x)
    np.testing.assert_allclose(np.asarray(out.array), np.asarray(conv(x).array), rtol=1e-5, atol=1e-6)
    assert out.array.sharding.spec[:2] == ("data", "model")


def test_conv_errors_name_the_axes():
    conv = nn.Conv.init("h", C, D, kernel_size=3, key=named.random.key(0))
    with pytest.raises(named.AxisError, match="lacks axis 'c'"):
        conv(rand(0, (B, H)))
    with pytest.raises(named.AxisError, match="size 5"):
        conv(rand(0, (named.Axis("c", 5), H)))
    with pytest.raises(named.AxisError, match="window"):
        conv(rand(0, (C, named.Axis("h", 2))))
    with pytest.raises(named.AxisError, match="groups=3"):
        nn.Conv.init("h", C, D, kernel_size=3, groups=3, key=named.random.key(0))


def lax_pool(x, init, op, window, stride, padding):
    return jax.lax.reduce_window(x, init, op, window, stride, padding)


def test_pools_match_lax_reduce_window_with_padding_strides_and_gradients():
    x = rand(4, (B, H, W))
    win = (named.Axis("h", 3), named.Axis("w", 2))

    def pools(x):
        return (nn.max_pool(win, x, stride=2, padding="SAME"), nn.min_pool(win, x, stride=(1, 2)),
                nn.mean_pool(win, x, stride=2, padding=1), nn.mean_pool(win, x, 2, 1, count_include_pad=True))

    a = np.asarray(x.array)
    same = [(0, 0)] + [tuple(p) for p in jax.lax.padtype_to_pads((7, 6), (3, 2), (2, 2), "SAME")]
    mx = lax_pool(a, -np.inf, jax.lax.max, (1, 3, 2), (1, 2, 2), same)
    mn = lax_pool(a, np.inf, jax.lax.min, (1, 3, 2), (1, 1, 2), "VALID")
    pad1 = [(0, 0), (1, 1), (1, 1)]
    total = lax_pool(a, 0.0, jax.lax.add, (1, 3, 2), (1, 2, 2), pad1)
    count = lax_pool(np.ones_like(a), 0.0, jax.lax.add, (1, 3, 2), (1, 2, 2), pad1)
    eager, compiled = pools(x), named.compile(pools)(x)
    for got in (eager, compiled):
        for g, want in zip(got, (mx, mn, total / count, total / 6)):
            assert [ax.name for ax in g.axes] == ["batch", "h", "w"]
            np.testing.assert_allclose(np.asarray(g.array), want, rtol=1e-5, atol=1e-6)
    grad = named.grad(lambda x: nn.max_pool(win, x, stride=2, padding="SAME").sum()
                      + nn.mean_pool(win, x, 2, 1).sum())(x)
    ref = jax.grad(lambda a: lax_pool(a, -np.inf, jax.lax.max, (1, 3, 2), (1, 2, 2), same).sum()
                   + (lax_pool(a, 0.0, jax.lax.add, (1, 3, 2), (1, 2, 2), pad1) / count).sum())(a)
    np.testing.assert_allclose(np.asarray(grad.array), ref, rtol=1e-5, atol=1e-6)


def test_pool_ceil_mode_and_missing_axis():
    x = rand(5, (B, H))
    out = nn.max_pool(named.Axis("h", 2), x, stride=2, use_ceil=True)
    assert out.shape == {"batch": 4, "h": 4}
    a = np.asarray(x.array)
    np.testing.assert_allclose(np.asarray(out.array)[:, -1], a[:, 6])
    with pytest.raises(named.AxisError, match="not in the input"):
        nn.max_pool(named.Axis("w", 2), x)
