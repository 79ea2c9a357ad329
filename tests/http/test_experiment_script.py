"""Tests of scripts/experiment.py's pure parts (no roma serve run):

- the standard workload it generates at 150 s is experiments/standard-workload.yaml's;
- --workload FILE: the held-out file's times scaled to --run-seconds, rates,
  SLAs and seed kept, --seed replacing the seed, and bad files refused with a
  message naming what is wrong;
- repeats: goals judged on medians against the strongest baseline, with the
  report saying whether ranges overlap, figures as median (range).
"""

import importlib.util

import pytest
import yaml

from roma_http import PROJECT_ROOT

pytestmark = pytest.mark.once  # documents and scripts; the C they run is covered under ASan elsewhere

spec = importlib.util.spec_from_file_location("experiment", PROJECT_ROOT / "scripts" / "experiment.py")
ex = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ex)


def secs(text):
    return ex.seconds(text, "test")


def models_of(text):
    """{name: (sla s, profile with durations in seconds)} of a workload's text."""
    def norm(v):
        if isinstance(v, list):
            return [norm(x) for x in v]
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        return round(secs(v), 6) if isinstance(v, str) and ex.DURATION.match(v) else v
    w = yaml.safe_load(text)
    return w, {m["name"]: (secs(m["sla"]), {k: norm(m[k]) for k in ex.LOAD_KEYS if k in m})
               for m in w["models"]}


def test_standard_workload_is_the_committed_file():
    generated, gm = models_of(ex.workload(1234, 150, ex.standard_load(150, None)))
    committed, cm = models_of((PROJECT_ROOT / "experiments" / "standard-workload.yaml").read_text())
    assert gm == cm
    assert generated["seed"] == committed["seed"] == 42
    assert generated["target"] == "http://127.0.0.1:1234"


def test_heldout_scaled_to_the_run():
    path = PROJECT_ROOT / "experiments" / "heldout-workload.yaml"
    full = ex.file_load(str(path), 150, None)
    half = ex.file_load(str(path), 75, None)
    assert full["seed"] == half["seed"] == 7 and full["source"] == "experiments/heldout-workload.yaml"
    assert ex.file_load(str(path), 75, 3)["seed"] == 3
    w, m = models_of(ex.workload(1, 75, half))
    assert w["duration"] == "75s" and w["seed"] == 7
    assert m["resnet"] == (0.25, {"sine": {"mean": 20, "amplitude": 15, "period": 75, "duration": 75}})
    steps = m["mobilenet"][1]["step"]
    assert [r for r, _ in steps] == [8, 30, 8, 30, 8, 30, 8]
    assert [d for _, d in steps] == [10, 5, 12.5, 5, 12.5, 5, 25]
    assert sum(d for _, d in steps) == 75


@pytest.mark.parametrize("text,fragment", [
    ("duration: 10s\nmodels:\n  - {name: vgg, sla: 1s, rate: 3}\n", "'vgg' is not one of the test models"),
    ("duration: 10s\nmodels:\n  - {name: resnet, rate: 3}\n", "needs an sla"),
    ("duration: 10s\nmodels:\n  - {name: resnet, sla: 1s}\n", "exactly one of"),
    ("duration: ten\nmodels:\n  - {name: resnet, sla: 1s, rate: 3}\n", "not a duration"),
    ("models: 3\n", "needs a duration and a list of models"),
])
def test_bad_workload_files_named(tmp_path, text, fragment):
    path = tmp_path / "w.yaml"
    path.write_text(text)
    with pytest.raises(SystemExit) as e:
        ex.file_load(str(path), 60, None)
    assert fragment in str(e.value), e.value


def run(strict, core_seconds):
    sent = 1000
    return {"core_seconds": core_seconds, "errors": 0, "sent": sent, "ok": sent,
            "models": {"resnet": {"sla": 0.25, "sent": sent, "ok": sent, "errors": 0,
                                  "violation_rate": strict, "window_violation_rate": strict,
                                  "p50": 0.1, "p95": 0.2, "p99": 0.3, "core_seconds": core_seconds}}}


def test_goals_on_medians_with_ranges():
    repeats = {
        "roma-norm": [run(0.05, 190), run(0.07, 200), run(0.30, 185)],   # median 7%, 190
        "rules": [run(0.20, 180), run(0.40, 180), run(0.28, 182)],       # median 28%
        "static": [run(0.60, 180), run(0.65, 180), run(0.62, 180)],
        "vpa": [run(0.50, 170), run(0.55, 175), run(0.45, 172)],
        "static-max": [run(0.02, 300), run(0.03, 300), run(0.01, 300)],
    }
    assert ex.strongest_baseline(repeats) == "rules"
    (t1, m1), (t2, m2), (t3, m3) = ex.goals(repeats)  # roma-norm's three goals, in order
    # 7% <= 25% of rules' 28% = 7%: met on the medians, while the ranges overlap
    assert m1 and t1.startswith("roma-norm violation rate 7.00% <= 25% of the strongest baseline's (rules;")
    assert "ranges overlap" in t1, t1
    # 190 core-seconds <= 76% of 300 = 228: met, ranges apart
    assert m2 and "= 228.0" in t2 and "ranges apart" in t2, t2
    # 7% against static-max's 2% + 2 pp = 4%: missed
    assert not m3 and "= 4.00%" in t3, t3
    md = ex.markdown(repeats, {"run_seconds": 90, "workload": "standard", "seed": 42})
    assert "| **roma-norm** | **7.0% (5.0%–30.0%)** |" in md, md
    assert "3 repeat(s), interleaved" in md
    assert "- **missed**: roma-norm violation rate 7.00% <= static-max's 2.00% + 2 pp" in md


def test_one_repeat_has_no_ranges():
    repeats = {"roma": [run(0.1, 200)], "rules": [run(0.5, 180)], "static": [run(0.6, 180)]}
    texts = [t for t, _ in ex.goals(repeats)]
    assert texts and not any("ranges" in t for t in texts)
    assert "| **roma** | **10.0%** |" in ex.markdown(repeats, {"run_seconds": 150})


def test_a_run_may_name_its_control_period():
    """RUN@P sets that run's control period (else --period's), and the goals
    judge it as a run of its controller, beside the same controller at 1 s."""
    assert ex.split_run("relative-pi-ff@0.5s", "1s") == ("relative-pi-ff", "0.5s")
    assert ex.split_run("rules", "2s") == ("rules", "2s")
    cfg = yaml.safe_load(ex.serve_config("static-max@250ms", 1234, "/tmp/x", {"resnet": 0.25}, "1s"))
    assert cfg["control"] == {"period": "250ms", "controller": "static"}
    assert cfg["models"][0]["cores"]["initial"] == ex.CORES["max"]
    assert yaml.safe_load(ex.serve_config("rules", 1, "/tmp/x", {"resnet": 0.25}, "2s"))["control"] == \
        {"period": "2s", "controller": "rules"}
    repeats = {"relative-pi-ff": [run(0.10, 150)], "relative-pi-ff@0.5s": [run(0.04, 150)],
               "rules": [run(0.4, 140)], "static-max": [run(0.02, 300)]}
    texts = [t for t, _ in ex.goals(repeats)]
    assert sum(t.startswith("relative-pi-ff@0.5s ") for t in texts) == 3, texts
    assert sum(t.startswith("relative-pi-ff ") for t in texts) == 3, texts
