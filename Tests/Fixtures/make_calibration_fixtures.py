#!/usr/bin/env python3
"""Fixtures for Tests/CoDEClassifiersTests/ThresholdCalibrationTests.swift (run from the repository root):

    .venv/bin/python Tests/Fixtures/make_calibration_fixtures.py      (or make fixtures)

Writes Tests/Fixtures/calibration/reference.json. Each case holds real-image scores (numpy's
default_rng, stored in full precision, some of them tied), a target false-positive rate, and the
reference results:
  - linear (fake when score > t): t = the smallest real score with at most floor(alpha n) real
    scores above it, computed with numpy (sort and count);
  - svm (fake when score <= t): the count of real scores at or below the (floor(alpha n) + 1)-th
    smallest one's predecessor (numpy.nextafter towards -inf);
  - the 95 % Wilson interval of the achieved rate from scipy.stats.binomtest(...).proportion_ci(method="wilson").
The scipy and numpy versions used are recorded in the file. Running it again rewrites an identical file.
"""
import json
import math
import os

import numpy as np
import scipy
from scipy.stats import binomtest


def case(seed, n, alpha, ties):
    rng = np.random.default_rng(seed)
    s = rng.normal(size=n)
    if ties:
        s = np.round(s, 1)  # many equal scores
    s = [float(x) for x in s]
    srt = np.sort(np.array(s))
    allowed = math.floor(alpha * n)
    t_lin = float(srt[n - allowed - 1])
    fp_lin = int(np.sum(np.array(s) > t_lin))
    t_svm = float(np.nextafter(srt[allowed], -np.inf))
    fp_svm = int(np.sum(np.array(s) <= t_svm))
    # Numbers as repr strings: exact round trips whatever the reader's JSON number parsing.
    out = {"seed": seed, "alpha": repr(alpha), "scores": [repr(x) for x in s],
           "linear": {"threshold": repr(t_lin), "false_positives": fp_lin},
           "svm": {"threshold": repr(t_svm), "false_positives": fp_svm}}
    for k in ("linear", "svm"):
        ci = binomtest(out[k]["false_positives"], n).proportion_ci(confidence_level=0.95, method="wilson")
        out[k]["wilson"] = [repr(float(ci.low)), repr(float(ci.high))]
    return out


def main():
    cases = [case(1, 200, 0.05, False), case(2, 37, 0.1, False), case(3, 500, 0.01, True), case(4, 9, 0.3, True),
             case(5, 1000, 0.05, True)]
    doc = {"numpy": np.__version__, "scipy": scipy.__version__, "cases": cases}
    path = os.path.join("Tests", "Fixtures", "calibration", "reference.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
