"""PyTorch's side of the training and latency benchmark (bench/run.sh runs bench_train beside it).

The demo setup in PyTorch eager mode: the first 1000 Fashion-MNIST training images scaled to
[0, 1] (synthetic images of the same shape when the data is absent, as bench_train does),
Linear(784, 512) → ReLU → Dropout(0.2) → Linear(512, 10), Adam(1e-3, eps=1e-7 as Keras),
cross-entropy on logits, batch 32 reshuffled every epoch, 10 epochs, torch.set_num_threads(2);
the fastest of --repeats runs, and again with one thread (steadier on a busy machine). Then the median time of one single-sample prediction (eval mode,
no_grad) on that model and on an iris-sized one (4 → 10 relu → 3 softmax).
Prints one JSON object (seconds) on stdout.
"""
import argparse
import gzip
import json
import os
import statistics
import sys
import time

try:
    import numpy as np
    import torch
except ImportError as error:
    print(json.dumps({"error": f"torch is not available: {error}"}))
    sys.exit(0)

SAMPLES, PIXELS = 1000, 784


def load(directory):
    try:
        with gzip.open(os.path.join(directory, "train-images-idx3-ubyte.gz")) as f:
            images = np.frombuffer(f.read(), np.uint8, offset=16)[: SAMPLES * PIXELS]
        with gzip.open(os.path.join(directory, "train-labels-idx1-ubyte.gz")) as f:
            labels = np.frombuffer(f.read(), np.uint8, offset=8)[:SAMPLES]
        return images.reshape(SAMPLES, PIXELS).astype(np.float32) / 255.0, labels.astype(np.int64), True
    except OSError:
        index = np.arange(SAMPLES * PIXELS, dtype=np.uint64)
        images = ((index * 2654435761 >> 7) % 256).astype(np.float32).reshape(SAMPLES, PIXELS) / 255.0
        return images, (np.arange(SAMPLES) % 10).astype(np.int64), False


def demo_model():
    return torch.nn.Sequential(torch.nn.Linear(PIXELS, 512), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                               torch.nn.Linear(512, 10))


def train_once(x, y):
    torch.manual_seed(1)
    model = demo_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    start, cpu_start = time.perf_counter(), time.process_time()
    correct = 0
    for _ in range(10):
        model.train()
        order = torch.randperm(SAMPLES)
        correct = 0
        for begin in range(0, SAMPLES, 32):
            batch = order[begin:begin + 32]
            optimizer.zero_grad()
            logits = model(x[batch])
            loss = loss_fn(logits, y[batch])
            loss.backward()
            optimizer.step()
            correct += int((logits.argmax(1) == y[batch]).sum())
    return time.perf_counter() - start, correct / SAMPLES, time.process_time() - cpu_start


def latency(model, features, calls):
    model.eval()
    x = torch.arange(features, dtype=torch.float32).reshape(1, features) % 17 / 17
    times = []
    with torch.no_grad():
        for _ in range(200):
            model(x)
        for _ in range(calls):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency-calls", type=int, default=5000)
    arguments = parser.parse_args()
    torch.set_num_threads(2)
    images, labels, real = load(arguments.data_dir)
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    torch.set_num_threads(1)
    single = [train_once(x, y) for _ in range(arguments.repeats)]
    best_single, best_cpu = min(run[0] for run in single), min(run[2] for run in single)
    torch.set_num_threads(2)
    runs = [train_once(x, y) for _ in range(arguments.repeats)]
    best = min(run[0] for run in runs)
    iris = torch.nn.Sequential(torch.nn.Linear(4, 10), torch.nn.ReLU(), torch.nn.Linear(10, 3), torch.nn.Softmax(dim=1))
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "real_data": real,
                      "train_seconds": best, "train_seconds_1thread": best_single, "train_cpu_seconds_1thread": best_cpu, "train_accuracy": runs[-1][1],
                      "demo_latency": latency(demo_model(), PIXELS, arguments.latency_calls),
                      "iris_latency": latency(iris, 4, arguments.latency_calls)}))


if __name__ == "__main__":
    main()
