"""KServe v2 over gRPC on glint serve, driven by a real gRPC client (Debian's
python3-grpcio, the gRPC C core) with messages compiled by protoc from the
protos glint builds from (src/serve/kserve/proto): every RPC glint serves,
its answers compared with the same server's HTTP answers, gRPC statuses for
bad calls, a stream with an error inside it, concurrency with consistent
statistics, the repository, API keys, a client that goes away mid-stream.

usage: test_grpc.py GLINT SRC"""
import array
import hashlib
import http.client
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
from cli_harness import Serve, Tally  # noqa: E402

GLINT, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
T = Tally()
SVC = "/inference.GRPCInferenceService/"

gen = tempfile.mkdtemp(prefix="glint-grpc-pb-")
subprocess.run(["protoc", "--proto_path=" + os.path.join(SRC, "src/serve/kserve/proto"),
                "--python_out=" + gen, "grpc_service.proto", "model_config.proto"], check=True)
sys.path.insert(0, gen)
import grpc_service_pb2 as pb  # noqa: E402


def rpc(ch, method, resp, stream=False):
    ser = (lambda m: m) if method.endswith("#raw") else (lambda m: m.SerializeToString())
    name = SVC + method.split("#")[0]
    if stream:
        return ch.stream_stream(name, request_serializer=ser, response_deserializer=resp.FromString)
    return ch.unary_unary(name, request_serializer=ser, response_deserializer=resp.FromString)


def status_of(fn, *a, **kw):
    """(code, details) of a call that should fail; (OK, answer) if it did not."""
    try:
        return grpc.StatusCode.OK, fn(*a, **kw)
    except grpc.RpcError as e:
        return e.code(), e.details()


def http_json(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request(method, path, body, headers or {})
    r = c.getresponse()
    data = r.read()
    return r.status, data, r


def grpc_port(s):
    m = re.search(r"KServe v2 over gRPC on [^ ]*:(\d+)", s.log())
    return int(m.group(1)) if m else 0


rng = random.Random(7)
PIX = array.array("f", [rng.random() for _ in range(3 * 128 * 128)])


def infer_request(model="red_disc", name="input", data=PIX, shape=(1, 3, 128, 128), rid="",
                  typed=False):
    q = pb.ModelInferRequest(model_name=model, id=rid)
    t = q.inputs.add()
    t.name, t.datatype = name, "FP32"
    t.shape.extend(shape)
    if typed:
        t.contents.fp32_contents.extend(data)
    else:
        q.raw_input_contents.append(data.tobytes())
    return q


def http_infer(port, data=PIX):
    """The HTTP binary-tensor answer: (outputs metadata, [float lists])."""
    raw = data.tobytes()
    head = json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3, 128, 128],
                                   "parameters": {"binary_data_size": len(raw)}}],
                       "parameters": {"binary_data_output": True}}).encode()
    st, body, r = http_json(port, "POST", "/v2/models/red_disc/infer", head + raw,
                            {"Inference-Header-Content-Length": str(len(head))})
    hl = int(r.getheader("Inference-Header-Content-Length"))
    meta = json.loads(body[:hl])
    vals, off = [], hl
    for o in meta["outputs"]:
        n = o["parameters"]["binary_data_size"]
        vals.append(array.array("f", body[off:off + n]).tolist())
        off += n
    return st, meta, vals


