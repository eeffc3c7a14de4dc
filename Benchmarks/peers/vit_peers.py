#!/usr/bin/env python3
"""Peers for `make bench`: timm's vit_tiny_patch16_224 (num_classes=0, CLS embedding) in PyTorch
eager and in ONNX Runtime, on the same machine, same batches, same thread count as code-bench.

    python Benchmarks/peers/vit_peers.py --threads 2 --repeats 7 --output bench-results/peers.json

Measured: forward images/s at batch 1 and 32 (torch.inference_mode; ONNX Runtime CPU provider with
intra_op_num_threads = threads, inter_op 1, graph optimisations on), and training images/s at
batch 32: forward + backward + AdamW step in eager mode. The reduced-precision peers of
`--precision` (docs/precision.md): ONNX Runtime int8, i.e. `onnxruntime.quantization.quantize_dynamic`
of the same exported graph (int8 weights per output channel, activations quantised dynamically,
MatMulInteger/DynamicQuantizeLinear), at batch 1 and 32; and PyTorch's bf16 autocast on CPU
(`torch.autocast("cpu", dtype=torch.bfloat16)`: linear layers in bf16, fp32 master weights and
AdamW) for the forward at batch 1 and 32 and the training step. Median of `repeats` timed runs after
warm-up, the same protocol as code-bench. Weights are random (timm's init): speed does not depend
on them. Last run with torch 2.15.0, timm 1.0.31, onnxruntime 1.32.0, onnx 1.19.
"""
import argparse
import json
import os
import statistics
import tempfile
import time

import numpy as np
import torch
import timm


def median_time(fn, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def training_step(model, batch, bf16=False):
    """One eager training step (forward + backward + AdamW) at `batch` on fixed random inputs;
    with `bf16`, the forward (and so its backward) under CPU bf16 autocast."""
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-6)
    x = torch.randn(batch, 3, 224, 224)

    def train_step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(x).float().square().mean()
        loss.backward()
        opt.step()

    return train_step


def training_rate(model, batch, repeats, bf16=False):
    """Images/s of eager training steps (forward + backward + AdamW) at `batch`: median of `repeats`."""
    return batch / median_time(training_step(model, batch, bf16), repeats)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--train-batch", type=int, default=32)
    ap.add_argument("--output", default="bench-results/peers.json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0).eval()
    out = {"threads": a.threads, "repeats": a.repeats, "torch": torch.__version__, "timm": timm.__version__,
           "torch_config": torch.__config__.parallel_info().splitlines()[:6], "forward": {}, "onnxruntime": {},
           "forward_bf16_autocast": {}, "onnxruntime_int8": {}}
    for b in a.batches:
        x = torch.randn(b, 3, 224, 224)
        with torch.inference_mode():
            t = median_time(lambda: model(x), a.repeats)
        out["forward"][str(b)] = b / t
        print(f"PyTorch eager forward, batch {b}: {b / t:.1f} images/s")
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            t = median_time(lambda: model(x), a.repeats)
        out["forward_bf16_autocast"][str(b)] = b / t
        print(f"PyTorch bf16 autocast forward, batch {b}: {b / t:.1f} images/s")
    try:
        import onnxruntime as ort
        path = os.path.join(tempfile.mkdtemp(), "vit_tiny.onnx")
        torch.onnx.export(model, torch.randn(1, 3, 224, 224), path, input_names=["x"], output_names=["e"],
                          dynamic_axes={"x": {0: "b"}}, opset_version=17, dynamo=False)
        so = ort.SessionOptions()
        so.intra_op_num_threads = a.threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        out["onnxruntime_version"] = ort.__version__
        for b in a.batches:
            x = np.random.randn(b, 3, 224, 224).astype(np.float32)
            t = median_time(lambda: sess.run(None, {"x": x}), a.repeats)
            out["onnxruntime"][str(b)] = b / t
            print(f"ONNX Runtime forward, batch {b}: {b / t:.1f} images/s")
        from onnxruntime.quantization import QuantType, quantize_dynamic
        qpath = path.replace(".onnx", ".int8.onnx")
        quantize_dynamic(path, qpath, weight_type=QuantType.QInt8, per_channel=True)
        qsess = ort.InferenceSession(qpath, so, providers=["CPUExecutionProvider"])
        for b in a.batches:
            x = np.random.randn(b, 3, 224, 224).astype(np.float32)
            t = median_time(lambda: qsess.run(None, {"x": x}), a.repeats)
            out["onnxruntime_int8"][str(b)] = b / t
            print(f"ONNX Runtime int8 (quantize_dynamic) forward, batch {b}: {b / t:.1f} images/s")
    except Exception as e:  # report, do not hide
        out["onnxruntime_error"] = repr(e)
        print("ONNX Runtime peer failed:", repr(e))
    rate = training_rate(model, a.train_batch, max(3, a.repeats // 2))
    out["training"] = {"batch": a.train_batch, "images_per_second": rate}
    print(f"PyTorch eager training (fwd+bwd+AdamW), batch {a.train_batch}: {rate:.1f} images/s")
    rate = training_rate(model, a.train_batch, max(3, a.repeats // 2), bf16=True)
    out["training_bf16_autocast"] = {"batch": a.train_batch, "images_per_second": rate}
    print(f"PyTorch bf16 autocast training (fwd+bwd+AdamW), batch {a.train_batch}: {rate:.1f} images/s")
    os.makedirs(os.path.dirname(os.path.abspath(a.output)), exist_ok=True)
    with open(a.output, "w") as f:
        json.dump(out, f, indent=2, sort_keys=True)


if __name__ == "__main__":
    main()
