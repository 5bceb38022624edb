#!/usr/bin/python3
"""Renders deploy/k8s (the base and every overlay) with `kubectl kustomize` and
validates every object offline.

Usage: /usr/bin/python3 tests/deploy/validate_k8s.py deploy/k8s

Schema: each object is checked against the typed models of Debian's
python3-kubernetes (kubernetes.client.V1Deployment, ...), strictly: an unknown
field, a value of the wrong type or a missing required field fails. The models
are those of Kubernetes 1.22 (python3-kubernetes 22.6): autoscaling/v2 is
checked against V2beta2HorizontalPodAutoscaler, the same schema under its beta
name. The ServiceMonitor (a CRD) is checked for its known shape by hand.

Semantics: the probes' paths are routes of glint (found in src/serve), the
grace period outlasts preStop + the drain timeout of the args, the security
context (non-root, read-only root, no privilege escalation, no capabilities,
RuntimeDefault seccomp), every volumeMount has its volume, every ConfigMap and
claim referenced is rendered, selectors match the template labels, the
Service's targetPort and the probes' ports name container ports, the PDB
leaves an eviction possible, the HPA's metric is served by the
prometheus-adapter rule of deploy/k8s/README.md from a series glint exports,
and what each overlay is for (edge: one replica, Recreate, the claims; fleet:
rolling with no unavailability, PDB minAvailable, HPA).

Needs kubectl (scripts/install-deps.sh installs it): without it the test fails,
it is never skipped.
"""
import os
import re
import shutil
import subprocess
import sys

try:
    import yaml
    import kubernetes.client as k8s
except ImportError as e:  # pragma: no cover
    sys.exit("validate_k8s: %s: install python3-yaml and python3-kubernetes "
             "(scripts/install-deps.sh), run with /usr/bin/python3" % e)

ERRORS = []


def err(where, msg):
    ERRORS.append("%s: %s" % (where, msg))


# ---------------------------------------------------------------- schema

MODELS = {
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "Service"): "V1Service",
    ("v1", "PersistentVolumeClaim"): "V1PersistentVolumeClaim",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("apps/v1", "StatefulSet"): "V1StatefulSet",
    ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget",
    ("autoscaling/v2", "HorizontalPodAutoscaler"):
        "V2HorizontalPodAutoscaler" if hasattr(k8s, "V2HorizontalPodAutoscaler")
        else "V2beta2HorizontalPodAutoscaler",
}

# resource.Quantity fields: the client types them str, the API takes a number too
QUANTITY_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+|[numkMGTPE]|[KMGTPE]i)?$")
QUANTITY = {
    ("V1ResourceRequirements", "limits"), ("V1ResourceRequirements", "requests"),
    ("V1EmptyDirVolumeSource", "size_limit"),
    ("V2beta2MetricTarget", "average_value"), ("V2beta2MetricTarget", "value"),
    ("V2MetricTarget", "average_value"), ("V2MetricTarget", "value"),
}

_REQUIRED = {}


def required_attrs(cls):
    """The attributes whose setter refuses None under client-side validation."""
    if cls.__name__ not in _REQUIRED:
        off = k8s.Configuration()
        off.client_side_validation = False
        on = k8s.Configuration()
        on.client_side_validation = True
        obj = cls(local_vars_configuration=off)
        obj.local_vars_configuration = on
        req = []
        for attr in cls.openapi_types:
            try:
                setattr(obj, attr, None)
            except ValueError:
                req.append(attr)
        _REQUIRED[cls.__name__] = req
    return _REQUIRED[cls.__name__]


def check_quantity(v, where):
    if isinstance(v, bool) or not isinstance(v, (str, int, float)):
        err(where, "a quantity must be a string or number, not %s" % type(v).__name__)
    elif isinstance(v, str) and not QUANTITY_RE.match(v):
        err(where, "%r is not a quantity" % v)


