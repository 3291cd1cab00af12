#!/usr/bin/env python3
"""Writes the PyTorch reference data the Swift tests compare against (run by hand; tests need no Python).

    python3 Tests/Reference/make_reference.py      # needs torch; rewrites Tests/Reference/*.bin

Everything is NHWC with Keras weight layouts (Conv2D kernel [kh, kw, in, out], Dense kernel [in, out]); the
helpers below convert to PyTorch's layouts inside the op, so autograd returns gradients in Keras layout too.
'same' padding is TensorFlow's (the odd pixel goes at the end), done with an explicit F.pad.
Optimizer updates are Keras' formulas written out in torch (Keras and torch place Adam's epsilon differently).

File format (little-endian): magic b"MNTREF\\0\\0", uint32 version = 1, uint32 entry count, then per entry:
uint32 name length, UTF-8 name, uint32 rank, rank x uint32 dims, float32 values (row-major).
"""
import math
import struct
from pathlib import Path

import torch
import torch.nn.functional as F

MAGIC = b"MNTREF\0\0"
VERSION = 1
HERE = Path(__file__).resolve().parent


def write(path, entries):
    with open(path, "wb") as f:
        f.write(MAGIC + struct.pack("<II", VERSION, len(entries)))
        for name, t in entries.items():
            t = t.detach().to(torch.float32).contiguous()
            encoded = name.encode()
            f.write(struct.pack("<I", len(encoded)) + encoded)
            f.write(struct.pack("<I", t.dim()) + struct.pack(f"<{t.dim()}I", *t.shape))
            f.write(t.numpy().astype("<f4").tobytes())
    print(f"wrote {path.name}: {len(entries)} tensors")


