"""Peer test: savepoint's convolution, pooling and padding layers against PyTorch.

Each case runs one layer through tests/peer/helpers/sp_layer_eval on random inputs and weights,
and the same computation in torch (channels_last data permuted to NCHW, Keras kernels permuted
to torch's layout) with identical weights; outputs must agree to 1e-5 relative (against the
largest output, so sums that cancel to ~0 do not count as errors).

TensorFlow's 'same' padding puts the odd padding element after (bottom/right) while torch pads
symmetrically, so the torch side pads explicitly with F.pad using TF's split: zeros for
convolutions, -inf for max pooling, and for average pooling it divides window sums by the
number of real elements (count_include_pad=False semantics, checked against torch's own
count_include_pad=False where TF's padding happens to be symmetric).
"""
import json
import math
import os
import sys

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as error:
    print(f"skipped: the peer needs numpy and torch ({error})")
    sys.exit(77)

from peer_support import helper, run, scratch_directory

EVAL = helper("sp_layer_eval")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # the helper runs hundreds of times on shared cores
RNG = np.random.default_rng(20240611)
WORK = None  # the scratch directory, set by main()
checked = 0


def ours(class_name, config, x, weights=()):
    paths = []
    for i, array in enumerate([x, *weights]):
        path = os.path.join(WORK, f"in{i}.npy")
        np.save(path, np.ascontiguousarray(array, dtype="<f4"))
        paths.append(path)
    prefix = os.path.join(WORK, "out")
    run(EVAL, class_name, json.dumps(config), paths[0], prefix, *paths[1:])
    return np.load(prefix + "0.npy")


def compare(what, actual, expected):
    global checked
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else expected
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, torch {expected.shape}"
    scale = max(float(np.abs(expected).max()), 1e-30)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * scale, err_msg=what)
    checked += 1


def tf_padding(size, kernel, stride, dilation, mode):
    """(before, after) as TensorFlow pads one spatial axis."""
    span = dilation * (kernel - 1) + 1
    if mode == "valid":
        return 0, 0
    if mode == "causal":
        return span - 1, 0
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def pair(value):
    return tuple(value) if isinstance(value, (list, tuple)) else (value, value)


