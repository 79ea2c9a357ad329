"""Helpers for the black-box HTTP tests of `roma worker` (imported by conftest.py and the tests).

Environment:
  ROMA_BIN      path of the roma binary (default: <project>/build/roma)
  ROMA_READY_S  start-up timeout in seconds (default: 60)
"""

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TFS_DATA = PROJECT_ROOT.parent / "shared" / "testdata" / "tfserving"
MODELS_DIR = PROJECT_ROOT / "models"
READY_TIMEOUT_S = float(os.environ.get("ROMA_READY_S", "60"))


# --------------------------------------------------------------------------
# paths and skips
# --------------------------------------------------------------------------

def roma_bin() -> Path:
    return Path(os.environ.get("ROMA_BIN", PROJECT_ROOT / "build" / "roma"))


def require_binary() -> Path:
    b = roma_bin()
    if not (b.is_file() and os.access(b, os.X_OK)):
        pytest.fail(f"roma binary not found or not executable: {b} "
                    "(build it with `make build/roma` or set ROMA_BIN)", pytrace=False)
    return b


def tfs_model(folder: str) -> Path:
    """Path of one of TF Serving's test SavedModels; skips when the shared data is missing."""
    if not TFS_DATA.is_dir():
        pytest.skip(f"TF Serving test data not found at {TFS_DATA} "
                    "(expected ../shared/testdata/tfserving next to the project)")
    p = TFS_DATA / folder
    if not p.is_dir():
        pytest.skip(f"TF Serving test model missing: {p}")
    return p


def project_models_dir() -> Path:
    if not MODELS_DIR.is_dir():
        pytest.skip(f"generated models not found at {MODELS_DIR} "
                    "(run scripts/setup.sh or scripts/gen_models.py --out models)")
    return MODELS_DIR


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------
# model config files (TF Serving text format)
# --------------------------------------------------------------------------

def model_config_text(models) -> str:
    """models: list of dicts with name, base_path and optional
    policy ('all' | ('latest', n) | ('specific', [v, ...])) and labels {label: version}."""
    out = ["model_config_list {"]
    for m in models:
        out.append("  config {")
        out.append(f'    name: "{m["name"]}"')
        out.append(f'    base_path: "{m["base_path"]}"')
        out.append('    model_platform: "tensorflow"')
        pol = m.get("policy")
        if pol == "all":
            out.append("    model_version_policy { all {} }")
        elif isinstance(pol, tuple) and pol[0] == "latest":
            out.append(f"    model_version_policy {{ latest {{ num_versions: {pol[1]} }} }}")
        elif isinstance(pol, tuple) and pol[0] == "specific":
            vs = " ".join(f"versions: {v}" for v in pol[1])
            out.append(f"    model_version_policy {{ specific {{ {vs} }} }}")
        for label, version in (m.get("labels") or {}).items():
            out.append(f'    version_labels {{ key: "{label}" value: {version} }}')
        out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"


def write_model_config(directory: Path, models) -> Path:
    """Write a new, uniquely named config file into directory and return its path."""
    fd, name = tempfile.mkstemp(prefix="models-", suffix=".config", dir=str(directory))
    with os.fdopen(fd, "w") as f:
        f.write(model_config_text(models))
    return Path(name)


# --------------------------------------------------------------------------
# worker process
# --------------------------------------------------------------------------

class LocalHttp:
    """HTTP on 127.0.0.1:self.port through self.session (a requests.Session)."""

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def url(self, path):
        return self.base + path

    def get(self, path, **kw):
        kw.setdefault("timeout", 30)
        return self.session.get(self.url(path), **kw)


