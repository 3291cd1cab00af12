"""Trains the same presets with mnist-train (2 MPI ranks), PyTorch and Keras on this machine, one after the other,
and prints training samples/s side by side. Run it through deploy/compare-peers.sh, which prepares the venv,
the build and the data.

Every framework trains the same model with the same optimizer, loss and global batch on the same first N
samples of real MNIST, one epoch, no validation. Peers get one warm-up step first (Keras traces its graph
there); mnist-train's figure is its whole epoch as its log reports it.
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

# preset: (global batch, optimizer, learning rate, loss); the tutorials' settings (../shared/DESIGN.md).
PRESETS = {
    "convnet": (64, "rmsprop", 0.001, "categorical"),
    "lenet5": (32, "adam", 0.001, "sparse"),
    "cnn-small": (100, "sgd", 0.01, "categorical"),
    "mlp": (32, "sgd", 0.1, "sparse"),
}


def load_mnist(directory, samples):
    def read(name, offset):
        path = os.path.join(directory, name)
        if os.path.exists(path + ".gz"):
            with gzip.open(path + ".gz", "rb") as f:
                return np.frombuffer(f.read(), np.uint8, offset=offset)
        return np.fromfile(path, np.uint8, offset=offset)
    x = read("train-images-idx3-ubyte", 16).reshape(-1, 28, 28, 1)[:samples].astype(np.float32) / 255
    y = read("train-labels-idx1-ubyte", 8)[:samples].astype(np.int64)
    return x, y


# ---- PyTorch -------------------------------------------------------------------------------------------------

def torch_model(preset):
    import torch.nn as nn
    if preset == "convnet":
        layers = [nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                  nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(), nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10)]
    elif preset == "lenet5":
        layers = [nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5, padding=2),
                  nn.Tanh(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(784, 120), nn.Tanh(), nn.Linear(120, 84),
                  nn.Tanh(), nn.Linear(84, 10)]
    elif preset == "cnn-small":
        layers = [nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 5), nn.ReLU(),
                  nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1024, 10)]
    else:
        layers = [nn.Flatten(), nn.Linear(784, 100), nn.Sigmoid(), nn.Linear(100, 10)]
    return nn.Sequential(*layers)


def torch_optimizer(parameters, name, lr):
    import torch
    if name == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=lr, alpha=0.9, eps=1e-7)
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr, eps=1e-7)
    return torch.optim.SGD(parameters, lr=lr)


def torch_train(preset, x, y, rank=0, world=1):
    """One epoch over (x, y) in global batches; with world > 1 this rank takes its slice of every batch."""
    import torch
    torch.manual_seed(0)
    batch, optimizer_name, lr, _ = PRESETS[preset]
    model = torch_model(preset)
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model)
    optimizer = torch_optimizer(model.parameters(), optimizer_name, lr)
    images = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    labels = torch.from_numpy(y)
    loss_function = torch.nn.CrossEntropyLoss()
    permutation = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))

    def step(indices):
        part = indices[rank::world]
        optimizer.zero_grad()
        loss_function(model(images[part]), labels[part]).backward()
        optimizer.step()

    step(permutation[:batch])  # warm-up
    if world > 1:
        torch.distributed.barrier()
    start = time.perf_counter()
    for begin in range(0, len(x), batch):
        step(permutation[begin:begin + batch])
    if world > 1:
        torch.distributed.barrier()
    return len(x) / (time.perf_counter() - start)


def torch_threads(preset, x, y, threads):
    import torch
    torch.set_num_threads(threads)
    return torch_train(preset, x, y)


def torch_ddp_worker(rank, world, preset, x, y, result_path):
    import torch
    torch.set_num_threads(1)
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    rate = torch_train(preset, x, y, rank, world)
    if rank == 0:
        with open(result_path, "w") as f:
            f.write(str(rate))
    torch.distributed.destroy_process_group()


def torch_ddp(preset, x, y, world):
    import torch.multiprocessing
    os.environ["MASTER_PORT"] = str(29500 + os.getpid() % 1000)
    with tempfile.NamedTemporaryFile("r") as result:
        torch.multiprocessing.spawn(torch_ddp_worker, args=(world, preset, x, y, result.name), nprocs=world)
        return float(open(result.name).read())


# ---- Keras ---------------------------------------------------------------------------------------------------

def keras_train(preset, x, y):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    from keras import layers as L
    keras.utils.set_random_seed(0)
    batch, optimizer_name, lr, loss = PRESETS[preset]
    stacks = {
        "convnet": [L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(), L.Conv2D(64, 3, activation="relu"),
                    L.MaxPooling2D(), L.Conv2D(64, 3, activation="relu"), L.Flatten(),
                    L.Dense(64, activation="relu"), L.Dense(10, activation="softmax")],
        "lenet5": [L.Conv2D(6, 5, padding="same", activation="tanh"), L.MaxPooling2D(),
                   L.Conv2D(16, 5, padding="same", activation="tanh"), L.MaxPooling2D(), L.Flatten(),
                   L.Dense(120, activation="tanh"), L.Dense(84, activation="tanh"),
                   L.Dense(10, activation="softmax")],
        "cnn-small": [L.Conv2D(32, 5, activation="relu"), L.MaxPooling2D(), L.Conv2D(64, 5, activation="relu"),
                      L.MaxPooling2D(), L.Flatten(), L.Dense(10, activation="softmax")],
        "mlp": [L.Flatten(), L.Dense(100, activation="sigmoid"), L.Dense(10, activation="softmax")],
    }
    model = keras.Sequential([keras.Input((28, 28, 1))] + stacks[preset])
    optimizer = {"rmsprop": keras.optimizers.RMSprop(lr, rho=0.9), "adam": keras.optimizers.Adam(lr),
                 "sgd": keras.optimizers.SGD(lr)}[optimizer_name]
    targets = keras.utils.to_categorical(y, 10) if loss == "categorical" else y
    model.compile(optimizer=optimizer, loss="categorical_crossentropy" if loss == "categorical"
                  else "sparse_categorical_crossentropy")
    model.train_on_batch(x[:batch], targets[:batch])  # warm-up: traces the graph
    start = time.perf_counter()
    model.fit(x, targets, batch_size=batch, epochs=1, verbose=0, shuffle=True)
    return len(x) / (time.perf_counter() - start)


# ---- mnist-train ---------------------------------------------------------------------------------------------

def ours(preset, binary, data, samples, ranks):
    with tempfile.TemporaryDirectory() as directory:
        log = os.path.join(directory, "log.jsonl")
        command = ["mpirun", "-np", str(ranks), "--oversubscribe", "--mca", "pml", "ob1",
                   "--mca", "btl", "self,vader,tcp"] + (["--allow-run-as-root"] if os.getuid() == 0 else [])
        command += [binary, "fit", "--model", preset, "--data", data, "--epochs", "1", "--train-samples",
                    str(samples), "--validation-split", "0", "--early-stopping-patience", "0", "--progress",
                    "epochs", "--log", log, "--output", os.path.join(directory, "model.safetensors.zst")]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        with open(log) as f:
            epochs = [r for r in map(json.loads, f) if r.get("event") == "epoch"]
        return epochs[-1]["samples_per_second"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--json", help="also write the figures here")
    arguments = parser.parse_args()

    x, y = load_mnist(arguments.data, arguments.samples)
    rows = []
    for preset in arguments.presets.split(","):
        figures = {"mnist-train, 2 ranks": ours(preset, arguments.binary, arguments.data, arguments.samples, 2),
                   "PyTorch, 2 threads": torch_threads(preset, x, y, 2),
                   "PyTorch DDP gloo, 2 ranks": torch_ddp(preset, x, y, 2),
                   "Keras/TensorFlow": keras_train(preset, x, y)}
        best_peer = max(v for k, v in figures.items() if not k.startswith("mnist-train"))
        rows.append({"preset": preset, "batch": PRESETS[preset][0], **figures,
                     "ratio": figures["mnist-train, 2 ranks"] / best_peer})
        print(f"{preset}: " + ", ".join(f"{k} {v:,.0f}" for k, v in figures.items()), file=sys.stderr, flush=True)

    columns = list(rows[0])
    print("| " + " | ".join(c if c != "ratio" else "mnist-train / best peer" for c in columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        cells = [f"{row[c]:.2f}x" if c == "ratio" else f"{row[c]:,.0f}" if isinstance(row[c], float)
                 else str(row[c]) for c in columns]
        print("| " + " | ".join(cells) + " |")
    if arguments.json:
        with open(arguments.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
