#!/usr/bin/env python3
"""scikit-learn's LogisticRegression on the folders a `dreamlab probe` read, with the same held-out split (from its
probe.json), to compare accuracies. Installs numpy and scikit-learn into a throw-away venv under /tmp, never into the
project. Usage: scripts/probe_reference.py TRAIN_DIR CONCEPT1 CONCEPT2 LAYER PROBE_OUTPUT_DIR"""
import json, os, subprocess, sys

VENV = "/tmp/dreamlab-sklearn-venv"
if sys.prefix != VENV:
    if not os.path.exists(VENV + "/bin/python"):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
        subprocess.check_call([VENV + "/bin/pip", "install", "-q", "numpy", "scikit-learn"])
    os.execv(VENV + "/bin/python", [VENV + "/bin/python"] + sys.argv)

import numpy as np
from sklearn.linear_model import LogisticRegression

train_dir, c1, c2, layer, out = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
probe = json.load(open(os.path.join(out, "probe.json")))
held = set(probe["validation_files"])
xs, ys, val = [], [], []
for label, concept in enumerate([c1, c2]):
    folder = os.path.join(train_dir, concept, layer)
    for name in sorted(os.listdir(folder)):
        if name.endswith(".npy") or name.endswith(".np"):
            xs.append(np.load(os.path.join(folder, name)))
            ys.append(label)
            val.append(f"{concept}/{layer}/{name}" in held)
x, y, val = np.stack(xs), np.array(ys), np.array(val)
C = probe["C"] if probe["C"] else 1e12
clf = LogisticRegression(C=C, max_iter=10000).fit(x[~val], y[~val])
train_acc = clf.score(x[~val], y[~val])
val_acc = clf.score(x[val], y[val]) if val.any() else float("nan")
print(f"scikit-learn: train accuracy {train_acc:.4f} ({(~val).sum()}), validation {val_acc:.4f} ({val.sum()})")
print(f"dreamlab:     train accuracy {probe['train_accuracy']:.4f} ({probe['train_count']}), validation {probe['validation_accuracy']:.4f} ({probe['validation_count']})")
w = clf.coef_[0]
ours = np.load(os.path.join(out, "weights.npy"))
print(f"cosine(dreamlab weights, scikit-learn weights) = {float(ours @ w / np.linalg.norm(ours) / np.linalg.norm(w)):.4f}")
gap = max(abs(train_acc - probe["train_accuracy"]), abs(val_acc - probe["validation_accuracy"]) if val.any() else 0)
print(f"largest accuracy gap: {100 * gap:.2f} points")
sys.exit(0 if gap <= 0.01 else 1)
