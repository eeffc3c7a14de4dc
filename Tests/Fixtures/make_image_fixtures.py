#!/usr/bin/env python3
"""Image decoding / preprocessing parity fixtures for Tests/CoDEImageTests.

Run with: /work/venv/bin/python Tests/Fixtures/make_image_fixtures.py
Pinned versions (the ones this was run with): Python 3.11, numpy 1.26.4, pillow 13.0.0
(libjpeg-turbo API 6.2 as reported by PIL.features, zlib 1.2.13), torch 2.15.0,
torchvision 0.29.2, safetensors 0.8.0.

Writes, deterministically (fixed seeds, no timestamps):
  images/<name>.<ext>            small test images (odd sizes, every colour mode the tests cover)
  images/bad/<name>              truncated / corrupt variants for the error tests
  images/reference.safetensors   for each image <name>:
      <name>.rgb   uint8 [H, W, 3]   PIL Image.open(f).convert("RGB")  (the decoder's parity target)
      <name>.crop  uint8 [S, S, 3]   torchvision CenterCrop(S) of that RGB image (S in metadata)
      <name>.tensor float32 [3, S, S] CenterCrop(S) + ToTensor() + Normalize(ImageNet) (some images)
      <name>.five  float32 [5, 3, F, F] FiveCrop(F) + ToTensor() + Normalize(ImageNet) (FIVE_CROP images;
                                      F in metadata "<name>.five_size"; crops in torchvision's order)
    plus  lut.tensor float32 [3, 256]  ToTensor+Normalize of a 1x256 image whose pixel i is (i, i, i)
    metadata: "<name>.crop_size" -> S, "<name>.file" -> file name
"""
import io
import json
import os
import struct
import tarfile
import zlib

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image
from safetensors.numpy import load_file
from torchvision import transforms as T

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "images")
BAD = os.path.join(OUT, "bad")
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def content(h, w, seed, channels=3, noise=12.0):
    """Smooth gradients plus noise: realistic for JPEG, not constant, compressible for PNG."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    base = []
    for c in range(channels):
        fx, fy, ph = rng.uniform(0.01, 0.08), rng.uniform(0.01, 0.08), rng.uniform(0, 6.28)
        base.append(127.5 + 110 * np.sin(fx * x + ph) * np.cos(fy * y - ph))
    a = np.stack(base, axis=-1) + rng.normal(0, noise, size=(h, w, channels))
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def raw_png(array, color_type, bit_depth):
    """Minimal PNG writer (filter 0, no interlace) for what PIL cannot save, e.g. 16-bit RGB."""
    h, w = array.shape[:2]
    if bit_depth == 16:
        rows = array.astype(">u2").reshape(h, -1).view(np.uint8)
    else:
        rows = array.reshape(h, -1)
    raw = b"".join(b"\x00" + rows[r].tobytes() for r in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b"")


def make_images():
    """name -> (file bytes, crop size, write full tensor?)"""
    imgs = {}

    def save(name, im, fmt, crop, tensor=False, **kw):
        buf = io.BytesIO()
        im.save(buf, fmt, **kw)
        imgs[name] = (buf.getvalue(), crop, tensor)

    rgb = lambda h, w, s, noise=12.0: Image.fromarray(content(h, w, s, noise=noise), "RGB")
    # JPEG: subsampling 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0 (PIL's encoder); quality 90, ISLOW.
    save("jpeg_444_260x241.jpg", rgb(241, 260, 1), "JPEG", 129, quality=90, subsampling=0)
    save("jpeg_422_101x67.jpg", rgb(67, 101, 2), "JPEG", 48, tensor=True, quality=85, subsampling=1)
    save("jpeg_420_223x225.jpg", rgb(225, 223, 3), "JPEG", 224, quality=75, subsampling=2)
    save("jpeg_420_odd_45x31.jpg", rgb(31, 45, 4), "JPEG", 64, tensor=True, quality=92, subsampling=2)
    save("jpeg_progressive_97x61.jpg", rgb(61, 97, 5), "JPEG", 60, quality=80, progressive=True)
    save("jpeg_gray_51x37.jpg", Image.fromarray(content(37, 51, 6, 1)[..., 0], "L"), "JPEG", 40, quality=90)
    cmyk = Image.fromarray(content(49, 65, 7, 4), "CMYK")
    save("jpeg_cmyk_65x49.jpg", cmyk, "JPEG", 50, tensor=True, quality=90)
    save("jpeg_1x1.jpg", rgb(1, 1, 8), "JPEG", 3, quality=90)
    # PNG
    save("png_rgb_227x229.png", rgb(229, 227, 9, noise=1.5), "PNG", 224)
    save("png_rgba_101x67.png", Image.fromarray(content(67, 101, 10, 4), "RGBA"), "PNG", 70, tensor=True)
    save("png_l_57x43.png", Image.fromarray(content(43, 57, 11, 1)[..., 0], "L"), "PNG", 50)
    save("png_la_37x51.png", Image.fromarray(content(51, 37, 12, 2), "LA"), "PNG", 40)
    pal = Image.fromarray(content(33, 45, 13), "RGB").quantize(colors=16, method=Image.Quantize.MEDIANCUT)
    save("png_p_trns_45x33.png", pal, "PNG", 40, tensor=True, transparency=bytes([0, 128] + [255] * 14))
    save("png_1bit_29x19.png", Image.fromarray(content(19, 29, 14, 1)[..., 0] > 127).convert("1"), "PNG", 24)
    save("png_1x1.png", rgb(1, 1, 15), "PNG", 2)
    # 16-bit PNGs through the raw writer (PIL cannot save 16-bit RGB).
    rng = np.random.default_rng(16)
    imgs["png_rgb16_33x21.png"] = (raw_png(rng.integers(0, 65536, (21, 33, 3)), 2, 16), 24, False)
    imgs["png_rgba16_23x17.png"] = (raw_png(rng.integers(0, 65536, (17, 23, 4)), 6, 16), 20, False)
    g16 = np.concatenate([rng.integers(0, 300, (9, 31)), rng.integers(0, 65536, (10, 31))]).astype(np.int64)
    imgs["png_gray16_31x19.png"] = (raw_png(g16, 0, 16), 16, False)
    imgs["png_la16_13x11.png"] = (raw_png(rng.integers(0, 65536, (11, 13, 2)), 4, 16), 12, False)
    # WebP: lossy RGB, lossless RGBA (alpha dropped by convert("RGB")).
    save("webp_lossy_83x61.webp", rgb(61, 83, 17), "WEBP", 64, tensor=True, quality=80)
    save("webp_lossless_rgba_41x29.webp", Image.fromarray(content(29, 41, 18, 4), "RGBA"), "WEBP", 32, lossless=True)
    frames = [Image.fromarray(content(23, 37, 40 + k), "RGB") for k in range(3)]
    save("webp_animated_37x23.webp", frames[0], "WEBP", 20, save_all=True, append_images=frames[1:], quality=80)
    frames = [Image.fromarray(content(19, 27, 45 + k, 4), "RGBA") for k in range(2)]
    save("webp_animated_rgba_27x19.webp", frames[0], "WEBP", 16, save_all=True, append_images=frames[1:], lossless=True)
    # GIF: palette (PIL writes interlaced by default), gray, transparency; and a first frame
    # smaller than the logical screen at an offset (header bytes patched below).
    gif_p = Image.fromarray(content(37, 53, 19), "RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    save("gif_p_53x37.gif", gif_p, "GIF", 48, tensor=True)
    save("gif_gray_31x23.gif", Image.fromarray(content(23, 31, 20, 1)[..., 0], "L"), "GIF", 24)
    save("gif_trns_29x21.gif", Image.fromarray(content(21, 29, 21), "RGB").quantize(colors=8), "GIF", 20, transparency=3)
    buf = io.BytesIO()
    Image.fromarray(content(20, 30, 22), "RGB").quantize(colors=16).save(buf, "GIF", transparency=5, interlace=False)
    imgs["gif_offset_40x30.gif"] = (gif_with_offset(buf.getvalue(), (40, 30), (7, 4)), 32, False)
    # Pixel indices past a shrunken global colour table (PIL shows them black).
    buf = io.BytesIO()
    Image.fromarray(content(6, 8, 36), "RGB").quantize(colors=16).save(buf, "GIF", interlace=False)
    b = buf.getvalue()
    table = 3 << ((b[10] & 7) + 1)
    imgs["gif_small_table_8x6.gif"] = (b[:10] + bytes([(b[10] & ~7) | 1]) + b[11:25] + b[13 + table:], 4, False)
    # TIFF: raw RGB, LZW, deflate, gray, bilevel, palette, RGBA, JPEG-in-TIFF (YCbCr).
    save("tiff_rgb_raw_45x33.tif", rgb(33, 45, 23), "TIFF", 40, tensor=True)
    save("tiff_rgb_lzw_37x29.tif", rgb(29, 37, 24), "TIFF", 32, compression="tiff_lzw")
    save("tiff_rgb_deflate_23x19.tif", rgb(19, 23, 25), "TIFF", 16, compression="tiff_adobe_deflate")
    save("tiff_l_31x17.tif", Image.fromarray(content(17, 31, 26, 1)[..., 0], "L"), "TIFF", 20, compression="tiff_lzw")
    save("tiff_1bit_27x13.tif", Image.fromarray(content(13, 27, 27, 1)[..., 0] > 127).convert("1"), "TIFF", 20)
    save("tiff_p_29x19.tif", Image.fromarray(content(19, 29, 28), "RGB").quantize(colors=32), "TIFF", 24)
    save("tiff_rgba_21x15.tif", Image.fromarray(content(15, 21, 29, 4), "RGBA"), "TIFF", 16, compression="tiff_lzw")
    save("tiff_jpeg_48x32.tif", rgb(32, 48, 30), "TIFF", 40, compression="jpeg", quality=90)
    # BMP: PIL's writer (24-bit, 8-bit gray, 8-bit palette, 1-bit) and a raw writer for 4-bit,
    # 16-bit 5-5-5, 16-bit 5-6-5 bit fields, 32-bit BGRA bit fields and top-down rows.
    save("bmp_rgb_51x37.bmp", rgb(37, 51, 31), "BMP", 48, tensor=True)
    save("bmp_l_33x21.bmp", Image.fromarray(content(21, 33, 32, 1)[..., 0], "L"), "BMP", 24)
    save("bmp_p_29x23.bmp", Image.fromarray(content(23, 29, 33), "RGB").quantize(colors=64), "BMP", 24)
    save("bmp_1bit_35x19.bmp", Image.fromarray(content(19, 35, 34, 1)[..., 0] > 127).convert("1"), "BMP", 20)
    rng = np.random.default_rng(35)
    imgs["bmp_4bit_27x15.bmp"] = (raw_bmp(rng.integers(0, 16, (15, 27)), 4, palette=rng.integers(0, 256, (16, 3))), 16, False)
    imgs["bmp_555_19x13.bmp"] = (raw_bmp(rng.integers(0, 1 << 15, (13, 19)), 16), 12, False)
    imgs["bmp_565_17x11.bmp"] = (raw_bmp(rng.integers(0, 1 << 16, (11, 17)), 16, masks=(0xF800, 0x7E0, 0x1F)), 12, False)
    imgs["bmp_bgra_15x9.bmp"] = (raw_bmp(rng.integers(0, 1 << 32, (9, 15)), 32, masks=(0xFF0000, 0xFF00, 0xFF, 0xFF000000)), 8, False)
    imgs["bmp_topdown_13x7.bmp"] = (raw_bmp(rng.integers(0, 1 << 24, (7, 13)), 24, top_down=True), 8, False)
    return imgs


def gif_with_offset(gif, screen, offset):
    """Enlarges the logical screen and moves the first image descriptor (PIL renders the result)."""
    b = bytearray(gif)
    b[6:10] = struct.pack("<HH", *screen)
    pos = 13 + (3 << ((b[10] & 7) + 1) if b[10] & 0x80 else 0)
    while b[pos] == 0x21:  # skip extension blocks
        pos += 2
        while b[pos]:
            pos += b[pos] + 1
        pos += 1
    assert b[pos] == 0x2C
    b[pos + 1:pos + 5] = struct.pack("<HH", *offset)
    return bytes(b)


def raw_bmp(values, bits, palette=None, masks=None, top_down=False):
    """Minimal BMP writer (BITMAPINFOHEADER, or V4 header when masks include alpha)."""
    h, w = values.shape
    stride = ((w * bits + 31) >> 3) & ~3
    rows = []
    for y in (range(h) if top_down else range(h - 1, -1, -1)):
        if bits == 4:
            v = values[y].astype(np.uint8)
            v = np.concatenate([v, np.zeros(len(v) % 2, np.uint8)])
            row = ((v[0::2] << 4) | v[1::2]).tobytes()
        elif bits == 24:
            row = values[y].astype("<u4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
        else:
            row = values[y].astype("<u2" if bits == 16 else "<u4").tobytes()
        rows.append(row + b"\0" * (stride - len(row)))
    header_size = 108 if masks is not None and len(masks) == 4 else 40
    compression = 3 if masks is not None else 0
    extra = b""
    if masks is not None and header_size == 40:
        extra = struct.pack("<III", *masks)
    pal = b""
    if palette is not None:
        pal = b"".join(struct.pack("BBBB", int(c[2]), int(c[1]), int(c[0]), 0) for c in palette)
    info = struct.pack("<IiiHHIIiiII", header_size, w, -h if top_down else h, 1, bits, compression, stride * h, 2835, 2835,
                       len(palette) if palette is not None else 0, 0)
    if header_size == 108:
        info += struct.pack("<IIII", *masks) + b"BGRs" + bytes(36) + bytes(12)
    offset = 14 + len(info) + len(extra) + len(pal)
    pixels = b"".join(rows)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + extra + pal + pixels


def bad_files(imgs):
    j = imgs["jpeg_420_223x225.jpg"][0]
    p = imgs["png_l_57x43.png"][0]
    bad = {
        "jpeg_truncated.jpg": j[: len(j) // 2],
        "jpeg_header_only.jpg": j[:300],
        "jpeg_corrupt_marker.jpg": j[:2] + b"\xff\x01" + j[4:],  # invalid marker right after SOI
        "png_truncated.png": p[: len(p) // 2],
        "png_bad_crc.png": p[:29] + bytes([p[29] ^ 0xFF]) + p[30:],  # IHDR CRC byte flipped
        "png_bad_idat.png": p[:60] + bytes(40) + p[100:],  # zeros in compressed data
        "unknown.bin": b"\x00\x01\x02\x03not an image at all",
        "empty.jpg": b"",
        "webp_truncated.webp": imgs["webp_lossy_83x61.webp"][0][:200],
        "gif_truncated.gif": imgs["gif_p_53x37.gif"][0][:400],
        "tiff_truncated.tif": imgs["tiff_rgb_lzw_37x29.tif"][0][:300],
        "bmp_truncated.bmp": imgs["bmp_rgb_51x37.bmp"][0][:1000],
    }
    # Junk bytes between two header markers: libjpeg warns "Corrupt JPEG data: 4 extraneous bytes
    # before marker"; PIL decodes the image anyway (its reference pixels are written below).
    small = imgs["jpeg_420_odd_45x31.jpg"][0]
    sof = small.find(b"\xff\xc0")
    bad["jpeg_extraneous.jpg"] = small[:sof] + b"\x01\x02\x03\x04" + small[sof:]
    # A PNG whose IHDR claims 100000x100000: must be rejected before any allocation.
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    bad["png_huge.png"] = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + png_chunk(b"IEND", b"")
    # A JPEG whose SOF claims 60000x60000 (SOF0 at a known offset of PIL's output).
    sof = j.find(b"\xff\xc0")
    bad["jpeg_huge.jpg"] = j[: sof + 5] + struct.pack(">HH", 60000, 60000) + j[sof + 9 :]
    return bad


def save_sorted(tensors, path, metadata):
    """safetensors with a byte-stable header (sorted keys): save_file orders metadata by hash."""
    dtypes = {np.dtype(np.uint8): "U8", np.dtype(np.float32): "F32"}
    header, blobs, offset = {"__metadata__": dict(sorted(metadata.items()))}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtypes[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":"), sort_keys=False).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    back = load_file(path)  # the official reader must accept it and give the same arrays
    assert sorted(back) == sorted(tensors) and all(np.array_equal(back[k], tensors[k]) for k in tensors)


def make_tars():
    """WebDataset shards in the D3 layout plus malformed variants; listing.json is Python
    tarfile's view of each good shard (member name, data offset, size): the reader's reference."""
    tdir = os.path.join(OUT, "tar")
    os.makedirs(tdir, exist_ok=True)

    def jpeg(seed, w=12, h=10):
        buf = io.BytesIO()
        Image.fromarray(content(h, w, seed), "RGB").save(buf, "JPEG", quality=90)
        return buf.getvalue()

    def add(tf, name, data, mtime=1700000000):
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode, info.uname, info.gname = len(data), mtime, 0o444, "u", "g"
        tf.addfile(info, io.BytesIO(data))

    members = []
    for r, key in enumerate(["rec_a", "rec_b", "rec_c"]):
        members.append((f"{key}.real.jpg", jpeg(100 + r)))
        for g in range(4 if key != "rec_c" else 0):
            members.append((f"{key}.gen_{g}.jpg", jpeg(200 + 10 * r + g)))
        members.append((f"{key}.caption.txt", f"caption of {key}".encode()))
    members[3] = (members[3][0], b"\xff\xd8\xff not really a jpeg")  # rec_a.gen_2.jpg is corrupt
    long_key = "sub/" + "k" * 120  # > 100 bytes: pax (PAX_FORMAT) or GNU 'L' (GNU_FORMAT) header
    members += [(f"{long_key}.real.jpg", jpeg(300)), (f"{long_key}.gen_0.jpg", jpeg(301))]
    listing = {}
    for fmt_name, fmt in [("d3_pax.tar", tarfile.PAX_FORMAT), ("d3_gnu.tar", tarfile.GNU_FORMAT)]:
        path = os.path.join(tdir, fmt_name)
        with tarfile.open(path, "w", format=fmt) as tf:
            dinfo = tarfile.TarInfo("sub")
            dinfo.type, dinfo.mtime, dinfo.mode = tarfile.DIRTYPE, 1700000000, 0o755
            tf.addfile(dinfo)
            for name, data in members:
                add(tf, name, data)
        with tarfile.open(path) as tf:
            listing[fmt_name] = [[m.name, m.offset_data, m.size] for m in tf.getmembers() if m.isfile()]
    good = open(os.path.join(tdir, "d3_pax.tar"), "rb").read()
    bad = bytearray(good)
    bad[512 + 10] ^= 0x20  # a byte of the second header's name: checksum mismatch
    open(os.path.join(tdir, "bad_checksum.tar"), "wb").write(bytes(bad))
    open(os.path.join(tdir, "truncated.tar"), "wb").write(good[:1800])
    bad = bytearray(good)
    bad[124:136] = b"00000000x12\0"  # size field of the first header not octal
    chk = sum(bad[:148]) + 8 * 32 + sum(bad[156:512])
    bad[148:156] = b"%06o\0 " % chk
    open(os.path.join(tdir, "bad_size.tar"), "wb").write(bytes(bad))
    with open(os.path.join(tdir, "listing.json"), "w") as f:
        json.dump(listing, f, indent=1, sort_keys=True)


def torchvision_ref(rgb_image, size):
    crop = T.CenterCrop(size)(rgb_image)
    tensor = T.Compose([T.ToTensor(), T.Normalize(MEAN, STD)])(crop)
    return np.asarray(crop, dtype=np.uint8), tensor.numpy().astype(np.float32)


# FiveCrop fixtures: (image, crop size) with both sides >= size (torchvision rejects smaller images);
# odd margins exercise the centre crop's round-half-to-even offsets.
FIVE_CROP = {"jpeg_444_260x241.jpg": 61, "png_rgb_227x229.png": 64, "jpeg_420_odd_45x31.jpg": 16,
             "png_rgba_101x67.png": 64, "jpeg_gray_51x37.jpg": 36}


def five_crop_ref(rgb_image, size):
    norm = T.Compose([T.ToTensor(), T.Normalize(MEAN, STD)])
    return np.stack([norm(c).numpy().astype(np.float32) for c in T.FiveCrop(size)(rgb_image)])


def main():
    os.makedirs(BAD, exist_ok=True)
    imgs = make_images()
    tensors, meta = {}, {"pillow": PIL.__version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
                         "numpy": np.__version__}
    for name, (data, crop_size, want_tensor) in sorted(imgs.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        im = Image.open(io.BytesIO(data))
        meta[f"{name}.mode"] = im.mode
        rgb = im.convert("RGB")
        tensors[f"{name}.rgb"] = np.asarray(rgb, dtype=np.uint8).copy()
        crop, tensor = torchvision_ref(rgb, crop_size)
        tensors[f"{name}.crop"] = crop.copy()
        if want_tensor:
            tensors[f"{name}.tensor"] = tensor.copy()
        meta[f"{name}.crop_size"] = str(crop_size)
        if name in FIVE_CROP:
            tensors[f"{name}.five"] = five_crop_ref(rgb, FIVE_CROP[name])
            meta[f"{name}.five_size"] = str(FIVE_CROP[name])
    lut = Image.fromarray(np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2), "RGB")
    tensors["lut.tensor"] = T.Compose([T.ToTensor(), T.Normalize(MEAN, STD)])(lut).numpy()[:, 0, :].copy()
    assert all(n in imgs for n in FIVE_CROP), sorted(set(FIVE_CROP) - set(imgs))
    meta["images"] = json.dumps(sorted(imgs))
    # PIL's JPEG encoder on a decoded PNG at two qualities: ImageEncoder.jpeg must match byte for byte.
    src = Image.open(os.path.join(OUT, "png_rgb_227x229.png")).convert("RGB")
    for q in (40, 75, 95):
        src.save(os.path.join(OUT, f"pil_encoded_q{q}.jpg"), "JPEG", quality=q)
    for name, data in sorted(bad_files(imgs).items()):
        with open(os.path.join(BAD, name), "wb") as f:
            f.write(data)
    make_tars()
    lenient = Image.open(os.path.join(BAD, "jpeg_extraneous.jpg")).convert("RGB")
    tensors["bad/jpeg_extraneous.jpg.rgb"] = np.asarray(lenient, dtype=np.uint8).copy()
    save_sorted(tensors, os.path.join(OUT, "reference.safetensors"), meta)
    for k in sorted(meta):
        if k.endswith(".mode"):
            print(k, meta[k])


if __name__ == "__main__":
    main()
