"""Peer check: `savepoint train` follows the same trajectory as a PyTorch trainer, step for step.

The demo's network without its Dropout (Dense(512, relu) → Dense(10), logits) is built by
savepoint from a Keras config (its Glorot-uniform initial weights written to .h5 by `savepoint
convert`) and trained for 3 epochs on the first 1000 Fashion-MNIST images (synthetic images
when the dataset is not installed), batch 32 with a last batch of 8, no shuffling, sparse
categorical cross-entropy from logits, Adam(1e-3). The peer starts from the same weights (read
with h5py), computes each batch's gradient with torch autograd (mean over the batch) and applies
Keras 3's Adam rule (alpha = lr*sqrt(1-b2^t)/(1-b1^t); w -= alpha*m/(sqrt(v)+eps)) in float32.
After 96 steps at least 99.9% of each weight tensor must agree to 1e-4 absolute + 1e-3 relative
and none may be off by more than 1e-2, and the per-epoch losses must agree to 1e-4 relative. The
allowance is for float32 sums taken in another order: a hidden unit whose pre-activation sits at
0 for some sample can take the other side of the ReLU there, and its column then drifts (seen:
one unit of 512, 175 of 401408 kernel entries, at most 1.6e-3). A wrong gradient, batch mean,
bias correction or step count moves every weight and fails all three checks.
A second run turns on Keras 3's weight averages (Adam use_ema=True, ema_momentum 0.99): the peer
keeps them with torch's own AveragedModel under the EMA avg_fn of torch's documentation
(0.99 * average + 0.01 * weight, the first update a copy), and the model savepoint saves after
fit must hold those averages (finalize_variable_values), to the same tolerances.
Exit 77 (skipped) when torch, h5py or numpy is missing.
"""
import gzip
import json
import os
import subprocess
import sys
import tempfile

CLI = os.environ.get("SP_CLI")
SAMPLES, PIXELS, HIDDEN, CLASSES, BATCH, EPOCHS = 1000, 784, 512, 10, 32, 3
CONFIG = {"module": "keras", "class_name": "Sequential", "config": {"name": "demo", "trainable": True, "layers": [
    {"module": "keras.layers", "class_name": "InputLayer",
     "config": {"batch_shape": [None, PIXELS], "dtype": "float32", "name": "pixels"}, "registered_name": None},
    {"module": "keras.layers", "class_name": "Dense",
     "config": {"name": "hidden", "units": HIDDEN, "activation": "relu"}, "registered_name": None},
    {"module": "keras.layers", "class_name": "Dense",
     "config": {"name": "logits", "units": CLASSES}, "registered_name": None}]}, "registered_name": None}


def skip(why):
    print("skipped: " + why)
    sys.exit(77)


def fail(why):
    print("FAIL: " + why)
    sys.exit(1)


def run(*arguments):
    result = subprocess.run([CLI, *arguments], capture_output=True, text=True)
    if result.returncode != 0:
        fail("savepoint %s failed: %s" % (" ".join(arguments[:2]), result.stderr))
    return result.stdout


def data(np):
    directory = os.environ.get("SP_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")
    try:
        with gzip.open(os.path.join(directory, "train-images-idx3-ubyte.gz")) as handle:
            images = np.frombuffer(handle.read(), np.uint8, offset=16)[: SAMPLES * PIXELS]
        with gzip.open(os.path.join(directory, "train-labels-idx1-ubyte.gz")) as handle:
            labels = np.frombuffer(handle.read(), np.uint8, offset=8)[:SAMPLES]
    except OSError:
        generator = np.random.default_rng(5)
        images = generator.integers(0, 256, SAMPLES * PIXELS, dtype=np.uint8)
        labels = generator.integers(0, CLASSES, SAMPLES, dtype=np.uint8)
    return images.reshape(SAMPLES, PIXELS).astype(np.float32) / 255, labels.astype(np.float32)


def weights(h5py, path):
    with h5py.File(path, "r") as handle:
        model = handle["model_weights"]
        return {name: (model[name][name]["kernel:0"][()], model[name][name]["bias:0"][()]) for name in ("hidden", "logits")}


