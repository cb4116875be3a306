"""IR-text mutation fuzzing (issue 11): mutated program texts read, print and lower to StableHLO
with a typed error or not at all; the survivors compile with XLA in a child process (no crash).
``NAMED_FUZZ_EXAMPLES`` sets the long profile."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import fuzz_ir
import fuzz_programs as fp

SEEDS = []
SURVIVORS = []


@pytest.fixture(scope="module", autouse=True)
def seeds():
    SEEDS[:] = fuzz_ir.seed_texts()


def test_seed_programs_round_trip_and_lower():
    for text in SEEDS:
        assert fuzz_ir.check_text(text) == "lowered", text


mutations = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 10 ** 6), st.integers(0, 10 ** 6)),
                     min_size=1, max_size=4)


@settings(max_examples=fp.fuzz_examples(150), deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.integers(0, 10 ** 6), mutations)
def test_mutated_ir_text_gives_typed_errors_only(which, ops):
    text = fuzz_ir.mutate(SEEDS[which % len(SEEDS)], ops)
    if fuzz_ir.check_text(text) == "lowered" and len(SURVIVORS) < 40:
        SURVIVORS.append(text)


def test_surviving_mutants_compile_without_a_crash(tmp_path):
    texts = SURVIVORS or SEEDS
    path = tmp_path / "texts.json"
    path.write_text(json.dumps(texts))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root, JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, os.path.join(root, "tests", "fuzz_ir.py"), str(path)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, f"XLA crashed (exit {proc.returncode}) on a mutant:\n{proc.stderr[-3000:]}"
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert counts["compiled"] + counts["refused"] == len(texts)


@pytest.mark.parametrize("text, where", [
    ('func @f() -> (f32[b=4]) {\n  %0 = named.full {value = 1.0, dtype = "f\\q32", axes = [b=4]} : f32[b=4]\n'
     '  return %0\n}\n', "malformed string"),
    ('func @f() -> (f32[b=4]) {\n  %0 = named.full {value = 1.0, dtype = "f\x0132", axes = [b=4]} : f32[b=4]\n'
     '  return %0\n}\n', "malformed string"),
    ('func @f() -> (f32[b=4]) {\n  %0 = named.full {value = 1.0, dtype = "\\ud800", axes = [b=4]} : f32[b=4]\n'
     '  return %0\n}\n', "malformed string"),
    ('func @f() -> (f32[b=4]) {\n  %0 = named.full {value = 1.0, dtype = 3, axes = [b=4]} : f32[b=4]\n'
     '  return %0\n}\n', "dtype"),
    ('func @f() -> (f32[b=4]) {\n  %0 = named.full {value = ' + "[" * 5000 + "]" * 5000 +
     ', dtype = "f32", axes = [b=4]} : f32[b=4]\n  return %0\n}\n', "nesting too deep"),
    ('func @f() -> (i32[b=4]) {\n  %0 = named.full {value = nan, dtype = "i32", axes = [b=4]} : i32[b=4]\n'
     '  return %0\n}\n', "cannot be represented"),
    ('func @f() -> (i8[b=4]) {\n  %0 = named.full {value = 100000000000000000000, dtype = "i8", axes = [b=4]}'
     ' : i8[b=4]\n  return %0\n}\n', "out of range"),
    ('func @f(%0: f32[b=4]) -> (f32[b=4]) {\n  %1 = named.add %0, %0 : f32[b=4] loc("x.py":4294967296)\n'
     '  return %1\n}\n', "location line"),
])
def test_malformed_ir_is_a_parse_error_with_a_caret(text, where):
    from named.dialect import parse
    import named
    with pytest.raises(named.ParseError, match=where) as info:
        parse(text)
    assert "^" in str(info.value)


def test_complex_constants_have_a_text_form():
    import named
    import numpy as np
    A = named.Axis("a", 2)
    const = named.NamedArray(np.array([1j, 2 - 0.5j], np.complex64), (A,))
    f = named.compile(lambda c: c * (1 + 2j) + const)
    lowered = f.lower(named.ones((A,), "c64"))
    text = lowered.as_text()
    assert "complex(1.0, 2.0)" in text and "complex(2.0, -0.5)" in text
    assert fuzz_ir.check_text(text) == "lowered"
    np.testing.assert_allclose(np.asarray(f(named.ones((A,), "c64"))), [1 + 3j, 3 + 1.5j])
