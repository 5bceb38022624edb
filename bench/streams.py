#!/usr/bin/python3
"""streams.py -- what camera streams cost glint serve on this machine
(docs/streams.md), with file streams played in real time (a frame's capture
time is when it is due, so a decoder or scaler that falls behind shows as lag):

  decode    one 1080p H.264 15 fps stream (tests/streams/clips.py bench_1080p)
            into red_disc at fps 1 (the model's share negligible): the
            decoder's ms per frame (glint's own count) and the cores glint
            uses for it (/proc/PID/stat over the run)
  capacity  N such streams into YOLOv8n (int8 unless --precision), for each
            N of --counts, in two scenes:
              busy   a moving test pattern, no motion gate: every stream wants
                     every frame, the model takes the newest of each
              gated  a still 1080p scene in which a square crosses for 2 s of
                     every 10, behind the motion gate (heartbeat 10 s)
            per run: decoded frames per stream per second (15 when decoding
            keeps up), answers per stream per second, frames dropped, p99 and
            max lag (capture to answer) over the streams, glint's cores.
            A count is sustained when every stream decodes >= 95% of its
            frames and the p99 lag of every stream is <= --max-lag-ms (1000).

Prints a table and writes bench/out/streams-<date>.json. About 1 minute per
count and scene with the defaults.

  bench/streams.py [--glint build/glint] [--counts "1 2 4 6 8"] [--seconds 20]
                   [--precision int8] [--scenes "busy gated"] [--max-lag-ms 1000]
"""
import argparse
import datetime
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SRC, "tests", "streams"))
import clips  # noqa: E402

HZ = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / HZ


def get_json(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path)
        return json.loads(c.getresponse().read())
    finally:
        c.close()


def gated_clip(outdir, seconds=10):
    """1080p15: the NO picture still, a white square crossing it from 4 to 6 s."""
    out = os.path.join(outdir, "gated_1080p.mkv")
    graph = ("[0:v]scale=1920:1080:force_original_aspect_ratio=decrease,"
             "pad=1920:1080:(ow-iw)/2:(oh-ih)/2:color=0x727272,setsar=1[bg];"
             "color=c=white:s=120x120:r=15[sq];"
             "[bg][sq]overlay=x='(t-4)/2*(W-w)':y=(H-h)/2:enable='between(t,4,6)':shortest=1[v]")
    clips.run_ffmpeg(["-loop", "1", "-framerate", "15", "-t", str(seconds), "-i",
                      clips.NO_PICTURE, "-filter_complex", graph, "-map", "[v]", "-r", "15",
                      "-c:v", "libx264", "-g", "15", "-bf", "0", "-pix_fmt", "yuv420p", out])
    return out


