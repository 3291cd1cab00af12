"""Trains the same presets with mnist-train (1 MPI rank of one thread a core, its recommended layout, and one
single-threaded rank a core) and with every peer framework at its fastest ordinary
configuration, one after the other on this machine, and prints training samples/s side by side. Run it through
deploy/compare-peers.sh, which prepares the venv, the build and the data.

Every configuration trains the same model (LAYERS) with the same optimizer, loss and global batch (PRESETS) on
the same first N samples of real MNIST, no validation, and is timed the same way: one untimed warm-up epoch
(it absorbs tracing and compilation), then the median of 3 timed epochs, as training samples/s. mnist-train
trains 4 epochs and its figure is the median of epochs 2-4 from its log. The peer configurations (CONFIGURATIONS):
PyTorch eager, channels_last, torch.compile (model, and model plus optimizer step) and DDP over gloo;
Keras/TensorFlow by default, with steps_per_execution 32 and 128 and with XLA (jit_compile); Keras on JAX; and
pure JAX with optax, one jitted step per batch or one jax.lax.scan over the epoch's batches. Each runs in its own
process (Keras picks its backend at import, and a crash or hang stays contained); one that fails is reported
with its reason and the rest go on. Per preset the table names the fastest peer configuration, and the fastest
among those taking one optimizer step per call (not steps_per_execution > 1, not lax.scan), with the ratio
mnist-train / peer.

With --time-to-accuracy A, each instead trains convnet on all 60,000 samples from a fresh process and tests
after every epoch; the figure is the wall clock from launching the process (imports, data loading and MPI
start-up included) to the end of the first epoch whose test accuracy reaches A.

With --accuracy-over-seeds N, each instead runs the mlp tutorial as written (10 epochs, 5% validation split,
EarlyStopping with patience 2 restoring the best weights) with seeds 0..N-1, mnist-train in one process and
Keras, and prints every seed's test accuracy: the spread the tutorial's single figure comes from.
"""
import argparse
import collections
import gzip
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

# preset: (global batch, optimizer, learning rate, loss); the tutorials' settings
# (Sources/Engine/Engine.docc/Presets.md). "categorical" takes one-hot targets, "sparse" class indices; both are
# cross-entropy on the softmax. "mse" is mean squared error between the softmax and the one-hot target.
PRESETS = {
    "convnet": (64, "rmsprop", 0.001, "categorical"),
    "lenet5": (32, "adam", 0.001, "sparse"),
    "cnn-small": (100, "sgd", 0.01, "categorical"),
    "mlp": (32, "sgd", 0.1, "sparse"),
    "mlp-bn": (32, "sgd", 0.05, "sparse"),
    "cnn-bn": (32, "sgd", 0.05, "sparse"),
    "convnet-dropout": (32, "sgd", 0.01, "mse"),
}

WARMUP_EPOCHS, TIMED_EPOCHS = 1, 3


# ---- the models, once for every framework --------------------------------------------------------------------

def conv(filters, kernel, activation, padding="valid"):
    return {"kind": "conv", "filters": filters, "kernel": kernel, "activation": activation, "padding": padding}


def pool(padding="valid"):
    """MaxPooling2D with a 2x2 pool and stride 2; "same" rounds an odd size up instead of down."""
    return {"kind": "pool", "padding": padding}


def dense(units, activation, initializer="glorot_uniform"):
    return {"kind": "dense", "units": units, "activation": activation, "initializer": initializer}


FLATTEN, BATCH_NORM = {"kind": "flatten"}, {"kind": "bn"}  # BN: Keras' momentum 0.99, epsilon 1e-3


def dropout(rate):
    return {"kind": "dropout", "rate": rate}


# The presets' layers as Presets.md lists them; every framework's builder below reads this table, so the models
# cannot drift apart. The last layer's softmax is folded into the loss where a framework does that (PyTorch, JAX).
LAYERS = {
    "convnet": [conv(32, 3, "relu"), pool(), conv(64, 3, "relu"), pool(), conv(64, 3, "relu"), FLATTEN,
                dense(64, "relu"), dense(10, "softmax")],
    "lenet5": [conv(6, 5, "tanh", "same"), pool(), conv(16, 5, "tanh", "same"), pool(), FLATTEN,
               dense(120, "tanh"), dense(84, "tanh"), dense(10, "softmax")],
    "cnn-small": [conv(32, 5, "relu"), pool(), conv(64, 5, "relu"), pool(), FLATTEN, dense(10, "softmax")],
    "mlp": [FLATTEN, dense(100, "sigmoid"), dense(10, "softmax")],
    "mlp-bn": [FLATTEN, BATCH_NORM, dense(200, "selu", "lecun_normal"), BATCH_NORM,
               dense(100, "selu", "lecun_normal"), BATCH_NORM, dense(10, "softmax")],
    "cnn-bn": [conv(64, 3, "relu"), pool(), FLATTEN, BATCH_NORM, dense(200, "selu"), BATCH_NORM,
               dense(100, "selu"), BATCH_NORM, dense(10, "softmax")],
    "convnet-dropout": [conv(32, 4, "relu"), pool(), conv(32, 3, "relu"), pool("same"), dropout(0.3), FLATTEN,
                        dense(10, "softmax")],
}


