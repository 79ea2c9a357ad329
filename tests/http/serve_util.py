"""Helpers for the black-box tests of `roma serve` (tests/http/test_serve.py).

A `Serve` is one `roma serve -c <tmp>/roma.yaml` process on a free port, with
its store in the temporary directory.  Everything that waits is bounded.

Environment (shared with roma_http.py):
  ROMA_BIN      path of the roma binary (default: <project>/build/roma)
  ROMA_READY_S  start-up timeout in seconds (default: 60)
"""

import json
import math
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from roma_http import PROJECT_ROOT, READY_TIMEOUT_S, LocalHttp, free_port, require_binary

MODELS_DIR = PROJECT_ROOT / "models"
CGROUP_V1_CPU = Path("/sys/fs/cgroup/cpu")


# --------------------------------------------------------------------------
# small utilities
# --------------------------------------------------------------------------

def model_dir(name: str) -> Path:
    """A generated test model (models/<name>); skips when it is missing."""
    p = MODELS_DIR / name
    if not (p / "request.json").is_file():
        pytest.skip(f"generated model {p} not found (run `bash scripts/setup.sh`)")
    return p


def request_body(name: str) -> bytes:
    return (model_dir(name) / "request.json").read_bytes()


def wait_until(predicate, timeout, interval=0.05, what="condition"):
    """Calls predicate() until it returns a truthy value (returned) or timeout s pass
    (returns None).  Exceptions from predicate count as falsy."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            v = predicate()
            if v:
                return v
        except (requests.RequestException, OSError, ValueError, KeyError):
            pass
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def to_yaml(obj, indent=0) -> str:
    """A tiny block-style YAML writer (no PyYAML here).  Strings are written as JSON
    strings, which YAML reads as double-quoted scalars."""
    pad = "  " * indent
    if isinstance(obj, dict):
        lines = []
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{k}:")
                lines.append(to_yaml(v, indent + 1))
            else:
                lines.append(f"{pad}{k}: {_scalar(v)}")
        return "\n".join(lines)
    if isinstance(obj, list):
        lines = []
        for item in obj:
            if isinstance(item, dict) and item:
                body = to_yaml(item, indent + 1).split("\n")
                lines.append(f"{pad}- {body[0].lstrip()}")
                lines.extend(body[1:])
            else:
                lines.append(f"{pad}- {_scalar(item)}")
        return "\n".join(lines)
    return pad + _scalar(obj)


def _scalar(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, dict)) and not v:
        return "[]" if isinstance(v, list) else "{}"
    if isinstance(v, list):
        return "[" + ", ".join(_scalar(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as YAML")


def model_entry(name, base="mlp", sla=1.0, alpha=0.5, cmin=0.2, cmax=2, initial=None):
    return {"name": name, "base_path": str(model_dir(base)), "sla": sla, "alpha": alpha,
            "cores": {"min": cmin, "max": cmax, "initial": cmin if initial is None else initial}}


def worker_secret(pid: int) -> str:
    """The secret roma serve handed the worker pid (ROMA_WORKER_SECRET in the environment it
    was started with; /proc keeps that even after the worker unset it).  Readable by the same
    user only, as the design intends: tests use it to talk to a worker directly."""
    env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    for item in env:
        if item.startswith(b"ROMA_WORKER_SECRET="):
            return item.split(b"=", 1)[1].decode()
    raise AssertionError(f"worker {pid} was started without ROMA_WORKER_SECRET")


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cgroup_cores(path):
    """cores of a cgroup v1 or v2 directory (quota / period); None when unlimited."""
    p = Path(path)
    if (p / "cpu.cfs_quota_us").exists():
        quota = int((p / "cpu.cfs_quota_us").read_text().strip())
        period = int((p / "cpu.cfs_period_us").read_text().strip())
        return None if quota < 0 else quota / period
    text = (p / "cpu.max").read_text().split()
    return None if text[0] == "max" else int(text[0]) / int(text[1])


def cgroup_pids(path):
    return {int(x) for x in (Path(path) / "cgroup.procs").read_text().split()}


# --------------------------------------------------------------------------
# Prometheus text format
# --------------------------------------------------------------------------

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Metrics:
    def __init__(self, text: str):
        self.text = text
        self.types = {}
        self.helps = {}
        self.samples = []  # (name, labels dict, value)
        for line in text.splitlines():
            if not line.strip():
                continue
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(None, 3)
                self.types[name] = kind.strip()
                continue
            if line.startswith("# HELP "):
                parts = line.split(None, 3)
                self.helps[parts[2]] = parts[3] if len(parts) > 3 else ""
                continue
            if line.startswith("#"):
                continue
            m = _SAMPLE.match(line)
            assert m, f"not a Prometheus sample line: {line!r}"
            labels = dict(_LABEL.findall(m.group(2) or ""))
            self.samples.append((m.group(1), labels, float(m.group(3))))

    def find(self, name, **labels):
        return [(lb, v) for n, lb, v in self.samples
                if n == name and all(lb.get(k) == str(x) for k, x in labels.items())]

    def value(self, name, default=0.0, **labels):
        """Sum of the samples of name matching labels (default when there is none)."""
        hits = self.find(name, **labels)
        return sum(v for _, v in hits) if hits else default

    def one(self, name, **labels):
        hits = self.find(name, **labels)
        assert len(hits) == 1, f"expected one sample {name}{labels}, found {hits}\n{self.text}"
        return hits[0][1]


# --------------------------------------------------------------------------
# the roma serve process
# --------------------------------------------------------------------------

class Serve(LocalHttp):
    """One `roma serve` process.  models: list of model_entry() dicts."""

    def __init__(self, workdir: Path, models, period="0.5s", controller="roma", cpus=2,
                 queue_limit=1000, name="serve", ops=None, limits=None, nofile=None):
        self.ops = ops  # the config's ops section (None: none, the defaults)
        self.limits = limits  # the config's limits section (None: the defaults)
        self.nofile = nofile  # RLIMIT_NOFILE (soft and hard) for roma serve, or None
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.models_cfg = models
        self.period, self.controller, self.cpus = period, controller, cpus
        self.queue_limit = queue_limit
        self.name = name
        self.proc = None
        self.port = None
        self.session = requests.Session()
        self._out = None
        self.env = None  # roma serve's environment (None: this process's)

    # -- config and lifecycle --
    def config(self, port):
        return {
            "listen": f"127.0.0.1:{port}",
            "node": {"cpus": self.cpus, "gpus": []},
            # period None: no control.period, roma serve's default
            "control": {"controller": self.controller,
                        **({"period": self.period} if self.period is not None else {})},
            "dispatch": {"gpu_policy": "roma", "queue_limit": self.queue_limit},
            "store": {"path": str(self.workdir / f"{self.name}.db"), "max_rows": 100000},
            "models": self.models_cfg,
            **({"ops": self.ops} if self.ops is not None else {}),
            **({"limits": self.limits} if self.limits is not None else {}),
        }

    @property
    def token_path(self) -> Path:
        """ops.token_file, or the file roma serve generates next to its store."""
        if self.ops and "token_file" in self.ops:
            return Path(self.ops["token_file"])
        return self.workdir / "roma.token"

    def token(self):
        """The operations token (None until roma serve has made or read its file)."""
        try:
            return self.token_path.read_text().strip() or None
        except FileNotFoundError:
            return None

    def auth(self, token=True):
        """Headers for the operations API: token=True sends the server's token, a string
        sends that, None sends none."""
        if token is True:
            token = self.token()
        return {"Authorization": f"Bearer {token}"} if token else {}

    def launch(self, port=None):
        """Writes the config for port (default: a free one) and starts roma serve
        without waiting for it."""
        self.port = port or free_port()
        self.config_path = self.workdir / f"{self.name}-{self.port}.yaml"
        self.config_path.write_text(to_yaml(self.config(self.port)) + "\n")
        self.log_path = self.workdir / f"{self.name}-{self.port}.log"
        self._out = open(self.log_path, "w+b")
        self.cmd = [str(require_binary()), "serve", "-c", str(self.config_path)]
        nofile = self.nofile

        def limit_fds():
            if nofile:
                import resource
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen(self.cmd, stdout=self._out, stderr=subprocess.STDOUT,
                                     cwd=str(PROJECT_ROOT), start_new_session=True,
                                     env=self.env, preexec_fn=limit_fds if nofile else None)
        return self

    def start(self, timeout=READY_TIMEOUT_S):
        """launch() and wait until every worker is ready; fails the test otherwise."""
        for attempt in range(3):
            self.launch()
            state = self.wait_ready(timeout)
            if state == "ready":
                return self
            if state == "exited" and self.proc.returncode == 1 and attempt < 2 \
                    and "cannot listen" in self.output():
                continue  # the port was taken between free_port() and bind
            msg = (f"roma serve {'exited with code %s' % self.proc.returncode if state == 'exited' else 'not ready (every worker ready) after %.0f s' % timeout}\n"
                   f"command: {' '.join(self.cmd)}\nconfig:\n{self.config_path.read_text()}"
                   f"--- workers ---\n{self.last_workers}\n--- output ---\n{self.output()[-6000:]}")
            self.kill()
            pytest.fail(msg, pytrace=False)
        return self

    last_workers = None  # the last /roma/v1/workers text seen by wait_ready

    def wait_ready(self, timeout):
        """'ready' once /roma/v1/workers shows every worker ready, 'exited' when the
        process ends first, 'timeout' after timeout s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return "exited"
            try:
                r = requests.get(self.url("/roma/v1/workers"), headers=self.auth(), timeout=2)
                if r.status_code == 200:
                    self.last_workers = r.text
                    ws = r.json()["workers"]
                    if ws and all(w["state"] == "ready" for w in ws):
                        return "ready"
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.1)
        return "timeout"

    def terminate(self):
        """Sends SIGTERM to roma serve (only it: the workers are its business)."""
        self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout=20):
        """SIGTERM, wait; returns the exit code (None when it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        self.session.close()
        return self.proc.returncode

    def kill(self):
        """Last resort: SIGKILL the process group and remove leftover cgroups."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
        self.session.close()
        self.remove_leftover_cgroups()

    def remove_leftover_cgroups(self):
        """Best effort, for failed runs: rmdir <cpu root>/roma-<port>/* and itself."""
        if self.port is None:
            return
        parent = CGROUP_V1_CPU / f"roma-{self.port}"
        if not parent.is_dir():
            return
        for child in parent.iterdir():
            if child.is_dir():
                try:
                    for pid in cgroup_pids(child):  # children of a killed serve die by PDEATHSIG
                        wait_until(lambda: not pid_alive(pid), 5)
                    child.rmdir()
                except OSError:
                    pass
        try:
            parent.rmdir()
        except OSError:
            pass

    def exit_within(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        if self._out is None:
            return ""
        self._out.flush()
        return Path(self.log_path).read_bytes().decode("utf-8", "replace")

    # -- HTTP (base, url, get: LocalHttp) --
    def post(self, path, raw, **kw):
        kw.setdefault("timeout", 30)
        if isinstance(raw, (dict, list)):
            raw = json.dumps(raw)
        if isinstance(raw, str):
            raw = raw.encode()
        return self.session.post(self.url(path), data=raw,
                                 headers={"Content-Type": "application/json"}, **kw)

    def patch(self, path, raw, token=True, **kw):
        """PATCH with the operations token (token: see auth())."""
        kw.setdefault("timeout", 30)
        if not isinstance(raw, (str, bytes)):
            raw = json.dumps(raw)
        return self.session.patch(self.url(path), data=raw,
                                  headers={"Content-Type": "application/json", **self.auth(token)},
                                  **kw)

    def ops_get(self, path, token=True, **kw):
        """GET of an operations endpoint with the token (token: see auth())."""
        return self.get(path, headers=self.auth(token), **kw)

    def predict(self, model, raw, **kw):
        return self.post(f"/v1/models/{model}:predict", raw, **kw)

    # -- operations API --
    def workers(self):
        r = self.ops_get("/roma/v1/workers", timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def worker(self, model):
        for w in self.workers()["workers"]:
            if w["device"] == "cpu" and model in w["models"]:
                return w
        raise AssertionError(f"no CPU worker for {model} in /roma/v1/workers")

    def held(self, model):
        """The requests roma serve holds for model now: queued, or sent to a worker and not
        answered yet (GET /roma/v1/models, read live; the controller's backlog is the
        last tick's)."""
        m = self.models()[model]
        return m["queue_length"] + m["in_flight"]

    def models(self):
        r = self.ops_get("/roma/v1/models", timeout=10)
        assert r.status_code == 200, r.text
        return {m["name"]: m for m in r.json()["models"]}

    def metrics(self) -> Metrics:
        r = self.ops_get("/metrics", timeout=10)
        assert r.status_code == 200, r.text
        return Metrics(r.text)


# --------------------------------------------------------------------------
# load
# --------------------------------------------------------------------------

class Result:
    __slots__ = ("start", "end", "status", "error", "headers", "body")

    def __init__(self, start):
        self.start, self.end, self.status, self.error = start, None, None, None
        self.headers, self.body = {}, b""

    def __repr__(self):
        return f"<{self.status or self.error} after {self.end - self.start:.3f}s>"


def post_once(url, body, timeout=30, session=None, headers=None):
    """One POST (headers: default a JSON Content-Type); its Result."""
    res = Result(time.monotonic())
    try:
        r = (session or requests).post(url, data=body, timeout=timeout,
                                       headers=headers or {"Content-Type": "application/json"})
        res.status, res.headers, res.body = r.status_code, dict(r.headers), r.content
    except requests.RequestException as e:
        res.error = f"{type(e).__name__}: {e}"
    res.end = time.monotonic()
    return res


class Load:
    """threads clients, each POSTing body to url back to back until stop()."""

    def __init__(self, url, body, threads, timeout=30, headers=None):
        self.url, self.body, self.timeout, self.headers = url, body, timeout, headers
        self.results = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self):
        with requests.Session() as s:
            while not self._stop.is_set():
                res = post_once(self.url, self.body, self.timeout, s, self.headers)
                with self._lock:
                    self.results.append(res)
                if res.error:  # a broken client stops; the test reports it
                    return

    def start(self):
        for t in self._threads:
            t.start()
        return self

    def stop(self, join_timeout=None):
        self._stop.set()
        join_timeout = self.timeout + 5 if join_timeout is None else join_timeout
        deadline = time.monotonic() + join_timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        alive = sum(t.is_alive() for t in self._threads)
        assert not alive, f"{alive} load threads still waiting for an answer after {join_timeout} s"
        return self.results

    def count(self):
        with self._lock:
            return len(self.results)


class Burst:
    """n concurrent POSTs released together (one thread each); join() returns their
    Results in order."""

    def __init__(self, url, body, n, timeout=30):
        self.url, self.body, self.n, self.timeout = url, body, n, timeout
        self.results = [None] * n
        self._barrier = threading.Barrier(n)
        self._threads = [threading.Thread(target=self._one, args=(i,), daemon=True)
                         for i in range(n)]

    def _one(self, i):
        try:
            self._barrier.wait(10)
        except threading.BrokenBarrierError:
            pass
        self.results[i] = post_once(self.url, self.body, self.timeout)

    def start(self):
        for t in self._threads:
            t.start()
        return self

    def join(self):
        deadline = time.monotonic() + self.timeout + 15
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        missing = sum(r is None for r in self.results)
        assert not missing, f"{missing} of {self.n} requests never finished"
        return self.results


def burst(url, body, n, timeout=30):
    return Burst(url, body, n, timeout).start().join()


def connect_refused(port) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        try:
            s.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            return True
        except OSError:
            return False
        return False


def close(a, b, tol=1e-6):
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)
