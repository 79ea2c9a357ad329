"""A fake Kubernetes API server (pods only) plus a simulated kubelet, for ROMA's tests.

No Kubernetes API server can be installed here, so the tests of ROMA's cluster mode
talk to this one.  It follows the documented behaviour of Kubernetes 1.35 for what
ROMA uses, and nothing more:

What it fakes (HTTP/1.1, JSON, optional TLS, bearer tokens):
  - GET  /api/v1/namespaces/{ns}/pods  and  /api/v1/pods   list (PodList, items without
         kind/apiVersion), labelSelector (=, ==, !=, in, notin, key, !key), fieldSelector
         (metadata.name, metadata.namespace, spec.nodeName, status.phase, status.podIP),
         resourceVersion + resourceVersionMatch (NotOlderThan, Exact), limit/continue;
  - the same with ?watch=1|true: a chunked stream, one JSON event per line, ADDED /
         MODIFIED / DELETED / BOOKMARK (allowWatchBookmarks) / ERROR; an unset or "0"
         resourceVersion starts with synthetic ADDED events for what exists;
         a resourceVersion older than the retained window (small and controllable:
         `set_watch_window`, `compact`) gets an ERROR event carrying a 410 Expired Status
         (or, with `expired_as_http_error`, a plain HTTP 410); timeoutSeconds ends the stream;
  - GET /api/v1/namespaces/{ns}/pods/{name} (and .../resize), DELETE .../pods/{name};
  - PATCH /api/v1/namespaces/{ns}/pods/{name}/resize with application/strategic-merge-patch+json
         or application/merge-patch+json, and PUT of a whole pod there (KEP-1287's Update verb);
         as the real pod resize strategy does, changes to anything but
         spec.containers[*].resources and .resizePolicy are silently dropped, while adding,
         removing, renaming or re-ordering containers, changing a resource other than cpu or
         memory, removing a request or a limit, a request above its limit or a change of QoS
         class is 422 Invalid; a stale metadata.resourceVersion is 409 Conflict; an unknown
         pod 404 NotFound; a missing/wrong token 401; a verb the token's Role lacks 403.
         An accepted change bumps metadata.generation and the resourceVersion (MODIFIED);
  - errors are `Status` objects (kind Status, apiVersion v1, status Failure, message, reason,
         details, code), with the real reasons (Invalid carries details.causes).
The simulated kubelet (a thread) then moves each resize through KEP-1287's states, each
status write a separate MODIFIED event carrying status.observedGeneration (and the
conditions' observedGeneration): fits on the node (sum of the node's allocated CPU
requests within its allocatable CPU) -> allocatedResources + PodResizeInProgress (blank
reason); actuation (the pod's `actuator` callback, e.g. writing a real cgroup quota) ->
status.containerStatuses[].resources and the condition cleared, or PodResizeInProgress with
reason Error (retried); does not fit now -> PodResizePending/Deferred (retried whenever
room appears); above the node's allocatable CPU -> PodResizePending/Infeasible (never
retried for that generation).  Pods with a readiness URL get Ready when it answers 200.

What it does not fake: other resources and verbs (create pods through the Python control
methods), the scheduler, events, server-side apply, JSON patch (415), protobuf, memory
actuation, pod-level resources, init containers, admission plugins, resource quotas,
HTTP/2, exact error wording (the structure, codes and reasons are what clients act on).

Control interface (Python, thread-safe): create_pod, delete_pod, pod, node_cpu, set_node,
set_kubelet_delays, pause_kubelet, set_actuation_error, set_watch_window, compact,
send_bookmarks, set_latency, inject_errors, stop/start (API down and back on the same port),
wait_for, requests_seen (method, path, content type, body of every request).

Use (see conftest.py and worker_pods.py):
    with FakeApiServer(workdir=tmp) as fake:          # namespace "roma", node-a with 4 CPUs
        fake.create_pod("mlp-0", cpu="1", labels={"roma/model": "mlp"}, port=8501)
        # the client: api_server fake.url (plain http; tls=True gives fake.ca_file),
        # a token file holding ROMA_TOKEN (the Role of issue 12) or ADMIN_TOKEN (everything)
"""

import base64
import copy
import datetime
import http.server
import json
import math
import re
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
import urllib.request
import uuid
from fractions import Fraction

ROMA_TOKEN = "roma-test-token"
ADMIN_TOKEN = "admin-test-token"
# The Role `roma k8s render` must grant (issue 12), as (resource, verb) pairs.
ROMA_RULES = frozenset({("pods", "get"), ("pods", "list"), ("pods", "watch"),
                        ("pods/resize", "patch")})


# --------------------------------------------------------------------------
# quantities ("1", "1.5", "1500m", "128Mi", "1e3")
# --------------------------------------------------------------------------

_QTY_RE = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")
_DEC_SUFFIX = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BIN_SUFFIX = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}


class QuantityError(ValueError):
    pass


def parse_quantity(text):
    """(value as an exact Fraction, 'binary' | 'decimal') of a Kubernetes quantity."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        text = repr(text)  # JSON numbers are accepted by the real decoder too
    if not isinstance(text, str):
        raise QuantityError(f"quantity must be a string, not {type(text).__name__}")
    m = _QTY_RE.match(text.strip())
    if not m:
        raise QuantityError(f"quantities must match the regular expression "
                            f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$', got {text!r}")
    num, suffix = Fraction(m.group(1)), m.group(2) or ""
    if suffix in _BIN_SUFFIX:
        return num * (2 ** _BIN_SUFFIX[suffix]), "binary"
    if suffix[:1] in ("e", "E"):
        return num * Fraction(10) ** int(suffix[1:]), "decimal"
    return num * Fraction(10) ** _DEC_SUFFIX[suffix], "decimal"


def format_quantity(value, fmt="decimal"):
    """The canonical text of a quantity, as the API server writes it back (1.5 -> 1500m)."""
    value = Fraction(value)
    if value == 0:
        return "0"
    if fmt == "binary" and value.denominator == 1 and value >= 1024:
        for suffix, exp in sorted(_BIN_SUFFIX.items(), key=lambda kv: -kv[1]):
            if value % (2 ** exp) == 0:
                return f"{value // (2 ** exp)}{suffix}"
    for suffix, exp in sorted(_DEC_SUFFIX.items(), key=lambda kv: -kv[1]):
        scaled = value / Fraction(10) ** exp
        if scaled.denominator == 1:
            return f"{scaled.numerator}{suffix}"
    return f"{math.ceil(value * 10 ** 9)}n"  # finer than nano: rounded up, like the API


def cpu_millis(text):
    """Millicores of a cpu quantity (rounded up, as the kubelet does)."""
    return math.ceil(parse_quantity(text)[0] * 1000)


def canonical_resources(res):
    """A container's resources with every quantity in canonical form (raises QuantityError)."""
    out = {}
    for part in ("requests", "limits"):
        vals = res.get(part)
        if vals:
            out[part] = {k: format_quantity(*parse_quantity(v)) for k, v in vals.items()}
    if "claims" in res:
        out["claims"] = res["claims"]
    return out


