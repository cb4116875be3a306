"""Two processes x 4 CPU devices under jax.distributed (tests/_multiprocess_worker.py): a sharded
training step with gradients and a donated update, eager ops on global arrays, reading results back
with named.process_allgather, and RemoteDataError for data another process holds."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
TIMEOUT = 240  # seconds for both processes together: the test can never hang


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reference():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 6)).astype(np.float64)
    x = rng.normal(size=(8, 4)).astype(np.float64)
    def loss_grad(w):
        t = np.tanh(x @ w)
        return t.sum(), x.T @ (1 - t ** 2)
    l1, g1 = loss_grad(w)
    w1 = w - 0.1 * g1
    l2, g2 = loss_grad(w1)
    w2 = w1 - 0.1 * g2
    pred = np.tanh(x @ w2)
    return dict(loss=l1, grad=g1, new_w=w1, loss2=l2, pred=pred, eager=(pred * 2 + 1).sum(1))


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    env.pop("XLA_FLAGS", None)
    procs = [subprocess.Popen([sys.executable, str(HERE / "_multiprocess_worker.py"), str(i), str(port)],
                              cwd=tmp_path_factory.mktemp("mp"), env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    outputs = []
    deadline = time.monotonic() + TIMEOUT
    try:
        for p in procs:
            outputs.append(p.communicate(timeout=max(1.0, deadline - time.monotonic())))
    except subprocess.TimeoutExpired:
        pytest.fail("the two processes did not finish in time")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    found = []
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
        line = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
        assert line, err[-3000:]
        found.append(json.loads(line[0][len("RESULT "):]))
    return found


def test_both_processes_see_one_global_mesh(results):
    assert [r["process"] for r in results] == [0, 1]
    assert all(r["processes"] == 2 and r["devices"] == 8 for r in results)


def test_a_sharded_training_step_with_donation_matches_numpy(results):
    ref = reference()
    for r in results:
        assert r["loss"] == pytest.approx(ref["loss"], rel=1e-5)
        np.testing.assert_allclose(r["grad"], ref["grad"], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(r["new_w"], ref["new_w"], rtol=1e-4, atol=1e-5)
        assert r["loss2"] == pytest.approx(ref["loss2"], rel=1e-5)
        assert r["w_deleted"] and r["new_w_deleted"]


def test_global_results_are_read_back_with_process_allgather(results):
    ref = reference()
    for r in results:
        assert r["pred_local"] is False
        np.testing.assert_allclose(r["pred"], ref["pred"], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(r["eager"], ref["eager"], rtol=1e-4, atol=1e-4)
        assert "split over processes" in r["repr"]


def test_reading_data_another_process_holds_is_a_typed_error(results):
    for r in results:
        assert r["error"] is not None
        assert "split over devices of processes [0, 1]" in r["error"] and "process_allgather" in r["error"]
        assert "batch=8" in r["error"] and f"this is process {r['process']}" in r["error"]