def run(glint, tmp, model, precision, n, clip, fps, motion, seconds):
    entries = []
    for i in range(n):
        e = {"id": "s%d" % i, "url": "file://" + clip, "model": model, "fps": fps}
        if motion:
            e["motion"] = {"heartbeat_s": 10}
        entries.append(e)
    path = os.path.join(tmp, "streams.json")
    with open(path, "w") as f:
        json.dump({"streams": entries}, f)
    ready = os.path.join(tmp, "ready")
    if os.path.exists(ready):
        os.unlink(ready)
    log = open(os.path.join(tmp, "serve.log"), "w")
    args = [glint, "serve", "--listen", "127.0.0.1:0", "--ready-file", ready, "--models",
            os.path.join(SRC, "models"), "--model", model, "--streams", path]
    if precision:
        args += ["--precision", precision]
    p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        t_end = time.time() + 120
        while not os.path.exists(ready) and p.poll() is None and time.time() < t_end:
            time.sleep(0.05)
        if not os.path.exists(ready):
            raise RuntimeError("glint serve did not start: see %s" % log.name)
        port = int(open(ready).read().strip().rsplit(":", 1)[1])
        time.sleep(3)  # warm: the streams open and settle
        s0 = {s["id"]: s for s in get_json(port, "/v1/streams")["streams"]}
        c0, t0 = cpu_seconds(p.pid), time.monotonic()
        time.sleep(seconds)
        s1 = {s["id"]: s for s in get_json(port, "/v1/streams")["streams"]}
        c1, t1 = cpu_seconds(p.pid), time.monotonic()
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
        log.close()
    dt = t1 - t0
    per = []
    for sid, a in s1.items():
        b = s0[sid]
        d = {k: a["frames"][k] - b["frames"][k] for k in a["frames"]}
        per.append({"id": sid, "decoded_fps": d["decoded"] / dt, "answers_fps": d["analysed"] / dt,
                    "dropped_fps": d["dropped"] / dt, "gated_fps": d["gated"] / dt,
                    "decode_ms": a["decode_ms_per_frame"],
                    "lag_p99_ms": a.get("lag_ms", {}).get("p99", float("nan")),
                    "lag_max_ms": a.get("lag_ms", {}).get("max", float("nan")),
                    "state": a["state"], "error": a["error"]})
    return {"streams": n, "seconds": dt, "cores": (c1 - c0) / dt, "per_stream": per,
            "decoded_fps_min": min(x["decoded_fps"] for x in per),
            "answers_fps_mean": sum(x["answers_fps"] for x in per) / n,
            "lag_p99_ms_max": max(x["lag_p99_ms"] for x in per),
            "lag_max_ms": max(x["lag_max_ms"] for x in per),
            "decode_ms": sum(x["decode_ms"] for x in per) / n}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--glint", default=os.path.join(SRC, "build", "glint"))
    ap.add_argument("--counts", default="1 2 4 6 8")
    ap.add_argument("--scenes", default="busy gated")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--precision", default="int8")
    ap.add_argument("--model", default="yolov8n")
    ap.add_argument("--max-lag-ms", type=float, default=1000)
    ap.add_argument("--skip-decode", action="store_true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="glint-bench-streams-")
    busy = clips.bench_1080p(tmp, seconds=10, fps=15)
    gated = gated_clip(tmp)
    out = {"date": datetime.datetime.utcnow().isoformat() + "Z", "cpu": open(
        "/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(" :\t"),
        "model": a.model, "precision": a.precision, "max_lag_ms": a.max_lag_ms, "runs": []}
    if not a.skip_decode:
        r = run(a.glint, tmp, "red_disc", None, 1, busy, 1, False, a.seconds)
        out["decode"] = r
        print("decode: one 1080p H.264 15 fps stream: %.2f ms per frame in the decoder, "
              "glint %.3f cores (decoded %.1f frames/s)"
              % (r["decode_ms"], r["cores"], r["decoded_fps_min"]), flush=True)
    print("%-6s %7s %9s %11s %11s %11s %10s %8s %s" % (
        "scene", "streams", "cores", "decoded/s", "answers/s", "p99 lag ms", "max lag", "decode",
        "sustained"), flush=True)
    for scene in a.scenes.split():
        for n in [int(x) for x in a.counts.split()]:
            r = run(a.glint, tmp, a.model, a.precision, n, busy if scene == "busy" else gated,
                    0, scene == "gated", a.seconds)
            ok = r["decoded_fps_min"] >= 0.95 * 15 and r["lag_p99_ms_max"] <= a.max_lag_ms
            r.update({"scene": scene, "sustained": ok})
            out["runs"].append(r)
            print("%-6s %7d %9.2f %11.1f %11.2f %11.0f %10.0f %8.2f %s" % (
                scene, n, r["cores"], r["decoded_fps_min"], r["answers_fps_mean"],
                r["lag_p99_ms_max"], r["lag_max_ms"], r["decode_ms"], "yes" if ok else "no"),
                flush=True)
    os.makedirs(os.path.join(SRC, "bench", "out"), exist_ok=True)
    path = os.path.join(SRC, "bench", "out",
                        "streams-%s.json" % datetime.datetime.utcnow().strftime("%Y%m%d-%H%M"))
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print("wrote", path)


if __name__ == "__main__":
    main()
