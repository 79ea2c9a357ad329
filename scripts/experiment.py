"""The standard ROMA experiment (DESIGN.md section 5): one seeded multi-model
workload replayed against `roma serve` with, in turn, the controllers

    roma        ROMA's feedback controller, exactly as published
    roma-norm   the same law on a relative time error aimed at 0.4 SLA
    relative-pi-ff  roma-norm with a feed-forward floor (measured demand x
                the CPU a request costs, plus the backlog): the default
    rules       threshold autoscaler (step up / down with a cooldown) around
                the same set point (0.6 / 0.2 SLA)
    static      every model fixed at cores.initial
    static-max  controller static with every model's initial = its cores.max
    vpa         Vertical-Pod-Autoscaler-like baseline: p90 of the CPU used + 15%,
                recomputed every minute

Every run starts a fresh `roma serve` (stopped with SIGTERM afterwards),
sends a short warm-up that is not measured, then runs `roma bench` with the
same workload while a thread polls GET /roma/v1/workers every 0.5 s to record
each model's cores over time.  With --repeat N the whole set of runs is
repeated N times, interleaved (round k runs every controller once, in an
order rotated by k, so that a drift of the machine's speed hits them all
alike), and the report gives each figure as the median and range over the
repeats, judges the goals on the medians and says where ranges overlap.
The workload is the standard one (generated here, scaled to --run-seconds:
experiments/standard-workload.yaml at 150 s) or a file (--workload: e.g. the
held-out experiments/heldout-workload.yaml, its times scaled likewise).  The
parameters and why they were chosen are in experiments/README.md.

Outputs (under --out, default results/):
    experiment.json       {"runs": {controller: bench summary + core_seconds}}
    experiment.md         table per run and model, totals, the three goals
    experiment_rt.png     per-window mean response time vs SLA
    experiment_cores.png  cores over time per model
    experiment/<run>/     raw files of the first repeat: roma.yaml, workload.yaml,
                          summary.json, requests.csv, cores.csv, serve.log, and
                          history.json: roma serve's per-second series (GET
                          /roma/v1/history, what its dashboard at / shows),
                          linked from the report
    experiment/<run>/repeat-K/  the same for repeat K >= 2

Usage: .venv/bin/python scripts/experiment.py [--run-seconds 90] [--repeat 3] [--runs roma,static]
           [--seed N] [--workload experiments/heldout-workload.yaml] [--out DIR]
       .venv/bin/python scripts/experiment.py --report-only   # redo report and plots
"""

import argparse
import csv
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

import yaml

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILT_ROMA = os.path.join(ROOT, "build", "roma")
ROMA = BUILT_ROMA  # main() points this at a private copy (see snapshot_binary)
RUNS = ["roma", "roma-norm", "relative-pi-ff", "rules", "static", "static-max", "vpa"]
BASELINES = ["rules", "static", "vpa"]  # the goals' "baselines"; static-max has goals of its own

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
    p.add_argument("--run-seconds", type=float, default=90,
                   help="length of each measured run (the workload's times are scaled to it)")
    p.add_argument("--repeat", type=int, default=3,
                   help="rounds of all runs, interleaved; figures are medians and ranges over them")
    p.add_argument("--seed", type=int, help=f"seed of the Poisson arrivals (default: the workload "
                   f"file's, {SEED} for the standard workload)")
    p.add_argument("--workload", help="a roma bench workload file (target and payloads are added): "
                   "e.g. experiments/heldout-workload.yaml; default the standard workload")
    p.add_argument("--runs", default=",".join(RUNS),
                   help="comma-separated subset of " + ",".join(RUNS) + "; a run may name its own "
                   "control period, e.g. relative-pi-ff@0.5s, to compare periods in one interleaved experiment")
    p.add_argument("--period", default="1s",
                   help="control period of every run that names none (default 1s, the paper's)")
    p.add_argument("--port", type=int, default=8599, help="port of roma serve")
    p.add_argument("--out", default=os.path.join(ROOT, "results"), help="output folder")
    p.add_argument("--report-only", action="store_true",
                   help="no runs: rewrite the report and plots from OUT/experiment.json and the raw files")
    return p.parse_args()


