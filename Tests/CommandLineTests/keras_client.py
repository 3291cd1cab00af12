"""Keras 3 itself, on JAX's CPU backend, for KerasClientTests. Prints one JSON object.

usage: keras_client.py build DIR
           every preset and the custom model of make_keras_fixtures.py, built in Keras and written as
           DIR/<name>.json (model.to_json()) and DIR/<name>.keras (model.save); their count_params()
       keras_client.py check MNIST-DIR (MODEL.keras PREDICTIONS.json)...
           each model opened with keras.models.load_model (no custom objects) and run on the 10,000 test images,
           against `mnist-train predict --json` on them: the largest difference of the probabilities, the images
           whose argmax differs, Keras' correct count, and the compile settings Keras read
       keras_client.py train DIR MNIST-DIR
           a model trained one epoch in Keras, as DIR/keras-trained.keras, .weights.h5 (model.save_weights) and
           .json (model.to_json()); its test loss and accuracy in Keras"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../InteropTests/Keras"))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import make_keras_fixtures as fixtures  # noqa: E402


def build(directory):
    counts = {}
    for name, layers in fixtures.presets().items():
        model = fixtures.sequential(layers)
        with open(os.path.join(directory, f"{name}.json"), "w") as f:
            f.write(model.to_json())
        model.save(os.path.join(directory, f"{name}.keras"))
        counts[name] = int(model.count_params())
    return {"keras_version": keras.__version__, "counts": counts}


def check(data_directory, pairs):
    images = fixtures.mnist("t10k-images-idx3-ubyte", data_directory).reshape(-1, 28, 28, 1) / np.float32(255)
    labels = fixtures.mnist("t10k-labels-idx1-ubyte", data_directory)
    results = {}
    for model_path, predictions_path in pairs:
        model = keras.models.load_model(model_path)
        probabilities = np.asarray(model.predict(images, batch_size=1000, verbose=0), dtype=np.float64)
        expected = np.array([sample["probabilities"] for sample in json.load(open(predictions_path))], dtype=np.float64)
        optimizer = model.optimizer.get_config() if model.optimizer is not None else {}
        results[os.path.basename(model_path)] = {
            "count": int(probabilities.shape[0]),
            "largest_difference": float(np.abs(probabilities - expected).max()),
            "argmax_differences": int((probabilities.argmax(axis=1) != expected.argmax(axis=1)).sum()),
            "correct": int((probabilities.argmax(axis=1) == labels).sum()),
            "optimizer": type(model.optimizer).__name__ if model.optimizer is not None else None,
            "learning_rate": float(optimizer["learning_rate"]) if "learning_rate" in optimizer else None,
            "loss": model.loss if isinstance(model.loss, str) else None,
        }
    return results


def train(directory, data_directory):
    model, loss, accuracy = fixtures.train_one_epoch(data_directory)
    path = os.path.join(directory, "keras-trained")
    model.save(path + ".keras")
    model.save_weights(path + ".weights.h5")
    with open(path + ".json", "w") as f:
        f.write(model.to_json())
    return {"test_loss": float(loss), "test_accuracy": float(accuracy)}


command, arguments = sys.argv[1], sys.argv[2:]
if command == "build":
    result = build(arguments[0])
elif command == "check":
    result = check(arguments[0], list(zip(arguments[1::2], arguments[2::2])))
elif command == "train":
    result = train(*arguments)
else:
    sys.exit(f"keras_client.py: unknown command {command}; see its docstring")
print(json.dumps(result))
