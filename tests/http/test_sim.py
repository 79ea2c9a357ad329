"""Black-box tests of `roma sim`, the discrete-event simulator.

- experiments/paper.yaml, paper-h200.yaml (the paper-scale scenarios in the repo) and
  standard.yaml (make experiment's set-up) run every
  run it lists; the JSON has roma bench's summary schema per run plus the
  simulator's fields; sent counts agree with the workload.
- Every run is reported against the offline optimum (`optimum` and each
  run's `optimum_ratio`, the Markdown's "× optimum").
- Determinism: the same scenario and seed give byte-identical JSON and
  Markdown; another seed gives other numbers.
- --period replaces the scenario's control period (the same bytes as the
  scenario edited to that period).
- --runs selects runs; --timeline writes every control decision; mistakes (no -c, unknown flag, bad scenario, a run
  that is not in the scenario, unwritable output) exit 2 or 1 with a
  message naming what is wrong.

The engine's own correctness (queueing formulas, processor sharing, GPU
sharing) is in tests/unit/test_sim.c.
"""

import json
import os
import subprocess
import time

import pytest

from roma_http import PROJECT_ROOT, require_binary

PAPER = PROJECT_ROOT / "experiments" / "paper.yaml"
PAPER_H200 = PROJECT_ROOT / "experiments" / "paper-h200.yaml"  # same, measured GPU times
STANDARD = PROJECT_ROOT / "experiments" / "standard.yaml"  # make experiment's set-up
BENCH_KEYS = {"target", "duration", "elapsed", "window", "rate_asked", "rate_achieved", "sent", "ok",
              "errors", "send_lag_p99", "max_in_flight", "connections", "interrupted", "models"}
SIM_KEYS = {"controller", "policy", "devices", "cores", "core_seconds", "violation_rate_strict",
            "gpu_busy_share", "control_periods", "optimum_ratio"}
OPTIMUM_KEYS = {"target", "core_seconds", "models", "periods", "infeasible_windows", "node_over_periods",
                "gpu_share"}
MODEL_KEYS = {"sla", "arrivals", "load", "sent", "ok", "errors", "statuses", "mean", "p50", "p95",
              "p99", "violation_rate", "window_violation_rate", "windows", "rate_asked",
              "rate_achieved", "core_seconds", "gpu_share"}