def check(v, t, where, quantity=False):
    """v (from YAML) against the client's type string t."""
    if v is None:
        return  # an explicit null is absence to the API server (required: below)
    if quantity:
        if t.startswith("dict("):
            if not isinstance(v, dict):
                err(where, "expected a map of quantities, got %s" % type(v).__name__)
                return
            for k, x in v.items():
                check_quantity(x, "%s.%s" % (where, k))
        else:
            check_quantity(v, where)
        return
    m = re.match(r"^list\[(.*)\]$", t)
    if m:
        if not isinstance(v, list):
            err(where, "expected a list (%s), got %s" % (t, type(v).__name__))
            return
        for i, x in enumerate(v):
            check(x, m.group(1), "%s[%d]" % (where, i))
        return
    m = re.match(r"^dict\(([^,]*), (.*)\)$", t)
    if m:
        if not isinstance(v, dict):
            err(where, "expected a map (%s), got %s" % (t, type(v).__name__))
            return
        for k, x in v.items():
            if not isinstance(k, str):
                err(where, "key %r is not a string" % (k,))
            check(x, m.group(2), "%s.%s" % (where, k))
        return
    if t == "str":
        if not isinstance(v, str):
            err(where, "expected a string, got %s %r" % (type(v).__name__, v))
    elif t == "int":
        if isinstance(v, bool) or not isinstance(v, int):
            err(where, "expected an integer, got %s %r" % (type(v).__name__, v))
    elif t == "float":
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            err(where, "expected a number, got %s %r" % (type(v).__name__, v))
    elif t == "bool":
        if not isinstance(v, bool):
            err(where, "expected true/false, got %s %r" % (type(v).__name__, v))
    elif t == "object":
        # IntOrString (ports, maxUnavailable, ...) and raw objects
        if isinstance(v, bool) or not isinstance(v, (int, str, dict)):
            err(where, "expected an integer or a string, got %s %r" % (type(v).__name__, v))
    elif t == "datetime":
        pass
    else:
        check_model(v, t, where)


def check_model(v, name, where):
    cls = getattr(k8s, name, None)
    if cls is None:
        err(where, "no model %s in python3-kubernetes" % name)
        return
    if not isinstance(v, dict):
        err(where, "expected an object (%s), got %s %r" % (name, type(v).__name__, v))
        return
    json_to_attr = {j: a for a, j in cls.attribute_map.items()}
    for key, x in v.items():
        attr = json_to_attr.get(key)
        if attr is None:
            err("%s.%s" % (where, key), "unknown field (%s has %s)" % (
                name, ", ".join(sorted(cls.attribute_map.values()))))
            continue
        check(x, cls.openapi_types[attr], "%s.%s" % (where, key),
              quantity=(name, attr) in QUANTITY)
    for attr in required_attrs(cls):
        if v.get(cls.attribute_map[attr]) is None:
            err(where, "missing required field %s (%s)" % (cls.attribute_map[attr], name))


def check_object(doc, where):
    key = (doc.get("apiVersion"), doc.get("kind"))
    if key == ("monitoring.coreos.com/v1", "ServiceMonitor"):
        check_service_monitor_shape(doc, where)
        return
    name = MODELS.get(key)
    if not name:
        err(where, "no schema for %s %s: add it to MODELS" % key)
        return
    n_before = len(ERRORS)
    check_model(doc, name, where)
    if len(ERRORS) == n_before:  # and the client's own deserializer agrees
        try:
            k8s.ApiClient()._ApiClient__deserialize(doc, name)
        except Exception as e:  # noqa: BLE001 - any refusal is a failure
            err(where, "python3-kubernetes refuses it: %s" % e)


SM_SPEC = {"endpoints", "selector", "namespaceSelector", "jobLabel", "targetLabels",
           "podTargetLabels", "sampleLimit", "targetLimit", "attachMetadata"}
SM_ENDPOINT = {"port", "targetPort", "path", "scheme", "params", "interval", "scrapeTimeout",
               "honorLabels", "honorTimestamps", "relabelings", "metricRelabelings",
               "tlsConfig", "bearerTokenSecret", "authorization", "basicAuth", "oauth2",
               "followRedirects", "enableHttp2", "proxyUrl", "filterRunning"}
