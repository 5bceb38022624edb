#!/usr/bin/env python3
"""capacity_model.py -- the queueing model of docs/scale.md: a glint fleet as
an M/G/c queue. Standard library only.

A server is one engine instance on one core (glint serve --instances 1
--threads 1 per core). c servers, Poisson arrivals at lam requests/s, a
service time of mean S (so mu = 1/S per server), coefficient of variation Cs
and 99th percentile S99:

  a   = lam * S                       offered load in erlangs
  rho = a / c                         utilisation (must be < 1)
  C   = ErlangC(c, a)                 probability that a request waits
  k   = (Ca^2 + Cs^2) / 2             Allen-Cunneen factor (Ca^2 = 1: Poisson)
  E[W] = C * k / (c*mu - lam)         mean wait in the queue
  P(W > t) ~= C * exp(-t (c*mu - lam) / k)
                                      the wait's tail: exponential given a wait,
                                      with the mean above (Kingman's
                                      heavy-traffic form; exact for M/M/c, k = 1)
  w_q = k/(c*mu - lam) * ln(C / (1-q))  the wait's q-quantile (0 if C <= 1-q)
  p99(response) ~= S99 + w_0.99       percentiles do not add: an approximation,
                                      on the safe side when waits and service
                                      times are independent
  L   = lam * (E[W] + S)              requests in the system (Little's law)

Used three ways:
  capacity_model.py --service-ms 23.3 --cv 0.10 --p99-service-ms 31 --rate 100 --p99-ms 200
      the fewest servers (cores) whose predicted p99 is within the bound,
      and the prediction for that many and a few more
  capacity_model.py ... --rate 100 --servers 3
      the prediction for 3 servers
  capacity_model.py --from bench/out/capacity-DATE.json --cameras 50 --fps 2 --p99-ms 200
      the service inputs taken from a bench/capacity.sh result
  capacity_model.py ... --table [--max-util 0.8] [--cores-per-pod 2]
      the sizing table of docs/scale.md
  capacity_model.py ... --hpa-target 4 --cores-per-pod 2
      the utilisation at which a pod's mean pending requests (L) reach the
      HorizontalPodAutoscaler's target
bench/capacity.sh imports it (predict, servers_needed) for its report.
"""
import argparse
import json
import math
import sys


def erlang_c(c, a):
    """P(wait) in M/M/c with c servers and a erlangs (1.0 when a >= c)."""
    if a <= 0:
        return 0.0
    if a >= c:
        return 1.0
    b = 1.0  # Erlang B by its recurrence: stable for any c
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    rho = a / c
    return b / (1.0 - rho + rho * b)


def wait_quantile(c_wait, theta, q):
    """q-quantile of a wait that is 0 with probability 1 - c_wait and else
    exponential with mean theta."""
    if c_wait <= 1.0 - q:
        return 0.0
    return theta * math.log(c_wait / (1.0 - q))


def predict(lam, mean_s, cv, c, p99_s=None, p50_s=None, ca2=1.0):
    """Everything the model says for c servers at lam requests/s; times in s.
    mean_s: mean service time (1 / a server's capacity); cv: its coefficient
    of variation; p99_s, p50_s: its percentiles (default: the mean)."""
    p99_s = mean_s if p99_s is None else p99_s
    p50_s = mean_s if p50_s is None else p50_s
    mu = 1.0 / mean_s
    a = lam * mean_s
    out = {"servers": c, "rate": lam, "rho": a / c, "capacity": c * mu}
    if a >= c:
        out.update(stable=False, p_wait=1.0, mean_wait_s=math.inf, p50_s=math.inf,
                   p99_s=math.inf, in_system=math.inf)
        return out
    cw = erlang_c(c, a)
    k = (ca2 + cv * cv) / 2.0
    theta = k / (c * mu - lam)
    mean_wait = cw * theta
    out.update(stable=True, p_wait=cw, mean_wait_s=mean_wait,
               wait_p99_s=wait_quantile(cw, theta, 0.99),
               p50_s=p50_s + wait_quantile(cw, theta, 0.50),
               p99_s=p99_s + wait_quantile(cw, theta, 0.99),
               in_system=lam * (mean_wait + mean_s))
    return out


