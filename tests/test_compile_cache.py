"""The persistent compile cache: a second process (or a fresh function) with the same program loads the
executable from jax's cache directory instead of compiling; jax's thresholds are honoured; bad entries
warn and are replaced."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

import named
from named.runtime import cache

ROOT = Path(__file__).resolve().parent.parent
X, Y, Z = named.make_axes(x=16, y=8, z=4)


def program(a, b):
    return named.tanh(named.dot(a, b, axis="y")).sum("z")


def args():
    r = np.random.default_rng(0)
    return (named.named(r.normal(size=(16, 8)).astype(np.float32), (X, Y)),
            named.named(r.normal(size=(4, 8)).astype(np.float32), (Z, Y)))


def expected():
    a, b = (np.asarray(x.array) for x in args())
    return np.tanh(a @ b.T).sum(1)


@pytest.fixture
def cache_in(tmp_path):
    old = {k: getattr(jax.config, k) for k in ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
                                                "jax_persistent_cache_min_entry_size_bytes")}
    jax.config.update("jax_compilation_cache_dir", str(tmp_path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    cache.reset_stats()
    yield tmp_path
    for k, v in old.items():
        jax.config.update(k, v)
    # jax's own persistent cache may have opened the temporary directory: let it start afresh, so
    # later tests never write into a deleted folder.
    from jax._src import compilation_cache
    compilation_cache.reset_cache()


def run_fresh(mesh=None):
    f = named.compile(program, **({"mesh": mesh, "axis_resources": {"x": "data"}} if mesh else {}))
    out = f(*args())
    np.testing.assert_allclose(np.asarray(out.array), expected(), rtol=1e-5)
    return f


def entries(path):
    return sorted(p for p in Path(path).iterdir() if p.name.startswith("named-"))


def test_a_fresh_function_loads_the_stored_executable(cache_in):
    run_fresh()
    assert cache.stats()["writes"] >= 1 and cache.stats()["hits"] == 0
    stored = entries(cache_in)
    cache.reset_stats()
    run_fresh()
    assert cache.stats()["hits"] >= 1 and cache.stats()["misses"] == 0 and entries(cache_in) == stored
    run_fresh(mesh={"data": 4})  # another mesh: another key, compiled and stored
    assert cache.stats()["misses"] >= 1 and len(entries(cache_in)) > len(stored)


def test_jax_thresholds_decide_what_is_written(cache_in):
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1e9)
    run_fresh()
    assert entries(cache_in) == [] and cache.stats()["misses"] >= 1
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 1 << 40)
    run_fresh()
    assert entries(cache_in) == []
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    jax.config.update("jax_enable_compilation_cache", False)
    try:
        assert cache.cache_dir() is None
        run_fresh()
        assert entries(cache_in) == []
    finally:
        jax.config.update("jax_enable_compilation_cache", True)


@pytest.mark.parametrize("damage", ["garbage", "flip", "truncate", "unreadable"])
def test_a_bad_entry_warns_and_is_replaced(cache_in, damage):
    run_fresh()
    for path in entries(cache_in):
        data = path.read_bytes()
        if damage == "garbage":
            path.write_bytes(b"not an executable")
        elif damage == "flip":
            path.write_bytes(data[:40] + bytes([data[40] ^ 1]) + data[41:])
        elif damage == "truncate":
            path.write_bytes(data[: len(data) // 2])
        else:
            path.unlink()
            path.mkdir()  # reading a directory fails with an OSError
    cache.reset_stats()
    with pytest.warns(cache.CacheWarning, match="compile cache entry"):
        run_fresh()
    assert cache.stats()["errors"] >= 1 and cache.stats()["misses"] >= 1


def test_the_key_covers_program_options_and_machine():
    base = cache.cache_key("module", b"opts", ("0.10.2", "cpu", "cpu", "cpu", (0,)))
    assert base == cache.cache_key("module", b"opts", ("0.10.2", "cpu", "cpu", "cpu", (0,)))
    assert len({base, cache.cache_key("module2", b"opts", ("0.10.2", "cpu", "cpu", "cpu", (0,))),
                cache.cache_key("module", b"opts2", ("0.10.2", "cpu", "cpu", "cpu", (0,))),
                cache.cache_key("module", b"opts", ("0.10.3", "cpu", "cpu", "cpu", (0,))),
                cache.cache_key("module", b"opts", ("0.10.2", "cpu", "cpu", "cpu", (0, 1)))}) == 5


def test_a_second_process_skips_xla(tmp_path):
    script = textwrap.dedent("""
        import time, numpy as np, named
        from named.runtime import cache
        X, Y, Z = named.make_axes(x=16, y=8, z=4)
        a, b = named.ones((X, Y)), named.ones((Z, Y))
        cache.reset_stats()
        @named.compile
        def program(a, b):
            return named.tanh(named.dot(a, b, axis="y")).sum("z")
        out = program(a, b)
        s = cache.stats()
        print(out.array.tolist()[0], s["hits"], s["misses"])
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_COMPILATION_CACHE_DIR=str(tmp_path / "cache"),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", JAX_PLATFORMS="cpu")
    runs = [subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=300) for _ in range(2)]
    for proc in runs:
        assert proc.returncode == 0, proc.stderr
    first, second = (proc.stdout.split() for proc in runs)
    assert float(first[0]) == pytest.approx(4 * np.tanh(8.0)) and first[0] == second[0]
    assert (first[1], first[2]) == ("0", "1") and (second[1], second[2]) == ("1", "0")
