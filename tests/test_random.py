"""named.random: the same numbers as jax.random (threefry), eagerly and compiled, plus statistics,
batched keys, dropout, the random ops' type rules and their IR text."""

import jax
import numpy as np
import pytest

import named
from named import dialect as d
from named.random import Key
from _named_testing import arr, assert_named_close

N, M = named.make_axes(n=6, m=7)
BIG = named.Axis("big", 200_000)


def _jax_key(seed):
    return jax.random.key(seed)


def _same(a, b):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def _eager_and_compiled(fn, *args):
    eager = fn(*args)
    compiled = named.compile(fn)(*args)
    assert eager.axes == compiled.axes and eager.dtype == compiled.dtype
    _same(eager, compiled)
    return eager


@pytest.mark.parametrize("seed", [0, 1, 42, -5, 2 ** 31 + 5, 2 ** 40 + 3])
def test_key_words_match_jax(seed):
    k = named.random.key(seed)
    assert isinstance(k, Key) and k.axes == ()
    _same(k.data, jax.random.key_data(_jax_key(seed)))
    traced = named.compile(lambda s: named.random.key(s).data)(arr(np.int32(seed if seed < 2 ** 31 else 0), ()))
    _same(traced, jax.random.key_data(_jax_key(seed if seed < 2 ** 31 else 0)))


@pytest.mark.parametrize("seed", [0, 7])
@pytest.mark.parametrize("dtype", ["u8", "u16", "u32"])
def test_bits_match_jax(seed, dtype):
    out = _eager_and_compiled(lambda k: named.random.bits(k, (N, M), dtype), named.random.key(seed))
    _same(out, jax.random.bits(_jax_key(seed), (6, 7), np.dtype(dtype.replace("u", "uint"))))


@pytest.mark.parametrize("dtype", ["f32", "bf16", "f16"])
def test_uniform_and_normal_match_jax(dtype):
    np_dtype = d.to_numpy_dtype(dtype)
    k = named.random.key(3)
    out = _eager_and_compiled(lambda k: named.random.uniform(k, (N, M), dtype, -2.0, 5.0), k)
    _same(out, jax.random.uniform(_jax_key(3), (6, 7), np_dtype, -2.0, 5.0))
    out = _eager_and_compiled(lambda k: named.random.normal(k, (M, N), dtype), k)
    _same(out, jax.random.normal(_jax_key(3), (7, 6), np_dtype))


@pytest.mark.parametrize("dtype,low,high", [("i32", 0, 10), ("i32", -5, 1000), ("u8", 0, 256), ("i8", -3, 3),
                                            ("i32", 5, 5), ("u32", 1, 2 ** 31 - 1)])
def test_randint_matches_jax(dtype, low, high):
    out = _eager_and_compiled(lambda k: named.random.randint(k, (N, M), low, high, dtype), named.random.key(11))
    expected = jax.random.randint(_jax_key(11), (6, 7), low, high, np.dtype(d.to_numpy_dtype(dtype)))
    _same(out, expected)
    assert out.dtype == expected.dtype


def test_split_fold_in_and_bernoulli_match_jax():
    k1, k2, k3 = named.random.split(named.random.key(5), 3)
    for mine, theirs in zip((k1, k2, k3), jax.random.split(_jax_key(5), 3)):
        _same(mine.data, jax.random.key_data(theirs))
    _same(named.random.fold_in(k2, 17).data, jax.random.key_data(jax.random.fold_in(jax.random.split(_jax_key(5), 3)[1], 17)))
    out = _eager_and_compiled(lambda k: named.random.bernoulli(k, (N, M), 0.3), k3)
    _same(out, jax.random.bernoulli(jax.random.split(_jax_key(5), 3)[2], 0.3, (6, 7)))


def test_jax_keys_are_accepted():
    _same(named.random.normal(jax.random.key(4), N), jax.random.normal(jax.random.key(4), (6,)))
    _same(named.random.normal(jax.random.PRNGKey(4), N), jax.random.normal(jax.random.key(4), (6,)))


def test_keys_pass_through_compile_and_come_back():
    @named.compile
    def step(k):
        k, sub = named.random.split(k)
        return k, named.random.normal(sub, N)

    k, x = step(named.random.key(0))
    assert isinstance(k, Key)
    k_eager, sub = named.random.split(named.random.key(0))
    _same(k.data, k_eager.data)
    _same(x, named.random.normal(sub, N))


