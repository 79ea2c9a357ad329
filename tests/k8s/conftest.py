"""Fixtures for the tests against the fake Kubernetes API server (fake_apiserver.py).

`fake_api` is a started FakeApiServer (namespace "roma", one node "node-a" with 4 CPUs,
kubelet delays of 20 ms), closed at the end of the test; `kube` is a small HTTP client of
it that authenticates with the token of ROMA's Role.  tests/http is put on sys.path so the
helpers there (free ports, the roma binary, the generated models, cgroup reading) are
shared, not copied.
"""

import http.client
import json
import queue
import socket
import ssl
import sys
import threading
import urllib.parse
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "http"))

from fake_apiserver import ADMIN_TOKEN, ROMA_TOKEN, FakeApiServer  # noqa: E402

SMP = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"


@pytest.fixture
def fake_api(tmp_path):
    fake = FakeApiServer(workdir=tmp_path)
    fake.set_kubelet_delays(admit=0.02, actuate=0.02, retry=0.1)
    fake.bookmark_interval_s = 0.2
    with fake:
        yield fake


@pytest.fixture
def kube(fake_api):
    with KubeClient(fake_api.url, ROMA_TOKEN) as c:
        yield c


@pytest.fixture
def kube_admin(fake_api):
    with KubeClient(fake_api.url, ADMIN_TOKEN) as c:
        yield c


class KubeClient:
    """Just enough of a Kubernetes client for the tests (pods in namespace roma)."""

    def __init__(self, base, token, namespace="roma", verify=True):
        self.base, self.ns = base, namespace
        self.session = requests.Session()
        self.session.trust_env = False   # no proxies, and REQUESTS_CA_BUNDLE must not override verify
        self.session.verify = verify
        if token is not None:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.watches = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for w in self.watches:
            w.close()
        self.session.close()

    def pods_url(self, name=None, sub=None):
        url = f"{self.base}/api/v1/namespaces/{self.ns}/pods"
        if name:
            url += f"/{name}"
        if sub:
            url += f"/{sub}"
        return url

    def get(self, name):
        return self.session.get(self.pods_url(name), timeout=10)

    def list(self, **params):
        return self.session.get(self.pods_url(), params=params, timeout=10)

    def patch_resize(self, name, body, content_type=SMP):
        return self.session.patch(self.pods_url(name, "resize"), data=json.dumps(body),
                                  headers={"Content-Type": content_type}, timeout=10)

    def resize_cpu(self, name, requests_cpu, limits_cpu="same", rv=None, container="worker"):
        res = {"requests": {"cpu": requests_cpu},
               "limits": {"cpu": requests_cpu if limits_cpu == "same" else limits_cpu}}
        body = {"spec": {"containers": [{"name": container, "resources": res}]}}
        if rv is not None:
            body["metadata"] = {"resourceVersion": rv}
        return self.patch_resize(name, body)

    def delete(self, name, **params):
        return self.session.delete(self.pods_url(name), params=params, timeout=10)

    def watch(self, **params):
        w = WatchStream(self.session, self.pods_url(), dict(params, watch="1"))
        self.watches.append(w)
        return w


class WatchStream:
    """A watch read by a thread: events (dicts) arrive in .events, None when the stream ends.
    (http.client, so that close() can shut the socket under a blocked read.)"""

    def __init__(self, session, url, params):
        u = urllib.parse.urlsplit(url)
        if u.scheme == "https":
            ctx = ssl.create_default_context(cafile=session.verify if isinstance(session.verify, str) else None)
            self.conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=60, context=ctx)
        else:
            self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        headers = {k: v for k, v in session.headers.items() if k == "Authorization"}
        self.conn.request("GET", u.path + "?" + urllib.parse.urlencode(params), headers=headers)
        self.resp = self.conn.getresponse()
        self.status_code = self.resp.status
        self.headers = dict(self.resp.getheaders())
        self.events = queue.Queue()
        self.seen = []
        if self.status_code == 200:
            threading.Thread(target=self._read, daemon=True).start()
        else:
            self.body = self.resp.read()

    def _read(self):
        buf = b""
        try:
            while True:
                chunk = self.resp.read1(65536)
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        self.events.put(json.loads(line))
        except (OSError, http.client.HTTPException, ValueError, AttributeError):
            pass   # the connection broke (server stopped): the stream ends
        self.events.put(None)

    def next(self, timeout=10):
        """The next event, None at the end of the stream; AssertionError on timeout."""
        try:
            ev = self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no watch event within {timeout} s; seen: "
                                 + json.dumps([_brief(e) for e in self.seen])[-3000:])
        self.seen.append(ev)
        return ev

    def until(self, predicate, timeout=10, what="event"):
        """Events up to and including the first that satisfies predicate."""
        got = []
        import time
        deadline = time.monotonic() + timeout
        while True:
            ev = self.next(max(0.01, deadline - time.monotonic()))
            if ev is None:
                raise AssertionError(f"watch ended before {what}; seen: "
                                     + json.dumps([_brief(e) for e in got])[-3000:])
            got.append(ev)
            if predicate(ev):
                return got

    def close(self):
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            pass
        self.conn.close()


def _brief(ev):
    if ev is None:
        return None
    o = ev["object"]
    md = o.get("metadata", {})
    out = {"type": ev["type"], "rv": md.get("resourceVersion"), "name": md.get("name"),
           "gen": md.get("generation")}
    if o.get("kind") == "Status":
        out.update(code=o.get("code"), reason=o.get("reason"))
    elif "status" in o:
        out["observedGeneration"] = o["status"].get("observedGeneration")
        out["conditions"] = [(c["type"], c.get("reason")) for c in o["status"].get("conditions", [])
                             if c["type"].startswith("PodResize")]
        cs = o["status"].get("containerStatuses") or [{}]
        out["allocated"] = cs[0].get("allocatedResources")
        out["actual"] = cs[0].get("resources")
    return out
