#!/usr/bin/env python3
"""Reference outputs for CoDEAugment's tests (Tests/Fixtures/augment/*.safetensors).

Run with: /work/venv/bin/python Tests/Fixtures/make_augment_fixtures.py
Pinned versions it was run with: Python 3.11, Pillow 13.0.0, torch 2.15.0, torchvision 0.29.2,
numpy 1.26.4, safetensors 0.8.0. Seeds are fixed; rerunning rewrites identical files.

Every image operation is computed by Pillow / torchvision themselves on small uint8 inputs that
are stored next to the outputs (U8 tensors, shape [H, W, 3]). The AugLy wrappers the CoDE
authors use (rotate-and-crop, opacity, overlay_stripes, pad, pixelization, aspect ratio, scale,
skew) are restated here in a few lines each from AugLy 1.0's source, on top of the same Pillow
calls, because AugLy is not installed in the reference environment.
"""
import io
import math
import os

import numpy as np
import torch
import torchvision
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image, ImageEnhance, ImageFilter
import PIL
from safetensors.numpy import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "augment")
BICUBIC, BILINEAR, LANCZOS = Image.Resampling.BICUBIC, Image.Resampling.BILINEAR, Image.Resampling.LANCZOS


def inputs():
    rng = np.random.default_rng(20240917)
    noise = rng.integers(0, 256, size=(34, 45, 3), dtype=np.uint8)  # "A": worst case for resamplers
    yy, xx = np.mgrid[0:47, 0:61].astype(np.float64)
    smooth = np.stack([128 + 90 * np.sin(xx / 7.0 + c) * np.cos(yy / 9.0 - c) for c in range(3)], axis=-1)
    smooth = np.clip(smooth + rng.normal(0, 12, smooth.shape), 0, 255).astype(np.uint8)  # "B": photo-like
    yy, xx = np.mgrid[0:150, 0:200].astype(np.float64)
    larger = np.stack([128 + 100 * np.sin(xx / 23.0 + 2 * c) * np.cos(yy / 17.0 + c) for c in range(3)], axis=-1)
    larger = np.clip(larger + rng.normal(0, 20, larger.shape), 0, 255).astype(np.uint8)  # "C": 200x150
    return noise, smooth, larger


def arr(img):
    a = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(a)


# --- AugLy 1.0 wrappers restated (see module docstring) -------------------------------------
def rotated_rect_with_max_area(w, h, angle):
    width_is_longer = w >= h
    side_long, side_short = (w, h) if width_is_longer else (h, w)
    sin_a, cos_a = abs(math.sin(math.radians(angle))), abs(math.cos(math.radians(angle)))
    if side_short <= 2.0 * sin_a * cos_a * side_long or abs(sin_a - cos_a) < 1e-10:
        x = 0.5 * side_short
        return (x / sin_a, x / cos_a) if width_is_longer else (x / cos_a, x / sin_a)
    cos_2a = cos_a * cos_a - sin_a * sin_a
    return (w * cos_a - h * sin_a) / cos_2a, (h * cos_a - w * sin_a) / cos_2a


def augly_rotate(img, degrees):
    rot = img.rotate(degrees, expand=True)
    cx, cy = rot.width / 2, rot.height / 2
    wr, hr = rotated_rect_with_max_area(img.width, img.height, degrees)
    return rot.crop((int(cx - wr / 2), int(cy - hr / 2), int(cx + wr / 2), int(cy + hr / 2)))


def augly_opacity(img, level):
    rgba = img.convert("RGBA")
    mask = Image.fromarray((np.array(rgba.getchannel("A")) * level).astype(np.uint8))
    background = Image.new("RGBA", img.size, (255, 255, 255, 0))
    return Image.composite(rgba, background, mask)


def augly_stripes(img, line_width, line_angle=0.0, line_density=0.5):
    w, h = img.size
    angle = line_angle * math.pi / 180
    distance = (1 - line_density) * min(w, h)
    y_period, x_period = math.cos(angle) / distance, math.sin(angle) / distance
    xg, yg = np.meshgrid(np.arange(0, w) - w / 2, np.arange(0, h) - h / 2)
    if angle == 0 or abs(angle) == math.pi:
        soft = (np.cos(2 * math.pi * y_period * yg) + 1) / 2
    else:
        soft = (np.cos(2 * math.pi * (x_period * xg + y_period * yg)) + 1) / 2
    mask = Image.fromarray(np.uint8((soft > (math.cos(math.pi * line_width) + 1) / 2) * 1.0 * 255))
    out = img.copy()
    out.paste(Image.new("RGB", img.size, (255, 255, 255)), (0, 0), mask=mask)
    return out


def augly_pad(img, f):
    w, h = img.size
    l, t = int(f * w), int(f * h)
    out = Image.new("RGB", (w + 2 * l, h + 2 * t), (0, 0, 0))
    out.paste(img, box=(l, t))
    return out


def augly_aspect(img, ratio):
    area = img.width * img.height
    nw = int(math.sqrt(ratio * area))
    return img.resize((nw, int(area / nw)))