# ---- configuration files ------------------------------------------------------


def split_run(run, default_period):
    """A run as named on the command line -> (its controller run, its control
    period): 'rules' -> ('rules', default_period); 'rules@0.5s' -> ('rules', '0.5s')."""
    name, _, period = run.partition("@")
    return name, period or default_period


def serve_config(run, port, run_dir, slas, default_period="1s"):
    """roma.yaml for one run: controller static for static-max, initial = max;
    slas: {model: seconds}, the workload's."""
    run, period = split_run(run, default_period)
    controller = "static" if run == "static-max" else run
    initial = CORES["max"] if run == "static-max" else CORES["initial"]
    lines = [
        f"listen: 127.0.0.1:{port}",
        f"node: {{cpus: {NODE_CPUS}, gpus: []}}",
        f"control: {{period: {period}, controller: {controller}}}",
        "dispatch: {gpu_policy: roma, queue_limit: 200}",
        f"store: {{path: {os.path.join(run_dir, 'roma.db')}, max_rows: 1000000}}",
        "models:",
    ]
    for name, sla in slas.items():
        lines += [
            f"  - name: {name}",
            f"    base_path: {os.path.join(ROOT, 'models', name)}",
            f"    sla: {sla:g}",
            "    alpha: 0.5",
            f"    cores: {{min: {CORES['min']}, max: {CORES['max']}, initial: {initial}}}",
        ]
    return "\n".join(lines) + "\n"


def step_schedule(m, run_seconds):
    """low -> high -> low as bench's step list [[rate, duration], ...]."""
    start, end = m["peak"]
    parts = [(m["low"], start), (m["high"], end - start), (m["low"], 1 - end)]
    return [[rate, round(frac * run_seconds, 3)] for rate, frac in parts if frac > 0]


DURATION = re.compile(r"^([0-9.]+)(ms|s|m)$")
UNIT_SECONDS = {"ms": 1e-3, "s": 1, "m": 60}
LOAD_KEYS = ("rate", "step", "ramp", "sine")  # bench's load profiles (src/bench/workload.h)


def seconds(text, what):
    m = DURATION.match(str(text).strip())
    if not m:
        sys.exit(f"experiment: {what} is {text!r}, not a duration such as 150s or 250ms")
    return float(m.group(1)) * UNIT_SECONDS[m.group(2)]


def scaled(value, factor):
    """value (a bench profile: lists, maps, numbers) with every duration
    multiplied by factor; rates untouched."""
    if isinstance(value, list):
        return [scaled(v, factor) for v in value]
    if isinstance(value, dict):
        return {k: scaled(v, factor) for k, v in value.items()}
    if isinstance(value, str) and DURATION.match(value.strip()):
        return f"{round(seconds(value, value) * factor, 3):g}s"
    return value


def flow(value):
    """YAML flow text of a profile (durations unquoted, as the docs write them)."""
    if isinstance(value, list):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {flow(v)}" for k, v in value.items()) + "}"
    return str(value)


def standard_load(run_seconds, seed):
    """The standard workload at run_seconds: {"seed", "models": {name: {"sla",
    "profile"}}} (experiments/standard-workload.yaml at 150 s)."""
    models = {}
    for name, m in MODELS.items():
        steps = [[r, f"{d:g}s"] for r, d in step_schedule(m, run_seconds)]
        models[name] = {"sla": m["sla"], "profile": {"step": steps}}
    return {"source": "standard", "seed": SEED if seed is None else seed, "models": models}