def same_padding(size, window, stride):
    out = -(-size // stride)
    total = max((out - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def conv2d(x, kernel, bias, stride=1, padding="valid"):
    """x (N, H, W, C), kernel [kh, kw, C, O] -> (N, OH, OW, O)."""
    xc = x.permute(0, 3, 1, 2)
    if padding == "same":
        top, bottom = same_padding(x.shape[1], kernel.shape[0], stride)
        left, right = same_padding(x.shape[2], kernel.shape[1], stride)
        xc = F.pad(xc, (left, right, top, bottom))
    return F.conv2d(xc, kernel.permute(3, 2, 0, 1), bias, stride=stride).permute(0, 2, 3, 1)


def max_pool(x, pool=2, stride=None, padding="valid"):
    stride = stride or pool
    xc = x.permute(0, 3, 1, 2)
    if padding == "same":
        top, bottom = same_padding(x.shape[1], pool, stride)
        left, right = same_padding(x.shape[2], pool, stride)
        xc = F.pad(xc, (left, right, top, bottom), value=-math.inf)
    return F.max_pool2d(xc, pool, stride).permute(0, 2, 3, 1)


def dense(x, kernel, bias):
    return x @ kernel + bias


SELU = (1.6732632423543772848170429916717, 1.0507009873554804934193349852946)
ACTIVATIONS = {
    "linear": lambda z: z,
    "relu": F.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "selu": F.selu,
    "softmax": lambda z: F.softmax(z, dim=-1),
}


def glorot(shape, gen):
    receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
    fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
    limit = math.sqrt(6 / (fan_in + fan_out))
    return (torch.rand(shape, generator=gen) * 2 - 1) * limit


def leaf(t):
    return t.clone().requires_grad_(True)


def layer_cases(gen):
    """Per-layer cases: inputs x, weights, upstream gradient dy; outputs y and every gradient of sum(y * dy)."""
    out = {}

    def record(prefix, y, dy, tensors):
        (y * dy).sum().backward()
        out[f"{prefix}/y"] = y
        out[f"{prefix}/dy"] = dy
        for name, t in tensors.items():
            out[f"{prefix}/{name}"] = t
            if t.grad is not None:
                out[f"{prefix}/grad_{name}"] = t.grad

    # Dense: (N, in) and a 4-D input (Dense acts on the last axis), each activation once.
    for activation in ACTIVATIONS:
        x, w, b = leaf(torch.randn(4, 7, generator=gen)), leaf(glorot((7, 5), gen)), leaf(torch.randn(5, generator=gen))
        y = ACTIVATIONS[activation](dense(x, w, b))
        record(f"dense_{activation}", y, torch.randn(y.shape, generator=gen), {"x": x, "kernel": w, "bias": b})

    # Conv2D: paddings, strides, odd sizes, several channels.
    for name, (n, h, w_, c, o, k, stride, padding) in {
        "conv_valid": (2, 7, 6, 3, 4, 3, 1, "valid"),
        "conv_same": (2, 7, 7, 2, 3, 5, 1, "same"),
        "conv_same_stride2": (2, 8, 7, 3, 5, 3, 2, "same"),
        "conv_valid_stride2": (1, 9, 9, 1, 2, 4, 2, "valid"),
    }.items():
        x = leaf(torch.rand(n, h, w_, c, generator=gen))
        kern, b = leaf(glorot((k, k, c, o), gen)), leaf(torch.randn(o, generator=gen) * 0.1)
        y = F.relu(conv2d(x, kern, b, stride, padding))
        record(name, y, torch.randn(y.shape, generator=gen), {"x": x, "kernel": kern, "bias": b})

    # MaxPooling2D.
    for name, (shape, pool, stride, padding) in {
        "pool_valid": ((2, 6, 6, 3), 2, 2, "valid"),
        "pool_valid_odd": ((1, 7, 5, 2), 2, 2, "valid"),
        "pool_same_odd": ((2, 5, 5, 4), 2, 2, "same"),
        "pool3_stride2_same": ((1, 7, 8, 2), 3, 2, "same"),
    }.items():
        x = leaf(torch.randn(shape, generator=gen))
        y = max_pool(x, pool, stride, padding)
        record(name, y, torch.randn(y.shape, generator=gen), {"x": x})

    # BatchNormalization in training mode (F.batch_norm), on (N, C) and on NHWC; gamma and beta not trivial.
    for name, shape in {"bn_2d": (8, 6), "bn_4d": (2, 3, 3, 4)}.items():
        x = leaf(torch.randn(shape, generator=gen) * 2 + 1)
        c = shape[-1]
        gamma, beta = leaf(torch.rand(c, generator=gen) + 0.5), leaf(torch.randn(c, generator=gen))
        rows = x.reshape(-1, c)
        y = F.batch_norm(rows, None, None, gamma, beta, training=True, eps=1e-3).reshape(shape)
        record(name, y, torch.randn(y.shape, generator=gen), {"x": x, "gamma": gamma, "beta": beta})
        # Keras' moving averages after one step from (0, 1), momentum 0.99, biased batch variance.
        out[f"{name}/moving_mean"] = 0.01 * rows.mean(0)
        out[f"{name}/moving_variance"] = 0.99 + 0.01 * rows.var(0, unbiased=False)
    return out


def loss_cases(gen):
    """Losses on a softmax head (logits in), including logits of ±1e4."""
    out = {}
    for scale_name, scale in {"": 3.0, "_huge": 1e4}.items():
        logits = torch.randn(6, 10, generator=gen) * scale
        labels = torch.randint(0, 10, (6,), generator=gen)
        onehot = F.one_hot(labels, 10).float()
        out[f"loss{scale_name}/logits"] = logits
        out[f"loss{scale_name}/labels"] = labels.float()
        for name, fn in {
            "sparse_categorical_crossentropy": lambda z: F.cross_entropy(z, labels),
            "categorical_crossentropy": lambda z: F.cross_entropy(z, onehot),
            "mean_squared_error": lambda z: F.mse_loss(F.softmax(z, dim=-1), onehot),
        }.items():
            z = leaf(logits)
            loss = fn(z)
            loss.backward()
            out[f"loss{scale_name}/{name}/loss"] = loss.reshape(1)
            out[f"loss{scale_name}/{name}/grad"] = z.grad
    return out


# Full models with Keras names; forward returns logits (the softmax head is fused into the loss).
def convnet_params(gen):
    shapes = {
        "conv2d/kernel": (3, 3, 1, 32), "conv2d/bias": (32,),
        "conv2d_1/kernel": (3, 3, 32, 64), "conv2d_1/bias": (64,),
        "conv2d_2/kernel": (3, 3, 64, 64), "conv2d_2/bias": (64,),
        "dense/kernel": (576, 64), "dense/bias": (64,),
        "dense_1/kernel": (64, 10), "dense_1/bias": (10,),
    }
    return {k: (glorot(s, gen) if len(s) > 1 else torch.randn(s, generator=gen) * 0.05) for k, s in shapes.items()}


def convnet_forward(p, x):
    h = max_pool(F.relu(conv2d(x, p["conv2d/kernel"], p["conv2d/bias"])))
    h = max_pool(F.relu(conv2d(h, p["conv2d_1/kernel"], p["conv2d_1/bias"])))
    h = F.relu(conv2d(h, p["conv2d_2/kernel"], p["conv2d_2/bias"]))
    h = F.relu(dense(h.flatten(1), p["dense/kernel"], p["dense/bias"]))  # NHWC flatten, as Keras
    return dense(h, p["dense_1/kernel"], p["dense_1/bias"])


def lenet5_params(gen):
    shapes = {
        "conv2d/kernel": (5, 5, 1, 6), "conv2d/bias": (6,),
        "conv2d_1/kernel": (5, 5, 6, 16), "conv2d_1/bias": (16,),
        "dense/kernel": (784, 120), "dense/bias": (120,),
        "dense_1/kernel": (120, 84), "dense_1/bias": (84,),
        "dense_2/kernel": (84, 10), "dense_2/bias": (10,),
    }
    return {k: (glorot(s, gen) if len(s) > 1 else torch.randn(s, generator=gen) * 0.05) for k, s in shapes.items()}


def lenet5_forward(p, x):
    h = max_pool(torch.tanh(conv2d(x, p["conv2d/kernel"], p["conv2d/bias"], padding="same")))
    h = max_pool(torch.tanh(conv2d(h, p["conv2d_1/kernel"], p["conv2d_1/bias"], padding="same")))
    h = torch.tanh(dense(h.flatten(1), p["dense/kernel"], p["dense/bias"]))
    h = torch.tanh(dense(h, p["dense_1/kernel"], p["dense_1/bias"]))
    return dense(h, p["dense_2/kernel"], p["dense_2/bias"])


class KerasOptimizer:
    """Keras 3 update rules, on flat dicts of tensors."""

    def __init__(self, kind, lr, **kw):
        self.kind, self.lr, self.kw, self.t, self.state = kind, lr, kw, 0, {}

    def step(self, params, grads):
        self.t += 1
        for k, g in grads.items():
            w = params[k]
            s = self.state.setdefault(k, [torch.zeros_like(w), torch.zeros_like(w)])
            if self.kind == "sgd":
                mu = self.kw.get("momentum", 0.0)
                if mu == 0:
                    w -= self.lr * g
                else:
                    s[0] = mu * s[0] - self.lr * g
                    w += mu * s[0] - self.lr * g if self.kw.get("nesterov") else s[0]
            elif self.kind == "adam":
                b1, b2, eps = 0.9, 0.999, 1e-7
                alpha = self.lr * math.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
                s[0] += (g - s[0]) * (1 - b1)
                s[1] += (g * g - s[1]) * (1 - b2)
                w -= alpha * s[0] / (s[1].sqrt() + eps)
            elif self.kind == "rmsprop":
                rho, eps = 0.9, 1e-7
                s[0] = rho * s[0] + (1 - rho) * g * g
                w -= self.lr * g / (s[0] + eps).sqrt()


OPTIMIZERS = {
    "sgd": dict(lr=0.1),
    "sgd_momentum": dict(lr=0.05, momentum=0.9),
    "sgd_nesterov": dict(lr=0.05, momentum=0.9, nesterov=True),
    "adam": dict(lr=0.001),
    "rmsprop": dict(lr=0.001),
}
STEPS = 3


def training_cases(gen, model, params_fn, forward, loss_name):
    """STEPS training steps on fixed batches from the same initial weights, for every optimizer."""
    initial = params_fn(gen)
    batches = [(torch.rand(8, 28, 28, 1, generator=gen), torch.randint(0, 10, (8,), generator=gen))
               for _ in range(STEPS)]
    out = {f"init/{k}": v for k, v in initial.items()}
    for i, (x, labels) in enumerate(batches):
        out[f"batch{i}/x"] = x
        out[f"batch{i}/labels"] = labels.float()

    def loss_of(logits, labels):
        if loss_name == "sparse_categorical_crossentropy":
            return F.cross_entropy(logits, labels)
        return F.cross_entropy(logits, F.one_hot(labels, 10).float())

    for opt_name, settings in OPTIMIZERS.items():
        kind = "sgd" if opt_name.startswith("sgd") else opt_name
        optimizer = KerasOptimizer(kind, **settings)
        params = {k: v.clone() for k, v in initial.items()}
        for step, (x, labels) in enumerate(batches):
            leaves = {k: leaf(v) for k, v in params.items()}
            logits = forward(leaves, x)
            loss = loss_of(logits, labels)
            loss.backward()
            grads = {k: v.grad for k, v in leaves.items()}
            out[f"{opt_name}/loss{step}"] = loss.reshape(1)
            if step == 0 and opt_name == "sgd":
                out["logits0"] = logits
                out.update({f"grad0/{k}": g for k, g in grads.items()})
            with torch.no_grad():
                optimizer.step(params, grads)
        out.update({f"{opt_name}/final/{k}": v for k, v in params.items()})
    write(HERE / f"train_{model}.bin", out)


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(2026)
    write(HERE / "layers.bin", layer_cases(gen))
    write(HERE / "losses.bin", loss_cases(gen))
    training_cases(gen, "convnet", convnet_params, convnet_forward, "categorical_crossentropy")
    training_cases(gen, "lenet5", lenet5_params, lenet5_forward, "sparse_categorical_crossentropy")


if __name__ == "__main__":
    main()
