"""NumPy recomputation of the cases test_graph_ops.c ran through the graph interpreter.
usage: graph_ops_reference.py DIR  (DIR/cases.txt lists "index name inputs outputs")."""
import math
import sys

import numpy as np

directory = sys.argv[1]


def same_padding(size, kernel, stride, dilation=1):
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return out, total // 2, total - total // 2


def conv2d(x, w, strides, dilations, pads):
    """pads = (top, bottom, left, right); NHWC input, HWIO filter."""
    n, h, wd, c = x.shape
    kh, kw, _, o = w.shape
    x = np.pad(x.astype(np.float64), ((0, 0), pads[0:2], pads[2:4], (0, 0)))
    eh, ew = (kh - 1) * dilations[0] + 1, (kw - 1) * dilations[1] + 1
    out_h = (x.shape[1] - eh) // strides[0] + 1
    out_w = (x.shape[2] - ew) // strides[1] + 1
    y = np.zeros((n, out_h, out_w, o))
    for i in range(out_h):
        for j in range(out_w):
            patch = x[:, i * strides[0]:i * strides[0] + eh:dilations[0], j * strides[1]:j * strides[1] + ew:dilations[1], :]
            y[:, i, j, :] = np.tensordot(patch, w.astype(np.float64), axes=([1, 2, 3], [0, 1, 2]))
    return y


def same_pads(x, kh, kw, sh, sw, dh=1, dw=1):
    _, top, bottom = same_padding(x.shape[1], kh, sh, dh)
    _, left, right = same_padding(x.shape[2], kw, sw, dw)
    return (top, bottom, left, right)


def depthwise(x, w):
    kh, kw, c, m = w.shape
    pads = same_pads(x, kh, kw, 1, 1)
    outs = [conv2d(x[..., k:k + 1], w[:, :, k:k + 1, :], (1, 1), (1, 1), pads) for k in range(c)]
    return np.concatenate(outs, axis=3)


def pool(x, k, s, pads, kind):
    x = x.astype(np.float64)
    fill = -np.inf if kind == "max" else np.nan
    x = np.pad(x, ((0, 0), pads[0:2], pads[2:4], (0, 0)), constant_values=fill)
    out_h = (x.shape[1] - k) // s + 1
    out_w = (x.shape[2] - k) // s + 1
    y = np.zeros((x.shape[0], out_h, out_w, x.shape[3]))
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, i * s:i * s + k, j * s:j * s + k, :]
            y[:, i, j, :] = window.max(axis=(1, 2)) if kind == "max" else np.nanmean(window, axis=(1, 2))
    return y


def selu(x):
    return 1.0507009873554805 * np.where(x < 0, 1.6732632423543772 * np.expm1(x), x)


erf = np.vectorize(math.erf)