def has_convolution(preset):
    return any(layer["kind"] == "conv" for layer in LAYERS[preset])


def load_mnist(directory, samples, kind="train"):
    def read(name, offset):
        path = os.path.join(directory, name)
        if os.path.exists(path + ".gz"):
            with gzip.open(path + ".gz", "rb") as f:
                return np.frombuffer(f.read(), np.uint8, offset=offset)
        return np.fromfile(path, np.uint8, offset=offset)
    prefix = "train" if kind == "train" else "t10k"
    x = read(f"{prefix}-images-idx3-ubyte", 16).reshape(-1, 28, 28, 1)[:samples].astype(np.float32) / 255
    y = read(f"{prefix}-labels-idx1-ubyte", 8)[:samples].astype(np.int64)
    return x, y


def timed_epochs(epoch):
    """The protocol every throughput figure follows: run `epoch()` (which returns its samples/s) for the warm-up
    and the timed epochs, and return all of their figures."""
    return [epoch() for _ in range(WARMUP_EPOCHS + TIMED_EPOCHS)]


def median_of_timed(rates):
    return float(np.median(rates[WARMUP_EPOCHS:WARMUP_EPOCHS + TIMED_EPOCHS]))


def cores():
    return len(os.sched_getaffinity(0))


# ---- PyTorch -------------------------------------------------------------------------------------------------

def torch_model(preset):
    """The preset in PyTorch with Keras' initializers, returning logits (the loss applies the softmax)."""
    import torch.nn as nn
    channels, size, features = 1, 28, None  # the shape flowing through: NCHW, then (features,) after Flatten
    layers = []
    for layer in LAYERS[preset]:
        kind = layer["kind"]
        if kind == "conv":
            same = layer["padding"] == "same"
            layers.append(nn.Conv2d(channels, layer["filters"], layer["kernel"],
                                    padding=layer["kernel"] // 2 if same else 0))  # "same" for odd kernels
            channels, size = layer["filters"], size if same else size - layer["kernel"] + 1
        elif kind == "pool":
            same = layer["padding"] == "same"
            layers.append(nn.MaxPool2d(2, ceil_mode=same))
            size = math.ceil(size / 2) if same else size // 2
        elif kind == "flatten":
            layers.append(nn.Flatten())
            features = channels * size * size
        elif kind == "bn":  # PyTorch's momentum weighs the new batch, Keras' the running value
            layers.append(nn.BatchNorm1d(features, eps=1e-3, momentum=0.01))
        elif kind == "dense":
            layers.append(nn.Linear(features, layer["units"]))
            features = layer["units"]
        elif kind == "dropout":
            layers.append(nn.Dropout(layer["rate"]))
        activation = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "selu": nn.SELU}.get(
            layer.get("activation"))
        if activation:
            layers.append(activation())
    model = nn.Sequential(*layers)
    torch_keras_initializers(model, [layer.get("initializer") for layer in LAYERS[preset]
                                     if layer["kind"] in ("conv", "dense")])
    return model


def torch_keras_initializers(model, initializers):
    """glorot_uniform or lecun_normal kernels and zero biases, as Keras starts, so the runs train alike."""
    import torch.nn as nn
    weighted = [m for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]
    for module, initializer in zip(weighted, initializers):
        if initializer == "lecun_normal":  # Keras': truncated at 2 sigma, rescaled to keep the variance 1/fan_in
            std = (1 / module.weight[0].numel()) ** 0.5 / 0.87962566103423978
            nn.init.trunc_normal_(module.weight, std=std, a=-2 * std, b=2 * std)
        else:
            nn.init.xavier_uniform_(module.weight)
        nn.init.zeros_(module.bias)


def torch_optimizer(parameters, name, lr):
    import torch
    if name == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=lr, alpha=0.9, eps=1e-7)
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr, eps=1e-7)
    return torch.optim.SGD(parameters, lr=lr)


def torch_loss(loss):
    import torch.nn.functional as F
    if loss == "mse":
        return lambda logits, labels: F.mse_loss(F.softmax(logits, 1), F.one_hot(labels, 10).float())
    return F.cross_entropy  # fuses the softmax; with class indices it equals categorical on one-hot targets


def torch_step(preset, model, variant):
    """One training step, step(images, labels), for `variant`: "eager" or "channels_last" as it is, "compile"
    with the model under torch.compile, "compile-step" with the optimizer step compiled too (PyTorch's recipe:
    the backward pass stays eager, so the step is a compiled function of its own)."""
    import torch
    _, optimizer_name, lr, loss = PRESETS[preset]
    optimizer = torch_optimizer(model.parameters(), optimizer_name, lr)
    loss_function = torch_loss(loss)
    forward = torch.compile(model) if variant.startswith("compile") else model
    optimizer_step = torch.compile(optimizer.step) if variant == "compile-step" else optimizer.step
    memory_format = torch.channels_last if variant == "channels_last" else torch.contiguous_format

    def step(images, labels):
        optimizer.zero_grad(set_to_none=True)
        loss_function(forward(images.contiguous(memory_format=memory_format)), labels).backward()
        optimizer_step()
    return step


