#!/usr/bin/env python3
"""Fixtures for Tests/CoDEClassifiersTests (run from the repository root):

    /work/venv/bin/python Tests/Fixtures/make_classifier_fixtures.py

Pinned: Python 3.11, scikit-learn 1.3.2, numpy 1.26.4, safetensors 0.8.0, joblib 1.3+.
Writes Tests/Fixtures/classifiers/:
  data.safetensors       192-d train/test embeddings (float32) and labels (0 real, 1 fake)
  reference.safetensors  scikit-learn's fits and decisions on the test rows, and metrics
  linear.safetensors, knn.safetensors, knn5.safetensors, svm_poly.safetensors,
  svm_rbf.safetensors, svm_linear.safetensors
                         the same scikit-learn models converted by tools/export_sklearn.py
Everything is seeded; running it again rewrites identical files.
"""
import os
import subprocess
import sys
import tempfile

import joblib
import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import OneClassSVM

assert sklearn.__version__ == "1.3.2", sklearn.__version__
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from export_sklearn import write_atomic  # noqa: E402  (deterministic safetensors writer)
OUT = os.path.join(ROOT, "Tests", "Fixtures", "classifiers")
D = 192


def make_data(rng, n):
    """Embedding-like clouds: a shared low-rank structure, class means a few units apart, overlapping."""
    basis = np.random.default_rng(1).standard_normal((8, D))
    mean_real = np.random.default_rng(2).standard_normal(D) * 0.4
    shift = np.random.default_rng(3).standard_normal(D) * 0.12
    y = (np.arange(n) % 2).astype(np.int64)  # alternate real (0), fake (1)
    z = rng.standard_normal((n, 8))
    x = mean_real + z @ basis * 0.5 + rng.standard_normal((n, D)) * 0.8 + y[:, None] * shift
    return x.astype(np.float32), y


def metrics_case(rng):
    """Scores with many ties (rounded to 0.1) and labels correlated with them."""
    y = rng.integers(0, 2, 301).astype(np.int64)
    s = np.round(rng.standard_normal(301) * 0.6 + y * 0.8, 1)
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    fnr = 1 - tpr
    k = int(np.argmax(fnr - fpr <= 0))
    dk, dp = fnr[k] - fpr[k], fnr[k - 1] - fpr[k - 1]
    eer = fpr[k] if dk == 0 else fpr[k - 1] + dp / (dp - dk) * (fpr[k] - fpr[k - 1])
    # Best-threshold accuracy by brute force over every distinct score and +inf.
    cands = np.concatenate([[np.inf], np.unique(s)])
    best = max(np.mean((s >= t) == (y == 1)) for t in cands)
    verdict = (s > 0.5).astype(np.int64)
    return {
        "metrics.scores": s.astype(np.float64), "metrics.labels": y,
        "metrics.auc": np.array([roc_auc_score(y, s)]),
        "metrics.ap": np.array([average_precision_score(y, s)]),
        "metrics.eer": np.array([eer]),
        "metrics.best_accuracy": np.array([best]),
        "metrics.acc_real": np.array([np.mean(verdict[y == 0] == 0)]),
        "metrics.acc_fake": np.array([np.mean(verdict[y == 1] == 1)]),
        "metrics.acc_overall": np.array([np.mean(verdict == y)]),
    }


def export(model, name, tmp):
    src = os.path.join(tmp, name + ".joblib")
    joblib.dump(model, src)
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "export_sklearn.py"), src,
                    "--output", os.path.join(OUT, name + ".safetensors")], check=True)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20240926)
    xtr, ytr = make_data(rng, 400)
    xte, yte = make_data(rng, 200)
    meta = {"generator": "make_classifier_fixtures.py", "sklearn": sklearn.__version__}
    write_atomic({"train_x": xtr, "train_y": ytr, "test_x": xte, "test_y": yte}, meta, os.path.join(OUT, "data.safetensors"))
    x64, t64 = xtr.astype(np.float64), xte.astype(np.float64)
    ref = {}

    # Logistic regression as CoDE configures it (lbfgs, tol 1e-4), and the exact optimum of the same
    # objective from scikit-learn's newton-cholesky solver at tol 1e-12, for coefficient checks.
    lr = LogisticRegression(C=0.316, class_weight="balanced", max_iter=1000).fit(x64, ytr)
    exact = dict(solver="newton-cholesky", tol=1e-12, max_iter=1000)
    tight = LogisticRegression(C=0.316, class_weight="balanced", **exact).fit(x64, ytr)
    none = LogisticRegression(C=0.316, class_weight=None, **exact).fit(x64[:300], ytr[:300])
    ref.update({"lr.coef": lr.coef_[0], "lr.intercept": lr.intercept_, "lr.tight_coef": tight.coef_[0],
                "lr.tight_intercept": tight.intercept_, "lr.none_coef": none.coef_[0], "lr.none_intercept": none.intercept_,
                "lr.decision": lr.decision_function(xte), "lr.proba": lr.predict_proba(xte)[:, 1],
                "lr.predict": lr.predict(xte).astype(np.int64),
                "lr.auc": np.array([roc_auc_score(yte, lr.predict_proba(xte)[:, 1])])})

    # Cosine k-NN, k = 1 and 5, fitted on float32 embeddings as the authors' are.
    knn = KNeighborsClassifier(n_neighbors=1, metric="cosine", algorithm="brute").fit(xtr, ytr)
    knn5 = KNeighborsClassifier(n_neighbors=5, metric="cosine", algorithm="brute").fit(xtr, ytr)
    dist3, ind3 = knn.kneighbors(xte, n_neighbors=3)
    ref.update({"knn.predict": knn.predict(xte).astype(np.int64), "knn5.predict": knn5.predict(xte).astype(np.int64),
                "knn.dist3": dist3.astype(np.float64), "knn.ind3": ind3.astype(np.int64)})

    # One-class SVMs on the real training rows only (CoDE: nu 0.1, poly 3, gamma auto).
    real = x64[ytr == 0]
    svms = {"svm_poly": OneClassSVM(nu=0.1, kernel="poly", degree=3, gamma="auto", coef0=0.0),
            "svm_rbf": OneClassSVM(nu=0.2, kernel="rbf", gamma="scale"),
            "svm_linear": OneClassSVM(nu=0.3, kernel="linear")}
    for name, m in svms.items():
        m.fit(real)
        ref[name + ".decision"] = m.decision_function(t64)
        ref[name + ".n_sv"] = np.array([len(m.support_)], dtype=np.int64)
        ref[name + ".rho"] = -m.intercept_
        ref[name + ".auc"] = np.array([roc_auc_score(yte, -m.decision_function(t64))])  # fake = positive

    ref.update(metrics_case(np.random.default_rng(7)))
    write_atomic(ref, meta, os.path.join(OUT, "reference.safetensors"))

    with tempfile.TemporaryDirectory() as tmp:
        export(lr, "linear", tmp)
        export(knn, "knn", tmp)
        export(knn5, "knn5", tmp)
        for name, m in svms.items():
            export(m, name, tmp)
    print("LR default vs tight max|dcoef|:", np.abs(lr.coef_ - tight.coef_).max(), "acc", lr.score(x64, ytr), lr.score(t64, yte))
    print("kNN acc", knn.score(xte, yte), "SVs", {k: len(m.support_) for k, m in svms.items()})


if __name__ == "__main__":
    main()
