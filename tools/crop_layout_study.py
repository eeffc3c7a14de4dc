#!/usr/bin/env python3
"""How the bundled model's crop layout was chosen (model card, "How five crops was chosen").

Cuts a 3x3 grid of 224x224 windows (x and y at 0, the centre crop's offset, and the far edge; a
side under 224 zero-padded as the centre crop pads it) from every photos/ image, embeds them with
code-embed, and scores scikit-learn logistic regression / 1-NN on photos/val for several ways of
combining windows. Needs Pillow, numpy and scikit-learn (e.g. the fixtures venv); CoDEKit's
tools never need it.

Usage: python3 tools/crop_layout_study.py [--data ../shared/data/photos] [--model DIR] [--work /tmp/crop-study]
(--model defaults to the bundled encoder; code-embed is built with `swift build -c release`.)
"""
import argparse, collections, csv, json, os, subprocess
import numpy as np
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.metrics import roc_auc_score

S = 224
ap = argparse.ArgumentParser()
ap.add_argument("--data", default="../shared/data/photos")
ap.add_argument("--model", default="Sources/CoDEKit/Resources/DefaultModel")
ap.add_argument("--work", default="/tmp/crop-study")
args = ap.parse_args()


def cut_windows():
    for r in csv.DictReader(open(os.path.join(args.data, "manifest.csv"))):
        im = Image.open(os.path.join(args.data, r["path"])).convert("RGB")
        W, H = im.size
        if W < S or H < S:
            nw, nh = max(W, S), max(H, S)
            c = Image.new("RGB", (nw, nh)); c.paste(im, ((nw - W) // 2, (nh - H) // 2)); im, W, H = c, nw, nh
        xs, ys = [0, round((W - S) / 2), W - S], [0, round((H - S) / 2), H - S]
        d = os.path.join(args.work, "img", r["split"]); os.makedirs(d, exist_ok=True)
        base = r["path"].replace("/", "__")[:-4]
        for j, y in enumerate(ys):
            for i, x in enumerate(xs):
                im.crop((x, y, x + S, y + S)).save(os.path.join(d, f"{base}__{j}{i}.png"))


def embed(split):
    out = os.path.join(args.work, f"{split}.jsonl")
    if not os.path.exists(out):
        subprocess.run(["swift", "build", "-c", "release", "--product", "code-embed"], check=True)
        b = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], check=True, capture_output=True, text=True).stdout.strip()
        subprocess.run([f"{b}/code-embed", "--model", args.model, "--output", out, os.path.join(args.work, "img", split)], check=True)
    d = collections.defaultdict(dict)
    for line in open(out):
        o = json.loads(line); base, pos = os.path.basename(o["path"])[:-4].rsplit("__", 1)
        d[base][pos] = np.array(o["embedding"], dtype=np.float64)
    keys = sorted(d)
    y = np.array([1 if "__fake__" in k else 0 for k in keys])
    return np.stack([[d[k][f"{j}{i}"] for j in range(3) for i in range(3)] for k in keys]), y  # [N, 9, 192]


if not os.path.isdir(os.path.join(args.work, "img")):
    cut_windows()
Et, yt = embed("train"); Ev, yv = embed("val")
CENTRE = 4


def rep(tag, s):
    yhat = (s > 0).astype(int)
    print(f"{tag:58s} real {100 * (yhat[yv == 0] == 0).mean():5.2f} fake {100 * (yhat[yv == 1] == 1).mean():5.2f} "
          f"overall {100 * (yhat == yv).mean():5.2f} AUC {roc_auc_score(yv, s):.3f}")


def lr(C, balanced=False):
    return LogisticRegression(C=C, max_iter=5000, class_weight="balanced" if balanced else None)


layouts = {"five (corners + centre)": [0, 2, 4, 6, 8], "3x3 grid": list(range(9)), "4 corners": [0, 2, 6, 8],
           "3 diagonal": [0, 4, 8], "cross of 5": [1, 3, 4, 5, 7]}
for C in [1.0, 10.0, 100.0]:
    m = lr(C).fit(Et[:, CENTRE], yt)
    rep(f"C={C}: fit centre, score centre", m.decision_function(Ev[:, CENTRE]))
    for name in ["3x3 grid", "five (corners + centre)"]:
        idx = layouts[name]
        rep(f"C={C}: fit centre, mean score of {name}", np.mean([m.decision_function(Ev[:, k]) for k in idx], 0))
    for name, idx in layouts.items():
        m2 = lr(C).fit(Et[:, idx].reshape(-1, Et.shape[2]), np.repeat(yt, len(idx)))
        rep(f"C={C}: fit every window, mean score of {name}", np.mean([m2.decision_function(Ev[:, k]) for k in idx], 0))
for name in ["five (corners + centre)", "3x3 grid"]:
    idx = layouts[name]
    for C, bal in [(1.0, False), (10.0, False), (0.1, True), (0.316, True), (1.0, True)]:
        m = lr(C, bal).fit(Et[:, idx].mean(1), yt)
        rep(f"C={C}{' balanced' if bal else ''}: fit mean embedding of {name}", m.decision_function(Ev[:, idx].mean(1)))
for name, idx in [("centre", [CENTRE]), ("five (corners + centre)", layouts["five (corners + centre)"])]:
    kn = KNeighborsClassifier(1, metric="cosine").fit(Et[:, idx].mean(1), yt)
    rep(f"1-NN cosine on mean embedding of {name}", kn.predict(Ev[:, idx].mean(1)) - 0.5)
