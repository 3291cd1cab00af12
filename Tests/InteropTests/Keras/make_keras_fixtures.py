"""Writes the Keras fixtures that KerasJSONTests read: every preset and a custom model as Keras writes them, in
three dialects, with Keras' own parameter counts; and one model per argument the engine refuses.

    python3 -m venv /tmp/k2 && /tmp/k2/bin/pip install tensorflow-cpu==2.21.0 tf_keras==2.21.0
    /tmp/k2/bin/python make_keras_fixtures.py            # keras2/ and tfkeras2/ (Keras 2 through tf_keras)
    python3 -m venv /tmp/k3 && /tmp/k3/bin/pip install keras==3.15.1 jax[cpu]==0.10.2
    KERAS_BACKEND=jax /tmp/k3/bin/python make_keras_fixtures.py   # keras3/, refused/

Run from this directory. Each run writes the dialect its Keras speaks, and adds to counts.json. keras2/ is
tf_keras's JSON in the form Keras 2.0-2.3 wrote it, with no InputLayer and batch_input_shape on the first layer:
those releases need a Python older than 3.8, so the form is made here from tf_keras's own.
Tests/CommandLineTests/keras_client.py imports the models from here, to build them with Keras at test time."""
import gzip
import json
import os
import sys

import numpy as np

try:
    import tf_keras as keras  # Keras 2
    DIALECTS = ["keras2", "tfkeras2"]
except ImportError:
    import keras  # Keras 3
    DIALECTS = ["keras3"]
L = keras.layers


def presets():
    """The seven presets of Sources/Engine/Model/Presets.swift, layer for layer; each a function, so that its
    layers are made after keras.backend.clear_session() and take Keras' first names (dense, dense_1, ...)."""
    bn = L.BatchNormalization
    return {
        "mlp": lambda: [L.Flatten(), L.Dense(100, activation="sigmoid"), L.Dense(10, activation="softmax")],
        "mlp-bn": lambda: [L.Flatten(), bn(), L.Dense(200, activation="selu", kernel_initializer="lecun_normal"), bn(),
                   L.Dense(100, activation="selu", kernel_initializer="lecun_normal"), bn(),
                   L.Dense(10, activation="softmax")],
        "cnn-bn": lambda: [L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(), bn(),
                   L.Dense(200, activation="selu"), bn(), L.Dense(100, activation="selu"), bn(),
                   L.Dense(10, activation="softmax")],
        "cnn-small": lambda: [L.Conv2D(32, 5, activation="relu"), L.MaxPooling2D(), L.Conv2D(64, 5, activation="relu"),
                      L.MaxPooling2D(), L.Flatten(), L.Dense(10, activation="softmax")],
        "convnet-dropout": lambda: [L.Conv2D(32, 4, activation="relu"), L.MaxPooling2D(), L.Conv2D(32, 3, activation="relu"),
                            L.MaxPooling2D(padding="same"), L.Dropout(0.3), L.Flatten(),
                            L.Dense(10, activation="softmax")],
        "convnet": lambda: [L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(), L.Conv2D(64, 3, activation="relu"),
                    L.MaxPooling2D(), L.Conv2D(64, 3, activation="relu"), L.Flatten(),
                    L.Dense(64, activation="relu"), L.Dense(10, activation="softmax")],
        "lenet5": lambda: [L.Conv2D(6, 5, padding="same", activation="tanh"), L.MaxPooling2D(),
                   L.Conv2D(16, 5, padding="same", activation="tanh"), L.MaxPooling2D(), L.Flatten(),
                   L.Dense(120, activation="tanh"), L.Dense(84, activation="tanh"), L.Dense(10, activation="softmax")],
        # Strides (one uneven), same padding, BN of images and vectors, an Activation layer.
        "custom": lambda: [L.Conv2D(8, 5, strides=2, padding="same", activation="relu", kernel_initializer="he_normal"),
                   bn(momentum=0.9, epsilon=1e-5), L.Conv2D(12, (3, 2), strides=(2, 1), padding="same"),
                   L.Activation("selu"), L.MaxPooling2D(3, strides=2, padding="same"), L.Flatten(),
                   L.Dense(32, activation="tanh", use_bias=False), bn(), L.Dropout(0.25), L.Dense(10),
                   L.Activation("softmax")],
    }