def random(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def nchw(x):
    return torch.from_numpy(x).permute(0, 3, 1, 2)


def nhwc(y):
    return y.permute(0, 2, 3, 1)


def pad_2d(x, config, kernel, value=0.0):
    """x is NCHW; pads with TensorFlow's split for config's padding/strides/dilation. Strides
    default to 1 for a convolution ("filters" or "depth_multiplier" in config), to the pool size for a pool."""
    is_conv = "filters" in config or "depth_multiplier" in config
    strides = pair(config.get("strides") or (1 if is_conv else tuple(kernel)))
    dilation = pair(config.get("dilation_rate", 1))
    mode = config.get("padding", "valid")
    top, bottom = tf_padding(x.shape[2], kernel[0], strides[0], dilation[0], mode)
    left, right = tf_padding(x.shape[3], kernel[1], strides[1], dilation[1], mode)
    return F.pad(x, (left, right, top, bottom), value=value), strides, dilation


def torch_conv2d(x, kernel, bias, config, groups=1):
    padded, strides, dilation = pad_2d(nchw(x), config, kernel.shape[:2])
    if groups == 1:
        weight = torch.from_numpy(kernel).permute(3, 2, 0, 1)  # (kh, kw, in, out) -> (out, in, kh, kw)
    else:  # depthwise (kh, kw, in, multiplier): output channel c*multiplier + m
        kh, kw, channels, multiplier = kernel.shape
        weight = torch.from_numpy(kernel.transpose(2, 3, 0, 1).reshape(channels * multiplier, 1, kh, kw).copy())
    y = F.conv2d(padded, weight, None if bias is None else torch.from_numpy(bias), strides, 0, dilation, groups)
    return nhwc(y)


def activation(y, name):
    return {"linear": y, "relu": torch.relu(y), "tanh": torch.tanh(y)}[name]


def check_conv2d():
    kernels = [(3, 3), (2, 2), (2, 3), (4, 1), (1, 1)]
    moves = [{"strides": 1}, {"strides": 2}, {"strides": [2, 1]}, {"strides": 3}, {"dilation_rate": 2},
             {"dilation_rate": [2, 1]}]
    for padding in ("valid", "same"):
        for k, kernel in enumerate(kernels):
            for m, move in enumerate(moves):
                use_bias, act = ((True, "relu"), (False, "linear"))[(k + m) % 2]
                config = {"filters": 4, "kernel_size": list(kernel), "padding": padding, "use_bias": use_bias,
                          "activation": act, **move}
                x = random(2, 7, 8, 3)
                weights = [random(*kernel, 3, 4)] + ([random(4)] if use_bias else [])
                expected = activation(torch_conv2d(x, weights[0], weights[1] if use_bias else None, config), act)
                compare(f"Conv2D {config}", ours("Conv2D", config, x, weights), expected)
    # Large enough that the im2col runs in two chunks of samples.
    config = {"filters": 8, "kernel_size": 3, "padding": "same"}
    x, kernel, bias = random(9, 64, 64, 16), random(3, 3, 16, 8), random(8)
    compare("Conv2D chunked batch", ours("Conv2D", config, x, [kernel, bias]), torch_conv2d(x, kernel, bias, config))


def check_conv1d():
    for padding in ("valid", "same", "causal"):
        for k in (1, 2, 3, 4):
            for move in ({"strides": 1}, {"strides": 2}, {"strides": 3}, {"dilation_rate": 2}, {"dilation_rate": 3}):
                config = {"filters": 3, "kernel_size": k, "padding": padding, "activation": "tanh", **move}
                stride, dilation = move.get("strides", 1), move.get("dilation_rate", 1)
                x, kernel, bias = random(3, 11, 2), random(k, 2, 3), random(3)
                xt = torch.from_numpy(x).permute(0, 2, 1)
                xt = F.pad(xt, tf_padding(11, k, stride, dilation, padding))
                y = F.conv1d(xt, torch.from_numpy(kernel).permute(2, 1, 0), torch.from_numpy(bias), stride, 0, dilation)
                compare(f"Conv1D {config}", ours("Conv1D", config, x, [kernel, bias]), torch.tanh(y.permute(0, 2, 1)))


def check_depthwise_conv2d():
    for padding in ("valid", "same"):
        for multiplier in (1, 2):
            for kernel in ((3, 3), (2, 2), (1, 3)):
                for move in ({"strides": 1}, {"strides": 2}, {"dilation_rate": 2}):
                    config = {"kernel_size": list(kernel), "depth_multiplier": multiplier, "padding": padding, **move}
                    x, weight, bias = random(2, 7, 6, 3), random(*kernel, 3, multiplier), random(3 * multiplier)
                    expected = torch_conv2d(x, weight, bias, config, groups=3)
                    compare(f"DepthwiseConv2D {config}", ours("DepthwiseConv2D", config, x, [weight, bias]), expected)


def torch_average_pool2d(x, config, pool):
    """count_include_pad=False with TF's split: window sums over zero padding / real elements per window."""
    padded, strides, _ = pad_2d(nchw(x), config, pool)
    mask, _, _ = pad_2d(torch.ones(1, 1, x.shape[1], x.shape[2]), config, pool)
    sums = F.avg_pool2d(padded, pool, strides, divisor_override=1)
    counts = F.avg_pool2d(mask, pool, strides, divisor_override=1)
    return nhwc(sums / counts)


def check_pooling():
    pools = [(2, 2), (3, 3), (2, 3)]
    for padding in ("valid", "same"):
        for pool in pools:
            for strides in (None, 1, [1, 2], 3):
                config = {"pool_size": list(pool), "strides": strides, "padding": padding}
                x = random(2, 7, 8, 3)
                padded, stride_pair, _ = pad_2d(nchw(x), config, pool, value=-math.inf)
                compare(f"MaxPooling2D {config}", ours("MaxPooling2D", config, x),
                        nhwc(F.max_pool2d(padded, pool, stride_pair)))
                compare(f"AveragePooling2D {config}", ours("AveragePooling2D", config, x),
                        torch_average_pool2d(x, config, pool))
                one_d = {"pool_size": pool[0], "strides": strides if not isinstance(strides, list) else 2,
                         "padding": padding}
                x1 = random(2, 9, 3)
                x2 = x1[:, None, :, :]  # (batch, 1, steps, channels): the 1-D pool is a 2-D pool of height 1
                config2 = {"pool_size": [1, one_d["pool_size"]], "strides": [1, one_d["strides"] or one_d["pool_size"]],
                           "padding": padding}
                padded, stride_pair, _ = pad_2d(nchw(x2), config2, (1, one_d["pool_size"]), value=-math.inf)
                compare(f"MaxPooling1D {one_d}", ours("MaxPooling1D", one_d, x1),
                        nhwc(F.max_pool2d(padded, (1, one_d["pool_size"]), stride_pair))[:, 0])
                compare(f"AveragePooling1D {one_d}", ours("AveragePooling1D", one_d, x1),
                        torch_average_pool2d(x2, config2, (1, one_d["pool_size"]))[:, 0])
    # Where TF's 'same' padding is symmetric (odd pool, stride 1), torch's own count_include_pad=False agrees.
    for pool in (3, 5):
        config = {"pool_size": pool, "strides": 1, "padding": "same"}
        x = random(2, 6, 7, 2)
        expected = F.avg_pool2d(nchw(x), pool, 1, pool // 2, count_include_pad=False)
        compare(f"AveragePooling2D symmetric {config}", ours("AveragePooling2D", config, x), nhwc(expected))


def check_global_pooling_and_padding():
    x2, x1 = random(3, 5, 6, 4), random(3, 7, 4)
    for keepdims in (False, True):
        config = {"keepdims": keepdims}
        t2, t1 = torch.from_numpy(x2), torch.from_numpy(x1)
        compare(f"GlobalAveragePooling2D {config}", ours("GlobalAveragePooling2D", config, x2), t2.mean((1, 2), keepdims))
        compare(f"GlobalMaxPooling2D {config}", ours("GlobalMaxPooling2D", config, x2), t2.amax((1, 2), keepdims))
        compare(f"GlobalAveragePooling1D {config}", ours("GlobalAveragePooling1D", config, x1), t1.mean(1, keepdims))
        compare(f"GlobalMaxPooling1D {config}", ours("GlobalMaxPooling1D", config, x1), t1.amax(1, keepdims))
    for padding, sides in ((1, (1, 1, 1, 1)), ([2, 1], (1, 1, 2, 2)), ([[0, 3], [2, 1]], (2, 1, 0, 3)),
                           (None, (1, 1, 1, 1))):
        config = {} if padding is None else {"padding": padding}
        expected = nhwc(F.pad(nchw(x2), sides))  # F.pad order: (left, right, top, bottom)
        compare(f"ZeroPadding2D {config}", ours("ZeroPadding2D", config, x2), expected)
    for padding, sides in ((2, (2, 2)), ([0, 3], (0, 3))):
        expected = F.pad(torch.from_numpy(x1).permute(0, 2, 1), sides).permute(0, 2, 1)
        compare(f"ZeroPadding1D {padding}", ours("ZeroPadding1D", {"padding": padding}, x1), expected)


def main():
    global WORK
    torch.set_num_threads(1)
    with scratch_directory("conv_torch-") as WORK:
        check_conv2d()
        check_conv1d()
        check_depthwise_conv2d()
        check_pooling()
        check_global_pooling_and_padding()
    print(f"{checked} layer outputs agree with torch {torch.__version__}")


if __name__ == "__main__":
    main()