DURATION_RE = re.compile(r"^(\d+(ms|s|m|h))+$")


def check_service_monitor_shape(doc, where):
    for k in doc:
        if k not in ("apiVersion", "kind", "metadata", "spec"):
            err(where, "unknown field %s" % k)
    check_model(doc.get("metadata"), "V1ObjectMeta", where + ".metadata")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        err(where, "spec missing")
        return
    for k in spec:
        if k not in SM_SPEC:
            err("%s.spec.%s" % (where, k), "unknown field")
    if "selector" not in spec:
        err(where + ".spec", "missing required field selector")
    else:
        check_model(spec["selector"], "V1LabelSelector", where + ".spec.selector")
    eps = spec.get("endpoints")
    if not isinstance(eps, list) or not eps:
        err(where + ".spec.endpoints", "a non-empty list is required")
        return
    for i, ep in enumerate(eps):
        w = "%s.spec.endpoints[%d]" % (where, i)
        if not isinstance(ep, dict):
            err(w, "expected an object")
            continue
        for k in ep:
            if k not in SM_ENDPOINT:
                err("%s.%s" % (w, k), "unknown field")
        for k in ("port", "path"):
            if k in ep and not isinstance(ep[k], str):
                err("%s.%s" % (w, k), "expected a string")
        for k in ("interval", "scrapeTimeout"):
            if k in ep and not (isinstance(ep[k], str) and DURATION_RE.match(ep[k])):
                err("%s.%s" % (w, k), "expected a duration such as 15s, got %r" % (ep[k],))


# ---------------------------------------------------------------- semantics

def source_has(src, literal):
    """Whether the C sources under src/serve hold the string literal "literal"."""
    needle = '"%s"' % literal
    for root, _, files in os.walk(os.path.join(src, "src", "serve")):
        for f in files:
            if f.endswith(".c"):
                with open(os.path.join(root, f), encoding="utf-8", errors="replace") as fh:
                    if needle in fh.read():
                        return True
    return False


def glint_route_exists(src, path):
    # the KServe module matches "/v2" then the rest ("/health/ready", ...)
    if path.startswith("/v2/"):
        return source_has(src, path[3:])
    return source_has(src, path)


LIVE_PATHS = ("/v2/health/live", "/health/live")
READY_PATHS = ("/v2/health/ready", "/health/ready")


def arg_value(args, flag, default=None):
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(flag + "="):
            return a[len(flag) + 1:]
    return default


def sleep_seconds(handler):
    """The seconds a preStop handler sleeps: exec `sleep N` (in sh -c) or sleep."""
    if not handler:
        return None
    if "sleep" in handler:  # the kubelet's own sleep action (1.29+)
        return handler["sleep"].get("seconds")
    cmd = " ".join((handler.get("exec") or {}).get("command") or [])
    m = re.search(r"\bsleep\s+(\d+)", cmd)
    return int(m.group(1)) if m else None


def labels_match(selector, labels):
    return all((labels or {}).get(k) == v for k, v in (selector or {}).items())


