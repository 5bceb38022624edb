"""API keys on glint serve (--api-keys FILE, --require-api-key): the file
holds names and SHA-256 hashes, never keys; a key comes as 'Authorization:
Bearer KEY' or 'x-api-token: KEY'; admin routes always want one, the probes
never, every other route when glint listens beyond loopback or with
--require-api-key 1; 401 with a JSON error; the file is reloaded when it
changes (a broken one leaves the keys it had); requests are counted per key.
Standard library only.

usage: test_api_keys.py GLINT SRC"""
import hashlib
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
from cli_harness import Serve, Tally  # noqa: E402

GLINT, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
T = Tally()
IMG = open(os.path.join(SRC, "tests", "data", "shapes", "shapes_00.png"), "rb").read()
K_CAM, K_OPS, K_NEW = "cam-8f3a1c0e5b", "ops-77d2e9a4f1", "new-c0ffee5eed"


def line(name, key):
    return "%s %s\n" % (name, hashlib.sha256(key.encode()).hexdigest())


def call(s, method, path, body=None, key=None, header="bearer"):
    """(status, JSON body or None, headers)."""
    h = {"Content-Type": "image/png"} if body else {}
    if key is not None:
        h.update({"Authorization": "Bearer " + key} if header == "bearer" else
                 {"x-api-token": key})
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=120)
    c.request(method, path, body, h)
    r = c.getresponse()
    data = r.read()
    try:
        j = json.loads(data)
    except ValueError:
        j = None
    return r.status, j, {k.lower(): v for k, v in r.getheaders()}, data


def main():
    tmp = tempfile.mkdtemp(prefix="glint-keys-")
    keys = os.path.join(tmp, "keys")
    with open(keys, "w") as f:
        f.write("# name sha256-of-the-key\n" + line("camera-1", K_CAM) + line("ops", K_OPS))
    text = open(keys).read()
    T.check("the keys file holds hashes, not keys", K_CAM not in text and K_OPS not in text)
    models = os.path.join(SRC, "models")
    infer = "/v1/models/red_disc/classify"
    d1 = tempfile.mkdtemp(dir=tmp)
    with Serve(GLINT, d1, "--models", models, "--model", "red_disc", "--cache-mb", "0",
               "--api-keys", keys) as s:
        T.check("serve ready (loopback)", s.port > 0, s.log())
        st, j, h, _ = call(s, "POST", infer, IMG)
        T.check("loopback: inference needs no key", st == 200, st)
        st, j, h, _ = call(s, "POST", "/v2/repository/models/red_disc/unload", b"{}")
        T.check("an admin route without a key: 401, a JSON error, WWW-Authenticate",
                st == 401 and j and "needs an API key" in j["error"]
                and h.get("www-authenticate") == "Bearer", (st, j))
        st, j, h, _ = call(s, "POST", "/v2/repository/models/red_disc/unload", b"{}", "wrong")
        T.check("a wrong key: 401 'not known'", st == 401 and j and "not known" in j["error"], j)
        st, j, h, _ = call(s, "POST", "/v2/repository/models/red_disc/unload", b"{}", K_OPS)
        T.check("Authorization: Bearer KEY unloads", st == 200, (st, j))
        st, j, h, _ = call(s, "POST", "/v2/repository/models/red_disc/load", b"{}", K_CAM,
                           header="x-api-token")
        T.check("x-api-token: KEY loads it back", st == 200, (st, j))
        st, j, h, _ = call(s, "POST", infer, IMG)
        T.check("it serves again", st == 200, st)
    d2 = tempfile.mkdtemp(dir=tmp)
    with Serve(GLINT, d2, "--models", models, "--model", "red_disc", "--cache-mb", "0",
               "--api-keys", keys, "--require-api-key", "1") as s:
        T.check("serve ready (--require-api-key 1)", s.port > 0, s.log())
        st, j, h, _ = call(s, "POST", infer, IMG)
        T.check("every route wants a key: inference without one is 401", st == 401, st)
        st, j, h, _ = call(s, "POST", infer, IMG, K_CAM)
        T.check("... and answers with one", st == 200 and j and j["classes"], st)
        for p in ("/v2/health/ready", "/v2/health/live"):
            st, j, h, _ = call(s, "GET", p)
            T.check("the probe %s needs no key (Kubernetes)" % p, st == 200, st)
        st, j, h, _ = call(s, "GET", "/metrics")
        T.check("/metrics wants a key", st == 401, st)
        for _ in range(3):
            call(s, "POST", infer, IMG, K_CAM)
        st, j, h, body = call(s, "GET", "/metrics", key=K_OPS)
        text = body.decode()
        T.check("requests counted per key", st == 200 and
                'glint_api_key_requests_total{key="camera-1"} 4' in text
                and 'glint_api_key_refused_total 2' in text, text[-400:])
        # reload: a new key works, a removed one stops; a broken file keeps the keys
        time.sleep(1.1)  # a new mtime
        with open(keys, "w") as f:
            f.write(line("ops", K_OPS) + line("new", K_NEW))
        deadline = time.time() + 10
        while time.time() < deadline and call(s, "POST", infer, IMG, K_NEW)[0] != 200:
            time.sleep(0.2)
        T.check("the file reloaded: a new key works", call(s, "POST", infer, IMG, K_NEW)[0] == 200)
        T.check("... and a removed one is refused", call(s, "POST", infer, IMG, K_CAM)[0] == 401)
        time.sleep(1.1)
        with open(keys, "w") as f:
            f.write("ops not-a-hash\n")
        time.sleep(2.5)
        T.check("a broken file leaves the keys it had",
                call(s, "POST", infer, IMG, K_NEW)[0] == 200 and "the keys read before stay"
                in s.log(), s.log()[-300:])
    for args, want in ((["--api-keys", os.path.join(tmp, "none")], "No such file"),
                       (["--api-keys", keys], "SHA-256"),
                       (["--require-api-key", "1"], "needs --api-keys")):
        p = subprocess.run([GLINT, "serve", "--listen", "127.0.0.1:0", "--models", models,
                            "--model", "red_disc"] + args, capture_output=True, text=True,
                           timeout=120)
        T.check("refused at start (%s): exit 1 saying '%s'" % (args[0], want),
                p.returncode == 1 and want in p.stderr, p.stderr[-300:])
    subprocess.run(["rm", "-rf", tmp])
    T.finish()


main()
