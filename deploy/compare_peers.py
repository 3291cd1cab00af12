"""Trains the same presets with mnist-train (2 MPI ranks), PyTorch and Keras on this machine, one after the other,
and prints training samples/s side by side. Run it through deploy/compare-peers.sh, which prepares the venv,
the build and the data.

Every framework trains the same model with the same optimizer, loss and global batch on the same first N
samples of real MNIST, one epoch, no validation. Peers get one warm-up step first (Keras traces its graph
there); mnist-train's figure is its whole epoch as its log reports it.

With --time-to-accuracy A, each instead trains convnet on all 60,000 samples from a fresh process and tests
after every epoch; the figure is the wall clock from launching the process (imports, data loading and MPI
start-up included) to the end of the first epoch whose test accuracy reaches A.

With --accuracy-over-seeds N, each instead runs the mlp tutorial as written (10 epochs, 5% validation split,
EarlyStopping with patience 2 restoring the best weights) with seeds 0..N-1, mnist-train in one process and
Keras, and prints every seed's test accuracy: the spread the tutorial's single figure comes from.
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

# preset: (global batch, optimizer, learning rate, loss); the tutorials' settings
# (Sources/Engine/Engine.docc/Presets.md).
PRESETS = {
    "convnet": (64, "rmsprop", 0.001, "categorical"),
    "lenet5": (32, "adam", 0.001, "sparse"),
    "cnn-small": (100, "sgd", 0.01, "categorical"),
    "mlp": (32, "sgd", 0.1, "sparse"),
}


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


def torch_train(preset, x, y, rank=0, world=1, after_epoch=None):
    """Epochs over (x, y) in global batches, one unless `after_epoch(model, epoch)` asks for more by returning
    True; with world > 1 this rank takes its slice of every batch. Returns the first epoch's samples/s."""
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
    generator = torch.Generator().manual_seed(0)

    def step(indices):
        part = indices[rank::world]
        optimizer.zero_grad()
        loss_function(model(images[part]), labels[part]).backward()
        optimizer.step()

    step(torch.randperm(len(x), generator=generator)[:batch])  # warm-up
    rate, epoch = None, 0
    while True:
        permutation = torch.randperm(len(x), generator=generator)
        if world > 1:
            torch.distributed.barrier()
        start = time.perf_counter()
        for begin in range(0, len(x), batch):
            step(permutation[begin:begin + batch])
        if world > 1:
            torch.distributed.barrier()
        rate = rate or len(x) / (time.perf_counter() - start)
        epoch += 1
        if after_epoch is None or not after_epoch(model, epoch):
            return rate


def torch_test_accuracy(model, test):
    import torch
    x, y = test
    with torch.no_grad():
        predictions = model(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()).argmax(1).numpy()
    return float((predictions == y).mean())


def torch_threads(preset, x, y, threads):
    import torch
    torch.set_num_threads(threads)
    return torch_train(preset, x, y)


def torch_ddp_worker(rank, world, preset, x, y, result_path, after_epoch=None):
    import torch
    torch.set_num_threads(1)
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    rate = torch_train(preset, x, y, rank, world, after_epoch)
    if rank == 0:
        with open(result_path, "w") as f:
            f.write(str(rate))
    torch.distributed.destroy_process_group()


def torch_ddp(preset, x, y, world, after_epoch=None):
    import torch.multiprocessing
    os.environ["MASTER_PORT"] = str(29500 + os.getpid() % 1000)
    with tempfile.NamedTemporaryFile("r") as result:
        torch.multiprocessing.spawn(torch_ddp_worker, args=(world, preset, x, y, result.name, after_epoch),
                                    nprocs=world)
        return float(open(result.name).read())


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


# ---- Keras ---------------------------------------------------------------------------------------------------

def keras_sequential(preset):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    from keras import layers as L
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
    return keras.Sequential([keras.Input((28, 28, 1))] + stacks[preset])


def keras_compiled(preset, seed=0, metrics=()):
    """The preset's Keras model, seeded and compiled with its tutorial's optimizer and loss (PRESETS)."""
    import keras
    keras.utils.set_random_seed(seed)
    _, optimizer_name, lr, loss = PRESETS[preset]
    model = keras_sequential(preset)
    optimizer = {"rmsprop": keras.optimizers.RMSprop(lr, rho=0.9), "adam": keras.optimizers.Adam(lr),
                 "sgd": keras.optimizers.SGD(lr)}[optimizer_name]
    model.compile(optimizer=optimizer, loss="categorical_crossentropy" if loss == "categorical"
                  else "sparse_categorical_crossentropy", metrics=list(metrics))
    return model


