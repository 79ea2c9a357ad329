"""The standard ROMA experiment (DESIGN.md section 5): one seeded multi-model
workload replayed against `roma serve` with, in turn, the controllers

    roma        ROMA's feedback controller, exactly as published
    roma-norm   the same law on a relative time error aimed at 0.4 SLA
    rules       threshold autoscaler (step up / down with a cooldown)
    static      every model fixed at cores.initial
    static-max  controller static with every model's initial = its cores.max

Every run starts a fresh `roma serve` (stopped with SIGTERM afterwards),
sends a short warm-up that is not measured, then runs `roma bench` with the
same workload while a thread polls GET /roma/v1/workers every 0.5 s to record
each model's cores over time.  The parameters and why they were chosen are in
experiments/README.md.

Outputs (under --out, default results/):
    experiment.json       {"runs": {controller: bench summary + core_seconds}}
    experiment.md         table per run and model, totals, the three goals
    experiment_rt.png     per-window mean response time vs SLA
    experiment_cores.png  cores over time per model
    experiment/<run>/     raw files: roma.yaml, workload.yaml, summary.json,
                          requests.csv, cores.csv, serve.log, and history.json:
                          roma serve's per-second series (GET /roma/v1/history,
                          what its dashboard at / shows), linked from the report

Usage: .venv/bin/python scripts/experiment.py [--run-seconds 150] [--runs roma,static]
       .venv/bin/python scripts/experiment.py --report-only   # redo report and plots
"""

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILT_ROMA = os.path.join(ROOT, "build", "roma")
ROMA = BUILT_ROMA  # main() points this at a private copy (see snapshot_binary)
RUNS = ["roma", "roma-norm", "rules", "static", "static-max"]

NODE_CPUS = 2
CORES = {"min": 0.2, "max": 2.0, "initial": 0.6}
SEED = 42
WINDOW = 2.0  # seconds: bench's window_violation_rate and the RT plot's windows
POLL_EVERY = 0.5

# Each model: SLA (s), low and high request rates (req/s), and when its peak
# starts and ends as fractions of the run.  The peaks are offset.
MODELS = {
    "resnet": {"sla": 0.25, "low": 10, "high": 35, "peak": (0.2, 0.5)},
    "mobilenet": {"sla": 0.35, "low": 8, "high": 30, "peak": (0.5, 0.8)},
}
WARMUP_RATE = 4
WARMUP_SECONDS = 5


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run-seconds", type=float, default=150, help="length of each measured run")
    p.add_argument("--runs", default=",".join(RUNS), help="comma-separated subset of " + ",".join(RUNS))
    p.add_argument("--port", type=int, default=8599, help="port of roma serve")
    p.add_argument("--out", default=os.path.join(ROOT, "results"), help="output folder")
    p.add_argument("--report-only", action="store_true",
                   help="no runs: rewrite the report and plots from OUT/experiment.json and the raw files")
    return p.parse_args()


# ---- configuration files ------------------------------------------------------


def serve_config(run, port, run_dir):
    """roma.yaml for one run: controller static for static-max, initial = max."""
    controller = "static" if run == "static-max" else run
    initial = CORES["max"] if run == "static-max" else CORES["initial"]
    lines = [
        f"listen: 127.0.0.1:{port}",
        f"node: {{cpus: {NODE_CPUS}, gpus: []}}",
        f"control: {{period: 1s, controller: {controller}}}",
        "dispatch: {gpu_policy: roma, queue_limit: 200}",
        f"store: {{path: {os.path.join(run_dir, 'roma.db')}, max_rows: 1000000}}",
        "models:",
    ]
    for name, m in MODELS.items():
        lines += [
            f"  - name: {name}",
            f"    base_path: {os.path.join(ROOT, 'models', name)}",
            f"    sla: {m['sla']}",
            "    alpha: 0.5",
            f"    cores: {{min: {CORES['min']}, max: {CORES['max']}, initial: {initial}}}",
        ]
    return "\n".join(lines) + "\n"


