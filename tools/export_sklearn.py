#!/usr/bin/env python3
"""Convert a fitted scikit-learn classifier into a CoDEKit classifier file (safetensors).

Usage:
    python3 tools/export_sklearn.py INPUT --output FILE [--fake-label 1]

INPUT is a joblib or pickle file holding ONE fitted estimator (e.g. the CoDE release's
linear_tot_classifier_epoch-32.sav, knn_tot_classifier_epoch-32.sav,
ocsvm_kernel_poly_gamma_auto_nu_0_1_crop.joblib). The class of the object decides the kind:

    LogisticRegression   -> kind "linear": coef F64 [D], intercept F64 [1]
    KNeighborsClassifier -> kind "knn":    bank F32/F64 [N, D], labels I64 [N] (1 = fake), k
    OneClassSVM          -> kind "svm":    support_vectors F64 [S, D], dual_coef F64 [S], rho F64 [1]

Anything else is refused with a message. --fake-label names the class value that means "fake"
for the two classifiers trained on labels (default 1; "fake" and True are also recognised).
The metadata records format, version, kind, dimension and the hyperparameters (see
docs/classifiers.md). Before writing, the tool recomputes the model's decisions on probe points
with numpy from the exported arrays and refuses to write if they differ from scikit-learn's.

Unpickling runs code from the file: only convert files you trust.
Pinned: scikit-learn 1.3.2 (the CoDE authors' version), numpy 1.26.4, safetensors 0.8.0.
Exit codes: 0 written, 2 bad input or usage.
"""
import argparse
import os
import pickle
import sys
import tempfile

import numpy as np

FORMAT, VERSION = "codekit-classifier", "1"


class ExportError(Exception):
    pass


def load_estimator(path):
    if not os.path.isfile(path):
        raise ExportError(f"{path}: no such file")
    try:
        import joblib
        return joblib.load(path)
    except Exception as joblib_error:  # plain pickles (.sav) usually load with joblib too
        try:
            with open(path, "rb") as f:
                return pickle.load(f)
        except Exception as pickle_error:
            raise ExportError(f"{path}: not a readable joblib or pickle file (joblib: {joblib_error!r}; pickle: {pickle_error!r})")


def fake_class_index(classes, fake_label, path):
    classes = list(classes)
    if len(classes) != 2:
        raise ExportError(f"{path}: expected 2 classes (real, fake), found {classes}")
    for i, c in enumerate(classes):
        if str(c) == str(fake_label) or (str(fake_label) == "1" and str(c).lower() in ("true", "fake")):
            return i
    raise ExportError(f"{path}: fake label {fake_label!r} is not one of the classes {classes}; pass --fake-label")


def export_linear(m, path, fake_label):
    if m.coef_.shape[0] != 1:
        raise ExportError(f"{path}: LogisticRegression has {m.coef_.shape[0]} coefficient rows; only binary models are supported")
    sign = 1.0 if fake_class_index(m.classes_, fake_label, path) == 1 else -1.0
    coef = sign * np.asarray(m.coef_[0], dtype=np.float64)
    intercept = sign * np.asarray(m.intercept_, dtype=np.float64).reshape(1)
    probe = probe_points(coef.shape[0])
    check(path, sign * m.decision_function(probe), probe @ coef + intercept[0])
    cw = m.class_weight if isinstance(m.class_weight, str) else ("none" if m.class_weight is None else "custom")
    meta = {"C": repr(float(m.C)), "class_weight": cw, "penalty": str(m.penalty)}
    return "linear", coef.shape[0], {"coef": coef, "intercept": intercept}, meta


def export_knn(m, path, fake_label):
    metric = getattr(m, "effective_metric_", m.metric)
    if metric != "cosine":
        raise ExportError(f"{path}: KNeighborsClassifier metric is {metric!r}; CoDEKit supports cosine only")
    if m.weights != "uniform":
        raise ExportError(f"{path}: KNeighborsClassifier weights={m.weights!r}; CoDEKit supports uniform only")
    fi = fake_class_index(m.classes_, fake_label, path)
    k = int(m.n_neighbors)
    if fi == 0 and k % 2 == 0:
        raise ExportError(f"{path}: even k with fake as the smaller class breaks vote ties differently from CoDEKit")
    bank = np.ascontiguousarray(m._fit_X)
    if bank.dtype not in (np.float32, np.float64):
        bank = bank.astype(np.float64)
    labels = (np.asarray(m._y).reshape(-1) == fi).astype(np.int64)
    meta = {"k": str(k), "metric": "cosine"}
    return "knn", bank.shape[1], {"bank": bank, "labels": labels}, meta


