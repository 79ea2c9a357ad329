"""Calibration of `roma sim` against the standard experiment (issue: roma sim
must agree with real runs).

1. Profile, measured on this machine through the real path: a fresh
   `roma serve` with every model held at 1 core (controller static), a
   warm-up, then `roma bench` at a low constant rate (no queueing) per model.
   cpu.time = the worker's CPU seconds (/proc utime + stime) per request;
   cpu.cv = the coefficient of variation of the response time; cpu.overhead
   = CPU seconds roma serve and roma bench spent per request (they share the
   machine's cores with the workers: the scenario's node has cores = this
   machine's).  (--profile FILE reuses one.)
2. A scenario that mirrors scripts/experiment.py exactly (node cpus, cores
   min/max/initial, control period, queue limit, its runs) and replays
   the very workload file the experiment sent (results/experiment/roma/
   workload.yaml: same profiles, same Poisson seed).
3. `roma sim` on it, then a side-by-side table against results/
   experiment.json: strict violation rate and core-seconds for each
   controller, each judged by `agrees` (below): within a relative error
   with a small absolute floor, or within the range of the real repeats
   when the experiment ran more than one (--repeat); the core-seconds of
   `static` and `static-max` are configuration constants (cores x time),
   shown but left out of the verdict.  The
   simulator's figures are means over NOISE_SEEDS draws of the service-time
   noise (the scenario's `seed:`; the arrivals stay the real run's): a
   controller that acts on thresholds moves by several points from one
   draw to the next, as a real run does, so one draw against one real run
   would compare two samples rather than the model with the run.
4. The same again with, for each run, the CPU a request cost in that very
   run (its workers' CPU seconds over its requests, which scripts/
   experiment.py records) in place of the profile's: this separates what
   the engine gets wrong from how far the machine's speed drifted between
   the profile and the run (it drifts by tens of percent within an hour).

Outputs under --out (default results/): calibration/profile.json,
calibration/scenario.yaml and .json (noise seed 1; step 4: scenario-RUN.yaml
and .json), calibration.md.

Usage: .venv/bin/python scripts/calibrate.py [--profile-seconds 30] [--profile FILE]
Run `make experiment` first (it writes results/experiment.json).
"""

import argparse
import csv
import json
import os
import resource
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import experiment as ex  # noqa: E402

PROFILE_RATE = 3  # req/s per model: one request at a time, no queue
NOISE_SEEDS = 8
# Agreement (see agrees): violations within 15% of the real rate or 1
# point, whichever is more (a 0.8% real rate must be simulated within
# 0-1.8%, not within 5 points of it); core-seconds within 5%.  Either also
# passes inside the real repeats' range widened by the floor.
VIOLATION_REL, VIOLATION_FLOOR = 0.15, 0.01
CORES_REL, CORES_FLOOR = 0.05, 1.0
# Runs whose core-seconds the configuration fixes (cores x duration): not judged.
FIXED_CORES = ("static", "static-max")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=os.path.join(ex.ROOT, "results"))
    p.add_argument("--profile", help="reuse this profile.json instead of measuring")
    p.add_argument("--profile-seconds", type=float, default=30)
    p.add_argument("--profile-rate", type=float, default=PROFILE_RATE,
                   help="req/s per model while profiling")
    p.add_argument("--port", type=int, default=8598)
    return p.parse_args()


def profile_config(port, run_dir):
    """roma.yaml with every model fixed at 1 core."""
    lines = [f"listen: 127.0.0.1:{port}", f"node: {{cpus: {ex.NODE_CPUS}, gpus: []}}",
             "control: {period: 1s, controller: static}", "dispatch: {queue_limit: 200}",
             f"store: {{path: {os.path.join(run_dir, 'roma.db')}}}", "models:"]
    for name, m in ex.MODELS.items():
        lines += [f"  - name: {name}", f"    base_path: {os.path.join(ex.ROOT, 'models', name)}",
                  f"    sla: {m['sla']}", "    cores: {min: 0.2, max: 1, initial: 1}"]
    return "\n".join(lines) + "\n"


