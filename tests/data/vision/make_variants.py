#!/usr/bin/env python3
"""Regenerates the small image variants used by tests/vision/ from dog.jpg.

Run from anywhere: python3 tests/data/vision/make_variants.py
Needs python3-pil (Debian) only to read the JPEG and write the JPEG variants;
PNGs are written by the minimal encoder below so that colour type, bit depth,
interlacing and tRNS are exactly what the tests expect.

Outputs (all decode, by design, to known RGB8 values):
  ../dog_192x144.png   dog.jpg box-downscaled 4x: compared with a 1/4 DCT decode
  v_rgb8.png ...       a 32x24 crop with <= 256 colours ("base") in every PNG
                       colour type; RGB variants decode to base exactly, gray
                       ones to gray(base) replicated (1-bit: 0/255)
  v_gray.jpg v_cmyk.jpg v_prog.jpg   JPEG colour spaces and progressive coding
"""
import os
import struct
import zlib

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.dirname(HERE)


def chunk(kind, body):
    c = struct.pack(">I", len(body)) + kind + body
    return c + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
         (0, 1, 1, 2)]


def pack_row(samples, depth):
    """samples: list of ints (already per channel); returns bytes of one row."""
    if depth == 8:
        return bytes(samples)
    if depth == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    out, acc, n = bytearray(), 0, 0
    for s in samples:
        acc = (acc << depth) | s
        n += depth
        if n == 8:
            out.append(acc)
            acc, n = 0, 0
    if n:
        out.append(acc << (8 - n))
    return bytes(out)


def write_png(path, w, h, ctype, depth, pixels, plte=None, trns=None, interlace=False):
    """pixels[y][x] is a tuple of channel samples."""
    def raw(xs, ys):
        data = bytearray()
        for y in ys:
            samples = [s for x in xs for s in pixels[y][x]]
            data += b"\x00" + pack_row(samples, depth)  # filter type 0
        return bytes(data)

    if interlace:
        idat = b""
        for x0, y0, dx, dy in ADAM7:
            xs, ys = range(x0, w, dx), range(y0, h, dy)
            if len(xs) and len(ys):
                idat += raw(xs, ys)
    else:
        idat = raw(range(w), range(h))
    png = b"\x89PNG\r\n\x1a\n"
    png += chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 1 if interlace else 0))
    if plte:
        png += chunk(b"PLTE", b"".join(bytes(c) for c in plte))
    if trns is not None:
        png += chunk(b"tRNS", trns)
    png += chunk(b"IDAT", zlib.compress(idat, 9))
    png += chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def main():
    dog = Image.open(os.path.join(DATA, "dog.jpg")).convert("RGB")
    small = dog.resize((192, 144), Image.BOX)
    write_png(os.path.join(DATA, "dog_192x144.png"), 192, 144, 2, 8,
              [[small.getpixel((x, y)) for x in range(192)] for y in range(144)])

    # 32x24 crop around the dog's head, reduced to <= 256 colours.
    crop = dog.crop((136, 200, 168, 224))
    q = crop.quantize(256)
    pal = q.getpalette()[: 3 * 256]
    pal_rgb = [tuple(pal[3 * i: 3 * i + 3]) for i in range(len(pal) // 3)]
    w, h = crop.size
    idx = [[q.getpixel((x, y)) for x in range(w)] for y in range(h)]
    base = [[pal_rgb[idx[y][x]] for x in range(w)] for y in range(h)]
    alpha = [[(17 * x + 5 * y) & 255 for x in range(w)] for y in range(h)]
    gray = [[(r * 299 + g * 587 + b * 114) // 1000 for (r, g, b) in row] for row in base]
    V = lambda name: os.path.join(HERE, name)

    write_png(V("v_rgb8.png"), w, h, 2, 8, base)
    write_png(V("v_rgb8_adam7.png"), w, h, 2, 8, base, interlace=True)
    write_png(V("v_rgb8_trns.png"), w, h, 2, 8, base, trns=struct.pack(">HHH", *base[0][0]))
    write_png(V("v_rgb16.png"), w, h, 2, 16, [[tuple(257 * c for c in p) for p in row] for row in base])
    write_png(V("v_rgba8.png"), w, h, 6, 8,
              [[base[y][x] + (alpha[y][x],) for x in range(w)] for y in range(h)])
    write_png(V("v_rgba16.png"), w, h, 6, 16,
              [[tuple(257 * c for c in base[y][x] + (alpha[y][x],)) for x in range(w)]
               for y in range(h)], interlace=True)
    used = max(max(r) for r in idx) + 1
    write_png(V("v_pal8.png"), w, h, 3, 8, [[(i,) for i in row] for row in idx], plte=pal_rgb[:used])
    write_png(V("v_pal8_trns.png"), w, h, 3, 8, [[(i,) for i in row] for row in idx],
              plte=pal_rgb[:used], trns=bytes((7 * i) & 255 for i in range(used)))
    write_png(V("v_gray8.png"), w, h, 0, 8, [[(g,) for g in row] for row in gray])
    write_png(V("v_gray16.png"), w, h, 0, 16, [[(257 * g,) for g in row] for row in gray])
    write_png(V("v_graya8.png"), w, h, 4, 8,
              [[(gray[y][x], alpha[y][x]) for x in range(w)] for y in range(h)])
    write_png(V("v_gray1.png"), w, h, 0, 1, [[(1 if g > 127 else 0,) for g in row] for row in gray])

    # JPEG variants of a 96x72 crop.
    jc = dog.crop((120, 180, 216, 252))
    jc.convert("L").save(V("v_gray.jpg"), quality=95)
    jc.convert("CMYK").save(V("v_cmyk.jpg"), quality=95)
    jc.save(V("v_prog.jpg"), quality=90, progressive=True)
    jc.save(V("v_base.jpg"), quality=95, subsampling=0)


if __name__ == "__main__":
    main()