def default_requests(res):
    """Requests default to limits where only a limit is given (API defaulting)."""
    limits = res.get("limits") or {}
    if limits:
        reqs = res.setdefault("requests", {})
        for k, v in limits.items():
            reqs.setdefault(k, v)
    return res


def qos_class(spec):
    """Guaranteed / Burstable / BestEffort of a pod spec (cpu and memory only)."""
    any_set, guaranteed = False, True
    for c in spec.get("containers", []):
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        for r in ("cpu", "memory"):
            if r in req or r in lim:
                any_set = True
            if r not in lim or (r in req and parse_quantity(req[r])[0] != parse_quantity(lim[r])[0]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


# --------------------------------------------------------------------------
# Status objects and errors
# --------------------------------------------------------------------------

def status_object(code, reason, message, details=None):
    obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code}
    if details is not None:
        obj["details"] = details
    return obj


class ApiError(Exception):
    """An error answer: HTTP code + Status body."""

    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.status = status_object(code, reason, message, details)
        self.code = code
        self.headers = headers or {}


def not_found(name):
    return ApiError(404, "NotFound", f'pods "{name}" not found', {"name": name, "kind": "pods"})


def invalid(name, causes):
    """422 Invalid from a list of (field, cause reason, message)."""
    parts = [f"{f}: {msg}" for f, _, msg in causes]
    text = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return ApiError(422, "Invalid", f'Pod "{name}" is invalid: {text}',
                    {"name": name, "kind": "Pod",
                     "causes": [{"reason": r, "message": m, "field": f} for f, r, m in causes]})


# --------------------------------------------------------------------------
# label and field selectors
# --------------------------------------------------------------------------

_LABEL_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?"
_LABEL_KEY = r"(?:[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_REQ_RE = [
    ("in", re.compile(rf"^({_LABEL_KEY})\s+in\s+\(([^)]*)\)$")),
    ("notin", re.compile(rf"^({_LABEL_KEY})\s+notin\s+\(([^)]*)\)$")),
    ("!=", re.compile(rf"^({_LABEL_KEY})\s*!=\s*({_LABEL_VALUE})$")),
    ("=", re.compile(rf"^({_LABEL_KEY})\s*==?\s*({_LABEL_VALUE})$")),
    ("exists", re.compile(rf"^({_LABEL_KEY})$")),
    ("!exists", re.compile(rf"^!\s*({_LABEL_KEY})$")),
]


