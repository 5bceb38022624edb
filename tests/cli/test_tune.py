"""glint tune on the trained red_disc classifier, in a scratch repository:
the search serves and measures candidates within its budget and writes what
it measured (tune.json, report.html); a model whose shipped settings miss the
SLA (a 300 ms batch delay) gets a winner that meets it, written into its
model.yaml by --write, and `glint serve` then runs with those settings;
bad options are refused. Timing figures are not asserted (the machine is
shared): only what must hold whatever the speed.

usage: test_tune.py GLINT SRC"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__))))
from cli_harness import Serve, Tally  # noqa: E402

GLINT, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
T = Tally()
IMAGE = os.path.join(SRC, "tests", "data", "horses.jpg")
tmp = tempfile.mkdtemp(prefix="glint-tune-")
repo = os.path.join(tmp, "models")
shutil.copytree(os.path.join(SRC, "models", "red_disc"), os.path.join(repo, "red_disc"))


def tune(*args, out):
    t0 = time.time()
    p = subprocess.run([GLINT, "tune", "--models", repo, "--model", "red_disc", "--image", IMAGE,
                        "--out", out, "--concurrency", "1,2", "--window-ms", "250", *args],
                       capture_output=True, text=True, timeout=600)
    return p, time.time() - t0


# ---- a search from the shipped settings ----
out = os.path.join(tmp, "run1")
p, secs = tune("--budget", "25s", out=out)
T.check("tune exits 0", p.returncode == 0, p.stdout + p.stderr)
T.check("it prints the table and a verdict",
        "configuration" in p.stdout and re.search(r"^(winner: |the shipped defaults are already best)",
                                                   p.stdout, re.M), p.stdout)
j = json.load(open(os.path.join(out, "tune.json")))
tr = j["trials"]
T.check("several configurations tried, the defaults first",
        len(tr) >= 3 and tr[0]["defaults"] and not any(t["defaults"] for t in tr[1:]), tr)
keys = [(t["precision"], t["instances"], t["threads"], t["max_batch"],
         t["max_queue_delay_us"] if t["max_batch"] > 1 else 0) for t in tr]
T.check("no configuration measured twice", len(set(keys)) == len(keys), keys)
T.check("every instances x threads fills the 2 CPUs or fewer",
        all(t["instances"] * t["threads"] <= max(2, os.cpu_count()) for t in tr), keys)
ok = True
for t in tr:
    meets = [pt["rps"] for pt in t["points"] if pt["meets_sla"]]
    ok &= (t["score_rps"] is None) == (not meets) and (not meets or t["score_rps"] == max(meets))
    ok &= all(pt["meets_sla"] == (pt["p99_ms"] < 150 and pt["error_pct"] < 1)
              for pt in t["points"])
T.check("a score is the most req/s of the levels that meet the SLA", ok, tr)
w = j["winner"]
T.check("the winner has the best score",
        w >= 0 and all(t["score_rps"] is None or t["score_rps"] <= tr[w]["score_rps"] * 1.0001
                       or w == 0 for t in tr), (w, [t["score_rps"] for t in tr]))
T.check("the search keeps to its budget (plus the re-measurement)", secs < 25 + 60, secs)
html = open(os.path.join(out, "report.html")).read()
T.check("report.html: the front as an inline SVG, every configuration in the table",
        "<svg" in html and all(t["label"].replace("&", "&amp;") in html for t in tr)
        and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', ""), html[:300])
T.check("precisions tried are those whose reports pass (red_disc: all three)",
        {t["precision"] for t in tr} == {"f32", "int8", "bf16"}, keys)

# ---- shipped settings that miss the SLA: a winner, written by --write ----
ypath = os.path.join(repo, "red_disc", "model.yaml")
with open(ypath, "a") as f:
    f.write("max_batch: 8\nmax_queue_delay_us: 300000\n")
before = yaml.safe_load(open(ypath))
out2 = os.path.join(tmp, "run2")
p, secs = tune("--budget", "40s", "--sla", "p99<100ms", "--write", out=out2)
j = json.load(open(os.path.join(out2, "tune.json")))
tr = j["trials"]
T.check("the slow defaults miss the SLA", tr and tr[0]["defaults"] and tr[0]["score_rps"] is None
        and tr[0]["max_queue_delay_us"] == 300000, tr[:1])
T.check("a winner that meets it", p.returncode == 0 and j["winner"] > 0
        and tr[j["winner"]]["score_rps"] is not None, p.stdout + p.stderr)
after = yaml.safe_load(open(ypath))
win = tr[j["winner"]]
T.check("--write: model.yaml holds the winner's settings",
        after.get("max_batch") == win["max_batch"] and after.get("instances") == win["instances"]
        and after.get("threads") == win["threads"] and after.get("precision") == win["precision"],
        (after, win))
T.check("--write keeps the rest of model.yaml",
        all(after.get(k) == v for k, v in before.items()
            if k not in ("max_batch", "max_queue_delay_us", "precision", "instances", "threads")),
        (before, after))
text = open(ypath).read()
T.check("--write leaves a comment saying where the settings came from", "# glint tune:" in text)
T.check("--write sets each setting once",
        all(len(re.findall(r"^%s:" % k, text, re.M)) == 1 for k in
            ("max_batch", "max_queue_delay_us", "precision", "instances", "threads")), text)
with Serve(GLINT, tmp, "--models", repo, "--model", "red_disc") as s:
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
    c.request("GET", "/v2/models/red_disc/config")
    cfg = json.loads(c.getresponse().read())
T.check("glint serve runs the written settings",
        cfg["instance_group"][0]["count"] == win["instances"]
        and cfg["parameters"]["threads"] == win["threads"]
        and cfg["parameters"]["precision"] == win["precision"], cfg)

# ---- bad options ----
for args, what in [(["--model", "red_disc"], "--image"),
                   (["--model", "nope", "--image", IMAGE], "no model"),
                   (["--model", "red_disc", "--image", IMAGE, "--budget", "soon"], "--budget"),
                   (["--model", "red_disc", "--image", IMAGE, "--sla", "p99<<"], "--sla"),
                   (["--model", "red_disc", "--image", "/nonexistent"], "--image")]:
    p = subprocess.run([GLINT, "tune", "--models", repo, *args], capture_output=True, text=True,
                       timeout=60)
    T.check("refused: %s" % what, p.returncode == 1 and what in p.stderr, p.stderr)
T.finish()