tmp = tempfile.mkdtemp(prefix="glint-grpc-")
with Serve(GLINT, tmp, "--models", os.path.join(SRC, "models"), "--model", "red_disc",
           "--model", "shapes", "--grpc-listen", "127.0.0.1:0", "--cache-mb", "0",
           "--max-body-mb", "1") as s:
    gp = grpc_port(s)
    T.check("serve starts with a gRPC port", s.port and gp, s.log())
    ch = grpc.insecure_channel("127.0.0.1:%d" % gp)

    # ---- health and metadata, against the same server's HTTP answers ----
    T.check("ServerLive", rpc(ch, "ServerLive", pb.ServerLiveResponse)(
        pb.ServerLiveRequest(), timeout=30).live)
    T.check("ServerReady", rpc(ch, "ServerReady", pb.ServerReadyResponse)(
        pb.ServerReadyRequest(), timeout=30).ready)
    md = rpc(ch, "ServerMetadata", pb.ServerMetadataResponse)(pb.ServerMetadataRequest())
    hv = json.loads(http_json(s.port, "GET", "/v2")[1])
    T.check("ServerMetadata = GET /v2", md.name == hv["name"] and md.version == hv["version"]
            and list(md.extensions) == hv["extensions"], (md, hv))
    mm = rpc(ch, "ModelMetadata", pb.ModelMetadataResponse)(
        pb.ModelMetadataRequest(name="red_disc"))
    hm = json.loads(http_json(s.port, "GET", "/v2/models/red_disc")[1])
    T.check("ModelMetadata = GET /v2/models/red_disc",
            mm.name == "red_disc" and list(mm.versions) == ["1"]
            and [(t.name, t.datatype, list(t.shape)) for t in mm.inputs]
            == [(t["name"], t["datatype"], t["shape"]) for t in hm["inputs"]]
            and [(t.name, t.datatype, list(t.shape)) for t in mm.outputs]
            == [(t["name"], t["datatype"], t["shape"]) for t in hm["outputs"]], (mm, hm))
    mc = rpc(ch, "ModelConfig", pb.ModelConfigResponse)(pb.ModelConfigRequest(name="red_disc"))
    hc = json.loads(http_json(s.port, "GET", "/v2/models/red_disc/config")[1])
    T.check("ModelConfig = GET .../config",
            mc.config.name == "red_disc" and mc.config.max_batch_size == hc["max_batch_size"]
            and [list(i.dims) for i in mc.config.input] == [i["dims"] for i in hc["input"]]
            and mc.config.instance_group[0].count == hc["instance_group"][0]["count"]
            and mc.config.parameters["precision"].string_value == hc["parameters"]["precision"],
            (mc, hc))
    T.check("ModelReady", rpc(ch, "ModelReady", pb.ModelReadyResponse)(
        pb.ModelReadyRequest(name="shapes")).ready)
    code, det = status_of(rpc(ch, "ModelReady", pb.ModelReadyResponse),
                          pb.ModelReadyRequest(name="nope"))
    T.check("ModelReady of an unknown model: NOT_FOUND", code == grpc.StatusCode.NOT_FOUND, det)

    # ---- inference ----
    infer = rpc(ch, "ModelInfer", pb.ModelInferResponse)
    a = infer(infer_request(rid="req-7"), timeout=60)
    hst, hmeta, hvals = http_infer(s.port)
    gvals = [array.array("f", b).tolist() for b in a.raw_output_contents]
    T.check("ModelInfer answers as HTTP does (names, datatypes, shapes)",
            hst == 200 and [(o.name, o.datatype, list(o.shape)) for o in a.outputs]
            == [(o["name"], o["datatype"], o["shape"]) for o in hmeta["outputs"]], (a.outputs, hmeta))
    T.check("ModelInfer values = HTTP binary values",
            len(gvals) == len(hvals) and all(len(g) == len(h) and all(abs(x - y) <= 1e-4
                                             for x, y in zip(g, h)) for g, h in zip(gvals, hvals)),
            (gvals, hvals))
    T.check("ModelInfer echoes id and model", a.id == "req-7" and a.model_name == "red_disc"
            and a.model_version == "1", a)
    b = infer(infer_request(typed=True), timeout=60)
    bvals = array.array("f", b.raw_output_contents[0]).tolist()
    T.check("typed fp32_contents give the raw answer", len(bvals) == len(gvals[0]) and
            all(abs(x - y) <= 1e-4 for x, y in zip(bvals, gvals[0])), (bvals, gvals))
    q = infer_request()
    q.outputs.add().name = "nope"
    code, det = status_of(infer, q, timeout=60)
    T.check("an unknown output: INVALID_ARGUMENT", code == grpc.StatusCode.INVALID_ARGUMENT
            and "nope" in det, (code, det))
    code, det = status_of(infer, infer_request(data=array.array("f", [0.0] * 12),
                                               shape=(1, 3, 2, 2)), timeout=60)
    T.check("a wrong shape: INVALID_ARGUMENT naming the input",
            code == grpc.StatusCode.INVALID_ARGUMENT and "input" in det, (code, det))
    q = infer_request()
    q.raw_input_contents[0] = q.raw_input_contents[0][:-4]
    code, det = status_of(infer, q, timeout=60)
    T.check("raw contents shorter than the shape: INVALID_ARGUMENT",
            code == grpc.StatusCode.INVALID_ARGUMENT and "raw_input_contents" in det, (code, det))
    q = infer_request()
    q.model_version = "2"
    code, det = status_of(infer, q, timeout=60)
    T.check("version 2: NOT_FOUND", code == grpc.StatusCode.NOT_FOUND, (code, det))
    code, det = status_of(infer, infer_request(model="nope"), timeout=60)
    T.check("an unknown model: NOT_FOUND", code == grpc.StatusCode.NOT_FOUND and "nope" in det,
            (code, det))
    code, det = status_of(rpc(ch, "ModelInfer#raw", pb.ModelInferResponse),
                          b"\x0a\xff\xff\xff\xff\x0f", timeout=60)
    T.check("a malformed message: INVALID_ARGUMENT", code == grpc.StatusCode.INVALID_ARGUMENT,
            (code, det))
    code, det = status_of(rpc(ch, "SystemSharedMemoryStatus", pb.ServerLiveResponse),
                          pb.ServerLiveRequest(), timeout=30)
    T.check("an RPC glint does not serve: UNIMPLEMENTED",
            code == grpc.StatusCode.UNIMPLEMENTED, (code, det))
    big = array.array("f", [0.5]) * (3 * 300 * 300)
    code, det = status_of(infer, infer_request(data=big, shape=(1, 3, 300, 300)), timeout=60)
    T.check("a message over --max-body-mb: RESOURCE_EXHAUSTED",
            code == grpc.StatusCode.RESOURCE_EXHAUSTED, (code, det))
    q = infer_request()
    q.parameters["timeout"].int64_param = 1
    code, det = status_of(infer, q, timeout=60)
    T.check("a 1 us timeout: DEADLINE_EXCEEDED from the server",
            code == grpc.StatusCode.DEADLINE_EXCEEDED and "deadline" in det, (code, det))

    # ---- a stream with a bad request in the middle ----
    reqs = [infer_request(rid="s%d" % i) for i in range(10)]
    reqs[4] = infer_request(rid="bad", name="wrong")
    sinfer = rpc(ch, "ModelStreamInfer", pb.ModelStreamInferResponse, stream=True)
    answers = list(sinfer(iter(reqs), timeout=120))
    ids = sorted(r.infer_response.id for r in answers if not r.error_message)
    errs = [r.error_message for r in answers if r.error_message]
    T.check("ModelStreamInfer answers every request of the stream",
            len(answers) == 10 and ids == sorted("s%d" % i for i in range(10) if i != 4),
            [(r.infer_response.id, r.error_message) for r in answers])
    T.check("a bad request in a stream is an error_message and the stream goes on",
            len(errs) == 1 and "input" in errs[0], errs)

    # ---- concurrency: every call answered, statistics consistent ----
    stats = rpc(ch, "ModelStatistics", pb.ModelStatisticsResponse)
    before = stats(pb.ModelStatisticsRequest(name="red_disc")).model_stats[0]
    fails = []

    def worker():
        c2 = grpc.insecure_channel("127.0.0.1:%d" % gp)
        f = rpc(c2, "ModelInfer", pb.ModelInferResponse)
        for i in range(15):
            try:
                r = f(infer_request(rid=str(i)), timeout=60)
                if r.id != str(i):
                    fails.append(r.id)
            except grpc.RpcError as e:
                fails.append(e.code())
        c2.close()
    th = [threading.Thread(target=worker) for _ in range(4)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    after = stats(pb.ModelStatisticsRequest(name="red_disc")).model_stats[0]
    T.check("4 clients x 15 calls: all answered", not fails, fails)
    ist = after.inference_stats
    T.check("ModelStatistics counted the 60 inferences",
            after.inference_count - before.inference_count == 60
            and ist.success.count - before.inference_stats.success.count == 60, (before, after))
    T.check("compute_input/infer/output counts agree",
            ist.compute_input.count == ist.compute_infer.count == ist.compute_output.count
            and sum(b.compute_infer.count for b in after.batch_stats) == after.execution_count, ist)
    hs = json.loads(http_json(s.port, "GET", "/v2/models/red_disc/stats")[1])["model_stats"][0]
    T.check("ModelStatistics = GET .../stats",
            hs["inference_count"] == after.inference_count
            and hs["inference_stats"]["success"]["count"] == ist.success.count, (hs, after))

    # ---- a client that goes away mid-stream ----
    it = sinfer(iter([infer_request(rid="gone%d" % i) for i in range(6)]), timeout=60)
    it.cancel()
    T.check("after a cancelled stream the server answers",
            rpc(ch, "ServerLive", pb.ServerLiveResponse)(pb.ServerLiveRequest(),
                                                          timeout=30).live and s.proc.poll() is None)

    # ---- the repository ----
    index = rpc(ch, "RepositoryIndex", pb.RepositoryIndexResponse)
    ix = {m.name: m.state for m in index(pb.RepositoryIndexRequest()).models}
    T.check("RepositoryIndex lists the models READY",
            ix.get("red_disc") == "READY" and ix.get("shapes") == "READY", ix)
    rpc(ch, "RepositoryModelUnload", pb.RepositoryModelUnloadResponse)(
        pb.RepositoryModelUnloadRequest(model_name="shapes"), timeout=60)
    ready = rpc(ch, "ModelReady", pb.ModelReadyResponse)
    ix = {m.name: m.state for m in index(pb.RepositoryIndexRequest()).models}
    T.check("RepositoryModelUnload: not ready, UNAVAILABLE in the index",
            not ready(pb.ModelReadyRequest(name="shapes")).ready and ix.get("shapes") ==
            "UNAVAILABLE" and "shapes" not in [m.name for m in index(
                pb.RepositoryIndexRequest(ready=True)).models], ix)
    rpc(ch, "RepositoryModelLoad", pb.RepositoryModelLoadResponse)(
        pb.RepositoryModelLoadRequest(model_name="shapes"), timeout=120)
    T.check("RepositoryModelLoad: ready again", ready(pb.ModelReadyRequest(name="shapes")).ready)

    # ---- what operators see ----
    met = http_json(s.port, "GET", "/metrics")[1].decode()
    m = re.search(r'glint_grpc_calls_total\{method="ModelInfer",code="OK"\} (\d+)', met)
    T.check("/metrics counts gRPC calls by method and status", m and int(m.group(1)) >= 62
            and 'method="ModelInfer",code="INVALID_ARGUMENT"' in met, met[-800:])
    h = json.loads(http_json(s.port, "GET", "/health")[1])
    T.check("/health shows the gRPC listener", h.get("grpc", {}).get("port") == gp, h.get("grpc"))
    ch.close()
T.check("glint serve drains and exits 0 after gRPC calls", s.proc.returncode == 0,
        s.proc.returncode)

# ---- API keys: the same rules as HTTP ----
key = "grpc-secret-key"
keys = os.path.join(tmp, "keys")
with open(keys, "w") as f:
    f.write("cam %s\n" % hashlib.sha256(key.encode()).hexdigest())
tmp2 = tempfile.mkdtemp(prefix="glint-grpc-keys-")
with Serve(GLINT, tmp2, "--models", os.path.join(SRC, "models"), "--model", "red_disc",
           "--grpc-listen", "127.0.0.1:0", "--api-keys", keys, "--require-api-key", "1") as s:
    ch = grpc.insecure_channel("127.0.0.1:%d" % grpc_port(s))
    meta = rpc(ch, "ModelMetadata", pb.ModelMetadataResponse)
    req = pb.ModelMetadataRequest(name="red_disc")
    T.check("keys: ServerLive needs none", rpc(ch, "ServerLive", pb.ServerLiveResponse)(
        pb.ServerLiveRequest(), timeout=30).live)
    code, det = status_of(meta, req, timeout=30)
    T.check("keys: no key is UNAUTHENTICATED", code == grpc.StatusCode.UNAUTHENTICATED, (code, det))
    code, det = status_of(meta, req, timeout=30, metadata=[("authorization", "Bearer wrong")])
    T.check("keys: an unknown key is UNAUTHENTICATED", code == grpc.StatusCode.UNAUTHENTICATED,
            (code, det))
    code, _ = status_of(meta, req, timeout=30, metadata=[("authorization", "Bearer " + key)])
    code2, _ = status_of(meta, req, timeout=30, metadata=[("x-api-token", key)])
    T.check("keys: Bearer and x-api-token let in", code == code2 == grpc.StatusCode.OK,
            (code, code2))
    code, det = status_of(rpc(ch, "RepositoryModelUnload", pb.RepositoryModelUnloadResponse),
                          pb.RepositoryModelUnloadRequest(model_name="red_disc"), timeout=30)
    T.check("keys: an unload without a key is UNAUTHENTICATED",
            code == grpc.StatusCode.UNAUTHENTICATED, (code, det))
    ch.close()
# ---- a client that connects and never speaks HTTP/2 is let go; a channel that does stays ----
import socket  # noqa: E402
import time  # noqa: E402
tmp4 = tempfile.mkdtemp(prefix="glint-grpc-idle-")
with Serve(GLINT, tmp4, "--models", os.path.join(SRC, "models"), "--model", "red_disc",
           "--grpc-listen", "127.0.0.1:0", "--idle-timeout-ms", "500") as s:
    gp = grpc_port(s)
    mute = socket.create_connection(("127.0.0.1", gp), timeout=10)
    ch = grpc.insecure_channel("127.0.0.1:%d" % gp)
    live = rpc(ch, "ServerLive", pb.ServerLiveResponse)
    live(pb.ServerLiveRequest(), timeout=30)
    t0 = time.time()
    gone = False
    try:  # the server's SETTINGS come first, then the end of the connection
        while mute.recv(1024):
            pass
        gone = True
    except ConnectionResetError:
        gone = True
    except socket.timeout:
        pass
    T.check("a connection that never sends HTTP/2 is closed after --idle-timeout-ms",
            gone and time.time() - t0 < 5, time.time() - t0)
    time.sleep(1.0)
    T.check("an idle gRPC channel is kept (5 minutes)", live(pb.ServerLiveRequest(), timeout=30).live
            and json.loads(http_json(s.port, "GET", "/health")[1])["grpc"]["connections"] == 1)
    mute.close()
    ch.close()

# ---- --rate-limit: per client, as on HTTP ----
tmp5 = tempfile.mkdtemp(prefix="glint-grpc-rate-")
with Serve(GLINT, tmp5, "--models", os.path.join(SRC, "models"), "--model", "red_disc",
           "--grpc-listen", "127.0.0.1:0", "--rate-limit", "2", "--rate-limit-burst", "2") as s:
    ch = grpc.insecure_channel("127.0.0.1:%d" % grpc_port(s))
    infer = rpc(ch, "ModelInfer", pb.ModelInferResponse)
    got = [status_of(infer, infer_request(), timeout=30, metadata=[("x-api-token", "cam-a")])
           for _ in range(5)]
    codes = [g[0] for g in got]
    T.check("rate limit: 2 answered, then RESOURCE_EXHAUSTED",
            codes[:2] == [grpc.StatusCode.OK] * 2
            and codes[2:] == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 3
            and "rate limit" in got[2][1], got[2:])
    try:
        infer(infer_request(), timeout=30, metadata=[("x-api-token", "cam-a")])
        push = None
    except grpc.RpcError as e:
        push = dict(e.trailing_metadata() or ()).get("grpc-retry-pushback-ms")
    T.check("rate limit: the refusal carries grpc-retry-pushback-ms",
            push is not None and 0 < int(push) <= 1000, push)
    T.check("rate limit: another client is not affected",
            status_of(infer, infer_request(), timeout=30,
                      metadata=[("x-api-token", "cam-b")])[0] == grpc.StatusCode.OK)
    sinfer = rpc(ch, "ModelStreamInfer", pb.ModelStreamInferResponse, stream=True)
    answers = list(sinfer(iter([infer_request(rid=str(i)) for i in range(4)]), timeout=60,
                          metadata=[("x-api-token", "cam-c")]))
    T.check("rate limit: in a stream each request counts; the refused ones are error_messages",
            len(answers) == 4 and sum(1 for a in answers if not a.error_message) == 2
            and sum(1 for a in answers if "rate limit" in a.error_message) == 2,
            [(a.infer_response.id, a.error_message) for a in answers])
    ch.close()

# ---- overload: UNAVAILABLE with retry pushback, the rest answered ----
tmp3 = tempfile.mkdtemp(prefix="glint-grpc-load-")
with Serve(GLINT, tmp3, "--models", os.path.join(SRC, "models"), "--model", "red_disc",
           "--grpc-listen", "127.0.0.1:0", "--max-queue", "1", "--cache-mb", "0") as s:
    ch = grpc.insecure_channel("127.0.0.1:%d" % grpc_port(s))
    infer = rpc(ch, "ModelInfer", pb.ModelInferResponse)
    infer(infer_request(), timeout=60)  # warm
    futs = [infer.future(infer_request(rid=str(i)), timeout=60) for i in range(24)]
    ok = refused = 0
    pushback = set()
    for f in futs:
        try:
            f.result()
            ok += 1
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.UNAVAILABLE:
                refused += 1
                pushback.add(dict(e.trailing_metadata() or ()).get("grpc-retry-pushback-ms"))
    T.check("a full queue: UNAVAILABLE at once, the others answered",
            refused >= 1 and ok >= 1 and ok + refused == 24, (ok, refused))
    T.check("UNAVAILABLE carries grpc-retry-pushback-ms", pushback == {"1000"}, pushback)
    ch.close()
# ---- --rate-limit with --redis: the limit is the fleet's, also over gRPC ----
def free_port():
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


rport = free_port()
redis = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save",
                          "", "--appendonly", "no"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
try:
    fleet_args = ("--models", os.path.join(SRC, "models"), "--model", "red_disc", "--grpc-listen",
                  "127.0.0.1:0", "--redis", "redis://127.0.0.1:%d" % rport, "--rate-limit", "2",
                  "--rate-limit-burst", "4", "--redis-timeout-ms", "250")  # (a loaded machine)
    tmp6, tmp7 = tempfile.mkdtemp(prefix="glint-grpc-f1-"), tempfile.mkdtemp(prefix="glint-grpc-f2-")
    with Serve(GLINT, tmp6, *fleet_args) as a, Serve(GLINT, tmp7, *fleet_args) as b:
        t0, ready = time.time(), False
        while time.time() - t0 < 10 and not ready:
            hs = [json.loads(http_json(x.port, "GET", "/health", headers={
                "x-api-token": "monitor-%d" % i})[1]).get("redis") or {} for i, x in enumerate((a, b))]
            ready = all(h.get("up") and h.get("replicas") == 2 for h in hs)
            time.sleep(0.1)
        T.check("two replicas share a Redis (up, 2 replicas)", ready, hs)
        cha = grpc.insecure_channel("127.0.0.1:%d" % grpc_port(a))
        chb = grpc.insecure_channel("127.0.0.1:%d" % grpc_port(b))
        ia = rpc(cha, "ModelInfer", pb.ModelInferResponse)
        ib = rpc(chb, "ModelInfer", pb.ModelInferResponse)
        md = [("x-api-token", "fleet-cam")]
        on_a = [status_of(ia, infer_request(), timeout=30, metadata=md)[0] for _ in range(6)]
        on_b = [status_of(ib, infer_request(), timeout=30, metadata=md)[0] for _ in range(3)]
        T.check("with Redis the burst is the fleet's: 4 of 6 on one replica (its own share "
                "would be 2), then none on the other", on_a[:4] == [grpc.StatusCode.OK] * 4
                and on_a[4:] == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 2
                and on_b == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 3, (on_a, on_b))
        sb = rpc(chb, "ModelStreamInfer", pb.ModelStreamInferResponse, stream=True)
        answers = list(sb(iter([infer_request(rid=str(i)) for i in range(2)]), timeout=60,
                          metadata=md))
        T.check("a stream's requests are counted by the fleet too (refused: error_message)",
                len(answers) == 2 and all("rate limit" in x.error_message for x in answers),
                [x.error_message for x in answers])
        shared = [x for x in http_json(b.port, "GET", "/metrics", headers={
            "x-api-token": "monitor-m"})[1].decode().splitlines()
            if x.startswith("glint_rate_checks_shared_total ")]
        T.check("the other replica asked Redis (glint_rate_checks_shared_total)",
                shared and float(shared[0].split()[1]) >= 5, shared)
        cha.close()
        chb.close()
finally:
    redis.kill()
    redis.wait()
T.finish()
