"""Peer check: savepoint's optimizers against torch.optim over 20 steps on the same gradients.

Keras (whose update rules savepoint follows) and torch define some optimizers differently, so
each case is set up where the two definitions coincide:
  SGD          plain, momentum and nesterov coincide while the learning rate is constant:
               Keras keeps m = mu*m - lr*g (the learning rate folded into the buffer), torch
               b = mu*b + g and applies lr*b; with a constant lr, m = -lr*b at every step.
  Adam         Keras adds epsilon to sqrt(v) after folding both bias corrections into the step
               size (alpha = lr*sqrt(1-b2^t)/(1-b1^t)); torch adds it to sqrt(v_hat). They agree
               exactly with epsilon = 0, compared so; amsgrad likewise.
  AdamW        Keras applies w -= w*wd*lr before the Adam step, torch w *= 1 - lr*wd: the same.
  RMSprop      Keras divides by sqrt(v + eps), torch by sqrt(v) + eps: compared with eps = 0,
               plain, centered and with momentum (Keras's m = mu*m + lr*g/d is lr times torch's
               buffer at a constant lr).
  Adagrad      Keras divides by sqrt(s + eps), torch by sqrt(s) + eps: eps = 0; both start the
               accumulator at 0.1.
Tolerance: 2e-5 relative + 2e-6 absolute on every weight after every step (both run float32).
Exit 77 (skipped) when torch is missing.
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
except ImportError as error:
    print(f"skipped: the torch peer needs numpy and torch ({error})")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_support import helper, scratch_directory  # noqa: E402

STEPS, INPUTS, UNITS = 20, 4, 3
torch.set_num_threads(1)
rng = np.random.default_rng(11)
kernel0 = rng.normal(0, 0.5, (INPUTS, UNITS)).astype(np.float32)
bias0 = rng.normal(0, 0.5, UNITS).astype(np.float32)
gradients = [rng.normal(0, 1.0, INPUTS * UNITS + UNITS).astype(np.float32) for _ in range(STEPS)]


def savepoint(optimizer, directory):
    spec = {"optimizer": optimizer, "inputs": INPUTS, "units": UNITS, "kernel": kernel0.ravel().tolist(),
            "bias": bias0.tolist(), "gradients": [g.tolist() for g in gradients]}
    path = os.path.join(directory, "spec.json")
    with open(path, "w") as f:
        json.dump(spec, f)
    result = subprocess.run([helper("optimizer_steps"), path], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    return np.array(json.loads(result.stdout), dtype=np.float64)


def torch_steps(make):
    kernel = torch.nn.Parameter(torch.tensor(kernel0))
    bias = torch.nn.Parameter(torch.tensor(bias0))
    optimizer = make([kernel, bias])
    rows = []
    for g in gradients:
        kernel.grad = torch.tensor(g[: INPUTS * UNITS].reshape(INPUTS, UNITS))
        bias.grad = torch.tensor(g[INPUTS * UNITS:])
        optimizer.step()
        rows.append(np.concatenate([kernel.detach().numpy().ravel(), bias.detach().numpy()]).astype(np.float64))
    return np.array(rows)


def keras(class_name, **config):
    return {"module": "keras.optimizers", "class_name": class_name, "config": config, "registered_name": None}


CASES = [
    ("SGD", keras("SGD", learning_rate=0.05), lambda p: torch.optim.SGD(p, lr=0.05)),
    ("SGD momentum", keras("SGD", learning_rate=0.05, momentum=0.9),
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    ("SGD nesterov", keras("SGD", learning_rate=0.05, momentum=0.9, nesterov=True),
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True)),
    ("Adam", keras("Adam", learning_rate=0.01, epsilon=0.0),
     lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.9, 0.999), eps=0.0)),
    ("Adam beta_1=0.8 beta_2=0.99", keras("Adam", learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=0.0),
     lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=0.0)),
    ("Adam amsgrad", keras("Adam", learning_rate=0.01, epsilon=0.0, amsgrad=True),
     lambda p: torch.optim.Adam(p, lr=0.01, eps=0.0, amsgrad=True)),
    ("AdamW", keras("AdamW", learning_rate=0.01, weight_decay=0.1, epsilon=0.0),
     lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1, eps=0.0)),
    ("RMSprop", keras("RMSprop", learning_rate=0.01, rho=0.9, epsilon=0.0),
     lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=0.0)),
    ("RMSprop centered", keras("RMSprop", learning_rate=0.01, rho=0.9, epsilon=0.0, centered=True),
     lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=0.0, centered=True)),
    ("RMSprop momentum", keras("RMSprop", learning_rate=0.01, rho=0.9, epsilon=0.0, momentum=0.5),
     lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=0.0, momentum=0.5)),
    ("Adagrad", keras("Adagrad", learning_rate=0.1, initial_accumulator_value=0.1, epsilon=0.0),
     lambda p: torch.optim.Adagrad(p, lr=0.1, initial_accumulator_value=0.1, eps=0.0)),
]

failures = []
with scratch_directory("optimizers-torch-") as directory:
    for name, optimizer, make in CASES:
        ours, theirs = savepoint(optimizer, directory), torch_steps(make)
        error = np.abs(ours - theirs)
        allowed = 2e-5 * np.abs(theirs) + 2e-6
        if ours.shape != theirs.shape or np.any(error > allowed):
            step = int(np.argmax(np.any(error > allowed, axis=1)))
            failures.append(f"{name}: step {step + 1} differs by up to {error[step].max():.3g}")
        else:
            print(f"ok {name}: {STEPS} steps, largest difference {error.max():.3g}")
if failures:
    print("FAIL:\n  " + "\n  ".join(failures))
    sys.exit(1)
