"""Train the xmap tutorial's MLP with SGD, data-parallel over `batch` and model-parallel over `hidden`.

The labels come from a fixed random "teacher" network of the same shape, so the task is learnable;
the loss must fall well below that of the best constant guess (the entropy of the label
frequencies). The step function (forward, `named.value_and_grad`, SGD update) is one compiled
program on an 8-device mesh {"x": 4, "y": 2}: `batch` is split over x, `hidden` over y, and the
gradients come back sharded like the weights. The parameters are donated (`donate_argnums=0`): XLA
writes the updated weights into the old weights' buffers, and the old arrays are deleted.

Run: python examples/train_mlp.py
"""

import os
import sys
import time

if __name__ == "__main__" and "jax" not in sys.modules:  # fake CPU devices: must precede importing jax
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " --xla_force_host_platform_device_count=8").strip()

import numpy as np  # noqa: E402

import named  # noqa: E402

Inputs, Hidden, Classes, Batch = named.make_axes(inputs=32, hidden=64, classes=4, batch=256)
MESH = {"x": 4, "y": 2}
MAPPING = {"batch": "x", "hidden": "y"}
STEPS, LEARNING_RATE, EXAMPLES = 300, 0.5, 2048


def predict(params, images):
    hidden = named.nn.relu(named.dot(images, params["w1"], axis=Inputs))
    logits = named.dot(hidden, params["w2"], axis=Hidden)
    return logits - named.logsumexp(logits, Classes)


def loss(params, images, labels):
    targets = named.nn.one_hot(labels, Classes)
    # Rematerialization: the backward pass keeps the matmul results and recomputes the rest.
    log_probs = named.checkpoint(predict, policy=named.checkpoint_policies.dots_saveable)(params, images)
    return -(targets * log_probs).sum(Classes).mean(Batch)


@named.compile(axis_resources=MAPPING, mesh=MESH, donate_argnums=0)
def train_step(params, images, labels, learning_rate):
    value, grads = named.value_and_grad(loss)(params, images, labels)
    new_params = {name: params[name] - learning_rate * grads[name] for name in params}
    return new_params, value


def init_params(rng, scale_out: float = 1.0):
    w1 = rng.normal(0, Inputs.size ** -0.5, (Inputs.size, Hidden.size)).astype(np.float32)
    w2 = rng.normal(0, scale_out * Hidden.size ** -0.5, (Hidden.size, Classes.size)).astype(np.float32)
    return {"w1": named.named(w1, (Inputs, Hidden)), "w2": named.named(w2, (Hidden, Classes))}


def make_data(seed: int = 0):
    """Images from a normal distribution, labels from a fixed random teacher MLP."""
    rng = np.random.default_rng(seed)
    teacher = init_params(rng, scale_out=4.0)
    images = rng.normal(0, 1, (EXAMPLES, Inputs.size)).astype(np.float32)
    hidden = np.maximum(images @ np.asarray(teacher["w1"].array), 0)
    labels = np.argmax(hidden @ np.asarray(teacher["w2"].array), axis=1).astype(np.int32)
    return images, labels


def constant_guess_loss(labels) -> float:
    """The cross-entropy of always predicting the label frequencies: the entropy of the labels."""
    freq = np.bincount(labels, minlength=Classes.size) / len(labels)
    freq = freq[freq > 0]
    return float(-(freq * np.log(freq)).sum())


def main(steps: int = STEPS):
    images, labels = make_data()
    params = init_params(np.random.default_rng(1))
    baseline = constant_guess_loss(labels)
    threshold = 0.3 * baseline
    print(f"{EXAMPLES} examples, {Classes.size} classes; constant-guess loss {baseline:.4f}, "
          f"target below {threshold:.4f}")
    batches = EXAMPLES // Batch.size
    start = time.perf_counter()
    losses = []
    for step in range(steps):
        i = step % batches
        rows = slice(i * Batch.size, (i + 1) * Batch.size)
        params, value = train_step(params, named.named(images[rows], (Batch, Inputs)),
                                   named.named(labels[rows], (Batch,)), LEARNING_RATE)
        losses.append(value.item())
        if step % 50 == 0 or step == steps - 1:
            print(f"step {step:4d}  loss {losses[-1]:.4f}")
    elapsed = time.perf_counter() - start
    final = float(np.mean(losses[-batches:]))  # over one pass of the data
    sharding = params["w1"].array.sharding.spec
    print(f"w1 is sharded as {sharding} on mesh {MESH}")
    memory = train_step.lower(params, named.named(images[:Batch.size], (Batch, Inputs)),
                              named.named(labels[:Batch.size], (Batch,)), LEARNING_RATE).compile().memory_analysis()
    print(f"donated parameters: {memory.alias_size_in_bytes} bytes per device updated in place")
    print(f"final loss {final:.4f} (threshold {threshold:.4f}) after {steps} steps in {elapsed:.1f}s")
    assert final < threshold, f"the loss did not fall enough: {final:.4f} >= {threshold:.4f}"
    return losses, threshold


if __name__ == "__main__":
    main()
