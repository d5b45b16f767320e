"""Peer check: savepoint's recurrent and normalization layers against torch.

Runs each layer through tests/peer/helpers/sp_layer_eval with the same weights torch gets
and compares outputs to 1e-5 relative. Mappings between the Keras and torch layouts:
  GRU (reset_after=True)  Keras kernel columns z, r, h  <->  torch rows r, z, n; the Keras
                          bias rows (input, recurrent) become bias_ih and bias_hh.
  LSTM                    gates i, f, c, o  <->  i, f, g, o (same order, transposed).
  SimpleRNN               torch RNN with tanh, the recurrent bias zero.
  BatchNormalization      torch batch_norm with running stats (inference) or batch stats
                          (training; torch also normalizes by the biased variance).
  LayerNormalization      torch layer_norm over the trailing axes.
GRU reset_after=False has no torch twin; the C unit tests check it by formula and against
the Keras-trained TF.js fixture. Exit 77 (skipped) when numpy or torch is missing.
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

BINARY = os.path.join(os.environ.get("SP_BINARY_DIR", "build"), "tests", "peer-helpers", "sp_layer_eval")
TMP_ROOT = os.environ.get("SP_TEST_TMP", tempfile.gettempdir())
os.makedirs(TMP_ROOT, exist_ok=True)
WORK = tempfile.mkdtemp(prefix="recurrent-torch-", dir=TMP_ROOT)
RNG = np.random.default_rng(2024)
failures = []


def savepoint(class_name, config, x, weights, training=False):
    """Runs the layer in savepoint; returns its outputs as float64 arrays."""
    prefix = os.path.join(WORK, f"{class_name}-{len(os.listdir(WORK))}-")
    paths = []
    for index, array in enumerate([x] + list(weights)):
        path = f"{prefix}arg{index}.npy"
        np.save(path, np.ascontiguousarray(array, dtype=np.float32))
        paths.append(path)
    command = [BINARY] + (["--training"] if training else []) + [class_name, json.dumps(config), paths[0],
                                                                  prefix + "out"] + paths[1:]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed: {result.stderr}")
    outputs = []
    while os.path.exists(f"{prefix}out{len(outputs)}.npy"):
        outputs.append(np.load(f"{prefix}out{len(outputs)}.npy").astype(np.float64))
    return outputs


def compare(what, ours, theirs):
    theirs = np.asarray(theirs, dtype=np.float64)
    if ours.shape != theirs.shape:
        failures.append(f"{what}: shape {ours.shape}, torch {theirs.shape}")
        return
    error = np.abs(ours - theirs)
    bound = 1e-5 * np.abs(theirs) + 1e-6
    if not np.all(error <= bound):
        worst = int(np.argmax(error - bound))
        failures.append(f"{what}: element {worst} is {ours.flat[worst]!r}, torch {theirs.flat[worst]!r}")
    else:
        print(f"ok: {what} (max difference {error.max():.2e})")


def weights32(*shapes, scale=0.5):
    return [(scale * RNG.standard_normal(shape)).astype(np.float32) for shape in shapes]


def torch64(array):
    return torch.from_numpy(np.asarray(array, dtype=np.float64))


B, T, F, U = 3, 6, 5, 4


def run_torch_rnn(module, x, go_backwards):
    """Output sequence in processing order, and the final states."""
    sequence = torch64(x[:, ::-1, :].copy() if go_backwards else x)
    with torch.no_grad():
        return module(sequence)


def check_gru(go_backwards):
    kernel, recurrent, bias = weights32((F, 3 * U), (U, 3 * U), (2, 3 * U))
    x = RNG.standard_normal((B, T, F)).astype(np.float32)
    config = {"units": U, "reset_after": True, "return_sequences": True, "return_state": True,
              "go_backwards": go_backwards}
    sequence, state = savepoint("GRU", config, x, [kernel, recurrent, bias])
    gru = torch.nn.GRU(F, U, batch_first=True).double()
    z, r, h = slice(0, U), slice(U, 2 * U), slice(2 * U, 3 * U)

    def torch_order(matrix):  # Keras columns z, r, h -> torch rows r, z, n
        return np.concatenate([matrix[..., r], matrix[..., z], matrix[..., h]], axis=-1)

    with torch.no_grad():
        gru.weight_ih_l0.copy_(torch64(torch_order(kernel).T))
        gru.weight_hh_l0.copy_(torch64(torch_order(recurrent).T))
        gru.bias_ih_l0.copy_(torch64(torch_order(bias[0])))
        gru.bias_hh_l0.copy_(torch64(torch_order(bias[1])))
    output, final = run_torch_rnn(gru, x, go_backwards)
    compare(f"GRU reset_after=True go_backwards={go_backwards} sequence", sequence, output.numpy())
    compare(f"GRU reset_after=True go_backwards={go_backwards} state", state, final[0].numpy())


def check_lstm(go_backwards):
    kernel, recurrent, bias = weights32((F, 4 * U), (U, 4 * U), (4 * U,))
    x = RNG.standard_normal((B, T, F)).astype(np.float32)
    config = {"units": U, "return_sequences": True, "return_state": True, "go_backwards": go_backwards}
    sequence, h, c = savepoint("LSTM", config, x, [kernel, recurrent, bias])
    lstm = torch.nn.LSTM(F, U, batch_first=True).double()
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch64(kernel.T))
        lstm.weight_hh_l0.copy_(torch64(recurrent.T))
        lstm.bias_ih_l0.copy_(torch64(bias))
        lstm.bias_hh_l0.zero_()
    output, (h_n, c_n) = run_torch_rnn(lstm, x, go_backwards)
    compare(f"LSTM go_backwards={go_backwards} sequence", sequence, output.numpy())
    compare(f"LSTM go_backwards={go_backwards} h", h, h_n[0].numpy())
    compare(f"LSTM go_backwards={go_backwards} c", c, c_n[0].numpy())


def check_simple_rnn(go_backwards):
    kernel, recurrent, bias = weights32((F, U), (U, U), (U,))
    x = RNG.standard_normal((B, T, F)).astype(np.float32)
    config = {"units": U, "return_sequences": True, "return_state": True, "go_backwards": go_backwards}
    sequence, state = savepoint("SimpleRNN", config, x, [kernel, recurrent, bias])
    rnn = torch.nn.RNN(F, U, nonlinearity="tanh", batch_first=True).double()
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch64(kernel.T))
        rnn.weight_hh_l0.copy_(torch64(recurrent.T))
        rnn.bias_ih_l0.copy_(torch64(bias))
        rnn.bias_hh_l0.zero_()
    output, final = run_torch_rnn(rnn, x, go_backwards)
    compare(f"SimpleRNN go_backwards={go_backwards} sequence", sequence, output.numpy())
    compare(f"SimpleRNN go_backwards={go_backwards} state", state, final[0].numpy())


def check_batch_normalization():
    channels = 4
    gamma, beta, mean = weights32((channels,), (channels,), (channels,), scale=1.0)
    variance = (0.5 + RNG.random(channels)).astype(np.float32)
    for training in (False, True):
        # channels last (axis -1) on (N, C), and channels first (axis 1) on (N, C, H, W)
        for axis, shape in ((-1, (6, channels)), (1, (3, channels, 2, 3))):
            x = (2 * RNG.standard_normal(shape) + 0.5).astype(np.float32)
            config = {"axis": axis, "epsilon": 0.001, "momentum": 0.9}
            (ours,) = savepoint("BatchNormalization", config, x, [gamma, beta, mean, variance], training=training)
            theirs = torch.nn.functional.batch_norm(
                torch64(x), torch64(mean).clone(), torch64(variance).clone(), weight=torch64(gamma),
                bias=torch64(beta), training=training, momentum=0.1, eps=0.001)
            compare(f"BatchNormalization axis={axis} training={training}", ours, theirs.numpy())


def check_layer_normalization():
    x = (3 * RNG.standard_normal((3, 4, 5)) - 1).astype(np.float32)
    for axes in ([-1], [1, 2]):
        normalized = tuple(x.shape[a] for a in axes)
        gamma, beta = weights32(normalized, normalized, scale=1.0)
        config = {"axis": axes if len(axes) > 1 else axes[0], "epsilon": 0.001}
        (ours,) = savepoint("LayerNormalization", config, x, [gamma, beta])
        theirs = torch.nn.functional.layer_norm(torch64(x), normalized, torch64(gamma), torch64(beta), eps=0.001)
        compare(f"LayerNormalization axis={axes}", ours, theirs.numpy())


def main():
    if not os.path.exists(BINARY):
        print(f"FAIL: {BINARY} is missing (build the tests first)")
        return 1
    for go_backwards in (False, True):
        check_gru(go_backwards)
        check_lstm(go_backwards)
        check_simple_rnn(go_backwards)
    check_batch_normalization()
    check_layer_normalization()
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