def torch_train(preset, x, y, variant="eager", rank=0, world=1, after_epoch=None):
    """Epochs over (x, y) in global batches while `after_epoch(model, epoch)` returns True (by default the
    warm-up and timed epochs); with world > 1 this rank takes its slice of every batch, under DDP. Returns every
    epoch's samples/s."""
    import torch
    torch.manual_seed(0)
    batch = PRESETS[preset][0]
    model = torch_model(preset)
    if variant == "channels_last":
        model = model.to(memory_format=torch.channels_last)
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model)
    step = torch_step(preset, model, variant)
    images = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    labels = torch.from_numpy(y)
    generator = torch.Generator().manual_seed(0)
    after_epoch = after_epoch or (lambda _, epoch: epoch < WARMUP_EPOCHS + TIMED_EPOCHS)
    rates = []
    while True:
        permutation = torch.randperm(len(x), generator=generator)
        if world > 1:
            torch.distributed.barrier()
        start = time.perf_counter()
        for begin in range(0, len(x), batch):
            part = permutation[begin:begin + batch][rank::world]
            step(images[part], labels[part])
        if world > 1:
            torch.distributed.barrier()
        rates.append(len(x) / (time.perf_counter() - start))
        if not after_epoch(model, len(rates)):
            return rates


def torch_test_accuracy(model, test):
    import torch
    x, y = test
    model.eval()  # BatchNorm's moving statistics, no dropout
    with torch.no_grad():
        predictions = model(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()).argmax(1).numpy()
    model.train()
    return float((predictions == y).mean())


def torch_threads(preset, x, y, variant="eager"):
    import torch
    torch.set_num_threads(cores())
    return torch_train(preset, x, y, variant)


def torch_ddp_worker(rank, world, preset, x, y, result_path, after_epoch=None):
    import torch
    torch.set_num_threads(1)
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    rates = torch_train(preset, x, y, rank=rank, world=world, after_epoch=after_epoch)
    if rank == 0:
        with open(result_path, "w") as f:
            json.dump(rates, f)
    torch.distributed.destroy_process_group()


def torch_ddp(preset, x, y, world=2, after_epoch=None):
    import torch.multiprocessing
    os.environ["MASTER_PORT"] = str(29500 + os.getpid() % 1000)
    with tempfile.NamedTemporaryFile("r") as result:
        torch.multiprocessing.spawn(torch_ddp_worker, args=(world, preset, x, y, result.name, after_epoch),
                                    nprocs=world)
        return json.load(open(result.name))


class DDPTestEveryEpoch:
    """after_epoch for DDP: rank 0 tests and reports, then tells every rank whether to go on."""

    def __init__(self, test, target, max_epochs):
        self.test, self.target, self.max_epochs = test, target, max_epochs

    def __call__(self, model, epoch):
        import torch
        go_on = torch.zeros(1)
        if torch.distributed.get_rank() == 0:
            accuracy = torch_test_accuracy(model.module, self.test)
            report_epoch(epoch, accuracy)
            go_on[0] = float(accuracy < self.target and epoch < self.max_epochs)
        torch.distributed.broadcast(go_on, 0)
        return bool(go_on[0])


# ---- Keras (on TensorFlow, or on JAX with KERAS_BACKEND=jax) ---------------------------------------------------

def keras_sequential(preset):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    from keras import layers as L
    build = {
        "conv": lambda l: L.Conv2D(l["filters"], l["kernel"], padding=l["padding"], activation=l["activation"]),
        "pool": lambda l: L.MaxPooling2D(padding=l["padding"]),
        "flatten": lambda l: L.Flatten(),
        "bn": lambda l: L.BatchNormalization(),
        "dense": lambda l: L.Dense(l["units"], activation=l["activation"], kernel_initializer=l["initializer"]),
        "dropout": lambda l: L.Dropout(l["rate"]),
    }
    return keras.Sequential([keras.Input((28, 28, 1))] + [build[l["kind"]](l) for l in LAYERS[preset]])


def keras_compiled(preset, seed=0, metrics=(), steps_per_execution=1, jit_compile="auto"):
    """The preset's Keras model, seeded and compiled with its tutorial's optimizer and loss (PRESETS)."""
    import keras
    keras.utils.set_random_seed(seed)
    _, optimizer_name, lr, loss = PRESETS[preset]
    model = keras_sequential(preset)
    optimizer = {"rmsprop": keras.optimizers.RMSprop(lr, rho=0.9), "adam": keras.optimizers.Adam(lr),
                 "sgd": keras.optimizers.SGD(lr)}[optimizer_name]
    model.compile(optimizer=optimizer, loss={"categorical": "categorical_crossentropy", "mse": "mean_squared_error",
                                             "sparse": "sparse_categorical_crossentropy"}[loss],
                  metrics=list(metrics), steps_per_execution=steps_per_execution, jit_compile=jit_compile)
    return model