def augly_pixelization(img, ratio):
    w, h = img.size
    return img.resize((int(w * ratio), int(h * ratio))).resize((w, h))


def augly_scale(img, factor):
    interp = LANCZOS if factor < 1 else BILINEAR
    return img.resize((int(img.width * factor), int(img.height * factor)), resample=interp)


def augly_skew(img, f):
    w, h = img.size
    return img.transform((w, h), Image.Transform.AFFINE, (1, f, -f * h / 2, 0, 1, 0), resample=BILINEAR)


# --- torchvision ---------------------------------------------------------------------------
def tv_random_crop(img, size, u, v):
    """RandomCrop(size, pad_if_needed=True, fill=0) with the offsets fixed by uniforms u, v."""
    w, h = img.size
    if w < size:
        img = F.pad(img, [size - w, 0], 0, "constant")
    if h < size:
        img = F.pad(img, [0, size - h], 0, "constant")
    w, h = img.size
    i, j = int(u * (h - size + 1)), int(v * (w - size + 1))
    return F.crop(img, i, j, size, size)


def rrc_case(width, height, scale, ratio, seed):
    """Records torchvision get_params draws (float32 uniforms) and its result."""
    img = Image.new("RGB", (width, height))
    torch.manual_seed(seed)
    expected = T.RandomResizedCrop.get_params(img, list(scale), list(ratio))
    # Replay the same generator stream to capture the raw draws get_params consumed.
    torch.manual_seed(seed)
    log_ratio = torch.log(torch.tensor(ratio))
    draws, ints = [], []
    for _ in range(10):
        s = torch.empty(1).uniform_(scale[0], scale[1]).item()
        lr = torch.empty(1).uniform_(log_ratio[0], log_ratio[1])
        ar = torch.exp(lr).item()
        draws.append((s, lr.item()))
        target = width * height * s
        w, h = int(round(math.sqrt(target * ar))), int(round(math.sqrt(target / ar)))
        if 0 < w <= width and 0 < h <= height:
            ints = [torch.randint(0, height - h + 1, size=(1,)).item(), torch.randint(0, width - w + 1, size=(1,)).item()]
            break
    assert (not ints) or tuple(ints) == tuple(expected[:2]), (ints, expected)
    return {
        "config": np.array([width, height, scale[0], scale[1], ratio[0], ratio[1]], dtype=np.float64),
        "draws": np.array(draws, dtype=np.float64),
        "box": np.array(expected, dtype=np.int64),  # (top, left, height, width)
    }


