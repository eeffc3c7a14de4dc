#!/usr/bin/env python3
"""CoDEKit vs PyTorch eager training throughput, interleaved in short bursts.

    python Benchmarks/peers/interleaved.py --bin .build/release/code-bench --cycles 30 --steps 5 \
        --output bench-results/interleaved.json        # or: make bench-interleaved CYCLES=30

Why: on a shared VM the machine's speed drifts by x1.5 or more within minutes, so two benchmarks
run one after the other (`make bench-versus`) compare different machines. Here both sides stay
loaded and warm for the whole run, and take turns: one cycle is `--steps` training steps of
CoDEKit (`code-bench --serve-training`, a child process blocked on a read while idle) and the
same number of PyTorch eager steps (timm vit_tiny_patch16_224, this process), in alternating order
(CoDEKit first in even cycles), with a `--pause` between bursts so neither side's worker threads
are still spinning when the other starts. Each cycle gives one ratio: CoDEKit images/s over
PyTorch images/s, both the median of the cycle's steps. A drift slower than a cycle (about 15 s)
cancels in the ratio.

Both sides run the same work: forward + backward + AdamW at micro-batch `--batch` (32), 224x224,
`--threads` threads (torch: intra-op threads, one inter-op thread; CoDEKit: Threading.count),
fixed random inputs and random (timm-initialised / seeded) weights.

Reported: the median and interquartile range of the per-cycle ratios, a 95% bootstrap interval
for the median ratio (seeded), the number of cycles CoDEKit won and the two-sided sign-test
p-value, and each side's median images/s over all its steps.

    python Benchmarks/peers/interleaved.py --pool A.json B.json ...

prints the same ratio statistics over the per-cycle ratios of several earlier runs pooled.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import time

import numpy as np
import torch
import timm

from vit_peers import training_step


def sign_test_p(wins, n):
    """Two-sided exact binomial test of `wins` out of `n` against p = 1/2."""
    k = min(wins, n - wins)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def ratio_summary(cycles):
    """Median, quartiles, seeded 95% bootstrap interval of the median, wins and sign test of the
    per-cycle ratios, and the median ratio by which side went first."""
    ratios = np.asarray([c["ratio"] for c in cycles])
    rng = np.random.default_rng(0)
    boot = np.median(rng.choice(ratios, size=(10000, len(ratios)), replace=True), axis=1)
    wins = int((ratios > 1).sum())
    return {
        "median_ratio": float(np.median(ratios)),
        "ratio_quartiles": [float(np.percentile(ratios, 25)), float(np.percentile(ratios, 75))],
        "median_ratio_95ci_bootstrap": [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))],
        "codekit_wins": wins, "cycles": len(ratios), "sign_test_p": sign_test_p(wins, len(ratios)),
        "median_ratio_by_first": {side: float(np.median([c["ratio"] for c in cycles if c["first"] == side]))
                                  for side in ("codekit", "torch") if any(c["first"] == side for c in cycles)},
    }


def print_ratio_summary(summary, what):
    print(f"\nCoDEKit / PyTorch eager training, {what}:")
    print(f"  median ratio x{summary['median_ratio']:.3f} (quartiles {summary['ratio_quartiles'][0]:.3f}-{summary['ratio_quartiles'][1]:.3f}; "
          f"95% bootstrap interval {summary['median_ratio_95ci_bootstrap'][0]:.3f}-{summary['median_ratio_95ci_bootstrap'][1]:.3f})")
    print(f"  CoDEKit faster in {summary['codekit_wins']} of {summary['cycles']} cycles (sign test p = {summary['sign_test_p']:.2g})")
    by_first = ", ".join(f"x{r:.3f} with {'CoDEKit' if side == 'codekit' else 'PyTorch'} first"
                         for side, r in summary["median_ratio_by_first"].items())
    print(f"  median ratio by order: {by_first}")


def pool(paths):
    cycles = []
    for path in paths:
        with open(path) as f:
            cycles += json.load(f)["per_cycle"]
    print_ratio_summary(ratio_summary(cycles), f"{len(cycles)} cycles pooled from {len(paths)} runs")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=".build/release/code-bench", help="code-bench executable (release build)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--cycles", type=int, default=30)
    ap.add_argument("--steps", type=int, default=5, help="training steps per side per cycle")
    ap.add_argument("--pause", type=float, default=0.5, help="seconds of idle before each burst")
    ap.add_argument("--output", default="bench-results/interleaved.json")
    ap.add_argument("--pool", nargs="+", metavar="JSON", help="only summarise the cycles of earlier runs' JSON files")
    a = ap.parse_args()
    if a.pool:
        return pool(a.pool)
    if a.cycles < 1 or a.steps < 1:
        ap.error("--cycles and --steps must be at least 1")

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0)
    torch_step = training_step(model, a.batch)
    for _ in range(2):
        torch_step()

    child = subprocess.Popen([a.bin, "--threads", str(a.threads), "--micro-batch", str(a.batch), "--serve-training"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ready = child.stdout.readline().strip()
    if ready != "ready":
        child.kill()
        raise SystemExit(f"interleaved.py: {a.bin} --serve-training did not start (said {ready!r})")

    def codekit_burst():
        child.stdin.write(f"{a.steps}\n")
        child.stdin.flush()
        line = child.stdout.readline()
        if not line:
            raise SystemExit("interleaved.py: code-bench exited during the run")
        return [float(t) for t in line.split()]

    def torch_burst():
        ts = []
        for _ in range(a.steps):
            t0 = time.perf_counter()
            torch_step()
            ts.append(time.perf_counter() - t0)
        return ts

    cycles = []
    all_code, all_torch = [], []
    try:
        for c in range(a.cycles):
            times = {}
            order = ["codekit", "torch"] if c % 2 == 0 else ["torch", "codekit"]
            for side in order:
                time.sleep(a.pause)
                times[side] = codekit_burst() if side == "codekit" else torch_burst()
            rc = a.batch / statistics.median(times["codekit"])
            rt = a.batch / statistics.median(times["torch"])
            all_code += times["codekit"]
            all_torch += times["torch"]
            cycles.append({"first": order[0], "codekit": rc, "torch": rt, "ratio": rc / rt})
            print(f"cycle {c + 1:3d}/{a.cycles}: CoDEKit {rc:5.1f}  PyTorch {rt:5.1f} images/s  ratio {rc / rt:.3f}", flush=True)
    finally:
        child.stdin.close()
        child.wait(timeout=60)

    summary = ratio_summary(cycles)
    summary["codekit_images_per_second"] = a.batch / statistics.median(all_code)
    summary["torch_images_per_second"] = a.batch / statistics.median(all_torch)
    out = {"threads": a.threads, "batch": a.batch, "steps_per_burst": a.steps, "pause": a.pause,
           "torch": torch.__version__, "timm": timm.__version__, "summary": summary, "per_cycle": cycles}
    print_ratio_summary(summary, f"{len(cycles)} interleaved cycles of {a.steps} steps each")
    print(f"  medians over all steps: CoDEKit {summary['codekit_images_per_second']:.1f}, PyTorch {summary['torch_images_per_second']:.1f} images/s")
    os.makedirs(os.path.dirname(os.path.abspath(a.output)), exist_ok=True)
    tmp = a.output + ".partial"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=2, sort_keys=True)
    os.replace(tmp, a.output)


if __name__ == "__main__":
    main()