def step_schedule(m, run_seconds):
    """low -> high -> low as bench's step list [[rate, duration], ...]."""
    start, end = m["peak"]
    parts = [(m["low"], start), (m["high"], end - start), (m["low"], 1 - end)]
    return [[rate, round(frac * run_seconds, 3)] for rate, frac in parts if frac > 0]


def workload(port, run_seconds):
    """The bench workload: Poisson arrivals, the same seed for every run."""
    lines = [
        f"target: http://127.0.0.1:{port}",
        f"duration: {run_seconds}s",
        f"seed: {SEED}",
        f"window: {WINDOW}s",
        "models:",
    ]
    for name, m in MODELS.items():
        steps = ", ".join(f"[{r}, {d}s]" for r, d in step_schedule(m, run_seconds))
        lines += [
            f"  - name: {name}",
            f"    payload: {os.path.join(ROOT, 'models', name, 'request.json')}",
            f"    sla: {m['sla']}s",
            "    arrivals: poisson",
            f"    step: [{steps}]",
        ]
    return "\n".join(lines) + "\n"


def warmup_workload(port):
    lines = [f"target: http://127.0.0.1:{port}", f"duration: {WARMUP_SECONDS}s", "models:"]
    for name, m in MODELS.items():
        lines += [
            f"  - name: {name}",
            f"    payload: {os.path.join(ROOT, 'models', name, 'request.json')}",
            f"    sla: {m['sla']}s",
            f"    rate: {WARMUP_RATE}",
        ]
    return "\n".join(lines) + "\n"


def snapshot_binary(out_dir):
    """Copies build/roma so that a rebuild during the experiment cannot swap
    the program between (or during) runs; its rpath still finds TensorFlow."""
    global ROMA
    dest = os.path.join(out_dir, "experiment", "roma-binary")
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    for _ in range(120):  # another make may be relinking it: wait up to a minute
        st = os.stat(BUILT_ROMA)
        if st.st_size > 0 and os.access(BUILT_ROMA, os.X_OK) and time.time() - st.st_mtime > 2:
            break
        time.sleep(0.5)
    else:
        sys.exit("experiment: build/roma stayed empty or not executable; run make first")
    shutil.copy2(BUILT_ROMA, dest)
    # roma serve execs the worker program found next to itself.
    shutil.copy2(os.path.join(os.path.dirname(BUILT_ROMA), "roma-worker"),
                 os.path.join(os.path.dirname(dest), "roma-worker"))
    ROMA = dest


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


# ---- roma serve -----------------------------------------------------------------


def child_env():
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


def get_json(url, timeout=2):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


def start_serve(config_path, log_path, port):
    """Starts roma serve and waits until every worker is ready."""
    log = open(log_path, "w")
    proc = subprocess.Popen([ROMA, "serve", "-c", config_path], stdout=log, stderr=log, env=child_env())
    url = f"http://127.0.0.1:{port}/roma/v1/workers"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"roma serve exited with {proc.returncode}; see {log_path}")
        try:
            workers = get_json(url)["workers"]
            if workers and all(w["state"] == "ready" for w in workers):
                return proc
        except OSError:
            pass
        time.sleep(0.5)
    stop_serve(proc)
    raise RuntimeError(f"roma serve not ready after 90 s; see {log_path}")