def main():
    a_np, b_np, c_np = inputs()
    A, B, C = Image.fromarray(a_np), Image.fromarray(b_np), Image.fromarray(c_np)
    t = {"input/A": a_np, "input/B": b_np, "input/C": c_np}

    # Pillow resize (reducing_gap=None, the default)
    for name, size, f in [
        ("bicubic_down", (20, 15), BICUBIC), ("bicubic_up", (70, 52), BICUBIC),
        ("bilinear_down", (20, 15), BILINEAR), ("bilinear_up", (70, 52), BILINEAR),
        ("lanczos_down", (20, 15), LANCZOS), ("bicubic_mixed", (60, 20), BICUBIC),
        ("bicubic_vertical", (45, 20), BICUBIC), ("bicubic_strong_down", (7, 5), BICUBIC),
        # Pass order: Pillow 13 resamples columns first when widening while reducing the height.
        ("bicubic_wide_short", (300, 33), BICUBIC), ("bilinear_wide_short", (90, 20), BILINEAR),
        ("bicubic_narrow_tall", (20, 50), BICUBIC), ("bicubic_30x10", (30, 10), BICUBIC),
    ]:
        t[f"resize/{name}"] = arr(A.resize(size, f))
    t["resize/B_bicubic_248"] = arr(B.resize((248, 191), BICUBIC))

    # ImageEnhance, convert("L"), transpose
    for img_name, img in [("A", A), ("B", B)]:
        for f in (0.7, 1.6):
            t[f"brightness/{img_name}_{f}"] = arr(ImageEnhance.Brightness(img).enhance(f))
        for f in (0.5, 1.5):
            t[f"contrast/{img_name}_{f}"] = arr(ImageEnhance.Contrast(img).enhance(f))
            t[f"saturation/{img_name}_{f}"] = arr(ImageEnhance.Color(img).enhance(f))
        for f in (1.6, 2.0):
            t[f"sharpness/{img_name}_{f}"] = arr(ImageEnhance.Sharpness(img).enhance(f))
        for r in (0.7, 1.9):
            t[f"blur/{img_name}_{r}"] = arr(img.filter(ImageFilter.GaussianBlur(r)))
    t["blur/A_6.0"] = arr(A.filter(ImageFilter.GaussianBlur(6.0)))  # radius wider than the image side / 6
    tiny = A.crop((0, 0, 5, 4))
    t["input/tiny"] = arr(tiny)
    t["blur/tiny_8.0"] = arr(tiny.filter(ImageFilter.GaussianBlur(8.0)))  # box radius beyond both sides
    t["sharpness/tiny2x2_2.0"] = arr(A.crop((0, 0, 2, 2)).filter(ImageFilter.SMOOTH))  # smaller than the kernel
    t["grayscale/A"] = arr(A.convert("L").convert("RGB"))
    t["hflip/A"] = arr(A.transpose(Image.Transpose.FLIP_LEFT_RIGHT))

    # Geometry (Pillow rotate / affine) and the AugLy wrappers
    for img_name, img, deg in [("B", B, 100.3), ("A", A, 237.5), ("B", B, 181.0)]:
        t[f"rotate_expand/{img_name}_{deg}"] = arr(img.rotate(deg, expand=True))
        t[f"rotate/{img_name}_{deg}"] = arr(augly_rotate(img, deg))
    t["opacity/A_0.6"] = arr(augly_opacity(A, 0.6))
    t["stripes/A_0.2"] = arr(augly_stripes(A, 0.2))
    t["stripes/B_0.35"] = arr(augly_stripes(B, 0.35))
    t["pad/A_0.1"] = arr(augly_pad(A, 0.1))
    t["aspect/A_1.4"] = arr(augly_aspect(A, 1.4))
    t["aspect/A_0.8"] = arr(augly_aspect(A, 0.8))
    t["pixelization/A_0.45"] = arr(augly_pixelization(A, 0.45))
    t["scale/A_0.7"] = arr(augly_scale(A, 0.7))
    t["scale/A_1.3"] = arr(augly_scale(A, 1.3))
    t["skew/A_0.5"] = arr(augly_skew(A, 0.5))
    t["skew/B_-1.0"] = arr(augly_skew(B, -1.0))
    t["resize_op/A_64"] = arr(A.resize((64, 64), resample=BICUBIC))

    # torchvision
    t["random_crop/A_50_0.3_0.7"] = arr(tv_random_crop(A, 50, 0.3, 0.7))
    t["random_crop/B_40_0.9_0.1"] = arr(tv_random_crop(B, 40, 0.9, 0.1))
    bic = T.InterpolationMode.BICUBIC
    t["final/A_resize40_center36"] = arr(T.CenterCrop(36)(T.Resize(40, interpolation=bic)(A)))
    t["final/B_resize55_center49"] = arr(T.CenterCrop(49)(T.Resize(55, interpolation=bic)(B)))
    t["final/A_center50"] = arr(T.CenterCrop(50)(A))
    t["final/A_square24"] = arr(T.Resize((24, 24), interpolation=bic)(A))
    t["resized_crop/A_3_5_20_31_24"] = arr(F.resized_crop(A, 3, 5, 20, 31, [24, 24], bic))

    # A larger image through the half-size analogue of the training views (124 -> 112 for 248 -> 224).
    t["C/final_resize124_center112"] = arr(T.CenterCrop(112)(T.Resize(124, interpolation=bic)(C)))
    t["C/resized_crop_17_40_96_131_112"] = arr(F.resized_crop(C, 17, 40, 96, 131, [112, 112], bic))
    t["C/blur_1.3"] = arr(C.filter(ImageFilter.GaussianBlur(1.3)))
    t["C/sharpness_1.8"] = arr(ImageEnhance.Sharpness(C).enhance(1.8))
    t["C/skew_0.5"] = arr(augly_skew(C, 0.5))
    t["C/rotate_143.0"] = arr(augly_rotate(C, 143.0))
    t["C/pixelization_0.3"] = arr(augly_pixelization(C, 0.3))
    t["C/scale_0.5"] = arr(augly_scale(C, 0.5))

    rrc = [
        (45, 34, (0.4, 1.0), (3 / 4, 4 / 3), 1), (45, 34, (0.05, 0.4), (3 / 4, 4 / 3), 2),
        (640, 480, (0.4, 1.0), (3 / 4, 4 / 3), 3), (640, 480, (0.05, 0.4), (3 / 4, 4 / 3), 4),
        (300, 40, (0.9, 1.0), (3 / 4, 4 / 3), 5), (20, 200, (0.99, 1.0), (3 / 4, 4 / 3), 6),
        (224, 224, (0.05, 0.4), (3 / 4, 4 / 3), 7), (333, 500, (0.4, 1.0), (3 / 4, 4 / 3), 8),
    ]
    for k, case in enumerate(rrc):
        for key, value in rrc_case(*case).items():
            t[f"rrc/{k}/{key}"] = value

    # One metadata key: safetensors writes metadata in hash order, so several keys would make
    # the file bytes differ between runs.
    meta = {"provenance": f"generator=Tests/Fixtures/make_augment_fixtures.py; pillow={PIL.__version__}; "
                          f"torch={torch.__version__}; torchvision={torchvision.__version__}; numpy={np.__version__}"}
    os.makedirs(OUT, exist_ok=True)
    save_file(t, os.path.join(OUT, "reference.safetensors"), metadata=meta)
    print(f"wrote {len(t)} tensors, {os.path.getsize(os.path.join(OUT, 'reference.safetensors'))} bytes")


if __name__ == "__main__":
    main()