def peer_train(np, torch, initial, x, y, ema):
    holder = torch.nn.ParameterList([torch.nn.Parameter(torch.tensor(array)) for name in ("hidden", "logits")
                                     for array in initial[name]])
    parameters = list(holder)
    averaged = torch.optim.swa_utils.AveragedModel(
        holder, avg_fn=lambda average, weight, count: 0.99 * average + 0.01 * weight) if ema else None
    moments = [torch.zeros_like(p) for p in parameters]
    velocities = [torch.zeros_like(p) for p in parameters]
    lr, beta1, beta2, epsilon = 1e-3, 0.9, 0.999, 1e-7
    features, labels = torch.tensor(x), torch.tensor(y).long()
    losses, step = [], 0
    for _ in range(EPOCHS):
        total, seen = 0.0, 0
        for begin in range(0, SAMPLES, BATCH):
            batch_x, batch_y = features[begin:begin + BATCH], labels[begin:begin + BATCH]
            hidden = torch.relu(batch_x @ parameters[0] + parameters[1])
            loss = torch.nn.functional.cross_entropy(hidden @ parameters[2] + parameters[3], batch_y)
            for p in parameters:
                p.grad = None
            loss.backward()
            step += 1
            alpha = lr * np.sqrt(1 - beta2 ** step) / (1 - beta1 ** step)
            with torch.no_grad():
                for p, m, v in zip(parameters, moments, velocities):
                    m += (p.grad - m) * (1 - beta1)
                    v += (p.grad * p.grad - v) * (1 - beta2)
                    p -= (m * np.float32(alpha)) / (torch.sqrt(v) + epsilon)
            if averaged is not None:
                averaged.update_parameters(holder)
            total += float(loss) * len(batch_y)
            seen += len(batch_y)
        losses.append(total / seen)
    final = list(averaged.module) if averaged is not None else parameters
    named = [p.detach().numpy() for p in final]
    return {"hidden": (named[0], named[1]), "logits": (named[2], named[3])}, losses


def main():
    if not CLI or not os.path.exists(CLI):
        skip("SP_CLI does not name the savepoint binary")
    try:
        import h5py
        import numpy as np
        import torch
    except ImportError as missing:
        skip("%s is needed for the peer trainer" % missing.name)
    torch.set_num_threads(2)
    root = os.environ.get("SP_TEST_TMP", tempfile.gettempdir())
    os.makedirs(root, exist_ok=True)
    work = tempfile.mkdtemp(prefix="training-torch-", dir=root)
    x, y = data(np)
    np.save(os.path.join(work, "x.npy"), x)
    np.save(os.path.join(work, "y.npy"), y)
    with open(os.path.join(work, "demo.json"), "w") as handle:
        json.dump(CONFIG, handle)
    run("convert", os.path.join(work, "demo.json"), os.path.join(work, "initial.h5"))
    initial = weights(h5py, os.path.join(work, "initial.h5"))
    for ema, optimizer in ((False, "adam"), (True, '{"class_name": "Adam", "config": {"use_ema": true}}')):
        label = "use_ema " if ema else ""
        run("train", "--model", os.path.join(work, "initial.h5"), "--x", os.path.join(work, "x.npy"), "--y",
            os.path.join(work, "y.npy"), "--scale", "1", "--epochs", str(EPOCHS), "--batch-size", str(BATCH), "--no-shuffle",
            "--optimizer", optimizer, "--learning-rate", "0.001",
            "--loss", '{"class_name": "SparseCategoricalCrossentropy", "config": {"from_logits": true}}',
            "--verbose", "0", "--history", os.path.join(work, "history.json"), "--save", os.path.join(work, "trained.h5"))
        expected, expected_losses = peer_train(np, torch, initial, x, y, ema)
        got = weights(h5py, os.path.join(work, "trained.h5"))
        with open(os.path.join(work, "history.json")) as handle:
            losses = json.load(handle)["loss"]
        for name in ("hidden", "logits"):
            for kind, ours, theirs in zip(("kernel", "bias"), got[name], expected[name]):
                difference = np.abs(ours.astype(np.float64) - theirs)
                outside = int((difference > 1e-4 + 1e-3 * np.abs(theirs)).sum())
                if outside > difference.size // 1000 or difference.max() > 1e-2:
                    fail("%s%s/%s: %d of %d values differ from the peer's beyond 1e-4 + 1e-3 relative, up to %.3g" % (
                        label, name, kind, outside, difference.size, difference.max()))
        for epoch, (ours, theirs) in enumerate(zip(losses, expected_losses)):
            if abs(ours - theirs) > 1e-4 * abs(theirs):
                fail("%sepoch %d loss %.7f, peer %.7f" % (label, epoch + 1, ours, theirs))
        moved = max(float(np.abs(expected[n][0] - w[0]).max()) for n, w in initial.items())
        print("ok: %s3 epochs (96 steps) agree with the torch trainer; losses %s; weights moved up to %.3g" % (
            label, ", ".join("%.5f" % v for v in losses), moved))
    subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
