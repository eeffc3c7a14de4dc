"""A JPEG whose entropy data is corrupt past the centre crop (issue 22 item 6).

images/bad/jpeg_tail_extraneous.jpg: a 480x480 baseline JPEG (Pillow, quality 75) with 1295 junk
bytes inserted before its EOI marker. libjpeg decodes every row and then warns "Corrupt JPEG
data: 1295 extraneous bytes before marker 0xd9" when it reaches the end of the file: the 224x224
centre crop (rows 128-351) lies entirely before the junk, so a crop-region decode that stopped
after the crop would never see it. Needs only Pillow (pinned in requirements.txt):

    python3 Tests/Fixtures/make_jpeg_tail_fixture.py
"""
import io
import os
import random

from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "images", "bad")


def main():
    rng = random.Random(22)
    w = h = 480
    pixels = bytearray()
    for y in range(h):
        for x in range(w):
            pixels += bytes(((x * 255) // w, (y * 255) // h, (128 + rng.randrange(-20, 21)) & 0xFF))
    buf = io.BytesIO()
    Image.frombytes("RGB", (w, h), bytes(pixels)).save(buf, "JPEG", quality=75)
    data = buf.getvalue()
    assert data.endswith(b"\xff\xd9")
    junk = bytes([0x11]) * 1295  # no 0xFF: libjpeg skips it as "extraneous bytes" before the marker
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "jpeg_tail_extraneous.jpg"), "wb") as f:
        f.write(data[:-2] + junk + b"\xff\xd9")


if __name__ == "__main__":
    main()