class Worker(LocalHttp):
    """One `roma worker` subprocess."""

    def __init__(self, args, ready_model, workdir: Path):
        self.args = list(args)
        self.ready_model = ready_model
        self.workdir = Path(workdir)
        self.proc = None
        self.port = None
        self.session = requests.Session()

    # -- lifecycle --
    def start(self, timeout=READY_TIMEOUT_S):
        binary = require_binary()
        for attempt in range(3):
            self.port = free_port()
            self._out = open(self.workdir / f"worker-{self.port}.stdout", "w+b")
            self._err = open(self.workdir / f"worker-{self.port}.stderr", "w+b")
            cmd = [str(binary), "worker", f"--rest_api_port={self.port}"] + self.args
            self.cmd = cmd
            self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=self._err,
                                         cwd=str(PROJECT_ROOT), start_new_session=True)
            state = self._wait_ready(timeout)
            if state == "ready":
                return self
            if state == "exited" and attempt < 2 and "in use" in self.output().lower():
                continue  # port raced with another process; try another one
            msg = (f"roma worker {'exited with code ' + str(self.proc.returncode) if state == 'exited' else 'not ready after %.0f s' % timeout}\n"
                   f"command: {' '.join(cmd)}\n--- output ---\n{self.output()[-6000:]}")
            self.stop()
            pytest.fail(msg, pytrace=False)
        return self

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        url = self.url(f"/v1/models/{self.ready_model}")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return "exited"
            try:
                if requests.get(url, timeout=2).status_code == 200:
                    return "ready"
            except requests.RequestException:
                pass
            time.sleep(0.1)
        return "timeout"

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        self.session.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        text = ""
        for f in (getattr(self, "_err", None), getattr(self, "_out", None)):
            if f is not None:
                f.flush()
                f.seek(0)
                text += f.read().decode("utf-8", "replace")
        return text

    # -- HTTP helpers (base, url, get: LocalHttp) --
    def post(self, path, body=None, raw=None, **kw):
        """POST a JSON body (dict, serialised here) or raw bytes/str."""
        kw.setdefault("timeout", 30)
        if raw is None:
            raw = json.dumps(body)
        if isinstance(raw, str):
            raw = raw.encode()
        headers = kw.pop("headers", {"Content-Type": "application/json"})
        return self.session.post(self.url(path), data=raw, headers=headers, **kw)

    def predict(self, model, body, version=None, label=None, verb="predict"):
        path = f"/v1/models/{model}"
        if version is not None:
            path += f"/versions/{version}"
        if label is not None:
            path += f"/labels/{label}"
        return self.post(f"{path}:{verb}", body)


class WorkerPool:
    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.workers = []

    def start(self, *args, ready_model="default"):
        w = Worker(args, ready_model, self.workdir)
        self.workers.append(w)
        return w.start()

    def serve(self, model_path, name="default", *extra):
        return self.start(f"--model_name={name}", f"--model_base_path={model_path}", *extra,
                          ready_model=name)

    def serve_config(self, models, *extra, ready_model=None):
        """Serve a list of model dicts (see model_config_text) from a fresh config file."""
        cfg = write_model_config(self.workdir, models)
        return self.start(f"--model_config_file={cfg}", *extra,
                          ready_model=ready_model or models[0]["name"])

    def close(self):
        for w in self.workers:
            w.stop()


# --------------------------------------------------------------------------
# assertion helpers
# --------------------------------------------------------------------------

def ok_json(resp):
    """Assert 200 + JSON body, return the decoded body (NaN/Infinity tokens allowed)."""
    assert resp.status_code == 200, f"expected 200, got {resp.status_code}: {resp.text[:2000]}"
    ctype = resp.headers.get("Content-Type", "")
    assert "application/json" in ctype, f"Content-Type is {ctype!r}"
    return json.loads(resp.text)


def assert_error(resp, status, *fragments):
    """Assert an error answer: given status and a body {"error": "<non-empty message>"}.
    Each fragment (case-insensitive) must occur in the message."""
    assert resp.status_code == status, \
        f"expected {status}, got {resp.status_code}: {resp.text[:2000]}"
    try:
        body = json.loads(resp.text)
    except ValueError:
        pytest.fail(f"error body is not JSON: {resp.text[:500]!r}")
    assert isinstance(body, dict) and isinstance(body.get("error"), str), \
        f'error body is not {{"error": "..."}}: {resp.text[:500]}'
    assert body["error"].strip(), "error message is empty"
    for frag in fragments:
        assert frag.lower() in body["error"].lower(), \
            f"{frag!r} not in error message {body['error']!r}"
    return body["error"]


def strict_floats(text):
    """Decode JSON failing on bare integers: TF Serving writes float tensors as 3.0, never 3."""
    def no_int(s):
        raise AssertionError(f"integer token {s!r} where a float was expected in {text[:300]!r}")
    return json.loads(text, parse_int=no_int)


# --------------------------------------------------------------------------
# tf.Example encoding (no TensorFlow needed): used for b64 string inputs
# --------------------------------------------------------------------------

def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(num, payload):
    return _varint((num << 3) | 2) + _varint(len(payload)) + payload


def tf_example(**features) -> bytes:
    """Serialise a tf.train.Example whose features are float lists, e.g. tf_example(x=[2.0])."""
    import struct
    entries = b""
    for name, values in features.items():
        values = list(values) if isinstance(values, (list, tuple)) else [values]
        float_list = _field(1, struct.pack("<%df" % len(values), *values))
        feature = _field(2, float_list)  # Feature.float_list
        entries += _field(1, _field(1, name.encode()) + _field(2, feature))
    return _field(1, entries)  # Example.features
