#!/usr/bin/python3
"""Do the committed reference cases test anything? A case (model.onnx +
test_data_set_N/{input,output}_K.pb) only catches a broken layer if its
outputs depend on its input: with seeded weights or saturated outputs they
can move by 1e-7 between two different pictures, and then a wrong early
layer still passes at 1e-4. For each case this gives `glint check` the
model with ANOTHER input (the next data set's, else the same input flipped
upside down, or reversed when it is not an image) and the original expected
outputs: glint check must fail, and the distance it reports (relative L2 of
the outputs) must be at least FACTOR times the tolerance the case is checked
with. Each case's sensitivity is printed.

usage: sensitivity.py GLINT_BINARY TOLERANCE FACTOR CASE_OR_FOLDER... [--known-weak NAME...]
  TOLERANCE  the rel-L2 bound the case is checked with (1e-4 for the models)
A case named after --known-weak is expected to fail this check (it is
reported and counted as known, not as a failure): a case of that list that
becomes sensitive fails, so the list stays exact.
"""
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

SANITIZER = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                       r"SUMMARY: UndefinedBehaviorSanitizer")


def varint(b, i):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return v, i


def enc(n):
    out = b""
    while True:
        c, n = n & 0x7F, n >> 7
        if not n:
            return out + bytes([c])
        out += bytes([c | 0x80])


def fields(b):
    """[(field number, wire type, raw bytes of the whole field, value)]"""
    out, i = [], 0
    while i < len(b):
        start = i
        key, i = varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 2:
            n, i = varint(b, i)
            v = b[i:i + n]
            i += n
        elif wt == 1:
            v = b[i:i + 8]
            i += 8
        elif wt == 5:
            v = b[i:i + 4]
            i += 4
        else:
            raise ValueError("wire type %d" % wt)
        out.append((f, wt, b[start:i], v))
    return out


def tensor(path):
    """(dims, data_type, float values or None) of a TensorProto file."""
    dims, dtype, vals = [], 1, None
    for f, wt, _, v in fields(open(path, "rb").read()):
        if f == 1:
            if wt == 0:
                dims.append(v)
            else:
                j = 0
                while j < len(v):
                    d, j = varint(v, j)
                    dims.append(d)
        elif f == 2:
            dtype = v
        elif f == 9 and dtype == 1:
            vals = list(struct.unpack("<%df" % (len(v) // 4), v))
        elif f == 4 and wt == 2:
            vals = list(struct.unpack("<%df" % (len(v) // 4), v))
    return dims, dtype, vals


def with_values(path, out, vals):
    """Writes path's TensorProto to out with its float data replaced."""
    b = b""
    for f, wt, raw, v in fields(open(path, "rb").read()):
        if f in (4, 9):
            continue
        b += raw
    data = struct.pack("<%df" % len(vals), *vals)
    open(out, "wb").write(b + enc(9 << 3 | 2) + enc(len(data)) + data)


def other_input(dims, vals):
    """Another input of the same shape and statistics: a picture (N, C, H, W)
    upside down, anything else reversed."""
    if len(dims) == 4 and dims[2] > 1:
        n, c, h, w = dims
        out = []
        for img in range(n * c):
            rows = [vals[(img * h + y) * w:(img * h + y + 1) * w] for y in range(h)]
            for r in reversed(rows):
                out += r
        return out
    return vals[::-1]


def rel_l2(a, b):
    num = sum((x - y) ** 2 for x, y in zip(a, b))
    den = sum(y * y for y in b) or 1.0
    return math.sqrt(num / den)


def cases_in(path):
    if os.path.isfile(os.path.join(path, "model.onnx")):
        return [path]
    return sorted(os.path.join(path, d) for d in os.listdir(path)
                  if os.path.isfile(os.path.join(path, d, "model.onnx"))
                  and os.path.isdir(os.path.join(path, d, "test_data_set_0")))


def main():
    args = sys.argv[1:]
    known = set()
    if "--known-weak" in args:
        k = args.index("--known-weak")
        known = set(args[k + 1:])
        args = args[:k]
    glint, tol, factor = args[0], float(args[1]), float(args[2])
    cases = [os.path.abspath(c) for p in args[3:] for c in cases_in(p)]
    tmp = tempfile.mkdtemp(prefix="glint-sensitivity-")
    fails = passes = 0
    try:
        for case in cases:
            name = os.path.basename(case)
            d = os.path.join(tmp, name)
            ds = os.path.join(d, "test_data_set_0")
            os.makedirs(ds)
            for f in os.listdir(case):
                if not f.startswith("test_data_set"):
                    os.symlink(os.path.join(case, f), os.path.join(d, f))
            src0 = os.path.join(case, "test_data_set_0")
            src1 = os.path.join(case, "test_data_set_1")
            how = "flipped input"
            changed = 0
            for f in sorted(os.listdir(src0)):
                p = os.path.join(src0, f)
                if f.startswith("output_"):
                    os.symlink(p, os.path.join(ds, f))
                    continue
                if os.path.exists(os.path.join(src1, f)) and tensor(os.path.join(src1, f))[0] == tensor(p)[0]:
                    shutil.copy(os.path.join(src1, f), os.path.join(ds, f))
                    how = "test_data_set_1's input"
                    changed += 1
                    continue
                dims, dtype, vals = tensor(p)
                if dtype != 1 or not vals:
                    os.symlink(p, os.path.join(ds, f))
                    continue
                with_values(p, os.path.join(ds, f), other_input(dims, vals))
                changed += 1
            if not changed:
                print("skip %s: no float input to change" % name)
                continue
            # the smallest bound glint check takes: it reports the distance
            r = subprocess.run([glint, "check", "-v", "--rel-l2", "1e-12", d],
                               capture_output=True, text=True, timeout=600)
            out = r.stdout + r.stderr
            if SANITIZER.search(out):
                print(out[-4000:])
            if re.search(r"^SKIP ", out, re.M):
                print("skip %s: glint check skips it (%s)" % (name, out.strip().splitlines()[0]))
                continue
            m = re.findall(r"relative L2 error ([0-9.eE+-]+)", out)
            dist = float(m[0]) if m else 0.0  # first failing output; PASS: below 1e-12
            if re.search(r"shape differs from the expected one", out):
                dist = math.inf  # outputs of run-time shapes (detections) changed their count
            sensitive = dist >= tol * factor
            what = "%s: with %s the outputs move by rel L2 %.3g (checked at %g; needs >= %g)" % (
                name, how, dist, tol, tol * factor)
            if name in known:
                if sensitive:
                    fails += 1
                    print("FAIL %s; listed --known-weak: take it out" % what)
                else:
                    print("known-weak " + what)
                continue
            if sensitive:
                passes += 1
                print("ok   " + what)
            else:
                fails += 1
                print("FAIL " + what)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passes, fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