def keras_train(preset, x, y, after_epoch=None, steps_per_execution=1, jit_compile="auto", max_epochs=None):
    """One model.fit over (x, y), the way Keras users train, until `after_epoch(model, epoch)` returns False (by
    default after the warm-up and timed epochs). Returns every epoch's samples/s, timed by a callback around
    each epoch, so the fit's set-up before the first epoch is left out as it is for the other frameworks."""
    import keras
    batch, _, _, loss = PRESETS[preset]
    model = keras_compiled(preset, steps_per_execution=steps_per_execution, jit_compile=jit_compile)
    targets = y if loss == "sparse" else keras.utils.to_categorical(y, 10)
    after_epoch = after_epoch or (lambda _, epoch: epoch < WARMUP_EPOCHS + TIMED_EPOCHS)
    starts, rates = [], []

    def epoch_ended(epoch, logs):
        rates.append(len(x) / (time.perf_counter() - starts[-1]))
        model.stop_training = not after_epoch(model, epoch + 1)
    timer = keras.callbacks.LambdaCallback(on_epoch_begin=lambda *_: starts.append(time.perf_counter()),
                                           on_epoch_end=epoch_ended)
    model.fit(x, targets, batch_size=batch, epochs=max_epochs or WARMUP_EPOCHS + TIMED_EPOCHS, verbose=0,
              shuffle=True, callbacks=[timer])
    return rates


# ---- JAX -----------------------------------------------------------------------------------------------------

def jax_model(preset):
    """The preset in pure JAX (NHWC): init(key) -> (params, state) and apply(params, state, x, key, training) ->
    (logits, state), where state holds BatchNormalization's moving statistics."""
    import jax
    import jax.numpy as jnp
    from jax import lax
    initializers = {"glorot_uniform": jax.nn.initializers.glorot_uniform(),
                    "lecun_normal": jax.nn.initializers.lecun_normal()}  # both as Keras defines them
    activations = {"relu": jax.nn.relu, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "selu": jax.nn.selu,
                   "softmax": lambda v: v, None: lambda v: v}  # the loss applies the softmax
    shapes, shape = [], (28, 28, 1)  # each layer's input shape, without the batch
    for layer in LAYERS[preset]:
        shapes.append(shape)
        if layer["kind"] == "conv":
            same = layer["padding"] == "same"
            size = shape[0] if same else shape[0] - layer["kernel"] + 1
            shape = (size, size, layer["filters"])
        elif layer["kind"] == "pool":
            size = math.ceil(shape[0] / 2) if layer["padding"] == "same" else shape[0] // 2
            shape = (size, size, shape[2])
        elif layer["kind"] == "flatten":
            shape = (math.prod(shape),)
        elif layer["kind"] == "dense":
            shape = (layer["units"],)

    def init(key):
        params, state = [], []
        for layer, shape, key in zip(LAYERS[preset], shapes, jax.random.split(key, len(shapes))):
            if layer["kind"] == "conv":
                kernel = (layer["kernel"], layer["kernel"], shape[2], layer["filters"])  # HWIO
                params.append({"w": initializers["glorot_uniform"](key, kernel), "b": jnp.zeros(layer["filters"])})
            elif layer["kind"] == "dense":
                params.append({"w": initializers[layer["initializer"]](key, (shape[0], layer["units"])),
                               "b": jnp.zeros(layer["units"])})
            elif layer["kind"] == "bn":
                params.append({"gamma": jnp.ones(shape[0]), "beta": jnp.zeros(shape[0])})
            else:
                params.append({})
            state.append({"mean": jnp.zeros(shape[0]), "var": jnp.ones(shape[0])} if layer["kind"] == "bn" else {})
        return params, state

    def batch_norm(p, s, v, training):
        if not training:
            return (v - s["mean"]) * lax.rsqrt(s["var"] + 1e-3) * p["gamma"] + p["beta"], s
        mean, var = v.mean(0), v.var(0)
        moving = {"mean": 0.99 * s["mean"] + 0.01 * mean, "var": 0.99 * s["var"] + 0.01 * var}
        return (v - mean) * lax.rsqrt(var + 1e-3) * p["gamma"] + p["beta"], moving

    def apply(params, state, v, key, training=True):
        new_state = []
        for layer, p, s, key in zip(LAYERS[preset], params, state, jax.random.split(key, len(shapes))):
            kind = layer["kind"]
            if kind == "conv":
                v = lax.conv_general_dilated(v, p["w"], (1, 1), layer["padding"].upper(),
                                             dimension_numbers=("NHWC", "HWIO", "NHWC")) + p["b"]
            elif kind == "pool":
                v = lax.reduce_window(v, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), layer["padding"].upper())
            elif kind == "flatten":
                v = v.reshape(v.shape[0], -1)
            elif kind == "dense":
                v = v @ p["w"] + p["b"]
            elif kind == "bn":
                v, s = batch_norm(p, s, v, training)
            elif kind == "dropout" and training:
                keep = jax.random.bernoulli(key, 1 - layer["rate"], v.shape)
                v = jnp.where(keep, v / (1 - layer["rate"]), 0)
            v = activations[layer.get("activation")](v)
            new_state.append(s)
        return v, new_state
    return init, apply


def jax_optimizer(name, lr):
    """optax's optimizers set as Keras' are: epsilon 1e-7, and RMSprop's added outside the square root."""
    import optax
    if name == "rmsprop":
        return optax.rmsprop(lr, decay=0.9, eps=1e-7, eps_in_sqrt=False)
    if name == "adam":
        return optax.adam(lr, eps=1e-7)
    return optax.sgd(lr)