def file_load(path, run_seconds, seed):
    """A roma bench workload file's models, every duration scaled so that the
    file's duration becomes run_seconds; its models must be test models."""
    try:
        with open(path) as f:
            w = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        sys.exit(f"experiment: cannot read the workload {path}: {e}")
    if not isinstance(w, dict) or not isinstance(w.get("models"), list) or "duration" not in w:
        sys.exit(f"experiment: {path} needs a duration and a list of models (roma bench's format)")
    factor = run_seconds / seconds(w["duration"], f"{path}: duration")
    models = {}
    for m in w["models"]:
        name = m.get("name") if isinstance(m, dict) else None
        if name not in MODELS:
            sys.exit(f"experiment: {path}: model {name!r} is not one of the test models "
                     f"({', '.join(MODELS)})")
        if "sla" not in m or m.get("arrivals", "poisson") != "poisson":
            sys.exit(f"experiment: {path}: model {name} needs an sla and Poisson arrivals")
        profile = {k: scaled(m[k], factor) for k in LOAD_KEYS if k in m}
        if len(profile) != 1:
            sys.exit(f"experiment: {path}: model {name} needs exactly one of {', '.join(LOAD_KEYS)}")
        models[name] = {"sla": seconds(m["sla"], f"{path}: {name}'s sla"), "profile": profile}
    return {"source": os.path.relpath(os.path.abspath(path), ROOT),
            "seed": int(w.get("seed", SEED)) if seed is None else seed, "models": models}


def workload(port, run_seconds, load):
    """The bench workload: Poisson arrivals, the same seed for every run."""
    lines = [
        f"target: http://127.0.0.1:{port}",
        f"duration: {run_seconds:g}s",
        f"seed: {load['seed']}",
        f"window: {WINDOW}s",
        "models:",
    ]
    for name, m in load["models"].items():
        lines += [
            f"  - name: {name}",
            f"    payload: {os.path.join(ROOT, 'models', name, 'request.json')}",
            f"    sla: {m['sla']:g}s",
            "    arrivals: poisson",
        ]
        lines += [f"    {k}: {flow(v)}" for k, v in m["profile"].items()]
    return "\n".join(lines) + "\n"


def warmup_workload(port, load):
    lines = [f"target: http://127.0.0.1:{port}", f"duration: {WARMUP_SECONDS}s", "models:"]
    for name, m in load["models"].items():
        lines += [
            f"  - name: {name}",
            f"    payload: {os.path.join(ROOT, 'models', name, 'request.json')}",
            f"    sla: {m['sla']:g}s",
            f"    rate: {WARMUP_RATE}",
        ]
    return "\n".join(lines) + "\n"


def snapshot_binary(out_dir):
    """Copies build/roma and build/roma-worker (which roma serve runs from
    next to itself) so that a rebuild during the experiment cannot swap the
    programs between (or during) runs; their rpath still finds TensorFlow."""
    global ROMA
    dest_dir = os.path.join(out_dir, "experiment", "bin")  # not a run's folder name
    os.makedirs(dest_dir, exist_ok=True)
    for built in (BUILT_ROMA, BUILT_ROMA + "-worker"):
        for _ in range(120):  # another make may be relinking it: wait up to a minute
            st = os.stat(built) if os.path.exists(built) else None
            if st and st.st_size > 0 and os.access(built, os.X_OK) and time.time() - st.st_mtime > 2:
                break
            time.sleep(0.5)
        else:
            sys.exit(f"experiment: {built} missing, empty or not executable; run make first")
        shutil.copy2(built, os.path.join(dest_dir, os.path.basename(built)))
    ROMA = os.path.join(dest_dir, "roma")


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


def run_dir_of(out_dir, run, k):
    """Raw files of repeat k (1-based): experiment/<run>/, then repeat-K/ under it."""
    d = os.path.join(out_dir, "experiment", run)
    return d if k == 1 else os.path.join(d, f"repeat-{k}")


def run_one(run, args, out_dir, load, k=1):
    """One controller: fresh roma serve, warm-up, measured bench, SIGTERM."""
    run_dir = run_dir_of(out_dir, run, k)
    os.makedirs(run_dir, exist_ok=True)
    db = os.path.join(run_dir, "roma.db")
    if os.path.exists(db):
        os.remove(db)
    paths = {k: os.path.join(run_dir, k) for k in
             ["roma.yaml", "workload.yaml", "warmup.yaml", "summary.json", "requests.csv", "cores.csv"]}
    write(paths["roma.yaml"], serve_config(run, args.port, run_dir,
                                           {n: m["sla"] for n, m in load["models"].items()}, args.period))
    write(paths["workload.yaml"], workload(args.port, args.run_seconds, load))
    write(paths["warmup.yaml"], warmup_workload(args.port, load))

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


