"""The Grafana dashboard in the repository (grafana/roma.json, issue 15) against
what `roma serve` really exports.

The file must be valid JSON with a title, unique panel ids and a Prometheus
query in every panel but the rows; every metric a query (or the model
variable) names must be a family of a live roma serve's /metrics (a
histogram's _bucket/_sum/_count count as their family), and every label a
query matches on must be one that family carries.
"""

import json
import re

import pytest

from roma_http import PROJECT_ROOT
from serve_util import Serve, model_entry, request_body

pytestmark = pytest.mark.once  # documents and scripts; the C they run is covered under ASan elsewhere

DASHBOARD = PROJECT_ROOT / "grafana" / "roma.json"
METRIC = re.compile(r"\b(roma_[a-z0-9_]+)\b(\{([^}]*)\})?")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)")
SUFFIXES = ("_bucket", "_sum", "_count")


def panels(items):
    for p in items:
        yield p
        yield from panels(p.get("panels", []))


def queries(dash):
    for p in panels(dash["panels"]):
        for t in p.get("targets", []):
            yield p["title"], t["expr"]
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            q = v["query"]
            yield f"variable {v['name']}", q["query"] if isinstance(q, dict) else q


def family(name, types):
    if name in types:
        return name
    for s in SUFFIXES:
        if name.endswith(s) and types.get(name[: -len(s)]) == "histogram":
            return name[: -len(s)]
    return None


@pytest.fixture(scope="module")
def metrics(tmp_path_factory):
    s = Serve(tmp_path_factory.mktemp("grafana"), [model_entry("mlp", sla=0.5)], name="grafana")
    s.start()
    try:
        r = s.predict("mlp", request_body("mlp"))
        assert r.status_code == 200, r.text
        yield s.metrics()
    finally:
        assert s.stop() == 0


def test_dashboard_is_valid_json_with_a_query_per_panel():
    dash = json.loads(DASHBOARD.read_text())  # raises on invalid JSON
    assert dash["title"] and dash["uid"]
    ids = [p["id"] for p in panels(dash["panels"])]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {ids}"
    for p in panels(dash["panels"]):
        if p["type"] == "row":
            continue
        assert p.get("targets"), f"panel {p['title']!r} has no query"
        assert p["datasource"]["type"] == "prometheus", p["title"]
        for t in p["targets"]:
            assert METRIC.search(t["expr"]), f"panel {p['title']!r}: no roma metric in {t['expr']}"


def test_every_query_names_an_exported_metric(metrics):
    dash = json.loads(DASHBOARD.read_text())
    labels = {}  # family -> label names seen in its samples
    for name, lb, _ in metrics.samples:
        labels.setdefault(family(name, metrics.types) or name, set()).update(lb)
    checked = set()
    for where, expr in queries(dash):
        found = METRIC.findall(expr)
        assert found, f"{where}: no roma metric in {expr}"
        for name, _, matchers in found:
            fam = family(name, metrics.types)
            assert fam, (f"{where}: {name} is not exported by roma serve "
                         f"(families: {sorted(metrics.types)})")
            for label, _ in MATCHER.findall(matchers):
                if label == "le":
                    continue
                # A family with no samples yet (no GPU here) is checked by name only.
                if fam in labels:
                    assert label in labels[fam], f"{where}: {fam} has no label {label!r}"
            checked.add(fam)
    # Every panel of the page has its metric: response times, SLA, cores, CPU used,
    # requests, queue, violations, GPU busy share.
    assert {"roma_request_duration_seconds", "roma_sla_seconds", "roma_cores_allocated",
            "roma_worker_cpu_seconds_total", "roma_requests_total", "roma_queue_length",
            "roma_sla_violations_total", "roma_gpu_busy_seconds_total"} <= checked, checked