def profile_workload(port, seconds, rate):
    lines = [f"target: http://127.0.0.1:{port}", f"duration: {seconds}s", "models:"]
    for name, m in ex.MODELS.items():
        lines += [f"  - name: {name}",
                  f"    payload: {os.path.join(ex.ROOT, 'models', name, 'request.json')}",
                  f"    sla: {m['sla']}s", f"    rate: {rate}"]
    return "\n".join(lines) + "\n"


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), from /proc: roma serve's."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(port, serve_pid):
    """CPU seconds so far: each model's worker, roma serve, and the finished
    children of this process (roma bench runs)."""
    snap = ex.worker_cpu_seconds(port)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    snap["outside"] = cpu_seconds(serve_pid) + kids.ru_utime + kids.ru_stime
    return snap


def measure_profile(args, run_dir):
    """Per model: CPU seconds a request costs in its worker (cpu.time), the
    spread of its response time (cv), and the CPU it costs outside the
    worker, in roma serve and roma bench (overhead)."""
    os.makedirs(run_dir, exist_ok=True)
    paths = {k: os.path.join(run_dir, k) for k in ["roma.yaml", "workload.yaml", "warmup.yaml"]}
    ex.write(paths["roma.yaml"], profile_config(args.port, run_dir))
    ex.write(paths["workload.yaml"], profile_workload(args.port, args.profile_seconds, args.profile_rate))
    ex.write(paths["warmup.yaml"], ex.warmup_workload(args.port, ex.standard_load(args.profile_seconds, None)))
    proc = ex.start_serve(paths["roma.yaml"], os.path.join(run_dir, "serve.log"), args.port)
    try:
        ex.bench(paths["warmup.yaml"], os.path.join(run_dir, "warmup.json"))
        before = cpu_snapshot(args.port, proc.pid)
        ex.bench(paths["workload.yaml"], os.path.join(run_dir, "summary.json"),
                 os.path.join(run_dir, "requests.csv"))
        after = cpu_snapshot(args.port, proc.pid)
    finally:
        ex.stop_serve(proc)
    latencies = {name: [] for name in ex.MODELS}
    with open(os.path.join(run_dir, "requests.csv")) as f:
        for row in csv.DictReader(f):
            if row["status"] == "200":
                latencies[row["model"]].append(float(row["latency"]))
    total = sum(len(xs) for xs in latencies.values())
    overhead = (after["outside"] - before["outside"]) / total
    profile = {}
    for name, xs in latencies.items():
        mean = statistics.fmean(xs)
        profile[name] = {"time": (after[name] - before[name]) / len(xs), "cv": statistics.pstdev(xs) / mean,
                         "overhead": overhead, "samples": len(xs), "rt_mean": mean,
                         "rt_p50": statistics.median(xs)}
    return profile


def scenario(profile, workload_path, runs=None, times=None, seed=1):
    """The calibration scenario; `runs` limits it to some runs, `times`
    ({model: seconds}) replaces the profile's CPU time a request, `seed`
    draws the service-time noise."""
    times = times or {name: p["time"] for name, p in profile.items()}
    cores = os.cpu_count()
    lines = [f"workload: {workload_path}", f"seed: {seed}", "control: {period: 1s}",
             "dispatch: {queue_limit: 200}",
             f"nodes: [{{name: local, cpus: {ex.NODE_CPUS}, cores: {cores}}}]",
             "models:"]
    c = ex.CORES
    for name in ex.MODELS:
        lines += [f"  - name: {name}", "    node: local",
                  f"    cores: {{min: {c['min']}, max: {c['max']}, initial: {c['initial']}}}",
                  f"    cpu: {{time: {times[name]:.6f}, cv: {profile[name]['cv']:.4f}, "
                  f"overhead: {profile[name]['overhead']:.6f}}}"]
    lines += ["runs:"]
    for run in runs or ex.RUNS:
        controller = "static" if run == "static-max" else run
        cores = ", cores: max" if run == "static-max" else ""
        lines += [f"  - {{name: {run}, controller: {controller}{cores}}}"]
    return "\n".join(lines) + "\n"


