"""What `roma serve` adds to a binary Open Inference Protocol (v2) request: open-loop
latency of the same request sent straight to a worker and through roma serve, in
alternating pairs, so both halves of a pair see the same machine (this VM's speed drifts).

roma serve runs the generated `mlp` model with 2 cores (min = max); the direct path goes
to the very worker roma serve started (with its per-start secret, read from /proc as the
tests do).  Requests leave on a fixed schedule (one every --interval seconds, pairs in
alternating order) over one keep-alive connection per path, and each is timed from its
scheduled start, so a late send counts against the path that caused it (open loop, no
coordinated omission).  Answers take far less than the interval, so no request waits for
another.  Prints p50/p99 of each path and the median over pairs of (serve - direct).

--api v1 sends the same input as a TF Serving JSON predict instead, for comparison.

Usage: .venv/bin/python bench/serve_v2.py [--pairs N] [--interval S] [--api v2|v1]
       (run from the project root after `make`; writes results/bench_serve_<api>.json)
"""

import argparse
import http.client
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def v2_body():
    """mlp's request.json as a binary v2 request: (body, Inference-Header-Content-Length)."""
    x = json.loads((ROOT / "models/mlp/request.json").read_text())["instances"]
    blob = b"".join(struct.pack(f"<{len(row)}f", *row) for row in x)
    header = json.dumps({"inputs": [{"name": "x", "shape": [len(x), len(x[0])], "datatype": "FP32",
                                     "parameters": {"binary_data_size": len(blob)}}],
                         "outputs": [{"name": "y", "parameters": {"binary_data": True}}]}).encode()
    return header + blob, len(header)


def start_serve(tmp):
    port = free_port()
    cfg = tmp / "roma.yaml"
    cfg.write_text(f"""listen: 127.0.0.1:{port}
node: {{cpus: 2, gpus: []}}
control: {{period: 1s, controller: static}}
dispatch: {{queue_limit: 100000}}
store: {{path: {tmp}/roma.db}}
models:
  - {{name: mlp, base_path: {ROOT}/models/mlp, sla: 0.1, cores: {{min: 2, max: 2, initial: 2}}}}
""")
    log = open(tmp / "serve.log", "wb")
    proc = subprocess.Popen([str(ROOT / "build/roma"), "serve", "-c", str(cfg)], stdout=log,
                            stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/roma/v1/workers")
            ws = json.loads(c.getresponse().read())["workers"]
            if ws and ws[0]["state"] == "ready":
                return proc, port, ws[0]
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    proc.kill()
    sys.exit(f"roma serve not ready in 60 s; see {tmp}/serve.log")


def worker_secret(pid):
    for item in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
        if item.startswith(b"ROMA_WORKER_SECRET="):
            return item.split(b"=", 1)[1].decode()
    sys.exit(f"worker {pid} has no ROMA_WORKER_SECRET")


def one(conn, path, body, headers, start):
    """Waits until start (perf_counter), sends, returns seconds from start to the answer.
    Sleeps most of the wait: a spinning client would take a core from what it measures."""
    ahead = start - time.perf_counter() - 0.0005
    if ahead > 0:
        time.sleep(ahead)
    while time.perf_counter() < start:
        pass
    conn.request("POST", path, body, headers)
    r = conn.getresponse()
    r.read()
    if r.status != 200:
        sys.exit(f"answer {r.status}")
    return time.perf_counter() - start


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=2000)
    ap.add_argument("--interval", type=float, default=0.004, help="seconds between requests")
    ap.add_argument("--api", choices=["v2", "v1"], default="v2")
    a = ap.parse_args()
    if a.api == "v2":
        body, hlen = v2_body()
        path = "/v2/models/mlp/infer"
        base = {"Inference-Header-Content-Length": str(hlen),
                "Content-Type": "application/octet-stream"}
    else:
        body, path = (ROOT / "models/mlp/request.json").read_bytes(), "/v1/models/mlp:predict"
        base = {"Content-Type": "application/json"}
    with tempfile.TemporaryDirectory() as d:
        proc, port, w = start_serve(Path(d))
        try:
            paths = {
                "direct": (http.client.HTTPConnection("127.0.0.1", w["port"]),
                           {**base, "X-Roma-Secret": worker_secret(w["pid"])}),
                "serve": (http.client.HTTPConnection("127.0.0.1", port), base),
            }
            for name, (c, h) in paths.items():  # warm up: connections, caches
                for _ in range(200):
                    one(c, path, body, h, 0)
            rt = {"direct": [], "serve": []}
            t = time.perf_counter() + 0.05
            for i in range(a.pairs):
                order = ("direct", "serve") if i % 2 == 0 else ("serve", "direct")
                for name in order:
                    c, h = paths[name]
                    rt[name].append(one(c, path, body, h, t))
                    t += a.interval
        finally:
            proc.terminate()
            proc.wait(30)
    diffs = [s - d for s, d in zip(rt["serve"], rt["direct"])]
    out = {"api": a.api, "pairs": a.pairs, "interval_s": a.interval,
           **{f"{n}_p50_us": pct(v, 0.5) * 1e6 for n, v in rt.items()},
           **{f"{n}_p99_us": pct(v, 0.99) * 1e6 for n, v in rt.items()},
           "added_p50_us": (pct(rt["serve"], 0.5) - pct(rt["direct"], 0.5)) * 1e6,
           "added_median_of_pairs_us": statistics.median(diffs) * 1e6}
    os.makedirs(ROOT / "results", exist_ok=True)
    (ROOT / f"results/bench_serve_{a.api}.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
