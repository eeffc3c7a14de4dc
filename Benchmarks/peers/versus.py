#!/usr/bin/env python3
"""Summarise `make bench-versus`: rounds of code-bench and vit_peers.py run back to back, so each
CoDEKit figure has peer figures from the same minute of this VM (whose GEMM speed drifts by tens
of percent over minutes). Prints every round and the median over rounds of each figure and of the
per-round ratio CoDEKit / peer; writes them as JSON.

    python Benchmarks/peers/versus.py bench-results/versus --output bench-results/versus.json

Each round R has codekit-R.json (code-bench --training: fp32 forward and training step, with the
sgemm-bound ceiling) and peers-R.json (vit_peers.py). When present, codekit-prec-R.json
(code-bench --precisions: fp32/bf16/int8 forward, with the bf16 ceiling) and
codekit-bf16train-R.json (code-bench --bf16-training) add the reduced-precision rows, against ONNX
Runtime fp32 and int8 (quantize_dynamic) and PyTorch's bf16 autocast from the same round.
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
        if os.path.basename(path) != f"codekit-{r}.json":
            continue  # codekit-prec-R.json, codekit-bf16train-R.json: read with round R below
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
        prec_path = os.path.join(a.folder, f"codekit-prec-{r}.json")
        if os.path.exists(prec_path):
            pr = {str(f["batch"]): f for f in json.load(open(prec_path))["forward"]}
            for b in ("1", "32"):
                if b not in pr:
                    continue
                for p in ("fp32", "bf16", "int8"):
                    row[f"{p}_b{b}"] = pr[b][p]["images_per_second"]
                row[f"bf16_x_fp32_b{b}"] = pr[b]["bf16"]["ratio_to_fp32"]
                row[f"int8_x_fp32_b{b}"] = pr[b]["int8"]["ratio_to_fp32"]
                if "bf16_ceiling_images_per_second" in pr[b]:
                    row[f"bf16_ceiling_b{b}"] = pr[b]["bf16_ceiling_images_per_second"]
                    row[f"bf16_fraction_b{b}"] = row[f"bf16_b{b}"] / row[f"bf16_ceiling_b{b}"]
                # the fp32 sgemm-bound ceiling of this round's code-bench run
                row[f"bf16_of_fp32_ceiling_b{b}"] = row[f"bf16_b{b}"] / fwd[b]["ceiling_images_per_second"]
                row[f"int8_of_fp32_ceiling_b{b}"] = row[f"int8_b{b}"] / fwd[b]["ceiling_images_per_second"]
                row[f"bf16_vs_ort_b{b}"] = row[f"bf16_b{b}"] / row[f"ort_b{b}"]
                ort8 = pe.get("onnxruntime_int8", {}).get(b, float("nan"))
                row[f"ort_int8_b{b}"] = ort8
                row[f"int8_vs_ort_int8_b{b}"] = row[f"int8_b{b}"] / ort8
        bt_path = os.path.join(a.folder, f"codekit-bf16train-{r}.json")
        if os.path.exists(bt_path):
            bt = json.load(open(bt_path))
            mb = bt["micro_batch"]
            row["bf16_train"] = mb / bt["bf16_median_seconds"]
            row["fp32_train_paired"] = mb / bt["fp32_median_seconds"]
            row["bf16_train_x_fp32"] = bt["speedup"]
            row["bf16_train_of_fp32_ceiling"] = row["bf16_train"] / ck["training"]["ceiling_images_per_second"]
            if "training_bf16_autocast" in pe:
                row["torch_bf16_train"] = pe["training_bf16_autocast"]["images_per_second"]
                row["bf16_train_vs_torch_bf16"] = row["bf16_train"] / row["torch_bf16_train"]
        rounds.append(row)
    if not rounds:
        raise SystemExit(f"versus: no codekit-*.json in {a.folder}")
    keys = [k for k in rounds[0] if k != "round" and all(k in row for row in rounds)]
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
    for b in ("1", "32"):
        if f"bf16_b{b}" not in med:
            continue
        ceil = f", {100 * med[f'bf16_fraction_b{b}']:.1f}% of the bf16 ceiling {med[f'bf16_ceiling_b{b}']:.1f}" if f"bf16_fraction_b{b}" in med else ""
        print(f"  bf16 forward batch {b:>2}: {med[f'bf16_b{b}']:.1f} = x{med[f'bf16_x_fp32_b{b}']:.2f} CoDEKit fp32 "
              f"({100 * med[f'bf16_of_fp32_ceiling_b{b}']:.1f}% of the fp32 sgemm-bound ceiling{ceil}), x{med[f'bf16_vs_ort_b{b}']:.2f} ONNX Runtime fp32")
        print(f"  int8 forward batch {b:>2}: {med[f'int8_b{b}']:.1f} = x{med[f'int8_x_fp32_b{b}']:.2f} CoDEKit fp32 "
              f"({100 * med[f'int8_of_fp32_ceiling_b{b}']:.1f}% of the fp32 ceiling), ONNX Runtime int8 {med[f'ort_int8_b{b}']:.1f} (x{med[f'int8_vs_ort_int8_b{b}']:.2f})")
    if "bf16_train" in med:
        torch = (f", PyTorch bf16 autocast {med['torch_bf16_train']:.1f} (x{med['bf16_train_vs_torch_bf16']:.2f})"
                 if "torch_bf16_train" in med else "")
        print(f"  bf16 training step: {med['bf16_train']:.1f} images/s = x{med['bf16_train_x_fp32']:.2f} CoDEKit fp32 in the same rounds "
              f"({100 * med['bf16_train_of_fp32_ceiling']:.1f}% of the fp32 training ceiling){torch}")
    if a.output:
        with open(a.output + ".tmp", "w") as f:
            json.dump({"rounds": rounds, "median": med}, f, indent=2, sort_keys=True)
        os.replace(a.output + ".tmp", a.output)


if __name__ == "__main__":
    main()
