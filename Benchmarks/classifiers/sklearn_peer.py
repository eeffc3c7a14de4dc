#!/usr/bin/env python3
"""scikit-learn's side of code-bench-classifiers, on the data file it writes:

    swift run -c release code-bench-classifiers --output swift.json
    /work/venv/bin/python Benchmarks/classifiers/sklearn_peer.py [--data FILE] [--output sklearn.json]

Times LogisticRegression(C=0.316, class_weight="balanced").fit (lbfgs) on the 50,000-row bank,
OneClassSVM(nu=0.1, kernel="poly", degree=3, gamma="auto").fit (libsvm, cache 200 MB,
tol 1e-3, single-threaded) and KNeighborsClassifier(1, metric="cosine", algorithm="brute").predict.
Pinned: scikit-learn 1.3.2, numpy 1.26.4, safetensors 0.8.0.
"""
import argparse
import json
import time

import numpy as np
import sklearn
from safetensors.numpy import load_file
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import OneClassSVM


def compare_svm(path, svm, q):
    """Decisions of CoDEKit's fitted model (poly kernel, from its file) against scikit-learn's fit."""
    m = load_file(path)
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        meta = json.loads(f.read(n))["__metadata__"]
    k = (float(meta["gamma"]) * (q @ m["support_vectors"].T) + float(meta["coef0"])) ** int(meta["degree"])
    ours = k @ m["dual_coef"] - m["rho"][0]
    ref = svm.decision_function(q)
    return {"verdict_agreement": float(np.mean((ours > 0) == (ref > 0))),
            "decision_correlation": float(np.corrcoef(ours, ref)[0, 1])}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/tmp/codekit-bench-classifiers.safetensors")
    p.add_argument("--svm-model", default="/tmp/codekit-bench-svm.safetensors", help="the OC-SVM CoDEKit fitted")
    p.add_argument("--output")
    a = p.parse_args()
    d = load_file(a.data)
    x = d["svm_x"].astype(np.float64)
    t0, c0 = time.perf_counter(), time.process_time()
    svm = OneClassSVM(nu=0.1, kernel="poly", degree=3, gamma="auto", coef0=0.0).fit(x)
    svm_s, svm_cpu = time.perf_counter() - t0, time.process_time() - c0
    parity = compare_svm(a.svm_model, svm, d["query_x"].astype(np.float64))
    knn = KNeighborsClassifier(n_neighbors=1, metric="cosine", algorithm="brute").fit(d["bank_x"], d["bank_y"])
    q = d["query_x"]
    knn.predict(q[:64])
    t0, c0 = time.perf_counter(), time.process_time()
    knn.predict(q)
    knn_s, knn_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    lr = LogisticRegression(C=0.316, class_weight="balanced", max_iter=1000).fit(d["bank_x"].astype(np.float64), d["bank_y"])
    lr_s, lr_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    exact = LogisticRegression(C=0.316, class_weight="balanced", solver="newton-cholesky", tol=1e-10, max_iter=100)
    exact.fit(d["bank_x"].astype(np.float64), d["bank_y"])
    nc_s, nc_cpu = time.perf_counter() - t0, time.process_time() - c0
    res = {"sklearn": sklearn.__version__,
           "svm_fit": {"rows": len(x), "seconds": svm_s, "cpu_seconds": svm_cpu, "iterations": int(np.ravel(svm.n_iter_)[0]),
                       "support_vectors": int(len(svm.support_)), "rho": float(-svm.intercept_[0])},
           "svm_parity": parity,
           "knn": {"bank": len(d["bank_x"]), "queries": len(q), "seconds": knn_s, "cpu_seconds": knn_cpu, "queries_per_second": len(q) / knn_s},
           "lr_fit": {"rows": len(d["bank_x"]), "seconds": lr_s, "cpu_seconds": lr_cpu, "iterations": int(np.ravel(lr.n_iter_)[0])},
           "lr_fit_newton_cholesky": {"seconds": nc_s, "cpu_seconds": nc_cpu, "intercept": float(exact.intercept_[0])}}
    print(f"scikit-learn {sklearn.__version__}")
    print(f"  {'OC-SVM fit, poly, %d x %d' % x.shape:<40} {svm_s:8.3f} s wall {svm_cpu:8.3f} s CPU  "
          f"({res['svm_fit']['iterations']} iterations, {res['svm_fit']['support_vectors']} SVs, rho {res['svm_fit']['rho']:.6f})")
    print(f"  CoDEKit's OC-SVM vs scikit-learn's on the queries: verdicts agree {parity['verdict_agreement']:.4f}, "
          f"decision correlation {parity['decision_correlation']:.6f}")
    print(f"  {'k-NN (k=1, cosine), bank %d' % len(d['bank_x']):<40} {len(q) / knn_s:8.0f} queries/s ({knn_s:.3f} s wall, {knn_cpu:.3f} s CPU)")
    print(f"  {'LR fit (lbfgs), %d x %d' % d['bank_x'].shape:<40} {lr_s:8.3f} s wall {lr_cpu:8.3f} s CPU  "
          f"(intercept {lr.intercept_[0]:.6f}, {res['lr_fit']['iterations']} iterations, stops at tol 1e-4)")
    print(f"  {'LR fit (newton-cholesky, tol 1e-10)':<40} {nc_s:8.3f} s wall {nc_cpu:8.3f} s CPU  "
          f"(intercept {exact.intercept_[0]:.6f}: the exact optimum)")
    if a.output:
        with open(a.output, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
