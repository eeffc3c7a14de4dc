#!/usr/bin/env python3
"""How fast the GEMMs CoDEKit runs are in PyTorch's BLAS (MKL in the x86 PyPI wheels), next to the
OpenBLAS rates code-bench measured for the same shapes, and PyTorch eager's own training step.

code-bench writes every GEMM shape of the batch-32 forward and of a training step (m, n, k,
transposes, how many per batch, whether they run as many small independent products spread over
the threads) with its OpenBLAS GFLOP/s. This script times the same products with torch.mm (or
torch.bmm over batch*heads products for the per-head attention GEMMs) at the same thread count and
derives the "MKL-bound ceiling": images/s if every GEMM ran at MKL's rate and nothing else took
time, computed exactly as code-bench computes its OpenBLAS ceiling. `make bench-blas-versus` runs
code-bench and this script in alternating rounds and summarises them:

    python Benchmarks/peers/gemm_peer.py bench-results/encoder.json --threads 2 --output bench-results/gemm-peer.json
    python Benchmarks/peers/gemm_peer.py --summarise bench-results/blas-versus --output bench-results/blas-versus.json
"""
import argparse
import glob
import json
import os
import re
import statistics
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vit_peers import median_time, training_rate  # noqa: E402


def gemm_rate(g, batch, heads, repeats):
    """GFLOP/s of one code-bench GEMM shape in torch: median of `repeats` samples of ~50 ms."""
    m, n, k = g["m"], g["n"], g["k"]
    count = batch * heads if g["parallel_small"] else 1
    a = torch.randn(count, k, m).transpose(1, 2) if g["trans_a"] else torch.randn(count, m, k)
    b = torch.randn(count, n, k).transpose(1, 2) if g["trans_b"] else torch.randn(count, k, n)
    c = torch.empty(count, m, n)
    if count == 1:
        a, b, c = a[0], b[0], c[0]
        fn = lambda: torch.mm(a, b, out=c)
    else:
        fn = lambda: torch.bmm(a, b, out=c)
    fn()
    inner = max(1, int(0.05 / median_time(fn, 1, warmup=1)))

    def batch_of_calls():
        for _ in range(inner):
            fn()

    return count * 2.0 * m * n * k / (median_time(batch_of_calls, repeats, warmup=1) / inner) / 1e9


def ceiling(gemms, batch, key):
    """Images/s if every GEMM ran at its rate `key` and nothing else took time (code-bench's formula)."""
    seconds = sum(2.0 * g["m"] * g["n"] * g["k"] * g["per_batch"] / batch / (g[key] * 1e9) for g in gemms)
    return 1 / seconds


def measure(a):
    ck = json.load(open(a.codekit))
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    heads = ck["heads"]
    blas = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    out = {"threads": a.threads, "torch": torch.__version__, "blas": blas.group(1) if blas else "unknown",
           "openblas_core": ck["openblas_core"], "sections": {}}
    sections = {f"forward_b{f['batch']}": (f, f["batch"]) for f in ck["forward"] if f["batch"] == 32}
    if "training" in ck:
        sections["training"] = (ck["training"], ck["training"]["micro_batch"])
    for name, (sec, batch) in sections.items():
        gemms = []
        for g in sec["gemms"]:
            g = dict(g, openblas_gflops=g["gflops"], torch_gflops=gemm_rate(g, batch, heads, a.repeats))
            del g["gflops"]
            gemms.append(g)
            print(f"  {name:11} {g['name']:14} {g['m']:5}x{g['n']:4}x{g['k']:5}  OpenBLAS {g['openblas_gflops']:6.1f}  "
                  f"torch {g['torch_gflops']:6.1f} GFLOP/s  (x{g['torch_gflops'] / g['openblas_gflops']:.2f})")
        s = {"codekit_images_per_second": sec["images_per_second"],
             "openblas_ceiling": ceiling(gemms, batch, "openblas_gflops"),
             "torch_blas_ceiling": ceiling(gemms, batch, "torch_gflops"), "gemms": gemms}
        print(f"{name}: CoDEKit {s['codekit_images_per_second']:.1f} images/s; GEMM-bound ceiling with OpenBLAS "
              f"{s['openblas_ceiling']:.1f}, with torch's BLAS {s['torch_blas_ceiling']:.1f} images/s")
        out["sections"][name] = s
    if "training" in sections:
        import timm
        model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0)
        rate = training_rate(model, sections["training"][1], a.train_repeats)
        out["sections"]["training"]["pytorch_images_per_second"] = rate
        print(f"training: PyTorch eager {rate:.1f} images/s")
    os.makedirs(os.path.dirname(os.path.abspath(a.output)), exist_ok=True)
    with open(a.output + ".tmp", "w") as f:
        json.dump(out, f, indent=2, sort_keys=True)
    os.replace(a.output + ".tmp", a.output)


def summarise(a):
    rounds = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(a.summarise, "gemm-*.json")))]
    if not rounds:
        raise SystemExit(f"gemm_peer: no gemm-*.json in {a.summarise}")
    med = {}
    for name in rounds[0]["sections"]:
        secs = [r["sections"][name] for r in rounds]
        row = {k: statistics.median(s[k] for s in secs)
               for k in ("codekit_images_per_second", "openblas_ceiling", "torch_blas_ceiling", "pytorch_images_per_second") if k in secs[0]}
        row["ceiling_ratio"] = statistics.median(s["torch_blas_ceiling"] / s["openblas_ceiling"] for s in secs)
        if "pytorch_images_per_second" in secs[0]:
            row["codekit_vs_pytorch"] = statistics.median(s["codekit_images_per_second"] / s["pytorch_images_per_second"] for s in secs)
            row["pytorch_fraction_of_torch_blas_ceiling"] = statistics.median(s["pytorch_images_per_second"] / s["torch_blas_ceiling"] for s in secs)
        row["codekit_fraction_of_openblas_ceiling"] = statistics.median(s["codekit_images_per_second"] / s["openblas_ceiling"] for s in secs)
        row["gemm_ratio_torch_over_openblas"] = {
            g["name"]: statistics.median(s["gemms"][i]["torch_gflops"] / s["gemms"][i]["openblas_gflops"] for s in secs)
            for i, g in enumerate(secs[0]["gemms"])}
        med[name] = row
        print(f"\n{name}, median over {len(rounds)} rounds:")
        for k, v in row.items():
            if k != "gemm_ratio_torch_over_openblas":
                print(f"  {k:42} {v:8.3f}")
        print("  GEMM rate, torch's BLAS / OpenBLAS (median of per-round ratios):")
        for k, v in row["gemm_ratio_torch_over_openblas"].items():
            print(f"    {k:14} x{v:.2f}")
    if a.output:
        with open(a.output + ".tmp", "w") as f:
            json.dump({"rounds": rounds, "median": med, "blas": rounds[0]["blas"], "torch": rounds[0]["torch"]}, f, indent=2, sort_keys=True)
        os.replace(a.output + ".tmp", a.output)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("codekit", nargs="?", help="code-bench JSON (with --training for the training section)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5, help="samples per GEMM shape (median)")
    ap.add_argument("--train-repeats", type=int, default=3, help="timed PyTorch training steps (median)")
    ap.add_argument("--summarise", metavar="DIR", help="summarise the gemm-*.json rounds in DIR instead")
    ap.add_argument("--output", default="bench-results/gemm-peer.json")
    a = ap.parse_args()
    if a.summarise:
        summarise(a)
    elif a.codekit:
        measure(a)
    else:
        ap.error("give a code-bench JSON or --summarise DIR")


if __name__ == "__main__":
    main()
