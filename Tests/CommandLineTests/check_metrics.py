"""Compares `mnist-train evaluate --json` with scikit-learn on the same predictions, for ReportTests.

usage: check_metrics.py EVALUATION.json PREDICTIONS.json LABELS-IDX[.gz]

The predictions are `mnist-train predict --json` on the test images; their argmax against the labels goes to
classification_report and cohen_kappa_score. Prints one JSON object: the largest difference over every figure,
and the figures compared."""
import gzip
import json
import sys

import numpy as np
from sklearn.metrics import classification_report, cohen_kappa_score

evaluation_path, predictions_path, labels_path = sys.argv[1:4]
evaluation = json.load(open(evaluation_path))
raw = (gzip.open if labels_path.endswith(".gz") else open)(labels_path, "rb").read()
truth = np.frombuffer(raw[8:], dtype=np.uint8).astype(int)
predicted = np.array([sample["predicted"] for sample in json.load(open(predictions_path))])
report = classification_report(truth, predicted, output_dict=True, zero_division=0)
pairs = []
for label, row in enumerate(evaluation["per_class"]):
    if row is None:
        continue
    theirs = report[str(label)]
    pairs += [(row["precision"], theirs["precision"]), (row["recall"], theirs["recall"]),
              (row["f1_score"], theirs["f1-score"]), (row["support"], theirs["support"])]
for ours, theirs in (("macro_avg", "macro avg"), ("weighted_avg", "weighted avg")):
    pairs += [(evaluation[ours]["precision"], report[theirs]["precision"]), (evaluation[ours]["recall"], report[theirs]["recall"]),
              (evaluation[ours]["f1_score"], report[theirs]["f1-score"]), (evaluation[ours]["support"], report[theirs]["support"])]
pairs += [(evaluation["accuracy"], report["accuracy"]), (evaluation["cohen_kappa"], cohen_kappa_score(truth, predicted))]
print(json.dumps({"compared": len(pairs), "largest_difference": max(abs(float(a) - float(b)) for a, b in pairs),
                  "kappa": float(cohen_kappa_score(truth, predicted)), "classes": len(evaluation["per_class"])}))