def keras_train(preset, x, y, after_epoch=None):
    import keras
    batch, _, _, loss = PRESETS[preset]
    model = keras_compiled(preset)
    targets = keras.utils.to_categorical(y, 10) if loss == "categorical" else y
    model.train_on_batch(x[:batch], targets[:batch])  # warm-up: traces the graph
    rate, epoch = None, 0
    while True:
        start = time.perf_counter()
        model.fit(x, targets, batch_size=batch, epochs=1, verbose=0, shuffle=True)
        rate = rate or len(x) / (time.perf_counter() - start)
        epoch += 1
        if after_epoch is None or not after_epoch(model, epoch):
            return rate


# ---- mnist-train ---------------------------------------------------------------------------------------------

def fit_log(binary, data, ranks, arguments):
    """Runs `mnist-train fit` on `ranks` MPI ranks with `arguments` and returns its log's records."""
    with tempfile.TemporaryDirectory() as directory:
        log = os.path.join(directory, "log.jsonl")
        command = ["mpirun", "-np", str(ranks), "--oversubscribe", "--mca", "pml", "ob1",
                   "--mca", "btl", "self,vader,tcp"] + (["--allow-run-as-root"] if os.getuid() == 0 else [])
        command += [binary, "fit", "--data", data, "--progress", "epochs", "--log", log,
                    "--output", os.path.join(directory, "model.safetensors.zst")] + arguments
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        with open(log) as f:
            return [json.loads(line) for line in f]


def fit_epochs(binary, data, ranks, arguments):
    """The epoch records of a `fit` run without early stopping, so every run trains the epochs asked for."""
    records = fit_log(binary, data, ranks, ["--early-stopping-patience", "0"] + arguments)
    return [r for r in records if r.get("event") == "epoch"]


def ours(preset, binary, data, samples, ranks):
    epochs = fit_epochs(binary, data, ranks, ["--model", preset, "--epochs", "1", "--train-samples", str(samples),
                                              "--validation-split", "0"])
    return epochs[-1]["samples_per_second"]


# ---- time to accuracy ----------------------------------------------------------------------------------------

def report_epoch(epoch, accuracy):
    print(json.dumps({"epoch": epoch, "accuracy": accuracy, "time": time.time()}), flush=True)


def time_to_accuracy_worker(framework, data, target, max_epochs):
    """Runs in a fresh process: convnet until its test accuracy reaches `target`, one JSON line per epoch."""
    x, y = load_mnist(data, 60000)
    test = load_mnist(data, 10000, kind="test")
    if framework == "torch":
        import torch
        torch.set_num_threads(2)

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
        keras_train("convnet", x, y, after_epoch)


def time_to_accuracy(framework, arguments):
    """Seconds from launch to the first epoch at or above the target, or None; and that epoch."""
    start = time.time()
    if framework == "ours":
        records = fit_epochs(arguments.binary, arguments.data, 2, ["--model", "convnet", "--epochs",
                                                                   str(arguments.max_epochs), "--validate-on-test"])
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
    names = {"ours": "mnist-train, 2 ranks", "torch": "PyTorch, 2 threads", "ddp": "PyTorch DDP gloo, 2 ranks",
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
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--time-to-accuracy", type=float, help="measure convnet's time to this test accuracy")
    parser.add_argument("--max-epochs", type=int, default=8, help="give up after this many epochs")
    parser.add_argument("--accuracy-over-seeds", type=int, metavar="N",
                        help="run the mlp tutorial with seeds 0..N-1 and compare test accuracies")
    parser.add_argument("--worker", choices=["torch", "ddp", "keras"], help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker:
        return time_to_accuracy_worker(arguments.worker, arguments.data, arguments.time_to_accuracy,
                                       arguments.max_epochs)
    if arguments.time_to_accuracy:
        return print_time_to_accuracy(arguments)
    if arguments.accuracy_over_seeds:
        return print_accuracy_over_seeds(arguments)

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