def sim(*args, check=True, timeout=120):
    cmd = [str(require_binary()), "sim", *map(str, args)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if check:
        assert p.returncode == 0, f"{' '.join(cmd)} exited {p.returncode}:\n{p.stderr.decode()}"
    return p


SMALL_LOAD = """\
duration: 60s
seed: 3
models:
  - {name: a, sla: 100ms, arrivals: poisson, step: [[20, 20s], [80, 20s], [20, 20s]]}
  - {name: b, sla: 200ms, arrivals: poisson, rate: 30}
"""

SMALL = """\
workload: load.yaml
control: {period: 1s}
nodes: [{name: n, cpus: 2, gpus: 1}]
models:
  - {name: a, node: n, cores: {min: 0.2, max: 2, initial: 0.5}, cpu: {time: 20ms, cv: 0.2},
     gpu: {index: 0, time: 4ms}}
  - {name: b, node: n, cores: {min: 0.2, max: 2, initial: 0.5}, cpu: {time: 15ms, cv: 0.2},
     gpu: {index: 0, time: 3ms}}
runs:
  - {name: roma, controller: roma}
  - {name: random, policy: random}
  - {name: cpu, devices: cpu, controller: rules}
"""


def small_scenario(tmp_path, scenario=SMALL, load=SMALL_LOAD):
    (tmp_path / "load.yaml").write_text(load)
    path = tmp_path / "scen.yaml"
    path.write_text(scenario)
    return path


@pytest.mark.parametrize("scenario", [PAPER, PAPER_H200, STANDARD], ids=lambda p: p.name)
def test_paper_scenario_runs_every_run(tmp_path, scenario):
    out, md = tmp_path / "paper.json", tmp_path / "paper.md"
    t0 = time.monotonic()
    p = sim("-c", scenario, "--out", out, "--md", md)
    print(f"{scenario.name} took {time.monotonic() - t0:.2f} s")
    result = json.loads(out.read_text())
    runs_part = scenario.read_text().split("\nruns:\n")[1]
    names = [line.split("name:")[1].split(",")[0].strip()
             for line in runs_part.splitlines() if line.strip().startswith("- {name:")]
    assert list(result["runs"]) == names
    for name, run in result["runs"].items():
        assert BENCH_KEYS | SIM_KEYS <= set(run), name
        assert run["sent"] == result["requests"]
        assert run["ok"] + run["errors"] == run["sent"]
        for model in run["models"].values():
            assert MODEL_KEYS <= set(model), name
        if run["devices"] == "gpu":
            assert run["core_seconds"] == 0
            assert all(m["gpu_share"] == 1 for m in run["models"].values())
        if run["devices"] == "cpu":
            assert run["gpu_busy_share"] is None
            assert all(m["gpu_share"] == 0 for m in run["models"].values())
    opt = result["optimum"]
    assert OPTIMUM_KEYS <= set(opt)
    assert opt["core_seconds"] == pytest.approx(sum(opt["models"].values()))
    for name, run in result["runs"].items():
        assert run["optimum_ratio"] == pytest.approx(run["core_seconds"] / opt["core_seconds"]), name
    assert md.read_text() == p.stdout.decode()
    assert "| roma | roma | roma | both |" in md.read_text()
    assert "Offline optimum" in md.read_text()


def test_same_seed_same_bytes(tmp_path):
    scen = small_scenario(tmp_path)
    outs = []
    for i, seed in enumerate([5, 5, 6]):
        out, md = tmp_path / f"{i}.json", tmp_path / f"{i}.md"
        sim("-c", scen, "--seed", seed, "--out", out, "--md", md)
        outs.append((out.read_bytes(), md.read_bytes()))
    assert outs[0] == outs[1]
    assert outs[0][0] != outs[2][0]
    assert json.loads(outs[2][0])["seed"] == 6


def test_runs_subset(tmp_path):
    out = tmp_path / "o.json"
    sim("-c", small_scenario(tmp_path), "--runs", "cpu,roma", "--out", out)
    runs = json.loads(out.read_text())["runs"]
    assert list(runs) == ["roma", "cpu"]
    assert runs["cpu"]["controller"] == "rules" and runs["cpu"]["devices"] == "cpu"


def test_period_flag_is_the_scenario_with_that_period(tmp_path):
    scen = small_scenario(tmp_path)
    (tmp_path / "e").mkdir()
    edited = small_scenario(tmp_path / "e", SMALL.replace("period: 1s", "period: 250ms"))
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    flagged = sim("-c", scen, "--period", "250ms", "--out", a).stdout
    assert sim("-c", edited, "--out", b).stdout == flagged
    sim("-c", scen, "--out", c)
    ja, jb, jc = (json.loads(p.read_text()) for p in (a, b, c))
    assert ja["period"] == jb["period"] == 0.25 and jc["period"] == 1
    assert ja["runs"] == jb["runs"] and ja["optimum"] == jb["optimum"]
    # four decisions a second instead of one: the flag really reached the engine
    assert ja["runs"]["roma"]["control_periods"] == 4 * jc["runs"]["roma"]["control_periods"]


def test_timeline_has_every_decision(tmp_path):
    timeline, out = tmp_path / "t.csv", tmp_path / "o.json"
    sim("-c", small_scenario(tmp_path), "--runs", "roma,cpu", "--timeline", timeline, "--out", out)
    rows = timeline.read_text().splitlines()
    assert rows[0] == "run,t,model,rt_mean,completed,cores"
    result = json.loads(out.read_text())["runs"]
    for run in ("roma", "cpu"):
        mine = [r.split(",") for r in rows[1:] if r.startswith(run + ",")]
        # one decision per CPU worker (a and b) per control period
        assert len(mine) == 2 * result[run]["control_periods"]
        assert {r[2] for r in mine} == {"a", "b"}
        assert all(0.2 <= float(r[5]) <= 2 for r in mine)


def test_mistakes(tmp_path):
    scen = small_scenario(tmp_path)
    cases = [
        ([], 2, "give the scenario with -c FILE"),
        (["-c", scen, "--bogus", "1"], 2, "unknown flag '--bogus'"),
        (["-c", scen, "--seed", "-1"], 2, "--seed must be a whole number"),
        (["-c", tmp_path / "nope.yaml"], 2, "cannot read the scenario"),
        (["-c", scen, "--runs", "roma,nope"], 2, "the scenario has no run 'nope'"),
        (["-c", scen, "--period", "0"], 2, "--period must be a duration > 0"),
        (["-c", scen, "--period", "soon"], 2, "--period must be a duration > 0"),
        (["-c", scen, "--out", tmp_path / "no" / "dir.json"], 1, "cannot write the summary"),
    ]
    for args, code, msg in cases:
        p = sim(*args, check=False)
        assert p.returncode == code, (args, p.stderr.decode())
        assert msg in p.stderr.decode(), (args, p.stderr.decode())


def test_bad_scenario_names_file_line_and_key(tmp_path):
    bad = SMALL.replace("cpu: {time: 20ms, cv: 0.2}", "cpu: {time: fast, cv: 0.2}")
    p = sim("-c", small_scenario(tmp_path, bad), check=False)
    assert p.returncode == 2
    err = p.stderr.decode()
    assert "scen.yaml:5: models[0].cpu.time must be a duration > 0" in err, err
    bad_load = SMALL_LOAD.replace("rate: 30", "rate: many")
    p = sim("-c", small_scenario(tmp_path, SMALL, bad_load), check=False)
    assert p.returncode == 2
    assert "load.yaml:5: models[1].rate must be a number, got 'many'" in p.stderr.decode()
