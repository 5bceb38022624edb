"""Per-client rate limits on glint serve (--rate-limit, --rate-limit-burst):
a client over its rate gets 429 with Retry-After and the RateLimit-* headers
(draft-ietf-httpapi-ratelimit-headers), a second client is unaffected, a
client paced under its rate is never refused, the probes are never limited,
and /metrics counts the refusals. Standard library only.

usage: test_rate_limit.py GLINT SRC"""
import http.client
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
from cli_harness import Serve, Tally  # noqa: E402

GLINT, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
T = Tally()
IMG = open(os.path.join(SRC, "tests", "data", "horses.jpg"), "rb").read()


def post(c, token=None):
    h = {"Content-Type": "image/jpeg"}
    if token:
        h["x-api-token"] = token
    c.request("POST", "/v1/models/red_disc/classify", IMG, h)
    r = c.getresponse()
    body = r.read()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


tmp = tempfile.mkdtemp(prefix="glint-ratelimit-")
with Serve(GLINT, tmp, "--models", os.path.join(SRC, "models"), "--model", "red_disc",
           "--rate-limit", "4", "--rate-limit-burst", "3", "--cache-mb", "0") as s:
    T.check("serve starts with --rate-limit", s.port, s.log())
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
    got = [post(c, "camera-a") for _ in range(8)]
    codes = [g[0] for g in got]
    T.check("a burst of 8: the first 3 answered, then 429", codes[:3] == [200] * 3
            and codes.count(429) >= 4, codes)
    h = got[0][1]
    T.check("answers carry RateLimit-Limit/Remaining/Reset",
            h.get("ratelimit-limit") == "3" and h.get("ratelimit-remaining") == "2"
            and int(h.get("ratelimit-reset", "-1")) >= 0, h)
    st, h, body = next(g for g in got if g[0] == 429)
    err = json.loads(body).get("error", "")
    T.check("429: Retry-After, Remaining 0, a JSON error saying the rate",
            h.get("retry-after") == "1" and h.get("ratelimit-remaining") == "0"
            and "4 requests/s" in err, (h, err))
    st_b = [post(c, "camera-b")[0] for _ in range(3)]
    T.check("another client is not affected", st_b == [200] * 3, st_b)
    c2 = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
    c2.request("GET", "/v2/health/ready")
    r = c2.getresponse()
    r.read()
    T.check("the probes are never limited (and carry no RateLimit headers)",
            r.status == 200 and r.getheader("ratelimit-limit") is None, r.status)
    time.sleep(1.0)  # camera-a's burst comes back
    paced = []
    for _ in range(8):  # 3.3 requests/s, under 4
        paced.append(post(c, "camera-a")[0])
        time.sleep(0.3)
    T.check("a client paced under its rate is never refused", paced == [200] * 8, paced)
    noname = [post(c)[0] for _ in range(6)]
    T.check("without a key the client is its address", noname[:3] == [200] * 3
            and 429 in noname, noname)
    c.request("GET", "/metrics", headers={"x-api-token": "monitor"})  # a client of its own
    met = c.getresponse().read().decode()
    line = [x for x in met.splitlines() if x.startswith("glint_rate_limited_total ")]
    refused = codes.count(429) + noname.count(429)
    T.check("/metrics counts the refusals", line and int(float(line[0].split()[1])) == refused,
            (line, refused))

# per model: model.yaml's rate_limit / rate_limit_burst, per client on that model only
models = os.path.join(tmp, "models")
os.makedirs(os.path.join(models, "limited"))
src = os.path.join(SRC, "models", "red_disc")
for f in os.listdir(src):
    if f != "model.yaml":
        os.symlink(os.path.join(src, f), os.path.join(models, "limited", f))
open(os.path.join(models, "limited", "model.yaml"), "w").write(
    open(os.path.join(src, "model.yaml")).read() + "rate_limit: 2\nrate_limit_burst: 2\n")
os.symlink(src, os.path.join(models, "red_disc"))


def post_to(c, model, token):
    c.request("POST", "/v1/models/%s/classify" % model, IMG,
              {"Content-Type": "image/jpeg", "x-api-token": token})
    r = c.getresponse()
    return r.status, json.loads(r.read())


tmp2 = tempfile.mkdtemp(prefix="glint-ratelimit-model-")
with Serve(GLINT, tmp2, "--models", models, "--cache-mb", "0",
           "--state-dir", os.path.join(tmp2, "state")) as s:
    T.check("serve starts with a model.yaml rate_limit", s.port, s.log())
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
    got = [post_to(c, "limited", "cam-1") for _ in range(4)]
    codes = [g[0] for g in got]
    T.check("per model: a burst of 4 at 2/s bursts of 2: 2 answered, then 429",
            codes[:2] == [200, 200] and codes[2:] == [429, 429], codes)
    err = got[2][1].get("error", "")
    T.check("the 429 names the model and its rate", "on model limited: 2 requests/s" in err, err)
    other = [post_to(c, "red_disc", "cam-1")[0] for _ in range(4)]
    T.check("the same client on another model is not limited", other == [200] * 4, other)
    T.check("another client on the limited model is not affected",
            post_to(c, "limited", "cam-2")[0] == 200)
    body = json.dumps({"inputs": [{"name": "input", "shape": [1, 3, 128, 128],
                                   "datatype": "FP32", "data": [0.5] * (3 * 128 * 128)}]})
    c.request("POST", "/v2/models/limited/infer", body,
              {"Content-Type": "application/json", "x-api-token": "cam-1"})
    r = c.getresponse()
    r.read()
    T.check("KServe infer counts against the same per-model limit (429, Retry-After)",
            r.status == 429 and r.getheader("retry-after") is not None, r.status)
T.finish()
