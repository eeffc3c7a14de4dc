#!/usr/bin/env python3
"""Pillow peer for code-bench-images: the same work on the same files, same machine.

Run: /work/venv/bin/python Benchmarks/images/pillow_peer.py DIR [--threads 1,2] [--seconds 3] [--output FILE]
Versions it was run with: Python 3.11, Pillow 13.0.0 (libjpeg-turbo, as reported by
PIL.features.version("jpg")), numpy 1.26.4.

Files are read into memory first (io.BytesIO per decode). "decode" is Image.open(...).convert("RGB")
(which forces the load); "decode+crop" adds torchvision's CenterCrop(224) arithmetic via
Image.crop (for 640x480 no padding is needed); "+normalize" adds numpy float32 (x/255-mean)/std to
planar CHW. Threads: a ThreadPoolExecutor; Pillow releases the GIL while decoding.
"""
import argparse
import concurrent.futures as cf
import io
import json
import os
import time

import numpy as np
from PIL import Image, features

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(3, 1, 1)


def work(data, task):
    im = Image.open(io.BytesIO(data)).convert("RGB")
    if task == "decode":
        return
    w, h = im.size
    left, top = int(round((w - 224) / 2.0)), int(round((h - 224) / 2.0))
    im = im.crop((left, top, left + 224, top + 224))
    im.load()
    if task == "decode+crop":
        return
    x = np.asarray(im, dtype=np.uint8).transpose(2, 0, 1).astype(np.float32) / 255.0
    (x - MEAN) / STD


def measure(files, threads, task, seconds):
    def chunk(t):
        for i in range(t, len(files), threads):
            work(files[i], task)

    with cf.ThreadPoolExecutor(threads) as pool:
        list(pool.map(chunk, range(threads)))  # warm-up
        start, done = time.perf_counter(), 0
        while True:
            list(pool.map(chunk, range(threads)))
            done += len(files)
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                return done / elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--output")
    a = ap.parse_args()
    names = sorted(n for n in os.listdir(a.dir) if n.endswith(".jpg"))
    files = [open(os.path.join(a.dir, n), "rb").read() for n in names]
    rows = []
    print("task                           threads   images/s")
    for t in [int(x) for x in a.threads.split(",")]:
        for task in ["decode", "decode+crop", "decode+crop+normalize"]:
            r = measure(files, t, task, a.seconds)
            print(f"{task:30s} {t:7d} {r:10.1f}")
            rows.append({"task": task, "threads": t, "images_per_second": r})
    if a.output:
        with open(a.output, "w") as f:
            json.dump({"benchmark": "pillow_peer", "images": len(files), "pillow_jpeg": features.version("jpg"),
                       "results": rows}, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