def stop_serve(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        print("experiment: roma serve ignored SIGTERM for 30 s; killing it", file=sys.stderr)
        proc.kill()
        proc.wait()


class CorePoller(threading.Thread):
    """Polls /roma/v1/workers every POLL_EVERY s: rows (t, model, cores,
    cpu_seconds), the last the worker's CPU used so far."""

    def __init__(self, port, t0):
        super().__init__(daemon=True)
        self.url = f"http://127.0.0.1:{port}/roma/v1/workers"
        self.t0 = t0
        self.rows = []
        self.stop_event = threading.Event()

    def run(self):
        while not self.stop_event.is_set():
            t = time.monotonic() - self.t0
            try:
                for w in get_json(self.url, timeout=POLL_EVERY)["workers"]:
                    for model in w["models"]:
                        self.rows.append((round(t, 3), model, w["cores"], w["cpu_seconds"]))
            except OSError:
                pass
            self.stop_event.wait(POLL_EVERY)

    def stop(self):
        self.stop_event.set()
        self.join()


def bench(workload_path, summary_path, csv_path=None):
    cmd = [ROMA, "bench", "-w", workload_path, "--out", summary_path]
    if csv_path:
        cmd += ["--csv", csv_path]
    with open(summary_path + ".log", "w") as log:
        subprocess.run(cmd, check=True, env=child_env(), stdout=log, stderr=log)
    with open(summary_path) as f:
        return json.load(f)


def worker_cpu_seconds(port):
    """Each model's CPU worker: CPU seconds used so far (GET /roma/v1/workers)."""
    workers = get_json(f"http://127.0.0.1:{port}/roma/v1/workers")["workers"]
    return {w["models"][0]: w["cpu_seconds"] for w in workers if w["device"] == "cpu"}


def save_history(port, path):
    """roma serve's per-second series of the run (the dashboard's data), as it serves it."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/roma/v1/history", timeout=10) as r:
        with open(path, "wb") as f:
            f.write(r.read())


def run_one(run, args, out_dir):
    """One controller: fresh roma serve, warm-up, measured bench, SIGTERM."""
    run_dir = os.path.join(out_dir, "experiment", run)
    os.makedirs(run_dir, exist_ok=True)
    db = os.path.join(run_dir, "roma.db")
    if os.path.exists(db):
        os.remove(db)
    paths = {k: os.path.join(run_dir, k) for k in
             ["roma.yaml", "workload.yaml", "warmup.yaml", "summary.json", "requests.csv", "cores.csv"]}
    write(paths["roma.yaml"], serve_config(run, args.port, run_dir))
    write(paths["workload.yaml"], workload(args.port, args.run_seconds))
    write(paths["warmup.yaml"], warmup_workload(args.port))

    proc = start_serve(paths["roma.yaml"], os.path.join(run_dir, "serve.log"), args.port)
    try:
        bench(paths["warmup.yaml"], os.path.join(run_dir, "warmup.json"))
        cpu_before = worker_cpu_seconds(args.port)
        poller = CorePoller(args.port, time.monotonic())
        poller.start()
        try:
            summary = bench(paths["workload.yaml"], paths["summary.json"], paths["requests.csv"])
        finally:
            poller.stop()
        cpu_after = worker_cpu_seconds(args.port)
        save_history(args.port, os.path.join(run_dir, "history.json"))
    finally:
        stop_serve(proc)

    with open(paths["cores.csv"], "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t", "model", "cores", "cpu_seconds"])
        w.writerows(poller.rows)
    for model, m in summary["models"].items():  # what the run's requests cost, for calibrate.py
        if model in cpu_after:
            m["worker_cpu_seconds"] = round(cpu_after[model] - cpu_before[model], 3)
    summary["core_seconds"] = sum(m.get("core_seconds", 0) for m in summary["models"].values())
    return summary


# ---- report ------------------------------------------------------------------------


def total_violation_rate(summary):
    """bench's definition over both models: share of the requests answered
    200 that were slower than their SLA (rejected or failed ones not counted)."""
    ok = sum(m["ok"] for m in summary["models"].values())
    bad = sum(m["violation_rate"] * m["ok"] for m in summary["models"].values())
    return bad / ok if ok else 0.0


def strict_violation_rate(summary):
    """Share of all requests sent that were not answered 200 within their SLA:
    a rejected (429) or failed request counts as a violation.  The goals use it."""
    sent = sum(m["sent"] for m in summary["models"].values())
    bad = sum(m["violation_rate"] * m["ok"] + m["errors"] for m in summary["models"].values())
    return bad / sent if sent else 0.0


def goals(runs):
    """The three goals as (text, met) pairs, for `roma` and for the named
    variant `roma-norm` (each judged alone); a goal needs the runs it names."""
    out = []
    v = {r: strict_violation_rate(s) for r, s in runs.items()}
    cs = {r: s["core_seconds"] for r, s in runs.items()}
    for c in ("roma", "roma-norm"):
        if c not in runs:
            continue
        if "rules" in runs and "static" in runs:
            bound = 0.25 * min(v["rules"], v["static"])
            out.append((f"{c} violation rate {v[c]:.2%} <= 25% of min(rules {v['rules']:.2%}, "
                        f"static {v['static']:.2%}) = {bound:.2%}", v[c] <= bound))
        if "static-max" in runs:
            bound = 0.76 * cs["static-max"]
            out.append((f"{c} core-seconds {cs[c]:.1f} <= 76% of static-max's "
                        f"{cs['static-max']:.1f} = {bound:.1f}", cs[c] <= bound))
            bound = v["static-max"] + 0.02
            out.append((f"{c} violation rate {v[c]:.2%} <= static-max's {v['static-max']:.2%} "
                        f"+ 2 pp = {bound:.2%}", v[c] <= bound))
    return out


def cpu_a_request(model_summary):
    """The worker's CPU milliseconds a request, as text ("-" where not recorded)."""
    cpu, ok = model_summary.get("worker_cpu_seconds"), model_summary["ok"]
    return f"{1e3 * cpu / ok:.1f}" if cpu is not None and ok else "-"


def markdown(runs, run_seconds, elapsed, out_dir=None):
    took = f"; whole experiment took {elapsed / 60:.1f} min" if elapsed else ""
    lines = [
        "# ROMA standard experiment",
        "",
        f"Runs of {run_seconds:g} s each, node.cpus {NODE_CPUS}, cores min {CORES['min']} "
        f"max {CORES['max']} initial {CORES['initial']}, seed {SEED}, window {WINDOW:g} s{took}. "
        "Workload and reasons: experiments/README.md.",
        "",
        "Violation rate and window violation rate are bench's: over the requests answered 200. "
        "Errors (e.g. 429 when a model's queue is full) are not in them; the **total** row "
        "also gives the strict rate (slower than the SLA *or* not answered 200, over all "
        "requests sent), which the goals use.",
        "",
        "CPU a request is what the model's worker really spent (its CPU seconds over the run, "
        "over the requests answered 200). On a shared VM it drifts between runs, and near "
        "saturation a violation rate follows it steeply: compare runs with that in mind.",
        "",
        "| run | model | sent | ok | errors | violation rate | window violation rate "
        "| p50 (s) | p95 (s) | p99 (s) | core-seconds | CPU a request (ms) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run, s in runs.items():
        for name, m in s["models"].items():
            lines.append(
                f"| {run} | {name} (SLA {m['sla']:g} s) | {m['sent']} | {m['ok']} | {m['errors']} "
                f"| {m['violation_rate']:.1%} | {m['window_violation_rate']:.1%} | {m['p50']:.3f} "
                f"| {m['p95']:.3f} | {m['p99']:.3f} | {m.get('core_seconds', 0):.1f} "
                f"| {cpu_a_request(m)} |")
        lines.append(
            f"| **{run}** | **total** | {s['sent']} | {s['ok']} | {s['errors']} "
            f"| **{total_violation_rate(s):.1%}** (strict {strict_violation_rate(s):.1%}) "
            f"| | | | | **{s['core_seconds']:.1f}** | |")
    lines += ["", "## Goals (strict violation rates)", ""]
    for text, met in goals(runs):
        lines.append(f"- **{'met' if met else 'missed'}**: {text}")
    lines += ["", "Plots: experiment_rt.png (per-window mean response time vs SLA), "
              "experiment_cores.png (cores over time).", ""]
    histories = [r for r in runs if out_dir and
                 os.path.exists(os.path.join(out_dir, "experiment", r, "history.json"))]
    if histories:
        lines += ["Dashboard data (roma serve's per-second history, GET /roma/v1/history): " +
                  ", ".join(f"[{r}](experiment/{r}/history.json)" for r in histories) + ".", ""]
    return "\n".join(lines)


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def window_means(rows, model):
    """Per-window mean latency of model's answered requests: ([t], [mean])."""
    sums, counts = {}, {}
    for r in rows:
        if r["model"] != model or r["status"] != "200":
            continue
        k = int(float(r["scheduled"]) // WINDOW)
        sums[k] = sums.get(k, 0.0) + float(r["latency"])
        counts[k] = counts.get(k, 0) + 1
    keys = sorted(sums)
    return [(k + 0.5) * WINDOW for k in keys], [sums[k] / counts[k] for k in keys]


def plot_rt(run_names, out_dir, path):
    fig, axes = plt.subplots(len(MODELS), 1, figsize=(10, 4 * len(MODELS)), sharex=True)
    for ax, (model, m) in zip(axes, MODELS.items()):
        for run in run_names:
            rows = read_csv(os.path.join(out_dir, "experiment", run, "requests.csv"))
            t, rt = window_means(rows, model)
            ax.plot(t, rt, label=run)
        ax.axhline(m["sla"], color="black", linestyle="--", label=f"SLA {m['sla']:g} s")
        ax.set_yscale("log")
        ax.set_ylabel("mean response time per window (s)")
        ax.set_title(f"{model}: rate {m['low']} -> {m['high']} -> {m['low']} req/s")
        ax.legend()
    axes[-1].set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_cores(run_names, out_dir, path):
    fig, axes = plt.subplots(len(MODELS), 1, figsize=(10, 3.5 * len(MODELS)), sharex=True)
    for ax, model in zip(axes, MODELS):
        for run in run_names:
            rows = [r for r in read_csv(os.path.join(out_dir, "experiment", run, "cores.csv"))
                    if r["model"] == model]
            ax.step([float(r["t"]) for r in rows], [float(r["cores"]) for r in rows],
                    where="post", label=run)
        ax.set_ylabel("cores")
        ax.set_title(model)
        ax.legend()
    axes[-1].set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report(runs, out_dir, run_seconds, elapsed):
    """Writes experiment.json, experiment.md and the two plots."""
    with open(os.path.join(out_dir, "experiment.json"), "w") as f:
        json.dump({"runs": runs, "run_seconds": run_seconds, "elapsed_seconds": elapsed}, f, indent=1)
    text = markdown(runs, run_seconds, elapsed, out_dir)
    write(os.path.join(out_dir, "experiment.md"), text)
    plot_rt(list(runs), out_dir, os.path.join(out_dir, "experiment_rt.png"))
    plot_cores(list(runs), out_dir, os.path.join(out_dir, "experiment_cores.png"))
    print(text)


def main():
    args = parse_args()
    if args.report_only:
        with open(os.path.join(args.out, "experiment.json")) as f:
            saved = json.load(f)
        report(saved["runs"], args.out, saved.get("run_seconds", args.run_seconds),
               saved.get("elapsed_seconds"))
        return
    run_names = [r.strip() for r in args.runs.split(",") if r.strip()]
    for r in run_names:
        if r not in RUNS:
            sys.exit(f"experiment: unknown run {r!r}; choose from {', '.join(RUNS)}")
    os.makedirs(args.out, exist_ok=True)
    snapshot_binary(args.out)
    t_start = time.monotonic()
    runs = {}
    for run in run_names:
        print(f"experiment: {run}: {args.run_seconds:g} s run", flush=True)
        runs[run] = run_one(run, args, args.out)
        print(f"experiment: {run}: violation rate {total_violation_rate(runs[run]):.1%} "
              f"(strict {strict_violation_rate(runs[run]):.1%}), "
              f"core-seconds {runs[run]['core_seconds']:.1f}", flush=True)
    report(runs, args.out, args.run_seconds, time.monotonic() - t_start)


if __name__ == "__main__":
    main()