REFERENCE = {
    "conv_same_stride2": lambda x, w: conv2d(x, w, (2, 2), (1, 1), same_pads(x, 3, 3, 2, 2)),
    "conv_valid_dilated": lambda x, w: conv2d(x, w, (1, 1), (2, 2), (0, 0, 0, 0)),
    "conv_explicit": lambda x, w: conv2d(x, w, (1, 2), (1, 1), (1, 2, 2, 1)),
    "depthwise_same": depthwise,
    "maxpool_same": lambda x: pool(x, 3, 2, same_pads(x, 3, 3, 2, 2), "max"),
    "avgpool_same": lambda x: pool(x, 3, 2, same_pads(x, 3, 3, 2, 2), "avg"),
    "maxpool_valid": lambda x: pool(x, 2, 2, (0, 0, 0, 0), "max"),
    "matmul_transpose_b": lambda a, b: a.astype(np.float64) @ b.T,
    "batch_matmul_adj_x": lambda a, b: np.swapaxes(a, -1, -2).astype(np.float64) @ b,
    "matmul_int32": lambda a, b: a @ b.T,
    "softmax": lambda x: np.exp(x - x.max(1, keepdims=True)) / np.exp(x - x.max(1, keepdims=True)).sum(1, keepdims=True),
    "log_softmax": lambda x: (x - x.max(1, keepdims=True)) - np.log(np.exp(x - x.max(1, keepdims=True)).sum(1, keepdims=True)),
    "mean_keep_dims_axis1": lambda x, a: x.astype(np.float64).mean(axis=tuple(a), keepdims=True),
    "sum_axes_0_2": lambda x, a: x.astype(np.float64).sum(axis=tuple(a)),
    "max_axis1": lambda x, a: x.max(axis=tuple(a)),
    "prod_axis1": lambda x, a: x.astype(np.float64).prod(axis=tuple(a)),
    "argmax_axis1": lambda x, a: np.argmax(x, axis=int(a)),
    "strided_slice_masks": lambda x, b, e, s: x[1:, ::-2, ..., None, 2],
    "strided_slice_shrink": lambda x, b, e, s: x[-1, 1:-1],
    "transpose": lambda x, p: np.transpose(x, p),
    "tile": lambda x, m: np.tile(x, m),
    "pad": lambda x, p: np.pad(x, p),
    "gather_axis2": lambda x, i, a: np.take(x, i, axis=int(a)),
    "concat_axis1": lambda a, b, axis: np.concatenate([a, b], axis=int(axis)),
    "pack_axis1": lambda a, b, c: np.stack([a, b, c], axis=1),
    "unpack_axis2": lambda x: tuple(np.moveaxis(x, 2, 0)),
    "squared_difference_broadcast": lambda a, b: (a.astype(np.float64) - b) ** 2,
    "floor_mod_int32": lambda a, b: np.mod(a, b),
    "floor_div_int64": lambda a, b: np.floor_divide(a, b),
    "fused_batch_norm_inference": lambda x, scale, offset, mean, var: (x - mean) * scale / np.sqrt(var.astype(np.float64) + np.float32(0.001)) + offset,
    "Selu": selu,
    "Elu": lambda x: np.where(x < 0, np.expm1(x), x),
    "Softplus": lambda x: np.log1p(np.exp(x.astype(np.float64))),
    "Erf": lambda x: erf(x.astype(np.float64)),
    "Sigmoid": lambda x: 1 / (1 + np.exp(-x.astype(np.float64))),
    "Tanh": lambda x: np.tanh(x.astype(np.float64)),
    "Relu6": lambda x: np.clip(x, 0, 6),
    "Rsqrt": lambda x: 1 / np.sqrt(x.astype(np.float64)),
    "Round": lambda x: np.round(x),
    "Sign": lambda x: np.sign(x),
    "LeakyRelu": lambda x: np.where(x < 0, np.float32(0.3) * x, x),
}

failures = 0
for line in open(directory + "/cases.txt"):
    index, name, inputs, outputs = line.split()
    args = [np.load("%s/%s-in%d.npy" % (directory, index, i)) for i in range(int(inputs))]
    got = [np.load("%s/%s-out%d.npy" % (directory, index, i)) for i in range(int(outputs))]
    expected = REFERENCE[name](*args)
    expected = list(expected) if isinstance(expected, tuple) else [expected]
    for k, (g, e) in enumerate(zip(got, expected)):
        e = np.asarray(e)
        if g.shape != e.shape:
            print("%s output %d: shape %s, numpy %s" % (name, k, g.shape, e.shape))
            failures += 1
        elif g.dtype.kind in "iu":
            if not np.array_equal(g, e):
                print("%s output %d: %s, numpy %s" % (name, k, g.tolist(), e.tolist()))
                failures += 1
        elif not np.allclose(g, e, rtol=1e-5, atol=1e-6):
            print("%s output %d: largest difference %g\n%s\nnumpy:\n%s" % (name, k, np.max(np.abs(g - e)), g, e))
            failures += 1
sys.exit(1 if failures else 0)