def spread(values):
    """(median, lowest, highest) of a run's figure over its repeats."""
    return statistics.median(values), min(values), max(values)


def with_range(values, fmt):
    """'median (low–high)' over repeats; just the value for a single run."""
    med, lo, hi = spread(values)
    return fmt(med) if len(values) == 1 else f"{fmt(med)} ({fmt(lo)}–{fmt(hi)})"


def overlap(a, b):
    """Whether two (median, low, high) ranges overlap."""
    return a[1] <= b[2] and b[1] <= a[2]


def strict_of(repeats, run):
    return spread([strict_violation_rate(s) for s in repeats[run]])


def cores_of(repeats, run):
    return spread([s["core_seconds"] for s in repeats[run]])


def scale(r, factor, add=0.0):
    return tuple(v * factor + add for v in r)


def strongest_baseline(repeats):
    """The baseline (BASELINES) with the lowest median strict violation rate."""
    present = [b for b in BASELINES if b in repeats]
    return min(present, key=lambda b: strict_of(repeats, b)[0]) if present else None


def goals(repeats):
    """The three goals as (text, met) pairs, for `roma` and for the named
    variants `roma-norm` and `relative-pi-ff` (each judged alone), on the medians over repeats; a
    goal needs the runs it names.  The first is against the strongest
    baseline (rules, static, vpa).  Each text says whether the ranges of the
    two sides overlap (with one repeat there are no ranges)."""
    out = []
    n = min(len(v) for v in repeats.values())
    best = strongest_baseline(repeats)

    def note(a, b):
        if n < 2:
            return ""
        return "; ranges overlap" if overlap(a, b) else "; ranges apart"

    for c in repeats:
        if split_run(c, "")[0] not in ("roma", "roma-norm", "relative-pi-ff"):
            continue
        v, cs = strict_of(repeats, c), cores_of(repeats, c)
        if best:
            bound = scale(strict_of(repeats, best), 0.25)
            others = ", ".join(f"{b} {strict_of(repeats, b)[0]:.2%}" for b in BASELINES if b in repeats)
            out.append((f"{c} violation rate {v[0]:.2%} <= 25% of the strongest baseline's ({best}; "
                        f"{others}) = {bound[0]:.2%}{note(v, bound)}", v[0] <= bound[0]))
        if "static-max" in repeats:
            bound = scale(cores_of(repeats, "static-max"), 0.76)
            out.append((f"{c} core-seconds {cs[0]:.1f} <= 76% of static-max's "
                        f"{cores_of(repeats, 'static-max')[0]:.1f} = {bound[0]:.1f}{note(cs, bound)}",
                        cs[0] <= bound[0]))
            bound = scale(strict_of(repeats, "static-max"), 1, 0.02)
            out.append((f"{c} violation rate {v[0]:.2%} <= static-max's "
                        f"{strict_of(repeats, 'static-max')[0]:.2%} + 2 pp = {bound[0]:.2%}"
                        f"{note(v, bound)}", v[0] <= bound[0]))
    return out


def cpu_a_request(model_summaries):
    """The worker's CPU milliseconds a request, median over repeats, as text
    ("-" where not recorded)."""
    vals = [1e3 * m["worker_cpu_seconds"] / m["ok"] for m in model_summaries
            if m.get("worker_cpu_seconds") is not None and m["ok"]]
    return f"{statistics.median(vals):.1f}" if vals else "-"


