#!/usr/bin/env python3
"""Build the real-vs-generated training corpus from fetched git mirrors (issue 23, items 1-3).

Reads tools/corpus/sources.csv (one row per source or sub-path: repo, commit, path_glob, label,
generator, licence, group_rule, split_role, filter, tiles) and the bare git mirrors under --mirrors
(``<mirrors>/<owner>+<name>/repo``, as the search tool's ``fetch`` leaves them), and writes to OUT:

  real/*.jpg, fake/<generator>/*.jpg    every kept image, processed by ONE rule for both labels
  {train,val,heldout}/{real,fake/<generator>}/*.jpg   the same files, hard-linked per split
                                        (regular files, so CoDEKit's folder datasets list them)
  manifest.csv      path,split,label,generator,source,group,licence   (code-train/code-eval read
                    it as ``OUT/manifest.csv#train`` etc.)
  provenance.csv    origin repo@commit:path, source/pixel/output sha256, formats and sizes
  dropped.csv       every candidate that was not kept, with the reason
  sha256.txt        sorted ``sha256  relative-path`` of every file above (the reproducibility check)

Processing rule (same for real and fake): decode with Pillow (first frame), apply the EXIF
orientation, composite any alpha on white, convert to RGB; skip if the shorter side < 256;
centre-crop to a square (side = the shorter side); resize (Lanczos) to exactly 384x384;
encode baseline JPEG, 4:2:0, no EXIF/ICC, at a quality drawn uniformly from 70..95 seeded by the
SHA-256 of the processed pixels. Deduplication (across all sources, first in source-list order
wins): exact decoded pixels, then perceptual hash (imagehash.phash, Hamming <= 4). Optionally,
images within pHash distance 4 of any image under --exclude-like (e.g. ../shared/data/photos) are
dropped too, so that no evaluation image leaks in.

Split by group, never by image: rows with split_role=heldout go to ``heldout`` whole; for the
other rows, per (label, generator) stratum, groups (source, group) are ordered by SHA-256 of
"source/group" and taken into ``val`` until it holds >= 15% of that stratum's images; the rest is
``train``. A stratum with a single group therefore lands in ``val`` whole.

Contact sheets (the cheat-sheet repositories' 2x2 grids of 512-px images) are cut into their
tiles first (column ``tiles`` = "2x2"); the tiles of one sheet share its group.

Deterministic: inputs sorted, no timestamps, seeded draws only; the same mirrors and the pinned
packages of tools/corpus/requirements.txt give the same bytes.
"""
import argparse
import csv
import fnmatch
import hashlib
import io
import os
import re
import subprocess
import sys
from multiprocessing import Pool

import imagehash
import numpy as np
from PIL import Image, ImageOps

IMAGE_EXT = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
MIN_SHORT = 256
OUT_SIDE = 384
Q_LO, Q_HI = 70, 95
PHASH_MAX = 4
VAL_FRACTION = 0.15
SPLITS = ("train", "val", "heldout")


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def git(gitdir, *args):
    return subprocess.run(["git", "--git-dir", gitdir, *args], check=True, capture_output=True).stdout