def check_workload(d, objs, where):
    """What every pod template must get right (a Deployment's or a
    StatefulSet's): selector, volumes, mounts, security, resources. Returns
    its containers."""
    spec = d["spec"]
    tmpl = spec["template"]
    pod = tmpl["spec"]
    tlabels = tmpl.get("metadata", {}).get("labels") or {}
    sel = spec["selector"].get("matchLabels") or {}
    if not sel or not labels_match(sel, tlabels):
        err(where, "selector %s does not match the template labels %s" % (sel, tlabels))
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    if len(volumes) != len(pod.get("volumes") or []):
        err(where, "two volumes share a name")
    for vname, v in volumes.items():
        kinds = [k for k in v if k != "name" and v[k] is not None]
        if len(kinds) != 1:
            err("%s volume %s" % (where, vname), "needs exactly one source, has %s" % kinds)
        if "configMap" in v:
            cm = v["configMap"]["name"]
            if ("ConfigMap", cm) not in objs:
                err("%s volume %s" % (where, vname), "ConfigMap %s is not rendered" % cm)
        if "persistentVolumeClaim" in v:
            claim = v["persistentVolumeClaim"]["claimName"]
            if ("PersistentVolumeClaim", claim) not in objs:
                err("%s volume %s" % (where, vname), "claim %s is not rendered" % claim)
    psc = pod.get("securityContext") or {}
    containers = pod.get("containers") or []
    every = [("initContainers", c) for c in pod.get("initContainers") or []] + \
        [("containers", c) for c in containers]
    for kind, c in every:
        w = "%s %s %s" % (where, kind, c["name"])
        mounts = {}
        for m in c.get("volumeMounts") or []:
            if m["name"] not in volumes:
                err(w, "volumeMount %s (%s) has no volume" % (m["name"], m["mountPath"]))
            if m["mountPath"] in mounts:
                err(w, "two mounts at %s" % m["mountPath"])
            mounts[m["mountPath"]] = m
        csc = c.get("securityContext") or {}

        def eff(k):
            return csc[k] if csc.get(k) is not None else psc.get(k)
        if eff("runAsNonRoot") is not True:
            err(w, "runAsNonRoot is not true")
        if eff("runAsUser") in (None, 0):
            err(w, "runAsUser must be set and not 0")
        if csc.get("readOnlyRootFilesystem") is not True:
            err(w, "readOnlyRootFilesystem is not true")
        if csc.get("allowPrivilegeEscalation") is not False:
            err(w, "allowPrivilegeEscalation is not false")
        if csc.get("privileged"):
            err(w, "privileged")
        if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
            err(w, "capabilities do not drop ALL")
        if (csc.get("capabilities") or {}).get("add"):
            err(w, "adds capabilities")
        if (eff("seccompProfile") or {}).get("type") != "RuntimeDefault":
            err(w, "seccompProfile is not RuntimeDefault")
        res = c.get("resources") or {}
        for r in ("cpu", "memory"):
            if r not in (res.get("limits") or {}):
                err(w, "no %s limit" % r)
            if r not in (res.get("requests") or {}):
                err(w, "no %s request" % r)
    return containers


def check_statefulset(d, objs, where):
    """A helper store (the fleet's Redis): sound pod template, a readiness
    probe, and a Service for its serviceName."""
    for c in check_workload(d, objs, where):
        if not c.get("readinessProbe"):
            err("%s container %s" % (where, c["name"]), "no readinessProbe")
    if ("Service", d["spec"].get("serviceName")) not in objs:
        err(where, "serviceName %s is not a rendered Service" % d["spec"].get("serviceName"))


