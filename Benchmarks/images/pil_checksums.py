#!/usr/bin/env python3
"""PIL side of the decoder parity check on real files.

  find /work/shared/data/photos -name '*.jpg' | sort > paths.txt
  .build/release/code-bench-images --checksums < paths.txt > swift.txt
  /work/venv/bin/python Benchmarks/images/pil_checksums.py < paths.txt > pil.txt
  diff swift.txt pil.txt            # no output: every file decodes to PIL's convert("RGB") pixels

Checksum of the RGB bytes x_i: A = sum(x_i) mod M, B = sum over i of (x_0 + ... + x_i) mod M,
M = 4294967291, printed as (B << 32) | A (exact integer arithmetic in uint64).
"""
import sys

import numpy as np
from PIL import Image

M = np.uint64(4294967291)
for line in sys.stdin:
    p = line.strip()
    try:
        im = Image.open(p).convert("RGB")
        prefix = np.cumsum(np.asarray(im, dtype=np.uint64).ravel(), dtype=np.uint64)
        a = int(prefix[-1] % M)
        b = int(np.sum(prefix % M, dtype=np.uint64) % M)
        print(p, im.size[0], im.size[1], (b << 32) | a)
    except Exception as e:  # noqa: BLE001 - reported per file, like the Swift side
        print(p, "ERROR", e)