class BlobReader:
    """Reads blobs with one long-lived ``git cat-file --batch``."""

    def __init__(self, gitdir):
        self.p = subprocess.Popen(["git", "--git-dir", gitdir, "cat-file", "--batch"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def read(self, sha):
        self.p.stdin.write(sha.encode() + b"\n")
        self.p.stdin.flush()
        header = self.p.stdout.readline().split()
        if len(header) < 3 or header[1] != b"blob":
            return None  # absent from the snapshot (the fetch tool leaves out files >= 4 MiB)
        size = int(header[2])
        data = self.p.stdout.read(size)
        self.p.stdout.read(1)
        return data

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def passes_filter(rule, path):
    name = os.path.basename(path)
    if not rule:
        return True
    if rule == "toplevel":  # the glob's '*' must not cross a folder boundary
        return True
    if rule == "no_inpaint":  # inpainting demos keep most of a real photo: neither label fits
        return "inpaint" not in name.lower()
    if rule == "pixabay_pre_ai":
        # Pixabay names "<words>-<id>_1280.jpg"; ids >= 7,000,000 date from late 2022 on, when
        # Pixabay began to host AI-generated images, so they are left out. iStock images (Getty
        # does not accept generative-AI submissions) are kept; other names are left out.
        m = re.fullmatch(r"[a-z-]+-(\d+)_1280\.jpg", name)
        if m:
            return int(m.group(1)) < 7_000_000
        return name.startswith("istockphoto-")
    raise SystemExit(f"unknown filter {rule!r}")


def group_of(rule, path):
    name = os.path.basename(path)
    stem = os.path.splitext(name)[0]
    if rule == "file":
        return stem
    if rule == "folder":
        return os.path.dirname(path)
    if rule == "camera":  # drewnoakes: "<Make> <Model>[ (n)].jpg" -> make
        return stem.split(" ")[0].lower()
    if rule == "pixabay_bucket":  # consecutive Pixabay ids are often one upload session / shoot
        m = re.search(r"-(\d+)(_1280)?$", stem)
        return f"pixabay{int(m.group(1)) // 20000}" if m and "_1280" in stem else f"istock{stem.split('-')[1][:5]}"
    if rule == "repo":  # one prompt (and seed) for the whole source: one group
        return "all"
    if rule == "dalle_prompt":
        s = re.sub(r"_04062022$", "", stem)
        return re.sub(r"^Model\d_", "", s)
    raise SystemExit(f"unknown group rule {rule!r}")


def list_candidates(rows, mirrors):
    cands = []
    for ri, row in enumerate(rows):
        gitdir = os.path.join(mirrors, row["repo"].replace("/", "+"), "repo")
        if not os.path.isdir(gitdir):
            raise SystemExit(f"missing mirror {gitdir} for {row['repo']} (fetch github:{row['repo']})")
        lines = git(gitdir, "ls-tree", "-r", "-z", row["commit"]).split(b"\0")
        for ln in lines:
            if not ln:
                continue
            meta, path = ln.split(b"\t", 1)
            path = path.decode("utf-8")
            mode, typ, blob = meta.decode().split()
            if typ != "blob" or not path.lower().endswith(IMAGE_EXT):
                continue
            if not fnmatch.fnmatchcase(path, row["path_glob"]):
                continue
            if row["filter"] == "toplevel" and os.path.dirname(path) != os.path.dirname(row["path_glob"]):
                continue
            if not passes_filter(row["filter"], path):
                continue
            cands.append((ri, path, blob, gitdir, row.get("tiles", "")))
    cands.sort(key=lambda c: (c[0], c[1].encode("utf-8")))
    return cands


def decode_rgb(data):
    im = Image.open(io.BytesIO(data))
    fmt = im.format
    im.seek(0)
    im.load()
    im = ImageOps.exif_transpose(im)
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im, dtype=np.float64)
        im = Image.fromarray(np.clip(a / 257.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        im = im.convert("RGBA")
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im)
    return im.convert("RGB"), fmt


def process(rgb):
    # Square centre crop, then Lanczos to OUT_SIDE x OUT_SIDE: every output has the same size, so
    # neither aspect ratio nor size can tell the label (a "long side <= 2:1" crop kept the aspect,
    # and with it the label: square generator output vs 3:2 photos, AUC 0.93 on size alone).
    w, h = rgb.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    im = rgb.crop((left, top, left + side, top + side))
    size = (OUT_SIDE, OUT_SIDE)
    im = im.resize(size, Image.LANCZOS)
    pix = im.tobytes()
    seed = int(sha256(pix)[:16], 16)
    q = Q_LO + seed % (Q_HI - Q_LO + 1)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=q, subsampling=2, optimize=False, progressive=False)
    return buf.getvalue(), q, size


def tiles_of(rgb, spec):
    """Cut a contact-sheet grid ("CxR", e.g. "2x2") into equal tiles, row by row."""
    if not spec:
        return [("", rgb)]
    c, r = (int(v) for v in spec.split("x"))
    w, h = rgb.size
    tw, th = w // c, h // r
    return [(f"#tile{y}{x}", rgb.crop((x * tw, y * th, (x + 1) * tw, (y + 1) * th))) for y in range(r) for x in range(c)]


def work(item):
    ri, path, blob, gitdir, tiles = item
    global _readers
    r = _readers.get(gitdir)
    if r is None:
        r = _readers[gitdir] = BlobReader(gitdir)
    data = r.read(blob)
    if data is None:
        return [{"ri": ri, "path": path, "error": "blob absent from the mirror (file >= 4 MiB not in snapshot)"}]
    base = {"ri": ri, "path": path, "src_sha": sha256(data), "src_bytes": len(data)}
    try:
        whole, fmt = decode_rgb(data)
    except Exception as e:  # undecodable: logged as dropped
        # Object addresses ("<_io.BytesIO object at 0x7f...>") differ between runs: drop them so
        # that dropped.csv, and with it sha256.txt, is the same on every build.
        message = re.sub(r" at 0x[0-9a-f]+", "", f"{type(e).__name__}: {e}".replace("\n", " "))
        return [dict(base, error=f"decode: {message}")]
    outs = []
    for suffix, rgb in tiles_of(whole, tiles):
        out = dict(base, path=path + suffix, fmt=fmt, src_size=rgb.size)
        out["pix_sha"] = sha256(rgb.tobytes() + f"{rgb.size}".encode())
        if min(rgb.size) < MIN_SHORT:
            out["error"] = f"too small: {rgb.size[0]}x{rgb.size[1]} (shorter side < {MIN_SHORT})"
            outs.append(out)
            continue
        out["phash"] = int(str(imagehash.phash(rgb)), 16)
        jpg, q, size = process(rgb)
        out.update(jpg=jpg, q=q, out_size=size)
        outs.append(out)
    return outs


_readers = {}


def popcount64(x):
    x = x.astype(np.uint64)
    b = x.view(np.uint8).reshape(-1, 8)
    return np.unpackbits(b, axis=1).sum(axis=1)


def phashes_under(root):
    hs = []
    for dp, dns, fns in os.walk(root):
        dns.sort()
        for fn in sorted(fns):
            if fn.lower().endswith(IMAGE_EXT):
                try:
                    rgb, _ = decode_rgb(open(os.path.join(dp, fn), "rb").read())
                    hs.append(int(str(imagehash.phash(rgb)), 16))
                except Exception:
                    pass
    return np.array(hs, dtype=np.uint64)


def slug(s):
    return re.sub(r"[^A-Za-z0-9]+", "-", s).strip("-").lower()


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sources", default=os.path.join(os.path.dirname(__file__), "corpus", "sources.csv"))
    ap.add_argument("--mirrors", required=True, help="folder of <owner>+<name>/repo bare git mirrors")
    ap.add_argument("--out", required=True, help="output folder (must not exist)")
    ap.add_argument("--exclude-like", action="append", default=[],
                    help="folder of images; candidates within pHash distance 4 of any are dropped")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    if os.path.exists(a.out):
        raise SystemExit(f"{a.out} exists; choose a new folder")
    with open(a.sources, newline="") as f:
        rows = list(csv.DictReader(f))
    cands = list_candidates(rows, a.mirrors)
    print(f"{len(cands)} candidate files from {len(rows)} source rows", file=sys.stderr)

    excl = np.concatenate([phashes_under(d) for d in a.exclude_like]) if a.exclude_like else np.zeros(0, np.uint64)
    if a.exclude_like:
        print(f"{len(excl)} exclusion hashes", file=sys.stderr)

    os.makedirs(a.out)
    kept, dropped = [], []
    seen_pix = {}
    kept_hash = np.zeros(0, dtype=np.uint64)
    kept_hash_owner = []
    with Pool(a.jobs) as pool:
        results = (r for rs in pool.imap(work, cands, chunksize=4) for r in rs)
        for n, r in enumerate(results):
            row = rows[r["ri"]]
            origin = f"{row['repo']}@{row['commit']}:{r['path']}"
            if n % 500 == 0:
                print(f"  {n} images", file=sys.stderr)
            if "error" in r:
                dropped.append((origin, r["error"]))
                continue
            if r["pix_sha"] in seen_pix:
                dropped.append((origin, f"same pixels as {seen_pix[r['pix_sha']]}"))
                continue
            h = np.uint64(r["phash"])
            if len(excl):
                d = popcount64(excl ^ h)
                if d.min() <= PHASH_MAX:
                    dropped.append((origin, f"pHash distance {int(d.min())} to an --exclude-like image"))
                    continue
            if len(kept_hash):
                d = popcount64(kept_hash ^ h)
                i = int(d.argmin())
                if d[i] <= PHASH_MAX:
                    dropped.append((origin, f"pHash distance {int(d[i])} to {kept_hash_owner[i]}"))
                    continue
            seen_pix[r["pix_sha"]] = origin
            kept_hash = np.append(kept_hash, h)
            kept_hash_owner.append(origin)
            r["origin"] = origin
            r["row"] = row
            r.pop("phash")
            kept.append(r)

    # groups and splits
    strata = {}
    for r in kept:
        row = r["row"]
        r["source"] = row["repo"]
        r["group"] = group_of(row["group_rule"], r["path"].split("#")[0])
        if row["split_role"] == "heldout":
            r["split"] = "heldout"
        else:
            strata.setdefault((row["label"], row["generator"]), []).append(r)
    for key in sorted(strata):
        items = strata[key]
        groups = {}
        for r in items:
            groups.setdefault((r["source"], r["group"]), []).append(r)
        order = sorted(groups, key=lambda g: sha256(f"{g[0]}/{g[1]}".encode()))
        nval, target = 0, VAL_FRACTION * len(items)
        for g in order:
            split = "val" if nval < target else "train"
            if split == "val":
                nval += len(groups[g])
            for r in groups[g]:
                r["split"] = split

    # write files
    names = set()
    man, prov = [], []
    for r in kept:
        row = r["row"]
        label = row["label"]
        tag = slug(row["repo"].split("/")[1])[:24]
        name = f"{tag}_{r['pix_sha'][:16]}.jpg"
        assert name not in names
        names.add(name)
        rel = f"real/{name}" if label == "real" else f"fake/{row['generator']}/{name}"
        dest = os.path.join(a.out, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        write_atomic(dest, r["jpg"])
        link = os.path.join(a.out, r["split"], rel)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.link(dest, link)
        man.append([rel, r["split"], label, row["generator"], row["repo"], r["group"], row["licence"]])
        prov.append([rel, r["origin"], r["src_sha"], r["pix_sha"], sha256(r["jpg"]), r["fmt"],
                     f"{r['src_size'][0]}x{r['src_size'][1]}", r["src_bytes"],
                     f"{r['out_size'][0]}x{r['out_size'][1]}", len(r["jpg"]), r["q"]])

    def write_csv(name, header, body):
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        w.writerows(body)
        write_atomic(os.path.join(a.out, name), buf.getvalue().encode())

    order = sorted(range(len(man)), key=lambda i: man[i][0].encode())
    write_csv("manifest.csv", ["path", "split", "label", "generator", "source", "group", "licence"], [man[i] for i in order])
    write_csv("provenance.csv", ["path", "origin", "source_sha256", "source_pixel_sha256", "output_sha256",
                                 "source_format", "source_size", "source_bytes", "output_size", "output_bytes",
                                 "jpeg_quality"], [prov[i] for i in order])
    write_csv("dropped.csv", ["origin", "reason"], sorted(dropped))

    lines = []
    for dp, dns, fns in os.walk(a.out):
        for fn in fns:
            p = os.path.join(dp, fn)
            rel = os.path.relpath(p, a.out)
            if rel == "sha256.txt":
                continue
            lines.append(f"{sha256(open(p, 'rb').read())}  {rel}")
    lines.sort(key=lambda s: s.split("  ", 1)[1].encode())
    write_atomic(os.path.join(a.out, "sha256.txt"), ("\n".join(lines) + "\n").encode())

    # summary
    counts = {}
    for m in man:
        k = (m[4], m[2], m[3])
        counts.setdefault(k, {s: 0 for s in SPLITS})[m[1]] += 1
    print("source,label,generator,train,val,heldout")
    for k in sorted(counts):
        c = counts[k]
        print(",".join([*k, *(str(c[s]) for s in SPLITS)]))
    reasons = {}
    for _, why in dropped:
        key = why.split(":")[0] if not why.startswith("pHash") else "pHash near-duplicate"
        key = "same pixels" if why.startswith("same pixels") else key
        reasons[key] = reasons.get(key, 0) + 1
    print(f"kept {len(man)}; dropped {len(dropped)}: {reasons}", file=sys.stderr)


if __name__ == "__main__":
    main()
