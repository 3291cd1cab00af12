"""Checks an exported ONNX model with the real runtime, for ONNXTests.

usage: check_onnx.py MODEL.onnx PREDICTIONS.json IMAGES-IDX[.gz]

Runs onnx.checker (full_check) and onnxruntime on every image of the IDX file, scaled to 0-1 as fit feeds them,
and compares with `mnist-train predict --json` on the same file. Prints one JSON object."""
import gzip
import json
import sys

import numpy as np
import onnx
import onnxruntime

model_path, predictions_path, images_path = sys.argv[1:4]
model = onnx.load(model_path)
onnx.checker.check_model(model, full_check=True)
raw = (gzip.open if images_path.endswith(".gz") else open)(images_path, "rb").read()
count, rows, columns = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
images = np.frombuffer(raw[16:16 + count * rows * columns], dtype=np.uint8)
session = onnxruntime.InferenceSession(model_path, providers=["CPUExecutionProvider"])
graph_input, graph_output = session.get_inputs()[0], session.get_outputs()[0]
shape = [count] + [int(size) for size in graph_input.shape[1:]]
outputs = session.run(None, {graph_input.name: images.reshape(shape).astype(np.float32) / 255})[0]
expected = np.array([sample["probabilities"] for sample in json.load(open(predictions_path))], dtype=np.float64)
print(json.dumps({
    "input": [graph_input.name] + [str(size) for size in graph_input.shape],
    "output": [graph_output.name] + [str(size) for size in graph_output.shape],
    "opset": max(entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")),
    "count": int(outputs.shape[0]),
    "largest_difference": float(np.abs(outputs - expected).max()),
    "argmax_differences": int((outputs.argmax(axis=1) != expected.argmax(axis=1)).sum()),
    "metadata": {entry.key: entry.value for entry in model.metadata_props},
}))
