#!/usr/bin/env python3
"""Summarise `make bench-versus`: rounds of code-bench and vit_peers.py run back to back, so each
CoDEKit figure has peer figures from the same minute of this VM (whose GEMM speed drifts by tens
of percent over minutes). Prints every round and the median over rounds of each figure and of the
per-round ratio CoDEKit / peer; writes them as JSON.

    python Benchmarks/peers/versus.py bench-results/versus --output bench-results/versus.json
"""
import argparse
import glob
import json
import os
import statistics


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--output", default=None)
    a = ap.parse_args()
    rounds = []
    for path in sorted(glob.glob(os.path.join(a.folder, "codekit-*.json"))):
        r = path.rsplit("-", 1)[1].split(".")[0]
        peer_path = os.path.join(a.folder, f"peers-{r}.json")
        if not os.path.exists(peer_path):
            raise SystemExit(f"versus: {peer_path} is missing (round {r} incomplete)")
        ck, pe = json.load(open(path)), json.load(open(peer_path))
        fwd = {str(f["batch"]): f for f in ck["forward"]}
        row = {"round": r}
        for b in ("1", "32"):
            row[f"codekit_b{b}"] = fwd[b]["images_per_second"]
            row[f"fraction_b{b}"] = fwd[b]["fraction_of_ceiling"]
            row[f"torch_b{b}"] = pe["forward"][b]
            row[f"ort_b{b}"] = pe["onnxruntime"].get(b, float("nan"))
        row["codekit_train"] = ck["training"]["images_per_second"]
        row["fraction_train"] = ck["training"]["fraction_of_ceiling"]
        row["torch_train"] = pe["training"]["images_per_second"]
        for b in ("1", "32"):
            row[f"vs_ort_b{b}"] = row[f"codekit_b{b}"] / row[f"ort_b{b}"]
            row[f"vs_torch_b{b}"] = row[f"codekit_b{b}"] / row[f"torch_b{b}"]
        row["vs_torch_train"] = row["codekit_train"] / row["torch_train"]
        rounds.append(row)
    if not rounds:
        raise SystemExit(f"versus: no codekit-*.json in {a.folder}")
    keys = [k for k in rounds[0] if k != "round"]
    print("round " + " ".join(f"{k:>15}" for k in keys))
    for row in rounds:
        print(f"{row['round']:>5} " + " ".join(f"{row[k]:15.3f}" for k in keys))
    med = {k: statistics.median(row[k] for row in rounds) for k in keys}
    print("  med " + " ".join(f"{med[k]:15.3f}" for k in keys))
    print(f"\nmedian over {len(rounds)} rounds (images/s; fraction of CoDEKit's sgemm-bound ceiling; ratio CoDEKit/peer per round):")
    for b in ("1", "32"):
        print(f"  forward batch {b:>2}: CoDEKit {med[f'codekit_b{b}']:.1f} ({100 * med[f'fraction_b{b}']:.1f}% of ceiling), "
              f"ONNX Runtime {med[f'ort_b{b}']:.1f} (x{med[f'vs_ort_b{b}']:.2f}), PyTorch {med[f'torch_b{b}']:.1f} (x{med[f'vs_torch_b{b}']:.2f})")
    print(f"  training batch 32: CoDEKit {med['codekit_train']:.1f} ({100 * med['fraction_train']:.1f}% of ceiling), "
          f"PyTorch eager {med['torch_train']:.1f} (x{med['vs_torch_train']:.2f})")
    if a.output:
        with open(a.output + ".tmp", "w") as f:
            json.dump({"rounds": rounds, "median": med}, f, indent=2, sort_keys=True)
        os.replace(a.output + ".tmp", a.output)


if __name__ == "__main__":
    main()