def model_row(run, name, ms):
    """One run x model row: medians over the repeats."""
    med = lambda key: statistics.median(m.get(key, 0) for m in ms)  # noqa: E731
    sla = ms[0]["sla"]
    return (f"| {run} | {name} (SLA {sla:g} s) | {med('sent'):g} | {med('ok'):g} | {med('errors'):g} "
            f"| {med('violation_rate'):.1%} | {med('window_violation_rate'):.1%} | {med('p50'):.3f} "
            f"| {med('p95'):.3f} | {med('p99'):.3f} | {med('core_seconds'):.1f} | {cpu_a_request(ms)} |")


def markdown(repeats, meta, out_dir=None):
    elapsed = meta.get("elapsed_seconds")
    took = f"; whole experiment took {elapsed / 60:.1f} min" if elapsed else ""
    n = min(len(v) for v in repeats.values())
    pct = lambda x: f"{x:.1%}"  # noqa: E731
    lines = [
        "# ROMA standard experiment",
        "",
        f"Workload **{meta.get('workload', 'standard')}**, seed {meta.get('seed', SEED)}; runs of "
        f"{meta['run_seconds']:g} s each, {n} repeat(s), interleaved; node.cpus {NODE_CPUS}, cores "
        f"min {CORES['min']} max {CORES['max']} initial {CORES['initial']}, control period "
        f"{meta.get('period', '1s')} (a run named RUN@P: P), window {WINDOW:g} s{took}. "
        "Workload and reasons: experiments/README.md.",
        "",
        "Figures are medians over the repeats with their range (lowest–highest) in brackets; the "
        "goals are judged on the medians. The strict violation rate counts a request slower than "
        "its SLA *or* not answered 200, over all requests sent (the goals use it); bench's rate "
        "counts only requests answered 200 (errors, e.g. 429 when a model's queue is full, are "
        "not in it).",
        "",
        "| run | strict violations | violations (bench) | core-seconds | errors |",
        "|---|---:|---:|---:|---:|",
    ]
    for run, ss in repeats.items():
        lines.append(
            f"| **{run}** | **{with_range([strict_violation_rate(s) for s in ss], pct)}** "
            f"| {with_range([total_violation_rate(s) for s in ss], pct)} "
            f"| **{with_range([s['core_seconds'] for s in ss], lambda x: f'{x:.1f}')}** "
            f"| {with_range([s['errors'] for s in ss], lambda x: f'{x:g}')} |")
    lines += [
        "",
        "Per model (medians over the repeats). CPU a request is what the model's worker really "
        "spent (its CPU seconds over the run, over the requests answered 200). On a shared VM it "
        "drifts between runs, and near saturation a violation rate follows it steeply: compare "
        "runs with that in mind.",
        "",
        "| run | model | sent | ok | errors | violation rate | window violation rate "
        "| p50 (s) | p95 (s) | p99 (s) | core-seconds | CPU a request (ms) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run, ss in repeats.items():
        for name in ss[0]["models"]:
            lines.append(model_row(run, name, [s["models"][name] for s in ss]))
    lines += ["", "## Goals (strict violation rates, medians)", ""]
    for text, met in goals(repeats):
        lines.append(f"- **{'met' if met else 'missed'}**: {text}")
    best = strongest_baseline(repeats)
    if best:
        lines += ["", f"Strongest baseline (lowest median strict violations of {', '.join(BASELINES)}): "
                  f"**{best}**, {strict_of(repeats, best)[0]:.1%} at "
                  f"{cores_of(repeats, best)[0]:.1f} core-seconds."]
    lines += ["", "Plots (first repeat): experiment_rt.png (per-window mean response time vs SLA), "
              "experiment_cores.png (cores over time).", ""]
    histories = [r for r in repeats if out_dir and
                 os.path.exists(os.path.join(out_dir, "experiment", r, "history.json"))]
    if histories:
        lines += ["Dashboard data (first repeat; roma serve's per-second history, GET "
                  "/roma/v1/history): " +
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


def plot_rt(run_names, out_dir, path, slas):
    fig, axes = plt.subplots(len(slas), 1, figsize=(10, 4 * len(slas)), sharex=True, squeeze=False)
    for ax, (model, sla) in zip(axes[:, 0], slas.items()):
        for run in run_names:
            rows = read_csv(os.path.join(out_dir, "experiment", run, "requests.csv"))
            t, rt = window_means(rows, model)
            ax.plot(t, rt, label=run)
        ax.axhline(sla, color="black", linestyle="--", label=f"SLA {sla:g} s")
        ax.set_yscale("log")
        ax.set_ylabel("mean response time per window (s)")
        ax.set_title(model)
        ax.legend()
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_cores(run_names, out_dir, path, slas):
    fig, axes = plt.subplots(len(slas), 1, figsize=(10, 3.5 * len(slas)), sharex=True, squeeze=False)
    for ax, model in zip(axes[:, 0], slas):
        for run in run_names:
            rows = [r for r in read_csv(os.path.join(out_dir, "experiment", run, "cores.csv"))
                    if r["model"] == model]
            ax.step([float(r["t"]) for r in rows], [float(r["cores"]) for r in rows],
                    where="post", label=run)
        ax.set_ylabel("cores")
        ax.set_title(model)
        ax.legend()
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report(repeats, out_dir, meta):
    """Writes experiment.json, experiment.md and the two plots (first repeat).
    experiment.json keeps "runs" (the first repeat: what scripts/calibrate.py
    reads, with the raw files under experiment/<run>/) and "repeats"."""
    runs = {r: ss[0] for r, ss in repeats.items()}
    with open(os.path.join(out_dir, "experiment.json"), "w") as f:
        json.dump({"runs": runs, "repeats": repeats, **meta}, f, indent=1)
    text = markdown(repeats, meta, out_dir)
    write(os.path.join(out_dir, "experiment.md"), text)
    slas = {name: m["sla"] for name, m in next(iter(runs.values()))["models"].items()}
    plot_rt(list(runs), out_dir, os.path.join(out_dir, "experiment_rt.png"), slas)
    plot_cores(list(runs), out_dir, os.path.join(out_dir, "experiment_cores.png"), slas)
    print(text)


def main():
    args = parse_args()
    if args.report_only:
        with open(os.path.join(args.out, "experiment.json")) as f:
            saved = json.load(f)
        repeats = saved.pop("repeats", None) or {r: [s] for r, s in saved["runs"].items()}
        saved.pop("runs")
        saved.setdefault("run_seconds", args.run_seconds)
        report(repeats, args.out, saved)
        return
    run_names = [r.strip() for r in args.runs.split(",") if r.strip()]
    for r in run_names:
        name, period = split_run(r, args.period)
        if name not in RUNS:
            sys.exit(f"experiment: unknown run {r!r}; choose from {', '.join(RUNS)}, each optionally "
                     "with @PERIOD (e.g. relative-pi-ff@0.5s)")
        seconds(period, f"the control period of run {r!r}")
    if args.repeat < 1 or args.run_seconds <= 0:
        sys.exit("experiment: --repeat must be at least 1 and --run-seconds positive")
    load = (file_load(args.workload, args.run_seconds, args.seed) if args.workload
            else standard_load(args.run_seconds, args.seed))
    os.makedirs(args.out, exist_ok=True)
    snapshot_binary(args.out)
    t_start = time.monotonic()
    repeats = {run: [] for run in run_names}
    for k in range(1, args.repeat + 1):
        # interleaved: every controller once a round, the order rotated each round
        shift = (k - 1) % len(run_names)
        for run in run_names[shift:] + run_names[:shift]:
            print(f"experiment: repeat {k}/{args.repeat}: {run}: {args.run_seconds:g} s run", flush=True)
            s = run_one(run, args, args.out, load, k)
            repeats[run].append(s)
            print(f"experiment: {run}: violation rate {total_violation_rate(s):.1%} "
                  f"(strict {strict_violation_rate(s):.1%}), core-seconds {s['core_seconds']:.1f}",
                  flush=True)
    meta = {"run_seconds": args.run_seconds, "elapsed_seconds": time.monotonic() - t_start,
            "workload": load["source"], "seed": load["seed"], "repeat": args.repeat, "period": args.period}
    report(repeats, args.out, meta)


if __name__ == "__main__":
    main()
