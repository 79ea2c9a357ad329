"""Black-box tests of `roma bench`, the open-loop load generator.

- Against a real `roma worker` serving TF Serving's half_plus_two (skipped
  without ../shared): every request answered, the summary's fields, the CSV.
- Against a deliberately slow Python server (200 ms per answer, threaded):
  the schedule is not slowed by the server (rate within 2%, every latency
  >= 200 ms), core_seconds read from a fake roma_core_seconds_total, a
  multi-model YAML workload, the progress line only on a terminal, and the
  command-line errors.

Load stays modest (<= 200 req/s, a few seconds): the machine is shared.
"""

import csv
import json
import os
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from roma_http import require_binary

SUMMARY_KEYS = {"sent", "ok", "errors", "mean", "p50", "p95", "p99", "violation_rate",
                "window_violation_rate"}


def bench(*args, timeout=60, check=True, stderr=subprocess.PIPE):
    """Runs `roma bench ARGS`; returns the CompletedProcess."""
    cmd = [str(require_binary()), "bench", *map(str, args)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=stderr, timeout=timeout,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if check:
        assert p.returncode == 0, f"{' '.join(cmd)} exited {p.returncode}:\n{p.stderr.decode()}"
    return p


def bench_summary(tmp_path, *args, **kw):
    out = tmp_path / "summary.json"
    bench(*args, "--out", out, **kw)
    return json.loads(out.read_text())


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def payload(tmp_path):
    p = tmp_path / "hp2.json"
    p.write_text('{"instances": [1.0, 2.0, 5.0]}')
    return p


# --------------------------------------------------------------------------
# (a) a real worker
# --------------------------------------------------------------------------

@pytest.mark.tfserving_data
def test_against_worker(half_plus_two, payload, tmp_path):
    rows = tmp_path / "requests.csv"
    s = bench_summary(tmp_path, "--target", half_plus_two.base, "--model", "default",
                      "--payload", payload, "--rate", 200, "--duration", 3, "--sla", 0.1,
                      "--csv", rows)
    m = s["models"]["default"]
    assert SUMMARY_KEYS <= m.keys()
    assert m["sent"] == 600
    assert m["ok"] == m["sent"] and m["errors"] == 0, m["statuses"]
    assert 0 < m["p50"] <= m["p95"] <= m["p99"]
    assert m["mean"] > 0
    assert 0 <= m["violation_rate"] <= 1 and 0 <= m["window_violation_rate"] <= 1
    assert s["duration"] == 3 and s["rate_asked"] == 200
    assert abs(s["rate_achieved"] - 200) <= 0.02 * 200
    assert "core_seconds" not in m  # a worker is not roma serve
    lines = read_csv(rows)
    assert len(lines) == 600
    assert {r["status"] for r in lines} == {"200"} and {r["model"] for r in lines} == {"default"}
    assert float(lines[1]["scheduled"]) == pytest.approx(0.005)


# --------------------------------------------------------------------------
# (b) a slow server
# --------------------------------------------------------------------------

class SlowHandler(BaseHTTPRequestHandler):
    """Answers every :predict after 200 ms; /metrics like roma serve, with a
    core-seconds counter growing 2 per second (2 cores allocated)."""
    protocol_version = "HTTP/1.1"  # keep-alive, as TF Serving
    delay = 0.2
    started = time.monotonic()

    def _answer(self, code, body, ctype="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(self.delay)
        if self.path.endswith(":predict"):
            self._answer(200, b'{"predictions": [2.5]}')
        else:
            self._answer(404, b'{"error": "not found"}')

    def do_GET(self):
        if self.path != "/metrics":
            return self._answer(404, b'{"error": "not found"}')
        cs = 2 * (time.monotonic() - self.started)
        text = ("# TYPE roma_core_seconds_total counter\n"
                f'roma_core_seconds_total{{model="slow"}} {cs:.6f}\n')
        self._answer(200, text.encode(), "text/plain; version=0.0.4")

    def log_message(self, *args):
        pass


class SlowServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


@pytest.fixture
def slow_server():
    srv = SlowServer(("127.0.0.1", 0), SlowHandler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_slow_server_does_not_slow_the_schedule(slow_server, payload, tmp_path):
    rows = tmp_path / "requests.csv"
    s = bench_summary(tmp_path, "--target", slow_server, "--model", "slow", "--payload", payload,
                      "--rate", 100, "--duration", 3, "--sla", 0.1, "--csv", rows)
    m = s["models"]["slow"]
    assert abs(s["rate_achieved"] - 100) <= 0.02 * 100, s
    assert m["sent"] == 300 and m["ok"] == 300, m["statuses"]
    assert m["p50"] >= 0.2 and m["mean"] >= 0.2
    assert m["violation_rate"] == 1 and m["window_violation_rate"] == 1
    assert s["max_in_flight"] >= 15  # ~ 100/s * 0.2 s: many at once, not one after another
    lines = read_csv(rows)
    assert len(lines) == 300
    assert min(float(r["latency"]) for r in lines) >= 0.2
    # roma serve-like /metrics: core_seconds grows 2 per second of the run
    assert m["core_seconds"] == pytest.approx(2 * s["elapsed"], rel=0.2, abs=0.5)


def test_workload_file_two_models(slow_server, payload, tmp_path):
    (tmp_path / "trace.csv").write_text("time_seconds,model\n0.1,traced\n0.2,traced\n1.5,traced\n")
    workload = tmp_path / "w.yaml"
    workload.write_text(f"""
target: {slow_server}
duration: 2s
seed: 5
window: 1s
trace: trace.csv
models:
  - name: slow
    payload: {payload.name}
    sla: 300ms
    arrivals: poisson
    rate: 30
  - name: stepped
    payload: {payload.name}
    sla: 100ms
    step: [[10, 1s], {{rate: 20, duration: 1s}}]
  - name: traced
    payload: {payload.name}
    sla: 1s
""")
    s = bench_summary(tmp_path, "-w", workload)
    ms = s["models"]
    assert set(ms) == {"slow", "stepped", "traced"}
    assert ms["stepped"]["sent"] == 30 and ms["traced"]["sent"] == 3
    assert 30 <= ms["slow"]["sent"] <= 95  # Poisson, mean 60
    for name, m in ms.items():
        assert m["ok"] == m["sent"], (name, m["statuses"])
        assert m["p50"] >= 0.2
    assert ms["slow"]["arrivals"] == "poisson" and ms["stepped"]["load"] == "step"
    assert ms["traced"]["load"] == "trace"
    assert ms["stepped"]["violation_rate"] == 1 and ms["traced"]["violation_rate"] == 0
    assert s["duration"] == 2


def test_progress_line_only_on_a_terminal(slow_server, payload, tmp_path):
    args = ["--target", slow_server, "--model", "slow", "--payload", payload, "--rate", 20,
            "--duration", 1.5, "--sla", 1, "--out", tmp_path / "s.json"]
    quiet = bench(*args)
    assert b"in flight" not in quiet.stderr
    master, slave = os.openpty()
    try:
        bench(*args, stderr=slave)
        os.close(slave)
        slave = None
        seen = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the terminal's other end is closed
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    assert b"in flight" in seen and b"errors 0" in seen, seen


def test_command_line_errors(slow_server, payload, tmp_path):
    out = tmp_path / "s.json"
    cases = [
        (["--target", slow_server, "--model", "m", "--payload", payload, "--rate", "fast",
          "--duration", 1, "--sla", 1, "--out", out], 2, "--rate must be a number, got 'fast'"),
        (["--target", slow_server, "--model", "m", "--payload", payload, "--rate", 1,
          "--duration", 1, "--sla", 1], 2, "--out FILE is required"),
        (["--frobnicate", "--out", out], 2, "unknown flag '--frobnicate'"),
        (["--target", slow_server, "--model", "m", "--payload", tmp_path / "none.json",
          "--rate", 1, "--duration", 1, "--sla", 1, "--out", out], 2,
         "cannot read the payload of model 'm'"),
        (["--target", "http://127.0.0.1:1", "--model", "m", "--payload", payload, "--rate", 1,
          "--duration", 1, "--sla", 1, "--out", out], 1, "does not answer"),
    ]
    for args, code, message in cases:
        p = bench(*args, check=False)
        assert p.returncode == code, (args, p.stderr)
        assert message in p.stderr.decode(), (args, p.stderr)
    assert not out.exists()
    help_text = bench("--help").stdout.decode()
    for word in ("--arrivals", "poisson", "step:", "ramp:", "sine:", "trace", "window_violation_rate"):
        assert word in help_text
