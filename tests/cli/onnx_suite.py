#!/usr/bin/python3
"""One ONNX backend-test suite through `glint check`, held to a committed list
of the cases glint skips (tests/cli/onnx_skips/SUITE.txt): a case that was
passing and now skips (an operator glint claims turning into "not
supported") fails, and so does a case of the list that no longer skips (the
list must stay exact: take it out). Every other case must pass.

usage: onnx_suite.py GLINT_BINARY SUITE_DIR SKIP_LIST [glint check options...]
"""
import os
import re
import subprocess
import sys

GLINT, SUITE, SKIPS = sys.argv[1:4]
OPTS = sys.argv[4:]
SANITIZER = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                       r"SUMMARY: UndefinedBehaviorSanitizer")

cases = sorted(d for d in os.listdir(SUITE) if os.path.isfile(os.path.join(SUITE, d, "model.onnx")))
want_skip = {l.split()[0] for l in open(SKIPS) if l.strip() and not l.startswith("#")}
p = subprocess.run([GLINT, "check", "-v"] + OPTS + [SUITE], capture_output=True, text=True,
                   timeout=1800)
out = p.stdout + p.stderr
status = {}
for m in re.finditer(r"^(PASS|FAIL|SKIP) (\S+?):?(?: |$)", out, re.M):
    status[m.group(2)] = m.group(1)
fails = []
if SANITIZER.search(out):
    print(out[-6000:])
    fails.append("sanitizer report in glint check's output")
if p.returncode != 0:
    fails.append("glint check exit status %d" % p.returncode)
for c in cases:
    got = status.get(c)
    if got is None:
        fails.append("%s: no verdict from glint check" % c)
    elif got == "FAIL":
        fails.append("%s: fails" % c)
    elif got == "SKIP" and c not in want_skip:
        line = re.search(r"^SKIP %s: (.*)$" % re.escape(c), out, re.M)
        fails.append("%s: skipped, but not in %s (%s)" % (c, SKIPS, line.group(1) if line else ""))
    elif got == "PASS" and c in want_skip:
        fails.append("%s: passes now; take it out of %s" % (c, SKIPS))
for c in sorted(want_skip - set(cases)):
    fails.append("%s: in %s but not in the suite" % (c, SKIPS))
summary = re.search(r"^(\d+) passed, (\d+) failed, (\d+) skipped$", out, re.M)
n_pass = sum(v == "PASS" for v in status.values())
n_skip = sum(v == "SKIP" for v in status.values())
if not summary or (int(summary.group(1)), int(summary.group(3))) != (n_pass, n_skip):
    fails.append("summary line %r disagrees with the verdicts (%d passed, %d skipped)"
                 % (summary.group(0) if summary else None, n_pass, n_skip))
for f in fails:
    print("FAIL " + f)
print("%s: %d cases, %d passed, %d skipped as listed" % (os.path.basename(SUITE), len(cases), n_pass, n_skip))
print("%d passed, %d failed" % (0 if fails else n_pass, len(fails)))
sys.exit(1 if fails else 0)
