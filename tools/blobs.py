#!/usr/bin/env python3
"""Writes a test picture for `weft label`: random disks, rings and a spiral,
black on white, as an 8-bit greyscale PNG (standard library only).

    tools/blobs.py OUT.png [WIDTH HEIGHT SEED]
"""
import math
import random
import struct
import sys
import zlib


def png(path, w, h, rows):
    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(r) for r in rows)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def main():
    out = sys.argv[1]
    w, h, seed = (int(v) for v in (sys.argv[2:5] or ["512", "384", "7"]))
    rng = random.Random(seed)
    ink = [[False] * w for _ in range(h)]
    shapes = []
    for _ in range(60):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        r = rng.uniform(4, 28)
        hole = rng.random() < 0.3
        shapes.append((cx, cy, r, r * 0.55 if hole else 0.0))
    for y in range(h):
        for x in range(w):
            for cx, cy, r, inner in shapes:
                d = math.hypot(x - cx, y - cy)
                if inner <= d <= r:
                    ink[y][x] = True
                    break
    # A spiral arm: one long, thin component.
    for t in range(4000):
        a = t / 4000 * 6 * math.pi
        rr = 8 + a * 9
        x, y = int(w * 0.75 + rr * math.cos(a)), int(h * 0.5 + rr * math.sin(a))
        for dx in (0, 1):
            if 0 <= x + dx < w and 0 <= y < h:
                ink[y][x + dx] = True
    png(out, w, h, [[0 if v else 255 for v in row] for row in ink])


main()
