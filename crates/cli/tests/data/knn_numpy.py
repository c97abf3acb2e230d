"""k-nearest neighbours (k=3) on scikit-learn's digits, written with NumPy:
the study's "KNN written from scratch" in spirit. Reads the digits CSV from
/data/digits.csv.gz, splits it 75/25 with a fixed permutation, and
classifies the whole test split once per iteration, reporting each
iteration to isobench through isobench_records.py."""

import gzip
import sys

import numpy as np

import isobench_records as ib

with gzip.open("/data/digits.csv.gz", "rt") as f:
    data = np.loadtxt(f, delimiter=",")
# The pixels are small integers: compute in int64 so every environment (and
# every CPU model QEMU emulates) finds exactly the same distances.
x, y = data[:, :64].astype(np.int64), data[:, 64].astype(np.int64)
order = np.random.RandomState(0).permutation(len(y))
split = int(len(y) * 0.75)
train, test = order[:split], order[split:]
x_train, y_train, x_test, y_test = x[train], y[train], x[test], y[test]
ib.ready()


test_norms = (x_test * x_test).sum(axis=1)[:, None]
train_norms = (x_train * x_train).sum(axis=1)[None, :]


def classify(_index):
    distances = test_norms + train_norms - 2 * (x_test @ x_train.T)
    nearest = np.argsort(distances, axis=1, kind="stable")[:, :3]
    votes = y_train[nearest]
    predictions = np.array([np.bincount(v, minlength=10).argmax() for v in votes])
    print(f"accuracy {np.mean(predictions == y_test):.4f}", file=sys.stderr)
    return ib.digest(predictions.astype(np.int64))


ib.run(classify)