def refused():
    """One model per argument the engine has no form for, named after what the refusal must name."""
    return {
        "kernel_regularizer": lambda: [L.Dense(10, kernel_regularizer="l2")],
        "bias_constraint": lambda: [L.Dense(10, bias_constraint=keras.constraints.NonNeg())],
        "dilation_rate": lambda: [L.Conv2D(4, 3, dilation_rate=2), L.Flatten(), L.Dense(10)],
        "groups": lambda: [L.Conv2D(4, 3, groups=1), L.Conv2D(4, 3, groups=2), L.Flatten(), L.Dense(10)],
        "activation": lambda: [L.Flatten(), L.Dense(10, activation="gelu")],
        "layer": lambda: [L.Conv2D(4, 3), L.GlobalAveragePooling2D(), L.Dense(10)],
        "kernel_initializer": lambda: [L.Flatten(), L.Dense(10, kernel_initializer="glorot_normal")],
        "trainable": lambda: [L.Flatten(), L.Dense(10, trainable=False)],
    }


def sequential(make_layers):
    keras.backend.clear_session()
    return keras.Sequential([keras.Input((28, 28, 1))] + make_layers())


def model_json(model, dialect):
    written = json.loads(model.to_json())
    if dialect == "keras2":
        layers = written["config"]["layers"]
        first = layers.pop(0)
        layers[0]["config"]["batch_input_shape"] = first["config"]["batch_input_shape"]
    return json.dumps(written, indent=1, sort_keys=True) + "\n"


def mnist(name, directory=None):
    """An MNIST file from `directory`, else $MNIST_DIR, else the copy beside the checkout, raw or gzip."""
    directory = directory or os.environ.get("MNIST_DIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                                         "../../../../shared/data/mnist")
    path = os.path.join(directory, name)
    raw = open(path, "rb").read() if os.path.exists(path) else gzip.open(path + ".gz").read()
    return np.frombuffer(raw[16 if "images" in name else 8:], np.uint8)


def train_one_epoch(data_directory=None):
    """A small model trained one epoch in Keras on the first 6,000 MNIST digits; returns it with its test loss and
    accuracy in Keras."""
    images = mnist("train-images-idx3-ubyte", data_directory).reshape(-1, 28, 28, 1)[:6000] / np.float32(255)
    labels = mnist("train-labels-idx1-ubyte", data_directory)[:6000]
    test_images = mnist("t10k-images-idx3-ubyte", data_directory).reshape(-1, 28, 28, 1) / np.float32(255)
    test_labels = mnist("t10k-labels-idx1-ubyte", data_directory)
    keras.utils.set_random_seed(1)
    model = sequential(lambda: [L.Conv2D(16, 3, activation="relu"), L.MaxPooling2D(), L.BatchNormalization(),
                                L.Flatten(), L.Dropout(0.2), L.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.001), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(images, labels, epochs=1, batch_size=32, verbose=0)
    loss, accuracy = model.evaluate(test_images, test_labels, verbose=0)
    return model, loss, accuracy


def trained():
    """The model of train_one_epoch, saved (and its weights alone, model.save_weights) with Keras' test loss and
    accuracy and each weight's sum: what fit --init-from and evaluate must start from."""
    model, loss, accuracy = train_one_epoch()
    model.save("keras3/trained.keras")
    model.save_weights("keras3/trained.weights.h5")
    sums = {f"{layer.name}/{index}": float(np.sum(np.asarray(weight, dtype=np.float64)))
            for layer in model.layers for index, weight in enumerate(layer.weights)}
    with open("keras3/trained.json", "w") as f:
        f.write(json.dumps({"test_loss": loss, "test_accuracy": accuracy, "weight_sums": sums}, indent=1, sort_keys=True) + "\n")


def main():
    counts_path = "counts.json"
    counts = json.load(open(counts_path)) if os.path.exists(counts_path) else {}
    for dialect in DIALECTS:
        os.makedirs(dialect, exist_ok=True)
        for name, layers in presets().items():
            model = sequential(layers)
            with open(f"{dialect}/{name}.json", "w") as f:
                f.write(model_json(model, dialect))
            counts[f"{dialect}/{name}"] = int(model.count_params())
    if DIALECTS == ["keras3"]:
        os.makedirs("refused", exist_ok=True)
        # A .keras archive, compiled: its optimizer, learning rate and loss are fit's defaults.
        model = sequential(presets()["custom"])
        model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.save("keras3/custom.keras")
        model.compile(optimizer=keras.optimizers.AdamW(0.001), loss="sparse_categorical_crossentropy")
        model.save("refused/adamw.keras")
        trained()
        for name, layers in refused().items():
            with open(f"refused/{name}.json", "w") as f:
                f.write(model_json(sequential(layers), "keras3"))
    with open(counts_path, "w") as f:
        f.write(json.dumps(counts, indent=1, sort_keys=True) + "\n")
    print(f"wrote {', '.join(DIALECTS)} with Keras {keras.__version__}", file=sys.stderr)


if __name__ == "__main__":
    main()
