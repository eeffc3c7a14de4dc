#!/usr/bin/env python3
"""Writes the hand-made regression inputs of Fuzz/corpus/ (inputs found by reading the code, not by
the fuzzer). Run from the repository root: python3 Fuzz/make_regressions.py. Each file is also read
by a unit test (Tests/CoDEImageTests/HostileInputTests.swift, suite "Fuzzer regressions")."""
import os

BLOCK = 512


def header(name: bytes, size: int, typeflag: bytes) -> bytes:
    h = bytearray(BLOCK)
    h[0:len(name)] = name
    h[100:108] = b"0000644\0"
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    h[124:136] = b"%011o\0" % size
    h[136:148] = b"00000000000\0"
    h[156:157] = typeflag
    h[257:263] = b"ustar\0"
    h[263:265] = b"00"
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def padded(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % BLOCK)


def record(key: str, value: str) -> bytes:
    body = f" {key}={value}\n".encode()
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n += 1
    return str(n).encode() + body


# A pax header whose second record claims a 19-digit length (Int.max): `i + len` overflowed in
# TarArchive.pax before the bounds check (a trap); it must be "malformed pax record".
pax = record("path", "a/long/member/name.jpg") + b"9223372036854775807 size=1\n"
tar = header(b"PaxHeader/x", len(pax), b"x") + padded(pax)
tar += header(b"x.jpg", 4, b"0") + padded(b"data") + b"\0" * (2 * BLOCK)
os.makedirs("Fuzz/corpus/FuzzTar", exist_ok=True)
with open("Fuzz/corpus/FuzzTar/pax_length_overflow.tar", "wb") as f:
    f.write(tar)