def jax_train_step(preset):
    """init(key) -> carry and step(carry, (images, labels)) -> (carry, loss), the shape lax.scan takes."""
    import jax
    import jax.numpy as jnp
    import optax
    _, optimizer_name, lr, loss = PRESETS[preset]
    init_model, apply = jax_model(preset)
    optimizer = jax_optimizer(optimizer_name, lr)

    def loss_function(params, state, images, labels, key):
        logits, state = apply(params, state, images, key)
        if loss == "mse":
            value = jnp.mean((jax.nn.softmax(logits) - jax.nn.one_hot(labels, 10)) ** 2)
        else:
            value = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
        return value, state

    def init(key):
        key, model_key = jax.random.split(key)
        params, state = init_model(model_key)
        return params, state, optimizer.init(params), key

    def step(carry, batch):
        params, state, optimizer_state, key = carry
        key, dropout_key = jax.random.split(key)
        (value, state), grads = jax.value_and_grad(loss_function, has_aux=True)(params, state, *batch, dropout_key)
        updates, optimizer_state = optimizer.update(grads, optimizer_state, params)
        return (optax.apply_updates(params, updates), state, optimizer_state, key), value
    return init, step


def jax_train(preset, x, y, scan=False):
    """Pure JAX: each epoch shuffles on the host and moves the epoch's batches to the device in one transfer,
    then either calls the jitted step once per batch (it indexes its batch inside the jit, so a step is one
    dispatch), or with `scan` runs every full batch in one jitted lax.scan. A last partial batch, as Keras and
    PyTorch train it too, is one more step call. Returns every epoch's samples/s."""
    import jax
    import jax.numpy as jnp
    batch = PRESETS[preset][0]
    init, step = jax_train_step(preset)
    carry = init(jax.random.PRNGKey(0))
    step_jit = jax.jit(step)
    step_at = jax.jit(lambda carry, images, labels, i: step(carry, (images[i], labels[i])))
    epoch_scan = jax.jit(lambda carry, images, labels: jax.lax.scan(step, carry, (images, labels)))
    rng = np.random.default_rng(0)
    full = len(x) // batch * batch

    def epoch():
        nonlocal carry
        start = time.perf_counter()
        permutation = rng.permutation(len(x))
        images = jnp.asarray(x[permutation[:full]].reshape(-1, batch, 28, 28, 1))
        labels = jnp.asarray(y[permutation[:full]].reshape(-1, batch))
        if scan:
            carry, _ = epoch_scan(carry, images, labels)
        else:
            for i in range(len(images)):
                carry, _ = step_at(carry, images, labels, i)
        if full < len(x):
            carry, _ = step_jit(carry, (jnp.asarray(x[permutation[full:]]), jnp.asarray(y[permutation[full:]])))
        jax.block_until_ready(carry)  # JAX dispatches asynchronously: the epoch ends when its last step does
        return len(x) / (time.perf_counter() - start)
    return timed_epochs(epoch)


# ---- the peer configurations ---------------------------------------------------------------------------------

# one_step: the configuration takes one optimizer step per call from Python, as mnist-train does; conv_only: it
# only means something for a model with convolutions; env: set in its process before any import.
Configuration = collections.namedtuple("Configuration", "one_step conv_only env run")

CONFIGURATIONS = {
    "PyTorch eager": Configuration(True, False, {}, lambda p, x, y: torch_threads(p, x, y)),
    "PyTorch channels_last": Configuration(True, True, {}, lambda p, x, y: torch_threads(p, x, y, "channels_last")),
    "PyTorch torch.compile": Configuration(True, False, {}, lambda p, x, y: torch_threads(p, x, y, "compile")),
    "PyTorch torch.compile + optimizer step": Configuration(True, False, {},
                                                            lambda p, x, y: torch_threads(p, x, y, "compile-step")),
    "PyTorch DDP gloo (2 ranks)": Configuration(True, False, {}, lambda p, x, y: torch_ddp(p, x, y)),
    "Keras/TF": Configuration(True, False, {}, lambda p, x, y: keras_train(p, x, y)),
    "Keras/TF steps_per_execution 32": Configuration(False, False, {},
                                                     lambda p, x, y: keras_train(p, x, y, steps_per_execution=32)),
    "Keras/TF steps_per_execution 128": Configuration(False, False, {},
                                                      lambda p, x, y: keras_train(p, x, y, steps_per_execution=128)),
    # Keras leaves XLA off on a machine without a GPU ("auto"); this asks for it.
    "Keras/TF jit_compile": Configuration(True, False, {}, lambda p, x, y: keras_train(p, x, y, jit_compile=True)),
    "Keras/JAX": Configuration(True, False, {"KERAS_BACKEND": "jax"}, lambda p, x, y: keras_train(p, x, y)),
    "JAX jit step per batch": Configuration(True, False, {}, lambda p, x, y: jax_train(p, x, y)),
    "JAX lax.scan over the epoch": Configuration(False, False, {}, lambda p, x, y: jax_train(p, x, y, scan=True)),
}


