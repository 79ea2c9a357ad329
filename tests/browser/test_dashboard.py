"""The dashboard of `roma serve` in a real headless Chromium (issue 15).

roma serve runs the generated `mlp` model with reads behind the operations
token (ops.read: token).  The page, opened without the token, asks for it;
opened with it in the URL fragment, it takes it, removes it from the
address bar and shows data.  Under a load step every chart gets points and
keeps getting more; the SLA line is at the configured SLA, and a PATCH of
the SLA shows on the page within a few seconds; a worker killed under load
is shown restarted in the workers table while the charts go on.  The
browser's console must hold no errors (a CSP violation, a failed script).
A screenshot goes to results/dashboard.png and the bytes the page moved
(first load, then per update, from the Resource Timing API) to
results/dashboard_weight.json.
"""

import json
import os
import signal
import time

import pytest

from conftest import copy_artifact
from serve_util import Load, Serve, model_entry, request_body, wait_until

SLA = 0.5
NEW_SLA = 0.3

CHARTS_JS = """
return Object.values(Chart.instances).map(c => ({
  id: c.canvas.id,
  datasets: c.data.datasets.map(d => {
    const pts = d.data.filter(p => p.y !== null);
    return {label: d.label, n: pts.length, last: pts.length ? pts[pts.length - 1].y : null};
  }),
}));
"""

WEIGHT_JS = """
const nav = performance.getEntriesByType('navigation')[0];
return {page: {name: nav.name, transfer: nav.transferSize, body: nav.encodedBodySize},
        resources: performance.getEntriesByType('resource').map(r => ({
          name: r.name, transfer: r.transferSize, body: r.encodedBodySize, start: r.startTime}))};
"""


@pytest.fixture
def served(tmp_path):
    s = Serve(tmp_path, [model_entry("mlp", sla=SLA, cmax=2, initial=1)], period="1s",
              ops={"read": "token"}, name="dash")
    s.start()
    try:
        yield s
    finally:
        if s.alive():
            rc = s.stop()
            assert rc == 0, f"roma serve exit code {rc}\n{s.output()[-3000:]}"
        else:
            s.kill()


def charts(driver):
    return {c["id"]: c for c in driver.execute_script(CHARTS_JS)}


def points(chart):
    """Points of a chart that carry a value, all its datasets together."""
    return sum(d["n"] for d in chart["datasets"])


def dataset(chart, label):
    return next(d for d in chart["datasets"] if d["label"] == label)


def sla_line(driver):
    return dataset(charts(driver)["m-mlp-rt"], "SLA")["last"]


def console_errors(driver):
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"
            and "401" not in e["message"]]  # the token-less first visit's refusals


def test_dashboard_live(served, browser, tmp_path):
    base = served.base
    token = served.token()

    # Without the token the page asks for it and shows no data.
    browser.get(base + "/")
    assert wait_until(lambda: browser.find_element("id", "token-form").is_displayed(), 10), \
        "the page did not ask for the operations token"
    assert "token" in browser.find_element("id", "status").text
    cold = browser.execute_script(WEIGHT_JS)  # the page and its assets, uncached

    # With it in the fragment: taken, removed from the address bar, data shown.
    browser.get(f"{base}/?from=test#token={token}")
    assert wait_until(lambda: len(charts(browser)) == 5, 15), \
        f"expected the 5 charts of mlp, found {list(charts(browser))}\n{served.output()[-2000:]}"
    assert "token" not in browser.current_url, browser.current_url
    assert not browser.find_element("id", "token-form").is_displayed()
    first_load = browser.execute_script(WEIGHT_JS)

    load = Load(served.url("/v1/models/mlp:predict"), request_body("mlp"), threads=2).start()
    try:
        time.sleep(4)
        before = charts(browser)
        for cid, c in before.items():
            assert points(c) > 0, f"chart {cid} has no points under load: {c}"
        assert dataset(before["m-mlp-rate"], "cpu")["last"] is not None
        assert dataset(before["m-mlp-rt"], "p95")["n"] > 0, before["m-mlp-rt"]
        assert sla_line(browser) == pytest.approx(SLA)
        time.sleep(3)
        after = charts(browser)
        for cid in before:
            assert points(after[cid]) > points(before[cid]), \
                f"chart {cid} did not grow while load ran: {points(before[cid])} -> {points(after[cid])}"

        # A PATCH of the SLA shows on the page within a few seconds.
        r = served.patch("/roma/v1/models/mlp", {"sla": NEW_SLA})
        assert r.status_code == 200, r.text
        assert wait_until(lambda: sla_line(browser) == pytest.approx(NEW_SLA), 5, 0.2), \
            f"the SLA line is at {sla_line(browser)} 5 s after the PATCH to {NEW_SLA}"

        # A worker killed under load: the page shows it restarted and goes on.
        pid = served.worker("mlp")["pid"]
        os.kill(pid, signal.SIGKILL)
        restarted = lambda: browser.execute_script(
            "return [...document.querySelectorAll('#workers tbody td')].map(td => td.textContent)")
        assert wait_until(lambda: (lambda cells: "ready" in cells and "1" in cells[7:8])(
            restarted()), 30, 0.5), f"workers table after the kill: {restarted()}"
        grown = points(charts(browser)["m-mlp-rate"])
        assert wait_until(lambda: points(charts(browser)["m-mlp-rate"]) > grown, 5, 0.2)
    finally:
        load.stop()

    png = tmp_path / "dashboard.png"
    browser.save_screenshot(str(png))
    copy_artifact(png, "dashboard.png")
    assert png.stat().st_size > 10000

    weight = page_weight(cold, first_load, browser.execute_script(WEIGHT_JS))
    (tmp_path / "weight.json").write_text(json.dumps(weight, indent=1))
    copy_artifact(tmp_path / "weight.json", "dashboard_weight.json")
    print("dashboard weight:", json.dumps(weight))
    assert weight["updates"] > 0

    errors = console_errors(browser)
    assert not errors, f"the browser console has errors: {errors}"


def page_weight(cold, first, later):
    """Bytes transferred (headers included, as the browser counts them): the first
    load (the page and its assets from the cold visit, the first data reads of the
    visit with the token) and the mean per history update after it (alone, and with
    the controller and workers reads, every other update)."""
    assets = [r for r in cold["resources"] if "/roma/v1/" not in r["name"]]
    reads = [r for r in first["resources"] if "/roma/v1/" in r["name"]][:3]
    first_bytes = cold["page"]["transfer"] + sum(r["transfer"] for r in assets + reads)
    new = later["resources"][len(first["resources"]):]
    updates = [r for r in new if "/roma/v1/history" in r["name"]]
    tables = [r for r in new if "/roma/v1/history" not in r["name"]]
    n = max(len(updates), 1)
    return {
        "first_load_bytes": first_bytes,
        "first_load": {r["name"].split("/", 3)[-1]: r["transfer"]
                       for r in [cold["page"]] + assets + reads},
        "updates": len(updates),
        "history_bytes_per_update": sum(r["transfer"] for r in updates) / n,
        "all_bytes_per_update": (sum(r["transfer"] for r in updates) +
                                 sum(r["transfer"] for r in tables)) / n,
    }
