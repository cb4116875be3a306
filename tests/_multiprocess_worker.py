"""One process of tests/test_multiprocess.py: ``python _multiprocess_worker.py PROCESS_ID PORT``.

Two of these run under jax.distributed (4 fake CPU devices each, gloo collectives) over one global
{"data": 4, "model": 2} mesh, and print one JSON line of results for the test to check.
"""

import json
import os
import sys

process_id, port = int(sys.argv[1]), int(sys.argv[2])
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
os.environ["JAX_PLATFORMS"] = "cpu"

import jax  # noqa: E402

jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=process_id, initialization_timeout=60)

import numpy as np  # noqa: E402

import named  # noqa: E402

Batch, Embed, Hidden = named.make_axes(batch=8, embed=4, hidden=6)
MAPPING = {"batch": "data", "hidden": "model"}
rng = np.random.default_rng(0)  # the same data in every process
W = rng.normal(size=(4, 6)).astype(np.float32)
X = rng.normal(size=(8, 4)).astype(np.float32)


def loss(w, x):
    return named.tanh(named.dot(x, w, axis="embed")).sum()


def predict(w, x):
    return named.tanh(named.dot(x, w, axis="embed"))


def sgd(w, x):
    value, g = named.value_and_grad(loss)(w, x)
    return w - 0.1 * g, value, g


opts = dict(axis_resources=MAPPING, mesh={"data": 4, "model": 2})
w, x = named.named(W, (Embed, Hidden)), named.named(X, (Batch, Embed))
out = {"process": jax.process_index(), "processes": jax.process_count(), "devices": len(jax.devices())}

step = named.compile(sgd, donate_argnums=0, **opts)

new_w, value, grad = step(w, x)
out["loss"] = value.item()
out["grad"] = np.asarray(named.process_allgather(grad)).tolist()  # hidden -> model spans both processes
out["new_w"] = np.asarray(named.process_allgather(new_w)).tolist()
out["w_deleted"] = w.array.is_deleted()
newer_w, value2, _ = step(new_w, x)              # the donated update again, on the global result
out["loss2"] = value2.item()
out["new_w_deleted"] = new_w.array.is_deleted()

pred = named.compile(predict, **opts)(newer_w, x)  # split over batch -> data: half in each process
out["pred_local"] = named.distributed.is_local(pred.array)
try:
    np.asarray(pred)
    out["error"] = None
except named.RemoteDataError as e:
    out["error"] = str(e)
eager = (pred * 2.0 + 1.0).sum("hidden")         # eager ops on global arrays
out["eager"] = named.process_allgather(eager).array.tolist()
out["pred"] = np.asarray(named.process_allgather(pred)).tolist()
out["repr"] = repr(pred)
print("RESULT " + json.dumps(out), flush=True)
jax.distributed.shutdown()
