"""Names for profiling: named.scope / jax.named_scope paths reach the IR locations (printed and parsed
back), the StableHLO name locations and the compiled HLO's op_name metadata; modules are named after
the user's function."""

import re

import jax
import numpy as np
import pytest

import named
from named.dialect import parse, print_function

X, Y = named.make_axes(x=3, y=4)


@named.scope("mlp")
def mlp(h, w):
    return named.dot(h, w, axis="x")


def loss(x, w):
    with named.scope("block_3"):
        with jax.named_scope("attn"):
            h = x * 2.0
        h = mlp(h, w)
    return h.sum()


def args():
    x = np.arange(3, dtype=np.float32)
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    return named.named(x, (X,)), named.named(w, (X, Y))


def test_scopes_reach_ir_locations_and_round_trip():
    low = named.compile(loss).lower(*args())
    text = low.as_text("traced", locations=True)
    assert 'named.mul' in text and 'loc("block_3/attn"(' in text
    assert re.search(r'named.dot .* loc\("block_3/mlp"\(".*test_scope.py":19\)\)', text)
    assert re.search(r'named.reduce_sum .* loc\(".*test_scope.py":\d+\)', text)  # outside any scope
    assert print_function(parse(text), locations=True) == text
    assert "block_3" not in low.as_text("traced")  # without locations: no scope either


def test_scopes_become_hlo_op_names_and_the_module_is_named_after_the_function():
    f = named.compile(loss)
    x, w = args()
    low = f.lower(x, w)
    mlir = low.as_text("stablehlo", locations=True)
    assert "module @loss {" in mlir and 'loc("loss/block_3/mlp/dot"(' in mlir
    hlo = low.compile().as_text()
    assert hlo.startswith("HloModule loss")
    names = set(re.findall(r'op_name="([^"]*)"', hlo))
    assert {"loss/block_3/attn/mul", "loss/block_3/mlp/dot", "loss/reduce_sum"} <= names
    assert re.search(r'FileNames\n1 ".*test_scope.py"', hlo) and "line=19 " in hlo
    expected = ((np.arange(3) * 2.0) @ np.arange(12).reshape(3, 4)).sum()
    assert f(x, w).item() == pytest.approx(expected)
    with named.scope("outer"):  # eager ops inside a scope run as usual
        assert named.dot(x, w, axis="x").sum().item() == pytest.approx(np.arange(3) @ np.arange(12).reshape(3, 4) @ np.ones(4))


def test_scope_is_a_decorator_and_a_context_manager_and_checks_its_name():
    s = named.scope("a")
    with s:
        with s:  # re-entrant
            pass
    assert mlp.__name__ == "mlp"
    with pytest.raises(TypeError, match="non-empty string"):
        named.scope("")


def test_scope_errors_keep_the_user_line():
    Z = named.Axis("x", 5)

    def mismatch(x):
        with named.scope("head"):
            return x + named.ones(Z)
    with pytest.raises(named.AxisError, match="test_scope.py"):
        named.compile(mismatch).lower(args()[0])


def test_cli_dump_with_locations_shows_scopes(tmp_path, capsys, monkeypatch):
    from named.cli import main
    (tmp_path / "model.py").write_text(
        "import named\n"
        "def loss(x):\n"
        "    with named.scope('head'):\n"
        "        y = x * 2.0\n"
        "    return y.sum('x')\n")
    monkeypatch.chdir(tmp_path)
    assert main(["dump", "model.py:loss", "--arg", "x=f32[x=3]", "--stage", "traced", "--locations"]) == 0
    out = capsys.readouterr().out
    assert 'loc("head"("model.py":4))' in out and 'named.reduce_sum' in out