def test_determinism_and_different_keys_differ():
    k = named.random.key(1)
    a, b = named.random.normal(k, (N, M)), named.random.normal(k, (N, M))
    _same(a, b)
    c = named.random.normal(named.random.key(2), (N, M))
    assert not np.allclose(np.asarray(a), np.asarray(c))
    s1, s2 = named.random.split(k)
    assert not np.allclose(np.asarray(named.random.normal(s1, N)), np.asarray(named.random.normal(s2, N)))
    f1, f2 = named.random.fold_in(k, 1), named.random.fold_in(k, 2)
    assert not np.array_equal(np.asarray(f1.data), np.asarray(f2.data))


def test_statistics_of_large_samples():
    k1, k2, k3, k4 = named.random.split(named.random.key(0), 4)
    x = np.asarray(named.random.normal(k1, BIG), np.float64)
    assert abs(x.mean()) < 0.01 and abs(x.std() - 1) < 0.01
    assert abs(np.mean(x < 1.0) - 0.8413) < 0.005  # the normal CDF at 1
    u = np.asarray(named.random.uniform(k2, BIG, minval=2.0, maxval=4.0), np.float64)
    assert u.min() >= 2.0 and u.max() < 4.0 and abs(u.mean() - 3) < 0.01 and abs(u.var() - 4 / 12) < 0.01
    b = np.asarray(named.random.bernoulli(k3, BIG, 0.25))
    assert b.dtype == np.bool_ and abs(b.mean() - 0.25) < 0.005
    r = np.asarray(named.random.randint(k4, BIG, -3, 4))
    assert r.min() == -3 and r.max() == 3
    counts = np.bincount(r + 3) / r.size
    assert np.all(np.abs(counts - 1 / 7) < 0.005)


def test_bounds_and_probabilities_broadcast_by_name():
    k = named.random.key(9)
    low = arr(np.array([0.0, 10.0, 20.0, 30.0, 40.0, 50.0], np.float32), ("n",))
    out = _eager_and_compiled(lambda k, low: named.random.uniform(k, (M, N), minval=low, maxval=low + 1), k, low)
    data = np.asarray(out)  # (m, n)
    assert np.all((data >= np.asarray(low)) & (data < np.asarray(low) + 1))
    p = arr(np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0], np.float32), ("n",))
    out = named.random.bernoulli(k, (N, M), p)
    assert_named_close(out, np.broadcast_to(np.asarray(p)[:, None] > 0.5, (6, 7)), ("n", "m"))
    hi = arr(np.arange(1, 7, dtype=np.int32), ("n",))
    r = np.asarray(named.random.randint(k, (N, BIG.resize(500)), 0, hi))
    assert np.all(r.max(1) == np.arange(6)) and r.min() == 0


def test_batched_keys_act_like_a_map_over_keys():
    layer = named.Axis("layer", 3)
    keys = named.random.split(named.random.key(8), layer)
    assert keys.axes == (layer,)
    out = _eager_and_compiled(lambda ks: named.random.normal(ks, (N,)), keys)
    assert [a.name for a in out.axes] == ["layer", "n"]
    for i in range(3):
        _same(np.asarray(out)[i], named.random.normal(keys["layer", i], N))
    sub = named.random.fold_in(keys, arr(np.arange(3, dtype=np.int32), ("layer",)))
    assert sub.axes == (layer,)
    _same(sub["layer", 2].data, named.random.fold_in(keys["layer", 2], 2).data)
    with pytest.raises(named.AxisError, match="key axis"):
        keys["__key__", 0]


def test_sharded_random_numbers_do_not_depend_on_the_mesh():
    k = named.random.key(0)

    def sample(k):
        return named.random.normal(k, named.make_axes(batch=16, embed=4))

    plain = named.compile(sample)(k)
    sharded = named.compile(sample, axis_resources={"batch": "data", "embed": "model"},
                            mesh={"data": 4, "model": 2})(k)
    _same(plain, sharded)
    _same(plain, jax.random.normal(_jax_key(0), (16, 4)))


def test_errors():
    k = named.random.key(0)
    with pytest.raises(TypeError, match="seed must be an int"):
        named.random.key(1.5)
    with pytest.raises(TypeError, match="named.random.key"):
        named.random.normal(np.zeros(3), N)
    with pytest.raises(TypeError, match="named.Axis"):
        named.random.normal(k, ("n",))
    with pytest.raises(TypeError, match="makes floats"):
        named.random.uniform(k, N, "i32")
    with pytest.raises(TypeError, match="makes integers"):
        named.random.randint(k, N, 0, 3, "f32")
    with pytest.raises(TypeError, match="unsigned"):
        named.random.bits(k, N, "i32")
    with pytest.raises(named.AxisError, match="minval has axes \\[m=7\\] that the sample \\[n=6\\] lacks"):
        named.random.uniform(k, N, minval=named.zeros(M))
    with pytest.raises(named.AxisError, match="must be new"):
        named.random.normal(named.random.split(k, N), N)
    with pytest.raises(TypeError, match="split"):
        named.random.split(k, 2.0)
    with pytest.raises(TypeError, match="u32 NamedArray"):
        Key(named.zeros(N))


