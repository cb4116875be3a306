"""named.export / named.deserialize: portable bytes with a checked header, runnable in a fresh process
without the source; arguments checked by axes; truncated or corrupted bytes are typed errors."""

import json
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import named
from named.deploy.format import pack, unpack

ROOT = Path(__file__).resolve().parent.parent
X, Y = named.make_axes(x=8, y=4)
W = np.arange(32, dtype=np.float32).reshape(8, 4) / 10
V = np.arange(8, dtype=np.float32)


def model(p, x, *, scale):
    h = named.tanh((p["w"] * x).sum("x")) * scale
    return {"out": h, "extra": [x.sum(), None]}


def expected(scale):
    return np.tanh((W * V[:, None]).sum(0)) * scale, V.sum()


@pytest.fixture(scope="module")
def sharded():
    f = named.compile(model, axis_resources={"x": "data", "y": "model"}, mesh={"data": 4, "model": 2})
    return named.export(f, {"w": named.spec((X, Y))}, named.spec(X), scale=1.0)


def test_round_trip_runs_sharded_with_the_original_structure(sharded):
    assert sharded.mesh.axes == (("data", 4), ("model", 2))
    assert [str(t) for t in sharded.in_types] == ["f32[x=8@data, y=4@model]", "f32[x=8@data]", "f32[]"]
    again = named.deserialize(sharded.serialize())
    assert repr(again) == repr(sharded)
    out = again({"w": named.named(W, (X, Y))}, named.named(V, (X,)), scale=2.0)
    want, total = expected(2.0)
    assert set(out) == {"out", "extra"} and out["extra"][1] is None
    np.testing.assert_allclose(np.asarray(out["out"].array), want, rtol=1e-5)
    assert out["out"].axes == (Y,) and out["extra"][0].item() == pytest.approx(total)
    assert out["out"].array.sharding.spec == named.runtime.pjrt.PartitionSpec("model")
    assert "sdy.mesh @mesh" in again.mlir_module()


def test_arguments_are_checked_by_axes_and_reordered(sharded):
    exp = named.deserialize(sharded.serialize())
    x = named.named(V, (X,))
    transposed = {"w": named.named(np.ascontiguousarray(W.T), (Y, X))}
    np.testing.assert_allclose(np.asarray(exp(transposed, x, scale=1.0)["out"].array), expected(1.0)[0], rtol=1e-5)
    with pytest.raises(named.AxisError, match=r"\['w'\] has axes \(x=8, z=4\).*takes \(x=8, y=4\)"):
        exp({"w": named.named(W, (X, named.Axis("z", 4)))}, x, scale=1.0)
    with pytest.raises(named.AxisError, match=r"has axes \(x=8, y=5\)"):
        exp({"w": named.zeros((X, named.Axis("y", 5)))}, x, scale=1.0)
    with pytest.raises(named.AxisError, match="dtype int32"):
        exp({"w": named.named(W.astype(np.int32), (X, Y))}, x, scale=1.0)
    with pytest.raises(named.AxisError, match=r"dict with keys \['w'\]"):
        exp({"v": named.named(W, (X, Y))}, x, scale=1.0)
    with pytest.raises(named.AxisError, match="list of 2"):
        exp({"w": named.named(W, (X, Y))}, scale=1.0)
    with pytest.raises(named.AxisError, match="is a ndarray"):
        exp({"w": W}, x, scale=1.0)


def test_every_flipped_byte_and_every_truncation_is_a_typed_error():
    exp = named.export(lambda a: (a * 2.0).sum("x"), named.spec(X))
    data = exp.serialize()
    assert named.deserialize(data)(named.ones(X)).item() == 16.0
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x01
        with pytest.raises(named.SerializationError):
            named.deserialize(bytes(bad))
    for n in range(0, len(data), 7):
        with pytest.raises(named.SerializationError):
            named.deserialize(data[:n])
    with pytest.raises(named.SerializationError, match="takes bytes"):
        named.deserialize("not bytes")
    assert issubclass(named.SerializationError, named.NamedError)


def test_versions_in_the_header_are_checked():
    exp = named.export(lambda a: a + 1.0, named.spec(X))
    header, artifact = unpack(exp.serialize())
    assert header["stablehlo_version"].count(".") == 2 and header["args"][0]["axes"] == [["x", 8]]
    future = dict(header, stablehlo_version="99.0.0")
    with pytest.raises(named.SerializationError, match="needs StableHLO 99.0.0"):
        named.deserialize(pack(future, artifact))
    with pytest.raises(named.SerializationError, match="header is malformed"):
        named.deserialize(pack({k: v for k, v in header.items() if k != "args"}, artifact))
    data = bytearray(pack(header, artifact))
    data[8:12] = struct.pack("<I", 2)
    with pytest.raises(named.SerializationError, match="format version 2"):
        named.deserialize(bytes(data))


def test_donation_survives_export():
    f = named.compile(lambda p, g: p - 0.5 * g, donate_argnums=0)
    exp = named.deserialize(named.export(f, named.spec(X), named.spec(X)).serialize())
    p, g = named.ones(X), named.ones(X)
    np.testing.assert_allclose(np.asarray(exp(p, g).array), 0.5)
    assert p.array.is_deleted()
    with pytest.raises(named.DeletedArrayError):
        exp(p, g)


def test_a_fresh_process_runs_the_bytes_without_the_source(tmp_path, sharded):
    path = tmp_path / "model.named"
    path.write_bytes(sharded.serialize())
    script = textwrap.dedent(f"""
        import numpy as np, named
        exp = named.deserialize(open({str(path)!r}, "rb").read())
        X, Y = named.make_axes(x=8, y=4)
        w = np.arange(32, dtype=np.float32).reshape(8, 4) / 10
        out = exp({{"w": named.named(w, (X, Y))}}, named.named(np.arange(8, dtype=np.float32), (X,)), scale=3.0)
        print(list(np.asarray(out["out"].array)))
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT), XLA_FLAGS="--xla_force_host_platform_device_count=8",
               JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_allclose(json.loads(proc.stdout.strip().replace("np.float32(", "").replace(")", "")),
                               expected(3.0)[0], rtol=1e-5)


@pytest.mark.parametrize("module", ["named.deploy.exported", "named.deploy.format", "named.donation", "named.scope",
                                    "named.compiler.lowering.aliasing", "named.distributed", "named.runtime.cache"])
def test_docstring_examples_run(module):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_export_a_function_of_an_equinox_module():
    """Arguments may be any registered pytree (an nn.Linear here): kept in the header by class name
    and children; a result of such a class is refused (rebuilding it would need the class)."""
    import named.nn as nn
    E, H = named.make_axes(embed=4, hidden=3)
    layer = nn.Linear.init(E, H, key=named.random.key(0))
    x = named.named(np.arange(4, dtype=np.float32), ("embed",))
    f = named.compile(lambda m, x: m(x))
    back = named.deserialize(named.export(f, layer, x).serialize())
    np.testing.assert_allclose(np.asarray(back(layer, x).array), np.asarray(f(layer, x).array), rtol=1e-6)
    other = nn.Linear.init(E, H, key=named.random.key(1))
    np.testing.assert_allclose(np.asarray(back(other, x).array), np.asarray(f(other, x).array), rtol=1e-6)
    with pytest.raises(named.AxisError, match=r"should be a named\.nn\.linear\.Linear .* got named\.core\.NamedArray"):
        back(layer.weight, x)
    with pytest.raises(named.SerializationError, match="results of tuples, lists, dicts and None"):
        named.export(lambda x: layer, x)