def run_times(summary):
    """{model: CPU seconds a request cost in this run}, or None for a run
    recorded before experiment.py measured it."""
    models = summary["models"]
    if not all("worker_cpu_seconds" in m and m["ok"] for m in models.values()):
        return None
    return {name: m["worker_cpu_seconds"] / m["ok"] for name, m in models.items()}


def simulate(make_scenario, cal_dir, name):
    """Runs the scenario make_scenario(seed) gives for seeds 1..NOISE_SEEDS
    (seed 1's saved as cal_dir/name.yaml and .json): {run: {"violation_rate_strict":
    mean, "core_seconds": mean, "violations": [one per seed]}}."""
    draws = {}
    for seed in range(1, NOISE_SEEDS + 1):
        stem = os.path.join(cal_dir, name if seed == 1 else f".{name}-seed")
        ex.write(stem + ".yaml", make_scenario(seed))
        subprocess.run([ex.BUILT_ROMA, "sim", "-c", stem + ".yaml", "--out", stem + ".json"], check=True,
                       env=ex.child_env(), stdout=subprocess.DEVNULL)
        with open(stem + ".json") as f:
            for run, summary in json.load(f)["runs"].items():
                draws.setdefault(run, []).append(summary)
        if seed > 1:  # keep seed 1's files only
            for ext in (".yaml", ".json"):
                os.remove(stem + ext)
    return {run: {"violation_rate_strict": statistics.fmean(d["violation_rate_strict"] for d in ds),
                  "core_seconds": statistics.fmean(d["core_seconds"] for d in ds),
                  "violations": [d["violation_rate_strict"] for d in ds]}
            for run, ds in draws.items()}


def simulate_with_run_times(real, profile, workload_path, cal_dir):
    """Each run simulated alone with the CPU a request cost in that run:
    ({run: sim summary}, table lines of the costs)."""
    sims, lines = {}, []
    for run in ex.RUNS:
        times = run_times(real[run]) if run in real else None
        if not times:
            continue
        sims.update(simulate(lambda seed: scenario(profile, workload_path, [run], times, seed),
                             cal_dir, f"scenario-{run}"))
        lines.append(f"| {run} | " + " | ".join(f"{times[n] * 1e3:.1f}" for n in ex.MODELS) + " |")
    head = ["| run | " + " | ".join(f"{n} (ms CPU a request)" for n in ex.MODELS) + " |",
            "|---|" + "---:|" * len(ex.MODELS)]
    return sims, head + lines if lines else []


def agrees(real_values, simulated, rel, floor):
    """Whether a simulated figure agrees with the real one(s): within rel x
    the real median or floor (absolute), whichever is more, of the median;
    or, with two real repeats or more, inside their range widened by floor."""
    med = statistics.median(real_values)
    if abs(simulated - med) <= max(rel * abs(med), floor):
        return True
    return len(real_values) > 1 and min(real_values) - floor <= simulated <= max(real_values) + floor


def real_figures(real, repeats, run):
    """The real runs' strict violation rates and core-seconds: every repeat
    when experiment.json has them, else the one run."""
    ss = repeats.get(run) or [real[run]]
    return [ex.strict_violation_rate(s) for s in ss], [s["core_seconds"] for s in ss]