# ---------------------------------------------------------------------------------------------- dropout
def test_dropout():
    x = named.ones((N, BIG.resize(20_000)))
    k = named.random.key(3)
    y = _eager_and_compiled(lambda x, k: named.nn.dropout(x, 0.25, k), x, k)
    data = np.asarray(y)
    assert abs(np.mean(data == 0) - 0.25) < 0.01
    np.testing.assert_allclose(data[data != 0], 1 / 0.75, rtol=1e-6)
    assert named.nn.dropout(x, 0.5, k, inference=True) is x
    assert named.nn.dropout(x, 0.0, k) is x
    assert not np.asarray(named.nn.dropout(x, 1.0, k)).any()
    shared = np.asarray(named.nn.dropout(x, 0.5, k, broadcast_axes="n"))
    assert np.all(shared == shared[:1])
    half = named.nn.dropout(x.astype("bf16"), 0.5, k)
    assert half.dtype == d.to_numpy_dtype("bf16")
    with pytest.raises(ValueError, match="needs a key"):
        named.nn.dropout(x, 0.5)
    with pytest.raises(ValueError, match="rate must be in"):
        named.nn.dropout(x, 1.5, k)


# ------------------------------------------------------------------------------------- ops and IR text
def test_random_ops_round_trip_through_the_ir_text():
    def program(k, seed):
        a, b = named.random.split(k)
        return [named.random.uniform(a, (N,)), named.random.bits(b, (M,), "u64"),
                named.random.fold_in(a, 3).data, named.random.key(seed).data]

    lowered = named.compile(program, builtin_passes=False).lower(named.random.key(0), arr(np.int32(1), ()))
    for stage in ("traced", "partitioned"):
        text = lowered.as_text(stage)
        assert d.print_function(d.parse(text)) == text
    text = lowered.as_text("traced")
    for op in ("random_split", "random_bits", "random_fold_in", "random_uniform"):
        assert f"named.{op} " in text
    assert "u32[__key__=2]" in text


T = d.TensorType
KEY = T("u32", (d.KEY_AXIS,))
F32 = T("f32", ())


@pytest.mark.parametrize("cls,types,attrs,error,words", [
    (d.RandomBits, (T("i32", (d.KEY_AXIS,)),), {"axes": (N,), "width": 32}, d.VerifyError, "must be u32"),
    (d.RandomBits, (T("u32", (N,)),), {"axes": (M,), "width": 32}, d.VerifyError, "__key__=2"),
    (d.RandomBits, (KEY,), {"axes": (N,), "width": 12}, d.VerifyError, "width"),
    (d.RandomBits, (KEY,), {"axes": ("n",), "width": 32}, d.VerifyError, "list of axes"),
    (d.RandomBits, (T("u32", (N, d.KEY_AXIS)),), {"axes": (N,), "width": 32}, named.AxisError, "must be new"),
    (d.RandomSplit, (KEY,), {"axes": (d.KEY_AXIS,)}, named.AxisError, "must be new"),
    (d.RandomBits, (KEY,), {"axes": (named.Axis("p", 2 ** 33), named.Axis("q", 2 ** 32)), "width": 8},
     named.AxisError, "more than 2\\*\\*64"),
    (d.RandomFoldIn, (KEY, T("f32", ())), {}, d.VerifyError, "integer"),
    (d.RandomFoldIn, (T("u32", (N.resize(2), d.KEY_AXIS)), T("i32", (N,))), {}, named.AxisError, "'n' has size"),
    (d.RandomUniform, (KEY, F32, F32), {"axes": (N,), "dtype": "i32"}, d.VerifyError, "float dtype"),
    (d.RandomUniform, (KEY, T("f16", ()), F32), {"axes": (N,), "dtype": "f32"}, d.VerifyError,
     "minval is f16 but the samples are f32"),
    (d.RandomUniform, (KEY, F32, T("f32", (M,))), {"axes": (N,), "dtype": "f32"}, named.AxisError,
     "maxval \\[m=7\\] does not fit the samples \\[n=6\\]"),
    (d.RandomUniform, (KEY, T("f32", (N.resize(2),)), F32), {"axes": (N,), "dtype": "f32"}, named.AxisError,
     "axis 'n'"),
])
def test_type_rules_reject_bad_operands(cls, types, attrs, error, words):
    with pytest.raises(error, match=words):
        cls.type_rule(types, attrs)