def check_deployment(d, objs, src, where):
    containers = check_workload(d, objs, where)
    spec = d["spec"]
    pod = spec["template"]["spec"]
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    grace = pod.get("terminationGracePeriodSeconds", 30)
    # the server container
    glint = [c for c in containers if c["name"] == "glint"]
    if not glint:
        err(where, "no container named glint")
        return
    c = glint[0]
    w = "%s container glint" % where
    args = c.get("args") or []
    # command replaces the image's entrypoint (itself `glint serve ...`: args
    # alone would be appended to it)
    cmd = c.get("command") or []
    if len(cmd) != 1 or not cmd[0].endswith("/glint"):
        err(w, "command %s: expected the glint binary alone (it replaces the image's "
               "entrypoint, `glint serve ...`)" % cmd)
    if not args or args[0] != "serve":
        err(w, "args do not start with serve: %s" % args)
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
    listen = arg_value(args, "--listen", "127.0.0.1:8080")
    host, _, lport = listen.rpartition(":")
    if host in ("127.0.0.1", "localhost", "::1", "[::1]"):
        err(w, "--listen %s is loopback: probes and the Service cannot reach it" % listen)
    if not lport.isdigit() or int(lport) not in ports.values():
        err(w, "--listen %s: port not among the container ports %s" % (listen, ports))
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts") or []}
    state = arg_value(args, "--state-dir", "glint-state")
    if state not in mounts or mounts[state].get("readOnly"):
        err(w, "--state-dir %s is not a writable mount (the root is read-only)" % state)
    if "/tmp" not in mounts or mounts["/tmp"].get("readOnly"):
        err(w, "/tmp is not a writable mount (the root is read-only)")
    edge = arg_value(args, "--edge-config")
    if edge:
        d, _, f = edge.rpartition("/")
        m = mounts.get(d)
        vol = volumes.get(m["name"]) if m else None
        if not vol or "configMap" not in vol:
            err(w, "--edge-config %s: %s is not a ConfigMap mount" % (edge, d))
        else:
            cm = objs.get(("ConfigMap", vol["configMap"]["name"]))
            if cm is not None and f not in (cm.get("data") or {}):
                err(w, "--edge-config %s: ConfigMap %s has no key %s" % (
                    edge, vol["configMap"]["name"], f))
            elif cm is not None:
                check_edge_config(cm["data"][f], src, "%s ConfigMap %s" % (
                    where, vol["configMap"]["name"]))
    # probes
    probes = {k: c.get(k) for k in ("startupProbe", "readinessProbe", "livenessProbe")}
    for k, p in probes.items():
        if not p:
            err(w, "no %s" % k)
            continue
        hg = p.get("httpGet")
        if not hg:
            err(w, "%s is not an httpGet probe" % k)
            continue
        path = hg.get("path", "/")
        if not glint_route_exists(src, path):
            err(w, "%s path %s is not a glint route (src/serve)" % (k, path))
        want = LIVE_PATHS if k == "livenessProbe" else READY_PATHS
        if path not in want:
            err(w, "%s path %s: expected one of %s" % (k, path, ", ".join(want)))
        port = hg.get("port")
        if port not in ports and port not in ports.values():
            err(w, "%s port %r is not a container port %s" % (k, port, ports))
    sp = probes["startupProbe"]
    if sp and sp.get("periodSeconds", 10) * sp.get("failureThreshold", 3) < 10:
        err(w, "startupProbe allows under 10 s for the models' warm-up")
    lp = probes["livenessProbe"]
    if lp and lp.get("periodSeconds", 10) * lp.get("failureThreshold", 3) < 30:
        err(w, "livenessProbe restarts after under 30 s of misses: not conservative")
    # shutdown: grace > preStop sleep + drain
    pre = sleep_seconds((c.get("lifecycle") or {}).get("preStop"))
    if pre is None:
        err(w, "no preStop sleep (endpoints must drop the pod before the drain)")
        pre = 0
    drain_ms = arg_value(args, "--drain-timeout-ms", "30000")
    if not str(drain_ms).isdigit():
        err(w, "--drain-timeout-ms %r is not a number" % drain_ms)
        drain_ms = "30000"
    if not grace > pre + int(drain_ms) / 1000.0:
        err(where, "terminationGracePeriodSeconds %s <= preStop %s s + drain %s ms" % (
            grace, pre, drain_ms))


EDGE_DET_RE = re.compile(r"^det_[A-Za-z0-9]{27}$")


def check_edge_config(text, src, where):
    try:
        cfg = yaml.safe_load(text)
    except yaml.YAMLError as e:
        err(where, "edge config is not YAML: %s" % e)
        return
    dets = (cfg or {}).get("detectors") or []
    if not dets:
        err(where, "edge config has no detectors")
    presets = {"default", "edge_answers_with_escalation", "no_cloud", "disabled"}
    presets |= set(((cfg or {}).get("edge_inference_configs") or {}).keys())
    for i, det in enumerate(dets):
        w = "%s detectors[%d]" % (where, i)
        if not EDGE_DET_RE.match(str(det.get("detector_id", ""))):
            err(w, "detector_id %r is not det_ + 27 letters/digits" % det.get("detector_id"))
        if det.get("edge_inference_config", "default") not in presets:
            err(w, "unknown preset %r" % det.get("edge_inference_config"))
        model = det.get("model")
        if not model or not os.path.isfile(os.path.join(src, "models", str(model), "model.onnx")):
            err(w, "model %r is not a bundled model (models/)" % model)


