"""The status page (GET /status) in a real browser: headless Chromium
(Debian's chromium) loads it from glint serve under load, runs its script
(it reads /health every second) and the DOM it leaves is checked against
/metrics: the numbers are there, they agree, they move; a screenshot is
taken; the page needs nothing but glint. Standard library only.

With a third argument `streams` (a glint built with camera streams): the
page's Cameras table instead, for two streams (one playing, one broken).

usage: test_status_page.py GLINT SRC [streams]"""
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
from cli_harness import Serve, Tally  # noqa: E402

GLINT, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
T = Tally()
IMG = open(os.path.join(SRC, "tests", "data", "shapes", "shapes_00.png"), "rb").read()
CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--virtual-time-budget=3000"]


def get(s, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
    c.request(method, path, body, {"Content-Type": "image/png"} if body else {})
    r = c.getresponse()
    return r.status, r.read().decode(errors="replace")


def images_metric(s):
    text = get(s, "GET", "/metrics")[1]
    m = re.search(r'^glint_inference_count_total\{model="red_disc"\} (\d+)', text, re.M)
    return int(m.group(1)) if m else -1


def dom(s, tmp):
    """(the page's DOM after its script ran, /metrics' image count before and after)."""
    before = images_metric(s)
    p = subprocess.run(CHROMIUM + ["--user-data-dir=" + os.path.join(tmp, "profile"),
                                   "--dump-dom", "http://127.0.0.1:%d/status" % s.port],
                       capture_output=True, text=True, timeout=120)
    return p.stdout, before, images_metric(s)


def cell(html, row, cls):
    m = re.search(r'<tr id="%s">.*?<td class="%s[^"]*"[^>]*>([^<]*)</td>' % (row, cls), html, re.S)
    return m.group(1) if m else None


def main():
    tmp = tempfile.mkdtemp(prefix="glint-status-")
    if len(sys.argv) > 3 and sys.argv[3] == "streams":  # serve/status-page-streams
        cameras(tmp)
        subprocess.run(["rm", "-rf", tmp])
        T.finish()
    models = os.path.join(SRC, "models")
    with Serve(GLINT, tmp, "--models", models, "--model", "red_disc", "--model", "shapes",
               "--cache-mb", "0") as s:
        T.check("serve ready", s.port > 0, s.log())
        st, page = get(s, "GET", "/status")
        T.check("GET /status: an HTML page", st == 200 and page.startswith("<!doctype html>"))
        T.check("self-contained: no external script, style or image",
                not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', page))
        get(s, "POST", "/v1/models/nope/classify", IMG)  # an error to show
        stop = threading.Event()

        def load():
            end = time.time() + 60
            while not stop.is_set() and time.time() < end:
                get(s, "POST", "/v1/models/red_disc/classify", IMG)
        th = threading.Thread(target=load)
        th.start()
        try:
            time.sleep(1)
            html1, b1, a1 = dom(s, tmp)
            n1 = cell(html1, "m-red_disc", "images")
            T.check("the page shows red_disc's images (%s) within /metrics' count taken before "
                    "and after (%d..%d)" % (n1, b1, a1),
                    n1 is not None and n1.isdigit() and b1 <= int(n1) <= a1)
            T.check("queue depth, precision and latency quantiles are filled in",
                    (cell(html1, "m-red_disc", "queue") or "").isdigit()
                    and cell(html1, "m-red_disc", "l precision") in ("f32", "int8", "bf16")
                    and re.match(r"[0-9.]+$", cell(html1, "m-red_disc", "p50") or "")
                    and re.match(r"[0-9.]+$", cell(html1, "m-red_disc", "p99") or ""),
                    [cell(html1, "m-red_disc", c) for c in ("queue", "l precision", "p50")])
            T.check("recent errors list the 404", "/v1/models/nope/classify" in html1
                    and "404" in html1)
            time.sleep(1.5)
            html2, b2, a2 = dom(s, tmp)
            n2 = cell(html2, "m-red_disc", "images")
            T.check("the numbers move under load (%s -> %s)" % (n1, n2),
                    n1 and n2 and n2.isdigit() and int(n2) > int(n1) and b2 <= int(n2) <= a2)
            stop.set()
            th.join()
            html3, b3, a3 = dom(s, tmp)
            n3 = cell(html3, "m-red_disc", "images")
            T.check("load stopped: the page's count is /metrics' exactly (%s, %d)" % (n3, a3),
                    n3 is not None and n3.isdigit() and b3 == a3 == int(n3))
            shot = os.path.join(tmp, "status.png")
            subprocess.run(CHROMIUM + ["--user-data-dir=" + os.path.join(tmp, "profile"),
                                       "--window-size=1280,900", "--screenshot=" + shot,
                                       "http://127.0.0.1:%d/status" % s.port],
                           capture_output=True, timeout=120)
            ok = os.path.exists(shot) and open(shot, "rb").read(8) == b"\x89PNG\r\n\x1a\n" \
                and os.path.getsize(shot) > 20000
            T.check("a screenshot under load (%d bytes)" % (os.path.getsize(shot)
                                                            if os.path.exists(shot) else 0), ok)
        finally:
            stop.set()
            th.join()
    subprocess.run(["rm", "-rf", tmp])
    T.finish()


def cameras(tmp):
    """A glint with camera streams (built with them): the page's Cameras table, a
    row per stream with its state, counts from /v1/streams and its last frame."""
    sys.path.insert(0, os.path.join(SRC, "tests", "streams"))
    import clips  # noqa: E402 (ffmpeg makes the clip)
    clip = clips.disc_then_none(tmp)
    conf = os.path.join(tmp, "streams.yaml")
    with open(conf, "w") as f:
        f.write("streams:\n  - {id: door, url: 'file://%s', model: red_disc, fps: 5}\n"
                "  - {id: gone, url: 'file://%s/none.mkv', model: red_disc, "
                "reconnect_max_s: 1}\n" % (clip, tmp))
    d = os.path.join(tmp, "cams")
    os.makedirs(d)
    with Serve(GLINT, d, "--models", os.path.join(SRC, "models"), "--model", "red_disc",
               "--streams", conf, "--state-dir", os.path.join(d, "state")) as s:
        T.check("serve ready with two streams", s.port > 0, s.log())
        time.sleep(2)
        html, _, _ = dom(s, tmp)
        row = re.search(r'<tr id="c-door">(.*?)</tr>', html, re.S)
        row = row.group(1) if row else ""
        analysed = re.search(r'<td class="analysed">(\d+)</td>', row)
        st, j = get(s, "GET", "/v1/streams/door")
        now = json.loads(j)["frames"]["analysed"] if st == 200 else -1
        T.check("Cameras: the playing stream's row, its analysed count (%s) at most /v1/streams' "
                "now (%d)" % (analysed.group(1) if analysed else None, now),
                "playing" in row and analysed and 0 < int(analysed.group(1)) <= now, row[:400])
        img = re.search(r'<img class="thumb"[^>]*src="(/v1/streams/door/latest\.jpg\?n=\d+)"'
                        r'[^>]*data-w="(\d+)"|<img class="thumb"[^>]*data-w="(\d+)"[^>]*'
                        r'src="(/v1/streams/door/latest\.jpg\?n=\d+)"', row)
        T.check("Cameras: its last analysed frame loaded in the browser (latest.jpg, %s px "
                "wide: the 640x480 frame fitted in red_disc's 128x128)"
                % ((img.group(2) or img.group(3)) if img else None),
                img and int(img.group(2) or img.group(3)) == 128, row[:600])
        gone = re.search(r'<tr id="c-gone">(.*?)</tr>', html, re.S)
        T.check("Cameras: a stream whose file is missing shows its state and why",
                gone and "ok" not in gone.group(1).split("</td>")[2] and
                "none.mkv" in gone.group(1), gone.group(1)[:400] if gone else html[-800:])


main()
