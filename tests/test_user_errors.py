"""What a user sees when their program is wrong: one typed error, their own frames, their line."""

import os
import subprocess
import sys
import textwrap

import pytest

WRONG_PROGRAMS = {
    "axis size": ("""
        import named
        Batch, Embed = named.make_axes(batch=4, embed=3)

        @named.compile
        def f(x, w):
            h = x * 2
            return named.dot(h, w, axis="embed")

        f(named.ones((Batch, Embed)), named.ones((named.Axis("embed", 5),)))
        """, "named.AxisError", ["'embed'", "size 3", "5"], 8),
    "python if": ("""
        import named

        @named.compile
        def f(x):
            if x.sum() > 0:
                return x
            return -x

        f(named.ones(named.make_axes(a=3)))
        """, "named.TracerError", ["named.where", "named.cond"], 6),
    "sharding": ("""
        import named

        @named.compile(axis_resources={"batch": "data"}, mesh={"data": 4})
        def f(x):
            return x + 1

        f(named.ones(named.make_axes(batch=6)))
        """, "named.ShardingError", ["'batch'", "size 6", "data"], None),
    "unnamed argument": ("""
        import numpy as np
        import named

        named.compile(lambda x: x * 2)(np.zeros((3, 4), np.float32))
        """, "named.AxisError", ["unnamed array of shape (3, 4)", "named.named(x"], None),
}


@pytest.mark.parametrize("name", sorted(WRONG_PROGRAMS))
def test_wrong_program_shows_typed_error_and_user_frames_only(tmp_path, name):
    code, error, words, line = WRONG_PROGRAMS[name]
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent(code))
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8")
    env.pop("NAMED_FULL_TRACEBACK", None)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 1
    err = proc.stderr
    assert f"{error}:" in err, err
    for w in words:
        assert w in err, (w, err)
    if line is not None:
        assert f"prog.py:{line}" in err, err
    for internal in ("named/jit.py", "named/core.py", "compiler/", "dialect/", "site-packages/jax/"):
        assert internal not in err, (internal, err)
    assert err.count("File ") <= 3, err


def test_full_traceback_on_request(tmp_path):
    code, *_ = WRONG_PROGRAMS["axis size"]
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent(code))
    env = dict(os.environ, NAMED_FULL_TRACEBACK="1")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert "named/jit.py" in proc.stderr or "named\\jit.py" in proc.stderr


def test_sharding_errors_at_call_time_name_the_call_site():
    import named
    f = named.compile(lambda x: x + 1, axis_resources={"batch": "data"}, mesh={"data": 4})
    with pytest.raises(named.ShardingError) as e:
        f(named.ones(named.make_axes(batch=6)))  # 6 is not divisible by 4
    assert "test_user_errors.py:" in str(e.value) and "size 6" in str(e.value)


def test_axis_sizes_beyond_64_bits_are_axis_errors():
    import named
    with pytest.raises(named.AxisError, match="64-bit"):
        named.Axis("a", 2 ** 63)
    with pytest.raises(named.ParseError, match="64-bit"):
        named.dialect.parse("func @f(%0: f32[a=99999999999999999999]) -> () {\n  return\n}\n")


def test_ir_shardings_are_checked_when_parsed():
    import named
    with pytest.raises(named.ParseError, match="unknown mesh axis 'm'") as e:
        named.dialect.parse("func @f(%0: f32[a=2@m]) -> (f32[a=2@m]) on mesh<x=2> {\n  return %0\n}\n")
    assert "^" in str(e.value)


def test_cli_refuses_to_emulate_absurd_meshes_quickly(tmp_path):
    (tmp_path / "model.py").write_text("def loss(x):\n    return x.sum('batch')\n")
    proc = subprocess.run([sys.executable, "-m", "named", "dump", "model.py:loss", "--arg", "x=f32[batch=8]",
                           "--mesh", "data=100000", "--map", "batch=data"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "ShardingError" in proc.stderr and "100000" in proc.stderr and "Traceback" not in proc.stderr
