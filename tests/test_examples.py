"""Every program in examples/ runs as a user would run it, and prints what it promises."""

import os
import subprocess
import sys
from pathlib import Path

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


def test_every_example_is_run_by_a_test():
    # Each example has a test that runs it and checks what it prints; a new example needs one too.
    tests = "\n".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    missing = [p.name for p in EXAMPLES.glob("*.py") if p.name not in tests.replace("test_examples.py", "")]
    assert not missing, f"examples no test runs: {missing}"


def test_train_optax_example_matches_optax_outside_and_the_jax_twin():
    out = run_example("train_optax.py")
    assert out.count("to optax outside") == 2 and "mesh {'data': 4, 'model': 2}" in out
    for line in out.splitlines():
        if "to optax outside" in line:
            outside = float(line.split("to optax outside ")[1].split(",")[0])
            assert outside <= 1e-6, line
    assert "2 named.call_jax ops" in out


def test_gpt2_example_trains_on_the_mesh_and_writes_a_png(tmp_path):
    # examples/gpt2.py: a short run; the full run's curve is examples/gpt2_loss.png in the README
    import re
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    png = tmp_path / "loss.png"
    proc = subprocess.run([sys.executable, str(EXAMPLES / "gpt2.py"), "--steps", "20", "--png", str(png)],
                          capture_output=True, text=True, env=env, timeout=600, cwd=EXAMPLES.parent)
    assert proc.returncode == 0, f"gpt2.py failed:\n{proc.stdout}\n{proc.stderr}"
    first, final = map(float, re.search(r"first loss ([0-9.]+), final loss ([0-9.]+)", proc.stdout).groups())
    assert first > 4.0 and final < first - 0.8, proc.stdout  # from ~log(128) toward the character statistics
    assert "'model'" in re.search(r"qkv weight sharded as (.*)", proc.stdout).group(1)
    assert "20/20" in proc.stderr  # the progress bar
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and b"IDAT" in data and data.endswith(b"IEND\xaeB`\x82")
