"""Train a small named MLP with optax's AdamW inside one `@named.compile`d step, via `named.call_jax`.

The step is one compiled program: the forward pass and `named.value_and_grad` are named code, and
optax's `update` and `apply_updates` run inside it through `named.call_jax`, which embeds the
StableHLO jax lowers for them. Their output axes follow from the inputs (updates are shaped like
the gradients, the new optimizer state like the old one), so no `out_axes` is needed.

Checked against optax run outside the named program (the named gradients handed to a `jax.jit`ted
`optimizer.update` on the same pytrees of NamedArrays): equal losses and weights to 1e-6 over 50
steps, on one device and on an 8-device mesh {"data": 4, "model": 2} with `batch` split over data
and `hidden` over model. A plain-jax twin of the whole loop (positional arrays) agrees up to float
rounding, which Adam's normalised steps amplify for near-zero gradients.

Run: python examples/train_optax.py
"""

import os
import sys

if __name__ == "__main__" and "jax" not in sys.modules:  # fake CPU devices: must precede importing jax
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " --xla_force_host_platform_device_count=8").strip()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import named  # noqa: E402

Batch, Inputs, Hidden, Out = named.make_axes(batch=16, inputs=8, hidden=32, out=4)
MESH = {"data": 4, "model": 2}
MAPPING = {"batch": "data", "hidden": "model"}
STEPS = 50
OPTIMIZER = optax.adamw(learning_rate=1e-2, weight_decay=1e-3)


# ---------------------------------------------------------------------------------- named version
def loss(params, x, y):
    hidden = named.tanh(named.dot(x, params["w1"], axis=Inputs) + params["b1"])
    pred = named.dot(hidden, params["w2"], axis=Hidden)
    error = pred - y
    return (error * error).mean()


def make_step(mesh=None, mapping=None):
    """The named training step, compiled over ``mesh`` with ``mapping`` (both None: one device)."""
    @named.compile(mesh=mesh, axis_resources=mapping)
    def train_step(params, opt_state, x, y):
        value, grads = named.value_and_grad(loss)(params, x, y)
        updates, opt_state = named.call_jax(OPTIMIZER.update, grads, opt_state, params)
        params = named.call_jax(optax.apply_updates, params, updates)
        return params, opt_state, value
    return train_step


def init(seed: int = 0):
    rng = np.random.default_rng(seed)
    params = {
        "w1": named.named(rng.normal(0, Inputs.size ** -0.5, (Inputs.size, Hidden.size)).astype(np.float32),
                          (Inputs, Hidden)),
        "b1": named.zeros((Hidden,)),
        "w2": named.named(rng.normal(0, Hidden.size ** -0.5, (Hidden.size, Out.size)).astype(np.float32),
                          (Hidden, Out)),
    }
    x = rng.normal(0, 1, (Batch.size, Inputs.size)).astype(np.float32)
    y = np.sin(x @ rng.normal(0, 1, (Inputs.size, Out.size))).astype(np.float32)
    return params, named.named(x, (Batch, Inputs)), named.named(y, (Batch, Out))


def train_named(steps: int = STEPS, mesh=None, mapping=None):
    params, x, y = init()
    opt_state = named.call_jax(OPTIMIZER.init, params)  # eagerly: the state's arrays become NamedArrays
    step = make_step(mesh, mapping)
    losses = []
    for _ in range(steps):
        params, opt_state, value = step(params, opt_state, x, y)
        losses.append(value.item())
    return np.array(losses), {k: np.asarray(v) for k, v in params.items()}


# ------------------------------------------------------------------------------ optax outside named
def train_optax_outside(steps: int = STEPS, mesh=None, mapping=None):
    params, x, y = init()
    grad_step = named.compile(named.value_and_grad(loss), mesh=mesh, axis_resources=mapping)
    update = jax.jit(OPTIMIZER.update)  # optax maps over the NamedArray pytrees directly
    opt_state = None
    losses = []
    for _ in range(steps):
        value, grads = grad_step(params, x, y)
        if opt_state is None:  # on the devices of the gradients (the step counter replicated)
            params = jax.tree.map(lambda p, g: jax.device_put(p, g.sharding), params, grads)
            devices = grads["w1"].array.sharding
            counter = jax.sharding.NamedSharding(devices.mesh, jax.sharding.PartitionSpec()) if mesh else devices
            opt_state = jax.tree.map(lambda a: jax.device_put(a, counter) if a.ndim == 0 else a,
                                     OPTIMIZER.init(grads))
        updates, opt_state = update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        losses.append(value.item())
    return np.array(losses), {k: np.asarray(v) for k, v in params.items()}


# ------------------------------------------------------------------------------ plain jax version
def reference_loss(params, x, y):
    hidden = jnp.tanh(x @ params["w1"] + params["b1"])
    error = hidden @ params["w2"] - y
    return jnp.mean(error * error)


@jax.jit
def reference_step(params, opt_state, x, y):
    value, grads = jax.value_and_grad(reference_loss)(params, x, y)
    updates, opt_state = OPTIMIZER.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, value


def train_reference(steps: int = STEPS):
    named_params, x, y = init()
    params = {k: jnp.asarray(v.array) for k, v in named_params.items()}
    opt_state = OPTIMIZER.init(params)
    losses = []
    for _ in range(steps):
        params, opt_state, value = reference_step(params, opt_state, x.array, y.array)
        losses.append(float(value))
    return np.array(losses), {k: np.asarray(v) for k, v in params.items()}


def max_difference(a, b) -> float:
    (la, pa), (lb, pb) = a, b
    return max([float(np.max(np.abs(la - lb)))] + [float(np.max(np.abs(pa[k] - pb[k]))) for k in pa])


def main():
    reference = train_reference()
    print(f"plain jax + optax:   loss {reference[0][0]:.6f} -> {reference[0][-1]:.6f} over {STEPS} steps")
    for label, mesh, mapping in (("one device", None, None), (f"mesh {MESH}", MESH, MAPPING)):
        run = train_named(mesh=mesh, mapping=mapping)
        outside = max_difference(run, train_optax_outside(mesh=mesh, mapping=mapping))
        twin = max_difference(run, reference)
        print(f"named + optax in one step ({label}): loss {run[0][0]:.6f} -> {run[0][-1]:.6f}; max |difference| "
              f"to optax outside {outside:.1e}, to the plain-jax twin {twin:.1e}")
        assert outside <= 1e-6, f"named ({label}) differs from optax run outside by {outside}"
        assert twin <= 1e-4, f"named ({label}) differs from the plain-jax twin by {twin}"
    assert reference[0][-1] < 0.5 * reference[0][0], "the loss did not fall"
    step = make_step()
    params, x, y = init()
    text = step.lower(params, named.call_jax(OPTIMIZER.init, params), x, y).as_text()
    print(f"the step's named IR has {text.count('named.call_jax')} named.call_jax ops "
          f"(optax update and apply_updates)")


if __name__ == "__main__":
    main()