def check_service(svc, deployments, where):
    sel = svc["spec"].get("selector") or {}
    targets = [d for d in deployments
               if sel and labels_match(sel, d["spec"]["template"]["metadata"].get("labels"))]
    if not targets:
        err(where, "selector %s matches no Deployment's pods" % sel)
    for p in svc["spec"].get("ports") or []:
        tp = p.get("targetPort", p.get("port"))
        for d in targets:
            cports = [cp for c in d["spec"]["template"]["spec"]["containers"]
                      for cp in c.get("ports") or []]
            if isinstance(tp, str):
                ok = any(cp.get("name") == tp for cp in cports)
            else:
                ok = any(cp["containerPort"] == tp for cp in cports)
            if not ok:
                err(where, "targetPort %r names no container port of %s" % (
                    tp, d["metadata"]["name"]))


def replicas_floor(d, hpas):
    for h in hpas:
        ref = h["spec"]["scaleTargetRef"]
        if ref["kind"] == "Deployment" and ref["name"] == d["metadata"]["name"]:
            return h["spec"].get("minReplicas", 1)
    return d["spec"].get("replicas", 1)


def check_pdb(pdb, deployments, hpas, where):
    spec = pdb["spec"]
    if (spec.get("minAvailable") is None) == (spec.get("maxUnavailable") is None):
        err(where, "needs exactly one of minAvailable and maxUnavailable")
    sel = (spec.get("selector") or {}).get("matchLabels") or {}
    targets = [d for d in deployments
               if sel and labels_match(sel, d["spec"]["template"]["metadata"].get("labels"))]
    if not targets:
        err(where, "selector %s matches no Deployment's pods" % sel)
    for d in targets:
        n = replicas_floor(d, hpas)
        mina, maxu = spec.get("minAvailable"), spec.get("maxUnavailable")
        if isinstance(mina, int) and mina >= n:
            err(where, "minAvailable %d with %d replica(s): no eviction is ever allowed" % (mina, n))
        if maxu in (0, "0%"):
            err(where, "maxUnavailable 0: no eviction is ever allowed")


