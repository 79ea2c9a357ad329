"""Tests of scripts/calibrate.py's pure parts, with `roma sim` for real.

- run_times: the CPU a request cost in a run comes from the workers' CPU
  seconds that scripts/experiment.py records, and a run recorded without
  them gives None (calibrate.py then skips it rather than guess).
- scenario: the YAML it writes is one `roma sim` accepts; `runs` limits the
  runs; `times` replaces the profile's CPU time, and a dearer request makes
  the simulated run slower (the times are really used).
"""

import importlib.util
import json

from roma_http import PROJECT_ROOT
from test_sim import sim

spec = importlib.util.spec_from_file_location("calibrate", PROJECT_ROOT / "scripts" / "calibrate.py")
calibrate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(calibrate)

PROFILE = {name: {"time": 0.02, "cv": 0.1, "overhead": 0.001} for name in calibrate.ex.MODELS}


def model_summary(ok, cpu=None):
    m = {"ok": ok}
    if cpu is not None:
        m["worker_cpu_seconds"] = cpu
    return m


def test_run_times_from_the_workers_cpu():
    summary = {"models": {"resnet": model_summary(200, 5.0), "mobilenet": model_summary(100, 3.0)}}
    assert calibrate.run_times(summary) == {"resnet": 0.025, "mobilenet": 0.03}


def test_run_times_none_without_a_record():
    summary = {"models": {"resnet": model_summary(200, 5.0), "mobilenet": model_summary(100)}}
    assert calibrate.run_times(summary) is None
    summary = {"models": {"resnet": model_summary(0, 0.0), "mobilenet": model_summary(100, 3.0)}}
    assert calibrate.run_times(summary) is None


def write_workload(tmp_path):
    path = tmp_path / "workload.yaml"
    lines = ["target: http://127.0.0.1:1", "duration: 20s", "seed: 3", "models:"]
    for name, m in calibrate.ex.MODELS.items():
        body = tmp_path / f"{name}.json"
        body.write_text('{"instances": [1.0]}')
        lines += [f"  - name: {name}", f"    payload: {body}", f"    sla: {m['sla']}s",
                  "    arrivals: poisson", "    rate: 12"]
    path.write_text("\n".join(lines) + "\n")
    return path


def simulate(tmp_path, name, times):
    scen = tmp_path / f"{name}.yaml"
    scen.write_text(calibrate.scenario(PROFILE, write_workload(tmp_path), ["static"], times))
    out = tmp_path / f"{name}.json"
    sim("-c", scen, "--out", out)
    return json.loads(out.read_text())["runs"]


def test_scenario_runs_in_roma_sim_with_the_given_times(tmp_path):
    cheap = simulate(tmp_path, "cheap", {"resnet": 0.01, "mobilenet": 0.01})
    dear = simulate(tmp_path, "dear", {"resnet": 0.04, "mobilenet": 0.04})
    assert set(cheap) == {"static"} and set(dear) == {"static"}
    for name in calibrate.ex.MODELS:
        c, d = cheap["static"]["models"][name], dear["static"]["models"][name]
        assert c["sent"] == d["sent"] > 0, (c, d)
        # 0.6 core: 10 ms of CPU takes ~17 ms alone, 40 ms ~67 ms
        assert d["p50"] > 2 * c["p50"], f"{name}: p50 {c['p50']} at 10 ms, {d['p50']} at 40 ms"
