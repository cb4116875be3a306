"""Every program in examples/ runs as a user would run it, and prints what it promises."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str) -> str:
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)  # examples set up their own devices
    proc = subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, env=env,
                          timeout=600, cwd=EXAMPLES.parent)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_mlp_example_prints_ir_and_matching_loss():
    out = run_example("mlp.py")
    assert "func @loss(" in out and "named.dot" in out
    assert "loss = " in out and "numpy reference" in out


@pytest.mark.parametrize("path", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_every_example_exits_cleanly(path):
    run_example(path)
