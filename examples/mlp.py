"""The xmap tutorial's MLP loss, written with named axes, compiled by `named` and executed.

Run: python examples/mlp.py
"""

import numpy as np

import named

Inputs, Hidden, Classes, Batch = named.make_axes(inputs=784, hidden=512, classes=10, batch=128)


def predict(w1, w2, images):
    hidden = named.nn.relu(named.dot(images, w1, axis=Inputs))
    logits = named.dot(hidden, w2, axis=Hidden)
    return logits - named.logsumexp(logits, Classes)


@named.compile
def loss(w1, w2, images, labels):
    predictions = predict(w1, w2, images)
    targets = named.nn.one_hot(labels, Classes)
    losses = (targets * predictions).sum(Classes)
    return -losses.mean(Batch)


def numpy_loss(w1, w2, images, labels):
    hidden = np.maximum(images @ w1, 0)
    logits = hidden @ w2
    m = logits.max(axis=1, keepdims=True)
    predictions = logits - (m + np.log(np.exp(logits - m).sum(axis=1, keepdims=True)))
    return -predictions[np.arange(len(labels)), labels].mean()


def make_data(seed: int = 0):
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 784 ** -0.5, (784, 512)).astype(np.float32)
    w2 = rng.normal(0, 512 ** -0.5, (512, 10)).astype(np.float32)
    images = rng.normal(0, 1, (128, 784)).astype(np.float32)
    labels = rng.integers(0, 10, 128).astype(np.int32)
    return w1, w2, images, labels


def main():
    w1, w2, images, labels = make_data()
    args = (named.named(w1, (Inputs, Hidden)), named.named(w2, (Hidden, Classes)),
            named.named(images, (Batch, Inputs)), named.named(labels, (Batch,)))
    print("named IR after checking and partitioning:")
    print(loss.lower(*args).as_text())
    value = loss(*args).item()
    expected = numpy_loss(w1, w2, images, labels)
    print(f"loss = {value:.6f}   (numpy reference {expected:.6f})")
    assert abs(value - expected) < 1e-4 * max(1.0, abs(expected)), (value, expected)
    return value


if __name__ == "__main__":
    main()
