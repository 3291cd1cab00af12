"""Reads a TensorBoard log directory with TensorBoard's own EventAccumulator and prints, as JSON, every run's
scalars (tag -> [[step, value]]), histograms (tag -> [[step, count, min, max]]), images (tag -> [[step, width,
height, 1 when it is a PNG]]) and text tensors (tag -> [{step, text}]), for CommandLineTests to compare with the JSON log."""
import json
import os
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

logdir = sys.argv[1]
everything = {"scalars": 0, "histograms": 0, "images": 0, "tensors": 0}
result = {}
for run in sorted(os.listdir(logdir)):
    accumulator = EventAccumulator(os.path.join(logdir, run), size_guidance=everything)
    accumulator.Reload()
    tags = accumulator.Tags()
    result[run] = {
        "scalars": {t: [[e.step, e.value] for e in accumulator.Scalars(t)] for t in tags["scalars"]},
        "histograms": {t: [[e.step, e.histogram_value.num, e.histogram_value.min, e.histogram_value.max]
                           for e in accumulator.Histograms(t)] for t in tags["histograms"]},
        "images": {t: [[e.step, e.width, e.height, int(e.encoded_image_string[:8] == b"\x89PNG\r\n\x1a\n")]
                       for e in accumulator.Images(t)] for t in tags["images"]},
        "text": {t: [{"step": e.step, "text": e.tensor_proto.string_val[0].decode()} for e in accumulator.Tensors(t)]
                 for t in tags["tensors"]},
    }
print(json.dumps(result))
