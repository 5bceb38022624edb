"""Camera streams in glint serve (docs/streams.md), end to end with real
components on loopback: clips made by Debian's ffmpeg (tests/streams/clips.py),
a real RTSP server (GStreamer's, tests/streams/rtsp_server.py) over TCP and
UDP, with and without credentials, an HTTP MJPEG camera
(tests/streams/mjpeg_server.py), Debian's mosquitto broker and a paho-mqtt
subscriber.

Checks: the right answers arrive on MQTT (red_disc on a clip that shows a
red disc for 3 s then none for 3 s: every answer's label is the one of its
frame), also through a Groundlight edge detector (image queries, stored by
the edge); a region of interest into the shapes detector puts the red disc's
box where it is in the whole frame; the last state is retained; RTSP over TCP and UDP and MJPEG over
HTTP are read; an RTSP camera killed and restarted is reconnected; a still
scene behind the motion gate sends only heartbeats; a 30 fps stream into a
model slower than that drops frames and keeps its lag bounded; a closed port,
wrong credentials, an unsupported codec and a missing file give clear
statuses in /v1/streams and /health; PUT/DELETE /v1/streams; latest.jpg;
/metrics; the broker killed and restarted: answers flow again; webhooks
retried through the durable outbox and delivered after a kill -9; a bad streams
file stops the start with a clear message; SIGTERM with streams playing
exits 0 at once.

Usage: test_streams.py GLINT SOURCE_DIR
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

GLINT, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
sys.path.insert(0, os.path.join(SRC, "tests", "cli"))
sys.path.insert(0, os.path.join(SRC, "tests", "streams"))
from cli_harness import Serve, Tally, free_port, request, wait_for  # noqa: E402
import clips  # noqa: E402
from rtsp_server import RtspServer  # noqa: E402
from mjpeg_server import MjpegServer  # noqa: E402

import paho.mqtt.client as mqtt  # noqa: E402  (Debian's python3-paho-mqtt)

T = Tally()
MOSQUITTO = "/usr/sbin/mosquitto"
DET = "det_2bTqCredDiscBinary000000000"  # a Groundlight edge detector on red_disc


def get(port, path, timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.getheader("Content-Type"), r.read()
    finally:
        c.close()


def get_json(port, path):
    st, _, body = get(port, path)
    try:
        return st, json.loads(body)
    except ValueError:
        return st, None


def send(port, method, path, body=None):
    return request(port, method, path, body, {"Content-Type": "application/json"} if body else None)


def streams(port):
    st, j = get_json(port, "/v1/streams")
    return {s["id"]: s for s in j["streams"]} if st == 200 else {}


class Broker:
    """Debian's mosquitto on a loopback port (anonymous)."""

    def __init__(self, tmp, port=0):
        self.port = port or free_port()
        self.conf = os.path.join(tmp, "mosquitto-%d.conf" % self.port)
        with open(self.conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n" % self.port)
            if os.getuid() == 0:
                f.write("user root\n")
        self.log = open(os.path.join(tmp, "mosquitto-%d.log" % self.port), "a")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([MOSQUITTO, "-c", self.conf], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        ok, _ = wait_for(lambda: self._listening(), 5, 0.05)
        return ok

    def _listening(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.2).close()
            return True
        except OSError:
            return False

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Subscriber:
    """A paho-mqtt client that keeps every message it receives."""

    def __init__(self, port, topic="glint/#", name="test-sub"):
        self.msgs = []
        self.lock = threading.Lock()
        self.c = mqtt.Client(client_id=name, clean_session=True)
        self.c.on_connect = lambda c, u, f, rc: c.subscribe(topic, qos=1)
        self.c.on_message = self._on_message
        self.c.connect("127.0.0.1", port, keepalive=30)
        self.c.loop_start()

    def _on_message(self, c, u, m):
        try:
            body = json.loads(m.payload)
        except ValueError:
            body = None
        with self.lock:
            self.msgs.append((time.monotonic(), m.topic, body, m.retain))

    def on(self, topic):
        with self.lock:
            return [m for m in self.msgs if m[1] == topic]

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def top(answer):
    c = answer.get("classes") or []
    return (c[0]["label"], c[0]["score"]) if c else (None, 0)


def write_streams(path, mqtt_port, entries):
    with open(path, "w") as f:
        json.dump({"mqtt": "mqtt://127.0.0.1:%d" % mqtt_port, "streams": entries}, f)


def main_checks(tmp, made, broker, port, cams):
    rtsp, rtsp_auth, mjpeg = cams
    sub = Subscriber(broker.port)
    try:
        return run_checks(tmp, made, broker, port, rtsp, rtsp_auth, mjpeg, sub)
    finally:
        sub.close()


def run_checks(tmp, made, broker, port, rtsp, rtsp_auth, mjpeg, sub):
    # ---- 1. answers on MQTT are right, frame by frame
    topic = "glint/yesno/red_disc"
    got, waited = wait_for(lambda: len(sub.on(topic)) >= 40, 20, 0.2)
    msgs = [m[2] for m in sub.on(topic)]
    wrong, judged = [], 0
    for a in msgs:
        f = a["frame"] % 90  # 6 s at 15 fps, looped: 0-44 YES, 45-89 NO
        if f in (0, 1, 44, 45, 89):
            continue  # at a switch
        judged += 1
        want = "YES" if f < 45 else "NO"
        label, score = top(a)
        if label != want or score < 0.9:
            wrong.append((a["frame"], label, score))
    labels = {top(a)[0] for a in msgs}
    T.check("1. file stream -> red_disc -> MQTT: every answer's label is its frame's (%d judged "
            "of %d in %.1f s)" % (judged, len(msgs), waited),
            got and judged >= 30 and not wrong and labels == {"YES", "NO"}, wrong[:5])
    a = msgs[-1] if msgs else {}
    T.check("1. an answer names its stream, model, frame, capture time, lag and motion verdict",
            a.get("stream") == "yesno" and a.get("model") == "red_disc" and
            a.get("task") == "classify" and isinstance(a.get("frame"), int) and
            a.get("captured_at", "").endswith("Z") and 0 <= a.get("lag_ms", -1) < 1000 and
            a.get("motion") == "ungated" and a.get("width") == 640 and a.get("height") == 480, a)
    rates = [m[0] for m in sub.on(topic)]
    span = rates[-1] - rates[0] if len(rates) > 1 else 0
    rate = (len(rates) - 1) / span if span else 0
    T.check("1. the fps cap holds: %.1f answers/s for fps 5" % rate, 3.5 < rate < 5.6, rate)

    # ---- 1b. frames to an edge detector: image queries, the label of their frame
    t = "glint/to-edge/" + DET
    got, waited = wait_for(lambda: len(sub.on(t)) >= 20, 20, 0.2)
    qs = [m[2] for m in sub.on(t)]
    wrong, judged = [], 0
    for a in qs:
        f = a["frame"] % 90
        if f in (0, 1, 44, 45, 89):
            continue
        judged += 1
        r = (a.get("image_query") or {}).get("result") or {}
        want = "YES" if f < 45 else "NO"
        if r.get("label") != want or r.get("confidence", 0) < 0.9:
            wrong.append((a["frame"], r))
    T.check("1b. file stream -> edge detector: image queries whose label is their frame's "
            "(%d judged of %d in %.1f s)" % (judged, len(qs), waited),
            got and judged >= 15 and not wrong, (wrong[:3], qs[-1:]))
    iq = (qs[-1].get("image_query") or {}) if qs else {}
    st, stored = get_json(port, "/device-api/v1/image-queries/" + iq.get("id", "none"))
    T.check("1b. the image query is the edge's: iq_ id, the detector, stored and read back "
            "with GET /device-api/v1/image-queries/{id}",
            iq.get("id", "").startswith("iq_") and iq.get("detector_id") == DET and st == 200
            and stored["id"] == iq["id"], (iq, st, stored))
    s = streams(port)["no-detector"]
    T.check("1b. a stream to a detector the edge does not have: its status says so",
            "det_nope is not configured" in s["error"] and s["frames"]["refused"] > 0, s)

    # ---- 1c. a region of interest: boxes in the whole frame's pixels
    # the YES picture (128x128, its red disc at 52.71,42.36-87.67,77.32) fills
    # 480x480 at x 80 of the 640x480 frame: the disc at 277.7,158.9-408.8,290.0
    t = "glint/roi-shapes/shapes"
    want = (277.7, 158.9, 408.8, 290.0)
    got, _ = wait_for(lambda: any(m[2]["frame"] % 90 < 40 and m[2].get("detections")
                                  for m in sub.on(t)), 20, 0.2)
    seen = [d["box"] for m in sub.on(t) if 2 <= m[2]["frame"] % 90 < 43
            for d in m[2].get("detections", []) if d["label"] == "red_disc"]
    off = [max(abs(b[k] - w) for k, w in zip(("x1", "y1", "x2", "y2"), want)) for b in seen]
    last = sub.on(t)[-1][2] if sub.on(t) else {}
    T.check("1c. roi [80, 0, 480, 480] into the shapes detector: the red disc's box in frame "
            "pixels within 8 px (%d boxes, worst %.1f px), the answer names the roi"
            % (len(seen), max(off) if off else -1),
            got and seen and max(off) <= 8 and last.get("roi") == [80, 0, 480, 480] and
            last.get("width") == 640, (seen[:3], last))

    # ---- 1d. a pipeline (shapes -> crops -> red_disc) as a stream's model
    t = "glint/pipe/discs"
    got, _ = wait_for(lambda: len(sub.on(t)) >= 30, 20, 0.2)
    yes_ok = yes_n = no_ok = no_n = 0
    crops_in = True
    for m in sub.on(t):
        a, f = m[2], m[2]["frame"] % 90
        if f in (0, 1, 44, 45, 89):
            continue
        said = [d["classes"][0]["label"] for d in a.get("detections", []) if "classes" in d]
        for d in a.get("detections", []):
            if "crop" in d:
                c, b = d["crop"], d["box"]
                crops_in &= (0 <= c["x1"] <= b["x1"] and 0 <= c["y1"] <= b["y1"] and
                             b["x2"] <= c["x2"] <= 640 and b["y2"] <= c["y2"] <= 480)
        if f < 45:
            yes_n += 1
            yes_ok += "YES" in said
        else:
            no_n += 1
            no_ok += "YES" not in said
    T.check("1d. a stream into a pipeline: its crops are classified, YES in the red disc's "
            "frames (%d of %d) and not in the others (%d of %d), crops in frame pixels"
            % (yes_ok, yes_n, no_ok, no_n),
            got and yes_n >= 5 and no_n >= 5 and yes_ok >= 0.8 * yes_n and no_ok >= 0.8 * no_n
            and crops_in and sub.on(t)[-1][2].get("pipeline") == ["shapes", "red_disc"],
            sub.on(t)[-1][2] if sub.on(t) else None)

    # ---- 2. retained: a subscriber that comes later gets the last state at once
    late = Subscriber(broker.port, topic, "late-sub")
    try:
        r, _ = wait_for(lambda: late.on(topic), 5, 0.05)
        T.check("2. a late subscriber gets the last answer at once, retained",
                r and r[0][3] and r[0][2]["stream"] == "yesno", r[:1])
    finally:
        late.close()

    # ---- 3. RTSP over TCP and UDP, MJPEG over HTTP
    def both_labels(t):
        ls = {top(m[2]) [0] for m in sub.on(t) if top(m[2])[1] >= 0.9}
        return ls == {"YES", "NO"}

    for sid, what in (("rtsp-tcp", "RTSP over TCP"), ("rtsp-udp", "RTSP over UDP"),
                      ("mjpeg", "MJPEG over HTTP")):
        t = "glint/%s/red_disc" % sid
        ok, waited = wait_for(lambda: both_labels(t), 20, 0.2)
        s = streams(port).get(sid, {})
        T.check("3. %s: YES and NO answered (%d answers in %.1f s), state playing, codec %s"
                % (what, len(sub.on(t)), waited, s.get("codec")),
                ok and s.get("state") == "playing", (s, [top(m[2]) for m in sub.on(t)][-6:]))
    s = streams(port)
    T.check("3. MJPEG 640x480 into a 128x128 model is decoded at 1/4 (lowres 2: 160x120)",
            s["mjpeg"]["codec"] == "mjpeg" and s["mjpeg"]["lowres"] == 2 and
            s["yesno"]["lowres"] == 0, s["mjpeg"])
    T.check("3. the password of rtsp-auth never shows; it plays with the right one",
            "s3cret" not in json.dumps(s) and "***" in s["rtsp-auth"]["url"] and
            s["rtsp-auth"]["state"] == "playing", s["rtsp-auth"])

    # ---- 4. clear statuses for what cannot play
    def failing():
        s = streams(port)
        return s if all(s.get(k, {}).get("state") == "retrying" and s[k]["error"]
                        for k in ("closed-port", "wrong-password", "mpeg4", "missing")) else None

    s, waited = wait_for(failing, 15, 0.2)
    s = s or streams(port)
    err = {k: s.get(k, {}).get("error", "") for k in
           ("closed-port", "wrong-password", "mpeg4", "missing")}
    T.check("4. a closed port: retrying, 'Connection refused'",
            "Connection refused" in err["closed-port"], err["closed-port"])
    T.check("4. wrong credentials: retrying, '401', the password not shown",
            "401" in err["wrong-password"] and "wrong" not in err["wrong-password"],
            err["wrong-password"])
    T.check("4. an unsupported codec: 'unsupported codec mpeg4'",
            "unsupported codec mpeg4" in err["mpeg4"], err["mpeg4"])
    T.check("4. a missing file: 'No such file'", "No such file" in err["missing"], err["missing"])
    st, h = get_json(port, "/health")
    hs = {x["id"]: x for x in (h or {}).get("streams", {}).get("streams", [])}
    T.check("4. /health's streams: states and errors the same",
            st == 200 and hs.get("mpeg4", {}).get("state") == "retrying" and
            "unsupported codec" in hs.get("mpeg4", {}).get("error", "") and
            h["streams"]["mqtt"]["connected"] is True, h and h.get("streams"))

    # ---- 5. a still scene behind the motion gate: heartbeats only
    t = "glint/still/red_disc"
    ok, _ = wait_for(lambda: len(sub.on(t)) >= 3, 12, 0.2)
    s = streams(port)["still"]
    motions = [m[2]["motion"] for m in sub.on(t)]
    f = s["frames"]
    T.check("5. still scene, motion gate: only heartbeats pass (%d answers: %s; %d gated)"
            % (len(motions), sorted(set(motions)), f["gated"]),
            ok and set(motions) == {"heartbeat"} and f["gated"] > 10 * len(motions) and
            f["passed"] == f["heartbeats"], (s, motions))
    t = "glint/moving/red_disc"
    s = streams(port)["moving"]
    motions = [m[2]["motion"] for m in sub.on(t)]
    T.check("5. a square crossing the scene passes the gate ('motion' answers)",
            "motion" in motions and s["frames"]["gated"] > 0, (motions[-10:], s["frames"]))

    # ---- 6. a 30 fps stream into a model slower than that: drops, lag bounded
    s = streams(port)["fast"]
    f = s["frames"]
    lag = s.get("lag_ms", {})
    T.check("6. 30 fps into yolov8n: frames dropped (%d of %d passed), never queued: "
            "p99 lag %.0f ms, max %.0f ms" % (f["dropped"], f["passed"], lag.get("p99", -1),
                                               lag.get("max", -1)),
            f["dropped"] > 0 and f["analysed"] > 0 and 0 < lag.get("p99", 1e9) < 1500 and
            f["analysed"] + f["dropped"] <= f["passed"], s)

    # ---- 7. reconnect: the RTSP camera loses power and comes back
    before = streams(port)["rtsp-tcp"]
    rtsp.kill()
    down, waited = wait_for(lambda: streams(port)["rtsp-tcp"]["state"] == "retrying", 10, 0.1)
    T.check("7. RTSP camera killed: the stream is retrying in %.1f s (%s)"
            % (waited, streams(port)["rtsp-tcp"]["error"]), down, streams(port)["rtsp-tcp"])
    s_other = streams(port)["yesno"]["frames"]["analysed"]
    time.sleep(1.0)
    T.check("7. ... the other streams go on meanwhile",
            streams(port)["yesno"]["frames"]["analysed"] > s_other)
    rtsp.restart()
    n0 = streams(port)["rtsp-tcp"]["frames"]["analysed"]
    back, waited = wait_for(lambda: streams(port)["rtsp-tcp"]["state"] == "playing" and
                            streams(port)["rtsp-tcp"]["frames"]["analysed"] > n0 + 3, 20, 0.2)
    s = streams(port)["rtsp-tcp"]
    T.check("7. restarted: playing again in %.1f s, connects %d -> %d"
            % (waited, before["connects"], s["connects"]),
            back and s["connects"] == before["connects"] + 1, s)

    # ---- 7b. an MJPEG camera that drops every client and refuses for 2 s
    def flaky_back():
        s = streams(port)["mjpeg-flaky"]
        return s if s["connects"] >= 2 and s["state"] == "playing" else None

    s, waited = wait_for(flaky_back, 15, 0.2)
    s = s or streams(port)["mjpeg-flaky"]
    T.check("7b. an MJPEG camera that went away for 2 s: reconnected (connects %d, %d attempts)"
            % (s["connects"], s["attempts"]), bool(flaky_back()) and s["attempts"] >= 3, s)

    # ---- 8. the API
    body = json.dumps({"url": "file://" + made["yesno"], "model": "red_disc", "fps": 2})
    st, j = send(port, "PUT", "/v1/streams/added", body)
    T.check("8. PUT /v1/streams/added: 201 with the stream", st == 201 and j["id"] == "added", j)
    ok, _ = wait_for(lambda: streams(port)["added"]["frames"]["analysed"] > 0, 10, 0.2)
    T.check("8. ... it plays and answers", ok, streams(port).get("added"))
    st, j = send(port, "PUT", "/v1/streams/added", json.dumps({"url": "file:///x", "fps": -1}))
    T.check("8. a bad body: 400 naming the key", st == 400 and "fps" in j["error"], j)
    st, j = send(port, "PUT", "/v1/streams/added", json.dumps({"url": "x", "model": "nope"}))
    T.check("8. an unknown model: 400 naming it", st == 400 and "nope" in j["error"], j)
    st, j = send(port, "PUT", "/v1/streams/added", json.dumps({"url": "file:///x",
                                                               "model": "red_disc", "color": 1}))
    T.check("8. an unknown key: 400 listing the known ones",
            st == 400 and "color" in j["error"] and "fps" in j["error"], j)
    st, j = send(port, "DELETE", "/v1/streams/added")
    st2, _ = get_json(port, "/v1/streams/added")
    T.check("8. DELETE: 200, then 404", st == 200 and st2 == 404, (st, j, st2))
    # a detector stream replaced and removed while its frames are encoded and in flight
    codes = []
    body = json.dumps({"url": "file://" + made["yesno"], "detector": DET, "fps": 15})
    for i in range(12):
        codes.append(send(port, "PUT", "/v1/streams/churn", body)[0])
        time.sleep(0.15)
    codes.append(send(port, "DELETE", "/v1/streams/churn")[0])
    st, h = get_json(port, "/health")
    T.check("8. a detector stream replaced 12 times and deleted while its frames are in flight: "
            "every answer 2xx, the server well", set(codes[1:-1]) == {200} and codes[0] == 201
            and codes[-1] == 200 and st == 200, (codes, st))
    st, ctype, jpg = get(port, "/v1/streams/yesno/latest.jpg")
    T.check("8. latest.jpg: a JPEG (%d bytes)" % len(jpg),
            st == 200 and ctype == "image/jpeg" and jpg[:3] == b"\xff\xd8\xff" and
            jpg[-2:] == b"\xff\xd9", (st, ctype, jpg[:20]))
    st, j = get_json(port, "/v1/streams/yesno/latest")
    T.check("8. latest: the last answer", st == 200 and j["stream"] == "yesno", j)
    st, _, m = get(port, "/metrics")
    m = m.decode()
    T.check("8. /metrics: glint_stream_* series per stream",
            'glint_stream_frames_analysed_total{stream="yesno"}' in m and
            'glint_stream_lag_seconds_bucket{stream="fast",le=' in m and
            'glint_stream_up{stream="mpeg4"} 0' in m, m[:300])

    # ---- 9. the broker killed and restarted: answers flow again
    broker.kill()
    time.sleep(1.5)
    n_before = len(sub.on(topic))
    broker.start()
    ok, waited = wait_for(lambda: len(sub.on(topic)) > n_before + 5, 20, 0.2)
    st, h = get_json(port, "/health")
    mq = h["streams"]["mqtt"]
    T.check("9. broker killed for 1.5 s and restarted: answers arrive again in %.1f s, "
            "connects %d" % (waited, mq["connects"]), ok and mq["connects"] >= 2, mq)


class HookReceiver:
    """An HTTP endpoint for webhooks: the first `fail_first` POSTs get 500,
    and while `down` every POST gets 503; the rest are kept (200)."""

    def __init__(self, fail_first=3):
        import http.server
        outer = self
        self.got, self.refused, self.down = [], 0, False
        self.fail_left = fail_first
        self.lock = threading.Lock()

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    fail = outer.down or outer.fail_left > 0
                    if fail:
                        outer.fail_left = max(0, outer.fail_left - 1)
                        outer.refused += 1
                    else:
                        outer.got.append((self.headers.get("Idempotency-Key"),
                                          self.headers.get("Content-Type"), json.loads(body)))
                self.send_response(503 if fail else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d/hook" % self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def keys(self):
        with self.lock:
            return [g[0] for g in self.got]


def webhook_checks(tmp, made):
    """Answers POSTed through the durable outbox: retried after failures,
    kept across a kill -9, none lost."""
    rx = HookReceiver(fail_first=3)
    path = os.path.join(tmp, "hooks.json")
    state = os.path.join(tmp, "hook-state")

    def conf(enabled):
        with open(path, "w") as f:
            json.dump({"streams": [{"id": "hooked", "url": "file://" + made["yesno"],
                                    "model": "red_disc", "fps": 4, "enabled": enabled,
                                    "webhook": rx.url}]}, f)

    def serve(name):
        d = os.path.join(tmp, name)
        os.makedirs(d)
        return Serve(GLINT, d, "--models", os.path.join(SRC, "models"), "--model", "red_disc",
                     "--streams", path, "--state-dir", state)

    def hooks(port):
        st, h = get_json(port, "/health")
        return (h or {}).get("streams", {}).get("webhooks", {})

    conf(True)
    a = serve("hook-a")
    try:
        ok, waited = wait_for(lambda: len(rx.got) >= 5, 20, 0.2)
        w = hooks(a.port)
        g = rx.got[-1] if rx.got else (None, None, {})
        T.check("10. webhook: answers POSTed as JSON with an Idempotency-Key after 3 refusals "
                "(retried): %d delivered, %d failed attempts" % (len(rx.got),
                                                                 w.get("attempts_failed", 0)),
                ok and w.get("attempts_failed", 0) >= 3 and g[1] == "application/json" and
                g[2].get("stream") == "hooked" and len(g[0] or "") == 32, (w, g))
        rx.down = True  # the receiver goes away; answers pile up in the outbox
        ok, _ = wait_for(lambda: hooks(a.port).get("pending", 0) >= 5, 15, 0.2)
        w = hooks(a.port)
        a.proc.kill()  # kill -9 with messages pending
        a.proc.wait()
        T.check("10. receiver down: %d answers pending, then glint killed -9" % w.get("pending", 0),
                ok, w)
    finally:
        if a.proc.poll() is None:
            a.proc.kill()
            a.proc.wait()
    added_before = w.get("added", 0)
    conf(False)  # the restarted server makes no new answers: only what was stored
    rx.down = False
    b = serve("hook-b")
    try:
        ok, waited = wait_for(lambda: hooks(b.port).get("pending", 1) == 0, 30, 0.2)
        keys = rx.keys()
        T.check("10. restarted: the outbox delivered every stored answer in %.1f s "
                "(%d distinct of %d added before the kill, %d deliveries)"
                % (waited, len(set(keys)), added_before, len(keys)),
                ok and len(set(keys)) >= added_before, (hooks(b.port), len(set(keys))))
    finally:
        b.proc.terminate()
        b.proc.wait(timeout=30)
    rx.srv.shutdown()


def persistence_checks(tmp, made):
    """PUT and DELETE outlive a restart (the state dir keeps them)."""
    path = os.path.join(tmp, "persist.json")
    state = os.path.join(tmp, "persist-state")
    clip = "file://" + made["yesno"]
    with open(path, "w") as f:
        json.dump({"streams": [{"id": "a", "url": clip, "model": "red_disc", "fps": 1},
                               {"id": "b", "url": clip, "model": "red_disc", "fps": 1}]}, f)

    def serve(name):
        d = os.path.join(tmp, name)
        os.makedirs(d)
        return Serve(GLINT, d, "--models", os.path.join(SRC, "models"), "--model", "red_disc",
                     "--streams", path, "--state-dir", state)

    with serve("persist-1") as s1:
        st1, _ = send(s1.port, "PUT", "/v1/streams/c",
                      json.dumps({"url": clip, "model": "red_disc", "fps": 2}))
        st2, _ = send(s1.port, "PUT", "/v1/streams/b",
                      json.dumps({"url": clip, "model": "red_disc", "fps": 3}))
        st3, _ = send(s1.port, "DELETE", "/v1/streams/a")
    with serve("persist-2") as s2:
        s = streams(s2.port)
        T.check("11. restarted: PUT and DELETE kept (a deleted, b replaced: fps 3, c added)",
                (st1, st2, st3) == (201, 200, 200) and sorted(s) == ["b", "c"] and
                s["b"]["fps"] == 3 and s["c"]["fps"] == 2, ((st1, st2, st3), s.keys()))


def main():
    tmp = tempfile.mkdtemp(prefix="glint-streams-")
    made = {"yesno": clips.disc_then_none(tmp), "still": clips.static(tmp, seconds=8),
            "moving": clips.motion(tmp, seconds=8, move_from=2, move_to=6),
            "mpeg4": clips.unsupported(tmp),
            "mjpeg": clips.disc_then_none(tmp, codec="mjpeg", ext="avi")}
    fast = os.path.join(tmp, "fast.mkv")
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=640x480:rate=30:duration=4", "-c:v", "libx264", "-g", "30",
                    "-bf", "0", "-pix_fmt", "yuv420p", fast], check=True)
    broker = Broker(tmp)
    T.check("mosquitto starts", broker.start())
    rtsp = RtspServer(made["yesno"])
    rtsp_auth = RtspServer(made["yesno"], user="viewer", password="s3cret")
    mjpeg = MjpegServer(made["mjpeg"])
    flaky = MjpegServer(made["mjpeg"], die_after=4, down_for=2)  # drops everyone once
    cams = (rtsp, rtsp_auth, mjpeg)
    srv = None
    try:
        for c in cams + (flaky,):
            c.start()
        closed = free_port()
        entries = [
            {"id": "yesno", "url": "file://" + made["yesno"], "model": "red_disc", "fps": 5},
            {"id": "rtsp-tcp", "url": rtsp.url, "model": "red_disc", "fps": 5,
             "timeout_ms": 1500, "reconnect_max_s": 1},
            {"id": "rtsp-udp", "url": rtsp.url, "transport": "udp", "model": "red_disc",
             "fps": 5},
            {"id": "rtsp-auth", "url": rtsp_auth.url, "user": "viewer",
             "password_env": "GLINT_TEST_CAM_PASSWORD", "model": "red_disc", "fps": 2},
            {"id": "mjpeg", "url": mjpeg.url, "model": "red_disc", "fps": 5},
            {"id": "mjpeg-flaky", "url": flaky.url, "model": "red_disc", "fps": 5,
             "timeout_ms": 1000, "reconnect_max_s": 1},
            {"id": "still", "url": "file://" + made["still"], "model": "red_disc", "fps": 15,
             "motion": {"heartbeat_s": 2}},
            {"id": "moving", "url": "file://" + made["moving"], "model": "red_disc", "fps": 15,
             "motion": True},
            {"id": "fast", "url": "file://" + fast, "model": "yolov8n", "fps": 0},
            {"id": "closed-port", "url": "rtsp://127.0.0.1:%d/cam" % closed,
             "model": "red_disc", "timeout_ms": 1000, "reconnect_max_s": 1},
            {"id": "wrong-password", "url": rtsp_auth.url, "user": "viewer",
             "password_file": os.path.join(tmp, "wrong-password"), "model": "red_disc",
             "reconnect_max_s": 1},
            {"id": "mpeg4", "url": "file://" + made["mpeg4"], "model": "red_disc",
             "reconnect_max_s": 1},
            {"id": "missing", "url": "file://" + os.path.join(tmp, "none.mkv"),
             "model": "red_disc", "reconnect_max_s": 1},
            {"id": "to-edge", "url": "file://" + made["yesno"], "detector": DET, "fps": 5},
            {"id": "roi-shapes", "url": "file://" + made["yesno"], "model": "shapes", "fps": 5,
             "roi": [80, 0, 480, 480]},
            {"id": "no-detector", "url": "file://" + made["yesno"], "detector": "det_nope",
             "fps": 5},
            {"id": "pipe", "url": "file://" + made["yesno"], "model": "discs", "fps": 5},
        ]
        repo = os.path.join(tmp, "models")  # the models, and a pipeline over two of them
        os.makedirs(os.path.join(repo, "discs"))
        for name in ("red_disc", "yolov8n", "shapes"):
            os.symlink(os.path.join(SRC, "models", name), os.path.join(repo, name))
        with open(os.path.join(repo, "discs", "model.yaml"), "w") as f:
            f.write("pipeline: {detect: shapes, classify: red_disc, padding: 1,\n"
                    "           classes: [red_disc, other_disc]}\n")
        edge_cfg = os.path.join(tmp, "edge-config.yaml")
        with open(edge_cfg, "w") as f:
            f.write("edge_inference_configs:\n  local: {}\n"
                    "detectors:\n  - detector_id: %s\n    edge_inference_config: local\n"
                    "    model: red_disc\n    query: Is there a red disc?\n    mode: BINARY\n"
                    "    confidence_threshold: 0.9\n" % DET)
        with open(os.path.join(tmp, "wrong-password"), "w") as f:
            f.write("wrong\n")
        path = os.path.join(tmp, "streams.yaml")
        write_streams(path, broker.port, entries)
        os.environ["GLINT_TEST_CAM_PASSWORD"] = "s3cret"
        d = os.path.join(tmp, "serve")
        os.makedirs(d)
        srv = Serve(GLINT, d, "--models", repo, "--model", "red_disc", "--model", "discs",
                    "--model", "yolov8n", "--model", "shapes", "--precision", "f32", "--threads", "1",
                    "--instances", "1", "--streams", path, "--edge-config", edge_cfg,
                    "--state-dir", os.path.join(tmp, "state"))
        T.check("glint serve starts with 17 streams", srv.port, srv.log())
        if srv.port:
            main_checks(tmp, made, broker, srv.port, cams)
            t0 = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            rc = srv.proc.wait(timeout=30)
            T.check("SIGTERM with streams playing: exit 0 in %.2f s" % (time.monotonic() - t0),
                    rc == 0 and time.monotonic() - t0 < 5, srv.log())

        webhook_checks(tmp, made)
        persistence_checks(tmp, made)

        # a bad streams file stops the start, saying why
        bad = os.path.join(tmp, "bad.yaml")
        for text, want in (("streams:\n  - {id: a, url: 'file:///x'}\n", "needs a 'url' and a"),
                           ("streams:\n  - {id: a, url: 'file:///x', model: nope}\n", "nope"),
                           ("streamz: []\n", "unknown key 'streamz'"),
                           ("streams:\n  - {id: a, url: x, model: red_disc, detector: d}\n",
                            "a 'model' or a 'detector'"),
                           ("streams:\n  - {id: 'a b', url: x, model: red_disc}\n", "'id'")):
            with open(bad, "w") as f:
                f.write(text)
            p = subprocess.run([GLINT, "serve", "--listen", "127.0.0.1:0", "--models",
                                os.path.join(SRC, "models"), "--model", "red_disc",
                                "--streams", bad], capture_output=True, text=True, timeout=60)
            T.check("a bad streams file (%s): exits non-zero saying so" % want,
                    p.returncode != 0 and want in p.stderr, p.stderr[-400:])
    except Exception:
        T.check("no exception", False, traceback.format_exc())
    finally:
        if srv and srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait()
        for c in cams + (flaky,):
            try:
                c.stop()
            except Exception:
                pass
        broker.kill()
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
