#!/usr/bin/env bash
# The demo's trained test accuracy over many seeds: how far below the 0.76 floor its tail goes.
#
#   bench/demo_seeds.sh [BUILD_DIR] [FIRST] [LAST] [--no-ema]      (defaults: build, 1, 100)
#
# Runs `savepoint demo --json --seed N` for every N (with --no-ema: the tutorial's plain Adam
# instead of Keras's weight averages), one line per seed, then the count, the number below 0.76,
# the mean, the standard deviation, the lowest and the highest. With PyTorch installed, the same
# setup trained by torch (Glorot init, Adam eps 1e-7, batch 32 reshuffled, 10 epochs; with
# averages: torch's AveragedModel with avg_fn 0.99 * average + 0.01 * weight) over the same seed
# range is summarised beside it. Seeds of the two are unrelated streams: only the distributions
# compare. About 3 s per seed for savepoint (it also saves, exports and records every file), 1 s
# for torch, on two cores.
set -euo pipefail
source_dir=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
first=${2:-1}
last=${3:-100}
ema_flag=${4:-}
cli=$build/savepoint
[ -x "$cli" ] || { echo "demo_seeds: no $cli (build first)"; exit 1; }
work=$(mktemp -d /tmp/demo-seeds-XXXXXX)
trap 'rm -rf "$work"' EXIT

summarise() { # label, then "seed accuracy" lines on stdin
  awk -v label="$1" '{ a = $2; n++; s += a; ss += a * a; if (a < 0.76) low++; if (n == 1 || a < min) min = a; if (n == 1 || a > max) max = a }
    END { m = s / n; printf "%s: %d seeds, %d below 0.76, mean %.4f, sd %.4f, min %.4f, max %.4f\n", label, n, low, m, sqrt(ss / n - m * m), min, max }'
}

for seed in $(seq "$first" "$last"); do
  rm -rf "$work/out"
  "$cli" demo --json --seed "$seed" --output "$work/out" $ema_flag 2>/dev/null \
    | /usr/bin/python3 -c 'import json, sys; print(sys.argv[1], "%.4f" % json.load(sys.stdin)["trained_accuracy"])' "$seed"
done | tee "$work/savepoint.txt"
summarise "savepoint demo${ema_flag:+ $ema_flag}" < "$work/savepoint.txt"

/usr/bin/python3 - "$first" "$last" "$ema_flag" > "$work/torch.txt" <<'PY' || { echo "torch: not available"; exit 0; }
import gzip, os, sys
import numpy as np
import torch
torch.set_num_threads(2)
directory = os.environ.get("SP_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")
def read(images, labels):
    with gzip.open(os.path.join(directory, images)) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16)[:784000].reshape(1000, 784).astype(np.float32) / 255
    with gzip.open(os.path.join(directory, labels)) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)[:1000].astype(np.int64)
    return torch.tensor(x), torch.tensor(y)
x, y = read("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
test_x, test_y = read("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
averages = sys.argv[3] != "--no-ema"
for seed in range(int(sys.argv[1]), int(sys.argv[2]) + 1):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(512, 10))
    for layer in (model[0], model[3]):
        torch.nn.init.xavier_uniform_(layer.weight)
        torch.nn.init.zeros_(layer.bias)
    averaged = torch.optim.swa_utils.AveragedModel(model, avg_fn=lambda a, w, n: 0.99 * a + 0.01 * w) if averages else None
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    for epoch in range(10):
        model.train()
        order = torch.randperm(1000)
        for begin in range(0, 1000, 32):
            batch = order[begin:begin + 32]
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
            if averaged is not None:
                averaged.update_parameters(model)
    final = averaged.module if averaged is not None else model
    final.eval()
    with torch.no_grad():
        print(seed, "%.4f" % (final(test_x).argmax(1) == test_y).float().mean().item(), flush=True)
PY
summarise "pytorch${ema_flag:+ $ema_flag}" < "$work/torch.txt"