def export_svm(m, path, _fake_label):
    if m.kernel not in ("linear", "poly", "rbf"):
        raise ExportError(f"{path}: OneClassSVM kernel {m.kernel!r} is not supported (linear, poly, rbf)")
    sv = np.ascontiguousarray(m.support_vectors_, dtype=np.float64)
    coef = np.asarray(m.dual_coef_, dtype=np.float64).reshape(-1)
    rho = -np.asarray(m.intercept_, dtype=np.float64).reshape(1)
    gamma = float(m._gamma)
    probe = probe_points(sv.shape[1])
    dots = probe @ sv.T
    if m.kernel == "linear":
        k = dots
    elif m.kernel == "poly":
        k = (gamma * dots + m.coef0) ** m.degree
    else:
        d2 = (probe ** 2).sum(1)[:, None] + (sv ** 2).sum(1)[None, :] - 2 * dots
        k = np.exp(-gamma * np.maximum(d2, 0))
    check(path, m.decision_function(probe), k @ coef - rho[0])
    meta = {"kernel": m.kernel, "nu": repr(float(m.nu)), "gamma": repr(gamma), "gamma_spec": str(m.gamma),
            "degree": str(int(m.degree)), "coef0": repr(float(m.coef0))}
    return "svm", sv.shape[1], {"support_vectors": sv, "dual_coef": coef, "rho": rho}, meta


def probe_points(d):
    return np.random.default_rng(0).standard_normal((8, d))


def check(path, expected, recomputed):
    scale = max(1e-300, float(np.abs(expected).max()))
    err = float(np.abs(np.asarray(expected) - recomputed).max()) / scale
    if not err <= 1e-9:
        raise ExportError(f"{path}: exported arrays do not reproduce scikit-learn's decisions (relative error {err:.3e})")


def export(path, fake_label):
    m = load_estimator(path)
    name = type(m).__name__
    exporters = {"LogisticRegression": export_linear, "KNeighborsClassifier": export_knn, "OneClassSVM": export_svm}
    if name not in exporters:
        raise ExportError(f"{path}: holds a {type(m).__module__}.{name}; expected LogisticRegression, "
                          "KNeighborsClassifier or OneClassSVM")
    if not hasattr(m, "n_features_in_"):
        raise ExportError(f"{path}: the {name} is not fitted")
    kind, dim, tensors, meta = exporters[name](m, path, fake_label)
    import sklearn
    meta.update({"format": FORMAT, "version": VERSION, "kind": kind, "dimension": str(dim),
                 "source": f"scikit-learn {sklearn.__version__} {name}", "fake_label": str(fake_label)})
    return tensors, meta


def safetensors_bytes(tensors, meta):
    """A safetensors file with a deterministic header (metadata and tensors in sorted order),
    so that re-running an export rewrites identical bytes (safetensors' own writer does not)."""
    import json
    dtypes = {np.dtype(np.float64): "F64", np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}
    header, blobs, offset = {"__metadata__": dict(sorted(meta.items()))}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        if a.dtype not in dtypes:
            raise ExportError(f"internal: tensor {name} has unsupported dtype {a.dtype}")
        b = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dtypes[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return len(h).to_bytes(8, "little") + h + b"".join(blobs)


def write_atomic(tensors, meta, output):
    folder = os.path.dirname(os.path.abspath(output))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".export-", suffix=".tmp")
    os.close(fd)
    try:
        with open(tmp, "wb") as f:
            f.write(safetensors_bytes(tensors, meta))
        os.chmod(tmp, 0o644)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("input", help="joblib/pickle file with one fitted estimator")
    p.add_argument("--output", required=True, help="CoDEKit classifier file to write (.safetensors)")
    p.add_argument("--fake-label", default="1", help="class value meaning fake (default 1)")
    a = p.parse_args(argv)
    try:
        tensors, meta = export(a.input, a.fake_label)
        write_atomic(tensors, meta, a.output)
    except ExportError as e:
        print(f"export_sklearn: {e}", file=sys.stderr)
        return 2
    print(f"wrote {a.output}: {meta['kind']} classifier, {meta['dimension']}-d ({meta['source']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