def _split_top(text):
    """Split on commas outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts]


def parse_label_selector(text):
    """A predicate on a labels dict; ApiError 400 on a malformed selector."""
    if not text or not text.strip():
        return lambda labels: True
    reqs = []
    for part in _split_top(text):
        for op, rx in _REQ_RE:
            m = rx.match(part)
            if m:
                if op in ("in", "notin"):
                    values = {v.strip() for v in m.group(2).split(",")}
                    if not all(re.fullmatch(_LABEL_VALUE, v) for v in values):
                        m = None
                        continue
                    reqs.append((op, m.group(1), values))
                else:
                    reqs.append((op, m.group(1), m.group(2) if m.lastindex and m.lastindex > 1 else None))
                break
        else:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {part!r} in labelSelector {text!r}")

    def match(labels):
        for op, key, val in reqs:
            have = labels.get(key)
            if op == "=" and have != val:
                return False
            if op == "!=" and have == val:
                return False
            if op == "in" and have not in val:
                return False
            if op == "notin" and have in val:
                return False
            if op == "exists" and key not in labels:
                return False
            if op == "!exists" and key in labels:
                return False
        return True
    return match


_FIELDS = {
    "metadata.name": lambda p: p["metadata"]["name"],
    "metadata.namespace": lambda p: p["metadata"]["namespace"],
    "spec.nodeName": lambda p: p["spec"].get("nodeName", ""),
    "status.phase": lambda p: p["status"].get("phase", ""),
    "status.podIP": lambda p: p["status"].get("podIP", ""),
}


def parse_field_selector(text):
    if not text or not text.strip():
        return lambda pod: True
    reqs = []
    for part in text.split(","):
        m = re.match(r"^\s*([A-Za-z.]+)\s*(!=|==|=)\s*([^,]*?)\s*$", part)
        if not m:
            raise ApiError(400, "BadRequest", f"invalid selector: {part!r}; can't understand it")
        if m.group(1) not in _FIELDS:
            raise ApiError(400, "BadRequest", f'field label not supported: {m.group(1)}')
        reqs.append((m.group(1), m.group(2) != "!=", m.group(3)))
    return lambda pod: all((_FIELDS[f](pod) == v) == eq for f, eq, v in reqs)


# --------------------------------------------------------------------------
# patches
# --------------------------------------------------------------------------

# patchMergeKey of the Pod lists a resize can touch (strategic merge patch).
_MERGE_KEYS = {"containers": "name", "initContainers": "name", "ports": "containerPort",
               "resizePolicy": "resourceName", "env": "name", "volumeMounts": "mountPath",
               "volumes": "name", "conditions": "type", "containerStatuses": "name"}


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch (lists are replaced whole)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


def strategic_merge_patch(target, patch):
    """Kubernetes' strategic merge patch for the fields of a Pod: maps merge, null deletes,
    lists with a patchMergeKey merge by that key, other lists are replaced;
    `$patch: replace|delete` directives; `$setElementOrder/...` is accepted (order kept)."""
    if not isinstance(patch, dict) or not isinstance(target, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result = copy.deepcopy(target)
    for k, v in patch.items():
        if k.startswith("$setElementOrder/") or k == "$retainKeys":
            continue
        if k.startswith("$"):
            raise ApiError(400, "BadRequest", f"unknown patch directive {k!r}")
        if v is None:
            result.pop(k, None)
        elif isinstance(v, list) and k in _MERGE_KEYS and isinstance(result.get(k), list):
            result[k] = _merge_list(result[k], v, _MERGE_KEYS[k])
        elif isinstance(v, dict) and isinstance(result.get(k), dict):
            if v.get("$patch") == "delete":
                result.pop(k, None)
            else:
                result[k] = strategic_merge_patch(result[k], v)
        else:
            result[k] = copy.deepcopy(v) if not isinstance(v, dict) else \
                strategic_merge_patch({}, v)
    return result


def _merge_list(orig, patch, key):
    out = copy.deepcopy(orig)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise ApiError(400, "BadRequest",
                           f"map: {json.dumps(item)} does not contain declared merge key: {key}")
        idx = next((i for i, o in enumerate(out) if isinstance(o, dict) and o.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
        elif idx is None:
            out.append(strategic_merge_patch({}, item))
        else:
            out[idx] = strategic_merge_patch(out[idx], item)
    return out


# --------------------------------------------------------------------------
# the server state
# --------------------------------------------------------------------------

def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _strip_kind(pod):
    p = dict(pod)
    p.pop("kind", None)
    p.pop("apiVersion", None)
    return p


class _KubeletPod:
    """What the kubelet keeps about a pod outside the API (allocated and actual resources)."""

    def __init__(self, resources, actuator, ready_url, on_delete):
        self.allocated = copy.deepcopy(resources)   # per container name: resources
        self.actual = copy.deepcopy(resources)
        self.infeasible_gen = None                  # generation found infeasible
        self.pending = None                         # (Deferred|Infeasible, message, generation)
        self.pending_since = None                   # when first deferred (retry order)
        self.error = None                           # last actuation error (retried)
        self.error_forced = None                    # set_actuation_error()
        self.retry_at = 0.0
        self.observed_gen = 1                       # the generation the last sync saw
        self.actuator = actuator
        self.ready_url = ready_url
        self.on_delete = on_delete
        self.ready = ready_url is None


class FakeApiServer:
    """The fake API server and its kubelet.  Use as a context manager or start()/close()."""

    def __init__(self, namespace="roma", token=ROMA_TOKEN, rules=ROMA_RULES,
                 admin_token=ADMIN_TOKEN, tls=False, workdir=None):
        self.namespace = namespace
        self.tokens = {token: rules, admin_token: None}   # None: every verb
        self.tls = tls
        self.workdir = workdir
        self.ca_file = None
        self.port = None
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._pods = {}            # (ns, name) -> pod dict
        self._kube = {}            # (ns, name) -> _KubeletPod
        self._nodes = {"node-a": {"allocatable_m": 4000, "capacity_m": 4000}}
        self._rv = 1000
        self._history = []         # (rv, type, obj, old obj); old None for ADDED
        self._window = 1000        # events kept for watches
        self._compacted_rv = self._rv
        self._bookmark_epoch = 0
        self.bookmark_interval_s = 1.0
        self.watch_timeout_s = 1800.0
        self.too_large_wait_s = 1.0
        self.expired_as_http_error = False
        self.latency_s = 0.0
        self._inject = []          # pending (code, reason) errors for the next requests
        self.requests_seen = []    # (method, path, content type, body bytes)
        self.admit_delay_s = 0.05
        self.actuate_delay_s = 0.05
        self.retry_interval_s = 0.2
        self.probe_interval_s = 0.1
        self._kubelet_paused = False
        self._dirty = False
        self._running = False
        self._serving = False
        self._httpd = None
        self._conns = set()
        self._threads = []

    # ------------------------------------------------------------ lifecycle
    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    @property
    def url(self):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def start(self):
        """Start (or restart after stop(), on the same port) serving, and the kubelet."""
        with self._lock:
            if not self._running:
                self._running = True
                for target in (self._kubelet_loop, self._prober_loop):
                    t = threading.Thread(target=target, daemon=True, name=target.__name__)
                    t.start()
                    self._threads.append(t)
        if self._serving:
            return self
        httpd = _Server(("127.0.0.1", self.port or 0), _Handler, self)
        if self.tls:
            # the handshake runs in the connection's thread, not in the accepting one
            httpd.socket = self._tls_context().wrap_socket(httpd.socket, server_side=True,
                                                           do_handshake_on_connect=False)
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._serving = True
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True, name="fake-apiserver").start()
        return self

    def stop(self):
        """The API server goes down: the port refuses connections, open watches break.
        The kubelet keeps running (as on a real node), its status writes queue up."""
        httpd, self._httpd = self._httpd, None
        with self._lock:
            self._serving = False
            self._cond.notify_all()
            conns = list(self._conns)
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.stop()
        with self._lock:
            self._running = False
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout=5)

    def _tls_context(self):
        import tempfile
        from pathlib import Path
        d = Path(self.workdir or tempfile.mkdtemp(prefix="fake-apiserver-tls-"))
        key, cert = d / "apiserver.key", d / "apiserver.crt"
        if not cert.exists():
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                            "-subj", "/CN=fake-apiserver", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                            "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
        self.ca_file = str(cert)   # self-signed: the certificate is its own CA
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        return ctx

    # ------------------------------------------------------------ control: knobs
    def set_node(self, name, cpu, capacity=None):
        """Add or change a node; cpu = allocatable cores (capacity defaults to it).
        Room appearing makes the kubelet retry Deferred resizes."""
        with self._lock:
            self._nodes[name] = {"allocatable_m": cpu_millis(str(cpu)),
                                 "capacity_m": cpu_millis(str(capacity if capacity is not None else cpu))}
            self._wake_kubelet()

    def set_kubelet_delays(self, admit=None, actuate=None, retry=None):
        with self._lock:
            if admit is not None:
                self.admit_delay_s = admit
            if actuate is not None:
                self.actuate_delay_s = actuate
            if retry is not None:
                self.retry_interval_s = retry

    def pause_kubelet(self, paused=True):
        """A paused kubelet writes no status (resizes stay unobserved)."""
        with self._lock:
            self._kubelet_paused = paused
            self._wake_kubelet()

    def set_actuation_error(self, name, message, namespace=None):
        """Make the pod's actuation fail with message (None: succeed again)."""
        with self._lock:
            self._kube[(namespace or self.namespace, name)].error_forced = message
            self._wake_kubelet()

    def set_watch_window(self, events):
        """Keep only the last `events` (>= 1) events for watches; a watch (or an Exact list)
        from a resourceVersion before them gets 410 Expired."""
        with self._lock:
            self._window = max(1, events)
            self._trim_history()

    def compact(self):
        """Forget all history now (as an etcd compaction does): a watch from any
        resourceVersion before the current one gets 410 Expired."""
        with self._lock:
            self._history.clear()
            self._compacted_rv = self._rv
            self._cond.notify_all()

    def send_bookmarks(self):
        """Every open watch that allows bookmarks sends one now."""
        with self._lock:
            self._bookmark_epoch += 1
            self._cond.notify_all()

    def set_latency(self, seconds):
        """Every request waits this long before it is answered (watch events flow on)."""
        self.latency_s = seconds

    def inject_errors(self, count, code=500, reason="InternalError", message="injected by the test"):
        """The next `count` requests are answered with this Status (e.g. 429, 500, 503)."""
        with self._lock:
            self._inject.extend([(code, reason, message)] * count)

    @property
    def resource_version(self):
        with self._lock:
            return str(self._rv)

    # ------------------------------------------------------------ control: pods
    def create_pod(self, name, cpu="1", memory=None, labels=None, node="node-a", port=8501,
                   namespace=None, limits_cpu="same", image="roma:test", actuator=None,
                   ready_url=None, on_delete=None, pod_ip="127.0.0.1", container="worker"):
        """A scheduled, running pod (ADDED).  cpu: the CPU request; limits_cpu: "same"
        (requests = limits), None (no limit) or a quantity.  actuator(name, cpu_limit_cores
        or None) is called when a resize is actuated; it may return the cores it really
        applied, and raise to report an actuation error.  ready_url: the pod is Ready only
        once that URL answers 200 (else at once).  on_delete(name) runs when it is deleted."""
        ns = namespace or self.namespace
        req, lim = {"cpu": str(cpu)}, {}
        if limits_cpu == "same":
            lim["cpu"] = str(cpu)
        elif limits_cpu is not None:
            lim["cpu"] = str(limits_cpu)
        if memory is not None:
            req["memory"] = lim["memory"] = str(memory)
        resources = canonical_resources({"requests": req, "limits": lim})
        spec = {"nodeName": node, "restartPolicy": "Always",
                "containers": [{"name": container, "image": image,
                                "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
                                "resources": resources,
                                "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"}]}]}
        with self._lock:
            if (ns, name) in self._pods:
                raise ValueError(f"pod {ns}/{name} exists")
            if node not in self._nodes:
                raise ValueError(f"node {node!r} unknown: set_node() it first")
            used = self._node_used_m(node, exclude=None)
            want = cpu_millis(resources["requests"]["cpu"])
            if used + want > self._nodes[node]["allocatable_m"]:
                raise ValueError(f"pod {name} does not fit on {node}: {used}m used + {want}m > "
                                 f"{self._nodes[node]['allocatable_m']}m (the scheduler would not place it)")
            kp = _KubeletPod({container: resources}, actuator, ready_url, on_delete)
            pod = {"kind": "Pod", "apiVersion": "v1",
                   "metadata": {"name": name, "namespace": ns, "uid": str(uuid.uuid4()),
                                "generation": 1, "creationTimestamp": _now(),
                                "labels": dict(labels or {})},
                   "spec": spec,
                   "status": {"phase": "Running", "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}],
                              "podIP": pod_ip, "podIPs": [{"ip": pod_ip}], "startTime": _now(),
                              "qosClass": qos_class(spec), "observedGeneration": 1,
                              "conditions": [], "containerStatuses": []}}
            self._kube[(ns, name)] = kp
            self._write_status(pod, kp)
            self._emit("ADDED", pod, None)
            return copy.deepcopy(pod)

    def delete_pod(self, name, namespace=None, grace_s=0.0):
        """Delete a pod.  grace_s = 0: its on_delete hook (stop the process) runs, then
        DELETED; returns the deleted pod.  grace_s > 0 (graceful, as kubectl delete does):
        MODIFIED with metadata.deletionTimestamp at once (returned), then in the background
        the hook, and DELETED once it returned or grace_s passed, whichever is first."""
        ns = namespace or self.namespace
        with self._lock:
            pod = self._pods.get((ns, name))
            if pod is None:
                raise not_found(name)
            kp = self._kube[(ns, name)]
            if "deletionTimestamp" in pod["metadata"]:
                return copy.deepcopy(pod)     # already terminating
            if grace_s > 0:
                new = copy.deepcopy(pod)
                new["metadata"]["deletionTimestamp"] = _now()
                new["metadata"]["deletionGracePeriodSeconds"] = int(math.ceil(grace_s))
                self._emit("MODIFIED", new, pod)
                threading.Thread(target=self._terminate, args=(ns, name, kp, grace_s), daemon=True).start()
                return copy.deepcopy(new)
        if kp.on_delete is not None:
            kp.on_delete(name)
        return self._finish_delete(ns, name)

    def _terminate(self, ns, name, kp, grace_s):
        if kp.on_delete is not None:
            t = threading.Thread(target=kp.on_delete, args=(name,), daemon=True)
            t.start()
            t.join(timeout=grace_s)
        else:
            time.sleep(grace_s)
        self._finish_delete(ns, name)

    def _finish_delete(self, ns, name):
        with self._lock:
            pod = self._pods.get((ns, name))
            if pod is None:
                return None
            gone = copy.deepcopy(pod)
            self._emit("DELETED", gone, pod)
            self._wake_kubelet()   # room on the node: Deferred resizes are retried
            return copy.deepcopy(gone)

    def node_cpu(self, name="node-a"):
        """{"allocatable": cores, "capacity": cores, "allocated": cores the kubelet allocated}."""
        with self._lock:
            n = self._nodes[name]
            return {"allocatable": n["allocatable_m"] / 1000, "capacity": n["capacity_m"] / 1000,
                    "allocated": self._node_used_m(name, exclude=None) / 1000}

    def pod(self, name, namespace=None):
        """A copy of the pod as stored (None when it does not exist)."""
        with self._lock:
            p = self._pods.get((namespace or self.namespace, name))
            return copy.deepcopy(p)

    def wait_for(self, predicate, timeout=10.0, what="condition"):
        """Wait until predicate(self) is truthy (returned); AssertionError after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            v = predicate(self)
            if v:
                return v
            if time.monotonic() > deadline:
                raise AssertionError(f"fake API server: timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(0.02)

    # ------------------------------------------------------------ store internals (lock held)
    def _emit(self, etype, new, old):
        self._rv += 1
        new["metadata"]["resourceVersion"] = str(self._rv)
        key = (new["metadata"]["namespace"], new["metadata"]["name"])
        if etype == "DELETED":
            self._pods.pop(key, None)
            self._kube.pop(key, None)
        else:
            self._pods[key] = new
        self._history.append((self._rv, etype, copy.deepcopy(new), copy.deepcopy(old)))
        self._trim_history()
        self._cond.notify_all()

    def _trim_history(self):
        excess = len(self._history) - self._window
        if excess > 0:
            self._compacted_rv = self._history[excess - 1][0]
            del self._history[:excess]

    def _state_at(self, rv):
        """{key: pod} as it was at resourceVersion rv (rv >= compacted)."""
        state = {k: copy.deepcopy(p) for k, p in self._pods.items()}
        for erv, etype, obj, old in reversed(self._history):
            if erv <= rv:
                break
            key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
            if old is None:
                state.pop(key, None)
            else:
                state[key] = copy.deepcopy(old)
        return state

    def _wake_kubelet(self):
        self._dirty = True
        self._cond.notify_all()

    def _node_used_m(self, node, exclude):
        """CPU requests the kubelet has allocated on node to pods other than `exclude`."""
        used = 0
        for key, pod in self._pods.items():
            if key == exclude or pod["spec"].get("nodeName") != node:
                continue
            for res in self._kube[key].allocated.values():
                cpu = (res.get("requests") or {}).get("cpu")
                used += cpu_millis(cpu) if cpu else 0
        return used

    # ------------------------------------------------------------ resize (API side)
    def _resize(self, ns, name, make_new, precondition):
        """Validate and store a resize; make_new(stored pod) gives the requested pod (a
        patch applied, or a PUT body), precondition its metadata (resourceVersion, uid)
        as the client sent it.  Returns the stored pod (raises ApiError)."""
        with self._lock:
            old = self._pods.get((ns, name))
            if old is None:
                raise not_found(name)
            new_pod = make_new(copy.deepcopy(old))
            if not isinstance(new_pod, dict):
                raise ApiError(400, "BadRequest", "the patched object is not a Pod")
            meta = precondition if isinstance(precondition, dict) else {}
            rv = meta.get("resourceVersion")
            if rv not in (None, "") and rv != old["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict",
                               f'Operation cannot be fulfilled on pods "{name}": the object has been '
                               f'modified; please apply your changes to the latest version and try again',
                               {"name": name, "kind": "pods"})
            uid = meta.get("uid")
            if uid not in (None, "") and uid != old["metadata"]["uid"]:
                raise ApiError(409, "Conflict", f"Precondition failed: UID in precondition: {uid}, "
                               f"UID in object meta: {old['metadata']['uid']}", {"name": name, "kind": "pods"})
            merged = self._merge_resize(name, old, new_pod)
            if merged["spec"] == old["spec"]:
                return copy.deepcopy(old)     # no change: no new resourceVersion, no event
            merged["metadata"]["generation"] = old["metadata"]["generation"] + 1
            self._emit("MODIFIED", merged, old)
            self._wake_kubelet()
            return copy.deepcopy(merged)

    def _merge_resize(self, name, old, new_pod):
        """The stored pod with only the containers' resources/resizePolicy taken from new_pod
        (other changes dropped, as the resize strategy does), validated (ApiError 422)."""
        spec = new_pod.get("spec") if isinstance(new_pod.get("spec"), dict) else {}
        new_ctrs = spec.get("containers")
        old_ctrs = old["spec"]["containers"]
        causes = []
        if not isinstance(new_ctrs, list) or [c.get("name") if isinstance(c, dict) else None
                                              for c in new_ctrs] != [c["name"] for c in old_ctrs]:
            raise invalid(name, [("spec.containers", "FieldValueForbidden",
                                  "Forbidden: containers may not be added, removed, renamed or "
                                  "re-ordered by a resize")])
        merged = copy.deepcopy(old)
        for i, (nc, oc) in enumerate(zip(new_ctrs, old_ctrs)):
            path = f"spec.containers[{i}].resources"
            res = nc.get("resources") if isinstance(nc.get("resources"), dict) else {}
            try:
                res = default_requests(canonical_resources(res))
            except (QuantityError, AttributeError) as e:
                raise invalid(name, [(path, "FieldValueInvalid", f"Invalid value: {e}")])
            causes += self._resource_causes(path, res, oc.get("resources") or {})
            merged["spec"]["containers"][i]["resources"] = res
            if "resizePolicy" in nc:
                merged["spec"]["containers"][i]["resizePolicy"] = nc["resizePolicy"]
        if not causes:
            new_qos = qos_class(merged["spec"])
            if new_qos != old["status"].get("qosClass"):
                causes.append(("spec", "FieldValueInvalid",
                               f'Invalid value: "{new_qos}": Pod QOS Class may not change as a result '
                               f'of resizing (it is {old["status"].get("qosClass")})'))
        if causes:
            raise invalid(name, causes)
        return merged

    @staticmethod
    def _resource_causes(path, new, old):
        causes = []
        for part in ("requests", "limits"):
            nv, ov = new.get(part) or {}, old.get(part) or {}
            for r in sorted(set(nv) | set(ov)):
                if r not in ("cpu", "memory") and nv.get(r) != ov.get(r):
                    causes.append((f"{path}.{part}[{r}]", "FieldValueForbidden",
                                   "Forbidden: only cpu and memory resources are mutable"))
                elif r in ov and r not in nv:
                    causes.append((f"{path}.{part}[{r}]", "FieldValueForbidden",
                                   f"Forbidden: resource {part} cannot be removed"))
        req, lim = new.get("requests") or {}, new.get("limits") or {}
        for r in sorted(set(req) & set(lim)):
            if parse_quantity(req[r])[0] > parse_quantity(lim[r])[0]:
                causes.append((f"{path}.requests", "FieldValueInvalid",
                               f'Invalid value: "{req[r]}": must be less than or equal to {r} limit of {lim[r]}'))
        return causes

    # ------------------------------------------------------------ the simulated kubelet
    def _kubelet_loop(self):
        while True:
            with self._lock:
                if not self._running:
                    return
                if not self._dirty:
                    self._cond.wait(timeout=self.retry_interval_s)
                self._dirty = False
                if self._kubelet_paused or not self._running:
                    continue
                # Deferred resizes are retried in the order they were deferred (KEP-1287).
                keys = sorted(self._pods, key=lambda k: (self._kube[k].pending_since or 0, k))
            progressed = False
            for key in keys:
                progressed |= self._kubelet_sync(key)
            if progressed:
                with self._lock:
                    self._dirty = True

    def _kubelet_sync(self, key):
        """One sync of one pod: admit / defer / reject, or actuate.  True if it moved on."""
        with self._lock:
            pod, kp = self._pods.get(key), self._kube.get(key)
            if pod is None or "deletionTimestamp" in pod["metadata"]:
                return False
            gen = pod["metadata"]["generation"]
            if self._desired(pod) != kp.allocated:
                if kp.infeasible_gen == gen:
                    return False          # Infeasible: never retried for this generation
                return self._kubelet_admit(key, gen)
            if kp.actual != kp.allocated or kp.error:
                return self._kubelet_actuate(key, gen)
            if kp.observed_gen != gen or kp.pending:
                kp.observed_gen, kp.pending = gen, None   # e.g. resized back to what it has
                return self._kubelet_write(key)
            return False

    def _kubelet_admit(self, key, gen):
        time.sleep(self.admit_delay_s)
        with self._lock:
            pod, kp = self._pods.get(key), self._kube.get(key)
            if pod is None or pod["metadata"]["generation"] != gen:
                return True               # changed meanwhile: the next sync sees the latest
            node_name = pod["spec"]["nodeName"]
            node = self._nodes[node_name]
            want = sum(cpu_millis((c.get("resources") or {}).get("requests", {}).get("cpu", "0"))
                       for c in pod["spec"]["containers"])
            used = self._node_used_m(node_name, exclude=key)
            kp.observed_gen = gen
            if want > node["allocatable_m"]:
                kp.infeasible_gen, kp.pending_since = gen, None
                kp.pending = ("Infeasible", f"Node didn't have enough capacity: cpu, requested: {want}, "
                                            f"capacity: {node['allocatable_m']}", gen)
                return self._kubelet_write(key)
            if used + want > node["allocatable_m"]:
                kp.pending_since = kp.pending_since or time.monotonic()
                kp.pending = ("Deferred", f"Node didn't have enough resource: cpu, requested: {want}, "
                                          f"used: {used}, capacity: {node['allocatable_m']}", gen)
                return self._kubelet_write(key)
            kp.pending, kp.pending_since = None, None
            kp.allocated = copy.deepcopy(self._desired(pod))
            self._kubelet_write(key)
            self._wake_kubelet()          # a shrink frees room for other pods' Deferred resizes
            return True

    def _kubelet_actuate(self, key, gen):
        with self._lock:
            kp = self._kube.get(key)
            if kp is None or (kp.error and time.monotonic() < kp.retry_at):
                return False
            target = copy.deepcopy(kp.allocated)
        time.sleep(self.actuate_delay_s)
        applied, error = None, kp.error_forced
        if error is None and kp.actuator is not None:
            limits = [(r.get("limits") or {}).get("cpu") for r in target.values()]
            cores = float(parse_quantity(limits[0])[0]) if limits and limits[0] else None
            try:
                applied = kp.actuator(key[1], cores)
            except Exception as e:        # the runtime's error: reported, retried later
                error = f"{type(e).__name__}: {e}"
        with self._lock:
            if self._kube.get(key) is not kp:
                return False              # deleted meanwhile
            kp.observed_gen = gen
            if error:
                kp.error, kp.retry_at = error, time.monotonic() + self.retry_interval_s
                self._kubelet_write(key)
                return False
            kp.error = None
            kp.actual = target
            if applied is not None and len(target) == 1:
                # the actual CPU limit is what the runtime reports back (quota / period)
                res = next(iter(kp.actual.values()))
                res.setdefault("limits", {})["cpu"] = format_quantity(Fraction(applied).limit_denominator(1000))
            return self._kubelet_write(key)

    @staticmethod
    def _desired(pod):
        return {c["name"]: c.get("resources") or {} for c in pod["spec"]["containers"]}

    def _kubelet_write(self, key):
        """Write the pod status from the kubelet's state (MODIFIED if anything changed)."""
        pod, kp = self._pods[key], self._kube[key]
        new = copy.deepcopy(pod)
        self._write_status(new, kp)
        if new["status"] == pod["status"]:
            return False
        self._emit("MODIFIED", new, pod)
        return True

    def _write_status(self, pod, kp):
        st = pod["status"]
        gen = kp.observed_gen
        st["observedGeneration"] = gen
        old_conds = {c["type"]: c for c in st.get("conditions", [])}

        def cond(ctype, status, reason=None, message=None, cgen=gen):
            prev = old_conds.get(ctype)
            same = prev is not None and prev["status"] == status and prev.get("reason") == reason
            c = {"type": ctype, "status": status, "observedGeneration": cgen, "lastProbeTime": None,
                 "lastTransitionTime": prev["lastTransitionTime"] if same else _now()}
            if reason:
                c["reason"] = reason
            if message:
                c["message"] = message
            return c
        ready = "True" if kp.ready else "False"
        conds = [cond("PodReadyToStartContainers", "True"), cond("Initialized", "True"),
                 cond("Ready", ready), cond("ContainersReady", ready), cond("PodScheduled", "True")]
        if kp.pending:
            conds.append(cond("PodResizePending", "True", kp.pending[0], kp.pending[1], kp.pending[2]))
        if kp.actual != kp.allocated or kp.error:
            conds.append(cond("PodResizeInProgress", "True", "Error" if kp.error else None, kp.error))
        st["conditions"] = conds
        st["containerStatuses"] = []
        for c in pod["spec"]["containers"]:
            alloc = kp.allocated.get(c["name"], {})
            st["containerStatuses"].append({
                "name": c["name"], "image": c["image"], "imageID": "", "ready": kp.ready, "started": True,
                "restartCount": 0, "containerID": "containerd://" + pod["metadata"]["uid"].replace("-", ""),
                "state": {"running": {"startedAt": st.get("startTime")}},
                "allocatedResources": copy.deepcopy(alloc.get("requests", {})),
                "resources": copy.deepcopy(kp.actual.get(c["name"], {}))})

    def _prober_loop(self):
        """Readiness: GET the pod's ready_url; Ready follows its answer."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while True:
            with self._lock:
                if not self._running:
                    return
                probes = [(k, kp.ready_url) for k, kp in self._kube.items() if kp.ready_url]
            for key, url in probes:
                try:
                    with opener.open(url, timeout=1) as r:
                        ok = r.status == 200
                except OSError:
                    ok = False
                with self._lock:
                    kp = self._kube.get(key)
                    if kp is not None and kp.ready != ok:
                        kp.ready = ok
                        self._kubelet_write(key)
            time.sleep(self.probe_interval_s)

    # ------------------------------------------------------------ HTTP request handling
    def _authenticate(self, headers):
        auth = headers.get("Authorization", "")
        token = auth[7:].strip() if auth.startswith("Bearer ") else None
        if token not in self.tokens:
            raise ApiError(401, "Unauthorized", "Unauthorized")

    def _authorize(self, headers, ns, resource, verb, name):
        rules = self.tokens[headers.get("Authorization", "")[7:].strip()]
        if rules is None or ((resource, verb) in rules and ns == self.namespace):
            return
        what = f'{resource} "{name}"' if name else resource
        scope = f'in the namespace "{ns}"' if ns else "at the cluster scope"
        raise ApiError(403, "Forbidden",
                       f'{what} is forbidden: User "system:serviceaccount:{self.namespace}:roma" cannot '
                       f'{verb} resource "{resource}" in API group "" {scope}',
                       {"name": name or "", "kind": resource.split("/")[0]})

    def _list(self, ns, query):
        label = parse_label_selector(query.get("labelSelector", ""))
        field = parse_field_selector(query.get("fieldSelector", ""))
        rv_text, match = query.get("resourceVersion", ""), query.get("resourceVersionMatch", "")
        limit = int(query.get("limit", "0") or 0)
        start_after = None
        with self._lock:
            if query.get("continue"):
                try:
                    tok = json.loads(base64.urlsafe_b64decode(query["continue"]))
                    list_rv, start_after = int(tok["rv"]), tok["start"]
                except (ValueError, KeyError, TypeError):
                    raise ApiError(400, "BadRequest", "continue key is not valid")
                if list_rv < self._compacted_rv:
                    raise ApiError(410, "Expired", "The provided continue parameter is too old to "
                                   "display a consistent list result; start a new list without it")
            elif rv_text in ("", "0") or match in ("", "NotOlderThan"):
                list_rv = self._rv
                if rv_text not in ("", "0"):
                    self._check_rv_not_too_large(self._parse_rv(rv_text))
            elif match == "Exact":
                list_rv = self._parse_rv(rv_text)
                self._check_rv_not_too_large(list_rv)
                if list_rv < self._compacted_rv:
                    raise ApiError(410, "Expired", f"too old resource version: {list_rv} ({self._compacted_rv + 1})")
            else:
                raise ApiError(400, "BadRequest", f"invalid resourceVersionMatch {match!r}: "
                               "use NotOlderThan or Exact")
            state = self._state_at(list_rv)
            keys = sorted(k for k in state if (ns is None or k[0] == ns)
                          and label(state[k]["metadata"].get("labels", {})) and field(state[k]))
            if start_after is not None:
                keys = [k for k in keys if list(k) > list(start_after)]
            meta = {"resourceVersion": str(list_rv)}
            if limit and len(keys) > limit:
                meta["continue"] = base64.urlsafe_b64encode(
                    json.dumps({"rv": list_rv, "start": list(keys[limit - 1])}).encode()).decode()
                meta["remainingItemCount"] = len(keys) - limit
                keys = keys[:limit]
            return {"kind": "PodList", "apiVersion": "v1", "metadata": meta,
                    "items": [_strip_kind(state[k]) for k in keys]}

    @staticmethod
    def _parse_rv(text):
        if not re.fullmatch(r"\d+", text or ""):
            raise ApiError(400, "BadRequest", f"invalid resource version {text!r}: resource versions "
                           "are opaque strings the server returned")
        return int(text)

    def _check_rv_not_too_large(self, rv):
        deadline = time.monotonic() + self.too_large_wait_s
        while rv > self._rv and time.monotonic() < deadline:
            self._cond.wait(timeout=0.05)
        if rv > self._rv:
            raise ApiError(504, "Timeout", f"Too large resource version: {rv}, current: {self._rv}",
                           {"causes": [{"reason": "ResourceVersionTooLarge",
                                        "message": "Too large resource version"}], "retryAfterSeconds": 1})


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, fake):
        self.fake = fake
        super().__init__(addr, handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube-apiserver"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        with self.server.fake._lock:
            self.server.fake._conns.add(self.connection)

    def finish(self):
        with self.server.fake._lock:
            self.server.fake._conns.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    # -- plumbing
    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send_json(self, code, obj, headers=None):
        data = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._handle("GET")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

    def do_POST(self):
        self._handle("POST")

    def _handle(self, method):
        fake = self.server.fake
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        body = self._body() if method in ("PATCH", "PUT", "POST") else b""
        with fake._lock:
            fake.requests_seen.append((method, self.path, self.headers.get("Content-Type", ""), body))
            injected = fake._inject.pop(0) if fake._inject else None
        if fake.latency_s > 0:
            time.sleep(fake.latency_s)
        try:
            if injected:
                raise ApiError(injected[0], injected[1], injected[2],
                               headers={"Retry-After": "1"} if injected[0] in (429, 503) else None)
            fake._authenticate(self.headers)
            self._route(fake, method, url.path, query, body)
        except ApiError as e:
            self._send_json(e.code, e.status, e.headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:   # a bug in the fake: say so instead of dropping the connection
            import traceback
            traceback.print_exc()
            self._send_json(500, status_object(500, "InternalError", f"fake API server error: {e!r}"))

    def _route(self, fake, method, path, query, body):
        m = re.fullmatch(r"/api/v1(?:/namespaces/([^/]+))?/pods(?:/([^/]+)(?:/(resize))?)?/?", path)
        if not m or (m.group(2) and m.group(1) is None):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        ns, name, sub = m.group(1), m.group(2), m.group(3)
        watch = query.get("watch", "") in ("1", "true")
        if name is None:
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on pods here (fake)")
            fake._authorize(self.headers, ns, "pods", "watch" if watch else "list", None)
            if watch:
                return self._watch(fake, ns, query)
            return self._send_json(200, fake._list(ns, query))
        if sub == "resize":
            if method == "GET":
                fake._authorize(self.headers, ns, "pods/resize", "get", name)
                return self._send_json(200, self._get(fake, ns, name))
            if method not in ("PATCH", "PUT"):
                raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on pods/resize")
            fake._authorize(self.headers, ns, "pods/resize", "patch" if method == "PATCH" else "update", name)
            return self._send_json(200, self._resize(fake, ns, name, method, body))
        if method == "GET":
            fake._authorize(self.headers, ns, "pods", "get", name)
            return self._send_json(200, self._get(fake, ns, name))
        if method == "DELETE":
            fake._authorize(self.headers, ns, "pods", "delete", name)
            grace = float(query.get("gracePeriodSeconds") or 0)
            return self._send_json(200, fake.delete_pod(name, ns, grace_s=grace))
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on a pod (fake)")

    @staticmethod
    def _get(fake, ns, name):
        pod = fake.pod(name, ns)
        if pod is None:
            raise not_found(name)
        return pod

    def _resize(self, fake, ns, name, method, body):
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
        accepted = {"PUT": {"application/json": None},
                    "PATCH": {"application/strategic-merge-patch+json": strategic_merge_patch,
                              "application/merge-patch+json": merge_patch}}[method]
        if ctype not in accepted:
            raise ApiError(415, "UnsupportedMediaType",
                           f"the body of the request was in an unknown format ({ctype or 'none'}) - "
                           f"accepted media types (fake) include: {', '.join(accepted)}")
        try:
            doc = json.loads(body or b"null")
        except ValueError as e:
            raise ApiError(400, "BadRequest", f"error decoding the request body: {e}")
        if not isinstance(doc, dict):
            raise ApiError(400, "BadRequest", "the body of the request must be a JSON object")
        if method == "PUT":
            return fake._resize(ns, name, lambda current: doc, doc.get("metadata"))
        apply = accepted[ctype]
        # A metadata.resourceVersion in the patch is a precondition (409 when stale).
        return fake._resize(ns, name, lambda current: apply(current, doc), doc.get("metadata"))

    # -- watch
    def _watch(self, fake, ns, query):
        label = parse_label_selector(query.get("labelSelector", ""))
        field = parse_field_selector(query.get("fieldSelector", ""))
        bookmarks = query.get("allowWatchBookmarks", "") in ("1", "true")
        timeout = min(float(query.get("timeoutSeconds") or fake.watch_timeout_s), fake.watch_timeout_s)
        rv_text = query.get("resourceVersion", "")
        initial, error = [], None
        with fake._lock:
            if rv_text in ("", "0"):
                cursor = fake._rv
                initial = [("ADDED", copy.deepcopy(p)) for k, p in sorted(fake._pods.items())
                           if (ns is None or k[0] == ns) and label(p["metadata"].get("labels", {})) and field(p)]
            else:
                cursor = fake._parse_rv(rv_text)
                if cursor < fake._compacted_rv and fake.expired_as_http_error:
                    raise ApiError(410, "Expired", f"too old resource version: {cursor} ({fake._compacted_rv + 1})")
                try:
                    fake._check_rv_not_too_large(cursor)
                except ApiError as e:
                    error = e
            epoch = fake._bookmark_epoch
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if error is not None:
            return self._end_watch({"type": "ERROR", "object": error.status})
        for etype, obj in initial:
            self._chunk({"type": etype, "object": obj})
        if query.get("sendInitialEvents") in ("1", "true") and bookmarks:
            self._chunk(self._bookmark(cursor, initial_end=True))
        deadline = time.monotonic() + timeout
        next_bookmark = time.monotonic() + fake.bookmark_interval_s
        while True:
            with fake._lock:
                while (fake._serving and time.monotonic() < deadline and cursor >= fake._compacted_rv
                       and (not fake._history or fake._history[-1][0] <= cursor)
                       and fake._bookmark_epoch == epoch
                       and not (bookmarks and time.monotonic() >= next_bookmark)):
                    fake._cond.wait(timeout=0.05)
                if not fake._serving:
                    self.close_connection = True
                    return
                if cursor < fake._compacted_rv:
                    expired = status_object(410, "Expired",
                                            f"too old resource version: {cursor} ({fake._compacted_rv + 1})")
                    events = None
                else:
                    events = [(rv, t, o, old) for rv, t, o, old in fake._history if rv > cursor]
                bookmark_now = bookmarks and (fake._bookmark_epoch != epoch or time.monotonic() >= next_bookmark)
                epoch = fake._bookmark_epoch
                current_rv = fake._rv
            if events is None:
                return self._end_watch({"type": "ERROR", "object": expired})
            for rv, etype, obj, old in events:
                out = self._filtered(etype, obj, old, ns, label, field)
                if out:
                    self._chunk({"type": out, "object": obj})
                cursor = rv
            if bookmark_now:
                cursor = max(cursor, current_rv)
                self._chunk(self._bookmark(cursor))
                next_bookmark = time.monotonic() + fake.bookmark_interval_s
            if time.monotonic() >= deadline:
                return self._end_watch(None)

    @staticmethod
    def _filtered(etype, obj, old, ns, label, field):
        """The event type this watcher sees (None: not at all); label changes turn into
        ADDED/DELETED for a filtered watch, as the real watch cache does."""
        def sel(p):
            return p is not None and (ns is None or p["metadata"]["namespace"] == ns) \
                and label(p["metadata"].get("labels", {})) and field(p)
        now, before = sel(obj), sel(old)
        if etype == "DELETED":
            return "DELETED" if before or now else None
        if etype == "ADDED":
            return "ADDED" if now else None
        if now and before:
            return "MODIFIED"
        if now:
            return "ADDED"
        return "DELETED" if before else None

    @staticmethod
    def _bookmark(rv, initial_end=False):
        meta = {"resourceVersion": str(rv), "creationTimestamp": None}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {"type": "BOOKMARK", "object": {"kind": "Pod", "apiVersion": "v1", "metadata": meta}}

    def _chunk(self, event):
        data = json.dumps(event, separators=(",", ":")).encode() + b"\n"   # compact, as Go writes it
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_watch(self, last_event):
        try:
            if last_event is not None:
                self._chunk(last_event)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True