def compare(real, sim, repeats=None):
    repeats = repeats or {}
    lines = [f"| run | violations real (median, range) | violations sim (mean of {NOISE_SEEDS} seeds) "
             "| sim's range | apart (pp) | agrees | core-seconds real | core-seconds sim | apart "
             "| agrees |",
             "|---|---:|---:|---:|---:|---|---:|---:|---:|---|"]
    ok_all = True
    for run in ex.RUNS:
        if run not in real or run not in sim:
            continue
        vreal, creal = real_figures(real, repeats, run)
        vr, cr = statistics.median(vreal), statistics.median(creal)
        vs, cs = sim[run]["violation_rate_strict"], sim[run]["core_seconds"]
        ok_v = agrees(vreal, vs, VIOLATION_REL, VIOLATION_FLOOR)
        ok_c = None if run in FIXED_CORES else agrees(creal, cs, CORES_REL, CORES_FLOOR)
        ok_all &= ok_v and ok_c is not False
        spread = f"{min(sim[run]['violations']):.1%}-{max(sim[run]['violations']):.1%}"
        vtext = f"{vr:.1%}" + (f" ({min(vreal):.1%}-{max(vreal):.1%})" if len(vreal) > 1 else "")
        ctext = "config, not judged" if ok_c is None else "yes" if ok_c else "NO"
        lines.append(f"| {run} | {vtext} | {vs:.1%} | {spread} | {100 * abs(vs - vr):.1f} "
                     f"| {'yes' if ok_v else 'NO'} | {cr:.1f} | {cs:.1f} | {abs(cs - cr) / cr:.1%} "
                     f"| {ctext} |")
    return lines, ok_all


def main():
    args = parse_args()
    args.out = os.path.abspath(args.out)
    cal_dir = os.path.join(args.out, "calibration")
    os.makedirs(cal_dir, exist_ok=True)
    with open(os.path.join(args.out, "experiment.json")) as f:
        saved = json.load(f)
    real, repeats = saved["runs"], saved.get("repeats", {})
    if args.profile:
        with open(args.profile) as f:
            profile = json.load(f)
    else:
        ex.snapshot_binary(args.out)
        profile = measure_profile(args, os.path.join(cal_dir, "profile"))
    ex.write(os.path.join(cal_dir, "profile.json"), json.dumps(profile, indent=1) + "\n")
    workload_path = os.path.join(args.out, "experiment", "roma", "workload.yaml")
    sim = simulate(lambda seed: scenario(profile, workload_path, seed=seed), cal_dir, "scenario")
    table, ok_all = compare(real, sim, repeats)
    sim_rt, costs = simulate_with_run_times(real, profile, workload_path, cal_dir)
    # each run's own CPU cost is the first repeat's: compare with that run alone
    table_rt, ok_rt = compare(real, sim_rt) if sim_rt else ([], False)
    prof = ", ".join(f"{n} {p['time'] * 1e3:.1f} ms of worker CPU a request (response time "
                     f"{p['rt_mean'] * 1e3:.1f} ms, cv {p['cv']:.2f}, {p['samples']} requests)"
                     for n, p in profile.items())
    prof += (f"; outside the workers (roma serve + roma bench) "
             f"{next(iter(profile.values()))['overhead'] * 1e3:.1f} ms of CPU a request")
    text = "\n".join(["# roma sim against the standard experiment", "",
                      f"Profile (mean response time at 1 core, low load, through roma serve): {prof}.",
                      f"Agreement: violations within {VIOLATION_REL:.0%} or {100 * VIOLATION_FLOOR:g} "
                      f"point(s), core-seconds within {CORES_REL:.0%} (or inside the real repeats' "
                      f"range); core-seconds of {', '.join(FIXED_CORES)} are fixed by the "
                      "configuration and not judged.", "", *table, "",
                      f"All within the goals: {'yes' if ok_all else 'NO'}.", ""])
    if sim_rt:
        text += "\n".join(["", "## With each run's own CPU cost a request", "",
                            "The workers' CPU seconds in each real run over its requests "
                            "(GET /roma/v1/workers before and after), against the profile's "
                            + ", ".join(f"{n} {p['time'] * 1e3:.1f} ms" for n, p in profile.items())
                            + ":", "", *costs, "", *table_rt, "",
                            f"All within the goals: {'yes' if ok_rt else 'NO'}.", ""])
    ex.write(os.path.join(args.out, "calibration.md"), text)
    print(text)


if __name__ == "__main__":
    main()