def servers_needed(lam, mean_s, cv, p99_bound_s, p99_s=None, ca2=1.0, max_rho=1.0,
                   limit=100000):
    """The fewest servers whose predicted p99 <= the bound and rho <= max_rho;
    None when even an idle server's p99 is over the bound."""
    p99_s = mean_s if p99_s is None else p99_s
    if p99_s > p99_bound_s:
        return None
    c = max(1, math.ceil(lam * mean_s / max_rho))
    while c <= limit:
        p = predict(lam, mean_s, cv, c, p99_s=p99_s, ca2=ca2)
        if p["stable"] and p["rho"] <= max_rho and p["p99_s"] <= p99_bound_s:
            return c
        c += 1
    return None


def hpa_utilisation(target, servers, mean_s, cv, ca2=1.0):
    """The arrival rate (and utilisation) at which a pod of `servers` engine
    instances holds `target` requests on average (Little: L = lam * W)."""
    lo, hi = 0.0, servers / mean_s * (1 - 1e-9)
    for _ in range(200):
        mid = (lo + hi) / 2
        if predict(mid, mean_s, cv, servers, ca2=ca2)["in_system"] < target:
            lo = mid
        else:
            hi = mid
    return lo, lo * mean_s / servers


def inputs_from(path):
    """Service-time inputs from a bench/capacity.sh JSON (the mean of its
    runs when it holds several)."""
    j = json.load(open(path))
    m = j["model_inputs"]
    return m["service_ms"], m["cv"], m["p99_service_ms"], m["p50_service_ms"]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="src", help="bench/out/capacity-*.json: the service inputs")
    ap.add_argument("--service-ms", type=float, help="mean service time per request (1/capacity of one core)")
    ap.add_argument("--cv", type=float, help="its coefficient of variation")
    ap.add_argument("--p99-service-ms", type=float, help="its 99th percentile (default: the mean)")
    ap.add_argument("--p50-service-ms", type=float, help="its median (default: the mean)")
    ap.add_argument("--rate", type=float, help="requests/s the fleet gets")
    ap.add_argument("--cameras", type=float, help="with --fps: rate = cameras x fps x --share")
    ap.add_argument("--fps", type=float)
    ap.add_argument("--share", type=float, default=1.0,
                    help="share of frames sent (a motion gate's pass rate; default 1)")
    ap.add_argument("--p99-ms", type=float, help="the p99 response-time bound")
    ap.add_argument("--servers", type=int, help="predict for this many servers (cores)")
    ap.add_argument("--ca2", type=float, default=1.0,
                    help="squared CV of the arrivals (1: Poisson, the default)")
    ap.add_argument("--max-util", type=float, default=1.0,
                    help="also keep utilisation at or below this (headroom)")
    ap.add_argument("--cores-per-pod", type=int, default=1,
                    help="engine instances (cores) per replica: replicas = ceil(servers / this)")
    ap.add_argument("--hpa-target", type=float, help="mean pending requests per pod the HPA aims at")
    ap.add_argument("--table", action="store_true", help="the sizing table of docs/scale.md")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    if a.src:
        s, cv, p99, p50 = inputs_from(a.src)
        a.service_ms = a.service_ms or s
        a.cv = cv if a.cv is None else a.cv
        a.p99_service_ms = a.p99_service_ms or p99
        a.p50_service_ms = a.p50_service_ms or p50
    if a.service_ms is None or a.cv is None:
        ap.error("give --service-ms and --cv (or --from a capacity.sh result)")
    S = a.service_ms / 1000
    S99 = (a.p99_service_ms or a.service_ms) / 1000
    S50 = (a.p50_service_ms or a.service_ms) / 1000
    print("inputs: service mean %.2f ms (capacity %.1f req/s per core), CV %.3f, p50 %.2f ms, "
          "p99 %.2f ms, arrivals Ca^2 %.2f" % (a.service_ms, 1 / S, a.cv, S50 * 1000, S99 * 1000, a.ca2))

    if a.hpa_target:
        lam, rho = hpa_utilisation(a.hpa_target, a.cores_per_pod, S, a.cv, a.ca2)
        p = predict(lam, S, a.cv, a.cores_per_pod, p99_s=S99, p50_s=S50, ca2=a.ca2)
        print("HPA: %g pending per pod of %d instance(s) <=> %.1f req/s per pod, utilisation %.3f, "
              "predicted p99 %.0f ms" % (a.hpa_target, a.cores_per_pod, lam, rho, p["p99_s"] * 1000))
        if a.json:
            print(json.dumps({"hpa_target": a.hpa_target, "rate": lam, "rho": rho}))

    if a.table:
        rows = [(50, 2, 1.0, 200), (50, 2, 1.0, 100), (100, 5, 1.0, 200), (200, 1, 1.0, 200),
                (200, 1, 0.25, 200), (500, 1, 1.0, 150), (1000, 1, 1.0, 300)]
        print("| cameras | fps | share sent | req/s | p99 bound | cores: p99 alone | cores: p99 and "
              "utilisation <= %g | replicas of %d core(s) | utilisation | predicted p99 |" % (
                  a.max_util, a.cores_per_pod))
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for m, r, sh, x in rows:
            lam = m * r * sh
            c1 = servers_needed(lam, S, a.cv, x / 1000, p99_s=S99, ca2=a.ca2)
            c = servers_needed(lam, S, a.cv, x / 1000, p99_s=S99, ca2=a.ca2, max_rho=a.max_util)
            if c is None or c1 is None:
                print("| %d | %g | %g | %g | %d ms | unreachable | | | | |" % (m, r, sh, lam, x))
                continue
            p = predict(lam, S, a.cv, c, p99_s=S99, ca2=a.ca2)
            print("| %d | %g | %g | %g | %d ms | %d | %d | %d | %.2f | %.0f ms |" % (
                m, r, sh, lam, x, c1, c, math.ceil(c / a.cores_per_pod), p["rho"], p["p99_s"] * 1000))

    lam = a.rate
    if lam is None and a.cameras is not None and a.fps is not None:
        lam = a.cameras * a.fps * a.share
    if lam is None:
        return
    if a.servers:
        cs = [a.servers]
    else:
        if a.p99_ms is None:
            ap.error("give --p99-ms (to size) or --servers (to predict)")
        c = servers_needed(lam, S, a.cv, a.p99_ms / 1000, p99_s=S99, ca2=a.ca2, max_rho=a.max_util)
        if c is None:
            print("no fleet meets p99 <= %g ms: one request alone takes %.1f ms at p99" % (a.p99_ms, S99 * 1000))
            sys.exit(1)
        print("%.1f req/s, p99 <= %g ms: %d core(s) -> %d replica(s) of %d core(s)" % (
            lam, a.p99_ms, c, math.ceil(c / a.cores_per_pod), a.cores_per_pod))
        cs = [max(1, c - 1), c, c + 1, c + 2] if c > 1 else [c, c + 1, c + 2]
    print("servers  util   P(wait)  mean wait   p50 ms   p99 ms  in system")
    res = []
    for c in cs:
        p = predict(lam, S, a.cv, c, p99_s=S99, p50_s=S50, ca2=a.ca2)
        res.append(p)
        if not p["stable"]:
            print("%7d  %5.2f  overloaded (rho >= 1)" % (c, p["rho"]))
            continue
        print("%7d  %5.2f  %7.3f  %7.1f ms  %7.1f  %7.1f  %9.2f" % (
            c, p["rho"], p["p_wait"], p["mean_wait_s"] * 1000, p["p50_s"] * 1000,
            p["p99_s"] * 1000, p["in_system"]))
    if a.json:
        print(json.dumps(res))


if __name__ == "__main__":
    main()