def adapter_rules(readme):
    """metric name -> series, from the prometheus-adapter rules in README.md."""
    out = {}
    if not os.path.isfile(readme):
        return out
    with open(readme, encoding="utf-8") as f:
        text = f.read()
    for block in re.findall(r"```yaml\n(.*?)```", text, re.S):
        if "seriesQuery" not in block:
            continue
        try:
            doc = yaml.safe_load(block)
        except yaml.YAMLError as e:
            err(readme, "a prometheus-adapter rule block is not YAML: %s" % e)
            continue
        rules = (doc or {}).get("rules") or {}
        for r in (rules.get("custom") if isinstance(rules, dict) else rules) or []:
            m = re.match(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", r.get("seriesQuery", ""))
            if not m:
                continue
            series = m.group(1)
            name = (r.get("name") or {}).get("as") or series
            out[name] = series
    return out


def check_hpa(h, objs, rules, src, where):
    spec = h["spec"]
    ref = spec["scaleTargetRef"]
    if (ref["kind"], ref["name"]) not in objs:
        err(where, "scaleTargetRef %s/%s is not rendered" % (ref["kind"], ref["name"]))
    if spec.get("minReplicas", 1) > spec["maxReplicas"]:
        err(where, "minReplicas > maxReplicas")
    for i, m in enumerate(spec.get("metrics") or []):
        if m["type"] != "Pods":
            continue
        name = m["pods"]["metric"]["name"]
        series = rules.get(name)
        if series is None:
            err(where, "metrics[%d] %s: no prometheus-adapter rule in README.md serves it" % (
                i, name))
        elif not source_has(src, series):
            err(where, "metrics[%d] %s: series %s is not a glint metric (src/serve)" % (
                i, name, series))


def check_service_monitor(sm, services, src, where):
    sel = (sm["spec"].get("selector") or {}).get("matchLabels") or {}
    targets = [s for s in services if sel and labels_match(sel, s["metadata"].get("labels"))]
    if not targets:
        err(where, "selector %s matches no rendered Service" % sel)
    for ep in sm["spec"].get("endpoints") or []:
        for s in targets:
            if ep.get("port") not in [p.get("name") for p in s["spec"].get("ports") or []]:
                err(where, "endpoint port %r is not a port name of Service %s" % (
                    ep.get("port"), s["metadata"]["name"]))
        if not source_has(src, ep.get("path", "/metrics")):
            err(where, "endpoint path %s is not a glint route" % ep.get("path"))


# what each overlay is for
def check_overlay_intent(name, objs, where):
    deps = [o for (k, _), o in objs.items() if k == "Deployment"]
    pdbs = [o for (k, _), o in objs.items() if k == "PodDisruptionBudget"]
    hpas = [o for (k, _), o in objs.items() if k == "HorizontalPodAutoscaler"]
    if len(deps) != 1:
        err(where, "expected one Deployment, got %d" % len(deps))
        return
    d = deps[0]
    strategy = d["spec"].get("strategy") or {}
    image = d["spec"]["template"]["spec"]["containers"][0]["image"]
    if name == "edge":
        if d["spec"].get("replicas") != 1:
            err(where, "edge: replicas must be 1")
        if strategy.get("type") != "Recreate":
            err(where, "edge: the ReadWriteOnce claims need the Recreate strategy")
        claims = {v["persistentVolumeClaim"]["claimName"]
                  for v in d["spec"]["template"]["spec"].get("volumes") or []
                  if v.get("persistentVolumeClaim")}
        if claims != {"glint-models", "glint-state"}:
            err(where, "edge: expected claims glint-models and glint-state, got %s" % claims)
        if not d["spec"]["template"]["spec"].get("initContainers"):
            err(where, "edge: no initContainer seeds the models claim")
        if hpas:
            err(where, "edge: an HPA makes no sense on one box")
        for p in pdbs:
            if p["spec"].get("maxUnavailable") != 1:
                err(where, "edge: the PDB of a single replica must be maxUnavailable 1")
    elif name in ("fleet", "monitoring"):
        ru = strategy.get("rollingUpdate") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate" or \
                ru.get("maxUnavailable") != 0 or ru.get("maxSurge") != 1:
            err(where, "fleet: RollingUpdate maxUnavailable 0 / maxSurge 1 expected")
        if (d["spec"].get("replicas") or 1) < 3:
            err(where, "fleet: at least 3 replicas expected")
        if not hpas:
            err(where, "fleet: no HorizontalPodAutoscaler")
        if not pdbs or pdbs[0]["spec"].get("minAvailable") is None:
            err(where, "fleet: the PDB should keep a minAvailable")
        aff = d["spec"]["template"]["spec"]
        if not aff.get("topologySpreadConstraints") and not aff.get("affinity"):
            err(where, "fleet: the replicas are not spread across nodes")
        if not image.startswith("glint:") and "/" not in image:
            err(where, "fleet: unexpected image %s" % image)
        args = d["spec"]["template"]["spec"]["containers"][0].get("args") or []
        redis = arg_value(args, "--redis")
        rhost = re.match(r"^redis://([^:/]+)", redis or "")
        if not rhost:
            err(where, "fleet: the replicas share no Redis (--redis redis://HOST...)")
        elif "." not in rhost.group(1) and ("Service", rhost.group(1)) not in objs:
            err(where, "fleet: --redis %s names no rendered Service" % redis)
    if name == "monitoring" and not any(k == "ServiceMonitor" for k, _ in objs):
        err(where, "monitoring: no ServiceMonitor")
    if image == "glint":
        err(where, "the image has no tag: set it with kustomize images:")


# ---------------------------------------------------------------- driver

DEPRECATION = re.compile(
    r"^# Warning: '(bases|patchesStrategicMerge|patchesJson6902)' is deprecated")


def render(kubectl, d):
    p = subprocess.run([kubectl, "kustomize", d], capture_output=True, text=True)
    for line in p.stderr.splitlines():
        if line.strip() and not DEPRECATION.match(line) and p.returncode == 0:
            print("  kustomize: %s" % line)
    if p.returncode != 0:
        err(d, "kubectl kustomize failed:\n%s" % p.stderr.strip())
        return None
    return p.stdout


def validate_dir(kubectl, d, src, rules, overlay):
    text = render(kubectl, d)
    if text is None:
        return
    docs = [x for x in yaml.safe_load_all(text) if x is not None]
    before = len(ERRORS)
    objs = {}
    for i, doc in enumerate(docs):
        kind = doc.get("kind")
        name = (doc.get("metadata") or {}).get("name")
        where = "%s: %s/%s" % (overlay, kind, name)
        if (kind, name) in objs:
            err(where, "rendered twice")
        objs[(kind, name)] = doc
        check_object(doc, where)
    deployments = [o for (k, _), o in objs.items() if k == "Deployment"]
    workloads = deployments + [o for (k, _), o in objs.items() if k == "StatefulSet"]
    hpas = [o for (k, _), o in objs.items() if k == "HorizontalPodAutoscaler"]
    services = [o for (k, _), o in objs.items() if k == "Service"]
    if len(ERRORS) > before:  # the semantic checks assume the shapes are right
        return
    for (kind, name), o in objs.items():
        where = "%s: %s/%s" % (overlay, kind, name)
        if kind == "Deployment":
            check_deployment(o, objs, src, where)
        elif kind == "StatefulSet":
            check_statefulset(o, objs, where)
        elif kind == "Service":
            check_service(o, workloads, where)
        elif kind == "PodDisruptionBudget":
            check_pdb(o, workloads, hpas, where)
        elif kind == "HorizontalPodAutoscaler":
            check_hpa(o, objs, rules, src, where)
        elif kind == "ServiceMonitor":
            check_service_monitor(o, services, src, where)
    if overlay != "base":
        check_overlay_intent(overlay, objs, overlay)
    print("%-10s %d objects: %s" % (overlay, len(objs), ", ".join(
        "%s/%s" % k for k in objs)))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: validate_k8s.py DEPLOY_K8S_DIR")
    root = os.path.abspath(sys.argv[1])
    src = os.path.dirname(os.path.dirname(root))  # deploy/k8s -> the source tree
    kubectl = shutil.which("kubectl")
    if not kubectl:
        sys.exit("validate_k8s: FAIL: kubectl not found on PATH; it renders the kustomizations "
                 "(scripts/install-deps.sh installs it: Debian's kubernetes-client)")
    v = subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True)
    print("kubectl: %s" % " ".join(v.stdout.split()))
    rules = adapter_rules(os.path.join(root, "README.md"))
    dirs = [("base", os.path.join(root, "base"))]
    ov = os.path.join(root, "overlays")
    for name in sorted(os.listdir(ov)) if os.path.isdir(ov) else []:
        if os.path.isfile(os.path.join(ov, name, "kustomization.yaml")):
            dirs.append((name, os.path.join(ov, name)))
    for want in ("edge", "fleet"):
        if want not in [n for n, _ in dirs]:
            err(root, "overlay %s missing" % want)
    for name, d in dirs:
        before = len(ERRORS)
        validate_dir(kubectl, d, src, rules, name)
        if len(ERRORS) > before:
            print("%-10s FAILED" % name)
    if ERRORS:
        print("\n%d problem(s):" % len(ERRORS))
        for e in ERRORS:
            print("  " + e)
        sys.exit(1)
    print("deploy/k8s: all valid")


if __name__ == "__main__":
    main()