def configuration_worker(name, preset, data, samples):
    """Runs in a fresh process: one configuration on one preset; prints its epochs' samples/s, or why it
    failed, as the last line of stdout."""
    x, y = load_mnist(data, samples)
    try:
        result = {"epochs": CONFIGURATIONS[name].run(preset, x, y)}
    except Exception as error:  # a configuration that does not work here is a finding, not the end of the run
        result = {"failed": f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error) else ''}"}
    print(json.dumps(result), flush=True)


def run_configuration(name, preset, arguments):
    """One configuration in its own process: {"epochs": [...], "samples_per_second": median} or {"failed": why}."""
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "JAX_PLATFORMS": "cpu",
                   **CONFIGURATIONS[name].env}
    command = [sys.executable, __file__, "--configuration", name, "--presets", preset, "--data", arguments.data,
               "--binary", arguments.binary, "--samples", str(arguments.samples)]
    try:
        done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=arguments.timeout)
    except subprocess.TimeoutExpired:
        return {"failed": f"timed out after {arguments.timeout} s"}
    lines = done.stdout.strip().splitlines()
    if not lines or not lines[-1].startswith("{"):
        reason = next((line for line in reversed(done.stderr.splitlines()) if line.strip()), "no output")
        return {"failed": f"exit status {done.returncode}: {reason.strip()}"}
    result = json.loads(lines[-1])
    if "epochs" in result:
        result["samples_per_second"] = median_of_timed(result["epochs"])
    return result


# ---- mnist-train ---------------------------------------------------------------------------------------------

def fit_log(binary, data, ranks, arguments, threads=1):
    """Runs `mnist-train fit` on `ranks` MPI ranks of `threads` threads, each bound to as many cores of its own,
    with `arguments` and returns its log's records."""
    with tempfile.TemporaryDirectory() as directory:
        log = os.path.join(directory, "log.jsonl")
        command = ["mpirun", "-np", str(ranks), "--oversubscribe", "--mca", "pml", "ob1",
                   "--mca", "btl", "self,vader,tcp", "--map-by", f"slot:PE={threads}", "--bind-to", "core"]
        command += (["--allow-run-as-root"] if os.getuid() == 0 else [])
        command += [binary, "fit", "--threads", str(threads), "--data", data, "--progress", "epochs", "--log", log,
                    "--output", os.path.join(directory, "model.safetensors.zst")] + arguments
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        with open(log) as f:
            return [json.loads(line) for line in f]


def fit_epochs(binary, data, ranks, arguments, threads=1):
    """The epoch records of a `fit` run without early stopping, so every run trains the epochs asked for."""
    records = fit_log(binary, data, ranks, ["--early-stopping-patience", "0"] + arguments, threads)
    return [r for r in records if r.get("event") == "epoch"]


def layouts():
    """The ways mnist-train is run here, by name: (ranks, threads a rank). The first is the recommended one, whose
    figure the ratios use."""
    return {f"mnist-train, 1 rank x {cores()} threads": (1, cores()),
            f"mnist-train, {cores()} ranks x 1 thread": (cores(), 1)}


def ours(preset, arguments, ranks, threads):
    """mnist-train under the peers' protocol: its first epoch is the warm-up, the median of the next 3 counts."""
    epochs = fit_epochs(arguments.binary, arguments.data, ranks,
                        ["--model", preset, "--epochs", str(WARMUP_EPOCHS + TIMED_EPOCHS),
                         "--train-samples", str(arguments.samples), "--validation-split", "0"], threads)
    rates = [e["samples_per_second"] for e in epochs]
    return {"epochs": rates, "samples_per_second": median_of_timed(rates)}


# ---- throughput ----------------------------------------------------------------------------------------------

def busy_seconds():
    """CPU seconds the whole machine has spent busy since boot (all cores; idle and iowait left out)."""
    with open("/proc/stat") as f:
        ticks = [int(field) for field in f.readline().split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def with_others_load(run):
    """run() -> result, with "others_load" added: the cores that processes other than this measurement kept
    busy on average while it ran. The machine may be shared, and a figure taken beside a compiler is low."""
    before, busy, start = os.times(), busy_seconds(), time.perf_counter()
    result = run()
    after = os.times()
    # user and system seconds of this process and of its children once reaped (the configuration's process and
    # whatever it spawned, mpirun's ranks)
    ours_seconds = sum(after[:4]) - sum(before[:4])
    others = max(0.0, busy_seconds() - busy - ours_seconds) / (time.perf_counter() - start)
    return {**result, "others_load": round(others, 2)}


def fastest(peers, one_step_only=False):
    """(name, samples/s) of the fastest configuration that worked, or (None, None)."""
    worked = [(result["samples_per_second"], name) for name, result in peers.items()
              if "samples_per_second" in result and (CONFIGURATIONS[name].one_step or not one_step_only)]
    rate, name = max(worked, default=(None, None))
    return name, rate


def measure_preset(preset, arguments):
    """mnist-train and every selected configuration on one preset, with the fastest peers picked out."""
    row = {"preset": preset, "batch": PRESETS[preset][0], "samples": arguments.samples, "peers": {}}
    for layout, (ranks, threads) in layouts().items():
        row[layout] = with_others_load(lambda: ours(preset, arguments, ranks, threads))
        print(f"{preset}: {layout} {row[layout]}", file=sys.stderr, flush=True)
    for name in arguments.configurations:
        if CONFIGURATIONS[name].conv_only and not has_convolution(preset):
            result = {"not_applicable": "no convolution"}
        else:
            result = with_others_load(lambda: run_configuration(name, preset, arguments))
        row["peers"][name] = result
        print(f"{preset}: {name} {result}", file=sys.stderr, flush=True)
    ours_rate = row[next(iter(layouts()))]["samples_per_second"]
    for key, one_step_only in (("fastest", False), ("fastest_one_step", True)):
        name, rate = fastest(row["peers"], one_step_only)
        row[key] = {"configuration": name, "samples_per_second": rate, "ratio": ours_rate / rate if rate else None,
                    "others_load": row["peers"][name]["others_load"] if name else None}
    return row


DISTURBED = 0.25  # other processes' average load, in cores, from which a figure is marked as disturbed


def cell(result):
    if "samples_per_second" in result:
        return f"{result['samples_per_second']:,.0f}" + ("*" if (result.get("others_load") or 0) >= DISTURBED else "")
    return "n/a" if "not_applicable" in result else "failed"


def print_throughput(rows, configurations):
    """A table of every configuration's samples/s by preset, one of the fastest peers and ratios, and the
    failures with their reasons."""
    print("| samples/s | one step per call | " + " | ".join(row["preset"] for row in rows) + " |")
    print("|---|---|" + "---|" * len(rows))
    for layout in layouts():
        print(f"| {layout} | yes | " + " | ".join(cell(row[layout]) for row in rows) + " |")
    for name in configurations:
        print(f"| {name} | {'yes' if CONFIGURATIONS[name].one_step else 'no'} | "
              + " | ".join(cell(row["peers"][name]) for row in rows) + " |")
    print()
    recommended = next(iter(layouts()))
    print(f"| preset | batch | {recommended} | fastest peer | samples/s | mnist-train / fastest "
          "| fastest one-step peer | samples/s | mnist-train / one-step |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        cells = [row["preset"], str(row["batch"]), cell(row[recommended])]
        for key in ("fastest", "fastest_one_step"):
            best = row[key]
            cells += [best["configuration"] or "none worked", cell(best) if best["samples_per_second"] else "",
                      f"{best['ratio']:.2f}x" if best["ratio"] else ""]
        print("| " + " | ".join(cells) + " |")
    print(f"\n*: measured while other processes kept {DISTURBED} cores or more busy on average (the JSON has "
          "each figure's others_load)")
    failures = [(row["preset"], name, result["failed"]) for row in rows for name, result in row["peers"].items()
                if "failed" in result]
    if failures:
        print("\nfailed:")
    for preset, name, reason in failures:
        print(f"- {preset}, {name}: {reason}")


def select_configurations(names):
    """The configurations named in a comma-separated list (all when empty), checked against CONFIGURATIONS."""
    chosen = [name.strip() for name in names.split(",") if name.strip()] if names else list(CONFIGURATIONS)
    unknown = [name for name in chosen if name not in CONFIGURATIONS]
    if unknown:
        sys.exit(f"unknown configuration(s) {unknown}; known: {list(CONFIGURATIONS)}")
    return chosen


# ---- time to accuracy ----------------------------------------------------------------------------------------

def report_epoch(epoch, accuracy):
    print(json.dumps({"epoch": epoch, "accuracy": accuracy, "time": time.time()}), flush=True)


def time_to_accuracy_worker(framework, data, target, max_epochs):
    """Runs in a fresh process: convnet until its test accuracy reaches `target`, one JSON line per epoch."""
    x, y = load_mnist(data, 60000)
    test = load_mnist(data, 10000, kind="test")
    if framework == "torch":
        import torch
        torch.set_num_threads(cores())

        def after_epoch(model, epoch):
            accuracy = torch_test_accuracy(model, test)
            report_epoch(epoch, accuracy)
            return accuracy < target and epoch < max_epochs
        torch_train("convnet", x, y, after_epoch=after_epoch)
    elif framework == "ddp":
        torch_ddp("convnet", x, y, 2, DDPTestEveryEpoch(test, target, max_epochs))
    else:
        def after_epoch(model, epoch):
            accuracy = float((model.predict(test[0], batch_size=500, verbose=0).argmax(1) == test[1]).mean())
            report_epoch(epoch, accuracy)
            return accuracy < target and epoch < max_epochs
        keras_train("convnet", x, y, after_epoch, max_epochs=max_epochs)


def time_to_accuracy(framework, arguments):
    """Seconds from launch to the first epoch at or above the target, or None; and that epoch."""
    start = time.time()
    if framework == "ours":
        records = fit_epochs(arguments.binary, arguments.data, 1, ["--model", "convnet", "--epochs",
                                                                   str(arguments.max_epochs), "--validate-on-test"],
                             threads=cores())
        epochs = [{"epoch": r["epoch"], "accuracy": r["val_accuracy"], "time": r["wall_time"]} for r in records]
    else:
        output = subprocess.run([sys.executable, __file__, "--worker", framework, "--data", arguments.data,
                                 "--binary", arguments.binary, "--time-to-accuracy", str(arguments.time_to_accuracy),
                                 "--max-epochs", str(arguments.max_epochs)], check=True, capture_output=True,
                                text=True).stdout
        epochs = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    reached = next((e for e in epochs if e["accuracy"] >= arguments.time_to_accuracy), None)
    print(f"{framework}: " + ", ".join(f"epoch {e['epoch']} {100 * e['accuracy']:.2f}% at {e['time'] - start:.0f} s"
                                      for e in epochs), file=sys.stderr, flush=True)
    return (reached["time"] - start, reached["epoch"]) if reached else (None, len(epochs))


def print_time_to_accuracy(arguments):
    names = {"ours": f"mnist-train, 1 rank x {cores()} threads", "torch": f"PyTorch, {cores()} threads", "ddp": "PyTorch DDP gloo, 2 ranks",
             "keras": "Keras/TensorFlow"}
    print(f"| convnet to {100 * arguments.time_to_accuracy:.1f}% test accuracy | seconds (start-up included) | epochs |")
    print("|---|---|---|")
    rows = []
    for framework, name in names.items():
        seconds, epochs = time_to_accuracy(framework, arguments)
        rows.append({"framework": name, "seconds": seconds, "epochs": epochs})
        shown = f"{seconds:.0f}" if seconds is not None else f"not reached in {epochs} epochs"
        print(f"| {name} | {shown} | {epochs} |", flush=True)
    if arguments.json:
        with open(arguments.json, "w") as f:
            json.dump(rows, f, indent=1)


# ---- accuracy over seeds -------------------------------------------------------------------------------------

MLP_TUTORIAL_ACCURACY = 0.960


def keras_mlp_tutorial(x, y, test, seed):
    """The mlp tutorial's own Keras run with `seed`; returns the test accuracy."""
    import keras
    model = keras_compiled("mlp", seed, metrics=["accuracy"])
    model.fit(x, y, batch_size=PRESETS["mlp"][0], epochs=10, validation_split=0.05, verbose=0,
              callbacks=[keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)])
    return model.evaluate(*test, verbose=0)[1]


def print_accuracy_over_seeds(arguments):
    x, y = load_mnist(arguments.data, 60000)
    test = load_mnist(arguments.data, 10000, kind="test")
    seeds = range(arguments.accuracy_over_seeds)
    print("| seed | mnist-train, 1 process | Keras/TensorFlow |")
    print("|---|---|---|")
    rows = []
    for seed in seeds:
        records = fit_log(arguments.binary, arguments.data, 1, ["--model", "mlp", "--seed", str(seed)])
        ours_accuracy = next(r["accuracy"] for r in records if r.get("event") == "test")
        rows.append({"seed": seed, "mnist-train": ours_accuracy, "keras": keras_mlp_tutorial(x, y, test, seed)})
        print(f"| {seed} | {100 * rows[-1]['mnist-train']:.2f}% | {100 * rows[-1]['keras']:.2f}% |", flush=True)
    for framework in ("mnist-train", "keras"):
        accuracies = sorted(row[framework] for row in rows)
        reached = sum(a >= MLP_TUTORIAL_ACCURACY for a in accuracies)
        print(f"{framework}: median {100 * float(np.median(accuracies)):.2f}%, min {100 * accuracies[0]:.2f}%, "
              f"max {100 * accuracies[-1]:.2f}%; {reached} of {len(accuracies)} seeds reach the tutorial's "
              f"{100 * MLP_TUTORIAL_ACCURACY:.1f}%")
    if arguments.json:
        with open(arguments.json, "w") as f:
            json.dump(rows, f, indent=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--samples", type=int, default=12800, help="train on the first N samples")
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--configurations", default="",
                        help="comma-separated peer configurations to run (default: all of CONFIGURATIONS)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds one configuration may take")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--time-to-accuracy", type=float, help="measure convnet's time to this test accuracy")
    parser.add_argument("--max-epochs", type=int, default=8, help="give up after this many epochs")
    parser.add_argument("--accuracy-over-seeds", type=int, metavar="N",
                        help="run the mlp tutorial with seeds 0..N-1 and compare test accuracies")
    parser.add_argument("--worker", choices=["torch", "ddp", "keras"], help=argparse.SUPPRESS)
    parser.add_argument("--configuration", choices=list(CONFIGURATIONS), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.configuration:
        return configuration_worker(arguments.configuration, arguments.presets, arguments.data, arguments.samples)
    if arguments.worker:
        return time_to_accuracy_worker(arguments.worker, arguments.data, arguments.time_to_accuracy,
                                       arguments.max_epochs)
    if arguments.time_to_accuracy:
        return print_time_to_accuracy(arguments)
    if arguments.accuracy_over_seeds:
        return print_accuracy_over_seeds(arguments)

    arguments.configurations = select_configurations(arguments.configurations)
    rows = [measure_preset(preset, arguments) for preset in arguments.presets.split(",")]
    print_throughput(rows, arguments.configurations)
    if arguments.json:
        with open(arguments.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
